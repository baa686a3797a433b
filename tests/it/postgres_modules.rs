//! community.postgresql 4.2.0 semantics of the PostgreSQL modules on a real cluster: the common
//! connection arguments (session_role, ssl_mode, connect_params, trust_input) and
//! postgresql_user's comment, configuration, expiry, flags and messages, postgresql_set and
//! postgresql_table. The expected values are what ansible-playbook with the collection reports
//! (the peer suite's postgresql_user target checks the same against upstream's asserts).

use crate::support::cmd;

use cmd::{PgCluster, Sandbox, unique};
use serde_json::{Value, json};

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A play whose `pgconn` anchor holds the connection arguments (merge it with `<<: *pg`).
fn pg_play(tasks: &str) -> String {
    format!(
        "- hosts: all\n  gather_facts: no\n  vars:\n    pgconn: &pg\n      port: \"{{{{ pg_port }}}}\"\n      login_unix_socket: \"{{{{ pg_sock }}}}\"\n  tasks:\n{}",
        indent(tasks, 4)
    )
}

fn module_result<'a>(r: &'a cmd::Run, task: &str) -> &'a Value {
    &r.result(task)["result"]
}

#[test]
fn common_connection_arguments() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let role = unique("it_sess_role");
    pg.psql(&format!("CREATE ROLE {role} NOLOGIN"));
    let pb = pg_play(
        &r#"
- name: as the session role
  postgresql_query:
    <<: *pg
    session_role: @ROLE@
    query: SELECT current_user AS who
- name: connect_params reach libpq
  postgresql_query:
    <<: *pg
    connect_params:
      application_name: slm-it-app
    query: SELECT current_setting('application_name') AS app
- name: ssl_mode reaches libpq
  postgresql_ping:
    port: "{{ pg_port }}"
    login_host: 127.0.0.1
    ssl_mode: require
  register: ping
- name: trust_input false refuses a dangerous session_role
  postgresql_query:
    <<: *pg
    trust_input: false
    session_role: "x'; DROP TABLE t; --"
    query: SELECT 1
  ignore_errors: true
"#
        .replace("@ROLE@", &role),
    );
    let r = sb.run(&pb, &[]);
    assert_eq!(
        module_result(&r, "as the session role")["query_result"],
        json!([{ "who": role }]),
        "{}",
        r.dump()
    );
    assert_eq!(
        module_result(&r, "connect_params reach libpq")["query_result"],
        json!([{"app": "slm-it-app"}])
    );
    // The test cluster has no TLS: with sslmode=require libpq refuses to connect.
    let ping = module_result(&r, "ssl_mode reaches libpq");
    assert_eq!(ping["is_available"], false, "{}", r.dump());
    assert!(
        ping["conn_err_msg"]
            .as_str()
            .is_some_and(|m| m.contains("SSL")),
        "{ping}"
    );
    let refused = module_result(&r, "trust_input false refuses a dangerous session_role");
    assert_eq!(refused["failed"], true, "{}", r.dump());
    assert_eq!(
        refused["msg"],
        "Passed input 'x'; DROP TABLE t; --' is potentially dangerous"
    );
}

#[test]
fn postgresql_user_comment_configuration_expiry_and_messages() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let user = format!("{}.with.dots", unique("it_user"));
    let task = |name: &str, body: &str| {
        format!(
            "- name: {name}\n  postgresql_user:\n    <<: *pg\n    name: \"{user}\"\n{}\n  ignore_errors: true\n",
            indent(body, 4)
        )
    };
    let pb = pg_play(
        &[
            task("create", ""),
            task("comment", "comment: first"),
            task("same comment", "comment: first"),
            task("config", "configuration: {work_mem: 16MB}"),
            task(
                "config path",
                "configuration: {search_path: 'pg_catalog,public'}\nquote_configuration_values: false",
            ),
            task(
                "config again",
                "configuration: {search_path: 'pg_catalog, public'}\nquote_configuration_values: false",
            ),
            task("reset config", "configuration: {}\nreset_unspecified_configuration: true"),
            task("expires", "expires: Jan 31 2020"),
            task("same expiry", "expires: '2020-01-31'"),
            task("bad flag", "role_attr_flags: NOLOGIN,INVALID"),
            task("quoted key", "configuration: {\"some'key\": x}"),
            task("reset comment", "comment: ''"),
        ]
        .concat(),
    );
    let r = sb.run(&pb, &["--check"]);
    assert_eq!(r.status("create"), "changed", "{}", r.dump());
    assert_eq!(
        pg.psql(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{user}'"
        )),
        "0",
        "check mode created the role"
    );

    let r = sb.run(&pb, &[]);
    let res = |t: &str| module_result(&r, t).clone();
    assert_eq!(res("create")["changed"], true, "{}", r.dump());
    assert_eq!(
        res("create")["queries"],
        json!([format!("CREATE USER \"{user}\" ")])
    );
    assert_eq!(
        res("comment")["queries"],
        json!([format!("COMMENT ON ROLE \"{user}\" IS 'first'")])
    );
    assert_eq!(res("same comment")["changed"], false);
    assert_eq!(res("same comment")["queries"], json!([]));
    assert_eq!(res("config")["changed"], true, "{}", r.dump());
    assert_eq!(
        res("config")["queries"],
        json!([format!("ALTER ROLE \"{user}\" SET \"work_mem\" TO '16MB';")])
    );
    assert_eq!(res("config path")["changed"], true);
    assert_eq!(res("config again")["changed"], false, "{}", r.dump());
    assert_eq!(res("reset config")["changed"], true);
    assert_eq!(res("expires")["changed"], true);
    // The same instant written another way: compared as timestamptz by the server.
    assert_eq!(res("same expiry")["changed"], false, "{}", r.dump());
    assert_eq!(res("bad flag")["failed"], true);
    assert_eq!(
        res("bad flag")["msg"],
        "Invalid role_attr_flags specified: INVALID"
    );
    assert_eq!(
        res("quoted key")["msg"],
        "The key of a configuration may not contain single or double quotes"
    );
    assert_eq!(res("reset comment")["changed"], true, "{}", r.dump());
    let row = pg.psql(&format!(
        "SELECT coalesce(shobj_description(oid, 'pg_authid'), '<null>'), rolconfig IS NULL, \
         rolvaliduntil::date, rolcanlogin FROM pg_roles WHERE rolname = '{user}'"
    ));
    assert_eq!(row, "<null>|t|2020-01-31|t");

    // Again: what a task before set the same way is left as it is.
    let r = sb.run(&pb, &[]);
    for t in ["create", "same comment", "config again", "same expiry"] {
        assert_eq!(module_result(&r, t)["changed"], false, "{t}: {}", r.dump());
    }
    pg.psql(&format!("DROP ROLE \"{user}\""));
}

