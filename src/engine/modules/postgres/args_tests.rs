//! The postgresql_* argument structs: what they accept (aliases, Ansible's loose types) and
//! what they refuse (arguments only ansible-playbook implements, unknown ones, bad values).

use serde_json::{Map, Value, json};

use super::privs::Kind;
use super::*;
use crate::engine::modules::ModuleError;
use crate::engine::modules::module::{Module, accepted_args, parse};

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("arguments must be an object, not {other}"),
    }
}

fn parsed<M: Module>(v: Value) -> M {
    match parse::<M>(&map(v.clone())) {
        Ok(m) => m,
        Err(e) => panic!("{}: {v} was refused: {e}", M::NAME),
    }
}

fn refused<M: Module>(v: Value) -> String {
    match parse::<M>(&map(v.clone())) {
        Ok(_) => panic!("{}: {v} was accepted", M::NAME),
        Err(ModuleError::Args(msg)) => msg,
        Err(e) => panic!("{}: not an argument error: {e}", M::NAME),
    }
}

/// Every ANSIBLE_ONLY argument and an unknown one are refused, naming the module and the
/// argument; none of them is a field (they would be accepted), and the minimal arguments parse.
fn refuses_what_it_does_not_implement<M: Module>(minimal: Value) {
    let _: M = parsed(minimal.clone());
    let accepted = accepted_args::<M>();
    assert!(!accepted.is_empty(), "{}: no field names", M::NAME);
    let mut names = M::ANSIBLE_ONLY.to_vec();
    names.push("frobnicate");
    for name in names {
        assert!(
            !accepted.contains(&name),
            "{}: '{name}' is both implemented and ANSIBLE_ONLY",
            M::NAME
        );
        let mut with = map(minimal.clone());
        with.insert(name.to_string(), json!("x"));
        let msg = refused::<M>(Value::Object(with));
        let want = format!("{}: unknown field `{name}`", M::NAME);
        assert!(msg.starts_with(&want), "{msg}");
    }
}

#[test]
fn every_module_refuses_ansible_only_and_unknown_arguments() {
    refuses_what_it_does_not_implement::<PostgresqlDb>(json!({"name": "app"}));
    refuses_what_it_does_not_implement::<PostgresqlUser>(json!({"name": "app"}));
    refuses_what_it_does_not_implement::<PostgresqlPrivs>(json!({"roles": "app"}));
    refuses_what_it_does_not_implement::<PostgresqlPgHba>(
        json!({"dest": "/etc/pg_hba.conf", "source": "10.0.0.0/8"}),
    );
    refuses_what_it_does_not_implement::<PostgresqlQuery>(json!({"query": "SELECT 1"}));
    refuses_what_it_does_not_implement::<PostgresqlPing>(json!({}));
    refuses_what_it_does_not_implement::<PostgresqlSet>(
        json!({"name": "work_mem", "value": "8MB"}),
    );
    refuses_what_it_does_not_implement::<PostgresqlTable>(json!({"name": "t"}));
    refuses_what_it_does_not_implement::<PostgresqlTablespace>(json!({"name": "ts"}));
    refuses_what_it_does_not_implement::<PostgresqlSchema>(json!({"name": "s"}));
    refuses_what_it_does_not_implement::<PostgresqlMembership>(
        json!({"group": "g", "target_roles": "a,b"}),
    );
}

#[test]
fn connection_arguments_and_their_aliases() {
    let p: PostgresqlPing = parsed(json!({
        "port": "5433", "login_unix_socket": "/run/pg", "login_user": "admin",
        "login_password": "pw", "db": "app"
    }));
    let c = p.conn("app");
    assert_eq!(c.port, Some(5433));
    assert_eq!(c.socket.as_deref(), Some("/run/pg"));
    assert_eq!(c.user.as_deref(), Some("admin"));
    assert_eq!(c.password.as_deref(), Some("pw"));
    assert_eq!(p.login_db.as_deref(), Some("app"));
    // Ansible's names and its (deprecated) aliases; empty values are libpq's defaults.
    let p: PostgresqlPing = parsed(json!({
        "login_port": 5432, "unix_socket": "", "host": "db1", "login": "ops", "login_db": "x"
    }));
    let c = p.conn("x");
    assert_eq!(
        (c.port, c.socket, c.host.as_deref()),
        (Some(5432), None, Some("db1"))
    );
    assert_eq!(c.user.as_deref(), Some("ops"));
    let msg = refused::<PostgresqlPing>(json!({"port": "five"}));
    assert!(msg.contains("must be an integer, got \"five\""), "{msg}");
}

