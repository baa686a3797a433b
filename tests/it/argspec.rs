//! Roles' `meta/argument_specs.yml` in the native engine, compared with ansible-playbook on the
//! same role: the implicit "Validating arguments against arg spec" task ansible-core 2.19
//! prepends (for `roles:`, `import_role` and `include_role` with `tasks_from` as the entry
//! point) gives the same recap when the arguments are valid and the same failure message and
//! exit code when they are not; `validate_argument_spec` as a task of its own; a spec that is
//! itself wrong is refused at plan time with file:line:col.

use crate::support::cmd;

use std::path::Path;
use std::process::Command;

use crate::support::cmd::ansible_playbook;
use cmd::Sandbox;
use serde_json::Value;

/// What a run gives for the comparison: exit code, (ok, changed, failed, skipped) of local1,
/// and the message of each failed task.
#[derive(Debug, PartialEq)]
struct Outcome {
    code: i32,
    recap: (u64, u64, u64, u64),
    failures: Vec<String>,
}

fn ansible_outcome(sb: &Sandbox, ansible: &Path, pb: &Path, args: &[&str]) -> Outcome {
    let inv = sb.write("hosts.ini", "local1 ansible_connection=local\n");
    let o = Command::new(ansible)
        .arg("-i")
        .arg(&inv)
        .arg(pb)
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .args(args)
        .current_dir(sb.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let count = |line: &str, key: &str| -> u64 {
        line.split(&format!("{key}="))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    let recap = text
        .lines()
        .find(|l| l.starts_with("local1") && l.contains("changed="))
        .map(|l| {
            (
                count(l, "ok"),
                count(l, "changed"),
                count(l, "failed"),
                count(l, "skipped"),
            )
        })
        .unwrap_or_else(|| panic!("no recap in\n{text}"));
    let failures = text
        .lines()
        .filter_map(|l| l.strip_prefix("fatal: [local1]: FAILED! => "))
        .filter_map(|j| serde_json::from_str::<Value>(j).ok())
        .map(|v| normalized(v["msg"].as_str().unwrap_or_default()))
        .collect();
    Outcome {
        code: o.status.code().unwrap_or(-1),
        recap,
        failures,
    }
}

/// Ansible lists the valid booleans in a frozenset's order, which Python's string hashing makes
/// random per process: compared sorted.
fn normalized(msg: &str) -> String {
    const MARK: &str = "Valid booleans include: ";
    msg.lines()
        .map(|l| match l.split_once(MARK) {
            Some((head, list)) => {
                let mut items: Vec<&str> = list.split(", ").collect();
                items.sort();
                format!("{head}{MARK}{}", items.join(", "))
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn native_outcome(sb: &Sandbox, pb: &Path, args: &[&str]) -> Outcome {
    let r = sb.run_file(pb, args);
    let (ok, changed, failed, skipped, _) = r.stats("local1");
    let failures = r
        .task_results()
        .into_iter()
        .filter(|e| e["status"] == "failed")
        .map(|e| normalized(e["msg"].as_str().unwrap_or_default()))
        .collect();
    Outcome {
        code: r.code,
        // Ansible counts a failed task in `failed` only.
        recap: (ok, changed, failed, skipped),
        failures,
    }
}

const SPEC: &str = "argument_specs:
  main:
    short_description: The web role
    options:
      web_port:
        type: int
        default: 8080
      web_mode:
        type: str
        choices: [dev, prod]
        required: true
      web_users:
        type: list
        elements: str
      web_ratio:
        type: float
      web_debug:
        type: bool
        aliases: [debug_web]
      web_db:
        type: dict
        options:
          name: {required: true}
          size: {type: int}
          a: {}
          b: {}
        mutually_exclusive: [[a, b]]
      web_sites:
        type: list
        elements: dict
        options:
          host: {required: true}
          port: {type: int, default: 80}
          tls: {type: bool}
          cert: {type: path}
        required_together: [[tls, cert]]
  setup:
    options:
      flag: {type: bool, required: true}
";

fn role(sb: &Sandbox) {
    sb.write("pb/roles/web/meta/argument_specs.yml", SPEC);
    // An argument spec's defaults document; the role's defaults set (as in Ansible).
    sb.write("pb/roles/web/defaults/main.yml", "web_port: 8080\n");
    sb.write(
        "pb/roles/web/tasks/main.yml",
        "- name: show\n  debug: msg=\"{{ web_mode }} {{ web_port }}\"\n",
    );
    sb.write(
        "pb/roles/web/tasks/setup.yml",
        "- name: setup\n  debug: msg=\"{{ flag }}\"\n",
    );
    sb.write(
        "pb/roles/web/tasks/other.yml",
        "- name: other\n  debug: msg=other\n",
    );
    sb.write(
        "pb/roles/plain/tasks/main.yml",
        "- name: plain\n  debug: msg=plain\n",
    );
    sb.write(
        "pb/roles/plain/meta/main.yml",
        "dependencies:\n  - role: web\n    web_mode: prod\n",
    );
}

/// Valid arguments, given every way Ansible takes them: the same recap as ansible-playbook,
/// with one `ok` per validation task.
#[test]
fn valid_arguments_give_ansibles_recap() {
    let Some(ansible) = ansible_playbook() else {
        eprintln!("skipped: no ansible-playbook");
        return;
    };
    let sb = Sandbox::new();
    role(&sb);
    let pb = sb.write(
        "pb/site.yml",
        r#"- hosts: all
  gather_facts: no
  vars:
    web_users: [a, b]
    port_text: "81"
  roles:
    - role: web
      web_mode: dev
      web_port: "{{ port_text }}"
      web_ratio: "0.5"
      debug_web: "yes"
      web_db: {name: main, size: "3"}
      web_sites: [{host: a}, {host: b, tls: true, cert: ~/c.pem, port: "443"}]
    - plain
  tasks:
    - include_role: {name: web, tasks_from: setup}
      vars: {flag: "yes"}
    - import_role: {name: web, tasks_from: other}
    - import_role: {name: web}
      vars: {web_mode: prod}
    - include_role: {name: web, rolespec_validate: false}
      vars: {web_mode: nonsense}
    - name: direct
      validate_argument_spec:
        argument_spec: {n: {type: int, required: true}}
        provided_arguments: {n: "12"}
"#,
    );
    let want = ansible_outcome(&sb, &ansible, &pb, &[]);
    let got = native_outcome(&sb, &pb, &[]);
    assert_eq!(want.code, 0, "{want:?}");
    assert_eq!(got, want);
    // Tagged `always`: it runs under --tags too.
    let want = ansible_outcome(&sb, &ansible, &pb, &["--tags", "nothing"]);
    let got = native_outcome(&sb, &pb, &["--tags", "nothing"]);
    assert_eq!(got, want);
}

/// Invalid arguments fail the validation task with Ansible's message and exit code.
#[test]
fn invalid_arguments_fail_with_ansibles_message() {
    let Some(ansible) = ansible_playbook() else {
        eprintln!("skipped: no ansible-playbook");
        return;
    };
    let cases = [
        // Types, choices, nested options, unsupported parameters.
        "  roles:\n    - role: web\n      web_mode: test\n      web_port: abc\n      extra: 1\n      web_db: {size: z, a: 1, b: 2}\n",
        // A required option missing, lists of dicts, elements, floats, booleans.
        "  roles:\n    - role: web\n      web_ratio: x\n      web_debug: maybe\n      web_users: \"a,b\"\n      web_sites: [{port: q}, {host: h, tls: true}, 3]\n",
        // The variables the spec names, from play vars (include_role), and tasks_from.
        "  vars:\n    web_mode: \"{{ ['dev'] }}\"\n  tasks:\n    - include_role: {name: web}\n",
        "  tasks:\n    - import_role: {name: web, tasks_from: setup}\n      vars: {flag: sometimes}\n",
        // validate_argument_spec as a task, rescued.
        "  tasks:\n    - block:\n        - validate_argument_spec:\n            argument_spec: {n: {type: int, choices: [1, 2]}}\n            provided_arguments: {n: 3}\n      rescue:\n        - debug: msg=rescued\n",
    ];
    for case in cases {
        let sb = Sandbox::new();
        role(&sb);
        let pb = sb.write(
            "pb/site.yml",
            &format!("- hosts: all\n  gather_facts: no\n{case}"),
        );
        let want = ansible_outcome(&sb, &ansible, &pb, &[]);
        let got = native_outcome(&sb, &pb, &[]);
        assert!(!want.failures.is_empty(), "{case}\n{want:?}");
        assert_eq!(got, want, "{case}");
    }
}

/// A spec that is itself wrong is refused before any host is touched, at its position.
#[test]
fn a_wrong_spec_is_refused_at_plan_time_with_position() {
    let cases = [
        (
            "argument_specs:\n  main:\n    options:\n      p:\n        type: flaot\n",
            "argument_specs.yml:5:15:",
            "unknown type 'flaot' of option 'p'; did you mean 'float'?",
        ),
        (
            "argument_specs:\n  main:\n    options:\n      p:\n        type: dict\n        options:\n          q: {type: list, elements: nope}\n",
            "argument_specs.yml:7:37:",
            "unknown elements type 'nope' of option 'q'",
        ),
        (
            "argument_specs:\n  main:\n    options:\n      p: {required: true, default: 1}\n",
            "argument_specs.yml:4:36:",
            "required and has a default",
        ),
    ];
    for (spec, at, msg) in cases {
        let sb = Sandbox::new();
        sb.write("pb/roles/r/tasks/main.yml", "- debug: msg=r\n");
        sb.write("pb/roles/r/meta/argument_specs.yml", spec);
        let pb = sb.write(
            "pb/site.yml",
            "- hosts: all\n  gather_facts: no\n  tasks:\n    - import_role: {name: r}\n",
        );
        let r = sb.run_file(&pb, &[]);
        r.assert_code(5);
        assert!(
            r.stderr.contains(at) && r.stderr.contains(msg),
            "want {at} {msg}\n{}",
            r.dump()
        );
    }
}

/// A value the playbook writes for a role option, wrong by the spec and not a template, is
/// refused at plan time where it is written (the derived variable spec checks it).
#[test]
fn a_static_wrong_value_is_refused_at_plan_time_with_position() {
    let sb = Sandbox::new();
    role(&sb);
    let pb = sb.write(
        "pb/site.yml",
        "- hosts: all\n  gather_facts: no\n  vars:\n    web_mode: test\n  roles:\n    - web\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_code(5);
    assert!(
        r.stderr.contains("site.yml:4:15:") && r.stderr.contains("expected one of dev, prod"),
        "{}",
        r.dump()
    );
}

/// A role spec's `fallback` names no Python function (that works in a module's spec only):
/// ansible-core's validation fails calling it when the option is missing, and never calls it when
/// the option is given. The native engine does the same, with Python's message first.
#[test]
fn a_fallback_fails_the_validation_as_in_ansible_when_the_option_is_missing() {
    let Some(ansible) = ansible_playbook() else {
        eprintln!("skipped: no ansible-playbook");
        return;
    };
    let spec = "argument_specs:\n  main:\n    options:\n      home:\n        type: str\n        fallback: [env_fallback, [HOME]]\n";
    for (params, fails) in [("", true), ("      home: /x\n", false)] {
        let sb = Sandbox::new();
        sb.write("pb/roles/r/tasks/main.yml", "- name: r\n  debug: msg=r\n");
        sb.write("pb/roles/r/meta/argument_specs.yml", spec);
        let pb = sb.write(
            "pb/site.yml",
            &format!("- hosts: all\n  gather_facts: no\n  roles:\n    - role: r\n{params}"),
        );
        let want = ansible_outcome(&sb, &ansible, &pb, &[]);
        let got = native_outcome(&sb, &pb, &[]);
        assert_eq!((got.code, got.recap), (want.code, want.recap), "{params}");
        assert_eq!(want.failures.is_empty(), !fails, "{want:?}");
        assert_eq!(got.failures.len(), want.failures.len(), "{got:?}");
        for (g, w) in got.failures.iter().zip(&want.failures) {
            assert!(g.starts_with(w.as_str()), "{g} / {w}");
        }
    }
}

/// The values of `no_log` options (nested ones too) never appear in a validation message; an
/// alias listed in `deprecated_aliases` works as an alias (ansible-playbook shows no
/// deprecation for a role).
#[test]
fn no_log_values_are_masked_and_deprecated_aliases_work() {
    let sb = Sandbox::new();
    sb.write(
        "pb/roles/r/tasks/main.yml",
        "- name: r\n  debug: msg=\"{{ old_name }}\"\n",
    );
    sb.write(
        "pb/roles/r/meta/argument_specs.yml",
        "argument_specs:\n  main:\n    options:\n      pin:\n        type: int\n        no_log: true\n      db:\n        type: dict\n        options:\n          password: {type: int, no_log: true}\n      new_name:\n        aliases: [old_name]\n        deprecated_aliases:\n          - name: old_name\n            version: \"2.0.0\"\n            collection_name: my.coll\n",
    );
    let pb = sb.write(
        "pb/site.yml",
        "- hosts: all\n  gather_facts: no\n  roles:\n    - role: r\n      pin: hunter2pin\n      db: {password: s3cretpw}\n      old_name: x\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_code(2);
    let all = format!("{}{}", r.stdout, sb.journal());
    assert!(
        !all.contains("hunter2pin") && !all.contains("s3cretpw"),
        "{}",
        r.dump()
    );
    let failures: Vec<&Value> = r
        .task_results()
        .into_iter()
        .filter(|e| e["status"] == "failed")
        .collect();
    let msg = failures[0]["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains("argument 'pin' is of type str") && msg.contains("'********'"),
        "{msg}"
    );
    let pb = sb.write(
        "pb/ok.yml",
        "- hosts: all\n  gather_facts: no\n  roles:\n    - role: r\n      pin: 1\n      old_name: x\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.result("r : r")["msg"], "x", "{}", r.dump());
}

/// A malformed `deprecated_aliases` is refused at plan time where it is written.
#[test]
fn a_malformed_deprecated_alias_is_refused_with_position() {
    let sb = Sandbox::new();
    sb.write("pb/roles/r/tasks/main.yml", "- debug: msg=r\n");
    sb.write(
        "pb/roles/r/meta/argument_specs.yml",
        "argument_specs:\n  main:\n    options:\n      p:\n        aliases: [q]\n        deprecated_aliases: [q]\n",
    );
    let pb = sb.write(
        "pb/site.yml",
        "- hosts: all\n  gather_facts: no\n  roles:\n    - r\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_code(5);
    assert!(
        r.stderr.contains("argument_specs.yml:6:30:")
            && r.stderr.contains("a deprecated alias must be a mapping"),
        "{}",
        r.dump()
    );
}
