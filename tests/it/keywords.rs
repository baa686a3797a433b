//! Keywords as real playbooks write them (issue #17): templated keyword values, templated
//! `strategy`/`serial`, templated set_fact keys, handler chains, `notify` on a block,
//! `ansible_failed_task`/`ansible_failed_result`, `flush_handlers` in a rescue,
//! `clear_host_errors` and `any_errors_fatal` with rescue/always. Each expectation was checked
//! against ansible-playbook (ansible-core 2.19) on the same playbook.

use crate::support::cmd::{self, Sandbox};

const TWO_HOSTS: &str = "all:\n  hosts:\n    h1:\n      ansible_connection: local\n    h2:\n      ansible_connection: local\n";

fn msg(run: &cmd::Run, task: &str) -> String {
    run.result(task)["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn boolean_keywords_take_templates() {
    let sb = Sandbox::with_inventory(TWO_HOSTS);
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  vars:
    ign: true
    once: "yes"
    esc: false
  tasks:
    - name: ignored by a template
      fail:
        msg: boom
      ignore_errors: "{{ ign }}"
    - name: once by a template
      command: echo once
      run_once: "{{ once }}"
      register: o
      changed_when: false
    - name: become from a template
      command: id -un
      become: "{{ esc }}"
      changed_when: false
    - name: fatal from a template
      debug:
        msg: fine
      any_errors_fatal: "{{ not ign }}"
    - name: check
      assert:
        that: o.stdout == 'once'
"#,
        &[],
    );
    r.assert_ok();
    // As ansible-playbook: h1 ok=5 ignored=1, h2 ok=4 (run_once ran on h1 only).
    assert_eq!(r.stats("h1"), (5, 0, 0, 0, 0));
    assert_eq!(r.stats("h2"), (4, 0, 0, 0, 0));
    assert_eq!(r.results_of("once by a template").len(), 1);
    assert!(
        r.results_of("ignored by a template")
            .iter()
            .all(|e| e["ignored"] == true),
        "{}",
        r.dump()
    );
}

#[test]
fn a_templated_flag_that_is_not_a_boolean_fails_the_task_naming_the_keyword() {
    let sb = Sandbox::new();
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: bad flag
      fail:
        msg: boom
      ignore_errors: "{{ 'maybe' }}"
"#,
        &[],
    );
    r.assert_code(2);
    let m = msg(&r, "bad flag");
    assert!(
        m.contains("ignore_errors") && m.contains("maybe") && m.contains("not a boolean"),
        "{m}"
    );
}

#[test]
fn strategy_and_serial_are_rendered_before_the_play() {
    let sb = Sandbox::with_inventory(TWO_HOSTS);
    let pb = r#"
- hosts: all
  gather_facts: no
  strategy: "{{ strat | default('linear') }}"
  serial: "{{ batch | default(2) }}"
  tasks:
    - name: hello
      debug:
        msg: hi
"#;
    sb.run(pb, &[]).assert_ok();
    sb.run(pb, &["-e", "strat=free", "-e", "batch=1"])
        .assert_ok();
    sb.run(pb, &["-e", "strat=host_pinned"]).assert_ok();
    let r = sb.run(pb, &["-e", "strat=debug", "--engine", "native"]);
    r.assert_code(5);
    assert!(
        r.stderr
            .contains(":4:13: strategy 'debug' is not supported")
            && r.stderr.contains("valid: linear, free, host_pinned"),
        "{}",
        r.dump()
    );
}

#[test]
fn set_fact_renders_templated_keys_and_refuses_bad_names() {
    let sb = Sandbox::new();
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: templated key
      set_fact:
        "{{ a_key }}": "{{ a_value }}"
      vars:
        a_key: my_key
        a_value: my_value
      register: result
    - name: check key
      assert:
        that:
          - my_key == "my_value"
          - result.ansible_facts.my_key == "my_value"
    - name: keyword name
      set_fact:
        "{{ 'true' }}": value
      ignore_errors: yes
    - name: int name
      set_fact:
        "{{ 1 }}": value
      ignore_errors: yes
    - name: dash name
      set_fact:
        a-b: value
      ignore_errors: yes
"#,
        &[],
    );
    r.assert_ok();
    assert_eq!(r.status("check key"), "ok");
    assert!(msg(&r, "keyword name").starts_with("Invalid variable name 'true'."));
    assert!(msg(&r, "int name").starts_with("Invalid variable name '1' of type 'int'."));
    assert!(msg(&r, "dash name").starts_with("Invalid variable name 'a-b'."));
}

