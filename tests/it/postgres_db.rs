//! postgresql_db and postgresql_ping with community.postgresql 4.2.0's results on a throwaway
//! cluster: `executed_commands` (empty in check mode), locales/comment/conn_limit/tablespace,
//! rename, dump/restore through pg_dump/pg_restore with a login password that never shows,
//! session_role and trust_input; and the small modules the peer target uses with them
//! (postgresql_tablespace, _schema, _table, _membership).

use crate::support::cmd;

use cmd::{PgCluster, Sandbox, unique};
use serde_json::{Value, json};

/// A play whose `pg` anchor holds the connection arguments (merge it with `<<: *pg`).
fn pg_play(tasks: &str) -> String {
    let body: String = tasks
        .trim_start_matches('\n')
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    format!(
        "- hosts: all\n  gather_facts: no\n  vars:\n    pgconn: &pg\n      port: \"{{{{ pg_port }}}}\"\n      login_unix_socket: \"{{{{ pg_sock }}}}\"\n  tasks:\n{body}"
    )
}

/// The module's `executed_commands` in a task_result event.
fn commands(event: &Value) -> Value {
    event["result"]["executed_commands"].clone()
}

#[test]
fn create_alter_comment_rename_drop_report_the_modules_statements() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let (db, db2, owner) = (unique("it_db"), unique("it_db2"), unique("it_owner"));
    pg.psql(&format!("CREATE ROLE {owner}"));
    let task = |name: &str, extra: &str| {
        format!(
            "- name: {name}\n  register: r\n  community.postgresql.postgresql_db:\n    <<: *pg\n    name: {db}\n{}",
            extra
                .lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        )
    };
    let create = pg_play(&task(
        "create",
        &format!(
            "owner: {owner}\ntemplate: template0\nencoding: LATIN1\nlc_collate: C\nlc_ctype: C\nconn_limit: '0'\ncomment: first"
        ),
    ));
    let r = sb.run(&create, &["--check"]);
    r.assert_ok();
    assert_eq!(r.status("create"), "changed", "{}", r.dump());
    assert_eq!(
        commands(r.result("create")),
        json!([]),
        "check mode runs nothing"
    );
    let r = sb.run(&create, &[]);
    r.assert_ok();
    assert_eq!(
        commands(r.result("create")),
        json!([
            format!(
                "CREATE DATABASE \"{db}\" OWNER \"{owner}\" TEMPLATE \"template0\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' CONNECTION LIMIT 0"
            ),
            format!("COMMENT ON DATABASE \"{db}\" IS 'first'"),
        ]),
        "{}",
        r.dump()
    );
    assert_eq!(r.result("create")["result"]["db"], json!(db));
    assert_eq!(
        pg.psql(&format!(
            "SELECT pg_encoding_to_char(encoding), datconnlimit, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{db}'"
        )),
        "LATIN1|0|first"
    );
    let r = sb.run(&create, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());

    // An encoding cannot change: a failure with the module's message; check mode says changed.
    let enc = pg_play(&task("enc", "encoding: UTF8"));
    let r = sb.run(&enc, &["--check"]);
    assert_eq!(r.status("enc"), "changed", "{}", r.dump());
    let r = sb.run(&enc, &[]);
    assert_eq!(r.status("enc"), "failed", "{}", r.dump());
    assert!(
        r.result("enc")["result"]["msg"]
            .as_str()
            .unwrap_or("")
            .starts_with("Changing database encoding is not supported. Current encoding: LATIN1"),
        "{}",
        r.dump()
    );

    let alter = pg_play(&task("alter", "conn_limit: 5\ncomment: ''"));
    let r = sb.run(&alter, &[]);
    r.assert_ok();
    assert_eq!(
        commands(r.result("alter")),
        json!([
            format!("ALTER DATABASE \"{db}\" CONNECTION LIMIT 5"),
            format!("COMMENT ON DATABASE \"{db}\" IS ''"),
        ])
    );
    let r = sb.run(&alter, &[]);
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());

    let rename = pg_play(&task("rename", &format!("state: rename\ntarget: {db2}")));
    let r = sb.run(&rename, &["--check"]);
    r.assert_ok();
    assert_eq!(r.status("rename"), "changed");
    assert_eq!(commands(r.result("rename")), json!([]));
    let r = sb.run(&rename, &[]);
    r.assert_ok();
    assert_eq!(
        commands(r.result("rename")),
        json!([format!("ALTER DATABASE \"{db}\" RENAME TO \"{db2}\"")])
    );
    let r = sb.run(&rename, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "renamed already: {}", r.dump());
    let no_target = pg_play(&task("rename", "state: rename"));
    let r = sb.run(&no_target, &[]);
    assert_eq!(
        r.result("rename")["result"]["msg"],
        json!(r#"The "target" option must be defined when the "rename" option is used."#)
    );

    let drop = pg_play(&format!(
        "- name: drop\n  register: r\n  community.postgresql.postgresql_db:\n    <<: *pg\n    name: {db2}\n    state: absent\n    force: true\n"
    ));
    let r = sb.run(&drop, &[]);
    r.assert_ok();
    assert_eq!(
        commands(r.result("drop")),
        json!([format!("DROP DATABASE \"{db2}\" WITH (FORCE)")])
    );
    let r = sb.run(&drop, &[]);
    assert_eq!(r.changed("local1"), 0);
}

