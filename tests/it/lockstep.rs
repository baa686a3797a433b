//! The linear strategy's lockstep between hosts (issue 17): under `linear` (the default) a task
//! runs on every host of the batch before any host starts the next one; under `free` each host
//! goes at its own pace. Two local hosts, one of them slowed down, so that the results depend on
//! the lockstep; each playbook is compared with ansible-playbook.

use std::collections::BTreeMap;

use crate::support::cmd::Sandbox;

const TWO_HOSTS: &str = "all:\n  hosts:\n    h1:\n      ansible_connection: local\n    h2:\n      ansible_connection: local\n";

/// (ok, changed, failed, skipped) per host (`--json`'s stats have no `rescued`).
type Recap = BTreeMap<String, [u64; 4]>;
const RECAP_KEYS: [&str; 4] = ["ok", "changed", "failed", "skipped"];

fn our_recap(r: &crate::support::cmd::Run) -> Recap {
    let st = r.stats_event().expect("a stats event");
    let mut out = Recap::new();
    for h in ["h1", "h2"] {
        let c = &st["hosts"][h];
        out.insert(
            h.into(),
            RECAP_KEYS.map(|k| c[k].as_u64().unwrap_or(u64::MAX)),
        );
    }
    out
}

/// Runs `pb` with ansible-playbook on the sandbox's inventory: its exit code, recap and stdout
/// (None when ansible-playbook is not installed).
fn ansible(sb: &Sandbox, pb: &std::path::Path) -> Option<(i32, Recap, String)> {
    let ansible = crate::support::cmd::ansible_playbook()?;
    let o = std::process::Command::new(ansible)
        .arg("-i")
        .arg(sb.inventory())
        .arg(pb)
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut recap = Recap::new();
    for line in out.lines() {
        let mut words = line.split_whitespace();
        let Some(host) = words.next().filter(|h| ["h1", "h2"].contains(h)) else {
            continue;
        };
        if words.next() != Some(":") {
            continue;
        }
        let fields: BTreeMap<&str, u64> = words
            .filter_map(|w| w.split_once('='))
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        recap.insert(
            host.into(),
            RECAP_KEYS.map(|k| fields.get(k).copied().unwrap_or(u64::MAX)),
        );
    }
    Some((o.status.code().unwrap_or(-1), recap, out))
}

/// Each host appends `host step` to one log; h1 is slow on the first step.
const ORDERED: &str = r#"
- hosts: all
  gather_facts: false
  strategy: STRATEGY
  tasks:
    - name: first
      shell: "{{ 'sleep 1; ' if inventory_hostname == 'h1' else '' }}echo {{ inventory_hostname }} first >> @D@/LOG"
    - name: second
      shell: "echo {{ inventory_hostname }} second >> @D@/LOG"
"#;

fn lines(sb: &Sandbox, log: &str) -> Vec<String> {
    sb.read(log).lines().map(str::to_string).collect()
}

#[test]
fn linear_runs_a_task_on_every_host_before_the_next_and_free_does_not() {
    let sb = Sandbox::with_inventory(TWO_HOSTS);
    let pb = |strategy: &str, log: &str| {
        sb.subst(&ORDERED.replace("STRATEGY", strategy).replace("LOG", log))
    };
    sb.run(&pb("linear", "ours-linear.log"), &[]).assert_ok();
    let ours = lines(&sb, "ours-linear.log");
    assert_eq!(
        ours[2..].iter().filter(|l| l.ends_with("second")).count(),
        2,
        "under linear both hosts finish the first task before either starts the second: {ours:?}"
    );
    sb.run(&pb("free", "ours-free.log"), &[]).assert_ok();
    let ours = lines(&sb, "ours-free.log");
    assert_eq!(
        ours.first().map(String::as_str),
        Some("h2 first"),
        "{ours:?}"
    );
    assert_eq!(
        ours.get(1).map(String::as_str),
        Some("h2 second"),
        "under free h2 does not wait for the slow h1: {ours:?}"
    );

    // ansible-playbook's linear strategy orders them the same way (its `free` is left out: on
    // a loaded machine its own start-up per task can exceed the slow host's delay).
    let file = sb.write("linear.yml", &pb("linear", "theirs-linear.log"));
    let Some((code, _, out)) = ansible(&sb, &file) else {
        return;
    };
    assert_eq!(code, 0, "{out}");
    let theirs = lines(&sb, "theirs-linear.log");
    let ours = lines(&sb, "ours-linear.log");
    // The order within a step may differ; which step each line belongs to may not.
    let steps = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        steps(&ours),
        steps(&theirs),
        "ours {ours:?}, ansible-playbook's {theirs:?}"
    );
}

/// A slow host's failure under `any_errors_fatal` ends the play for the others before their
/// next task, although they were done with this one long before.
const FATAL: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: h1 is slow and fails
      shell: sleep 1; exit 1
      when: inventory_hostname == 'h1'
      any_errors_fatal: true
    - name: after
      debug:
        msg: must not run
"#;

