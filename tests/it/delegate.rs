//! `delegate_to` between two SSH test hosts, compared with ansible-playbook on the same input:
//! a host of the inventory, a host outside it (reached by its address, with the task's connection
//! vars), the implicit localhost (`localhost`, `127.0.0.1`), a templated `delegate_to`, a loop
//! delegating per item, `run_once` with delegation (registered for every host), and
//! `delegate_facts`, escalation with the delegated host's become variables. The playbook ends with asserts on what each host sees; the hosts' files and
//! the per-host `changed` counts must be the same under both engines.

use crate::support::cmd::Sandbox;
use crate::support::hosts;

use std::path::{Path, PathBuf};

use crate::support::cmd::ansible_playbook;
use hosts::{Hosts, root_or_skip, ssh_args, yq};
use serde_json::Value;

/// The playbook: `out` is a directory on the machine (the implicit localhost writes there),
/// `h2_addr` the second host's address (not an inventory name), `conn_*` its connection vars.
const PLAYBOOK: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: to h2
      copy:
        content: "{{ inventory_hostname }} {{ who }}\n"
        dest: "/tmp/deleg-from-{{ inventory_hostname }}"
      delegate_to: h2
      register: to_h2
    - name: once, templated
      shell: "echo {{ inventory_hostname }} >> /tmp/deleg-once.log; cat /etc/deleg-id"
      delegate_to: "{{ groups['all'][1] }}"
      run_once: true
      register: once
    - name: each item its host
      copy:
        content: "{{ inventory_hostname }} via {{ item }}\n"
        dest: "/tmp/deleg-loop-{{ inventory_hostname }}"
      delegate_to: "{{ item }}"
      loop: [h1, h2]
    - name: implicit localhost
      copy:
        content: "{{ inventory_hostname }} {{ who }}\n"
        dest: "{{ out }}/local-{{ inventory_hostname }}"
      delegate_to: localhost
    - name: loopback address
      command: "touch {{ out }}/lo-{{ inventory_hostname }}"
      args:
        creates: "{{ out }}/lo-{{ inventory_hostname }}"
      delegate_to: 127.0.0.1
    - name: outside the inventory
      command: cat /etc/deleg-id
      delegate_to: "{{ h2_addr }}"
      vars:
        ansible_user: root
        ansible_ssh_private_key_file: "{{ conn_key }}"
        ansible_ssh_common_args: "{{ conn_args }}"
      register: outside
      changed_when: false
    - name: become as the delegated host says
      command: id -un
      become: true
      delegate_to: h2
      register: became
      changed_when: false
    - name: facts for h2
      set_fact:
        given_by: "{{ inventory_hostname }}"
      delegate_to: h2
      delegate_facts: true
      run_once: true
    - name: what each host sees
      assert:
        that:
          - to_h2 is changed
          - once.stdout == 'id-h2'
          - outside.stdout == 'id-h2'
          - became.stdout == 'nobody'
          - hostvars['h2'].given_by == 'h1'
          - inventory_hostname == 'h2' or given_by is not defined
"#;

fn inventory(h: &Hosts) -> PathBuf {
    h.write_inventory("inv.yml", |host| {
        let mut vars = vec![("who".into(), yq(&format!("who-{}", host.name)))];
        // Only h2's: a task delegated to h2 escalates to it, whichever host it runs for.
        if host.name == "h2" {
            vars.push(("ansible_become_user".into(), "nobody".into()));
        }
        vars
    })
}

fn extra(h: &Hosts, out: &Path) -> Vec<String> {
    vec![
        "-e".into(),
        format!("out={}", out.display()),
        "-e".into(),
        format!("h2_addr={}", h.addr("h2")),
        "-e".into(),
        format!("conn_key={}", h.key().display()),
        "-e".into(),
        format!("conn_args='{}'", ssh_args(&h.known_hosts(), "yes")),
    ]
}

/// Removes what a run leaves on the hosts and in `out`, so each engine starts fresh.
fn reset(h: &Hosts, out: &Path) {
    for host in ["h1", "h2"] {
        h.sh(
            host,
            &format!("rm -f /tmp/deleg-*; echo id-{host} > /etc/deleg-id"),
        );
    }
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).expect("out dir");
}

/// What the run left: each host's files, and the machine's.
fn end_state(h: &Hosts, out: &Path) -> Vec<String> {
    let mut state = Vec::new();
    for host in ["h1", "h2"] {
        state.push(format!(
            "{host}: {}",
            h.sh(
                host,
                "for f in $(ls /tmp/deleg-* 2>/dev/null | sort); do echo \"$f=$(cat $f | tr '\\n' ' ')\"; done"
            )
        ));
    }
    let mut local: Vec<String> = std::fs::read_dir(out)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    format!("{}={}", e.file_name().to_string_lossy(), text.trim())
                })
                .collect()
        })
        .unwrap_or_default();
    local.sort();
    state.push(format!("local: {}", local.join(" ")));
    state
}

