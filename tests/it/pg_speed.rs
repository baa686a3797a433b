//! Issue 19's no-op speed-ups on a real test host, checked for meaning: the `service` module's
//! PostgreSQL status without pg_lsclusters agrees with `service postgresql status` in every
//! state a cluster's files can be in, and the psql session started while earlier tasks run is
//! the one the first PostgreSQL task uses (or is replaced when it could not start).

use crate::support::hosts;

use hosts::{Hosts, root_or_skip};

const CHECK: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: status\n      \
    service: {name: postgresql, state: started, use: sysvinit}\n      check_mode: true\n";

/// What the module says (would it start the server?) against what the init script says.
fn agrees(h: &Hosts, inv: &std::path::Path, case: &str) {
    let real = h.sh("db", "service postgresql status >/dev/null 2>&1; echo $?");
    let run = h.run(CHECK, inv, &[]);
    run.assert_code(0);
    let ours = run.status("db", "status");
    let want = if real.trim() == "0" { "ok" } else { "changed" };
    assert_eq!(
        ours,
        want,
        "{case}: init script exit {}\n{}",
        real.trim(),
        run.dump()
    );
}

#[test]
fn service_status_of_postgresql_agrees_with_the_init_script() {
    if !root_or_skip("service_status_of_postgresql_agrees_with_the_init_script") {
        return;
    }
    let h = Hosts::up(1, &["db"], &[]);
    let inv = h.write_inventory("inv.yml", |_| Vec::new());
    let pid = "/var/run/postgresql/15-main.pid";
    h.ctl("pg-start", "db");
    agrees(&h, &inv, "running");
    h.sh("db", &format!("cp {pid} /tmp/pid && echo 1 > {pid}"));
    agrees(&h, &inv, "pid file names another program");
    h.sh("db", &format!("sh -c 'echo $$' > {pid}"));
    agrees(&h, &inv, "pid file names no process (the socket decides)");
    h.sh("db", &format!("rm {pid}"));
    agrees(&h, &inv, "running without its pid file");
    h.sh("db", &format!("cp /tmp/pid {pid}"));
    h.sh(
        "db",
        "echo \"external_pid_file = '/run/elsewhere.pid'\" > /etc/postgresql/15/main/conf.d/90-t.conf",
    );
    agrees(&h, &inv, "pid file moved by conf.d");
    h.sh("db", "rm /etc/postgresql/15/main/conf.d/90-t.conf");
    agrees(&h, &inv, "back");
    h.ctl("pg-stop", "db");
    agrees(&h, &inv, "stopped");
    h.sh("db", &format!("cp /tmp/pid {pid}"));
    agrees(&h, &inv, "stopped with a stale pid file");
}

const WARM: &str = r#"- hosts: all
  become: true
  gather_facts: true
  tasks:
    - name: start the server
      command: pg_ctlcluster 15 main start
      when: start | default(false) | bool
    - name: psql before
      shell: "for i in $(seq 100); do pgrep -x psql >/dev/null && break; sleep 0.1; done; pgrep -x psql | sort | tr '\n' ' '"
      register: before
    - name: role
      community.postgresql.postgresql_user: {name: warm_a}
      become_user: postgres
    - name: psql after
      shell: "pgrep -x psql | sort | tr '\n' ' '"
      register: after
    - name: show
      debug: {msg: "{{ before.stdout }}|{{ after.stdout }}"}
"#;

#[test]
fn the_first_postgresql_task_uses_the_session_started_ahead() {
    if !root_or_skip("the_first_postgresql_task_uses_the_session_started_ahead") {
        return;
    }
    let h = Hosts::up(1, &["db"], &[]);
    let inv = h.write_inventory("inv.yml", |_| Vec::new());
    h.ctl("pg-start", "db");
    let run = h.run(WARM, &inv, &[]);
    run.assert_code(0);
    let msg = run.result("db", "show")["result"]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (before, after) = msg.split_once('|').unwrap_or(("", ""));
    assert_eq!(before.split_whitespace().count(), 1, "started ahead: {msg}");
    assert_eq!(before, after, "and used: {msg}\n{}", run.dump());

    // Server down while it starts: the task starts another once the server is up.
    h.ctl("pg-stop", "db");
    let run = h.run(WARM, &inv, &["-e", "start=true"]);
    run.assert_code(0);
    assert_eq!(run.status("db", "role"), "ok", "{}", run.dump());
}
