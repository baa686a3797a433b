//! `with_<lookup>` loops on the local connection: the items each lookup gives, compared with what
//! ansible-playbook (ansible-core 2.19.14, the project's venv) printed for the same playbook, run
//! once by hand with the `json` callback; the lookups' errors; the unknown ones refused at plan
//! time with file:line:col.

use crate::support::cmd;

use cmd::Sandbox;
use serde_json::{Value, json};

/// The same playbook was run with ansible-playbook (`hosts: localhost`, `-c local`); the expected
/// items below are what its json callback reported for each task, in order.
const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: no
  vars:
    d: {b: 1, a: [2]}
    l1: [1, 2, 3]
    l2: [a, b]
    ll: [[1, 2], [3]]
    users:
      - name: u1
        keys: [k1, k2]
        opt: {deep: [x]}
      - name: u2
        keys: []
      - name: u3
    nested: [[1, [2, 3]], 4]
  tasks:
    - name: dict
      debug: {msg: "{{ item }}"}
      with_dict: "{{ d }}"
    - name: dict inline
      debug: {msg: "{{ item }}"}
      with_dict: {z: 1, y: null}
    - name: dict list
      debug: {msg: "{{ item }}"}
      with_ansible.builtin.dict: [{a: 1}, {b: 2}]
    - name: together
      debug: {msg: "{{ item }}"}
      with_together: ["{{ l1 }}", "{{ l2 }}"]
    - name: together strings
      debug: {msg: "{{ item }}"}
      with_together: ["ab", [1]]
    - name: nested
      debug: {msg: "{{ item }}"}
      with_nested: ["{{ l2 }}", [x, y], "{{ l1 }}"]
    - name: cartesian
      debug: {msg: "{{ item }}"}
      with_cartesian: ["{{ l2 }}", [x, y]]
    - name: subelements
      debug: {msg: "{{ item }}"}
      with_subelements: ["{{ users }}", keys, {skip_missing: true}]
    - name: subelements deep
      debug: {msg: "{{ item }}"}
      with_subelements: ["{{ users }}", opt.deep, {skip_missing: true}]
    - name: seq simple
      debug: {msg: "{{ item }}"}
      with_sequence: "4:host%02d"
    - name: seq range
      debug: {msg: "{{ item }}"}
      with_sequence: 2-10/4
    - name: seq kv
      debug: {msg: "{{ item }}"}
      with_sequence: start=5 end=11 stride=2 format=0x%02x
    - name: seq count
      debug: {msg: "{{ item }}"}
      with_sequence: start=10 count=3 format=%04x
    - name: seq back
      debug: {msg: "{{ item }}"}
      with_sequence: start=5 end=1 stride=-2
    - name: seq list
      debug: {msg: "{{ item }}"}
      with_sequence: ["3", "end=2 start=1"]
    - name: indexed
      debug: {msg: "{{ item }}"}
      with_indexed_items: [a, [b, c], d]
    - name: items
      debug: {msg: "{{ item }}"}
      with_items: "{{ nested }}"
    - name: items templated list of lists
      debug: {msg: "{{ item }}"}
      with_items: "{{ ll }}"
    - name: items string
      debug: {msg: "{{ item }}"}
      with_items: plain
    - name: list
      debug: {msg: "{{ item }}"}
      with_list: [[1, 2], 3]
    - name: flattened
      debug: {msg: "{{ item }}"}
      with_flattened: ["{{ nested }}", [[[5]]], 6]
    - name: fileglob
      debug: {msg: "{{ item }}"}
      with_fileglob: ["*.conf", "sub/*.conf", "nomatch*"]
    - name: first found
      debug: {msg: "{{ item }}"}
      with_first_found: [missing.txt, c.txt, a.conf]
    - name: first found dict
      debug: {msg: "{{ item }}"}
      with_first_found:
        - files: [nope, x.conf]
          paths: [files, sub]
    - name: first found undefined left out
      debug: {msg: "{{ item }}"}
      with_first_found: ["{{ nope_var }}.conf", "{{ nope2 | lower }}", c.txt]
    - name: first found undefined in files
      debug: {msg: "{{ item }}"}
      with_first_found:
        - files: ["{{ nope_var }}.conf", a.conf]
    - name: first found template
      template: {src: "{{ item }}", dest: "@D@/out"}
      with_first_found: [t1.j2, t2.j2]
    - name: first found skip
      debug: {msg: "{{ item }}"}
      with_first_found:
        - files: [nope]
          skip: true
      register: skipped_ff
    - name: seq zero
      debug: {msg: "{{ item }}"}
      with_sequence: count=0
      register: seq_zero
    - name: registered
      assert:
        that:
          - skipped_ff == seq_zero
          - seq_zero.skipped
          - seq_zero.skipped_reason == 'No items in the list'
          - seq_zero.results == []
    - name: random
      debug: {msg: "{{ item }}"}
      with_random_choice: [r1, r2, r3]
