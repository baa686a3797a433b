//! `slm-wizard health --via-ssh` on real test hosts after a deployment: the spec's topology
//! (slm + slm_users on the SLM server, autobot_users on the Redis VM), probed through an SSH
//! tunnel from the SLM server (the only allowed client of autobot_users); then the Redis VM
//! drops every packet and only its database times out.

mod testhosts;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testhosts::{Hosts, root_or_skip, run_with_timeout, ssh_args, yq};

const SLM_PW: &str = "slm-pw-health-0123456789";
const AUTOBOT_PW: &str = "autobot-pw-health-0123456789";

fn inventory(h: &Hosts) -> PathBuf {
    let conn = |name: &str| {
        format!(
            "          ansible_host: {}\n          ansible_user: root\n          ansible_ssh_private_key_file: {}\n          ansible_ssh_common_args: {}\n",
            h.addr(name),
            yq(&h.key().display().to_string()),
            yq(&ssh_args(&h.known_hosts(), "yes")),
        )
    };
    let text = format!(
        "all:\n  children:\n    slm_server:\n      hosts:\n        slm:\n{}    redis_vm:\n      hosts:\n        redis:\n{}      vars:\n        postgresql_allowed_clients:\n          - {}/32\n",
        conn("slm"),
        conn("redis"),
        h.addr("slm"),
    );
    h.write("health-inventory.yml", &text)
}

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
    let inv = inventory(&h);
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
}