#[test]
fn postgresql_user_names_passwords_and_drop_failures() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let owner = unique("it_owner");
    let table = unique("it_table");
    let dangerous = r#"curious.anonymous"; SELECT * FROM information_schema.tables; --"#;
    let md5 = "md59543f1d82624df2b31672ec0f7050460";
    let pb = pg_play(
        &r#"
- name: dangerous untrusted
  postgresql_user: {<<: *pg, name: '@DANGER@', trust_input: false}
  ignore_errors: true
- name: dangerous trusted
  postgresql_user: {<<: *pg, name: '@DANGER@'}
  ignore_errors: true
- name: owner with md5
  postgresql_user: {<<: *pg, name: '@OWNER@', password: '@MD5@'}
- name: same md5
  postgresql_user: {<<: *pg, name: '@OWNER@', password: '@MD5@'}
- name: no_password_changes
  postgresql_user: {<<: *pg, name: '@OWNER@', password: other, no_password_changes: true}
- name: table
  postgresql_table: {<<: *pg, name: '@TABLE@', owner: '@OWNER@'}
- name: table again
  postgresql_table: {<<: *pg, name: '@TABLE@', owner: '@OWNER@'}
- name: drop owner
  postgresql_user: {<<: *pg, name: '@OWNER@', state: absent}
  ignore_errors: true
- name: drop owner softly
  postgresql_user: {<<: *pg, name: '@OWNER@', state: absent, fail_on_user: false}
- name: drop table
  postgresql_table: {<<: *pg, name: '@TABLE@', state: absent}
- name: drop owner at last
  postgresql_user: {<<: *pg, name: '@OWNER@', state: absent}
"#
        .replace("@DANGER@", dangerous)
        .replace("@OWNER@", &owner)
        .replace("@TABLE@", &table)
        .replace("@MD5@", md5),
    );
    let r = sb.run(&pb, &[]);
    let res = |t: &str| module_result(&r, t).clone();
    assert_eq!(
        res("dangerous untrusted")["msg"],
        format!("Passed input '{dangerous}' is potentially dangerous"),
        "{}",
        r.dump()
    );
    assert_eq!(
        res("dangerous trusted")["msg"],
        "User escaped identifiers must escape extra quotes"
    );
    assert_eq!(res("owner with md5")["changed"], true);
    assert_eq!(res("same md5")["changed"], false);
    assert_eq!(res("no_password_changes")["changed"], false);
    assert_eq!(res("table")["changed"], true);
    assert_eq!(
        res("table")["queries"],
        json!([
            format!("CREATE TABLE \"{table}\" ()"),
            format!("ALTER TABLE \"{table}\" OWNER TO \"{owner}\"")
        ])
    );
    assert_eq!(res("table again")["changed"], false);
    assert_eq!(res("drop owner")["failed"], true);
    assert!(
        res("drop owner")["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("Unable to remove user: ") && m.contains("depend")),
        "{}",
        r.dump()
    );
    assert_eq!(res("drop owner softly")["changed"], false);
    assert_eq!(res("drop owner softly")["user_removed"], false);
    assert_eq!(res("drop owner at last")["user_removed"], true);
    assert_eq!(
        pg.psql(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{owner}'"
        )),
        "0"
    );
}

#[test]
fn postgresql_set_changes_reloads_and_reports() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let pb = |value: &str| {
        pg_play(&format!(
            "- name: set\n  postgresql_set: {{<<: *pg, name: log_min_duration_statement, value: '{value}'}}\n"
        ))
    };
    let r = sb.run(&pb("2s"), &["--check"]);
    r.assert_ok();
    assert_eq!(r.status("set"), "changed", "{}", r.dump());
    let r = sb.run(&pb("2s"), &[]);
    r.assert_ok();
    let res = module_result(&r, "set");
    assert_eq!(res["changed"], true, "{}", r.dump());
    assert_eq!(
        res["queries"],
        json!(["ALTER SYSTEM SET log_min_duration_statement = '2s'"])
    );
    assert_eq!(res["value_pretty"], "2s");
    assert_eq!(res["context"], "superuser");
    assert_eq!(pg.psql("SHOW log_min_duration_statement"), "2s");
    let r = sb.run(&pb("2s"), &[]);
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
    let reset = pg_play(
        "- name: reset\n  postgresql_set: {<<: *pg, name: log_min_duration_statement, reset: true}\n",
    );
    let r = sb.run(&reset, &[]);
    r.assert_ok();
    assert_eq!(r.status("reset"), "changed", "{}", r.dump());
    assert_eq!(pg.psql("SHOW log_min_duration_statement"), "-1");
}