#[test]
fn delegation_between_hosts_localhost_and_outside_the_inventory_matches_ansible() {
    if !root_or_skip("delegation_between_hosts_localhost_and_outside_the_inventory_matches_ansible")
    {
        return;
    }
    let h = Hosts::up(2, &[], &[]);
    let inv = inventory(&h);
    let out = h.p("out");
    let pb = h.write("delegate.yml", PLAYBOOK);
    let args = extra(&h, &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    reset(&h, &out);
    let run = h.run_path(&pb, &inv, &args);
    run.assert_code(0);
    let native = end_state(&h, &out);
    // h2 got h1's and its own file; h1 got none; the run_once command ran once, on h2.
    let has = |i: usize, file: &str| native[i].contains(file);
    assert!(
        has(0, "/tmp/deleg-loop-h1=h1 via h1")
            && has(0, "/tmp/deleg-loop-h2=h2 via h1")
            && !has(0, "deleg-from")
            && !has(0, "deleg-once"),
        "{native:?}"
    );
    assert!(
        has(1, "/tmp/deleg-from-h1=h1 who-h1")
            && has(1, "/tmp/deleg-from-h2=h2 who-h2")
            && has(1, "/tmp/deleg-once.log=h1 \n"),
        "{native:?}"
    );
    assert_eq!(
        native[2], "local: lo-h1= lo-h2= local-h1=h1 who-h1 local-h2=h2 who-h2",
        "{native:?}"
    );
    // Results name both hosts, as ansible-playbook shows `h1 -> h2(10.…)`.
    let r = run.result("h1", "to h2");
    assert_eq!(r["delegated_to"], "h2", "{r}");
    assert_eq!(r["delegated_address"], Value::from(h.addr("h2")), "{r}");
    assert_eq!(
        run.result("h1", "implicit localhost")["delegated_to"],
        "localhost"
    );
    let once: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["event"] == "task_result" && e["task"] == "once, templated")
        .collect();
    assert_eq!(once.len(), 1, "run_once runs once: {once:?}");
    let native_changed = (run.stats("h1").changed, run.stats("h2").changed);

    // The journal names the delegated host too.
    assert!(h.journal().contains("\"delegated_to\":\"h2\""));

    let Some(ansible) = ansible_playbook() else {
        eprintln!("ansible-playbook not found: comparison skipped");
        return;
    };
    reset(&h, &out);
    let o = std::process::Command::new(&ansible)
        .arg("-i")
        .arg(&inv)
        .arg(&pb)
        .args(&args)
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        // No module files for `nobody` to read: the module goes through sudo's stdin.
        .env("ANSIBLE_PIPELINING", "True")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
        .env_remove("SSH_AUTH_SOCK")
        .current_dir(h.dir())
        .output()
        .expect("run ansible-playbook");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "ansible-playbook failed:\n{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        end_state(&h, &out),
        native,
        "same end state as ansible-playbook"
    );
    let changed = |host: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(host) && l.contains("changed="))
            .and_then(|l| l.split("changed=").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no recap for {host} in\n{text}"))
    };
    assert_eq!(
        (changed("h1"), changed("h2")),
        native_changed,
        "per-host changed counts as ansible-playbook's\n{text}"
    );
    assert!(
        text.contains(&format!("[h1 -> h2({})]", h.addr("h2"))),
        "{text}"
    );
}

/// Without SSH: a play on the implicit localhost (an inventory without it), `delegate_to:
/// localhost` from inventory hosts, and `run_once` set_fact given to every host of the play;
/// the files written are the same under ansible-playbook.
#[test]
fn implicit_localhost_play_and_delegation_to_it_match_ansible() {
    let sb = Sandbox::with_inventory(
        "all:\n  vars: {greeting: hi}\n  hosts:\n    web1: {ansible_connection: local, ansible_host: 10.9.9.9}\n    web2: {ansible_connection: local}\n",
    );
    let pb = sb.write(
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: no
  tasks:
    - command: "echo {{ inventory_hostname }} {{ group_names | length }} {{ groups['all'] | join(',') }} {{ greeting }}"
      register: r
    - copy:
        content: "{{ r.stdout }}\n"
        dest: "{{ out }}/play-localhost.txt"
- hosts: web1,web2
  gather_facts: no
  tasks:
    - name: delegated
      command: "echo {{ inventory_hostname }}"
      delegate_to: localhost
      register: d
    - name: once
      set_fact:
        picked: "{{ inventory_hostname }}"
      run_once: true
    - copy:
        content: "{{ d.stdout }} {{ picked }}\n"
        dest: "{{ out }}/{{ inventory_hostname }}.txt"
"#,
    );
    let run_in = |out: &Path, ansible: Option<&Path>| {
        std::fs::create_dir_all(out).expect("out");
        let e = format!("out={}", out.display());
        match ansible {
            None => {
                let r = sb.run_file(&pb, &["-e", &e]);
                r.assert_ok();
                let d = r
                    .task_results()
                    .into_iter()
                    .find(|t| t["task"] == "delegated" && t["host"] == "web1")
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(d["delegated_to"], "localhost", "{}", r.dump());
            }
            Some(a) => {
                let o = std::process::Command::new(a)
                    .arg("-i")
                    .arg(sb.inventory())
                    .arg(&pb)
                    .args([
                        "-e",
                        &e,
                        "-e",
                        "ansible_python_interpreter=/usr/bin/python3",
                    ])
                    .env("ANSIBLE_NOCOLOR", "1")
                    .output()
                    .expect("run ansible-playbook");
                let text = String::from_utf8_lossy(&o.stdout).to_string();
                assert!(o.status.success(), "ansible-playbook failed\n{text}");
                assert!(text.contains("[web1 -> localhost]"), "{text}");
            }
        }
        ["play-localhost.txt", "web1.txt", "web2.txt"].map(|f| {
            std::fs::read_to_string(out.join(f)).unwrap_or_else(|_| format!("{f} missing"))
        })
    };
    let ours = run_in(&sb.p("native"), None);
    assert_eq!(
        ours,
        ["localhost 0 web1,web2 hi\n", "web1 web1\n", "web2 web1\n"].map(String::from)
    );
    if let Some(a) = ansible_playbook() {
        assert_eq!(
            run_in(&sb.p("ansible"), Some(&a)),
            ours,
            "as ansible-playbook"
        );
    }
}
