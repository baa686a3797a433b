//! Fault campaign (issue 18): what slm-wizard guarantees when things break mid-run, with real
//! components — the binary, OpenSSH test hosts (tests/hosts/hostctl), PostgreSQL 15.
//!
//! - one real run per deployment: a second one is refused (exit 6) naming who, what and since
//!   when; a run killed with SIGKILL leaves a lock the next run takes over;
//! - SIGKILL of slm-wizard mid-run: no half-written file on a target, the journal readable and
//!   marked interrupted by the next run, the secret store intact, a re-run converges;
//! - the network to one host cut mid-run: that host unreachable within the keepalive timeout,
//!   the others finish;
//! - the target's disk full during a template write: the old file intact, a clear error;
//! - PostgreSQL killed during a migration: rolled back, the next `migrate` applies it.
//!
//! The networked tests need root and skip loudly without it (see tests/it/support/hosts.rs).

use crate::support::cmd;
use crate::support::hosts;
use crate::support::tmux;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hosts::{Hosts, root_or_skip, ssh_args, yq};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The run lock (local connection: no root needed)

/// A playbook that writes `started` into the sandbox, then takes `secs` seconds.
fn slow_playbook(secs: u32) -> String {
    format!(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: mark\n      command: touch @D@/started\n    - name: slow\n      command: sleep {secs}\n"
    )
}

/// Starts `slm-wizard run PB -i INV --json` in the sandbox without waiting; `env` is added.
fn spawn_run(sb: &cmd::Sandbox, pb: &Path, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(cmd::BIN);
    cmd.args(["run", &pb.display().to_string(), "-i"])
        .arg(sb.inventory())
        .arg("--json")
        .current_dir(sb.path())
        .env("XDG_STATE_HOME", sb.state_dir())
        .env("NO_COLOR", "1")
        .env_remove("SSH_CLIENT")
        .env_remove("SSH_CONNECTION")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn slm-wizard")
}

/// Waits until `path` exists (the slow run reached its slow task).
#[track_caller]
fn wait_for_file(path: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("the first run ended ({st}) before its slow task:\n{err}");
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every line of a journal parses as JSON; returns them.
#[track_caller]
fn journal_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("journal readable");
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| {
                panic!("{}: a line that is not JSON ({e}): {l:?}", path.display())
            })
        })
        .collect()
}

/// The journal file written by the run with this pid (its name ends in `-PID.START.jsonl`).
fn journal_of(runs_dir: &Path, pid: u32) -> Option<PathBuf> {
    std::fs::read_dir(runs_dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".jsonl") && n.contains(&format!("-{pid}.")))
        })
}

#[test]
fn a_second_run_of_the_deployment_is_refused_naming_who_what_and_since() {
    let sb = cmd::Sandbox::new();
    let pb = sb.write("deploy.yml", &sb.subst(&slow_playbook(4)));
    let mut first = spawn_run(&sb, &pb, &[("SSH_CLIENT", "198.51.100.7 50022 22")]);
    wait_for_file(&sb.p("started"), &mut first);

    let second = sb.run_file(&pb, &[]);
    second.assert_code(6);
    let msg = &second.stderr;
    for want in [
        "another run of this deployment (local1) is in progress".to_string(),
        format!("slm-wizard run, pid {}, user ", first.id()),
        format!("playbook {}", pb.display()),
        format!("inventory {}", sb.inventory().display()),
        "from SSH client 198.51.100.7 port 50022".into(),
        "\n  since ".into(),
        " UTC (".into(),
    ] {
        assert!(
            msg.contains(&want),
            "{want:?} not in the refusal\n{}",
            second.dump()
        );
    }
    assert!(
        second.events.is_empty(),
        "the refused run must not start: {}",
        second.dump()
    );
    // A dry run changes nothing: it is not refused.
    sb.run_file(&pb, &["--check"]).assert_ok();
    // Another deployment (other playbook, same hosts) is not either.
    let other = sb.write(
        "other.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=hi\n",
    );
    sb.run_file(&other, &[]).assert_ok();

    assert_eq!(wait_exit(&mut first, Duration::from_secs(60)), 0);
    // Once the first has ended, the next one runs.
    let third = sb.run_file(&pb, &[]);
    third.assert_ok();
    assert!(
        !third.stderr.contains("killed"),
        "a run that ended normally is not a killed one\n{}",
        third.dump()
    );
}

