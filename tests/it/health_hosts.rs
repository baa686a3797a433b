//! `slm-wizard health -i INVENTORY` on real test hosts after a deployment with generated
//! passwords: the URLs are the ones the playbook wrote for the SLM backend (rendered from the
//! playbook's template, the inventory and the deployment's secret store), probed through the SLM
//! server (the only allowed client of autobot_users); then the Redis VM drops every packet and
//! only its database times out.

use crate::support::hosts;
use crate::support::tmux;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hosts::{Hosts, root_or_skip, run_with_timeout};
use serde_json::Value;

fn playbook() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/user-management-db.yml")
}

/// The passwords the deployment generated and stored.
fn stored_passwords(h: &Hosts) -> Vec<String> {
    let dir = h.p("xdg/slm-wizard/secrets");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("secrets dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("store");
        let map: serde_yaml::Mapping = serde_yaml::from_str(&text).expect("store YAML");
        for (k, v) in map {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_str())
                && k.ends_with("_password")
            {
                out.push(v.to_string());
            }
        }
    }
    assert_eq!(out.len(), 2, "two generated passwords in {}", dir.display());
    out
}

/// `slm-wizard COMMAND -i INVENTORY --playbook …` on the deployment, no URL in the environment;
/// returns the exit code, stdout and everything printed (checked for the stored passwords).
fn on_deployment(h: &Hosts, inv: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slm-wizard"));
    cmd.args(args)
        .arg("-i")
        .arg(inv)
        .arg("--playbook")
        .arg(playbook())
        .env("XDG_STATE_HOME", h.p("xdg"))
        .env_remove("SLM_DATABASE_URL")
        .env_remove("SLM_USERS_DATABASE_URL")
        .env_remove("AUTOBOT_USERS_DATABASE_URL")
        .env_remove("SLM_WIZARD_MIGRATIONS_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = run_with_timeout(cmd, Duration::from_secs(60));
    let text = format!("exit {}\n{}\n{}", o.code, o.stdout, o.stderr);
    for pw in stored_passwords(h) {
        assert!(!text.contains(&pw), "{text}");
    }
    (o.code, o.stdout, text)
}

fn health(h: &Hosts, inv: &Path, timeout: &str) -> (i32, Value, String) {
    let (code, stdout, text) = on_deployment(h, inv, &["health", "--json", "--timeout", timeout]);
    let v: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (code, v, text)
}

#[test]
fn deployed_databases_through_a_tunnel_and_a_host_that_drops_packets() {
    if !root_or_skip("deployed_databases_through_a_tunnel_and_a_host_that_drops_packets") {
        return;
    }
    let h = Hosts::up(2, &["slm", "redis"], &[]);
    let inv = h.spec_inventory("health-inventory.yml");
    h.run_path(&playbook(), &inv, &[]).assert_code(0);

    // Everything reachable through slm (the SLM server is remote, so its URLs are used from
    // there); the schema migrations are not applied yet (degraded).
    let (code, v, text) = health(&h, &inv, "5");
    let redis = h.addr("redis");
    for db in ["slm", "slm_users", "autobot_users"] {
        let d = &v["databases"][db];
        assert_eq!(d["details"]["connected"], true, "{db}: {text}");
        assert_eq!(d["details"]["via"], "slm", "{db}: {text}");
        assert_eq!(d["details"]["security"]["ok"], true, "{db}: {text}");
        assert_ne!(d["status"], "unhealthy", "{db}: {text}");
    }
    let target = |db: &str| {
        v["databases"][db]["details"]["target"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(target("slm"), "slm_app@127.0.0.1:5432/slm", "{text}");
    assert_eq!(
        target("autobot_users"),
        format!("autobot_app@{redis}:5432/autobot_users"),
        "{text}"
    );
    assert_eq!(v["databases"]["slm"]["status"], "healthy", "{text}");
    assert!(code == 0 || code == 1, "{text}");
    assert_eq!(v["health"]["nodes_online"], 2, "{text}");
    assert_eq!(v["health"]["nodes_total"], 2, "{text}");

    // doctor reads the same deployment: every check of the spec passes through the SLM server
    // but the migrations, which nobody applied yet.
    let (code, doc, text) = on_deployment(&h, &inv, &["doctor", "--timeout", "5"]);
    assert_eq!(code, 1, "{text}");
    for db in ["slm", "slm_users", "autobot_users"] {
        for check in [
            "server reachable — ",
            "pg_hba allows this client",
            "test connection",
            "database exists",
        ] {
            assert!(
                doc.contains(&format!("[PASS] {db}: {check}")),
                "{db} {check}: {text}"
            );
        }
    }
    assert!(
        doc.contains("answers through the SSH tunnel via slm"),
        "{text}"
    );
    assert!(
        doc.contains("[FAIL] slm_users: migrations — 0 applied, 1 pending"),
        "{text}"
    );

    migrate_reads_the_same_sources_as_health(&h, &inv);
    doctor_fix_lines_run_as_printed(&h, &inv);

    // The Redis VM drops every packet: its database times out, the others stay healthy, and
    // the round ends within the probe timeout.
    h.ctl("drop", "redis");
    let t0 = Instant::now();
    let (code, v, text) = health(&h, &inv, "3");
    let took = t0.elapsed();
    h.ctl("undrop", "redis");
    assert!(took < Duration::from_secs(8), "round took {took:?}: {text}");
    assert_eq!(code, 2, "{text}");
    let a = &v["databases"]["autobot_users"];
    assert_eq!(a["status"], "unhealthy", "{text}");
    assert_eq!(a["details"]["failure"], "timeout", "{text}");
    assert_eq!(v["databases"]["slm"]["status"], "healthy", "{text}");
    assert_eq!(v["health"]["nodes_online"], 1, "{text}");

    // Back: healthy again on the next sample.
    let (_, v, text) = health(&h, &inv, "5");
    assert_eq!(
        v["databases"]["autobot_users"]["details"]["connected"], true,
        "{text}"
    );

    dashboard_follows_postgresql_stopping_on_the_redis_vm(&h, &inv);
    the_wizard_watches_what_it_deployed(&h, &inv);
}

/// `slm-wizard migrate` finds the databases where `health` does: on the SLM server itself in
/// `/etc/slm/database.env` (what the playbook wrote there; the host's /etc is its own), and from
/// here through the deployment (`-i`, tunnelled through the SLM server, which alone may reach
/// autobot_users). Afterwards `health -i` exits 0: nothing pending, as the README's headless
/// equivalent of the wizard promises.
fn migrate_reads_the_same_sources_as_health(h: &Hosts, inv: &Path) {
    // Inside the host: a copy it can see (its /tmp is its own).
    let host_bin = h.in_host_copy("slm").bin.display().to_string();
    let bin = host_bin.as_str();
    let unset = "env -u SLM_DATABASE_URL -u SLM_USERS_DATABASE_URL -u AUTOBOT_USERS_DATABASE_URL \
                 -u SLM_WIZARD_MIGRATIONS_DIR";
    let on_slm = |args: &str| {
        let o = h.exec(
            "slm",
            &["sh", "-c", &format!("{unset} {bin} migrate {args} 2>&1")],
        );
        (o.code, o.stdout)
    };
    let (code, out) = on_slm("--status --connect-timeout 5");
    assert_eq!(code, 0, "{out}");
    for db in ["slm_users", "autobot_users"] {
        assert!(
            out.lines().any(|l| l.starts_with(db)
                && l.contains("0001_user_management.sql")
                && l.contains("pending")),
            "{db}: {out}"
        );
    }
    for pw in stored_passwords(h) {
        assert!(!out.contains(&pw), "{out}");
    }

    let (code, out, text) = on_deployment(h, inv, &["migrate", "--connect-timeout", "5"]);
    assert_eq!(code, 0, "{text}");
    for db in ["slm_users", "autobot_users"] {
        assert!(
            out.contains(&format!("{db}: applied 0001_user_management.sql")),
            "{db}: {text}"
        );
    }
    assert!(
        out.contains("migrate: 2 applied (3 databases up to date)"),
        "{text}"
    );

    // On the SLM server again: nothing left to do.
    let (code, out) = on_slm("--connect-timeout 5");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("migrate: nothing to do (3 databases up to date)"),
        "{out}"
    );

    let (code, v, text) = health(h, inv, "5");
    for db in ["slm", "slm_users", "autobot_users"] {
        let d = &v["databases"][db];
        assert_eq!(d["details"]["migrations"]["pending"], 0, "{db}: {text}");
        assert_eq!(d["status"], "healthy", "{db}: {text}");
    }
    assert_eq!(code, 0, "{text}");
}

/// The `[FAIL]` checks of doctor's output ("subject: check") with their fix lines.
fn doctor_failures(out: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut lines = out.lines().peekable();
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix("[FAIL] ") else {
            continue;
        };
        let check = rest.split(" — ").next().unwrap_or(rest).to_string();
        let fix = lines
            .peek()
            .and_then(|n| n.trim().strip_prefix("fix: "))
            .unwrap_or_default()
            .to_string();
        found.push((check, fix));
    }
    found
}

/// Runs a fix line as printed: `on HOST: CMD` inside that host, else the `slm-wizard …` command
/// on this machine (the binary first in PATH, the deployment's state as in the other runs).
fn run_fix(h: &Hosts, fix: &str) {
    for placeholder in ["INVENTORY", "CLIENT_ADDRESS", " HOST", "sudo", "…"] {
        assert!(
            !fix.contains(placeholder),
            "placeholder {placeholder:?} in: {fix}"
        );
    }
    if let Some((host, cmd)) = fix.strip_prefix("on ").and_then(|r| r.split_once(": ")) {
        let o = h.exec(host, &["sh", "-c", cmd]);
        assert!(o.ok(), "on {host}: {cmd}\n{}\n{}", o.stdout, o.stderr);
        return;
    }
    let at = fix
        .find("slm-wizard ")
        .unwrap_or_else(|| panic!("not a command: {fix}"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_slm-wizard"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&fix[at..])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("XDG_STATE_HOME", h.p("xdg"))
        .env_remove("SLM_DATABASE_URL")
        .env_remove("SLM_USERS_DATABASE_URL")
        .env_remove("AUTOBOT_USERS_DATABASE_URL")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = run_with_timeout(cmd, Duration::from_secs(300));
    assert!(
        o.ok(),
        "{}\nexit {}\n{}\n{}",
        &fix[at..],
        o.code,
        o.stdout,
        o.stderr
    );
}

/// Provokes doctor's failures on the deployment and runs every fix line it prints, as printed;
/// the next doctor run passes those checks. Hosts log in as root without systemd here: the
/// fixes use pg_ctlcluster and no sudo, and name the real hosts, inventory and client address.
fn doctor_fix_lines_run_as_printed(h: &Hosts, inv: &Path) {
    let doctor = || on_deployment(h, inv, &["doctor", "--timeout", "5"]);
    // Runs the fixes of every failure until doctor passes; returns the checks that failed.
    let fix_until_green = |what: &str| -> Vec<String> {
        let mut failed_checks = Vec::new();
        for round in 0..4 {
            let (code, out, text) = doctor();
            let failures = doctor_failures(&out);
            if failures.is_empty() {
                assert_eq!(code, 0, "{what}: {text}");
                return failed_checks;
            }
            assert_eq!(code, 1, "{what}: {text}");
            let mut ran: Vec<&str> = Vec::new();
            for (check, fix) in &failures {
                assert!(!fix.is_empty(), "{what}: {check} has no fix: {text}");
                failed_checks.push(check.clone());
                // The same fix may serve two checks (a host's cluster and its database).
                if !ran.contains(&fix.as_str()) {
                    run_fix(h, fix);
                    ran.push(fix);
                }
            }
            // The next round must not fail the same checks again.
            let (_, again, text) = doctor();
            for (check, _) in &failures {
                assert!(
                    !doctor_failures(&again).iter().any(|(c, _)| c == check),
                    "{what}, round {round}: {check} still fails after its fix: {text}"
                );
            }
        }
        panic!("{what}: doctor still fails after 4 rounds of fixes");
    };

    // PostgreSQL stopped on the Redis VM, slm_users dropped on the SLM server.
    h.sh("redis", "pg_ctlcluster 15 main stop");
    h.sh(
        "slm",
        "runuser -u postgres -- psql -XAtqc 'DROP DATABASE slm_users WITH (FORCE)'",
    );
    let failed = fix_until_green("stopped server and dropped database");
    for check in [
        "redis: PostgreSQL service running (pg_lsclusters)",
        "autobot_users: server reachable",
        "slm_users: database exists",
        // Recreated empty: its migrations are pending until the printed migrate runs.
        "slm_users: migrations",
    ] {
        assert!(
            failed.iter().any(|c| c == check),
            "{check} not among {failed:?}"
        );
    }

    // The SLM server's line gone from the Redis VM's pg_hba.conf.
    let slm = h.addr("slm").replace('.', "\\.");
    h.sh(
        "redis",
        &format!(
            "sed -i '/{slm}\\/32/d' /etc/postgresql/15/main/pg_hba.conf && pg_ctlcluster 15 main reload"
        ),
    );
    let failed = fix_until_green("pg_hba line missing");
    assert_eq!(failed, ["autobot_users: pg_hba allows this client"]);
}

/// The row of the dashboard's Databases table (`host == false`) or Hosts table that shows `name`
/// (the SLM server's host and one of its databases are both called `slm` here).
fn row<'a>(screen: &'a str, name: &str, host: bool) -> &'a str {
    let hosts_at = screen.find("┌ Hosts").unwrap_or(screen.len());
    let part = if host {
        &screen[hosts_at..]
    } else {
        &screen[..hosts_at]
    };
    part.lines()
        .find(|l| l.contains(&format!("● {name} ")))
        .unwrap_or("")
}

fn line<'a>(screen: &'a str, name: &str) -> &'a str {
    row(screen, name, matches!(name, "redis" | "slm-host"))
}

