//! Backslashes in templates as ansible-core 2.19 reads them: YAML unescapes first (double
//! quotes only), then a string literal inside `{{ }}` keeps its backslashes (Ansible's
//! `escape_backslashes`), while literals in `{% %}`, bare conditions, debug's `var:` and template
//! files get Python's `unicode_escape`. EXPECTED is what ansible-playbook (ansible-core 2.19.14,
//! the project's venv) printed for PLAYBOOK; `ansible_agrees` checks that again when it is
//! installed. Before the change 22 of these cases differed (and `\777` / `\a` in a condition
//! were refused at plan time).

use serde_json::Value;

use crate::support::cmd::Sandbox;

const PLAYBOOK: &str = r##"
- hosts: all
  gather_facts: false
  ignore_errors: true
  vars:
    s: "ab12cd345"
  tasks:
    - {name: c01, debug: {msg: "{{ 'a\\nb' }}"}}
    - {name: c02, debug: {msg: '{{ ''a\nb'' }}'}}
    - name: c03
      debug:
        msg: "{{ 'a\nb' }}"
    - {name: c04, debug: {msg: "{{ s | regex_replace('\\d+', 'x') }}"}}
    - {name: c05, debug: {msg: '{{ s | regex_replace(''\d+'', ''x'') }}'}}
    - {name: c06, debug: {msg: "{{ s | regex_replace('\\\\d+', 'x') }}"}}
    - {name: c07, debug: {msg: "{{ s | regex_search('(\\d+)cd', '\\1') }}"}}
    - {name: c08, debug: {msg: '{{ s | regex_search(''(\d+)cd'', ''\1'') }}'}}
    - {name: c09, debug: {msg: '{{ s | regex_search(''(\d+)cd'', ''\\1'') }}'}}
    - {name: c10, debug: {msg: "{{ s | regex_replace('(\\d+)', '<\\\\1>') }}"}}
    - {name: c11, debug: {msg: '{{ s | regex_replace(''(\d+)'', ''<\1>'') }}'}}
    - {name: c12, debug: {msg: '{{ "a\tb\/c" }}'}}
    - {name: c13, debug: {msg: '{{ "\a\v|\x41\101\u00e9\U0001F600" }}'}}
    - {name: c14, debug: {msg: '{{ "\N{BULLET}|\N{LATIN SMALL LETTER E WITH ACUTE}" }}'}}
    - {name: c15, debug: {msg: '{{ "\q\d\w\s\." }}'}}
    - {name: c16, debug: {msg: '{{ "a\\b" }} \n plain \t'}}
    - {name: c17, debug: {msg: "{{ 'it\\'s' }}"}}
    - {name: c18, debug: {msg: '{{ ''C:\\dir\\'' ~ "x" }}'}}
    - {name: c19, debug: {msg: '{{ "\é" }}'}}
    - {name: c20, debug: {msg: '{{ "\777|\0|\12" }}'}}
    - name: c21
      debug:
        msg: >-
          {{ s | regex_replace('\d', '\\') }}
    - name: c22
      debug:
        msg: |-
          {{ 'line\
          cont' }}
    - {name: c23, debug: {msg: "{{ '\\\\' | length }}"}}
    - {name: c24, debug: {msg: '{{ s is regex("\d{2}") }}'}}
    - {name: c25, set_fact: {f: '{{ "\x41\n" }}'}}
    - {name: c26, debug: {msg: '{{ f }}'}}
    - {name: c27, debug: {msg: ok}, when: '"\x41" == "A"'}
    - {name: c28, debug: {msg: ok}, when: '"\\" | length == 1'}
    - {name: c29, debug: {msg: ok}, when: '"a\/b" | length == 4'}
    - {name: c30, debug: {msg: ok}, when: '"\N{BULLET}" | length == 1'}
    - {name: c31, debug: {msg: '{% set v = "a\tb\/\x41" %}{{ v }}'}}
    - {name: c32, debug: {msg: "{{ 'x' }}\\n{{ 'y' }}"}}
    - {name: c33, debug: {msg: ok}, when: '"\é" | length == 4'}
    - {name: c34, debug: {msg: ok}, when: '"\777|\a\v" == "ǿ|\x07\x0b"'}
    - {name: c35, debug: {msg: "{{ lookup('template', 'esc.j2') }}"}}
    - {name: c36, debug: {var: "'\\d' ~ \"\\t\""}}
    - {name: c37, assert: {that: ["'\\d' | length == 2", "'\\t' | length == 1"]}}
"##;

/// A template file: Python's escapes everywhere (the template lookup and module).
const TEMPLATE: &str = "{{ \"a\\tb\\/\\x41\" }}|{{ '\\d' }}\n";