/// `runner export` stores generated secrets in the deployment's store: while a run of the
/// deployment holds the lock it is refused like a second run, and writes nothing.
#[test]
fn runner_export_is_refused_while_a_run_holds_the_lock() {
    let sb = cmd::Sandbox::new();
    let pb = sb.write("deploy.yml", &sb.subst(&slow_playbook(4)));
    sb.write("deploy.survey.yml", SURVEY);
    let mut first = spawn_run(&sb, &pb, &[]);
    wait_for_file(&sb.p("started"), &mut first);

    let inv = sb.inventory().display().to_string();
    let pb_s = pb.display().to_string();
    let export = sb.run_raw(&["runner", "export", "exp", &pb_s, "-i", &inv]);
    export.assert_code(6);
    for want in [
        "another run of this deployment (local1) is in progress".to_string(),
        format!("slm-wizard run, pid {}, user ", first.id()),
    ] {
        assert!(export.stderr.contains(&want), "{want:?}\n{}", export.dump());
    }
    assert!(
        !sb.exists("exp"),
        "a refused export wrote {}",
        sb.p("exp").display()
    );

    assert_eq!(wait_exit(&mut first, Duration::from_secs(60)), 0);
    // Once the run has ended, the export goes ahead (with the run's stored password).
    let export = sb.run_raw(&["runner", "export", "exp", &pb_s, "-i", &inv]);
    export.assert_ok();
    assert!(
        sb.exists("exp/project/slm-wizard-secrets.yml"),
        "{}",
        export.dump()
    );
}

