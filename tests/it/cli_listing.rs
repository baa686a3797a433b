//! ansible-playbook's CLI on `slm-wizard run`: `--syntax-check`, `--list-hosts`, `--list-tasks`,
//! `--list-tags` print what ansible-playbook prints (compared with the real one when it is
//! installed, and with the expected text always), nothing runs; `--start-at-task` starts where
//! ansible-playbook starts (pattern, role prefix, later plays whole, earlier ones not at all).

use crate::support::cmd::ansible_playbook;
use crate::support::cmd::{Run, Sandbox};

use std::process::Command;

const INVENTORY: &str =
    "all:\n  hosts:\n    h1: {ansible_connection: local}\n    h2: {ansible_connection: local}\n";

const PLAYBOOK: &str = "\
- name: First play
  hosts: all
  gather_facts: no
  tags: [p1]
  tasks:
    - name: one
      debug: msg=1
      tags: [b, a]
    - block:
        - name: two
          command: echo 2
        - debug: msg=x
      rescue:
        - {name: not listed, debug: msg=r}
      tags: blk
    - name: three
      command: echo 3
    - name: hidden
      debug: msg=n
      tags: never
  handlers:
    - {name: h, debug: msg=h}
- hosts: h2
  gather_facts: no
  roles:
    - {role: r1, tags: [rtag]}
  tasks:
    - name: four
      debug: msg=4
      tags: [always]
";

const ROLE: &str = "- name: in role\n  debug: msg=r\n  tags: rt\n- command: echo x\n";

fn sandbox() -> Sandbox {
    let sb = Sandbox::with_inventory(INVENTORY);
    sb.write("pb.yml", PLAYBOOK);
    sb.write("roles/r1/tasks/main.yml", ROLE);
    sb
}

/// `slm-wizard run pb.yml -i inventory.yml ARGS` on the native engine, in the sandbox.
fn slm(sb: &Sandbox, args: &[&str]) -> Run {
    let mut full = vec!["run", "pb.yml", "-i", "inventory.yml", "--engine", "native"];
    full.extend(args);
    sb.run_raw(&full)
}

/// ansible-playbook's stdout for the same question, when it is installed.
fn ansible(sb: &Sandbox, args: &[&str]) -> Option<String> {
    let path = ansible_playbook()?;
    let out = Command::new(path)
        .args(["pb.yml", "-i", "inventory.yml"])
        .args(args)
        .current_dir(sb.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", sb.p("ansible-tmp"))
        .output()
        .expect("ansible-playbook starts");
    assert!(
        out.status.success(),
        "ansible-playbook {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

const TASKS: &str = "
playbook: pb.yml

  play #1 (all): First play\tTAGS: [p1]
    tasks:
      one\tTAGS: [a, b, p1]
      two\tTAGS: [blk, p1]
      debug\tTAGS: [blk, p1]
      three\tTAGS: [p1]

  play #2 (h2): h2\tTAGS: []
    tasks:
      r1 : in role\tTAGS: [rt, rtag]
      command\tTAGS: [rtag]
      four\tTAGS: [always]
";

#[test]
fn list_tasks_tags_and_hosts_print_what_ansible_playbook_prints() {
    let sb = sandbox();
    let r = slm(&sb, &["--list-tasks"]);
    r.assert_code(0);
    assert_eq!(r.stdout, TASKS, "{}", r.dump());
    assert!(
        sb.journal_files().is_empty(),
        "a listing is not a run: no journal"
    );

    let cases: &[&[&str]] = &[
        &["--syntax-check"],
        &["--list-tasks"],
        &["--list-tags"],
        &["--list-tasks", "--list-tags", "-t", "b,rt"],
        &["--list-tasks", "--skip-tags", "blk"],
        &["--list-hosts", "-l", "h2"],
        &["--list-hosts", "--list-tasks", "--list-tags", "-l", "h1"],
    ];
    for args in cases {
        let ours = slm(&sb, args);
        ours.assert_code(0);
        if let Some(theirs) = ansible(&sb, args) {
            assert_eq!(ours.stdout, theirs, "{args:?}\n{}", ours.dump());
        }
    }
    // --list-tags alone lists the tags of `never` tasks too, as ansible-playbook does.
    let r = slm(&sb, &["--list-tags"]);
    assert!(
        r.stdout
            .contains("      TASK TAGS: [a, b, blk, never, p1]\n")
            && r.stdout.contains("      TASK TAGS: [always, rt, rtag]\n"),
        "{}",
        r.dump()
    );
    // Several hosts: the same hosts (ansible-playbook prints them in set order).
    let r = slm(&sb, &["--list-hosts"]);
    assert!(
        r.stdout
            .contains("    pattern: ['all']\n    hosts (2):\n      h1\n      h2\n"),
        "{}",
        r.dump()
    );
}

#[test]
fn syntax_check_refuses_what_the_plan_refuses_with_its_position() {
    let sb = sandbox();
    sb.write(
        "pb.yml",
        "- hosts: all\n  tasks:\n    - name: bad\n      copy: {dest: /tmp/x, decrypt: y}\n",
    );
    let r = slm(&sb, &["--syntax-check"]);
    r.assert_code(5);
    assert!(
        r.stderr
            .contains("pb.yml:4:28: copy: argument 'decrypt' is not implemented"),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("playbook:"), "{}", r.dump());
}

/// The names in the order first seen (hosts run at their own pace).
fn first_seen(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

#[test]
fn start_at_task_skips_what_comes_before_its_match() {
    let sb = sandbox();
    // A pattern; the block's rescue is not walked, its later tasks and the next play run whole.
    let r = slm(&sb, &["--start-at-task", "tw*", "--json"]);
    r.assert_ok();
    assert_eq!(
        first_seen(r.task_order()),
        [
            "two",
            "debug",
            "three",
            "r1 : in role",
            "r1 : command",
            "four"
        ],
        "{}",
        r.dump()
    );
    // The role prefix, as ansible-playbook shows the task: the first play runs nothing.
    let r = slm(&sb, &["--start-at-task", "r1 : in role", "--json"]);
    r.assert_ok();
    assert_eq!(
        first_seen(r.task_order()),
        ["r1 : in role", "r1 : command", "four"],
        "{}",
        r.dump()
    );
    assert!(
        r.task_results().iter().all(|e| e["host"] != "h1"),
        "{}",
        r.dump()
    );
}

#[test]
fn start_at_task_that_matches_nothing_is_refused_before_anything_runs() {
    let sb = sandbox();
    let r = slm(&sb, &["--start-at-task", "not listed", "--json"]);
    r.assert_code(5);
    assert!(
        r.stderr.contains(
            "No matching task \"not listed\" found. Note: --start-at-task can only follow static includes."
        ),
        "{}",
        r.dump()
    );
    assert!(r.task_order().is_empty(), "{}", r.dump());
}
