//! Issue #17's role-based comparison: tests/fixtures/roles-compare (roles with meta dependencies
//! and role parameters, defaults / vars / files / templates / handlers, include_vars,
//! include_tasks, include_role `tasks_from`, with_dict, delegate_to + run_once, slurp,
//! user / group, Python string methods in a template) on two fresh SSH test hosts per engine:
//! the native engine's per-host recap counts and the hosts' end state are ansible-playbook's on
//! its own fresh pair, a native re-run changes nothing, and ansible-playbook agrees (0 changed)
//! after ours. Also, without SSH: the recap's ok counts include ansible's "included" results.

use crate::support::cmd::Sandbox;
use crate::support::cmd::ansible_playbook;
use crate::support::hosts::{self, Hosts, root_or_skip};

use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/roles-compare");

/// (ok, changed, failed, skipped) of one host.
type Recap = (u64, u64, u64, u64);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read fixture dir") {
        let e = e.expect("dir entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy fixture file");
        }
    }
}

/// The fixture copied into the harness's scratch dir; returns the playbook and inventory.
fn setup(h: &Hosts) -> (PathBuf, PathBuf) {
    let dir = h.p("roles-compare");
    copy_dir(Path::new(FIXTURE), &dir);
    (
        dir.join("site.yml"),
        h.write_inventory("inv.yml", |_| Vec::new()),
    )
}

/// The counts of `host` in ansible-playbook's PLAY RECAP.
fn recap_line(text: &str, host: &str) -> Recap {
    let line = text
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no recap for {host} in\n{text}"));
    let n = |k: &str| -> u64 {
        line.split(&format!("{k}="))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {k}= in {line}"))
    };
    (n("ok"), n("changed"), n("failed"), n("skipped"))
}

fn ansible_run(ansible: &Path, dir: &Path, pb: &Path, inv: &Path) -> String {
    let o = Command::new(ansible)
        .arg("-i")
        .arg(inv)
        .arg(pb)
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
        .env_remove("SSH_AUTH_SOCK")
        .current_dir(dir)
        .output()
        .expect("run ansible-playbook");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "ansible-playbook failed:\n{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    text
}

/// What a run leaves on a host: every file under the fixture's directory with its mode, owner,
/// group and content (the handler's log among them), and the accounts and group it manages.
fn end_state(h: &Hosts, host: &str) -> String {
    h.sh(
        host,
        "cd /srv/roles-cmp && find . -printf '%p %m %u %g\\n' | sort; \
         for f in $(find . -type f | sort); do echo \"== $f\"; cat \"$f\"; done; \
         getent passwd rcmp-app rcmp-alice rcmp-bob; getent group rcmp; \
         id rcmp-alice; id rcmp-bob; id rcmp-app",
    )
}

#[test]
fn role_playbook_on_two_hosts_matches_ansible_and_reruns_clean() {
    if !root_or_skip("role_playbook_on_two_hosts_matches_ansible_and_reruns_clean") {
        return;
    }
    let Some(ansible) = ansible_playbook() else {
        eprintln!("ansible-playbook not found: comparison skipped");
        return;
    };
    // ansible-playbook's fresh pair comes up and runs while ours does.
    let theirs = std::thread::spawn({
        let ansible = ansible.clone();
        move || {
            let h = Hosts::up(2, &[], &[]);
            let (pb, inv) = setup(&h);
            let text = ansible_run(&ansible, h.dir(), &pb, &inv);
            let counts = [recap_line(&text, "h1"), recap_line(&text, "h2")];
            let state = [end_state(&h, "h1"), end_state(&h, "h2")];
            (counts, state, text)
        }
    });

    let h = Hosts::up(2, &[], &[]);
    let (pb, inv) = setup(&h);
    let run = h.run_path(&pb, &inv, &[]);
    run.assert_code(0);
    let ours_of = |run: &hosts::Run, host: &str| -> Recap {
        let c = run.stats(host);
        (c.ok, c.changed, c.failed, c.skipped)
    };
    let ours = [ours_of(&run, "h1"), ours_of(&run, "h2")];
    let state = [end_state(&h, "h1"), end_state(&h, "h2")];
    // The handler ran once per host, the summary was written once, on h2.
    assert!(
        state[0].contains("== ./handler.log\nrestarted alpha\n== "),
        "{}",
        state[0]
    );
    assert!(
        state[1].contains("h1: # ALPHA on h1, port 8081\nh2: # ALPHA on h2, port 8081\n"),
        "{}",
        state[1]
    );
    assert!(!state[0].contains("./summary"), "{}", state[0]);

    let again = h.run_path(&pb, &inv, &[]);
    again.assert_code(0);
    assert_eq!(
        (again.stats("h1").changed, again.stats("h2").changed),
        (0, 0),
        "a re-run changes nothing\n{}",
        again.dump()
    );
    let after = ansible_run(&ansible, h.dir(), &pb, &inv);
    assert_eq!(
        (recap_line(&after, "h1").1, recap_line(&after, "h2").1),
        (0, 0),
        "ansible-playbook agrees after ours\n{after}"
    );
    assert_eq!(
        [end_state(&h, "h1"), end_state(&h, "h2")],
        state,
        "nothing moved"
    );

    let (counts, their_state, text) = theirs.join().expect("ansible side");
    assert_eq!(their_state, state, "the same end state as ansible-playbook");
    assert_eq!(
        ours, counts,
        "per-host (ok, changed, failed, skipped) as ansible-playbook's\n{text}\n{}",
        run.stdout
    );
}

