//! Privilege escalation on hosts without sudo (issue 14, section 1): a fresh Debian 12 often has
//! no sudo. Root needs none (root → root runs as is, root → postgres uses runuser/su), over SSH
//! and with a local connection; a non-root login that needs sudo fails once, before any task,
//! with the fix. sudo is removed inside each test host's own filesystem view only.

use crate::support::hosts;

use std::path::{Path, PathBuf};
use std::time::Instant;

use hosts::{Hosts, Run, root_or_skip, yq};
use serde_json::Value;

const SLM_PW: &str = "slm-pw-0123456789-abcdefgh";
const AUTOBOT_PW: &str = "autobot-pw-0123456789-abcdefgh";

fn playbook() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/user-management-db.yml")
}

fn pw_args() -> Vec<String> {
    vec![
        "-e".into(),
        format!("slm_db_password={SLM_PW}"),
        "-e".into(),
        format!("autobot_db_password={AUTOBOT_PW}"),
    ]
}

/// Removes sudo from the host (its overlay only) and checks that it is gone from root's PATH.
fn remove_sudo(h: &Hosts, host: &str) {
    h.sh(
        host,
        "rm -f /usr/bin/sudo /usr/sbin/sudo /bin/sudo /sbin/sudo",
    );
    let o = h.exec(host, &["sh", "-c", "command -v sudo"]);
    assert!(!o.ok(), "sudo is still on {host}: {}", o.stdout);
}

fn as_postgres(h: &Hosts, on: &str, db: &str, sql: &str) -> String {
    h.sh(
        on,
        &format!("cd / && runuser -u postgres -- psql -X -At -d {db} -c \"{sql}\""),
    )
    .trim()
    .to_string()
}

fn failures<'a>(run: &'a Run, host: &str) -> Vec<&'a Value> {
    run.results(host)
        .into_iter()
        .filter(|e| e["status"] == "failed" || e["status"] == "unreachable")
        .collect()
}

#[test]
fn root_deploys_the_playbook_over_ssh_without_sudo() {
    if !root_or_skip("root_deploys_the_playbook_over_ssh_without_sudo") {
        return;
    }
    let h = Hosts::up(2, &["slm", "redis"], &["slm"]);
    for host in ["slm", "redis"] {
        remove_sudo(&h, host);
    }
    let inv = h.spec_inventory("inventory.yml");
    let args = pw_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = h.run_path(&playbook(), &inv, &args);
    run.assert_code(0);
    for host in ["slm", "redis"] {
        assert!(failures(&run, host).is_empty(), "{}", run.dump());
    }
    assert_eq!(
        run.status("slm", "Install PostgreSQL 15"),
        "changed",
        "{}",
        run.dump()
    );
    // The `become_user: postgres` tasks ran: the databases and their owners exist.
    assert_eq!(
        as_postgres(
            &h,
            "slm",
            "postgres",
            "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname IN ('slm','slm_users')"
        ),
        "slm,slm_users"
    );
    assert_eq!(
        as_postgres(
            &h,
            "redis",
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'autobot_users'"
        ),
        "autobot_app"
    );
    // Without sudo, root becomes postgres with runuser/su, which must give what `sudo -H` gives:
    // that user's HOME (psql's ~/.psqlrc, ~/.pgpass), USER and LOGNAME.
    let pb = "\
- hosts: all
  become: true
  become_user: postgres
  gather_facts: false
  tasks:
    - name: env
      shell: echo \"$(id -un) $HOME $USER $LOGNAME\"
";
    let run = h.run(pb, &inv, &[]);
    run.assert_code(0);
    for host in ["slm", "redis"] {
        assert_eq!(
            run.result(host, "env")["stdout"].as_str().map(str::trim),
            Some("postgres /var/lib/postgresql postgres postgres"),
            "{}",
            run.dump()
        );
    }
}

