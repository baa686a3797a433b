//! `slm-wizard health` and `doctor` against real PostgreSQL 15 clusters: databases owned by
//! unprivileged app users, probed as those users.

mod common;

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::tmux::Session;
use common::{BIN, Output, PgCluster, run_with_timeout, unique};
use serde_json::Value;

const SLM_PW: &str = "slm-health-pw-0123456789";
const AUTOBOT_PW: &str = "autobot-health-pw-9876543210";

fn pg() -> &'static PgCluster {
    static ROLES: OnceLock<()> = OnceLock::new();
    let c = PgCluster::shared();
    ROLES.get_or_init(|| app_roles(c));
    c
}

/// The playbook's two application users, unprivileged.
fn app_roles(c: &PgCluster) {
    for (role, pw) in [("slm_app", SLM_PW), ("autobot_app", AUTOBOT_PW)] {
        c.psql(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{pw}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
        ));
    }
}

/// The three databases of one test, as the playbook creates them, with URLs.
struct Dbs {
    names: [String; 3],
    env: Vec<(String, String)>,
}

const VARS: [&str; 3] = [
    "SLM_DATABASE_URL",
    "SLM_USERS_DATABASE_URL",
    "AUTOBOT_USERS_DATABASE_URL",
];

impl Dbs {
    fn create() -> Self {
        let c = pg();
        let names = [unique("slm"), unique("slm_users"), unique("autobot_users")];
        let owners = ["slm_app", "slm_app", "autobot_app"];
        for (db, owner) in names.iter().zip(owners) {
            c.psql(&format!("CREATE DATABASE {db} OWNER {owner}"));
            c.psql(&format!("REVOKE CONNECT ON DATABASE {db} FROM PUBLIC"));
        }
        let env = VARS
            .iter()
            .zip(&names)
            .zip(owners)
            .map(|((var, db), owner)| {
                let pw = if owner == "slm_app" {
                    SLM_PW
                } else {
                    AUTOBOT_PW
                };
                (
                    var.to_string(),
                    format!(
                        "postgresql+asyncpg://{owner}:{pw}@127.0.0.1:{}/{db}",
                        c.port
                    ),
                )
            })
            .collect();
        Dbs { names, env }
    }

    /// Applies the built-in migrations (slm_users and autobot_users have one each).
    fn migrate(&self) -> &Self {
        let o = bin(&self.env, &["migrate"]);
        assert_eq!(o.code, 0, "migrate: {}", dump(&o));
        self
    }

    fn set(&mut self, var: &str, url: String) {
        for (k, v) in self.env.iter_mut() {
            if k == var {
                *v = url.clone();
            }
        }
    }
}

