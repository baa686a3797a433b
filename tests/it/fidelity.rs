//! Smaller fidelity gaps of the native engine (issue #17): the recap lists the hosts
//! ansible-core's `stats.processed` would (a host some task result counted for); `meta` tasks
//! honour `when` and tags and never count; the handlers refuse what ansible-core refuses there;
//! fully qualified module names resolve as ansible-core resolves them. Each expectation was checked against
//! ansible-playbook (ansible-core 2.19) on the same playbook.

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

/// ansible-core takes no `include_role` / `import_role` and no nested block as a handler
/// (playbook/helpers.py): the same refusal, at the same position, before anything runs.
#[test]
fn handlers_refuse_roles_and_nested_blocks_as_ansible_does() {
    let sb = Sandbox::with_inventory(THREE_HOSTS);
    sb.write("roles/r/tasks/main.yml", "- debug: msg=r\n");
    for (text, want) in [
        (
            "- hosts: h1\n  gather_facts: no\n  tasks: []\n  handlers:\n    - name: inc\n      include_role:\n        name: r\n",
            ":5:7: Using 'include_role' as a handler is not supported.",
        ),
        (
            "- hosts: h1\n  gather_facts: no\n  tasks: []\n  handlers:\n    - ansible.builtin.import_role:\n        name: r\n",
            ":5:7: Using 'ansible.builtin.import_role' as a handler is not supported.",
        ),
        (
            "- hosts: h1\n  gather_facts: no\n  tasks: []\n  handlers:\n    - block:\n        - name: h1\n          debug: msg=h1\n        - block:\n            - name: h2\n              debug: msg=h2\n",
            ":8:11: Using a block as a handler is not supported.",
        ),
    ] {
        let pb = sb.write("h.yml", text);
        let r = sb.run_file(&pb, &[]);
        r.assert_code(5);
        assert!(r.stderr.contains(&format!("h.yml{want}")), "{}", r.dump());
    }
    // A block at the top of the handlers is fine.
    let r = sb.run(
        "- hosts: h1\n  gather_facts: no\n  tasks:\n    - name: t\n      command: \"true\"\n      notify: h\n  handlers:\n    - block:\n        - name: h\n          debug: msg=h\n",
        &[],
    );
    r.assert_ok();
    assert!(r.ran("h"), "{}", r.dump());
}

/// A module's fully qualified name must name its collection (or ansible.builtin /
/// ansible.legacy, whose routing redirects); short names resolve as ansible-core's routing and a
/// play's `collections:` do.
#[test]
fn fully_qualified_names_resolve_as_in_ansible() {
    let sb = Sandbox::with_inventory(THREE_HOSTS);
    let pb = sb.write(
        "fq.yml",
        "- hosts: h1\n  gather_facts: no\n  tasks:\n    - community.general.copy:\n        content: x\n        dest: /tmp/never\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_code(5);
    assert!(
        r.stderr
            .contains("fq.yml:4:7: couldn't resolve module/action 'community.general.copy'"),
        "{}",
        r.dump()
    );
    let dest = sb.p("out.txt");
    let r = sb.run(
        &format!(
            "- hosts: h1\n  gather_facts: no\n  collections: [community.postgresql, community.general]\n  tasks:\n    - name: short\n      copy: {{content: a, dest: {d}}}\n    - name: legacy\n      ansible.legacy.copy: {{content: a, dest: {d}}}\n    - name: routed\n      ansible.builtin.ufw:\n        state: enabled\n      check_mode: true\n      when: false\n",
            d = dest.display()
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(sb.read("out.txt"), "a");
    assert_eq!(r.status("legacy"), "ok", "{}", r.dump());
}

/// A looping include_tasks: ansible-core's linear strategy judges the include's `when` for every
/// item before any included task runs, then runs the items' tasks in order. So a fact an item's
/// tasks set does not skip the later items (each item used to be judged after the one before ran).
#[test]
fn a_looping_include_judges_every_item_before_its_tasks_run() {
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - include_tasks: step.yml
      loop: [1, 2, 3]
      when: not (done | default(false))
    - name: seen
      debug: msg="{{ seen }}"
"#;
    let step = "- set_fact: {done: true, seen: \"{{ seen | default([]) + [item] }}\"}\n";
    let sb = Sandbox::with_inventory("all:\n  hosts:\n    h1:\n      ansible_connection: local\n");
    sb.write("step.yml", step);
    let file = sb.write("incw.yml", pb);
    let r = sb.run_file(&file, &[]);
    r.assert_ok();
    assert_eq!(r.result("seen")["msg"], "[1,2,3]", "{}", r.dump());
    // 3 included + 3 set_fact + debug, as ansible-playbook's recap.
    assert_eq!(r.stats("h1").0, 7, "{}", r.dump());
    let Some(ansible) = crate::support::cmd::ansible_playbook() else {
        return;
    };
    let out = sb.ansible_stdout(&ansible, &file);
    assert!(out.contains("h1                         : ok=7 "), "{out}");
    assert!(
        out.contains("\"msg\": [\n        1,\n        2,\n        3\n    ]"),
        "{out}"
    );
}
