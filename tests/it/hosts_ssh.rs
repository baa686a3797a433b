//! Networked integration tests (issue #3's acceptance list): the `slm-wizard` binary and the SSH
//! transport against real OpenSSH servers on throwaway hosts (tests/hosts/hostctl: network,
//! mount and pid namespaces, overlayfs root). Needs root; each test brings up its own harness,
//! so they run in parallel.

use crate::support::hosts;
use crate::support::tmux;

use std::time::{Duration, Instant};

use hosts::{Hosts, root_or_skip, ssh_args, yq};
use serde_json::Value;
use slm_wizard::transport::ssh::{SshParams, SshTransport};

/// One task on every host, no facts.
const HELLO: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: hello
      command: echo hello
";

fn is_output(ev: &Value, host: &str, needle: &str) -> bool {
    ev["event"] == "output"
        && ev["host"] == host
        && ev["data"].as_str().unwrap_or("").contains(needle)
}

fn is_task_start(ev: &Value, host: &str, task: &str) -> bool {
    ev["event"] == "task_start" && ev["host"] == host && ev["task"] == task
}

fn is_result(ev: &Value, host: &str, task: &str) -> bool {
    ev["event"] == "task_result" && ev["host"] == host && ev["task"] == task
}

fn stdout_of(ev: &Value) -> String {
    ev["stdout"].as_str().unwrap_or_default().trim().to_string()
}

// ---------------------------------------------------------------------------------------------
// 1. Parallel hosts, streamed output