fn bin(env: &[(String, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("SLM_WIZARD_MIGRATIONS_DIR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for v in VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_timeout(cmd, Duration::from_secs(60))
}

fn dump(o: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        o.code, o.stdout, o.stderr
    )
}

fn health_json(env: &[(String, String)], extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["health", "--json"];
    if !extra.contains(&"--timeout") {
        args.extend(["--timeout", "3"]);
    }
    args.extend(extra);
    let o = bin(env, &args);
    let v: Value =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", dump(&o)));
    (o, v)
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn all_three_databases_healthy_json_has_the_specs_shape() {
    let d = Dbs::create();
    d.migrate();
    let (o, v) = health_json(&d.env, &[]);
    assert_eq!(o.code, 0, "{}", dump(&o));
    assert_eq!(keys(&v), ["databases", "health"]);
    assert_eq!(keys(&v["databases"]), ["slm", "slm_users", "autobot_users"]);
    for (db, name) in ["slm", "slm_users", "autobot_users"].iter().zip(&d.names) {
        let e = &v["databases"][db];
        assert_eq!(keys(e), ["status", "database", "details"], "{db}");
        assert_eq!(e["status"], "healthy", "{db}: {e}");
        assert_eq!(e["database"], "postgresql");
        let det = &e["details"];
        assert_eq!(det["reachable"], true);
        assert_eq!(det["connected"], true);
        assert!(det["connect_ms"].as_f64().unwrap() > 0.0);
        assert!(det["select1_ms"].as_f64().unwrap() > 0.0);
        assert!(det["server_version"].as_str().unwrap().starts_with("15"));
        assert!(det["uptime_seconds"].is_u64());
        assert!(det["connections_used"].as_i64().unwrap() >= 1);
        assert!(det["max_connections"].as_i64().unwrap() >= 10);
        assert!(det["size_bytes"].as_i64().unwrap() > 1_000_000);
        assert_eq!(det["ssl"], false);
        assert_eq!(
            det["security"],
            serde_json::json!({"ok": true, "superuser": false, "public_connect": false})
        );
        assert_eq!(det["reasons"], serde_json::json!([]));
        assert!(det["target"].as_str().unwrap().ends_with(name.as_str()));
        let m = &det["migrations"];
        if *db == "slm" {
            assert_eq!(m["applied"], 0);
            assert_eq!(m["latest"], Value::Null);
        } else {
            assert_eq!(m["applied"], 1, "{db}: {m}");
            assert_eq!(m["pending"], 0);
            assert_eq!(m["latest"], "0001_user_management.sql");
        }
    }
    let h = &v["health"];
    assert_eq!(
        keys(h),
        [
            "status",
            "version",
            "uptime_seconds",
            "database",
            "nodes_online",
            "nodes_total"
        ]
    );
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["database"], "healthy");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert!(h["uptime_seconds"].is_u64());
    assert_eq!(h["nodes_online"], 1);
    assert_eq!(h["nodes_total"], 1);
    for pw in [SLM_PW, AUTOBOT_PW] {
        assert!(!o.stdout.contains(pw) && !o.stderr.contains(pw));
    }

    // The table, and doctor: every check passes.
    let t = bin(&d.env, &["health"]);
    assert_eq!(t.code, 0, "{}", dump(&t));
    assert!(t.stdout.starts_with("DATABASE"), "{}", dump(&t));
    assert_eq!(t.stdout.matches("  healthy  ").count(), 3, "{}", dump(&t));
    let doc = bin(&d.env, &["doctor"]);
    assert_eq!(doc.code, 0, "{}", dump(&doc));
    assert_eq!(doc.stdout.matches("[PASS]").count(), 15, "{}", dump(&doc));
    assert!(doc.stdout.contains("15 passed, 0 failed"), "{}", dump(&doc));
}

#[test]
fn wrong_password_is_unhealthy_with_an_auth_reason_and_never_shown() {
    let mut d = Dbs::create();
    d.migrate();
    let wrong = "Wr0ngPassw0rd-zyx987";
    d.set(
        "AUTOBOT_USERS_DATABASE_URL",
        format!(
            "postgres://autobot_app:{wrong}@127.0.0.1:{}/{}",
            pg().port,
            d.names[2]
        ),
    );
    let (o, v) = health_json(&d.env, &[]);
    assert_eq!(o.code, 2, "{}", dump(&o));
    let a = &v["databases"]["autobot_users"];
    assert_eq!(a["status"], "unhealthy");
    assert_eq!(a["details"]["failure"], "auth");
    assert_eq!(a["details"]["reachable"], true);
    let reason = a["details"]["reasons"][0].as_str().unwrap();
    assert!(reason.starts_with("authentication failed"), "{reason}");
    assert!(reason.contains("AUTOBOT_USERS_DATABASE_URL"), "{reason}");
    assert_eq!(v["databases"]["slm"]["status"], "healthy");
    assert_eq!(v["databases"]["slm_users"]["status"], "healthy");
    assert_eq!(v["health"]["status"], "unhealthy");
    assert_eq!(v["health"]["nodes_online"], 1);

    let t = bin(&d.env, &["health"]);
    assert_eq!(t.code, 2);
    let doc = bin(&d.env, &["doctor", "--database", "autobot_users"]);
    assert_eq!(doc.code, 1, "{}", dump(&doc));
    assert!(
        doc.stdout.contains("[FAIL] autobot_users: test connection"),
        "{}",
        dump(&doc)
    );
    assert!(
        doc.stdout
            .contains("fix: check the user and password in AUTOBOT_USERS_DATABASE_URL")
    );
    for out in [&o, &t, &doc] {
        assert!(
            !out.stdout.contains(wrong) && !out.stderr.contains(wrong),
            "password shown: {}",
            dump(out)
        );
    }
}

#[test]
fn a_stopped_server_is_unhealthy_within_one_round_while_the_others_stay_healthy() {
    let mut d = Dbs::create();
    d.migrate();
    let other = PgCluster::start();
    let port = other.port;
    drop(other); // stops it
    d.set(
        "AUTOBOT_USERS_DATABASE_URL",
        format!("postgres://autobot_app:{AUTOBOT_PW}@127.0.0.1:{port}/autobot_users"),
    );
    let t0 = Instant::now();
    let (o, v) = health_json(&d.env, &[]);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(o.code, 2, "{}", dump(&o));
    let a = &v["databases"]["autobot_users"];
    assert_eq!(a["status"], "unhealthy");
    assert_eq!(a["details"]["failure"], "unreachable");
    assert_eq!(a["details"]["reachable"], false);
    assert!(
        a["details"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("unreachable"),
        "{a}"
    );
    assert_eq!(v["databases"]["slm"]["status"], "healthy");
    assert_eq!(v["databases"]["slm_users"]["status"], "healthy");
    assert_eq!(v["health"]["nodes_online"], 1);
    assert_eq!(v["health"]["nodes_total"], 2);

    let doc = bin(&d.env, &["doctor"]);
    assert_eq!(doc.code, 1, "{}", dump(&doc));
    assert!(
        doc.stdout
            .contains("[FAIL] autobot_users: server reachable"),
        "{}",
        dump(&doc)
    );
    assert!(doc.stdout.contains("sudo systemctl start postgresql"));
    assert!(
        doc.stdout
            .contains("[SKIP] autobot_users: migrations — the server is not reachable")
    );
}

#[test]
fn a_server_that_never_answers_times_out_without_delaying_the_others() {
    let mut d = Dbs::create();
    d.migrate();
    // Accepts TCP connections (the kernel does) but never speaks: like a host dropping packets
    // after the handshake.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    d.set(
        "AUTOBOT_USERS_DATABASE_URL",
        format!("postgres://autobot_app:{AUTOBOT_PW}@127.0.0.1:{port}/autobot_users"),
    );
    let t0 = Instant::now();
    let (o, v) = health_json(&d.env, &["--timeout", "2"]);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(4500),
        "the round took {took:?}"
    );
    assert_eq!(o.code, 2, "{}", dump(&o));
    let a = &v["databases"]["autobot_users"];
    assert_eq!(a["details"]["failure"], "timeout", "{a}");
    assert!(
        a["details"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("timed out"),
        "{a}"
    );
    assert_eq!(v["databases"]["slm"]["status"], "healthy");
    assert_eq!(v["databases"]["slm_users"]["status"], "healthy");
    // The healthy ones were not held up by the silent one.
    assert!(
        v["databases"]["slm"]["details"]["probe_ms"]
            .as_f64()
            .unwrap()
            < 1500.0
    );
    drop(silent);
}

#[test]
fn pending_migrations_are_degraded() {
    let d = Dbs::create(); // not migrated
    let (o, v) = health_json(&d.env, &[]);
    assert_eq!(o.code, 1, "{}", dump(&o));
    assert_eq!(v["health"]["status"], "degraded");
    assert_eq!(v["health"]["database"], "degraded");
    assert_eq!(v["databases"]["slm"]["status"], "healthy");
    let u = &v["databases"]["slm_users"];
    assert_eq!(u["status"], "degraded");
    assert_eq!(u["details"]["migrations"]["pending"], 1);
    assert_eq!(u["details"]["migrations"]["applied"], 0);
    assert_eq!(u["details"]["reasons"][0], "1 pending migration(s)");

    let doc = bin(&d.env, &["doctor", "--database", "slm_users"]);
    assert_eq!(doc.code, 1, "{}", dump(&doc));
    assert!(
        doc.stdout
            .contains("fix: apply them: slm-wizard migrate --database slm_users"),
        "{}",
        dump(&doc)
    );
}

#[test]
fn public_connect_fails_the_security_check() {
    let d = Dbs::create();
    d.migrate();
    pg().psql(&format!(
        "GRANT CONNECT ON DATABASE {} TO PUBLIC",
        d.names[1]
    ));
    let (o, v) = health_json(&d.env, &[]);
    assert_eq!(o.code, 2, "{}", dump(&o));
    let u = &v["databases"]["slm_users"];
    assert_eq!(u["status"], "unhealthy");
    assert_eq!(u["details"]["security"]["ok"], false);
    assert_eq!(u["details"]["security"]["public_connect"], true);
    assert_eq!(
        u["details"]["reasons"][0],
        "security: PUBLIC has CONNECT on the database"
    );
    assert_eq!(v["databases"]["slm"]["status"], "healthy");
}

#[test]
fn bad_input_exits_5() {
    let env = vec![(
        "SLM_DATABASE_URL".to_string(),
        "mysql://slm_app:S3cretValue@h/slm".to_string(),
    )];
    for args in [&["health", "--json"][..], &["doctor"][..]] {
        let o = bin(&env, args);
        assert_eq!(o.code, 5, "{}", dump(&o));
        assert!(o.stderr.contains("SLM_DATABASE_URL"), "{}", dump(&o));
        assert!(!o.stderr.contains("S3cretValue"));
    }
    let o = bin(&[], &["health", "--database", "nope"]);
    assert_eq!(o.code, 5, "{}", dump(&o));
}

#[test]
fn watch_refreshes_until_interrupted() {
    let d = Dbs::create();
    d.migrate();
    let mut cmd = Command::new(BIN);
    cmd.args(["health", "--watch", "--interval", "0.3", "--timeout", "2"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &d.env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(2000));
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let frames = stdout.matches("slm-wizard health — every").count();
    assert!(frames >= 3, "{frames} frames:\n{stdout}");
    assert!(stdout.contains("overall: healthy"), "{stdout}");
}

/// The line of the dashboard table that shows `db`.
fn row<'a>(screen: &'a str, db: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(&format!("● {db} ")))
        .unwrap_or("")
}

fn state_of(screen: &str, db: &str) -> &'static str {
    let r = row(screen, db);
    if r.contains("unhealthy") {
        "unhealthy"
    } else if r.contains("degraded") {
        "degraded"
    } else if r.contains("healthy") {
        "healthy"
    } else {
        "?"
    }
}

