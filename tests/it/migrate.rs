//! `slm-wizard migrate` against a real PostgreSQL 15 cluster: databases owned by unprivileged app
//! users (as the playbook creates them), migrations applied as those users.

use crate::support::cmd;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use cmd::{BIN, Output, PgCluster, run_with_timeout, unique};
use slm_wizard::db::migrate::sha256_hex;

/// Passwords with characters that must be %-encoded in a URL ('/' stays raw, as Jinja's
/// `urlencode` filter leaves it).
const SLM_PW: &str = "slm@pp/Te%st:pw-0123456789";
const AUTOBOT_PW: &str = "autobot@pp/Te%st:pw-9876543210";

const USER_TABLES: &str = "api_keys,audit_log,migrations_applied,roles,sessions,user_roles,users";

/// The shared cluster with the two app roles of the spec (LOGIN, no other attribute).
fn pg() -> &'static PgCluster {
    static ROLES: OnceLock<()> = OnceLock::new();
    let c = PgCluster::shared(module_path!());
    ROLES.get_or_init(|| {
        for (role, pw) in [("slm_app", SLM_PW), ("autobot_app", AUTOBOT_PW)] {
            c.psql(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD '{pw}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
            ));
        }
    });
    c
}

/// Jinja's `urlencode`: everything but unreserved characters and '/'.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The three databases of one test, owned by the app users, CONNECT revoked from PUBLIC.
struct Dbs {
    slm: String,
    slm_users: String,
    autobot_users: String,
}

impl Dbs {
    fn create() -> Self {
        let c = pg();
        let d = Dbs {
            slm: unique("slm"),
            slm_users: unique("slm_users"),
            autobot_users: unique("autobot_users"),
        };
        for (db, owner) in [
            (&d.slm, "slm_app"),
            (&d.slm_users, "slm_app"),
            (&d.autobot_users, "autobot_app"),
        ] {
            c.psql(&format!("CREATE DATABASE {db} OWNER {owner}"));
            c.psql(&format!("REVOKE CONNECT ON DATABASE {db} FROM PUBLIC"));
        }
        d
    }

    fn url(&self, var: &str) -> String {
        let port = pg().port;
        match var {
            // The SLM backend's SQLAlchemy form and the libpq form.
            "SLM_DATABASE_URL" => format!(
                "postgresql+asyncpg://slm_app:{}@127.0.0.1:{port}/{}",
                urlencode(SLM_PW),
                self.slm
            ),
            "SLM_USERS_DATABASE_URL" => format!(
                "postgresql+asyncpg://slm_app:{}@127.0.0.1:{port}/{}",
                urlencode(SLM_PW),
                self.slm_users
            ),
            "AUTOBOT_USERS_DATABASE_URL" => format!(
                "postgres://autobot_app:{}@127.0.0.1:{port}/{}",
                urlencode(AUTOBOT_PW),
                self.autobot_users
            ),
            other => panic!("no URL for {other}"),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            "SLM_DATABASE_URL",
            "SLM_USERS_DATABASE_URL",
            "AUTOBOT_USERS_DATABASE_URL",
        ]
        .iter()
        .map(|v| (v.to_string(), self.url(v)))
        .collect()
    }

