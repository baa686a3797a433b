//! `stat` against ansible-playbook on the same files: every field of the registered `stat` dict
//! (files, links with and without follow, dangling links, dirs, fifos, devices, missing paths,
//! each checksum algorithm, mime and attributes), and the failure message for ENOTDIR.

use crate::support::cmd::Sandbox;
use crate::support::cmd::ansible_playbook;

use std::process::Command;

use serde_json::Value;

/// (path relative to the sandbox or absolute, follow, checksum_algorithm, get_checksum, get_mime)
const CASES: &[(&str, bool, &str, bool, bool)] = &[
    ("f", false, "sha1", true, true),
    ("f", false, "md5", true, true),
    ("f", false, "sha224", true, true),
    ("f", false, "sha256", true, true),
    ("f", false, "sha384", true, true),
    ("f", false, "sha512", true, true),
    // no content read: atime is compared too
    ("f", false, "sha1", false, false),
    ("l", false, "sha1", true, true),
    ("l", true, "sha256", true, true),
    ("dangling", false, "sha1", true, true),
    ("dangling", true, "sha1", true, true),
    ("dir", false, "sha1", true, true),
    ("dir", true, "sha1", false, false),
    ("fifo", false, "sha1", true, true),
    ("sub/f:colon.txt", false, "sha1", true, true),
    ("missing", false, "sha1", true, true),
    ("/dev/null", false, "sha1", true, true),
    ("f/notadir", false, "sha1", true, true),
];

fn playbook(sb: &Sandbox) -> String {
    let items: Vec<String> = CASES
        .iter()
        .map(|(p, follow, algo, sum, mime)| {
            let path = if p.starts_with('/') {
                p.to_string()
            } else {
                format!("{}/{p}", sb.d())
            };
            format!("        - {{p: {path:?}, f: {follow}, a: {algo}, c: {sum}, m: {mime}}}\n")
        })
        .collect();
    format!(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - stat:\n        path: \"{{{{ item.p }}}}\"\n        \
         follow: \"{{{{ item.f }}}}\"\n        checksum_algorithm: \"{{{{ item.a }}}}\"\n        \
         get_checksum: \"{{{{ item.c }}}}\"\n        get_mime: \"{{{{ item.m }}}}\"\n      register: r\n      \
         ignore_errors: true\n      loop:\n{}    - copy:\n        dest: \"{{{{ out }}}}\"\n        \
         content: \"{{{{ r.results | map(attribute='stat', default='FAILED') | list | to_json }}}}\"\n    \
         - copy:\n        dest: \"{{{{ out }}}}.msg\"\n        \
         content: \"{{{{ r.results | map(attribute='msg', default='') | list | to_json }}}}\"\n",
        items.concat()
    )
}

