//! The recap lists the hosts ansible-core's `stats.processed` would (a host some task result
//! counted for), and `meta` tasks honour `when` and tags and never count (issue #17). Each
//! expectation was checked against ansible-playbook (ansible-core 2.19) on the same playbook.

use crate::support::cmd::Sandbox;

const THREE_HOSTS: &str = "all:\n  hosts:\n    h1:\n      ansible_connection: local\n    h2:\n      ansible_connection: local\n    h3:\n      ansible_connection: local\n";

#[test]
fn a_host_no_task_result_counted_for_has_no_recap_row() {
    let sb = Sandbox::with_inventory(THREE_HOSTS);
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - meta: end_host
      when: inventory_hostname == 'h1'
    - name: hi
      debug:
        msg: hi
      when: inventory_hostname == 'h2'
    - meta: noop
- hosts: h3
  gather_facts: no
  tasks: []
"#,
        &[],
    );
    r.assert_ok();
    // ansible-playbook: h1 (ended by a meta task, which counts nothing) has no row; h3's
    // skipped task is a row; its second play, with no task, adds nothing.
    assert!(!r.has_stats_for("h1"), "{}", r.dump());
    assert_eq!(r.stats("h2"), (1, 0, 0, 0, 0));
    assert_eq!(r.stats("h3"), (0, 0, 0, 1, 0));
    assert_eq!(r.results_of("hi").len(), 2, "{}", r.dump());
}

#[test]
fn a_play_without_tasks_prints_an_empty_recap() {
    let sb = Sandbox::with_inventory(THREE_HOSTS);
    let r = sb.run("- hosts: all\n  gather_facts: no\n  tasks: []\n", &[]);
    r.assert_ok();
    let stats = r.stats_event().expect("a stats event");
    assert_eq!(stats["hosts"], serde_json::json!({}), "{}", r.dump());
    // The printed recap has its header and no row.
    let pb = sb.write(
        "empty.yml",
        "- hosts: all\n  gather_facts: no\n  tasks: []\n",
    );
    let r = sb.run_raw(&[
        "run".to_string(),
        pb.display().to_string(),
        "-i".to_string(),
        sb.inventory().display().to_string(),
    ]);
    r.assert_ok();
    assert!(r.stdout.contains("PLAY RECAP"), "{}", r.dump());
    assert!(!r.stdout.contains("ok=0"), "{}", r.dump());
}

#[test]
fn meta_actions_honour_when_and_tags() {
    let sb = Sandbox::with_inventory(THREE_HOSTS);
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - meta: end_play
      when: false
    - block:
        - meta: end_host
      when: inventory_hostname == 'h3'
    - meta: end_play
      tags: stop
    - name: after
      debug:
        msg: after
"#,
        &["--skip-tags", "stop"],
    );
    r.assert_ok();
    assert_eq!(r.stats("h1"), (1, 0, 0, 0, 0));
    assert_eq!(r.stats("h2"), (1, 0, 0, 0, 0));
    assert!(!r.has_stats_for("h3"), "{}", r.dump());
}

#[test]
fn unknown_and_unimplemented_meta_actions_are_refused_at_plan_time() {
    let sb = Sandbox::with_inventory(THREE_HOSTS);
    let pb = sb.write(
        "bogus.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - meta: bogus\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_code(5);
    assert!(
        r.stderr
            .contains("bogus.yml:4:13: invalid meta action 'bogus'")
            && r.stderr.contains("end_host"),
        "{}",
        r.dump()
    );
    let pb = sb.write(
        "batch.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - meta: end_batch\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_code(5);
    assert!(
        r.stderr.contains(
            "batch.yml:4:13: meta action 'end_batch' is not implemented by the native engine"
        ),
        "{}",
        r.dump()
    );
}
