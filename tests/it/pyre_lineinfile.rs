//! Python `re` in the file modules (`compat::pyre`): `lineinfile` and `replace` with
//! backreferences and look-around in the pattern (the `regex` crate has neither; fancy-regex
//! compiles those patterns), Python's `$` before a line's newline, and lineinfile's
//! exact-line rule after a `search_string`. The same playbook runs natively and, where it is
//! installed, under ansible-playbook on a copy of the files: the files and the per-task
//! `changed` must agree.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::cmd::{Sandbox, run_with_timeout};

const FILES: &[(&str, &str)] = &[
    ("b.txt", "keep\nREF some value REF\nREF other FER\n"),
    ("s.txt", "a.b = 1\nc (x) d\n"),
    ("r.txt", "x = x\ny = z\n# a\n#  b\n"),
    ("e.txt", "one\r\ntwo\n"),
];

const TASKS: &str = r#"- hosts: all
  gather_facts: no
  tasks:
    - name: backref in the pattern
      lineinfile:
        path: "{{ d }}/b.txt"
        regexp: '^(REF) .* \1$'
        line: 'was \1'
        backrefs: yes
    - name: backref in the pattern again
      lineinfile:
        path: "{{ d }}/b.txt"
        regexp: '^(REF) .* \1$'
        line: 'was \1'
        backrefs: yes
    - name: look-ahead and g-group template
      lineinfile:
        path: "{{ d }}/b.txt"
        regexp: '^(?P<k>REF)(?= other)'
        line: '\g<k>=\g<1>'
        backrefs: yes
    - name: search string then the same line
      lineinfile:
        path: "{{ d }}/s.txt"
        search_string: '(x)'
        line: 'c [y] d'
    - name: search string again finds the line itself
      lineinfile:
        path: "{{ d }}/s.txt"
        search_string: '(x)'
        line: 'c [y] d'
    - name: dollar before the newline
      lineinfile:
        path: "{{ d }}/s.txt"
        insertafter: '^a\.b = 1$'
        line: 'after a.b'
    - name: replace with backreference and look-behind
      replace:
        path: "{{ d }}/r.txt"
        regexp: '^(\w) = \1$'
        replace: '\g<1> is itself'
    - name: replace after a hash
      replace:
        path: "{{ d }}/r.txt"
        regexp: '(?<=#)\s+'
        replace: ''
    - name: exact line with a CRLF ending
      lineinfile:
        path: "{{ d }}/e.txt"
        line: one
"#;

/// What ansible-core 2.19 leaves (checked with ansible-playbook when this test was written).
const WANT: &[(&str, &str)] = &[
    ("b.txt", "keep\nwas REF\nREF=REF\n"),
    ("s.txt", "a.b = 1\nafter a.b\nc [y] d\n"),
    ("r.txt", "x is itself\ny = z\n#a\n#b\n"),
    ("e.txt", "one\ntwo\n"),
];

/// The tasks' `changed`, in order.
const CHANGED: &[bool] = &[true, false, true, true, false, true, true, true, true];

fn setup(dir: &Path) {
    for (name, text) in FILES {
        std::fs::write(dir.join(name), text).expect("write fixture");
    }
}

fn read_all(dir: &Path) -> Vec<(String, String)> {
    WANT.iter()
        .map(|(name, _)| {
            let text = std::fs::read_to_string(dir.join(name)).expect("read result");
            (name.to_string(), text)
        })
        .collect()
}

#[test]
fn lineinfile_and_replace_with_backreferences_match_ansible() {
    let sb = Sandbox::new();
    let native = sb.p("native");
    std::fs::create_dir_all(&native).expect("dir");
    setup(&native);
    let pb = sb.write("pyre.yml", TASKS);
    let d = format!("d={}", native.display());
    let r = sb.run_file(&pb, &["-e", &d, "--engine", "native"]);
    r.assert_ok();
    let want: Vec<(String, String)> = WANT
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(read_all(&native), want, "{}", r.dump());
    let changed: Vec<bool> = r
        .task_results()
        .iter()
        .map(|e| e["status"] == "changed")
        .collect();
    assert_eq!(changed, CHANGED, "{}", r.dump());
    let again = sb.run_file(&pb, &["-e", &d, "--engine", "native"]);
    again.assert_ok();
    assert_eq!(again.changed("local1"), 0, "{}", again.dump());

    // The same playbook under ansible-playbook, where it is installed.
    let Some(ansible) = crate::support::cmd::ansible_playbook() else {
        return;
    };
    let theirs = sb.p("ansible");
    std::fs::create_dir_all(&theirs).expect("dir");
    setup(&theirs);
    let mut cmd = Command::new(ansible);
    cmd.arg(&pb)
        .args(["-i", "localhost,", "-c", "local", "-v"])
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .arg("-e")
        .arg(format!("d={}", theirs.display()))
        .current_dir(sb.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_with_timeout(cmd, std::time::Duration::from_secs(300));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(read_all(&theirs), want, "{}", out.stdout);
    let statuses: Vec<bool> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("ok: [") || l.starts_with("changed: ["))
        .map(|l| l.starts_with("changed"))
        .collect();
    assert_eq!(statuses, CHANGED, "{}", out.stdout);
}
