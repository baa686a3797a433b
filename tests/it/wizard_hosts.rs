//! End to end on two SSH test hosts: the real wizard in tmux meets both hosts' keys for the first
//! time in the Hosts step, shows their SHA256 fingerprints, records them in known_hosts only after
//! the operator says yes, then goes through Review and Execute to Health, and the playbook's file
//! is on both hosts.

use crate::support::hosts;
use crate::support::tmux;

use hosts::{Hosts, root_or_skip, ssh_args, yq};

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

/// The README's first command on a fresh Debian 12 as root, in a test host: no sudo, no
/// PostgreSQL yet, the bundled local inventory. The dry run fails (nothing installed yet) and
/// says so, asking for "run anyway"; the run installs and configures PostgreSQL, applies the
/// schema migrations as its own phase, and the wizard lands on a healthy Health step.
#[test]
fn quick_start_on_a_fresh_host_without_sudo_ends_healthy() {
    if !root_or_skip("quick_start_on_a_fresh_host_without_sudo_ends_healthy") {
        return;
    }
    let h = Hosts::up(1, &["fresh"], &["fresh"]);
    h.sh("fresh", "rm -f /usr/bin/sudo; ! command -v sudo");
    // The binary and the playbooks from copies the host can see (its /tmp is its own).
    let copy = h.in_host_copy("fresh");
    let root = copy.root.display().to_string();
    let hostctl = hosts::HOSTCTL;
    // The harness's state dir is the one the host sees at the same path (its /tmp is its own).
    let state = h.state_dir();
    let command = format!(
        "{hostctl} exec fresh --state {dir} -- sh -c 'cd {root} && exec env SLM_WIZARD_LOG=debug XDG_STATE_HOME={state} HOME=/root TERM=xterm NO_COLOR=1 {bin}'",
        dir = state.display(),
        state = state.display(),
        bin = copy.bin.display(),
    );
    let Some(s) = tmux::Session::start_command(h.dir(), &command, "quickstart") else {
        return;
    };
    let long = std::time::Duration::from_secs(240);
    s.wait_for(&["User Management Database"]);
    s.keys(&["Enter"]);
    s.wait_for(&["Variables", "PostgreSQL port"]);
    s.keys(&["C-s"]);
    s.wait_for(&["slm_server", "redis_vm", "localhost"]);
    s.keys(&["Enter"]);
    let screen = s.wait_for_within(&["dry run finished with"], long);
    assert!(screen.contains("failure(s)"), "{screen}");
    // A plain confirm does not start a run after a failed dry run.
    s.keys(&["Enter"]);
    let screen = s.wait_for(&["The dry run failed", "[a] run anyway"]);
    assert!(
        screen.contains("which check mode could not apply"),
        "the failure is labelled as following from a task check mode could not apply:\n{screen}"
    );
    s.keys(&["y"]);
    s.wait_for(&["a runs anyway"]);
    s.keys(&["a"]);
    let screen = s.wait_for_within(
        &["Migrations", "slm_users: applied", "autobot_users: applied"],
        long,
    );
    assert!(screen.contains("finished"), "{screen}");
    assert!(!screen.contains("failed —"), "{screen}");
    s.keys(&["Enter"]);
    let screen = s.wait_for_within(&[" HEALTHY "], std::time::Duration::from_secs(60));
    assert!(!screen.contains("pending migration"), "{screen}");
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
    drop(s);

    // The secret store lost: the next run would set new passwords on the existing roles. The
    // wizard asks first; yes sets them, rewrites the env file, and Health logs in with them.
    // (Inside the host: what it writes under the harness's dir stays in its own view.)
    h.sh(
        "fresh",
        &format!(
            "test -d {s}/slm-wizard/secrets && rm -r {s}/slm-wizard/secrets",
            s = state.display()
        ),
    );
    let env_before = h.sh("fresh", "cat /etc/slm/database.env");
    let Some(s) = tmux::Session::start_command(h.dir(), &command, "quickstart2") else {
        return;
    };
    s.wait_for(&["User Management Database"]);
    s.keys(&["Enter"]);
    s.wait_for(&["Variables", "PostgreSQL port"]);
    s.keys(&["C-s"]);
    s.wait_for(&["slm_server", "redis_vm", "localhost"]);
    s.keys(&["Enter"]);
    s.wait_for_within(&["dry run finished — Enter"], long);
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);
    let screen = s.wait_for_within(&["Roles exist already", "slm_app"], long);
    assert!(screen.contains("autobot_app"), "{screen}");
    assert_eq!(
        h.sh("fresh", "cat /etc/slm/database.env"),
        env_before,
        "nothing changed before the answer"
    );
    s.keys(&["y"]);
    s.wait_for_within(&["Migrations", "slm_users: up to date"], long);
    assert_ne!(h.sh("fresh", "cat /etc/slm/database.env"), env_before);
    s.keys(&["Enter"]);
    s.wait_for_within(&[" HEALTHY "], std::time::Duration::from_secs(60));

    // Rotation: R on Review, confirmed; Health proves the new logins.
    let env_before = h.sh("fresh", "cat /etc/slm/database.env");
    s.keys(&["Escape"]);
    s.wait_for(&["5. Execute", "Migrations"]);
    s.keys(&["Escape"]);
    s.wait_for_within(&["dry run finished — Enter"], long);
    s.keys(&["R"]);
    s.wait_for(&["Rotate passwords"]);
    s.keys(&["y"]);
    s.wait_for_within(&["Migrations", "slm_users: up to date"], long);
    assert_ne!(h.sh("fresh", "cat /etc/slm/database.env"), env_before);
    s.keys(&["Enter"]);
    let screen = s.wait_for_within(&[" HEALTHY "], std::time::Duration::from_secs(60));
    assert!(
        !screen.contains("password authentication failed"),
        "{screen}"
    );
    // The rotation's journal says the new passwords were kept.
    let rotation = h.sh(
        "fresh",
        &format!(
            "cat {}/slm-wizard/runs/*.jsonl | grep '\"event\":\"rotation\"'",
            state.display()
        ),
    );
    assert!(rotation.contains("\"result\":\"stored\""), "{rotation}");
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}