/// `health --watch` on a terminal: the dashboard follows the Redis VM's server going down and
/// coming back while the SLM server's databases stay healthy, and keys keep working meanwhile.
#[test]
fn dashboard_follows_a_server_going_down_and_up() {
    let mut d = Dbs::create();
    let redis_vm = PgCluster::start();
    app_roles(&redis_vm);
    let db = unique("autobot_users");
    redis_vm.psql(&format!("CREATE DATABASE {db} OWNER autobot_app"));
    redis_vm.psql(&format!("REVOKE CONNECT ON DATABASE {db} FROM PUBLIC"));
    d.set(
        "AUTOBOT_USERS_DATABASE_URL",
        format!(
            "postgresql://autobot_app:{AUTOBOT_PW}@127.0.0.1:{}/{db}",
            redis_vm.port
        ),
    );
    d.migrate();
    let root = tempfile::tempdir().unwrap();
    let env: String = d.env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
    let api = backend(
        r#"{"status":"healthy","version":"2.0.1","uptime_seconds":120,"nodes_online":2,"nodes_total":2}"#,
        r#"{"status":"healthy","database":"postgresql"}"#,
    );
    let Some(s) = Session::start_with_env(
        root.path(),
        &format!("health --watch --interval 1 --timeout 2 --api-url {api}"),
        "dashboard",
        &env,
    ) else {
        return;
    };
    let screen = s.wait_until("all three healthy", |sc| {
        ["slm", "slm_users", "autobot_users"]
            .iter()
            .all(|db| state_of(sc, db) == "healthy")
            && sc.contains(" HEALTHY ")
    });
    // The backend's own health on its line.
    assert!(
        screen.contains("backend healthy") && screen.contains("version 2.0.1"),
        "{screen}"
    );

    redis_vm.stop();
    let screen = s.wait_until("autobot_users unhealthy", |sc| {
        state_of(sc, "autobot_users") == "unhealthy"
    });
    assert_eq!(state_of(&screen, "slm"), "healthy", "{screen}");
    assert_eq!(state_of(&screen, "slm_users"), "healthy", "{screen}");
    assert!(screen.contains(" UNHEALTHY "), "{screen}");
    assert!(!screen.contains(AUTOBOT_PW), "{screen}");
    // Responsive while a target fails: select it and open its detail view.
    s.keys(&["G"]);
    s.keys(&["Enter"]);
    let screen = s.wait_for(&["autobot_users — detail", "state      unhealthy"]);
    assert!(row(&screen, "autobot_users").contains('▶'), "{screen}");
    s.keys(&["Escape"]);

    redis_vm.start_again();
    let screen = s.wait_until("autobot_users healthy again", |sc| {
        state_of(sc, "autobot_users") == "healthy" && sc.contains(" HEALTHY ")
    });
    // The failure stays visible as the last error of the window.
    assert!(screen.contains("last error"), "{screen}");
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}