    /// SQL as slm_app in this test's slm_users.
    fn slm_users_sql(&self, sql: &str) -> String {
        app_psql("slm_app", SLM_PW, &self.slm_users, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// Runs SQL over TCP as an app user (password auth), as the SLM backend connects.
fn app_psql(user: &str, pw: &str, db: &str, sql: &str) -> Result<String, String> {
    let mut c = Command::new("psql");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &pg().port.to_string(),
        "-U",
        user,
        "-d",
        db,
        "-w",
        "-v",
        "ON_ERROR_STOP=1",
        "-XAtc",
        sql,
    ])
    .env("PGPASSWORD", pw)
    .env("PGCONNECT_TIMEOUT", "5")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let o = run_with_timeout(c, Duration::from_secs(30));
    if o.code == 0 {
        Ok(o.stdout.trim_end_matches('\n').to_string())
    } else {
        Err(o.stderr)
    }
}

/// `slm-wizard migrate ARGS` with exactly the given database settings in its environment.
fn migrate(env: &[(String, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("migrate").args(args);
    for v in [
        "SLM_DATABASE_URL",
        "SLM_USERS_DATABASE_URL",
        "AUTOBOT_USERS_DATABASE_URL",
        "SLM_WIZARD_MIGRATIONS_DIR",
        "PGPASSWORD",
        "PGUSER",
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGPASSFILE",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_with_timeout(cmd, Duration::from_secs(90))
}

fn dump(o: &Output) -> String {
    format!(
        "exit code {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.code, o.stdout, o.stderr
    )
}

#[track_caller]
fn assert_code(o: &Output, code: i32) {
    assert_eq!(o.code, code, "unexpected exit code\n{}", dump(o));
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The `--status` row of a database and migration: (state, applied_at).
fn status_row(o: &Output, db: &str, name: &str) -> Option<(String, String)> {
    o.stdout.lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.len() >= 4 && cols[0] == db && cols[1] == name)
            .then(|| (cols[2].to_string(), cols[3..].join(" ")))
    })
}

#[test]
fn applies_the_user_management_schema_once_as_the_app_user() {
    let dbs = Dbs::create();
    let env = dbs.env();

    // Status first: everything pending, nothing created.
    let st = migrate(&env, &["--status"]);
    assert_code(&st, 0);
    assert!(st.stdout.starts_with("DATABASE"), "{}", dump(&st));
    for db in ["slm_users", "autobot_users"] {
        let (state, at) = status_row(&st, db, "0001_user_management.sql")
            .unwrap_or_else(|| panic!("no status row for {db}\n{}", dump(&st)));
        assert_eq!((state.as_str(), at.as_str()), ("pending", "-"));
    }
    assert!(st.stdout.contains("(no migrations)"), "{}", dump(&st));
    assert_eq!(
        dbs.slm_users_sql(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ),
        "0",
        "--status must not create anything"
    );

    // Apply all three databases.
    let o = migrate(&env, &[]);
    assert_code(&o, 0);
    for line in [
        "slm: nothing to do (no migrations)",
        "slm_users: applied 0001_user_management.sql",
        "autobot_users: applied 0001_user_management.sql",
        "slm_users: 1 applied, 1 in total",
        "migrate: 2 applied (3 databases up to date)",
    ] {
        assert!(o.stdout.contains(line), "missing {line:?}\n{}", dump(&o));
    }

    // The tables exist, seen by the app users themselves, owned by them.
    let tables = "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'";
    assert_eq!(dbs.slm_users_sql(tables), USER_TABLES);
    assert_eq!(
        app_psql("autobot_app", AUTOBOT_PW, &dbs.autobot_users, tables).unwrap(),
        USER_TABLES
    );
    assert_eq!(
        app_psql("slm_app", SLM_PW, &dbs.slm, tables).unwrap(),
        "migrations_applied"
    );
    assert_eq!(
        dbs.slm_users_sql(
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"
        ),
        "slm_app"
    );
    // Least privilege: the app user is no superuser and cannot create databases or roles.
    assert_eq!(
        dbs.slm_users_sql(
            "SELECT rolsuper::text || rolcreatedb::text || rolcreaterole::text FROM pg_roles WHERE rolname = current_user"
        ),
        "falsefalsefalse"
    );

    // Recorded with the file's sha256.
    let sql = include_str!("../../assets/migrations/slm_users/0001_user_management.sql");
    let recorded = dbs.slm_users_sql("SELECT name || ' ' || checksum FROM migrations_applied");
    assert_eq!(
        recorded,
        format!("0001_user_management.sql {}", sha256_hex(sql.as_bytes()))
    );
    let applied_at = dbs.slm_users_sql("SELECT applied_at FROM migrations_applied");

    // The schema behaves: case-insensitive unique names, cascades, checks, seeded roles.
    assert_eq!(
        dbs.slm_users_sql("SELECT string_agg(name, ',' ORDER BY name) FROM roles"),
        "admin,operator,viewer"
    );
    dbs.slm_users_sql("INSERT INTO users (username, email) VALUES ('Alice', 'Alice@example.org')");
    let dup = app_psql(
        "slm_app",
        SLM_PW,
        &dbs.slm_users,
        "INSERT INTO users (username) VALUES ('alice')",
    )
    .unwrap_err();
    assert!(dup.contains("users_username_lower_key"), "{dup}");
    let bad = app_psql(
        "slm_app",
        SLM_PW,
        &dbs.slm_users,
        "INSERT INTO users (username) VALUES ('has space')",
    )
    .unwrap_err();
    assert!(bad.contains("users_username_check"), "{bad}");
    dbs.slm_users_sql(&format!(
        "INSERT INTO sessions (user_id, token_hash, expires_at) SELECT id, '{}', now() + interval '1 hour' FROM users;
         INSERT INTO api_keys (user_id, name, key_prefix, key_hash) SELECT id, 'ci', 'slm_ab12', '{}' FROM users;
         INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r WHERE r.name = 'admin';
         INSERT INTO audit_log (user_id, actor, action, details) SELECT id, username, 'login', '{{\"ok\": true}}' FROM users;",
        sha256_hex(b"token"),
        sha256_hex(b"key")
    ));
    dbs.slm_users_sql("DELETE FROM users");
    assert_eq!(
        dbs.slm_users_sql(
            "SELECT (SELECT count(*) FROM sessions) || ',' || (SELECT count(*) FROM api_keys) || ',' || (SELECT count(*) FROM user_roles) || ',' || (SELECT count(*) FROM audit_log WHERE user_id IS NULL)"
        ),
        "0,0,0,1",
        "sessions, keys and role grants go with the user; the audit entry stays"
    );

    // Second run: nothing to do, nothing touched.
    let again = migrate(&env, &[]);
    assert_code(&again, 0);
    assert!(
        again
            .stdout
            .contains("slm_users: nothing to do (1 already applied)")
            && again
                .stdout
                .contains("migrate: nothing to do (3 databases up to date)"),
        "{}",
        dump(&again)
    );
    assert!(!again.stdout.contains("applied 0001"), "{}", dump(&again));
    assert_eq!(
        dbs.slm_users_sql("SELECT count(*) || ' ' || max(applied_at) FROM migrations_applied"),
        format!("1 {applied_at}")
    );

    // Status: applied, with the time.
    let st = migrate(&env, &["--status"]);
    assert_code(&st, 0);
    for db in ["slm_users", "autobot_users"] {
        let (state, at) = status_row(&st, db, "0001_user_management.sql")
            .unwrap_or_else(|| panic!("no status row for {db}\n{}", dump(&st)));
        assert_eq!(state, "applied", "{}", dump(&st));
        assert!(
            at.ends_with(" UTC") && at.len() == "2026-01-01 00:00:00 UTC".len(),
            "{at}"
        );
    }

    // One database at a time.
    let one = migrate(&env, &["--database", "autobot_users"]);
    assert_code(&one, 0);
    assert_eq!(
        one.stdout.trim(),
        "autobot_users: nothing to do (1 already applied)\nmigrate: nothing to do (1 database up to date)"
    );
}

#[test]
fn a_changed_or_missing_applied_migration_is_refused() {
    let dbs = Dbs::create();
    let env = dbs.env();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    write(
        dir.path(),
        "slm_users/0001_a.sql",
        "CREATE TABLE a1 (id int);\n",
    );
    let o = migrate(&env, &["--database", "slm_users", "--migrations-dir", &d]);
    assert_code(&o, 0);
    assert!(
        o.stdout.contains("slm_users: applied 0001_a.sql"),
        "{}",
        dump(&o)
    );

    // Edit the applied file and add a new one: refused, nothing applied.
    write(
        dir.path(),
        "slm_users/0001_a.sql",
        "CREATE TABLE a1 (id int); -- edited\n",
    );
    write(
        dir.path(),
        "slm_users/0002_b.sql",
        "CREATE TABLE b1 (id int);\n",
    );
    // The folder may also come from the environment.
    let mut env_dir = env.clone();
    env_dir.push(("SLM_WIZARD_MIGRATIONS_DIR".into(), d.clone()));
    let o = migrate(&env_dir, &["--database", "slm_users"]);
    assert_code(&o, 1);
    assert!(
        o.stderr
            .contains("slm_users: 0001_a.sql was changed after it was applied"),
        "{}",
        dump(&o)
    );
    assert!(o.stderr.contains("nothing was applied"), "{}", dump(&o));
    assert!(!o.stdout.contains("applied 0002_b.sql"), "{}", dump(&o));
    assert_eq!(
        dbs.slm_users_sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'b1'"),
        "0"
    );
    assert_eq!(
        dbs.slm_users_sql("SELECT string_agg(name, ',') FROM migrations_applied"),
        "0001_a.sql"
    );
    let st = migrate(&env_dir, &["--database", "slm_users", "--status"]);
    assert_code(&st, 1);
    assert_eq!(
        status_row(&st, "slm_users", "0001_a.sql").unwrap().0,
        "changed"
    );
    assert_eq!(
        status_row(&st, "slm_users", "0002_b.sql").unwrap(),
        ("pending".to_string(), "-".to_string())
    );

    // Restored: the new one applies.
    write(
        dir.path(),
        "slm_users/0001_a.sql",
        "CREATE TABLE a1 (id int);\n",
    );
    let o = migrate(&env_dir, &["--database", "slm_users"]);
    assert_code(&o, 0);
    assert!(
        o.stdout.contains("slm_users: applied 0002_b.sql"),
        "{}",
        dump(&o)
    );
    assert!(!o.stdout.contains("applied 0001_a.sql"), "{}", dump(&o));

    // An applied file that disappeared: refused too.
    std::fs::remove_file(dir.path().join("slm_users/0001_a.sql")).unwrap();
    write(
        dir.path(),
        "slm_users/0003_c.sql",
        "CREATE TABLE c1 (id int);\n",
    );
    let o = migrate(&env_dir, &["--database", "slm_users"]);
    assert_code(&o, 1);
    assert!(
        o.stderr.contains(
            "slm_users: 0001_a.sql is recorded as applied but is not among the migrations"
        ),
        "{}",
        dump(&o)
    );
    assert_eq!(
        dbs.slm_users_sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'c1'"),
        "0"
    );
    let st = migrate(&env_dir, &["--database", "slm_users", "--status"]);
    assert_code(&st, 1);
    assert_eq!(
        status_row(&st, "slm_users", "0001_a.sql").unwrap().0,
        "missing"
    );
}

#[test]
fn a_broken_migration_is_rolled_back_entirely() {
    let dbs = Dbs::create();
    let env = dbs.env();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    write(
        dir.path(),
        "slm_users/0001_ok.sql",
        "CREATE TABLE ok1 (id int);\n",
    );
    write(
        dir.path(),
        "slm_users/0002_broken.sql",
        "CREATE TABLE broken_a (id int);\nCREATE TABLE broken_b (id int);\nINSERT INTO broken_a VALUES (1);\nINSERT INTO no_such_table VALUES (1);\n",
    );
    write(
        dir.path(),
        "slm_users/0003_after.sql",
        "CREATE TABLE after1 (id int);\n",
    );
    let o = migrate(&env, &["--database", "slm_users", "--migrations-dir", &d]);
    assert_code(&o, 1);
    assert!(
        o.stdout.contains("slm_users: applied 0001_ok.sql"),
        "{}",
        dump(&o)
    );
    assert!(
        o.stderr.contains(
            "slm_users: 0002_broken.sql:4: relation \"no_such_table\" does not exist (SQLSTATE 42P01)"
        ),
        "{}",
        dump(&o)
    );
    assert!(o.stderr.contains("rolled back"), "{}", dump(&o));
    assert!(
        o.stdout
            .contains("migrate: 1 applied, 1 of 1 database failed"),
        "{}",
        dump(&o)
    );
    assert_eq!(
        dbs.slm_users_sql(
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'"
        ),
        "migrations_applied,ok1",
        "nothing of 0002 (and nothing after it) may remain"
    );
    assert_eq!(
        dbs.slm_users_sql("SELECT string_agg(name, ',') FROM migrations_applied"),
        "0001_ok.sql"
    );

    // Fixed: applies from 0002 on.
    write(
        dir.path(),
        "slm_users/0002_broken.sql",
        "CREATE TABLE broken_a (id int);\nCREATE TABLE broken_b (id int);\n",
    );
    let o = migrate(&env, &["--database", "slm_users", "--migrations-dir", &d]);
    assert_code(&o, 0);
    assert!(
        o.stdout.contains("applied 0002_broken.sql") && o.stdout.contains("applied 0003_after.sql"),
        "{}",
        dump(&o)
    );
}

#[test]
fn a_wrong_password_is_an_auth_error_that_does_not_show_the_password() {
    let dbs = Dbs::create();
    let wrong = "Wrong-Pass-424242";
    let env = vec![(
        "SLM_USERS_DATABASE_URL".to_string(),
        format!(
            "postgresql+asyncpg://slm_app:{wrong}@127.0.0.1:{}/{}",
            pg().port,
            dbs.slm_users
        ),
    )];
    for args in [
        &["--database", "slm_users"][..],
        &["--database", "slm_users", "--status"],
    ] {
        let o = migrate(&env, args);
        assert_code(&o, 1);
        assert!(
            o.stderr
                .contains("slm_users: authentication failed for slm_app@127.0.0.1:")
                && o.stderr.contains("SLM_USERS_DATABASE_URL"),
            "{}",
            dump(&o)
        );
        assert!(
            !o.stdout.contains(wrong) && !o.stderr.contains(wrong),
            "{}",
            dump(&o)
        );
    }
    assert_eq!(
        pg().psql_db(
            &dbs.slm_users,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ),
        "0"
    );

    // Nothing listening: a connection error naming the database.
    let port = free_port();
    let env = vec![(
        "SLM_USERS_DATABASE_URL".to_string(),
        format!("postgres://slm_app:{wrong}@127.0.0.1:{port}/slm_users"),
    )];
    let o = migrate(&env, &["--database", "slm_users", "--connect-timeout", "5"]);
    assert_code(&o, 1);
    assert!(
        o.stderr.contains(&format!(
            "slm_users: cannot connect to slm_app@127.0.0.1:{port}/slm_users"
        )),
        "{}",
        dump(&o)
    );
    assert!(!o.stderr.contains(wrong), "{}", dump(&o));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[test]
fn the_env_file_written_by_the_playbook_supplies_the_urls() {
    let dbs = Dbs::create();
    let dir = tempfile::tempdir().unwrap();
    // As playbooks/templates/database.env.j2 renders it.
    let text = format!(
        "# Managed by slm-wizard (playbooks/user-management-db.yml). Read by the SLM backend.\n\
         SLM_DATABASE_URL=\"{}\"\n\
         SLM_USERS_DATABASE_URL=\"{}\"\n\
         AUTOBOT_USERS_DATABASE_URL=\"{}\"\n\
         SLM_DB_POOL_SIZE=20\n\
         SLM_DB_POOL_MAX_OVERFLOW=10\n\
         SLM_DB_POOL_RECYCLE=3600\n",
        dbs.url("SLM_DATABASE_URL"),
        dbs.url("SLM_USERS_DATABASE_URL"),
        dbs.url("AUTOBOT_USERS_DATABASE_URL"),
    );
    write(dir.path(), "database.env", &text);
    let f = dir.path().join("database.env").display().to_string();
    // The environment points elsewhere; the file named on the command line wins.
    let env = vec![(
        "SLM_USERS_DATABASE_URL".to_string(),
        "postgres://nobody@127.0.0.1:1/nothing".to_string(),
    )];
    let o = migrate(&env, &["--env-file", &f, "--database", "slm_users"]);
    assert_code(&o, 0);
    assert!(
        o.stdout
            .contains("slm_users: applied 0001_user_management.sql"),
        "{}",
        dump(&o)
    );
    let st = migrate(&[], &["--env-file", &f, "--status"]);
    assert_code(&st, 0);
    assert_eq!(
        status_row(&st, "slm_users", "0001_user_management.sql")
            .unwrap()
            .0,
        "applied"
    );
    assert_eq!(
        status_row(&st, "autobot_users", "0001_user_management.sql")
            .unwrap()
            .0,
        "pending"
    );
    assert!(
        !st.stdout.contains("Te%st") && !st.stdout.contains("Te%25st"),
        "{}",
        dump(&st)
    );
}

#[test]
fn bad_input_exits_5_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    type Env = Vec<(String, String)>;
    let cases: Vec<(Env, Vec<String>, &str)> = vec![
        (
            vec![],
            vec!["--database".into(), "users".into()],
            "unknown database 'users'",
        ),
        (
            vec![],
            vec!["--env-file".into(), format!("{d}/missing.env")],
            "missing.env: cannot read",
        ),
        (
            vec![(
                "SLM_DATABASE_URL".into(),
                "mysql://slm_app:Secret-In-Url-77@127.0.0.1/slm".into(),
            )],
            vec![],
            "SLM_DATABASE_URL: unsupported scheme 'mysql'",
        ),
        (
            vec![(
                "AUTOBOT_USERS_DATABASE_URL".into(),
                "postgres://autobot_app:Secret-In-Url-77@127.0.0.1:54x/autobot_users".into(),
            )],
            vec!["--database".into(), "autobot_users".into()],
            "AUTOBOT_USERS_DATABASE_URL: the port is not a number",
        ),
    ];
    for (env, args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = migrate(&env, &args);
        assert_code(&o, 5);
        assert!(o.stderr.contains(want), "want {want:?}\n{}", dump(&o));
        assert!(!o.stderr.contains("Secret-In-Url-77"), "{}", dump(&o));
    }
    // A migration file with a bad name, or one that manages its own transaction.
    write(dir.path(), "slm_users/1_bad.sql", "SELECT 1;");
    let o = migrate(&[], &["--database", "slm_users", "--migrations-dir", &d]);
    assert_code(&o, 5);
    assert!(
        o.stderr
            .contains("1_bad.sql: a migration's name must be NNNN_name.sql"),
        "{}",
        dump(&o)
    );
    std::fs::remove_file(dir.path().join("slm_users/1_bad.sql")).unwrap();
    write(
        dir.path(),
        "slm_users/0001_tx.sql",
        "BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n",
    );
    let o = migrate(&[], &["--database", "slm_users", "--migrations-dir", &d]);
    assert_code(&o, 5);
    assert!(
        o.stderr.contains("0001_tx.sql: line 1: 'BEGIN;'"),
        "{}",
        dump(&o)
    );
}

#[test]
fn concurrent_runs_apply_each_migration_once() {
    let dbs = Dbs::create();
    let env = dbs.env();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    write(
        dir.path(),
        "slm_users/0001_slow.sql",
        "CREATE TABLE slow1 (id int);\nSELECT pg_sleep(1);\n",
    );
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let env = env.clone();
            let d = d.clone();
            std::thread::spawn(move || {
                migrate(&env, &["--database", "slm_users", "--migrations-dir", &d])
            })
        })
        .collect();
    let outs: Vec<Output> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    for o in &outs {
        assert_code(o, 0);
    }
    let applied = outs
        .iter()
        .filter(|o| o.stdout.contains("applied 0001_slow.sql"))
        .count();
    assert_eq!(applied, 1, "{}\n{}", dump(&outs[0]), dump(&outs[1]));
    assert_eq!(
        dbs.slm_users_sql("SELECT count(*) FROM migrations_applied"),
        "1"
    );
}