/// Issue #18: two operators in two SSH sessions on the same host start a real run of the same
/// deployment; the second wizard is refused and told who holds it (user, terminal, SSH client),
/// what runs and since when. Both wizards are reached with real `ssh -t` sessions, so the
/// holder's tty and SSH client are the ones sshd gives.
#[test]
fn second_wizard_in_another_ssh_session_is_refused_naming_the_first() {
    if !root_or_skip("second_wizard_in_another_ssh_session_is_refused_naming_the_first") {
        return;
    }
    let h = Hosts::up(1, &["ops"], &["ops"]);
    let copy = h.in_host_copy("ops");
    std::fs::write(
        copy.root.join("playbooks/slowlock.yml"),
        "- name: Slow deploy\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: Long nap\n      command: sleep 120\n",
    )
    .unwrap();
    std::fs::write(
        copy.root.join("playbooks/inventory/lockhost.yml"),
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
    )
    .unwrap();
    let state = h.state_dir();
    let ssh = |tag: &str| {
        let command = format!(
            "ssh -tt -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={kh} \
             -o StrictHostKeyChecking=yes root@{addr} \
             'cd {root} && exec env XDG_STATE_HOME={state}/wizstate HOME=/root TERM=xterm NO_COLOR=1 \
             {bin} -p playbooks/slowlock.yml -i playbooks/inventory/lockhost.yml'",
            key = h.key().display(),
            kh = h.known_hosts().display(),
            addr = h.addr("ops"),
            root = copy.root.display(),
            state = state.display(),
            bin = copy.bin.display(),
        );
        tmux::Session::start_command(h.dir(), &command, tag)
    };
    let to_real_run = |s: &tmux::Session| {
        s.wait_for(&["› slowlock.yml"]);
        s.keys(&["Enter"]);
        s.wait_for(&["has no survey"]);
        s.keys(&["Enter"]);
        s.wait_for(&["▾ ungrouped (1 host)"]);
        s.keys(&["Enter"]);
        s.wait_for_within(&["dry run finished"], std::time::Duration::from_secs(60));
        s.keys(&["Enter"]);
        s.wait_for(&["Run the playbook for real"]);
        s.keys(&["y"]);
    };
    let Some(first) = ssh("lock-first") else {
        return;
    };
    to_real_run(&first);
    first.wait_for(&["running", "Long nap"]);
    let holder_tty = h
        .sh(
            "ops",
            "for p in $(pgrep -x slm-wizard); do readlink /proc/$p/fd/0; done",
        )
        .trim()
        .to_string();
    assert!(holder_tty.starts_with("/dev/pts/"), "{holder_tty}");

    let Some(second) = ssh("lock-second") else {
        return;
    };
    to_real_run(&second);
    let screen = second.wait_for(&["another run of this deployment"]);
    let flat: String = screen
        .lines()
        .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "slm-wizard wizard, pid ".to_string(),
        format!("user root on {holder_tty}"),
        "from SSH client 10.77.".into(),
        "since ".into(),
        "playbook playbooks/slowlock.yml".into(),
    ] {
        assert!(flat.contains(&want), "{want:?} not shown:\n{screen}");
    }
    // The first run goes on, untouched.
    let still = first.capture();
    assert!(still.contains("running"), "{still}");
    second.keys(&["q"]);
    second.wait_for(&["WIZARD-EXITED"]);
}
