//! The kept psql session of the PostgreSQL modules (issue 19) on a real test host: one psql
//! serves the tasks of a run (across databases), a server restart between tasks and a failing
//! statement leave no dead session in use, errors keep psql's message and line, secrets never
//! reach psql's argv or environment, and check mode changes nothing.

use crate::support::hosts;

use hosts::{Hosts, root_or_skip};

const SECRET: &str = "sess-secret-0123456789-abcdef";

fn as_postgres(h: &Hosts, on: &str, sql: &str) -> String {
    h.sh(
        on,
        &format!("cd / && runuser -u postgres -- psql -X -At -d postgres -c \"{sql}\""),
    )
    .trim()
    .to_string()
}

fn playbook() -> String {
    let pids = "pgrep -x psql | sort | tr '\\n' ' '";
    format!(
        r#"- hosts: all
  become: true
  gather_facts: false
  tasks:
    - name: role a
      community.postgresql.postgresql_user:
        name: sess_a
        password: "{SECRET}"
        role_attr_flags: LOGIN,SUPERUSER
      become_user: postgres
      no_log: true
    - name: pids 1
      shell: "{pids}"
      register: pids1
    - name: database b
      community.postgresql.postgresql_db: {{name: sess_b, owner: sess_a}}
      become_user: postgres
    - name: grant in b
      community.postgresql.postgresql_privs: {{login_db: sess_b, type: database, roles: sess_a, privs: CONNECT}}
      become_user: postgres
    - name: pids 2
      shell: "{pids}"
      register: pids2
    - name: secret on the target
      shell: "for p in $(pgrep -x psql); do tr '\\0' '\\n' </proc/$p/cmdline; tr '\\0' '\\n' </proc/$p/environ; done | grep -c -- \"$(echo sess-secret)-0123456789-abcdef\" || true"
      register: leaked
    - name: restart
      command: pg_ctlcluster 15 main restart
    - name: after the restart
      community.postgresql.postgresql_user: {{name: sess_c}}
      become_user: postgres
    - name: failing statement
      community.postgresql.postgresql_privs: {{login_db: sess_b, type: database, roles: no_such_role, privs: CONNECT}}
      become_user: postgres
      ignore_errors: true
    - name: after the error
      community.postgresql.postgresql_user: {{name: sess_d}}
      become_user: postgres
    - name: password login
      community.postgresql.postgresql_ping:
        login_host: 127.0.0.1
        login_user: sess_a
        login_password: "{SECRET}"
      register: ping
    - name: secret on the target with a password login
      shell: "for p in $(pgrep -x psql); do tr '\\0' '\\n' </proc/$p/cmdline; tr '\\0' '\\n' </proc/$p/environ; done | grep -c -- \"$(echo sess-secret)-0123456789-abcdef\" || true"
      register: leaked2
    - name: facts
      debug:
        msg: "{{{{ pids1.stdout }}}}|{{{{ pids2.stdout }}}}|{{{{ leaked.stdout }}}}|{{{{ leaked2.stdout }}}}|{{{{ ping.is_available }}}}"
"#
    )
}

