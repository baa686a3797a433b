//! `slm-wizard health` and `doctor` against real PostgreSQL 15 clusters: databases owned by
//! unprivileged app users, probed as those users.

use crate::support::cmd;
use crate::support::tmux;

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cmd::{BIN, Output, PgCluster, run_with_timeout, unique};
use serde_json::Value;
use tmux::Session;

const SLM_PW: &str = "slm-health-pw-0123456789";
const AUTOBOT_PW: &str = "autobot-health-pw-9876543210";

fn pg() -> &'static PgCluster {
    static ROLES: OnceLock<()> = OnceLock::new();
    let c = PgCluster::shared(module_path!());
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
    use slm_wizard::health::{Failure, ProbeConfig, probe::probe, source::prepare};

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

/// A cluster of this test alone (its pg_hba.conf is changed) with one database of the app.
fn own_cluster() -> (PgCluster, String, String) {
    let c = PgCluster::start();
    app_roles(&c);
    let db = unique("slm_users");
    c.psql(&format!("CREATE DATABASE {db} OWNER slm_app"));
    c.psql(&format!("REVOKE CONNECT ON DATABASE {db} FROM PUBLIC"));
    let url = format!(
        "postgresql+asyncpg://slm_app:{SLM_PW}@127.0.0.1:{}/{db}",
        c.port
    );
    (c, db, url)
}

/// Removes (`false`) or restores (`true`) the pg_hba.conf line that admits TCP logins from
/// 127.0.0.1, and reloads, as an operator would with `systemctl reload`.
fn hba_allows_localhost(c: &PgCluster, allow: bool) {
    let path = c.data.join("pg_hba.conf");
    let text = std::fs::read_to_string(&path).expect("pg_hba.conf");
    let line = "host    all             all             127.0.0.1/32            scram-sha-256";
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !(l.starts_with("host") && l.contains("127.0.0.1/32")))
        .collect();
    let mut new = kept.join("\n");
    if allow {
        new.push('\n');
        new.push_str(line);
    }
    new.push('\n');
    std::fs::write(&path, new).expect("write pg_hba.conf");
    assert_eq!(c.psql("SELECT pg_reload_conf()"), "t");
    // The postmaster rereads the file on SIGHUP, asynchronously.
    std::thread::sleep(Duration::from_millis(300));
}