#[test]
fn two_hosts_run_in_parallel_and_stream_output() {
    if !root_or_skip("two_hosts_run_in_parallel_and_stream_output") {
        return;
    }
    let h = Hosts::up(2, &[], &[]);
    let pb = "\
- hosts: all
  tasks:
    - name: facts
      debug:
        msg: \"hostname is {{ ansible_hostname }}\"
    - name: start and end
      shell: echo start; sleep 2; echo end
";
    let mut live = h.spawn(pb, &h.inventory(), &[]);
    // Both hosts' "start" arrive while both commands still run.
    for host in ["h1", "h2"] {
        live.wait_for(
            &format!("output 'start' of {host}"),
            Duration::from_secs(60),
            |e| is_output(e, host, "start"),
        );
    }
    let run = live.finish(hosts::RUN_TIMEOUT);
    run.assert_code(0);

    let start = |host: &str| {
        run.find_line(|e| is_output(e, host, "start"))
            .unwrap_or_else(|| panic!("no 'start' output of {host}\n{}", run.dump()))
    };
    let end = |host: &str| {
        run.find_line(|e| is_output(e, host, "end"))
            .unwrap_or_else(|| panic!("no 'end' output of {host}\n{}", run.dump()))
    };
    let (s1, s2, e1, e2) = (start("h1"), start("h2"), end("h1"), end("h2"));
    let last_start = s1.0.max(s2.0);
    let first_end = e1.0.min(e2.0);
    assert!(
        last_start < first_end,
        "the hosts did not run in parallel: both 'start' must come before either 'end'\n{}",
        run.dump()
    );
    // Streamed: the test read "start" while the command was still sleeping, not at its end.
    for (host, s, e) in [("h1", s1, e1), ("h2", s2, e2)] {
        assert!(
            e.1.duration_since(s.1) >= Duration::from_millis(1500),
            "{host}: 'start' was read only {:?} before 'end' (not streamed?)\n{}",
            e.1.duration_since(s.1),
            run.dump()
        );
    }
    for host in ["h1", "h2"] {
        let r = run.result(host, "start and end");
        assert_eq!(r["status"], "changed", "{}", run.dump());
        assert_eq!(stdout_of(r), "start\nend", "{}", run.dump());
        let facts = run.result(host, "facts");
        assert!(
            facts.to_string().contains(&format!("hostname is {host}")),
            "facts gathered over SSH should give the host's name: {facts}"
        );
        let c = run.stats(host);
        assert_eq!(
            (c.changed, c.failed, c.unreachable),
            (1, 0, 0),
            "{}",
            run.dump()
        );
    }
    eprintln!(
        "parallel run: {:?} for two 2 s commands (facts included)",
        run.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Host keys: unknown, accept-new, changed

#[test]
fn host_keys_unknown_accept_new_and_changed() {
    if !root_or_skip("host_keys_unknown_accept_new_and_changed") {
        return;
    }
    let h = Hosts::up(2, &[], &[]);
    let kh = h.write("kh/known_hosts", "");
    let inv = h.write_inventory("inv-kh.yml", |_| {
        vec![("ansible_ssh_common_args".into(), yq(&ssh_args(&kh, "yes")))]
    });

    // Strict: refused with the fingerprint, nothing recorded.
    let run = h.run(HELLO, &inv, &[]);
    run.assert_code(4);
    for host in ["h1", "h2"] {
        let msg = run.unreachable_msg(host);
        let fp = h.host_fingerprint(host);
        assert!(
            msg.contains("not known") && msg.contains(&fp),
            "{host}: expected an unknown-host-key message with {fp}, got {msg:?}"
        );
        assert_eq!(run.stats(host).unreachable, 1);
    }
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        "",
        "strict mode wrote known_hosts"
    );

    // accept-new: trusted and recorded.
    let run = h.run(HELLO, &inv, &["--accept-new-host-keys"]);
    run.assert_code(0);
    let text = std::fs::read_to_string(&kh).unwrap();
    for host in ["h1", "h2"] {
        let want = format!("{} {}", h.addr(host), h.host_key(host));
        assert!(
            text.lines().any(|l| l.trim() == want),
            "known_hosts should have {want:?}, has:\n{text}"
        );
        assert_eq!(run.status(host, "hello"), "changed");
    }
    // The recorded keys satisfy strict checking.
    h.run(HELLO, &inv, &[]).assert_code(0);

    // h1 gets a new key: refused (also with accept-new), h2 goes on.
    let old = h.host_fingerprint("h1");
    h.ctl("rekey", "h1");
    let new = h.host_fingerprint("h1");
    assert_ne!(old, new);
    for args in [&[][..], &["--accept-new-host-keys"][..]] {
        let run = h.run(HELLO, &inv, args);
        run.assert_code(4);
        let msg = run.unreachable_msg("h1");
        assert!(
            msg.contains("HOST KEY CHANGED") && msg.contains(&old) && msg.contains(&new),
            "expected HOST KEY CHANGED with {old} and {new}, got {msg:?}"
        );
        assert_eq!(run.status("h2", "hello"), "changed", "{}", run.dump());
        let c = run.stats("h2");
        assert_eq!((c.changed, c.failed, c.unreachable), (1, 0, 0));
    }
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        text,
        "a changed key must not touch known_hosts"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Wrong private key

#[test]
fn wrong_private_key_is_unreachable_naming_the_methods() {
    if !root_or_skip("wrong_private_key_is_unreachable_naming_the_methods") {
        return;
    }
    let h = Hosts::up(1, &[], &[]);
    let wrong = h.p("wrong_ed25519");
    let o = hosts::run_with_timeout(
        {
            let mut c = std::process::Command::new("ssh-keygen");
            c.args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&wrong);
            c
        },
        Duration::from_secs(10),
    );
    assert!(o.ok(), "ssh-keygen: {}", o.stderr);
    let inv = h.write_inventory("inv-wrong-key.yml", |_| {
        vec![(
            "ansible_ssh_private_key_file".into(),
            yq(&wrong.display().to_string()),
        )]
    });
    let run = h.run(HELLO, &inv, &[]);
    run.assert_code(4);
    let msg = run.unreachable_msg("h1");
    assert!(
        msg.contains("authentication failed (tried: ")
            && msg.contains(&format!("publickey {}", wrong.display())),
        "expected 'authentication failed (tried: ... publickey {})', got {msg:?}",
        wrong.display()
    );
    assert!(
        msg.contains("agent"),
        "the agent (not running here) should be listed as tried: {msg:?}"
    );
    assert_eq!(run.stats("h1").unreachable, 1);
}

// ---------------------------------------------------------------------------------------------
// 4. sudo with a password

/// Inventory logging in as `deploy`, becoming root with the sudo password.
fn deploy_inventory(h: &Hosts) -> std::path::PathBuf {
    let pw = h.deploy_password();
    h.write_inventory("inv-deploy.yml", |_| {
        vec![
            ("ansible_user".into(), "deploy".into()),
            ("ansible_become".into(), "true".into()),
            ("ansible_become_password".into(), yq(&pw)),
        ]
    })
}

#[test]
fn sudo_with_password_becomes_root_without_exposing_it() {
    if !root_or_skip("sudo_with_password_becomes_root_without_exposing_it") {
        return;
    }
    let h = Hosts::up(1, &[], &[]);
    let pw = h.deploy_password();
    assert!(pw.len() >= 16, "deploy.password looks odd: {pw:?}");
    let inv = deploy_inventory(&h);
    let pb = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: uid
      command: id -u
    - name: login user
      command: id -un
      become: false
    - name: nap
      shell: sleep 3
";
    let mut live = h.spawn(pb, &inv, &[]);
    live.wait_for("task_start of nap", Duration::from_secs(60), |e| {
        is_task_start(e, "h1", "nap")
    });
    // Sample the host's process list while the become'd command runs.
    let mut samples = Vec::new();
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        let o = h.exec("h1", &["ps", "-eo", "pid,user,args"]);
        assert!(o.ok(), "ps: {}", o.stderr);
        samples.push(o.stdout);
        std::thread::sleep(Duration::from_millis(150));
    }
    let run = live.finish(hosts::RUN_TIMEOUT);
    run.assert_code(0);
    assert_eq!(stdout_of(run.result("h1", "uid")), "0", "{}", run.dump());
    assert_eq!(
        stdout_of(run.result("h1", "login user")),
        "deploy",
        "{}",
        run.dump()
    );
    assert_eq!(run.status("h1", "nap"), "changed");
    assert!(
        samples.iter().any(|s| s
            .lines()
            .any(|l| l.contains("root") && l.ends_with("sleep 3"))),
        "no ps sample caught the command running as root:\n{}",
        samples.join("\n---\n")
    );
    for s in &samples {
        assert!(
            !s.contains(&pw),
            "the sudo password shows in the host's process list:\n{s}"
        );
    }
    assert!(!run.stdout.contains(&pw), "password in --json output");
    assert!(!run.stderr.contains(&pw), "password on stderr");
    assert!(!h.journal().contains(&pw), "password in the journal");
}