/// The library call the wizard makes after a deployment: one outcome per database, in order,
/// each reported as it finishes; a failure carries its reason and never the password.
#[test]
fn migrate_targets_reports_each_database() {
    use slm_wizard::db::{DbName, Settings};
    use slm_wizard::health::migrate::{MigrateOutcome, MigrateResult, migrate_targets};
    use slm_wizard::health::source::prepare;

    let dbs = Dbs::create();
    let mut env = dbs.env();
    let wrong = "Wrong-Pass-535353";
    for (k, v) in env.iter_mut() {
        if k == "AUTOBOT_USERS_DATABASE_URL" {
            *v = format!(
                "postgres://autobot_app:{wrong}@127.0.0.1:{}/{}",
                pg().port,
                dbs.autobot_users
            );
        }
    }
    let targets = prepare("all", None, None, Settings::from_pairs(env)).expect("targets");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let run = || {
        let mut seen: Vec<String> = Vec::new();
        let mut on_event = |o: &MigrateOutcome| seen.push(o.line());
        let outcomes = rt.block_on(migrate_targets(
            &targets,
            Duration::from_secs(5),
            &mut on_event,
        ));
        (outcomes, seen)
    };
    let (outcomes, seen) = run();
    let dbs_in_order: Vec<DbName> = outcomes.iter().map(|o| o.db).collect();
    assert_eq!(dbs_in_order, DbName::ALL.to_vec());
    assert_eq!(outcomes[0].result, MigrateResult::AlreadyApplied(0));
    assert_eq!(
        outcomes[1].result,
        MigrateResult::Applied(vec!["0001_user_management.sql".into()])
    );
    let MigrateResult::Failed(why) = &outcomes[2].result else {
        panic!("{:?}", outcomes[2]);
    };
    assert!(
        why.starts_with("autobot_users: authentication failed for autobot_app@127.0.0.1:"),
        "{why}"
    );
    assert!(!why.contains(wrong), "{why}");
    assert_eq!(
        seen,
        [
            "slm: nothing to do (no migrations)".to_string(),
            "slm_users: 1 applied (0001_user_management.sql)".to_string(),
            format!("autobot_users: failed: {why}"),
        ]
    );
    // Again: nothing left where it worked.
    let (outcomes, _) = run();
    assert_eq!(outcomes[1].result, MigrateResult::AlreadyApplied(1));
    assert!(matches!(outcomes[2].result, MigrateResult::Failed(_)));
}