/// A canned SLM backend: `/api/health` and `/api/health/database` as the spec shapes them.
fn backend(health: &'static str, database: &'static str) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = if req.starts_with("GET /api/health/database ") {
                database
            } else if req.starts_with("GET /api/health ") {
                health
            } else {
                ""
            };
            let _ = write!(
                c,
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}"
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn the_backend_api_is_probed_alongside_the_databases() {
    let d = Dbs::create();
    d.migrate();
    let url = backend(
        r#"{"status":"healthy","version":"2.0.1","uptime_seconds":120,"database":"healthy","nodes_online":2,"nodes_total":3}"#,
        r#"{"status":"healthy","database":"postgresql"}"#,
    );
    let (o, v) = health_json(&d.env, &["--api-url", &url]);
    assert_eq!(o.code, 0, "{}", dump(&o));
    let b = &v["backend"];
    assert_eq!(b["status"], "healthy", "{v}");
    assert_eq!(b["version"], "2.0.1");
    assert_eq!(b["nodes_online"], 2);
    assert_eq!(b["nodes_total"], 3);
    assert_eq!(b["uptime_seconds"], 120);
    // The spec's shapes are unchanged beside it.
    assert_eq!(v["databases"]["slm"]["database"], "postgresql");

    // A backend that sees its database as unhealthy degrades the round (exit 1).
    let url = backend(
        r#"{"status":"healthy","version":"2.0.1"}"#,
        r#"{"status":"unhealthy","database":"postgresql"}"#,
    );
    let (o, v) = health_json(&d.env, &["--api-url", &url]);
    assert_eq!(v["backend"]["status"], "degraded", "{v}");
    assert_eq!(o.code, 1, "{}", dump(&o));
    // Not an http:// URL: unhealthy with the reason.
    let (o, v) = health_json(&d.env, &["--api-url", "https://slm.example"]);
    assert_eq!(v["backend"]["status"], "unhealthy");
    assert!(
        v["backend"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("only http://")
    );
    assert_eq!(o.code, 2);
}

/// The probe keeps its connection in a pool between samples, as the app's pool does, and a
/// restarted server costs no failed sample: the dead connection is replaced within the sample.
#[test]
fn probes_reuse_a_pooled_connection_and_survive_a_server_restart() {
    use slm_wizard::db::Settings;
    use slm_wizard::health::{Failure, ProbeConfig, command::prepare, probe::probe};

    let c = PgCluster::start();
    app_roles(&c);
    let db = unique("slm_users");
    c.psql(&format!("CREATE DATABASE {db} OWNER slm_app"));
    let url = format!(
        "postgresql+asyncpg://slm_app:{SLM_PW}@127.0.0.1:{}/{db}",
        c.port
    );
    let settings = Settings::from_pairs(vec![
        ("SLM_USERS_DATABASE_URL".to_string(), url),
        ("SLM_DB_POOL_SIZE".to_string(), "2".to_string()),
        ("SLM_DB_POOL_MAX_OVERFLOW".to_string(), "1".to_string()),
    ]);
    let targets = prepare("slm_users", None, None, settings).expect("targets");
    let target = &targets[0];
    let cfg = ProbeConfig {
        timeout: Duration::from_secs(3),
        ..Default::default()
    };
    let backends = || {
        c.psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"
        ))
        .trim()
        .to_string()
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sample = || rt.block_on(probe(target, &cfg));
    let pool_of = |s: &slm_wizard::health::DbSample| {
        assert_eq!(s.details.failure, None, "{:?}", s.details);
        assert!(s.details.connected);
        s.details.pool.clone().expect("pool details")
    };

    let first = pool_of(&sample());
    assert!(!first.reused);
    assert_eq!((first.size, first.max_overflow, first.open), (2, 1, 1));
    for _ in 0..3 {
        let next = pool_of(&sample());
        assert!(next.reused, "{next:?}");
        assert_eq!(next.open, 1);
    }
    // One connection on the server, kept between samples (the login check's is closed).
    let t0 = Instant::now();
    while backends() != "1" && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(backends(), "1");

    // Restarted under the probe: the next sample logs in again and is fine.
    c.stop();
    c.start_again();
    let after_restart = pool_of(&sample());
    assert!(!after_restart.reused);
    assert_eq!(after_restart.open, 1);

    // Down: unreachable with the real reason (not the pool's "timed out"), then back.
    c.stop();
    let down = sample();
    assert_eq!(down.details.failure, Some(Failure::Unreachable), "{down:?}");
    assert!(down.details.probe_ms < 2000.0, "{down:?}");
    c.start_again();
    assert!(!pool_of(&sample()).reused);
    assert!(pool_of(&sample()).reused);
}