#[test]
fn become_still_escalates_after_facts_were_gathered_with_become() {
    if !root_or_skip("become_still_escalates_after_facts_were_gathered_with_become") {
        return;
    }
    let h = Hosts::up(1, &[], &[]);
    let inv = deploy_inventory(&h);
    // gather_facts defaults to true; like Ansible, setup runs with become too.
    let pb = "\
- hosts: all
  tasks:
    - name: uid
      command: id -u
";
    let run = h.run(pb, &inv, &[]);
    run.assert_code(0);
    assert_eq!(
        stdout_of(run.result("h1", "uid")),
        "0",
        "become: true (login deploy) must run the task as root also after fact gathering\n{}",
        run.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. sshd stopped before the run

#[test]
fn stopped_sshd_makes_only_that_host_unreachable() {
    if !root_or_skip("stopped_sshd_makes_only_that_host_unreachable") {
        return;
    }
    // Named hosts (`--names`), one with a dash.
    let h = Hosts::up(2, &["app1", "db-1"], &[]);
    let (up, down) = ("app1", "db-1");
    h.ctl("sshd-stop", down);
    let pb = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: hello
      command: echo hello
    - name: check
      command: /bin/true
      changed_when: false
";
    let run = h.run(pb, &h.inventory(), &[]);
    run.assert_code(4);
    let c1 = run.stats(up);
    assert_eq!(
        (c1.ok, c1.changed, c1.failed, c1.unreachable),
        (2, 1, 0, 0),
        "{up} stats\n{}",
        run.dump()
    );
    let c2 = run.stats(down);
    assert_eq!(
        (c2.ok, c2.changed, c2.failed, c2.unreachable),
        (0, 0, 0, 1),
        "{down} stats\n{}",
        run.dump()
    );
    let msg = run.unreachable_msg(down);
    assert!(
        msg.contains(h.addr(down)) && msg.contains("refused"),
        "expected a refused connection to {}, got {msg:?}",
        h.addr(down)
    );
    assert!(
        !run.results(down).iter().any(|e| e["task"] == "check"),
        "{down} went on after being unreachable"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. The connection dies during a command / during a copy

#[test]
fn killed_sshd_during_long_task_makes_that_host_unreachable() {
    if !root_or_skip("killed_sshd_during_long_task_makes_that_host_unreachable") {
        return;
    }
    let h = Hosts::up(2, &[], &[]);
    let inv = h.write_inventory("inv-nap.yml", |host| {
        vec![(
            "nap".into(),
            if host.name == "h1" { "20" } else { "4" }.into(),
        )]
    });
    let pb = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: long
      shell: echo started; sleep {{ nap }}; echo done
    - name: after
      command: echo after
";
    let mut live = h.spawn(pb, &inv, &["--command-timeout", "60"]);
    for host in ["h1", "h2"] {
        live.wait_for(&format!("{host} started"), Duration::from_secs(60), |e| {
            is_output(e, host, "started")
        });
    }
    let killed = Instant::now();
    h.kill_ssh_connections("h1");
    live.wait_for("h1 unreachable", Duration::from_secs(15), |e| {
        is_result(e, "h1", "long") && e["status"] == "unreachable"
    });
    let noticed = killed.elapsed();
    let run = live.finish(hosts::RUN_TIMEOUT);
    run.assert_code(4);
    assert!(
        noticed < Duration::from_secs(10),
        "the lost connection was noticed only after {noticed:?}"
    );
    let msg = run.unreachable_msg("h1");
    assert!(msg.contains("connection"), "h1: {msg:?}");
    assert!(!run.results("h1").iter().any(|e| e["task"] == "after"));
    assert_eq!(run.status("h2", "long"), "changed", "{}", run.dump());
    assert_eq!(stdout_of(run.result("h2", "long")), "started\ndone");
    assert_eq!(run.status("h2", "after"), "changed");
    assert_eq!(run.stats("h1").unreachable, 1);
    let c2 = run.stats("h2");
    assert_eq!((c2.changed, c2.failed, c2.unreachable), (2, 0, 0));
    assert!(
        run.elapsed() < Duration::from_secs(18),
        "the run waited for h1's 20 s command: {:?}",
        run.elapsed()
    );
    eprintln!(
        "lost connection noticed after {noticed:?}; run took {:?}",
        run.elapsed()
    );
}

/// Local `sha256sum FILE`.
fn sha256_local(path: &std::path::Path) -> String {
    let mut c = std::process::Command::new("sha256sum");
    c.arg(path);
    let o = hosts::run_with_timeout(c, Duration::from_secs(60));
    assert!(o.ok(), "sha256sum: {}", o.stderr);
    o.stdout
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn copy_cut_mid_transfer_leaves_old_or_new_content_never_partial() {
    if !root_or_skip("copy_cut_mid_transfer_leaves_old_or_new_content_never_partial") {
        return;
    }
    let h = Hosts::up(1, &[], &[]);
    // 50 MB of text.
    let mut big = String::with_capacity(50 << 20);
    let mut i = 0u64;
    while big.len() < 50 << 20 {
        big.push_str(&format!(
            "{i:010} the quick brown fox jumps over the lazy dog\n"
        ));
        i += 1;
    }
    let src = h.write("files/big.txt", &big);
    let new_sum = sha256_local(&src);
    drop(big);
    let old_sum = h
        .sh(
            "h1",
            "printf 'old content\\n' > /root/big.txt; sha256sum /root/big.txt",
        )
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    // Slow the machine→host direction down so the transfer takes a few seconds (50 MB at
    // 100 Mbit/s ≈ 4 s). The veth is the harness's; `down` deletes it with its qdisc.
    let veth = h.host("h1").veth.clone();
    assert!(!veth.is_empty(), "no veth for h1 in hosts.list");
    let mut tc = std::process::Command::new("tc");
    tc.args([
        "qdisc", "add", "dev", &veth, "root", "tbf", "rate", "100mbit", "burst", "256kb",
        "latency", "1s",
    ]);
    let o = hosts::run_with_timeout(tc, Duration::from_secs(10));
    assert!(o.ok(), "tc: {}", o.stderr);

    let pb = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: big copy
      copy:
        src: big.txt
        dest: /root/big.txt
";
    let mut live = h.spawn(pb, &h.inventory(), &[]);
    live.wait_for("task_start of big copy", Duration::from_secs(60), |e| {
        is_task_start(e, "h1", "big copy")
    });
    // Wait until the temp file next to the destination is being written, then cut.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0u64;
    while Instant::now() < deadline {
        let o = h.exec(
            "h1",
            &[
                "sh",
                "-c",
                "stat -c %s /root/.slm-wizard.* 2>/dev/null | sort -n | tail -1",
            ],
        );
        seen = o.stdout.trim().parse().unwrap_or(0);
        if seen > 5 << 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        seen > 5 << 20,
        "the copy's temp file never grew past 5 MB ({seen} bytes)"
    );
    h.kill_ssh_connections("h1");
    let run = live.finish(hosts::RUN_TIMEOUT);
    run.assert_code(4);
    assert_eq!(
        run.result("h1", "big copy")["status"],
        "unreachable",
        "the copy was not cut\n{}",
        run.dump()
    );
    // Whatever the remote script still does after losing its connection happens now.
    std::thread::sleep(Duration::from_millis(1500));
    let state = h.sh(
        "h1",
        "sha256sum /root/big.txt; stat -c %s /root/big.txt; ls -la /root/ | grep slm-wizard || true",
    );
    let sum = state.split_whitespace().next().unwrap_or_default();
    assert!(
        sum == old_sum || sum == new_sum,
        "after a cut mid-copy, /root/big.txt is neither the old nor the new content \
         (partial write); copy cut at {seen} bytes of {} (old {old_sum}, new {new_sum}):\n{state}",
        50 << 20
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Local port forward to PostgreSQL on the host's own address

#[test]
fn forward_local_reaches_postgres_listening_only_on_the_host_address() {
    if !root_or_skip("forward_local_reaches_postgres_listening_only_on_the_host_address") {
        return;
    }
    use sqlx::Connection;
    use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};

    let h = Hosts::up(1, &[], &[]);
    let addr = h.addr("h1").to_string();
    let role_pw = format!("pw-{}", std::process::id());
    // PostgreSQL listens on h1's address only; pg_hba lets the test role in only from that
    // address, i.e. from h1 itself (the machine connects from the gateway address).
    h.sh(
        "h1",
        &format!(
            "set -e; c=/etc/postgresql/15/main; \
             echo \"listen_addresses = '{addr}'\" > $c/conf.d/99-test.conf; \
             echo 'host all slmtest {addr}/32 scram-sha-256' >> $c/pg_hba.conf"
        ),
    );
    h.ctl("pg-start", "h1");
    h.sh(
        "h1",
        &format!(
            "runuser -u postgres -- psql -XAtc \"CREATE ROLE slmtest LOGIN PASSWORD '{role_pw}'\""
        ),
    );
    let listening = h.sh("h1", "ss -ltnH 'sport = :5432'");
    assert!(
        listening.contains(&format!("{addr}:5432")) && !listening.contains("127.0.0.1:5432"),
        "PostgreSQL should listen on {addr} only:\n{listening}"
    );

    let opts = |port: u16, host: &str| {
        PgConnectOptions::new()
            .host(host)
            .port(port)
            .username("slmtest")
            .password(&role_pw)
            .database("postgres")
            .ssl_mode(PgSslMode::Disable)
    };
    hosts::runtime().block_on(async {
        // Not from the machine directly.
        let direct = tokio::time::timeout(
            Duration::from_secs(10),
            PgConnection::connect_with(&opts(5432, &addr)),
        )
        .await
        .expect("direct connect timed out");
        assert!(direct.is_err(), "the machine itself should not get in");

        let mut p = SshParams::new(addr.clone(), 22, "root");
        p.identity_files = vec![h.key()];
        p.known_hosts = Some(h.known_hosts());
        let t = SshTransport::connect(p).await.expect("ssh connect");
        let (local, guard) = t.forward_local(&addr, 5432).await.expect("forward_local");
        assert!(local.ip().is_loopback(), "{local}");
        let mut conn = tokio::time::timeout(
            Duration::from_secs(15),
            PgConnection::connect_with(&opts(local.port(), "127.0.0.1")),
        )
        .await
        .expect("connect through the forward timed out")
        .expect("connect through the forward");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .expect("SELECT 1");
        assert_eq!(one, 1);
        let (server, client): (String, String) =
            sqlx::query_as("SELECT host(inet_server_addr()), host(inet_client_addr())")
                .fetch_one(&mut conn)
                .await
                .expect("addresses");
        assert_eq!(server, addr);
        assert_eq!(
            client, addr,
            "the forwarded connection should come from h1 itself"
        );
        conn.close().await.expect("close");

        // The forward's target is resolved on the host: its loopback has no PostgreSQL.
        let (lo, _lo_guard) = t
            .forward_local("127.0.0.1", 5432)
            .await
            .expect("forward lo");
        let r = tokio::time::timeout(
            Duration::from_secs(15),
            PgConnection::connect_with(&opts(lo.port(), "127.0.0.1")),
        )
        .await
        .expect("connect to the loopback forward timed out");
        assert!(r.is_err(), "h1's 127.0.0.1:5432 should not answer");

        // Dropping the guard stops the listener.
        drop(guard);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let gone = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(local),
        )
        .await;
        assert!(
            !matches!(gone, Ok(Ok(_))),
            "the forward still accepts connections after its guard was dropped"
        );
        use slm_wizard::transport::Transport;
        t.close().await;
    });
}

// ---------------------------------------------------------------------------------------------
// 8. apt installs PostgreSQL offline on a host without it

#[test]
fn apt_installs_postgresql_offline_then_reports_no_change() {
    if !root_or_skip("apt_installs_postgresql_offline_then_reports_no_change") {
        return;
    }
    let h = Hosts::up(1, &[], &["h1"]);
    let before = h.exec(
        "h1",
        &[
            "dpkg-query",
            "-W",
            "-f=${db:Status-Status}",
            "postgresql-15",
        ],
    );
    assert!(
        before.stdout.trim() != "installed",
        "postgresql-15 should be purged on a --no-postgres host"
    );
    let pb = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: pg
      apt:
        name: postgresql-15
        state: present
";
    let first = h.run(pb, &h.inventory(), &[]);
    first.assert_code(0);
    assert_eq!(first.status("h1", "pg"), "changed", "{}", first.dump());
    let after = h.sh(
        "h1",
        "dpkg-query -W -f='${db:Status-Status} ${Version}' postgresql-15",
    );
    assert!(after.starts_with("installed "), "dpkg says {after:?}");
    let second = h.run(pb, &h.inventory(), &[]);
    second.assert_code(0);
    assert_eq!(second.status("h1", "pg"), "ok", "{}", second.dump());
    assert_eq!(second.stats("h1").changed, 0);
    eprintln!(
        "apt install took {:?}, the idempotent re-run {:?}",
        first.elapsed(),
        second.elapsed()
    );
}

/// `-K` asks for the become password once, on the terminal, without echo (as ansible-playbook).
#[test]
fn ask_become_pass_prompts_on_the_terminal() {
    if !root_or_skip("ask_become_pass_prompts_on_the_terminal") {
        return;
    }
    let h = Hosts::up(1, &[], &[]);
    let pw = h.deploy_password();
    let inv = h.write_inventory("inv-ask.yml", |_| {
        vec![
            ("ansible_user".into(), "deploy".into()),
            ("ansible_become".into(), "true".into()),
        ]
    });
    let pb = h.write(
        "ask.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: uid\n      shell: id -u > /tmp/ask-uid\n",
    );
    let term = Terminal::run(&h, &pb, &inv, &["-K"]);
    term.wait_for("BECOME password:");
    term.type_line(&pw);
    let text = term.wait_for("EXIT=");
    assert!(text.contains("EXIT=0"), "{text}");
    assert!(!text.contains(&pw), "the password was echoed:\n{text}");
    assert_eq!(h.sh("h1", "cat /tmp/ask-uid").trim(), "0");
}

/// An encrypted identity file with no passphrase given is unlocked by asking on the terminal,
/// once for all hosts that use it (as OpenSSH would ask).
#[test]
fn encrypted_key_passphrase_is_asked_once_on_the_terminal() {
    if !root_or_skip("encrypted_key_passphrase_is_asked_once_on_the_terminal") {
        return;
    }
    let h = Hosts::up(2, &[], &[]);
    let phrase = "correct-horse-battery-42";
    let key = h.p("enc_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", phrase, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let public = std::fs::read_to_string(h.p("enc_key.pub")).expect("public key");
    for name in ["h1", "h2"] {
        h.sh(
            name,
            &format!("echo '{}' >> /root/.ssh/authorized_keys", public.trim()),
        );
    }
    let key_s = key.display().to_string();
    let inv = h.write_inventory("inv-enc.yml", |_| {
        vec![("ansible_ssh_private_key_file".into(), yq(&key_s))]
    });
    let pb = h.write(
        "enc.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: hi\n      command: hostname\n",
    );
    let term = Terminal::run(&h, &pb, &inv, &[]);
    term.wait_for("Enter passphrase for key");
    term.type_line(phrase);
    let text = term.wait_for("EXIT=");
    assert!(text.contains("EXIT=0"), "{text}");
    assert_eq!(
        text.matches("Enter passphrase for key").count(),
        1,
        "asked more than once:\n{text}"
    );
    assert!(!text.contains(phrase), "the passphrase was echoed:\n{text}");
}

/// A run of the binary in a real terminal (a tmux pane), for prompts that read /dev/tty.
struct Terminal {
    session: String,
}

impl Terminal {
    fn tmux(args: &[&str]) -> std::process::Output {
        tmux::tmux().args(args).output().expect("tmux")
    }

    /// `slm-wizard run PLAYBOOK -i INVENTORY ARGS…`, no ssh-agent; the pane stays for reading.
    fn run(
        h: &Hosts,
        playbook: &std::path::Path,
        inventory: &std::path::Path,
        args: &[&str],
    ) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let session = format!("slm-term-{}-{n}", std::process::id());
        let cmd = format!(
            "SSH_AUTH_SOCK= XDG_STATE_HOME={} {} run {} -i {} {}; echo EXIT=$?; sleep 30",
            h.p("xdg").display(),
            env!("CARGO_BIN_EXE_slm-wizard"),
            playbook.display(),
            inventory.display(),
            args.join(" ")
        );
        let started = Self::tmux(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "160",
            "-y",
            "40",
            &cmd,
        ]);
        assert!(started.status.success(), "tmux new-session failed");
        Self { session }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&Self::tmux(&["capture-pane", "-p", "-t", &self.session]).stdout)
            .into_owned()
    }

    /// Waits (60 s at most) until the screen shows `what`; returns the screen.
    fn wait_for(&self, what: &str) -> String {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.screen();
            if text.contains(what) {
                return text;
            }
            assert!(
                Instant::now() < until,
                "waiting for {what:?}; screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn type_line(&self, text: &str) {
        Self::tmux(&["send-keys", "-t", &self.session, text, "Enter"]);
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Self::tmux(&["kill-session", "-t", &self.session]);
    }
}