/// Each task's `msg` (debug's `var:` value for c36) as JSON; None: the task fails.
const EXPECTED: &[(&str, Option<&str>)] = &[
    ("c01", Some(r#""a\\nb""#)),
    ("c02", Some(r#""a\\nb""#)),
    ("c03", Some(r#""a\nb""#)),
    ("c04", Some(r#""abxcdx""#)),
    ("c05", Some(r#""abxcdx""#)),
    ("c06", Some(r#""ab12cd345""#)),
    ("c07", Some(r#"["12"]"#)),
    ("c08", Some(r#"["12"]"#)),
    ("c09", None),
    ("c10", Some(r#""ab<\\1>cd<\\1>""#)),
    ("c11", Some(r#""ab<12>cd<345>""#)),
    ("c12", Some(r#""a\\tb\\/c""#)),
    ("c13", Some(r#""\\a\\v|\\x41\\101\\u00e9\\U0001F600""#)),
    (
        "c14",
        Some(r#""\\N{BULLET}|\\N{LATIN SMALL LETTER E WITH ACUTE}""#),
    ),
    ("c15", Some(r#""\\q\\d\\w\\s\\.""#)),
    ("c16", Some(r#""a\\\\b \\n plain \\t""#)),
    ("c17", Some(r#""it\\'s""#)),
    ("c18", Some(r#""C:\\\\dir\\\\x""#)),
    ("c19", Some(r#""\\\u00e9""#)),
    ("c20", Some(r#""\\777|\\0|\\12""#)),
    ("c21", Some(r#""ab\\\\cd\\\\\\""#)),
    ("c22", Some(r#""line\\\ncont""#)),
    ("c23", Some(r#"2"#)),
    ("c24", Some(r#"true"#)),
    ("c26", Some(r#""\\x41\\n""#)),
    ("c27", Some(r#""ok""#)),
    ("c28", Some(r#""ok""#)),
    ("c29", Some(r#""ok""#)),
    ("c30", Some(r#""ok""#)),
    ("c31", Some(r#""a\tb\\/A""#)),
    ("c32", Some(r#""x\\ny""#)),
    ("c33", Some(r#""ok""#)),
    ("c34", Some(r#""ok""#)),
    ("c35", Some(r#""a\tb\\/A|\\d\n""#)),
    ("c36", Some(r#""\\d\t""#)),
    ("c37", Some(r#""All assertions passed""#)),
];

/// What a task reported: debug's message or `var:` value, or None when it failed.
fn shown(result: &Value) -> Option<Value> {
    if result["failed"] == true {
        return None;
    }
    if let Some(m) = result.get("msg") {
        return Some(m.clone());
    }
    result.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| {
                !k.starts_with('_') && !["changed", "failed", "action"].contains(&k.as_str())
            })
            .map(|(_, v)| v.clone())
    })
}

fn expected(name: &str) -> Option<Value> {
    let (_, want) = EXPECTED
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no expectation for {name}"));
    want.map(|w| serde_json::from_str(w).expect("EXPECTED is JSON"))
}

#[test]
fn backslashes_in_templates_read_as_ansible_core_2_19() {
    let sb = Sandbox::new();
    sb.write("esc.j2", TEMPLATE);
    let r = sb.run(PLAYBOOK, &[]);
    r.assert_code(0);
    let mut wrong = Vec::new();
    for (name, _) in EXPECTED {
        let got = shown(&r.result(name)["result"]);
        if got != expected(name) {
            wrong.push(format!("{name}: got {got:?}, want {:?}", expected(name)));
        }
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), r.dump());
}

#[test]
fn ansible_agrees() {
    let Some(ansible) = crate::support::cmd::ansible_playbook() else {
        return;
    };
    let sb = Sandbox::new();
    sb.write("esc.j2", TEMPLATE);
    let pb = sb.write("pb.yml", PLAYBOOK);
    let out = std::process::Command::new(ansible)
        .arg(&pb)
        .args(["-i", "local1,", "-c", "local"])
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .current_dir(sb.path())
        .env("ANSIBLE_STDOUT_CALLBACK", "json")
        .env("ANSIBLE_LOCAL_TEMP", sb.p("tmp"))
        .env("ANSIBLE_HOME", sb.p("ansible-home"))
        .output()
        .expect("run ansible-playbook");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut wrong = Vec::new();
    for task in report["plays"][0]["tasks"].as_array().into_iter().flatten() {
        let name = task["task"]["name"].as_str().unwrap_or_default();
        if name == "c25" {
            continue;
        }
        let got = shown(&task["hosts"]["local1"]);
        if got != expected(name) {
            wrong.push(format!(
                "{name}: ansible {got:?}, table {:?}",
                expected(name)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