#[test]
fn any_errors_fatal_stops_the_others_before_their_next_task() {
    let sb = Sandbox::with_inventory(TWO_HOSTS);
    let r = sb.run(FATAL, &[]);
    r.assert_code(2);
    assert!(
        !r.ran("after"),
        "h2 ran past the fatal failure\n{}",
        r.dump()
    );
    let ours = our_recap(&r);
    let file = sb.write("fatal.yml", FATAL);
    let Some((code, theirs, out)) = ansible(&sb, &file) else {
        return;
    };
    assert_eq!(code, r.code, "{out}");
    assert!(!out.contains("must not run"), "{out}");
    assert_eq!(ours, theirs, "recap (ok changed failed skipped)\n{out}");
}

/// A host that failed (in its rescue) is out of `ansible_play_hosts` and `ansible_play_batch`
/// when the others get to their next task, not out of `ansible_play_hosts_all`; a `run_once`
/// task then runs on the first host still in the play (upstream's issue 78612, extended).
const FAILED_LEAVES_PLAY_HOSTS: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - name: h1 fails
          fail:
          when: inventory_hostname == 'h1'
      rescue:
        - name: rescued but slow
          command: sleep 1
        - name: h1 fails in the rescue
          fail:
          when: inventory_hostname == 'h1'
    - name: the others see it gone
      assert:
        that:
          - ansible_play_hosts == ['h2']
          - ansible_play_batch == ['h2']
          - play_hosts == ['h2']
          - ansible_play_hosts_all == ['h1', 'h2']
    - name: once
      command: "echo {{ inventory_hostname }}"
      run_once: true
      register: once
    - name: ran on h2
      assert:
        that: once.stdout == 'h2'
"#;

#[test]
fn a_host_that_failed_leaves_ansible_play_hosts_for_the_others() {
    let sb = Sandbox::with_inventory(TWO_HOSTS);
    let r = sb.run(FAILED_LEAVES_PLAY_HOSTS, &[]);
    r.assert_code(2);
    let seen = r.results_of("the others see it gone");
    assert_eq!(seen.len(), 1, "{}", r.dump());
    assert_eq!(seen[0]["host"], "h2");
    assert_eq!(seen[0]["status"], "ok", "{}", r.dump());
    assert_eq!(r.status("ran on h2"), "ok", "{}", r.dump());
    let ours = our_recap(&r);
    let file = sb.write("gone.yml", FAILED_LEAVES_PLAY_HOSTS);
    let Some((code, theirs, out)) = ansible(&sb, &file) else {
        return;
    };
    assert_eq!(code, r.code, "{out}");
    assert_eq!(ours, theirs, "recap (ok changed failed skipped)\n{out}");
}

/// ansible-core 2.19's `any_errors_fatal` with blocks: a fatal failure marks every other host
/// of the batch failed where it stands, even when the failing host's own failure is rescued
/// (upstream's issue 72781); the marked host goes into its rescue (counted neither failed nor
/// rescued) or always, and a failed `run_once` task marks them twice (their innermost rescue or
/// always is skipped). (playbook, the tasks h2 runs, in order, exit code)
const MARKED: [(&str, &[&str], i32); 3] = [
    (
        r#"
- hosts: all
  gather_facts: false
  any_errors_fatal: true
  tasks:
    - block:
      - block:
          - name: h1 fails
            fail:
            when: inventory_hostname == 'h1'
        rescue:
          - name: inner rescue fails
            fail:
      - name: should not happen
        debug:
"#,
        &["h1 fails", "inner rescue fails"],
        2,
    ),
    (
        r#"
- hosts: all
  gather_facts: false
  any_errors_fatal: true
  tasks:
    - block:
        - name: h1 fails
          fail:
          when: inventory_hostname == 'h1'
        - name: after the failure
          debug:
      rescue:
        - name: rescue
          assert:
            that: ansible_failed_task is defined == (inventory_hostname == 'h1')
      always:
        - name: always
          debug:
    - name: later
      debug:
# h2, marked, takes no part in later plays, and the run fails.
- hosts: all
  gather_facts: false
  tasks:
    - name: next play
      debug:
"#,
        &["h1 fails", "rescue", "always", "later"],
        2,
    ),
    (
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - block:
          - name: once
            command: /bin/false
            run_once: true
          always:
            - name: inner always
              debug:
      rescue:
        - name: outer rescue
          debug:
    - name: later
      debug:
"#,
        &["outer rescue", "later"],
        0,
    ),
];

#[test]
fn a_fatal_failure_sends_the_other_hosts_into_their_rescue() {
    for (i, (pb, h2_runs, code)) in MARKED.iter().enumerate() {
        let sb = Sandbox::with_inventory(TWO_HOSTS);
        let r = sb.run(pb, &[]);
        r.assert_code(*code);
        let ran: Vec<String> = r
            .task_results()
            .iter()
            .filter(|t| t["host"] == "h2")
            .filter_map(|t| t["task"].as_str().map(str::to_string))
            .collect();
        assert_eq!(ran, *h2_runs, "playbook {i}\n{}", r.dump());
        let ours = our_recap(&r);
        let file = sb.write("marked.yml", pb);
        let Some((theirs_code, theirs, out)) = ansible(&sb, &file) else {
            continue;
        };
        assert_eq!(theirs_code, r.code, "playbook {i}\n{out}");
        assert!(!out.contains("should not happen"), "{out}");
        // ansible-playbook leaves out of its recap a host that ran nothing.
        assert_eq!(
            ours, theirs,
            "playbook {i}: recap (ok changed failed skipped)\n{out}"
        );
    }
}