#[test]
fn postgresql_db_arguments() {
    for key in ["name", "db", "datname"] {
        let d: PostgresqlDb = parsed(json!({ key: "app" }));
        assert_eq!(d.name, "app");
    }
    let d: PostgresqlDb = parsed(json!({
        "name": 2024, "state": "absent", "force": "yes", "conn_limit": "5",
        "maintenance_db": "template1"
    }));
    assert_eq!(d.name, "2024");
    assert_eq!(d.state, db::DbState::Absent);
    assert_eq!((d.force, d.conn_limit), (Some(true), Some(5)));
    assert_eq!(d.maintenance_db(), "template1");
    let msg = refused::<PostgresqlDb>(json!({"name": "app", "state": "dumped"}));
    assert!(msg.contains("unknown variant `dumped`"), "{msg}");
    let msg = refused::<PostgresqlDb>(json!({"owner": "app"}));
    assert!(msg.contains("missing field `name`"), "{msg}");
    // login_db is not postgresql_db's (it connects to maintenance_db).
    refused::<PostgresqlDb>(json!({"name": "app", "login_db": "x"}));
}

#[test]
fn postgresql_user_arguments() {
    let u: PostgresqlUser = parsed(json!({
        "user": "app", "password": "pw", "role_attr_flags": "LOGIN,NOSUPERUSER",
        "no_password_changes": "no", "encrypted": "yes", "conn_limit": "3", "db": "other"
    }));
    assert_eq!(u.name, "app");
    assert_eq!(u.role_attr_flags, ["LOGIN", "NOSUPERUSER"]);
    assert_eq!(u.no_password_changes, Some(false));
    assert_eq!(u.conn_limit, Some(3));
    assert_eq!(u.login_db(), "other");
    let u: PostgresqlUser = parsed(json!({"name": "app", "role_attr_flags": ["LOGIN"]}));
    assert_eq!((u.role_attr_flags.len(), u.login_db()), (1, "postgres"));
    // Accepted: PostgreSQL 10+ refuses the plain-text password at run time, as in Ansible.
    let u: PostgresqlUser = parsed(json!({"name": "app", "encrypted": false}));
    assert_eq!(u.encrypted, Some(false));
    let msg = refused::<PostgresqlUser>(json!({"name": "app", "no_password_changes": "maybe"}));
    assert!(msg.contains("must be a boolean"), "{msg}");
}

#[test]
fn common_connection_arguments() {
    let q: PostgresqlQuery = parsed(json!({
        "query": "SELECT 1", "ssl_mode": "verify-full", "ssl_rootcert": "/ca.crt",
        "ssl_cert": "/c.crt", "ssl_key": "/c.key", "session_role": "app", "trust_input": "no",
        "connect_params": {"connect_timeout": 3, "password": "from-params"}
    }));
    let c = q.conn("db");
    assert_eq!(c.session_role.as_deref(), Some("app"));
    assert_eq!(c.password.as_deref(), Some("from-params"));
    let keys: Vec<&str> = c.conninfo.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "sslmode",
            "sslrootcert",
            "sslcert",
            "sslkey",
            "connect_timeout"
        ]
    );
    assert!(!c.conninfo.iter().any(|(_, v)| v == "from-params"));
    let msg = refused::<PostgresqlQuery>(json!({"query": "SELECT 1", "ssl_mode": "strict"}));
    assert!(msg.contains("verify-full"), "{msg}");
    let msg = refused::<PostgresqlQuery>(json!({"query": "SELECT 1", "connect_params": "x"}));
    assert!(msg.contains("connect_params"), "{msg}");
    // session_role is what trust_input: false checks in every module.
    let q: PostgresqlQuery = parsed(json!({
        "query": "SELECT 1", "trust_input": false, "session_role": "x'; DROP TABLE t; --"
    }));
    assert!(q.untrusted(&[]).is_some_and(|r| r.failed));
    let msg = refused::<PostgresqlSet>(json!({"name": "work_mem", "value": "1MB", "reset": true}));
    assert!(msg.contains("mutually exclusive"), "{msg}");
    let msg = refused::<PostgresqlSet>(json!({"name": "work_mem = 1; x", "value": "1"}));
    assert!(msg.contains("parameter name"), "{msg}");
}