fn read_json(path: &std::path::Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

#[test]
fn stat_matches_ansible_playbook_field_by_field() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let sb = Sandbox::new();
    sb.write("f", "hello world");
    sb.write("sub/f:colon.txt", "plain text\n");
    let d = sb.d();
    let setup = format!(
        "cd {d} && chmod 4754 f && ln -s f l && ln -s nowhere dangling && mkdir dir && mkfifo fifo \
         && cat f sub/f:colon.txt >/dev/null"
    );
    let ok = Command::new("sh")
        .args(["-c", &setup])
        .status()
        .expect("run sh");
    assert!(ok.success(), "setup failed: {setup}");
    let pb = sb.write("stat.yml", &playbook(&sb));

    // ansible-playbook first: its checksum read is then the one that moves atime (relatime)
    let out = Command::new(&ansible)
        .arg(&pb)
        .args(["-i", &sb.inventory().display().to_string()])
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .args(["-e", &format!("out={d}/ansible.json")])
        .current_dir(sb.path())
        .env("ANSIBLE_LOCAL_TEMP", sb.p("ansible-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    assert!(
        out.status.success(),
        "ansible-playbook failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let native = sb.run_file(
        &pb,
        &["--engine", "native", "-e", &format!("out={d}/native.json")],
    );
    native.assert_ok();

    let want = read_json(&sb.p("ansible.json"));
    let got = read_json(&sb.p("native.json"));
    assert_eq!(want.len(), CASES.len());
    assert_eq!(got.len(), CASES.len());
    for (i, ((w, g), case)) in want.iter().zip(&got).zip(CASES).enumerate() {
        let (Some(w), Some(g)) = (w.as_object(), g.as_object()) else {
            assert_eq!(w, g, "case {i} {case:?}");
            continue;
        };
        let keys: std::collections::BTreeSet<&String> = w.keys().chain(g.keys()).collect();
        for k in keys {
            // reading content (checksum, mime) moves atime between the two runs
            if k == "atime" && (case.3 || case.4) {
                assert_eq!(
                    w.contains_key(k),
                    g.contains_key(k),
                    "case {i} {case:?}: {k}"
                );
                continue;
            }
            assert_eq!(w.get(k), g.get(k), "case {i} {case:?}: field {k}");
        }
    }
    assert_eq!(
        read_json(&sb.p("ansible.json.msg")),
        read_json(&sb.p("native.json.msg")),
        "failure messages"
    );
}

/// `command`'s argument expansion (`expand_argument_vars`), `executable`, a missing program and a
/// bad `chdir`: the registered results compared with ansible-playbook's.
#[test]
fn command_results_match_ansible_playbook() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let sb = Sandbox::new();
    let d = sb.d();
    let pb = sb.write(
        "cmd.yml",
        r#"- hosts: all
  gather_facts: false
  environment:
    TEST: z
    EMPTY: ""
  tasks:
    - command: /bin/sh -c 'echo "\$TEST"'
      register: c1
    - command: /bin/sh -c 'echo "\$TEST"'
      args:
        expand_argument_vars: false
      register: c2
    - command: printf '%s|' ~ ~root/x ~nosuchuser1/x $TEST ${TEST}x $TESTx $EMPTY "$UNSET_X" a~ $1
      register: c3
    - command:
        argv: [printf, "%s|", "$TEST", "~", "${TEST}"]
      register: c4
    - command: ls /dev/null
      args:
        executable: /bogus
      register: c5
    - command: commandthatdoesnotexist --would-be-awkward
      register: c6
      ignore_errors: true
    - command: echo
      args:
        chdir: /nonexistent/dir
      register: c7
      ignore_errors: true
    - copy:
        dest: "{{ out }}"
        content: "{{ [c1, c2, c3, c4, c5, c6, c7] | to_json }}"
"#,
    );
    let out = Command::new(&ansible)
        .arg(&pb)
        .args(["-i", &sb.inventory().display().to_string()])
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .args(["-e", &format!("out={d}/ansible.json")])
        .current_dir(sb.path())
        .env("ANSIBLE_LOCAL_TEMP", sb.p("ansible-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    assert!(
        out.status.success(),
        "ansible-playbook failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let native = sb.run_file(
        &pb,
        &["--engine", "native", "-e", &format!("out={d}/native.json")],
    );
    native.assert_ok();
    let want = read_json(&sb.p("ansible.json"));
    let got = read_json(&sb.p("native.json"));
    assert_eq!(want.len(), got.len());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        for k in [
            "stdout", "stderr", "rc", "cmd", "failed", "changed", "warnings",
        ] {
            let norm = |v: Option<&Value>| match (k, v) {
                // an empty list is what ansible registers when there is nothing to warn about
                ("warnings", None) => Value::Array(Vec::new()),
                ("failed", None) => Value::Bool(false),
                (_, v) => v.cloned().unwrap_or(Value::Null),
            };
            assert_eq!(
                norm(w.get(k)),
                norm(g.get(k)),
                "task c{}: {k}\nansible: {w}\nnative: {g}",
                i + 1
            );
        }
        let msg = |v: &Value| {
            v.get("msg")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if w.get("failed") == Some(&Value::Bool(true)) {
            assert_eq!(msg(w), msg(g), "task c{}: msg", i + 1);
        }
    }
}