#[test]
fn the_apps_pools_must_fit_the_server() {
    let d = Dbs::create();
    d.migrate();
    let mut env = d.env.clone();
    env.push(("SLM_DB_POOL_SIZE".into(), "40".into()));
    let (o, v) = health_json(&env, &[]);
    assert_eq!(o.code, 1, "{}", dump(&o));
    // slm and slm_users share the server with autobot_users here: 3 pools of 40 + 10.
    for db in ["slm", "slm_users", "autobot_users"] {
        let e = &v["databases"][db];
        assert_eq!(e["status"], "degraded", "{e}");
        let reason = e["details"]["reasons"][0].as_str().unwrap_or_default();
        assert!(
            reason.starts_with(
                "the app's pools may open 150 connections (3 databases × (40 + 10 overflow))"
            ),
            "{reason}"
        );
        assert_eq!(e["details"]["pool"]["size"], 40);
        assert_eq!(e["details"]["pool"]["pools_on_server"], 3);
    }
}

/// `health -i` on a deployment whose SLM server cannot be reached over SSH: every database is
/// in the JSON, unhealthy for the tunnel's reason, and nothing of the -e passwords shows.
#[test]
fn a_deployment_behind_an_unreachable_slm_server_is_reported_not_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yml");
    std::fs::write(
        &inv,
        "all:\n  children:\n    slm_server:\n      hosts:\n        slm: {ansible_host: 127.0.0.1, ansible_port: 1}\n    redis_vm:\n      hosts:\n        redis: {ansible_host: 127.0.0.2}\n",
    )
    .unwrap();
    let playbook = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/playbooks/user-management-db.yml"
    );
    let slm_pw = format!("slm_db_password={SLM_PW}");
    let autobot_pw = format!("autobot_db_password={AUTOBOT_PW}");
    let state = dir.path().join("state").display().to_string();
    let (o, v) = health_json(
        &[("XDG_STATE_HOME".into(), state)],
        &[
            "-i",
            &inv.display().to_string(),
            "--playbook",
            playbook,
            "-e",
            &slm_pw,
            "-e",
            &autobot_pw,
        ],
    );
    assert_eq!(o.code, 2, "{}", dump(&o));
    for db in ["slm", "slm_users", "autobot_users"] {
        let d = &v["databases"][db]["details"];
        assert_eq!(v["databases"][db]["status"], "unhealthy", "{}", dump(&o));
        assert_eq!(d["failure"], "tunnel", "{}", dump(&o));
        assert!(
            d["reasons"][0]
                .as_str()
                .unwrap_or_default()
                .starts_with("SSH tunnel failed: "),
            "{}",
            dump(&o)
        );
    }
    assert_eq!(
        v["databases"]["autobot_users"]["details"]["target"],
        "autobot_app@127.0.0.2:5432/autobot_users"
    );
    assert!(!o.stdout.contains(SLM_PW) && !o.stderr.contains(SLM_PW));
    assert!(!o.stdout.contains(AUTOBOT_PW) && !o.stderr.contains(AUTOBOT_PW));
}