/// Pooled connections were authenticated before: every refusal of new logins (pg_hba, password,
/// connection limit, CONNECT privilege, login right, dropped database) still shows at the next
/// sample, with a reason naming the real cause, while latency and pool figures keep coming.
#[test]
fn refusals_of_new_logins_show_at_the_next_sample_with_their_cause() {
    use slm_wizard::db::Settings;
    use slm_wizard::health::{Failure, ProbeConfig, Status, probe::probe, source::prepare};

    let (c, db, url) = own_cluster();
    let settings = Settings::from_pairs(vec![("SLM_USERS_DATABASE_URL".to_string(), url)]);
    let targets = prepare("slm_users", None, None, settings).expect("targets");
    let target = &targets[0];
    let cfg = ProbeConfig {
        timeout: Duration::from_secs(3),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sample = || rt.block_on(probe(target, &cfg));
    let healthy_and_pooled = |what: &str| {
        let s = sample();
        assert_eq!(s.details.failure, None, "{what}: {:?}", s.details);
        assert_ne!(s.status, Status::Unhealthy, "{what}: {:?}", s.details);
        assert!(s.details.login_ms.is_some(), "{what}: {:?}", s.details);
        s
    };
    healthy_and_pooled("first");
    assert!(
        healthy_and_pooled("second")
            .details
            .pool
            .expect("pool")
            .reused
    );

    // Each change refuses new logins only; the probe's pooled connection keeps working.
    let refusals: [(&str, &str, &str, Failure, &str); 5] = [
        (
            "pg_hba",
            "",
            "",
            Failure::Hba,
            "refused by pg_hba.conf: no pg_hba.conf entry",
        ),
        (
            "password",
            "ALTER ROLE slm_app PASSWORD 'another-password-4711'",
            &format!("ALTER ROLE slm_app PASSWORD '{SLM_PW}'"),
            Failure::Auth,
            "check the password in SLM_USERS_DATABASE_URL",
        ),
        (
            "connection limit",
            "ALTER ROLE slm_app CONNECTION LIMIT 1",
            "ALTER ROLE slm_app CONNECTION LIMIT -1",
            Failure::TooManyConnections,
            "no connection slot for a new login: too many connections for role",
        ),
        (
            "CONNECT privilege",
            &format!("REVOKE CONNECT ON DATABASE {db} FROM slm_app"),
            &format!("GRANT CONNECT ON DATABASE {db} TO slm_app"),
            Failure::NoConnect,
            &format!("GRANT CONNECT ON DATABASE {db} TO slm_app"),
        ),
        (
            "login right",
            "ALTER ROLE slm_app NOLOGIN",
            "ALTER ROLE slm_app LOGIN",
            Failure::Auth,
            "ALTER ROLE slm_app LOGIN",
        ),
    ];
    for (what, break_it, restore, failure, reason) in refusals {
        if what == "pg_hba" {
            hba_allows_localhost(&c, false);
        } else {
            c.psql(break_it);
        }
        let s = sample();
        assert_eq!(s.status, Status::Unhealthy, "{what}: {:?}", s.details);
        assert_eq!(s.details.failure, Some(failure), "{what}: {:?}", s.details);
        let reasons = s.details.reasons.join("; ");
        assert!(reasons.contains(reason), "{what}: {reasons}");
        if what != "password" {
            assert!(!reasons.contains("check the password"), "{what}: {reasons}");
        }
        assert!(!reasons.contains(SLM_PW), "{what}: {reasons}");
        // Still measured over the pooled connection.
        let pool = s.details.pool.clone().expect("pool figures");
        assert!(pool.reused && pool.open >= 1, "{what}: {pool:?}");
        assert!(s.details.select1_ms.is_some(), "{what}: {:?}", s.details);
        if what == "pg_hba" {
            hba_allows_localhost(&c, true);
        } else {
            c.psql(restore);
        }
        healthy_and_pooled(&format!("after {what}"));
    }

    // The database dropped under the probe: its connections end, and the next login says why.
    c.psql(&format!("DROP DATABASE {db} WITH (FORCE)"));
    let s = sample();
    assert_eq!(
        s.details.failure,
        Some(Failure::NoDatabase),
        "{:?}",
        s.details
    );
    let reasons = s.details.reasons.join("; ");
    assert!(
        reasons.contains(&format!(
            "database {db} does not exist on 127.0.0.1:{}",
            c.port
        )),
        "{reasons}"
    );
}

/// `health --watch` (and so the dashboard, which runs the same sampler) turns unhealthy within
/// two intervals of a pg_hba.conf change that refuses the app's new logins, naming pg_hba.conf;
/// one-shot `health` and `migrate` give the same cause, not "check the password".
#[test]
fn watch_sees_a_pg_hba_refusal_within_two_intervals() {
    use std::io::BufRead;

    let (c, _db, url) = own_cluster();
    let env = vec![("SLM_USERS_DATABASE_URL".to_string(), url)];
    let o = bin(&env, &["migrate", "--database", "slm_users"]);
    assert_eq!(o.code, 0, "{}", dump(&o));
    let interval = 1.5;
    let mut cmd = Command::new(BIN);
    cmd.args([
        "health",
        "--watch",
        "--database",
        "slm_users",
        "--timeout",
        "2",
    ])
    .args(["--interval", &interval.to_string()])
    .env("NO_COLOR", "1")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    for v in VARS {
        cmd.env_remove(v);
    }
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("health --watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let mut next_row = |deadline: Duration| -> Option<(Instant, String)> {
        let t0 = Instant::now();
        while t0.elapsed() < deadline {
            let Ok((at, line)) = rx.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with("slm_users ") {
                return Some((at, line));
            }
        }
        None
    };
    // Two healthy samples: the second one over the pooled connection.
    for _ in 0..2 {
        let (_, row) = next_row(Duration::from_secs(10)).expect("a row");
        assert!(row.contains("  healthy  "), "{row}");
    }
    hba_allows_localhost(&c, false);
    let broken_at = Instant::now();
    // Rows keep coming while it stays green: give up well after two intervals.
    let refused = loop {
        let Some((at, row)) = next_row(Duration::from_secs(10)) else {
            break None;
        };
        if row.contains("unhealthy") {
            break Some((at, row));
        }
        if broken_at.elapsed() > Duration::from_secs_f64(4.0 * interval) {
            break None;
        }
    };
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let (at, row) = refused.unwrap_or_else(|| panic!("never unhealthy:\n{seen}"));
    let took = at.duration_since(broken_at);
    assert!(
        took < Duration::from_secs_f64(2.0 * interval),
        "unhealthy after {took:?} (interval {interval} s):\n{seen}"
    );
    assert!(row.contains("refused by pg_hba.conf"), "{row}");
    assert!(!row.contains("check the password"), "{row}");

    // One round, and migrate: the same cause.
    let (o, v) = health_json(&env, &["--database", "slm_users"]);
    assert_eq!(o.code, 2, "{}", dump(&o));
    let d = &v["databases"]["slm_users"]["details"];
    assert_eq!(d["failure"], "hba", "{d}");
    let reason = d["reasons"][0].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("refused by pg_hba.conf: no pg_hba.conf entry for host"),
        "{reason}"
    );
    assert!(
        reason.contains("no line of the server's pg_hba.conf admits slm_app"),
        "{reason}"
    );
    assert!(!reason.contains("check the password"), "{reason}");
    let m = bin(&env, &["migrate", "--database", "slm_users"]);
    assert_eq!(m.code, 1, "{}", dump(&m));
    assert!(
        m.stderr.contains("refused the login: no pg_hba.conf entry"),
        "{}",
        dump(&m)
    );
    assert!(!m.stderr.contains("check the password"), "{}", dump(&m));
}