"#;

/// The items of each task, in order, from the run's task_result events; paths inside the
/// sandbox are shown relative to it.
fn items_by_task(run: &cmd::Run, sandbox: &str) -> Vec<(String, Vec<Value>)> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    for e in run.task_results() {
        let task = e["task"].as_str().unwrap_or_default().to_string();
        let item = match &e["item"] {
            Value::String(s) => json!(s.strip_prefix(&format!("{sandbox}/")).unwrap_or(s)),
            other => other.clone(),
        };
        match out.last_mut() {
            Some((t, items)) if *t == task => items.push(item),
            _ => out.push((task, vec![item])),
        }
    }
    out
}

#[test]
fn with_lookups_give_the_items_ansible_gives() {
    let sb = Sandbox::new();
    for f in ["files/a.conf", "files/b.conf", "files/c.txt", "sub/x.conf"] {
        sb.write(f, "");
    }
    sb.write("templates/t2.j2", "t2\n");
    let r = sb.run(PLAYBOOK, &[]);
    r.assert_ok();
    let got = items_by_task(&r, &sb.d());
    // From ansible-playbook 2.19.14 on the same playbook (fileglob's order there is the
    // directory's; ours is sorted, and the files were created in that order).
    let expected: Vec<(&str, Value)> = vec![
        (
            "dict",
            json!([{"key": "b", "value": 1}, {"key": "a", "value": [2]}]),
        ),
        (
            "dict inline",
            json!([{"key": "z", "value": 1}, {"key": "y", "value": null}]),
        ),
        (
            "dict list",
            json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}]),
        ),
        ("together", json!([[1, "a"], [2, "b"], [3, null]])),
        ("together strings", json!([["a", 1], ["b", null]])),
        (
            "nested",
            json!([
                ["a", "x", 1],
                ["a", "x", 2],
                ["a", "x", 3],
                ["a", "y", 1],
                ["a", "y", 2],
                ["a", "y", 3],
                ["b", "x", 1],
                ["b", "x", 2],
                ["b", "x", 3],
                ["b", "y", 1],
                ["b", "y", 2],
                ["b", "y", 3]
            ]),
        ),
        (
            "cartesian",
            json!([["a", "x"], ["a", "y"], ["b", "x"], ["b", "y"]]),
        ),
        (
            "subelements",
            json!([
                [{"name": "u1", "opt": {"deep": ["x"]}}, "k1"],
                [{"name": "u1", "opt": {"deep": ["x"]}}, "k2"]
            ]),
        ),
        (
            "subelements deep",
            json!([[{"keys": ["k1", "k2"], "name": "u1", "opt": {}}, "x"]]),
        ),
        (
            "seq simple",
            json!(["host01", "host02", "host03", "host04"]),
        ),
        ("seq range", json!(["2", "6", "10"])),
        ("seq kv", json!(["0x05", "0x07", "0x09", "0x0b"])),
        ("seq count", json!(["000a", "000b", "000c"])),
        ("seq back", json!(["5", "3", "1"])),
        ("seq list", json!(["1", "2", "3", "1", "2"])),
        ("indexed", json!([[0, "a"], [1, "b"], [2, "c"], [3, "d"]])),
        ("items", json!([1, [2, 3], 4])),
        ("items templated list of lists", json!([1, 2, 3])),
        ("items string", json!(["plain"])),
        ("list", json!([[1, 2], 3])),
        ("flattened", json!([1, 2, 3, 4, 5, 6])),
        (
            "fileglob",
            json!(["files/a.conf", "files/b.conf", "sub/x.conf"]),
        ),
        ("first found", json!(["files/c.txt"])),
        ("first found dict", json!(["sub/x.conf"])),
        ("first found undefined left out", json!(["files/c.txt"])),
        ("first found undefined in files", json!(["files/a.conf"])),
        ("first found template", json!(["templates/t2.j2"])),
    ];
    for (i, (task, items)) in expected.iter().enumerate() {
        let (got_task, got_items) = got
            .get(i)
            .unwrap_or_else(|| panic!("no results for {task:?}\n{}", r.dump()));
        assert_eq!(got_task, task, "task order\n{}", r.dump());
        assert_eq!(&Value::Array(got_items.clone()), items, "items of {task:?}");
    }
    // The empty loops run nothing (no per-item result) and register what Ansible registers.
    assert_eq!(r.status("registered"), "ok", "{}", r.dump());
    let random = r.results_of("random");
    assert_eq!(random.len(), 1, "one random choice\n{}", r.dump());
    assert!(
        ["r1", "r2", "r3"].contains(&random[0]["item"].as_str().unwrap_or_default()),
        "{}",
        r.dump()
    );
    assert_eq!(sb.read("out"), "t2\n", "the template found was used");
}