#[test]
fn handlers_notify_handlers_blocks_notify_and_rescue_sees_the_failure() {
    let sb = Sandbox::new();
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: change
      command: "true"
      notify: first
    - name: block notify
      notify: from block
      block:
        - name: changed in block
          command: "true"
    - name: rescued
      block:
        - name: EXPECTED failure
          command: "false"
      rescue:
        - name: see failure
          assert:
            that:
              - ansible_failed_task.name == 'EXPECTED failure'
              - ansible_failed_task.action == 'command'
              - ansible_failed_result.rc == 1
        - name: notify in rescue
          command: "true"
          notify: in rescue
        - meta: flush_handlers
        - name: after rescue flush
          assert:
            that: rescue_handler_ran | default(false)
  post_tasks:
    - name: post
      debug:
        msg: post
  handlers:
    - name: early
      set_fact:
        early_ran: true
    - name: first
      command: "true"
      notify: [second, early]
    - name: second
      set_fact:
        second_ran: true
    - name: from block
      set_fact:
        block_ran: true
    - name: in rescue
      set_fact:
        rescue_handler_ran: true
"#,
        &[],
    );
    r.assert_ok();
    // ansible-playbook's order: one pass over the handlers at the flush in the rescue ('second'
    // runs after 'first' in the same pass; 'early' is defined before 'first', so it waits for
    // the next flush, after the tasks section).
    let order = r.task_order();
    let want = [
        "change",
        "changed in block",
        "EXPECTED failure",
        "see failure",
        "notify in rescue",
        "first",
        "second",
        "from block",
        "in rescue",
        "after rescue flush",
        "early",
        "post",
    ];
    assert_eq!(order, want, "{}", r.dump());
    let st = r.stats_event().cloned().unwrap_or_default();
    assert_eq!(st["hosts"]["local1"]["ok"], 11, "{}", r.dump());
    assert_eq!(st["hosts"]["local1"]["changed"], 4);
}

#[test]
fn failed_task_args_are_data_not_templates() {
    let sb = Sandbox::new();
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: false
  vars:
    data: {}
  tasks:
    - block:
        - name: template error
          debug:
            msg: "{{ data.value }}"
      rescue:
        - name: show
          debug:
            msg: "{{ ansible_failed_task.action }}"
        - name: check
          assert:
            that:
              - ansible_failed_task.name == "template error"
              - ansible_failed_task.args.msg == "{{ '{{' }} data.value {{ '}}' }}"
"#,
        &[],
    );
    r.assert_ok();
    assert_eq!(msg(&r, "show"), "debug");
}

#[test]
fn clear_host_errors_in_always_lets_the_host_go_on_and_the_run_succeed() {
    let sb = Sandbox::new();
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - block:
        - name: EXPECTED failure
          fail:
      always:
        - meta: clear_host_errors
    - name: after
      debug:
        msg: went on
"#,
        &[],
    );
    // As ansible-playbook: the recap keeps failed=1, the exit status is 0.
    r.assert_ok();
    assert!(r.ran("after"), "{}", r.dump());
    assert_eq!(r.stats("local1").2, 1);
}

#[test]
fn any_errors_fatal_runs_the_always_section_before_ending_the_run() {
    let sb = Sandbox::with_inventory(TWO_HOSTS);
    let r = sb.run(
        r#"
- hosts: h1
  gather_facts: no
  tasks:
    - block:
        - block:
            - name: EXPECTED failure
              fail:
          any_errors_fatal: true
      always:
        - name: always runs
          debug:
            msg: cleanup
    - name: never
      debug:
        msg: no
- hosts: h2
  gather_facts: no
  tasks:
    - name: next play
      debug:
        msg: yes
"#,
        &[],
    );
    r.assert_code(2);
    assert!(r.ran("always runs"), "{}", r.dump());
    assert!(!r.ran("never"));
    // As ansible-playbook: a fatal failure ends the whole run, not only its play.
    assert!(!r.ran("next play"), "{}", r.dump());
}

/// A looped include_tasks runs its file once per item with the item's variables; its `when` is
/// judged per item, its `vars` see the item, its tags select the include only (ansible-core 2.19:
/// with `--tags t1` the include runs and its untagged tasks do not).
#[test]
fn include_tasks_loops_once_per_item() {
    let sb = Sandbox::with_inventory(TWO_HOSTS);
    sb.write(
        "inc.yml",
        "- name: inner\n  debug:\n    msg: \"{{ item }} {{ i }} {{ x }} {{ ansible_loop_var }}\"\n",
    );
    sb.write(
        "inc2.yml",
        "- name: inner2\n  debug:\n    msg: \"{{ lv }} {{ f }}\"\n",
    );
    let pb = r#"
- hosts: h1
  gather_facts: no
  vars:
    names: [p, q]
  tasks:
    - include_tasks: inc.yml
      loop: [a, b, c]
      loop_control: {index_var: i}
      when: item != 'b'
      vars: {x: "X{{ item }}"}
      tags: [t1]
    - include_tasks: inc2.yml
      vars: {f: "{{ lv }}.sql"}
      with_items: "{{ names }}"
      loop_control: {loop_var: lv}
    - include_tasks: inc2.yml
      loop: []
"#;
    let r = sb.run(pb, &[]);
    r.assert_ok();
    let msgs = |name: &str| -> Vec<String> {
        r.results_of(name)
            .iter()
            .map(|v| v["msg"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        msgs("inner"),
        ["a 0 Xa item", "c 2 Xc item"],
        "{}",
        r.dump()
    );
    assert_eq!(msgs("inner2"), ["p p.sql", "q q.sql"], "{}", r.dump());

    let tagged = sb.run(pb, &["--tags", "t1"]);
    tagged.assert_ok();
    assert!(!tagged.ran("inner"), "{}", tagged.dump());
    assert!(!tagged.ran("inner2"), "{}", tagged.dump());

    // import_tasks is inlined when read: a loop on it is an error, as in Ansible.
    let bad = sb.run(
        "- hosts: h1\n  gather_facts: no\n  tasks:\n    - import_tasks: inc.yml\n      loop: [a]\n",
        &[],
    );
    assert_ne!(bad.code, 0, "{}", bad.dump());
    assert!(
        bad.dump().contains("import_tasks cannot loop"),
        "{}",
        bad.dump()
    );
}