#[test]
fn postgresql_privs_arguments() {
    for key in ["database", "db", "login_db"] {
        let p: PostgresqlPrivs = parsed(json!({ key: "app", "roles": "r" }));
        assert_eq!(p.database(), "app");
    }
    let p: PostgresqlPrivs = parsed(json!({
        "role": "a, b", "priv": "CONNECT,TEMPORARY", "type": "database", "obj": ["x"],
        "admin_option": "yes", "target_roles": "owner", "state": "absent"
    }));
    assert_eq!(p.roles, ["a", "b"]);
    assert_eq!(p.privs, ["CONNECT", "TEMPORARY"]);
    assert_eq!((p.kind, p.state), (Kind::Database, State::Absent));
    assert_eq!(p.objs, ["x"]);
    assert_eq!(p.grant_option, Some(true));
    assert_eq!(p.target_roles, ["owner"]);
    assert_eq!(p.database(), "postgres");
    let p: PostgresqlPrivs = parsed(json!({"roles": "r", "type": "default_privs"}));
    assert_eq!(p.kind, Kind::DefaultPrivs);
    let msg = refused::<PostgresqlPrivs>(json!({"roles": "r", "type": "function"}));
    assert!(msg.contains("unknown variant `function`"), "{msg}");
    let msg = refused::<PostgresqlPrivs>(json!({"privs": "ALL"}));
    assert!(msg.contains("missing field `roles`"), "{msg}");
}

#[test]
fn postgresql_pg_hba_arguments() {
    for key in ["source", "src", "address"] {
        let h: PostgresqlPgHba = parsed(json!({"dest": "/x", key: "10.0.0.0/8"}));
        assert_eq!(h.source.as_deref(), Some("10.0.0.0/8"));
    }
    let h: PostgresqlPgHba = parsed(json!({
        "dest": "/x", "contype": "local", "db": "a,b", "user": ["u"], "method": "peer",
        "create": "yes", "backup": "no", "mode": 384, "owner": "postgres", "group": 0
    }));
    assert_eq!((h.create, h.backup), (Some(true), Some(false)));
    assert_eq!(h.mode.as_deref(), Some("0600"));
    assert_eq!(h.group.as_deref(), Some("0"));
    let rule = h.rule().expect("rule");
    assert_eq!(
        (
            rule.databases.as_str(),
            rule.users.as_str(),
            rule.source.as_str()
        ),
        ("a,b", "u", "")
    );
    let msg = refused::<PostgresqlPgHba>(json!({"dest": "/x", "contype": "hostx", "source": "a"}));
    assert!(
        msg.contains("argument 'contype' is \"hostx\"; valid: local"),
        "{msg}"
    );
    let msg = refused::<PostgresqlPgHba>(json!({"dest": "/x", "source": "a", "method": "none"}));
    assert!(msg.contains("argument 'method' is \"none\""), "{msg}");
    let msg = refused::<PostgresqlPgHba>(json!({"dest": "/x", "contype": "host"}));
    assert!(msg.contains("contype host needs 'source'"), "{msg}");
    let msg =
        refused::<PostgresqlPgHba>(json!({"dest": "/x", "contype": "local", "users": "a\nb"}));
    assert!(msg.contains("'users' contains a line break"), "{msg}");
    // Connection arguments are not pg_hba's: it edits a file.
    refused::<PostgresqlPgHba>(json!({"dest": "/x", "source": "a", "login_port": 5432}));
}

#[test]
fn postgresql_query_arguments() {
    let q: PostgresqlQuery = parsed(json!({
        "db": "app", "query": "SELECT %s, %(n)s", "positional_args": [1, "a"],
        "named_args": {"n": true}
    }));
    assert_eq!(q.login_db(), "app");
    assert_eq!(q.positional_args.as_ref().map(Vec::len), Some(2));
    assert_eq!(q.named_args.as_ref().map(Map::len), Some(1));
    let q: PostgresqlQuery = parsed(json!({"path_to_script": "/tmp/x.sql"}));
    assert_eq!((q.query.as_deref(), q.login_db()), (None, "postgres"));
    let msg = refused::<PostgresqlQuery>(json!({"login_db": "app"}));
    assert!(msg.contains("needs query or path_to_script"), "{msg}");
    let msg = refused::<PostgresqlQuery>(json!({"query": "SELECT %s", "positional_args": "1"}));
    assert!(msg.contains("expected a sequence"), "{msg}");
}