#[test]
fn a_run_killed_with_sigkill_leaves_a_lock_the_next_run_takes_over() {
    let sb = cmd::Sandbox::new();
    let pb = sb.write("deploy.yml", &sb.subst(&slow_playbook(30)));
    let mut first = spawn_run(&sb, &pb, &[]);
    let pid = first.id();
    wait_for_file(&sb.p("started"), &mut first);
    // Well into the 30 s task.
    std::thread::sleep(Duration::from_millis(700));
    first.kill().expect("SIGKILL");
    let _ = first.wait();

    let runs = sb.state_dir().join("slm-wizard/runs");
    let killed = journal_of(&runs, pid).expect("the killed run's journal");
    let before = journal_events(&killed);
    assert!(
        before
            .iter()
            .any(|e| e["event"] == "task_start" && e["task"] == "slow"),
        "the journal has every event up to the kill: {before:?}"
    );
    assert!(!before.iter().any(|e| e["event"] == "stats"));

    // The lock is free (the kernel released the killed run's flock): the next run goes ahead
    // at once, it does not wait for the 30 s task.
    std::fs::remove_file(sb.p("started")).unwrap();
    let started = Instant::now();
    let quick = sb.write("deploy.yml", &sb.subst(&slow_playbook(0)));
    let next = sb.run_file(&quick, &[]);
    next.assert_ok();
    assert!(started.elapsed() < Duration::from_secs(20));

    let after = journal_events(&killed);
    let last = after.last().expect("events");
    assert_eq!(last["event"], "interrupted", "{after:?}");
    assert_eq!(last["pid"], pid);
    assert_eq!(after.len(), before.len() + 1, "only the marker is added");
    // Marked once: a later run leaves it alone.
    sb.run_file(&quick, &[]).assert_ok();
    assert_eq!(journal_events(&killed).len(), after.len());
    // The finished runs' journals end with their stats and are not marked.
    for f in sb.journal_files() {
        if f != killed {
            let ev = journal_events(&f);
            assert_eq!(ev.last().map(|e| e["event"].clone()), Some("stats".into()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SSH test hosts

/// sha256 of a file inside a host, or "absent".
fn remote_sha(h: &Hosts, host: &str, path: &str) -> String {
    h.sh(
        host,
        &format!("if [ -e {path} ]; then sha256sum {path} | cut -d' ' -f1; else echo absent; fi"),
    )
    .trim()
    .to_string()
}

/// Temp files of the engine's atomic writes left in a directory of a host.
fn leftovers(h: &Hosts, host: &str, dir: &str) -> String {
    h.sh(
        host,
        &format!("ls -A {dir} | grep '^\\.slm-wizard\\.' || true"),
    )
    .trim()
    .to_string()
}

/// A template of about 7 MB: a write that takes long enough to be cut, and fills a small disk.
const BIG_TEMPLATE: &str = "{% for a in range(100) %}{% for b in range(1000) %}{{ marker }} line {{ a * 1000 + b }} of the big file, padded to be long enough..........\n{% endfor %}{% endfor %}";

const SURVEY: &str = "name: Faults\nspec:\n  - question_name: App password\n    variable: app_password\n    type: password\n    generate: password\n    required: true\n";

const KILL_PLAYBOOK: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: app dir
      file: {path: /srv/app, state: directory, mode: '0755'}
    - name: password file
      copy: {dest: /srv/app/password, content: \"{{ app_password }}\", mode: '0600'}
    - name: big file
      template: {src: big.j2, dest: /srv/app/big.conf}
    - name: after
      command: echo done
";

#[test]
fn sigkill_mid_run_leaves_no_half_written_file_and_a_rerun_converges() {
    if !root_or_skip("sigkill_mid_run_leaves_no_half_written_file_and_a_rerun_converges") {
        return;
    }
    let h = Hosts::up(2, &[], &[]);
    let pb = h.write("deploy.yml", KILL_PLAYBOOK);
    h.write("deploy.survey.yml", SURVEY);
    h.write("templates/big.j2", BIG_TEMPLATE);
    let inv = h.inventory();
    let hosts = ["h1", "h2"];

    // A first, complete run: the store holds the generated password, the old big file is on
    // every host.
    let run = h
        .spawn_path(&pb, &inv, &["-e", "marker=old"])
        .finish(hosts::RUN_TIMEOUT);
    run.assert_code(0);
    let old = remote_sha(&h, "h1", "/srv/app/big.conf");
    assert_eq!(remote_sha(&h, "h2", "/srv/app/big.conf"), old);
    let size: u64 = h
        .sh("h1", "stat -c %s /srv/app/big.conf")
        .trim()
        .parse()
        .unwrap();
    assert!(size > 6_000_000, "{size}");
    let secrets = h.p("xdg/slm-wizard/secrets");
    let store_files = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .expect("secrets dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml"))
            .map(|p| {
                let b = std::fs::read(&p).expect("store");
                (p, b)
            })
            .collect();
        v.sort();
        v
    };
    let store_before = store_files(&secrets);
    assert_eq!(store_before.len(), 1, "one store: {store_before:?}");
    let password = h.sh("h1", "cat /srv/app/password");

    // The second run is killed while it writes the big file.
    let mut live = h.spawn_path(&pb, &inv, &["-e", "marker=new"]);
    let pid = live.pid();
    live.wait_for("big file starts", Duration::from_secs(60), |e| {
        e["event"] == "task_start" && e["task"] == "big file"
    });
    // Kill as soon as a temp file shows on a host (the upload is under way), else soon.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = false;
    while Instant::now() < deadline && !seen {
        seen = hosts
            .iter()
            .any(|host| !leftovers(&h, host, "/srv/app").is_empty());
    }
    live.kill_hard();
    eprintln!("killed pid {pid} (temp file seen before the kill: {seen})");

    // No half-written file: the old content or the new one, whole (the new one is known after
    // the re-run).
    std::thread::sleep(Duration::from_secs(1));
    let mut after_kill = Vec::new();
    for host in hosts {
        after_kill.push((host, remote_sha(&h, host, "/srv/app/big.conf")));
        assert_eq!(h.sh(host, "cat /srv/app/password"), password);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !leftovers(&h, host, "/srv/app").is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(
            leftovers(&h, host, "/srv/app"),
            "",
            "{host}: the cut write left its temp file"
        );
    }
    // The secret store is intact (byte for byte, no temp files beside it).
    assert_eq!(store_files(&secrets), store_before);
    let stray: Vec<_> = std::fs::read_dir(&secrets)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    // The journal is readable up to the kill.
    let runs = h.p("xdg/slm-wizard/runs");
    let killed = journal_of(&runs, pid).expect("journal of the killed run");
    let events = journal_events(&killed);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "task_start" && e["task"] == "big file")
    );

    // The re-run converges: the new content everywhere, the same password, the killed run's
    // journal marked interrupted.
    let rerun = h
        .spawn_path(&pb, &inv, &["-e", "marker=new"])
        .finish(hosts::RUN_TIMEOUT);
    rerun.assert_code(0);
    let new = remote_sha(&h, "h1", "/srv/app/big.conf");
    assert_ne!(new, old);
    for host in hosts {
        assert_eq!(remote_sha(&h, host, "/srv/app/big.conf"), new);
        assert_eq!(h.sh(host, "cat /srv/app/password"), password);
    }
    for (host, sha) in &after_kill {
        assert!(
            *sha == old || *sha == new,
            "{host}: after the kill /srv/app/big.conf was neither the old nor the new content \
             (a cut write)"
        );
    }
    let marked = journal_events(&killed);
    assert_eq!(
        marked.last().map(|e| e["event"].clone()),
        Some("interrupted".into())
    );
    assert_eq!(marked.len(), events.len() + 1);
    let again = h
        .spawn_path(&pb, &inv, &["-e", "marker=new"])
        .finish(hosts::RUN_TIMEOUT);
    again.assert_code(0);
    for host in hosts {
        assert_eq!(
            again.stats(host).changed,
            1,
            "only `after` (a command) changes\n{}",
            again.dump()
        );
    }
}

#[test]
fn network_cut_to_one_host_mid_run_makes_it_unreachable_and_the_others_finish() {
    if !root_or_skip("network_cut_to_one_host_mid_run_makes_it_unreachable_and_the_others_finish") {
        return;
    }
    let h = Hosts::up(2, &[], &[]);
    // Keepalives every second: a silent peer counts as lost after 3 unanswered ones.
    let inv = h.write_inventory("inv-alive.yml", |_| {
        vec![(
            "ansible_ssh_common_args".into(),
            yq(&format!(
                "{} -o ServerAliveInterval=1",
                ssh_args(&h.known_hosts(), "yes")
            )),
        )]
    });
    let pb = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: long
      shell: echo start; sleep 6; echo end
    - name: after
      command: echo after
";
    let mut live = h.spawn(pb, &inv, &[]);
    for host in ["h1", "h2"] {
        live.wait_for(&format!("start on {host}"), Duration::from_secs(60), |e| {
            e["event"] == "output"
                && e["host"] == host
                && e["data"].as_str().unwrap_or("").contains("start")
        });
    }
    h.ctl("drop", "h1");
    let cut = Instant::now();
    let ev = live.wait_for("h1 unreachable", Duration::from_secs(40), |e| {
        e["host"] == "h1" && (e["event"] == "unreachable" || e["status"] == "unreachable")
    });
    let took = cut.elapsed();
    let run = live.finish(hosts::RUN_TIMEOUT);
    h.ctl("undrop", "h1");
    eprintln!("h1 unreachable {took:?} after the cut: {ev}");
    assert!(
        took < Duration::from_secs(15),
        "h1 was reported unreachable only {took:?} after the cut\n{}",
        run.dump()
    );
    run.assert_code(4);
    assert_eq!(run.stats("h1").unreachable, 1, "{}", run.dump());
    let c = run.stats("h2");
    assert_eq!(
        (c.changed, c.failed, c.unreachable),
        (2, 0, 0),
        "{}",
        run.dump()
    );
    assert_eq!(run.status("h2", "after"), "changed");
}

#[test]
fn disk_full_during_a_template_write_keeps_the_old_file_with_a_clear_error() {
    if !root_or_skip("disk_full_during_a_template_write_keeps_the_old_file_with_a_clear_error") {
        return;
    }
    let h = Hosts::up(1, &[], &[]);
    // A 512 KiB filesystem on the destination directory, inside the host only.
    h.sh(
        "h1",
        "mkdir -p /srv/full && mount -t tmpfs -o size=512k,mode=0755 slmfull /srv/full \
         && printf 'old content\\n' > /srv/full/app.conf",
    );
    h.write("templates/big.j2", BIG_TEMPLATE);
    let pb = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: big file
      template: {src: big.j2, dest: /srv/full/app.conf}
";
    let run = h.run(pb, &h.inventory(), &["-e", "marker=new"]);
    run.assert_code(2);
    let r = run.result("h1", "big file");
    assert_eq!(r["status"], "failed", "{}", run.dump());
    let msg = r["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains("/srv/full/app.conf") && msg.contains("No space left on device"),
        "the error should name the file and the cause: {msg:?}"
    );
    assert_eq!(h.sh("h1", "cat /srv/full/app.conf"), "old content\n");
    assert_eq!(
        leftovers(&h, "h1", "/srv/full"),
        "",
        "temp file left on the full disk"
    );
    // The space the temp file took is free again.
    let used: u64 = h
        .sh("h1", "df -k --output=used /srv/full | tail -1")
        .trim()
        .parse()
        .expect("df");
    assert!(used < 64, "{used} KiB still used");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL killed during a migration

#[test]
fn postgres_killed_during_a_migration_rolls_back_and_the_next_migrate_applies_it() {
    // Its own cluster: this test kills it.
    let pg = cmd::PgCluster::start();
    let pw = "Fault-Test-pw-0123456789";
    pg.psql(&format!("CREATE ROLE slm_app LOGIN PASSWORD '{pw}'"));
    pg.psql("CREATE DATABASE slm_users OWNER slm_app");
    let dir = tempfile::tempdir().unwrap();
    let mig = dir.path().join("slm_users");
    std::fs::create_dir_all(&mig).unwrap();
    std::fs::write(
        mig.join("0001_first.sql"),
        "CREATE TABLE first1 (id int);\n",
    )
    .unwrap();
    std::fs::write(
        mig.join("0002_slow.sql"),
        "CREATE TABLE slow1 (id int);\nINSERT INTO slow1 VALUES (1);\nSELECT pg_sleep(3);\nCREATE TABLE slow2 (id int);\n",
    )
    .unwrap();
    let url = format!("postgres://slm_app:{pw}@127.0.0.1:{}/slm_users", pg.port);
    let migrate = || {
        let mut cmd = Command::new(cmd::BIN);
        cmd.args(["migrate", "--database", "slm_users", "--migrations-dir"])
            .arg(dir.path())
            .env_remove("SLM_DATABASE_URL")
            .env_remove("AUTOBOT_USERS_DATABASE_URL")
            .env_remove("PGPASSWORD")
            .env("SLM_USERS_DATABASE_URL", &url)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let tables = || {
        pg.psql_db(
            "slm_users",
            "SELECT coalesce(string_agg(table_name, ',' ORDER BY table_name), '') FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .trim()
        .to_string()
    };

    let started = Instant::now();
    let first = migrate();
    let child = std::thread::spawn(move || cmd::run_with_timeout(first, Duration::from_secs(60)));
    // Kill the server (immediate stop: no checkpoint, like a crash) while 0002 sleeps.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()");
        if n.trim() == "1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow migration never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pg.stop();
    let out = child.join().expect("migrate thread");
    eprintln!(
        "migrate ended {:?} after its start: {}\n{}",
        started.elapsed(),
        out.stdout,
        out.stderr
    );
    assert_eq!(
        out.code, 1,
        "a migrate cut by the server's death fails\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("applied 0001_first.sql"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("0002_slow.sql"),
        "the error names the migration: {}",
        out.stderr
    );
    assert!(!out.stderr.contains(pw) && !out.stdout.contains(pw));

    pg.start_again();
    // Rolled back: nothing of 0002, and not recorded as applied.
    assert_eq!(tables(), "first1,migrations_applied");
    assert_eq!(
        pg.psql_db(
            "slm_users",
            "SELECT string_agg(name, ',') FROM migrations_applied"
        )
        .trim(),
        "0001_first.sql"
    );
    let out = cmd::run_with_timeout(migrate(), Duration::from_secs(60));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("applied 0002_slow.sql"),
        "{}",
        out.stdout
    );
    assert_eq!(tables(), "first1,migrations_applied,slow1,slow2");
}

// ---------------------------------------------------------------------------------------------
// The run lock between a headless run and the wizard

/// The wizard's real run of a deployment a headless run holds is refused like a run that could
/// not start, naming the holder; its dry run is not.
#[test]
fn a_wizard_run_is_refused_while_a_headless_run_holds_the_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("playbooks/inventory")).unwrap();
    let pb = root.join("playbooks/slowdeploy.yml");
    std::fs::write(
        &pb,
        format!(
            "- name: Slow deploy\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: mark\n      command: touch {}/started\n    - name: slow\n      command: sleep 60\n",
            root.display()
        ),
    )
    .unwrap();
    let inv = root.join("playbooks/inventory/test.yml");
    std::fs::write(
        &inv,
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
    )
    .unwrap();
    let mut headless = Command::new(cmd::BIN)
        .args([
            "run",
            &pb.display().to_string(),
            "-i",
            &inv.display().to_string(),
            "--json",
        ])
        .current_dir(root)
        .env("XDG_STATE_HOME", root.join("state"))
        .env("HOME", root)
        .env_remove("SSH_CLIENT")
        .env_remove("SSH_CONNECTION")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the headless run");
    wait_for_file(&root.join("started"), &mut headless);

    let Some(s) = tmux::Session::start(
        root,
        "-i playbooks/inventory/test.yml -p playbooks/slowdeploy.yml",
        "h9lock",
    ) else {
        let _ = headless.kill();
        return;
    };
    s.wait_for(&["1. Playbook", "slowdeploy"]);
    s.keys(&["Enter"]);
    s.wait_for(&["2. Variables"]);
    s.keys(&["C-s"]);
    s.wait_for(&["3. Hosts", "localhost"]);
    s.keys(&["Enter"]);
    // The dry run takes no lock.
    s.wait_for(&["dry run finished"]);
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);
    let screen = s.wait_for(&["another run of this deployment"]);
    let flat: String = screen
        .lines()
        .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        format!("slm-wizard run, pid {}, user", headless.id()),
        "since ".into(),
        "playbook ".into(),
    ] {
        assert!(flat.contains(&want), "{want:?} not shown:\n{screen}");
    }
    assert!(
        !root
            .join("state/slm-wizard/runs")
            .read_dir()
            .unwrap()
            .any(|e| {
                e.ok().is_some_and(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    !n.contains(&format!("-{}.", headless.id()))
                })
            }),
        "the refused wizard run must not start (no journal of its own)"
    );
    s.keys(&["q"]);
    let _ = headless.kill();
    let _ = headless.wait();
}