#[test]
fn trust_input_and_session_role() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let (db, role) = (unique("it_sr_db"), unique("it_sr_role"));
    let suspicious = "x\"; DROP TABLE t; --";
    let play = pg_play(&format!(
        r#"
- name: suspicious
  ignore_errors: true
  community.postgresql.postgresql_db:
    <<: *pg
    name: '{suspicious}'
    trust_input: false
- name: no such role
  ignore_errors: true
  community.postgresql.postgresql_db:
    <<: *pg
    name: {db}
    session_role: {role}
"#
    ));
    let r = sb.run(&play, &[]);
    assert_eq!(
        r.result("suspicious")["result"]["msg"],
        json!(format!(
            "Passed input '{suspicious}' is potentially dangerous"
        ))
    );
    assert_eq!(r.status("no such role"), "failed", "{}", r.dump());
    pg.psql(&format!("CREATE ROLE {role} CREATEDB"));
    let r = sb.run(&play, &[]);
    assert_eq!(r.status("no such role"), "changed", "{}", r.dump());
    assert_eq!(
        pg.psql(&format!(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'"
        )),
        role,
        "created as the session role"
    );
    pg.psql(&format!("DROP DATABASE {db}"));
}

#[test]
fn dump_and_restore_with_a_password_that_never_shows() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let (src, dst, user) = (
        unique("it_dump_src"),
        unique("it_dump_dst"),
        unique("it_dumper"),
    );
    let secret = "Dump:pw\\s3cret";
    pg.psql(&format!(
        "CREATE ROLE {user} LOGIN CREATEDB PASSWORD '{secret}'"
    ));
    pg.psql(&format!("CREATE DATABASE {src} OWNER {user}"));
    pg.psql_db(
        &src,
        &format!(
            "CREATE TABLE t (id int); INSERT INTO t VALUES (47); ALTER TABLE t OWNER TO {user}"
        ),
    );
    for file in ["d.sql.gz", "d.pgc", "d.tar"] {
        let target = sb.p(file).display().to_string();
        let play = pg_play(&format!(
            r#"
- name: dump
  community.postgresql.postgresql_db:
    login_host: 127.0.0.1
    port: "{{{{ pg_port }}}}"
    login_user: {user}
    login_password: "{{{{ pw }}}}"
    name: {src}
    state: dump
    target: {target}
    dump_extra_args: --exclude-table=fake
- name: create
  community.postgresql.postgresql_db:
    <<: *pg
    name: {dst}
    owner: {user}
- name: restore
  community.postgresql.postgresql_db:
    login_host: 127.0.0.1
    port: "{{{{ pg_port }}}}"
    login_user: {user}
    login_password: "{{{{ pw }}}}"
    name: {dst}
    state: restore
    target: {target}
"#
        ));
        let pw = format!("pw={secret}");
        let r = sb.run(&play, &["--check", "-e", &pw]);
        r.assert_ok();
        assert_eq!(
            r.status("dump"),
            "ok",
            "check mode dumps nothing: {}",
            r.dump()
        );
        assert!(!sb.exists(file));
        let r = sb.run(&play, &["-e", &pw]);
        r.assert_ok();
        let cmd = commands(r.result("dump"))[0]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            cmd.contains("pg_dump") && cmd.contains("--exclude-table=fake"),
            "{cmd}"
        );
        assert!(sb.exists(file), "{file}: {}", r.dump());
        assert_eq!(pg.psql_db(&dst, "SELECT id FROM t"), "47", "{file}");
        assert!(
            !r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"),
            "the password shows: {}",
            r.dump()
        );
        assert!(
            !sb.journal().contains("s3cret"),
            "the password is in the journal"
        );
        pg.psql(&format!("DROP DATABASE {dst}"));
    }
}