/// `health --watch` on a terminal with the inventory: the hosts' clusters and disks next to the
/// databases. PostgreSQL stops on the Redis VM: that host and its database turn unhealthy within
/// an interval or two while the SLM server's stay up, keys keep working, and all recover on the
/// next samples after it starts again.
fn dashboard_follows_postgresql_stopping_on_the_redis_vm(h: &Hosts, inv: &Path) {
    let passwords = stored_passwords(h);
    let env = format!("XDG_STATE_HOME='{}'", h.p("xdg").display());
    let root = tempfile::tempdir().unwrap();
    let args = format!(
        "health --watch --interval 1 --timeout 3 -i {} --playbook {}",
        inv.display(),
        playbook().display()
    );
    let Some(s) = tmux::Session::start_with_env(root.path(), &args, "hosts-dashboard", &env) else {
        return;
    };
    let up = |sc: &str, name: &str| {
        let l = match name {
            "slm-host" => row(sc, "slm", true),
            _ => line(sc, name),
        };
        (l.contains("online") || l.contains("healthy") || l.contains("degraded"))
            && !l.contains("unhealthy")
            && !l.contains("down")
    };
    let screen = s.wait_until("both hosts online, the databases up", |sc| {
        ["slm", "slm-host", "redis", "slm_users", "autobot_users"]
            .iter()
            .all(|n| up(sc, n))
            && line(sc, "redis").contains("15/main :5432 online")
    });
    assert!(
        row(&screen, "slm", true).contains('%'),
        "data disk use: {screen}"
    );

    h.sh("redis", "service postgresql stop >/dev/null");
    let screen = s.wait_until("redis and autobot_users unhealthy", |sc| {
        line(sc, "redis").contains("down") && line(sc, "autobot_users").contains("unhealthy")
    });
    assert!(
        up(&screen, "slm") && up(&screen, "slm_users") && up(&screen, "slm-host"),
        "{screen}"
    );
    for pw in &passwords {
        assert!(!screen.contains(pw.as_str()));
    }
    // Still responsive: the redis host's detail view (the last row).
    s.keys(&["G"]);
    s.keys(&["Enter"]);
    s.wait_for(&["redis — detail", "cluster 15/main port 5432 down"]);
    s.keys(&["Escape"]);

    h.sh("redis", "service postgresql start >/dev/null");
    let all_up = |sc: &str| {
        ["slm", "slm-host", "redis", "slm_users", "autobot_users"]
            .iter()
            .all(|n| up(sc, n))
    };
    s.wait_until("everything up again", all_up);

    // The SLM server drops the dashboard's SSH sessions: the tunnel and the host probe connect
    // again by themselves, and the databases are watched through the new connection.
    let before = ssh_sessions(h, "slm");
    assert!(!before.is_empty(), "no SSH session on slm");
    h.sh("slm", &format!("kill {}", before.join(" ")));
    let t0 = Instant::now();
    let after = loop {
        let now = ssh_sessions(h, "slm");
        if !now.is_empty() && now.iter().all(|p| !before.contains(p)) {
            break now;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no new SSH session on slm: before {before:?}, now {now:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(3));
    s.wait_until("everything up through the new connection", all_up);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} {after:?}"
    );
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc="]);
}