#[test]
fn one_psql_serves_the_run_and_survives_restarts_and_errors() {
    if !root_or_skip("one_psql_serves_the_run_and_survives_restarts_and_errors") {
        return;
    }
    let h = Hosts::up(1, &["db"], &[]);
    h.ctl("pg-start", "db");
    let inv = h.write_inventory("inv.yml", |_| Vec::new());
    let run = h.run(&playbook(), &inv, &[]);
    run.assert_code(0);
    let msg = run.result("db", "facts")["result"]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let parts: Vec<&str> = msg.split('|').collect();
    assert_eq!(parts.len(), 5, "{msg}\n{}", run.dump());
    // One psql, kept from the first task through a database switch.
    assert_eq!(
        parts[0].split_whitespace().count(),
        1,
        "one kept psql: {msg}"
    );
    assert_eq!(
        parts[0], parts[1],
        "the same psql serves later tasks: {msg}"
    );
    assert_eq!(parts[2].trim(), "0", "the password is on psql's stdin only");
    assert_eq!(parts[3].trim(), "0", "a login password too");
    assert_eq!(parts[4].trim(), "True", "password login works: {msg}");
    // A restarted server: the stale session is replaced, the task succeeds.
    assert_eq!(
        run.status("db", "after the restart"),
        "changed",
        "{}",
        run.dump()
    );
    // A failing statement keeps psql's message, line counted from the task's SQL.
    let failed = &run.result("db", "failing statement")["result"];
    let m = failed["msg"].as_str().unwrap_or_default();
    assert!(
        m.contains("psql:<stdin>:1: ERROR:") && m.contains("role \"no_such_role\" does not exist"),
        "{m}"
    );
    assert_eq!(failed["rc"], 3, "{failed}");
    assert_eq!(
        run.status("db", "after the error"),
        "changed",
        "{}",
        run.dump()
    );
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    assert_eq!(
        as_postgres(
            &h,
            "db",
            "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'sess_%'"
        ),
        "sess_a,sess_c,sess_d"
    );

    // Check mode reads on the session and changes nothing.
    let check = h.run(
        "- hosts: all\n  become: true\n  gather_facts: false\n  tasks:\n    - name: would create\n      community.postgresql.postgresql_user: {name: sess_e}\n      become_user: postgres\n    - name: exists\n      community.postgresql.postgresql_user: {name: sess_a}\n      become_user: postgres\n",
        &inv,
        &["--check"],
    );
    check.assert_code(0);
    assert_eq!(
        check.status("db", "would create"),
        "changed",
        "{}",
        check.dump()
    );
    assert_eq!(check.status("db", "exists"), "ok", "{}", check.dump());
    assert_eq!(
        as_postgres(
            &h,
            "db",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'sess_e'"
        ),
        "0"
    );
}

/// A user's SQL that renames a database is not refused because the kept session sits on it (it
/// was: `database "…" is being accessed by other users`, where ansible-playbook, whose modules
/// each connect anew, renames it), nor is `postgresql_db`'s drop.
#[test]
fn the_kept_session_is_not_in_the_way_of_a_drop() {
    if !root_or_skip("the_kept_session_is_not_in_the_way_of_a_drop") {
        return;
    }
    let h = Hosts::up(1, &["db"], &[]);
    h.ctl("pg-start", "db");
    for db in ["sess_d1", "sess_d2", "sess_d3"] {
        as_postgres(&h, "db", &format!("CREATE DATABASE {db}"));
    }
    let inv = h.write_inventory("inv.yml", |_| Vec::new());
    let pb = r#"- hosts: all
  become: true
  tasks:
    - name: use d1
      community.postgresql.postgresql_privs: {login_db: sess_d1, type: database, roles: PUBLIC, privs: TEMPORARY, state: absent}
      become_user: postgres
    - name: rename d1 with SQL
      community.postgresql.postgresql_query: {query: ALTER DATABASE sess_d1 RENAME TO sess_x1}
      become_user: postgres
    - name: use d2
      community.postgresql.postgresql_privs: {login_db: sess_d2, type: database, roles: PUBLIC, privs: TEMPORARY, state: absent}
      become_user: postgres
    - name: drop d2
      community.postgresql.postgresql_db: {name: sess_d2, state: absent}
      become_user: postgres
"#;
    let run = h.run(pb, &inv, &[]);
    run.assert_code(0);
    assert_eq!(
        run.status("db", "rename d1 with SQL"),
        "changed",
        "{}",
        run.dump()
    );
    assert_eq!(run.status("db", "drop d2"), "changed", "{}", run.dump());
    assert_eq!(
        as_postgres(
            &h,
            "db",
            "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE 'sess_%'"
        ),
        "sess_d3,sess_x1"
    );
}