/// `doctor -i` on a deployment that never ran (no stored secrets, no URLs): the missing settings
/// are a failed check with the fix, and the hosts are still checked.
#[test]
fn doctor_on_a_deployment_that_never_ran_still_checks_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yml");
    std::fs::write(
        &inv,
        "all:\n  children:\n    slm_server:\n      hosts:\n        slm: {ansible_host: 127.0.0.1, ansible_port: 1}\n",
    )
    .unwrap();
    let playbook = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/playbooks/user-management-db.yml"
    );
    let state = dir.path().join("state").display().to_string();
    let o = bin(
        &[("XDG_STATE_HOME".into(), state)],
        &[
            "doctor",
            "--timeout",
            "3",
            "-i",
            &inv.display().to_string(),
            "--playbook",
            playbook,
        ],
    );
    assert_eq!(o.code, 1, "{}", dump(&o));
    assert!(
        o.stdout.contains(
            "[FAIL] deployment: database settings — no secrets are stored for this deployment yet"
        ),
        "{}",
        dump(&o)
    );
    assert!(
        o.stdout.contains("fix: run the deployment first"),
        "{}",
        dump(&o)
    );
    assert!(
        o.stdout
            .contains("[FAIL] slm: PostgreSQL service running (pg_lsclusters)"),
        "{}",
        dump(&o)
    );
    assert!(!o.stdout.contains("server reachable"), "{}", dump(&o));
}
