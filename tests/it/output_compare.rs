//! What `run` prints, against ansible-playbook 2.19's default callback on the same playbook:
//! banners (79 columns, names stripped), results beside "ok" for debug/assert as
//! `_dump_results` shows them (sorted keys, 4-space indent), failures on one line without
//! `failed`, the recap row's padding, and the recap counts of ignored failures (changed too)
//! and ignored unreachables (ok + ignored) — plus `ping` and a quiet `assert`.

use crate::support::cmd::Sandbox;

const LOCAL: &str = "all:\n  hosts:\n    h1:\n      ansible_connection: local\n    \
                     gone:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n      \
                     ansible_user: nobody\n";

const PLAYBOOK: &str = r#"
- hosts: h1
  gather_facts: false
  tasks:
    - debug: msg="héllo"
    - debug: var=x
      vars: {x: {b: 1, a: [1, 2.5, "z"]}}
    - assert: {that: [1 == 1]}
    - assert: {that: [1 == 1], quiet: true}
    - name: >
        a folded name
        that ends in a newline
      debug: msg="{{ item }}"
      loop: [a, b]
    - fail: msg=boom
      ignore_errors: true
    - command: "false"
      ignore_errors: true
    - ping:
      register: p
    - ping: data=crash
      ignore_errors: true
    - assert: {that: ["p.ping == 'pong'", "p is not changed"]}
- hosts: gone
  gather_facts: false
  tasks:
    - command: "true"
      ignore_unreachable: true
    - debug: msg=after
"#;

/// The lines both print (trailing blanks cut), without what differs by nature: timings in `command`'s result,
/// ansible's `[ERROR]` blocks (stderr) and warnings, and our journal line.
fn comparable(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_error = false;
    for line in text.lines() {
        if line.starts_with("[ERROR]") || line.starts_with("[WARNING]") {
            in_error = true;
            continue;
        }
        if in_error {
            // An error block ends at the line its result is on.
            if line.starts_with("fatal:") || line.starts_with("ok:") {
                in_error = false;
            } else {
                continue;
            }
        }
        if line.starts_with("journal:")
            || line.contains("Cryptography")
            || line.contains("from cryptography")
        {
            continue;
        }
        let mut l = line.trim_end().to_string();
        for key in ["\"delta\": ", "\"end\": ", "\"start\": "] {
            while let Some(i) = l.find(key) {
                let rest = &l[i + key.len()..];
                let end = rest.find("\", ").map(|e| e + 3).unwrap_or(rest.len());
                l = format!("{}{}", &l[..i], &rest[end..]);
            }
        }
        // The unreachable message names the transport.
        if l.starts_with("fatal: [gone]: UNREACHABLE!") {
            l = "fatal: [gone]: UNREACHABLE! => …".into();
        }
        out.push(l);
    }
    while out.first().is_some_and(String::is_empty) {
        out.remove(0);
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

#[test]
fn run_prints_results_and_the_recap_as_ansible_playbook() {
    let sb = Sandbox::with_inventory(LOCAL);
    let pb = sb.write("out.yml", PLAYBOOK);
    let ours = sb.run_raw(&[
        "run",
        &pb.display().to_string(),
        "-i",
        &sb.inventory().display().to_string(),
        "--engine",
        "native",
    ]);
    ours.assert_ok();
    let ours_lines = comparable(&ours.stdout);
    assert!(
        ours_lines.iter().any(|l| l
            == "h1                         : ok=10   changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=3"),
        "{}",
        ours.dump()
    );
    assert!(
        ours_lines.iter().any(|l| l
            == "gone                       : ok=2    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=1"),
        "{}",
        ours.dump()
    );
    let Some(ansible) = crate::support::cmd::ansible_playbook() else {
        panic!("ansible-playbook is not installed (target/ansible-venv): .ci/run installs it");
    };
    let theirs = sb.ansible_stdout(&ansible, &pb);
    assert_eq!(
        comparable(&theirs).join("\n"),
        ours_lines.join("\n"),
        "ansible-playbook's output (left) and ours (right) differ"
    );
}
