//! End to end on two SSH test hosts: the real wizard in tmux meets both hosts' keys for the first
//! time in the Hosts step, shows their SHA256 fingerprints, records them in known_hosts only after
//! the operator says yes, then goes through Review and Execute to Health, and the playbook's file
//! is on both hosts.

mod testhosts;
#[path = "common/tmux.rs"]
mod tmux;

use testhosts::{Hosts, root_or_skip, ssh_args, yq};

const PLAYBOOK: &str = r#"- name: Hello over SSH
  hosts: all
  tasks:
    - name: Leave a greeting
      copy:
        dest: /root/wizard-hello.txt
        content: "hello from {{ inventory_hostname }} ({{ ansible_distribution }})\n"
        mode: "0644"
"#;

/// Tests the connection of the selected host: the key dialog shows this host's fingerprint;
/// `y` records it and the test succeeds.
fn trust(s: &tmux::Session, h: &Hosts, host: &str) {
    s.keys(&["t"]);
    let screen = s.wait_for(&["New host key", &format!("{host} is not in known_hosts yet")]);
    let fp = h.host_fingerprint(host);
    assert!(
        screen.contains(&fp),
        "expected {fp} on the screen:\n{screen}"
    );
    s.keys(&["y"]);
    s.wait_until(&format!("{host} tested ok"), |sc| {
        sc.lines()
            .any(|l| l.contains(&format!(" {host} ")) && l.contains('✓'))
    });
}

#[test]
fn wizard_trusts_two_new_hosts_and_runs_on_them() {
    if !root_or_skip("wizard_trusts_two_new_hosts_and_runs_on_them") {
        return;
    }
    let h = Hosts::up(2, &["web1", "web2"], &["web1", "web2"]);
    // Known hosts of the wizard's own, empty: both keys are new to it.
    let known_hosts = h.p("wizard_known_hosts");
    std::fs::write(&known_hosts, "").unwrap();
    h.write_inventory("wizard-inventory.yml", |_| {
        vec![(
            "ansible_ssh_common_args".into(),
            yq(&ssh_args(&known_hosts, "yes")),
        )]
    });
    h.write("playbooks/hello.yml", PLAYBOOK);

    let Some(s) = tmux::Session::start(
        h.dir(),
        "-p playbooks/hello.yml -i wizard-inventory.yml",
        "ssh-hosts",
    ) else {
        return;
    };
    s.wait_for(&["› hello.yml"]);
    s.keys(&["Enter"]);
    s.wait_for(&["has no survey"]);
    s.keys(&["Enter"]);
    s.wait_for(&["web1", "web2", "ssh"]);

    // web1: refused first (not connected, nothing recorded), then trusted.
    s.keys(&["t"]);
    s.wait_for(&["New host key"]);
    s.keys(&["n"]);
    s.wait_for(&["not trusted"]);
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), "");
    trust(&s, &h, "web1");
    s.keys(&["j"]);
    trust(&s, &h, "web2");
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    assert_eq!(recorded.lines().count(), 2, "{recorded}");
    for host in ["web1", "web2"] {
        assert!(recorded.contains(h.addr(host)), "{host}: {recorded}");
    }

    // Review (dry run over SSH), confirm, run.
    s.keys(&["Enter"]);
    let screen = s.wait_for(&["dry run finished"]);
    assert!(screen.contains("Leave a greeting"), "{screen}");
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);
    let screen = s.wait_for(&["journal:"]);
    for host in ["web1", "web2"] {
        assert!(
            screen.contains(&format!("{host}: ok=2 changed=1 failed=0 unreachable=0")),
            "{host}:\n{screen}"
        );
        assert_eq!(
            h.sh(host, "cat /root/wizard-hello.txt"),
            format!("hello from {host} (Debian)\n")
        );
    }
    // Health: the hosts are watched over SSH too (no PostgreSQL on these).
    s.keys(&["Enter"]);
    s.wait_for(&["6. Health", "Hosts", "PostgreSQL is not installed"]);
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}