/// The wizard re-runs the deployment (a converged no-op) and its Health step watches the three
/// databases with what the deployment stored: no URL configured anywhere, the SLM server remote.
fn the_wizard_watches_what_it_deployed(h: &Hosts, inv: &Path) {
    let passwords = stored_passwords(h);
    let env = format!("XDG_STATE_HOME='{}'", h.p("xdg").display());
    let root = tempfile::tempdir().unwrap();
    let args = format!("-p {} -i {}", playbook().display(), inv.display());
    let Some(s) = tmux::Session::start_with_env(root.path(), &args, "wizard-deployment", &env)
    else {
        return;
    };
    s.wait_for(&["› User Management Database"]);
    s.keys(&["Enter"]);
    s.wait_for(&["SLM database user"]);
    s.keys(&["C-s"]);
    s.wait_for(&["3. Hosts", "redis"]);
    s.keys(&["Enter"]);
    s.wait_for(&["dry run finished"]);
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);
    let screen = s.wait_for(&["journal:"]);
    assert!(screen.contains("failed=0 unreachable=0"), "{screen}");
    s.keys(&["Enter"]);
    let screen = s.wait_until("the three databases connected", |sc| {
        ["slm", "slm_users", "autobot_users"].iter().all(|db| {
            let l = line(sc, db);
            (l.contains("healthy") || l.contains("degraded")) && !l.contains("unhealthy")
        })
    });
    for pw in &passwords {
        assert!(!screen.contains(pw.as_str()));
    }
    // The detail view says how it got there.
    s.keys(&["Enter"]);
    s.wait_for(&[
        "slm — detail",
        "SSH tunnel through slm",
        "slm_app@127.0.0.1:5432/slm",
    ]);
    s.keys(&["Escape", "q"]);
    s.wait_for(&["WIZARD-EXITED rc="]);
}

/// The sshd session processes of `host` (its own network namespace only: other test hosts'
/// sessions run on the same kernel).
fn ssh_sessions(h: &Hosts, host: &str) -> Vec<String> {
    h.sh(
        host,
        "me=$(readlink /proc/self/ns/net); for p in $(pgrep -f '^sshd: root'); do \
         [ \"$(readlink /proc/$p/ns/net 2>/dev/null)\" = \"$me\" ] && echo $p; done; true",
    )
    .split_whitespace()
    .map(str::to_string)
    .collect()
}