#[test]
fn root_deploys_the_playbook_locally_without_sudo() {
    if !root_or_skip("root_deploys_the_playbook_locally_without_sudo") {
        return;
    }
    let h = Hosts::up(1, &["slm"], &["slm"]);
    remove_sudo(&h, "slm");
    // The README's quick start inside the host: the bundled local inventory (both roles on
    // this host), from copies the host can see (the machine's /tmp is not visible there).
    h.sh("slm", "mkdir -p /root/become-it/xdg");
    let copy = h.in_host_copy("slm");
    let inv = copy.root.join("playbooks/inventory/local.yml");
    let pb = copy
        .root
        .join("playbooks/user-management-db.yml")
        .display()
        .to_string();
    let mut args: Vec<String> = vec![
        "env".into(),
        "XDG_STATE_HOME=/root/become-it/xdg".into(),
        "HOME=/root".into(),
        "NO_COLOR=1".into(),
        copy.bin.display().to_string(),
        "run".into(),
        pb,
        "-i".into(),
        inv.display().to_string(),
        "--json".into(),
    ];
    args.extend(pw_args());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let o = h.exec("slm", &a);
    let run = Run {
        args: args.clone(),
        code: o.code,
        events: o
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
        stdout: o.stdout,
        stderr: o.stderr,
        lines: Vec::new(),
        started,
        ended: Instant::now(),
    };
    run.assert_code(0);
    assert!(failures(&run, "localhost").is_empty(), "{}", run.dump());
    assert_eq!(
        run.status("localhost", "Install PostgreSQL 15"),
        "changed",
        "{}",
        run.dump()
    );
    assert_eq!(
        as_postgres(
            &h,
            "slm",
            "postgres",
            "SELECT string_agg(datname || ':' || pg_get_userbyid(datdba), ',' ORDER BY datname) FROM pg_database WHERE datname IN ('slm_users','autobot_users')"
        ),
        "autobot_users:autobot_app,slm_users:slm_app"
    );
}

#[test]
fn non_root_login_without_sudo_fails_once_before_any_task_with_the_fix() {
    if !root_or_skip("non_root_login_without_sudo_fails_once_before_any_task_with_the_fix") {
        return;
    }
    let h = Hosts::up(2, &[], &[]);
    remove_sudo(&h, "h1");
    let pw = h.deploy_password();
    let inv = h.write_inventory("inv-deploy.yml", |_| {
        vec![
            ("ansible_user".into(), "deploy".into()),
            ("ansible_become_password".into(), yq(&pw)),
        ]
    });
    // Fact gathering and every task escalate; an unprivileged task comes first.
    let pb = "\
- hosts: all
  become: true
  tasks:
    - name: who
      command: id -un
      become: false
    - name: uid
      command: id -u
    - name: again
      command: id -u
      ignore_errors: true
";
    let run = h.run(pb, &inv, &[]);
    run.assert_code(2);
    let failed = failures(&run, "h1");
    assert_eq!(failed.len(), 1, "h1 must fail exactly once\n{}", run.dump());
    let msg = failed[0]["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains("apt-get install sudo"),
        "the failure must name the fix: {msg}\n{}",
        run.dump()
    );
    // Before any task: nothing ran on h1.
    assert!(
        run.results("h1").iter().all(|e| e["status"] == "failed"),
        "{}",
        run.dump()
    );
    let stopped = run
        .events
        .iter()
        .filter(|e| e["event"] == "host_stopped" && e["host"] == "h1")
        .count();
    assert_eq!(stopped, 1, "{}", run.dump());
    let c = run.stats("h1");
    assert_eq!((c.ok, c.failed), (0, 1), "{}", run.dump());
    // The other host (with sudo) goes on.
    assert_eq!(
        run.result("h2", "uid")["stdout"].as_str().map(str::trim),
        Some("0"),
        "{}",
        run.dump()
    );
    assert_eq!(run.stats("h2").failed, 0, "{}", run.dump());

    // Only what the run selects counts: without the escalating tasks, h1 runs.
    let pb = "\
- hosts: all
  become: true
  gather_facts: false
  tasks:
    - name: who
      command: id -un
      become: false
      tags: [plain]
    - name: uid
      command: id -u
";
    let run = h.run(pb, &inv, &["--tags", "plain"]);
    run.assert_code(0);
    assert_eq!(
        run.result("h1", "who")["stdout"].as_str().map(str::trim),
        Some("deploy"),
        "{}",
        run.dump()
    );

    // Nor does a task whose condition leaves this host out: it is not checked up front.
    let pb = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: who
      command: id -un
    - name: root where sudo is
      command: id -u
      become: true
      when: inventory_hostname != 'h1'
";
    let run = h.run(pb, &inv, &[]);
    run.assert_code(0);
    assert_eq!(
        run.result("h1", "who")["stdout"].as_str().map(str::trim),
        Some("deploy"),
        "{}",
        run.dump()
    );
    assert_eq!(
        run.status("h1", "root where sudo is"),
        "skipped",
        "{}",
        run.dump()
    );
    assert_eq!(
        run.result("h2", "root where sudo is")["stdout"]
            .as_str()
            .map(str::trim),
        Some("0"),
        "{}",
        run.dump()
    );
}