#[test]
fn ping_reports_the_version_and_why_not() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let play = pg_play(
        r#"
- name: up
  community.postgresql.postgresql_ping:
    <<: *pg
- name: no such db
  community.postgresql.postgresql_ping:
    <<: *pg
    db: it_no_such_db
- name: bad role
  ignore_errors: true
  community.postgresql.postgresql_ping:
    <<: *pg
    trust_input: false
    session_role: 'x"; SELECT 1; --'
"#,
    );
    let r = sb.run(&play, &[]);
    let up = &r.result("up")["result"];
    assert_eq!(up["is_available"], json!(true), "{}", r.dump());
    assert_eq!(up["server_version"]["major"], json!(15));
    assert!(
        up["server_version"]["raw"]
            .as_str()
            .unwrap_or("")
            .starts_with("PostgreSQL 15"),
        "{up}"
    );
    assert_eq!(up["conn_err_msg"], json!(""));
    let down = &r.result("no such db")["result"];
    assert_eq!(down["is_available"], json!(false));
    assert_eq!(down["server_version"], json!({}));
    assert!(
        down["conn_err_msg"]
            .as_str()
            .unwrap_or("")
            .contains("database \"it_no_such_db\" does not exist"),
        "{down}"
    );
    assert_eq!(r.status("no such db"), "ok");
    assert_eq!(r.status("bad role"), "failed");
    assert!(
        r.result("bad role")["result"]["msg"]
            .as_str()
            .unwrap_or("")
            .contains("is potentially dangerous")
    );
}

#[test]
fn tablespace_schema_table_membership() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let (ts, db, group, member) = (
        unique("it_ts"),
        unique("it_tsdb"),
        unique("it_grp"),
        unique("it_mem"),
    );
    pg.psql(&format!("CREATE ROLE {group}; CREATE ROLE {member}"));
    let dir = tempfile::Builder::new()
        .prefix("slm-it-ts-")
        .tempdir()
        .expect("tablespace dir");
    let loc = dir.path().join("ts");
    std::fs::create_dir(&loc).expect("mkdir");
    let o = std::process::Command::new("chown")
        .args(["-R", "postgres:postgres", &dir.path().display().to_string()])
        .output()
        .expect("chown");
    assert!(o.status.success());
    let play = pg_play(&format!(
        r#"
- name: tablespace
  community.postgresql.postgresql_tablespace:
    <<: *pg
    name: {ts}
    location: {loc}
- name: db
  register: r
  community.postgresql.postgresql_db:
    <<: *pg
    name: {db}
    tablespace: {ts}
- name: schema
  community.postgresql.postgresql_schema:
    <<: *pg
    db: {db}
    name: s1
    owner: {member}
- name: table
  community.postgresql.postgresql_table:
    <<: *pg
    db: {db}
    name: s1.employees
    columns:
      - id bigserial primary key
      - name varchar(20)
- name: membership
  community.postgresql.postgresql_membership:
    <<: *pg
    group: {group}
    target_roles: {member}
"#,
        loc = loc.display()
    ));
    let r = sb.run(&play, &[]);
    r.assert_ok();
    for t in ["tablespace", "db", "schema", "table", "membership"] {
        assert_eq!(r.status(t), "changed", "{t}: {}", r.dump());
    }
    assert_eq!(
        commands(r.result("db")),
        json!([format!("CREATE DATABASE \"{db}\" TABLESPACE \"{ts}\"")])
    );
    assert_eq!(
        pg.psql_db(
            &db,
            "SELECT tableowner FROM pg_tables WHERE schemaname = 's1'"
        ),
        "postgres"
    );
    assert_eq!(
        pg.psql(&format!(
            "SELECT pg_has_role('{member}', '{group}', 'MEMBER')"
        )),
        "t"
    );
    let r = sb.run(&play, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
    let undo = pg_play(&format!(
        r#"
- name: db
  community.postgresql.postgresql_db:
    <<: *pg
    name: {db}
    state: absent
- name: membership
  community.postgresql.postgresql_membership:
    <<: *pg
    group: {group}
    target_roles: {member}
    state: absent
- name: tablespace
  community.postgresql.postgresql_tablespace:
    <<: *pg
    name: {ts}
    state: absent
"#
    ));
    let r = sb.run(&undo, &[]);
    r.assert_ok();
    for t in ["db", "membership", "tablespace"] {
        assert_eq!(r.status(t), "changed", "{t}: {}", r.dump());
    }
    assert_eq!(
        pg.psql(&format!(
            "SELECT count(*) FROM pg_tablespace WHERE spcname = '{ts}'"
        )),
        "0"
    );
    assert_eq!(
        pg.psql(&format!(
            "SELECT pg_has_role('{member}', '{group}', 'MEMBER')"
        )),
        "f"
    );
}
