//! `slm-wizard health --via-ssh` on real test hosts after a deployment: the spec's topology
//! (slm + slm_users on the SLM server, autobot_users on the Redis VM), probed through an SSH
//! tunnel from the SLM server (the only allowed client of autobot_users); then the Redis VM
//! drops every packet and only its database times out.

mod testhosts;
#[path = "common/tmux.rs"]
mod tmux;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testhosts::{Hosts, root_or_skip, run_with_timeout};

const SLM_PW: &str = "slm-pw-health-0123456789";
const AUTOBOT_PW: &str = "autobot-pw-health-0123456789";

fn health(h: &Hosts, inv: &Path, timeout: &str) -> (i32, Value, String) {
    let redis = h.addr("redis");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slm-wizard"));
    cmd.args([
        "health",
        "--json",
        "--timeout",
        timeout,
        "--via-ssh",
        "slm",
        "-i",
        &inv.display().to_string(),
    ])
    .env(
        "SLM_DATABASE_URL",
        format!("postgresql+asyncpg://slm_app:{SLM_PW}@127.0.0.1:5432/slm"),
    )
    .env(
        "SLM_USERS_DATABASE_URL",
        format!("postgresql+asyncpg://slm_app:{SLM_PW}@127.0.0.1:5432/slm_users"),
    )
    .env(
        "AUTOBOT_USERS_DATABASE_URL",
        format!("postgresql+asyncpg://autobot_app:{AUTOBOT_PW}@{redis}:5432/autobot_users"),
    )
    .env_remove("SLM_WIZARD_MIGRATIONS_DIR")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let o = run_with_timeout(cmd, Duration::from_secs(60));
    let text = format!("exit {}\n{}\n{}", o.code, o.stdout, o.stderr);
    let v: Value =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(
        !text.contains(SLM_PW) && !text.contains(AUTOBOT_PW),
        "{text}"
    );
    (o.code, v, text)
}

#[test]
fn deployed_databases_through_a_tunnel_and_a_host_that_drops_packets() {
    if !root_or_skip("deployed_databases_through_a_tunnel_and_a_host_that_drops_packets") {
        return;
    }
    let h = Hosts::up(2, &["slm", "redis"], &[]);
    let inv = h.spec_inventory("health-inventory.yml");
    let pw = [
        format!("slm_db_password={SLM_PW}"),
        format!("autobot_db_password={AUTOBOT_PW}"),
    ];
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/user-management-db.yml");
    h.run_path(&playbook, &inv, &["-e", &pw[0], "-e", &pw[1]])
        .assert_code(0);

    // Everything reachable through slm; the schema migrations are not applied yet (degraded).
    let (code, v, text) = health(&h, &inv, "5");
    for db in ["slm", "slm_users", "autobot_users"] {
        let d = &v["databases"][db];
        assert_eq!(d["details"]["connected"], true, "{db}: {text}");
        assert_eq!(d["details"]["via"], "slm", "{db}: {text}");
        assert_eq!(d["details"]["security"]["ok"], true, "{db}: {text}");
        assert_ne!(d["status"], "unhealthy", "{db}: {text}");
    }
    assert_eq!(v["databases"]["slm"]["status"], "healthy", "{text}");
    assert!(code == 0 || code == 1, "{text}");
    assert_eq!(v["health"]["nodes_online"], 2, "{text}");
    assert_eq!(v["health"]["nodes_total"], 2, "{text}");

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
    let redis = h.addr("redis");
    let env = format!(
        "SLM_DATABASE_URL='postgresql://slm_app:{SLM_PW}@127.0.0.1:5432/slm' \
         SLM_USERS_DATABASE_URL='postgresql://slm_app:{SLM_PW}@127.0.0.1:5432/slm_users' \
         AUTOBOT_USERS_DATABASE_URL='postgresql://autobot_app:{AUTOBOT_PW}@{redis}:5432/autobot_users'"
    );
    let root = tempfile::tempdir().unwrap();
    let args = format!(
        "health --watch --interval 1 --timeout 3 --via-ssh slm -i {}",
        inv.display()
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
    assert!(!screen.contains(SLM_PW) && !screen.contains(AUTOBOT_PW));
    // Still responsive: the redis host's detail view (the last row).
    s.keys(&["G"]);
    s.keys(&["Enter"]);
    s.wait_for(&["redis — detail", "cluster 15/main port 5432 down"]);
    s.keys(&["Escape"]);

    h.sh("redis", "service postgresql start >/dev/null");
    s.wait_until("everything up again", |sc| {
        ["slm", "slm-host", "redis", "slm_users", "autobot_users"]
            .iter()
            .all(|n| up(sc, n))
    });
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc="]);
}