/// include_tasks (plain, looped with a per-item `when`, skipped, a `when` its file turns
/// false), import_tasks, include_role (also
/// with tasks_from) and import_role: every include, and every item of a looped one, is an ok
/// "included" result in ansible-playbook's recap; a skipped include is one skipped result however
/// many tasks its file holds. Our recap lines are ansible's.
#[test]
fn recap_counts_includes_as_ansible_does() {
    let sb = Sandbox::with_inventory(
        "all:\n  hosts:\n    h1: {ansible_connection: local}\n    h2: {ansible_connection: local}\n",
    );
    sb.write("pb/roles/r/tasks/main.yml", "- debug: msg=r-main\n");
    sb.write(
        "pb/roles/r/tasks/other.yml",
        "- debug: msg=r-other\n- debug: msg=r-other-2\n",
    );
    sb.write(
        "pb/inc.yml",
        "- debug: msg=\"inc {{ item | default('') }}\"\n- set_fact: {seen: true}\n- debug: msg=after\n  when: seen is not defined\n",
    );
    sb.write(
        "pb/flip.yml",
        "- set_fact: {flag: false}\n- name: still runs\n  debug: msg=still\n",
    );
    let pb = sb.write(
        "pb/site.yml",
        r#"- hosts: all
  gather_facts: false
  vars: {flag: true}
  tasks:
    - include_tasks: inc.yml
    # Judged once on the include: the tasks it includes do not inherit it.
    - include_tasks: flip.yml
      when: flag
    - include_tasks: inc.yml
      loop: [a, b, c]
      when: item != 'b'
    - import_tasks: inc.yml
    - include_role: {name: r}
    - include_role: {name: r, tasks_from: other}
      when: inventory_hostname == 'h1'
    - import_role: {name: r}
    - include_tasks: inc.yml
      when: false
    - include_tasks: inc.yml
      loop: [x]
      when: false
"#,
    );
    let run = sb.run_file(&pb, &[]);
    run.assert_ok();
    let ours = |host: &str| -> Recap {
        let (ok, changed, failed, skipped, _unreachable) = run.stats(host);
        (ok, changed, failed, skipped)
    };
    // Every task that ran has a result event after its start; the includes' results too.
    let ids = |host: &str| -> Vec<u64> {
        run.task_results()
            .into_iter()
            .filter(|r| r["host"] == host && r["module"] == "include_tasks")
            .filter_map(|r| r["task_id"].as_u64())
            .collect()
    };
    assert!(!ids("h1").is_empty(), "{}", run.dump());
    assert_eq!(run.results_of("still runs").len(), 2, "{}", run.dump());
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let o = Command::new(&ansible)
        .arg("-i")
        .arg(sb.inventory())
        .arg(&pb)
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .env("ANSIBLE_NOCOLOR", "1")
        .current_dir(sb.path())
        .output()
        .expect("run ansible-playbook");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "ansible-playbook failed\n{text}");
    for host in ["h1", "h2"] {
        assert_eq!(
            ours(host),
            recap_line(&text, host),
            "{host}: (ok, changed, failed, skipped) as ansible-playbook's\n{text}\n{}",
            run.dump()
        );
    }
}