#[test]
fn lookup_errors_fail_the_task_with_ansibles_message() {
    let sb = Sandbox::new();
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: dict bad
      debug: {msg: "{{ item }}"}
      with_dict: [1]
      ignore_errors: true
    - name: subel missing
      debug: {msg: "{{ item }}"}
      with_subelements: [[{a: 1}], keys]
      ignore_errors: true
    - name: ff none
      debug: {msg: "{{ item }}"}
      with_first_found: [nope]
      ignore_errors: true
    - name: seq bad
      debug: {msg: "{{ item }}"}
      with_sequence: end=3 step=2
      ignore_errors: true
"#,
        &[],
    );
    r.assert_ok();
    // ansible-playbook 2.19.14's messages for the same tasks (its dict message names a tagged
    // int type where ours says int).
    for (task, msg) in [
        (
            "dict bad",
            "The lookup plugin 'dict' failed: the 'dict' lookup plugin expects a dictionary, got '1' of type <class 'int'>)",
        ),
        (
            "subel missing",
            "The lookup plugin 'subelements' failed: could not find 'keys' key in iterated item '{'a': 1}'",
        ),
        (
            "ff none",
            "The lookup plugin 'first_found' failed: No file was found when using first_found.",
        ),
        (
            "seq bad",
            "The lookup plugin 'sequence' failed: unrecognized arguments to with_sequence: ['step']",
        ),
    ] {
        assert_eq!(r.status(task), "failed", "{}", r.dump());
        assert_eq!(r.result(task)["msg"], json!(msg), "{}", r.dump());
    }
}

/// Refused before anything runs (exit 5), the error located at `line:col` of the playbook.
#[track_caller]
fn assert_refused_at(pb: &str, line: usize, col: usize, needles: &[&str]) {
    let sb = Sandbox::new();
    let r = sb.run(pb, &[]);
    assert_eq!(r.code, 5, "bad input must exit 5\n{}", r.dump());
    assert!(!r.stdout.contains("task_start"), "a task ran\n{}", r.dump());
    let file = sb.p("pb-0.yml");
    assert!(
        r.stderr
            .starts_with(&format!("ERROR! {}:{line}:{col}: ", file.display())),
        "expected the error at {line}:{col}\n{}",
        r.dump()
    );
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "stderr should mention {n:?}\n{}",
            r.dump()
        );
    }
}

#[test]
fn an_unimplemented_with_lookup_is_refused_at_its_key() {
    assert_refused_at(
        "- hosts: all\n  tasks:\n    - debug: msg={{ item }}\n      with_inventory_hostnames: all\n",
        4,
        7,
        &[
            "'with_inventory_hostnames' is not supported",
            "with_subelements",
            "ansible-playbook",
        ],
    );
}

#[test]
fn a_with_loop_without_a_value_is_refused() {
    // ansible-playbook: "you must specify a value when using with_items".
    assert_refused_at(
        "- hosts: all\n  tasks:\n    - debug: msg={{ item }}\n      with_dict:\n",
        4,
        7,
        &["you must specify a value when using with_dict"],
    );
}

#[test]
fn two_loops_on_one_task_are_refused() {
    assert_refused_at(
        "- hosts: all\n  tasks:\n    - debug: msg={{ item }}\n      with_dict: {a: 1}\n      with_nested: [[1]]\n",
        5,
        7,
        &["only one of loop", "with_nested"],
    );
}

#[test]
fn loop_control_index_var_extended_fields_and_pause() {
    let sb = Sandbox::new();
    let started = std::time::Instant::now();
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: idx
      debug: {msg: "{{ i }}/{{ ansible_index_var }} {{ ansible_loop.revindex }} {{ ansible_loop.previtem | default('-') }} {{ ansible_loop.nextitem | default('-') }} {{ ansible_loop.allitems | default('none') }}"}
      loop: [a, b, c]
      loop_control: {index_var: i, extended: true, pause: 0.3}
      register: ri
    - name: noall
      debug: {msg: "{{ ansible_loop.allitems | default('none') }}"}
      with_items: [a]
      loop_control: {extended: true, extended_allitems: false}
    - name: reg
      debug: {msg: "{{ ri.results | map(attribute='i') | list }} {{ ri.results[0].ansible_index_var }}"}
"#,
        &[],
    );
    r.assert_ok();
    let msgs = |task: &str| -> Vec<Value> {
        r.results_of(task)
            .iter()
            .map(|e| e["msg"].clone())
            .collect()
    };
    // ansible-playbook 2.19.14 printed exactly these for the same playbook.
    assert_eq!(
        msgs("idx"),
        vec![
            json!("0/i 3 - b ['a', 'b', 'c']"),
            json!("1/i 2 a c ['a', 'b', 'c']"),
            json!("2/i 1 b - ['a', 'b', 'c']")
        ]
    );
    assert_eq!(msgs("noall"), vec![json!("none")]);
    assert_eq!(msgs("reg"), vec![json!("[0, 1, 2] i")]);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(600),
        "two pauses of 0.3 s between three items"
    );
}