/// `health --watch` without a terminal: every block shows the databases, the inventory's
/// database hosts and the backend, sampled by the same monitor as the dashboard (before, the
/// blocks held the databases only).
#[test]
fn watch_without_a_terminal_prints_the_hosts_and_the_backend_too() {
    let d = Dbs::create();
    d.migrate();
    let api = backend(
        r#"{"status":"healthy","version":"2.0.1","uptime_seconds":120,"nodes_online":2,"nodes_total":2}"#,
        r#"{"status":"healthy","database":"postgresql"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.yml");
    std::fs::write(
        &inv,
        "all:\n  children:\n    slm_server:\n      hosts:\n        watched-here: {ansible_connection: local}\n",
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["health", "--watch", "--interval", "0.3", "--timeout", "3"])
        .args(["--api-url", &api, "-i"])
        .arg(&inv)
        .env("NO_COLOR", "1")
        .env_remove("SLM_WIZARD_MIGRATIONS_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for v in VARS {
        cmd.env_remove(v);
    }
    for (k, v) in &d.env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(2500));
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let blocks: Vec<&str> = stdout.split("slm-wizard health — every").skip(1).collect();
    assert!(
        blocks.len() >= 2,
        "{} blocks:\n{stdout}\n{stderr}",
        blocks.len()
    );
    let last = blocks[blocks.len() - 1];
    // The databases as before…
    assert!(last.contains("overall: healthy"), "{last}");
    assert!(last.lines().any(|l| l.starts_with("slm_users ")), "{last}");
    // …the inventory's host, sampled (its state, whatever this machine runs)…
    let host = last
        .lines()
        .find(|l| l.starts_with("host watched-here: "))
        .unwrap_or_else(|| panic!("no host line:\n{last}"));
    assert!(host.contains(" (postgresql "), "{host}");
    // …and the backend.
    assert!(
        last.lines()
            .any(|l| l.starts_with(&format!("backend {api}: healthy (version 2.0.1"))),
        "{last}"
    );
    for (_, url) in &d.env {
        let pw = url.split(':').nth(2).and_then(|p| p.split('@').next());
        if let Some(pw) = pw {
            assert!(!stdout.contains(pw), "{stdout}");
        }
    }
}
