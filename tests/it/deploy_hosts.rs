//! The User Management Database playbook deployed end to end on real test hosts:
//! `slm` (the SLM server, starts WITHOUT PostgreSQL), `redis` (the Redis VM), and `client`
//! (a host that is in no group of the inventory).

use crate::support::hosts;

use std::path::{Path, PathBuf};

use crate::support::cmd::ansible_playbook;
use hosts::{Hosts, root_or_skip};

const SLM_PW: &str = "slm-pw-0123456789-abcdefgh";
const AUTOBOT_PW: &str = "autobot-pw-0123456789-abcdefgh";

fn playbook() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/user-management-db.yml")
}

fn pw_args() -> Vec<String> {
    vec![
        "-e".into(),
        format!("slm_db_password={SLM_PW}"),
        "-e".into(),
        format!("autobot_db_password={AUTOBOT_PW}"),
    ]
}

/// psql over TCP from `from` as `user` with `password`; Ok(stdout) or Err(stderr).
fn psql_tcp(
    h: &Hosts,
    from: &str,
    host: &str,
    user: &str,
    password: &str,
    db: &str,
    sql: &str,
) -> Result<String, String> {
    let script = format!(
        "PGPASSWORD='{password}' PGCONNECT_TIMEOUT=5 psql -X -At -h {host} -U {user} -d {db} -c \"{sql}\""
    );
    let o = h.exec(from, &["sh", "-c", &script]);
    if o.ok() {
        Ok(o.stdout.trim().to_string())
    } else {
        Err(o.stderr)
    }
}

fn as_postgres(h: &Hosts, on: &str, db: &str, sql: &str) -> String {
    h.sh(
        on,
        &format!("cd / && runuser -u postgres -- psql -X -At -d {db} -c \"{sql}\""),
    )
    .trim()
    .to_string()
}

fn any_changed(run: &hosts::Run, host: &str, task: &str) -> bool {
    run.results(host)
        .iter()
        .any(|e| e["task"] == task && e["status"] == "changed")
}

#[test]
fn deploys_both_hosts_then_converges_and_repairs_drift() {
    if !root_or_skip("deploys_both_hosts_then_converges_and_repairs_drift") {
        return;
    }
    let h = Hosts::up(3, &["slm", "redis", "client"], &["slm"]);
    let inv = h.spec_inventory("deploy-inventory.yml");
    let args: Vec<String> = pw_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // 1. First deployment: PostgreSQL is installed on slm, both hosts are configured.
    let run = h.run_path(&playbook(), &inv, &args);
    run.assert_code(0);
    assert_eq!(
        run.status("slm", "Install PostgreSQL 15"),
        "changed",
        "{}",
        run.dump()
    );
    assert!(run.stats("slm").changed > 0 && run.stats("redis").changed > 0);

    // 2. autobot_app reaches autobot_users on redis from slm (an allowed client), over TCP.
    let redis = h.addr("redis").to_string();
    assert_eq!(
        psql_tcp(
            &h,
            "slm",
            &redis,
            "autobot_app",
            AUTOBOT_PW,
            "autobot_users",
            "SELECT current_user"
        )
        .as_deref(),
        Ok("autobot_app")
    );
    // ... but not from the client host, which pg_hba does not list.
    let refused = psql_tcp(
        &h,
        "client",
        &redis,
        "autobot_app",
        AUTOBOT_PW,
        "autobot_users",
        "SELECT 1",
    )
    .expect_err("client must be refused");
    assert!(refused.contains("no pg_hba.conf entry"), "{refused}");
    // slm_app cannot reach autobot_users, autobot_app cannot reach slm's databases.
    assert!(
        psql_tcp(
            &h,
            "slm",
            &redis,
            "slm_app",
            SLM_PW,
            "autobot_users",
            "SELECT 1"
        )
        .is_err()
    );
    assert!(
        psql_tcp(
            &h,
            "slm",
            "127.0.0.1",
            "autobot_app",
            AUTOBOT_PW,
            "slm",
            "SELECT 1"
        )
        .is_err()
    );
    assert_eq!(
        psql_tcp(
            &h,
            "slm",
            "127.0.0.1",
            "slm_app",
            SLM_PW,
            "slm_users",
            "SELECT current_database()"
        )
        .as_deref(),
        Ok("slm_users")
    );
    // Least privilege and SCRAM.
    assert_eq!(
        as_postgres(
            &h,
            "slm",
            "postgres",
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'slm_app'"
        ),
        "f"
    );
    assert_eq!(
        as_postgres(
            &h,
            "redis",
            "postgres",
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'autobot_app'"
        ),
        "f"
    );
    for host in ["slm", "redis"] {
        assert_eq!(
            as_postgres(&h, host, "postgres", "SHOW password_encryption"),
            "scram-sha-256"
        );
        assert_eq!(
            as_postgres(
                &h,
                host,
                "postgres",
                "SELECT count(*) FROM pg_authid WHERE rolname LIKE '%_app' AND rolpassword NOT LIKE 'SCRAM-SHA-256$%'"
            ),
            "0"
        );
        // PUBLIC may not connect to the application databases.
        assert_eq!(
            as_postgres(
                &h,
                host,
                "postgres",
                "SELECT count(*) FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) e WHERE d.datname IN ('slm','slm_users','autobot_users') AND e.grantee = 0 AND e.privilege_type = 'CONNECT'"
            ),
            "0"
        );
    }
    // The backend's environment file on the SLM server points at the Redis VM.
    let env = h.sh(
        "slm",
        "cat /etc/slm/database.env; stat -c %a /etc/slm/database.env",
    );
    assert!(
        env.contains(&format!("@{redis}:5432/autobot_users")),
        "{env}"
    );
    assert!(env.contains("postgresql+asyncpg://slm_app:"), "{env}");
    assert!(env.trim_end().ends_with("640"), "{env}");
    // No password in the run's output or journal.
    for text in [&run.stdout, &run.stderr, &h.journal()] {
        assert!(
            !text.contains(SLM_PW) && !text.contains(AUTOBOT_PW),
            "a password leaked"
        );
    }

    // 2b. Migrations, run on the SLM server as the backend would: URLs from the env file the
    //     playbook wrote, as the app users (autobot_users over TCP on the Redis VM).
    // The host sees its own /tmp, not the machine's: run a copy the host can see.
    let bin = h.in_host_copy("slm").bin.display().to_string();
    let migrate = |extra: &str| {
        h.sh(
            "slm",
            &format!("cd / && {bin} migrate --env-file /etc/slm/database.env {extra} 2>&1"),
        )
    };
    let first = migrate("");
    assert!(first.contains("applied"), "{first}");
    let status = migrate("--status");
    for db in ["slm_users", "autobot_users"] {
        assert!(
            status
                .lines()
                .any(|l| l.contains(db) && l.contains("applied")),
            "{status}"
        );
        assert!(
            !status
                .lines()
                .any(|l| l.contains(db) && l.contains("pending")),
            "{status}"
        );
    }
    let again = migrate("");
    assert!(again.contains("nothing to do"), "{again}");
    assert_eq!(
        psql_tcp(&h, "slm", &redis, "autobot_app", AUTOBOT_PW, "autobot_users", "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('users','roles','user_roles','sessions','api_keys','audit_log')").as_deref(),
        Ok("6")
    );
    for text in [&first, &status, &again] {
        assert!(
            !text.contains(SLM_PW) && !text.contains(AUTOBOT_PW),
            "a password leaked: {text}"
        );
    }

    // 3. A second run changes nothing.
    let run = h.run_path(&playbook(), &inv, &args);
    run.assert_code(0);
    assert_eq!(run.stats("slm").changed, 0, "{}", run.dump());
    assert_eq!(run.stats("redis").changed, 0, "{}", run.dump());

    // 3b. The real ansible-playbook agrees: nothing to change after slm-wizard, and slm-wizard
    //     finds nothing to change after it.
    if let Some(ansible) = ansible_playbook() {
        let out = std::process::Command::new(&ansible)
            .arg("-i")
            .arg(&inv)
            .arg(playbook())
            .args([
                "-e",
                &format!("slm_db_password={SLM_PW}"),
                "-e",
                &format!("autobot_db_password={AUTOBOT_PW}"),
            ])
            .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
            .env("ANSIBLE_HOST_KEY_CHECKING", "True")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .expect("run ansible-playbook");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ansible-playbook failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for host in ["slm", "redis"] {
            let recap = text
                .lines()
                .find(|l| l.starts_with(host) && l.contains("changed="))
                .unwrap_or_default();
            assert!(
                recap.contains("changed=0") && recap.contains("failed=0"),
                "ansible-playbook on {host}: {recap}\n{text}"
            );
        }
        let run = h.run_path(&playbook(), &inv, &args);
        run.assert_code(0);
        assert_eq!(
            run.stats("slm").changed + run.stats("redis").changed,
            0,
            "{}",
            run.dump()
        );
    }

    // 4. Drift: a hand edit of pg_hba on redis, a dropped database on slm, a stopped service on redis.
    h.sh(
        "redis",
        "echo 'host all all 0.0.0.0/0 trust' >> /etc/postgresql/15/main/pg_hba.conf",
    );
    as_postgres(&h, "slm", "postgres", "DROP DATABASE slm_users");
    h.sh("redis", "pg_ctlcluster 15 main stop");
    let run = h.run_path(&playbook(), &inv, &args);
    run.assert_code(0);
    assert!(
        any_changed(&run, "redis", "Allow only the known clients (pg_hba.conf)"),
        "{}",
        run.dump()
    );
    assert!(
        any_changed(&run, "redis", "Enable and start PostgreSQL"),
        "{}",
        run.dump()
    );
    assert!(
        any_changed(&run, "slm", "Create the databases"),
        "{}",
        run.dump()
    );
    assert!(
        !any_changed(&run, "slm", "Allow only the known clients (pg_hba.conf)"),
        "{}",
        run.dump()
    );
    assert!(
        !h.sh("redis", "cat /etc/postgresql/15/main/pg_hba.conf")
            .contains("trust")
    );
    assert_eq!(
        as_postgres(
            &h,
            "slm",
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'slm_users'"
        ),
        "1"
    );
    assert_eq!(
        psql_tcp(
            &h,
            "slm",
            &redis,
            "autobot_app",
            AUTOBOT_PW,
            "autobot_users",
            "SELECT 1"
        )
        .as_deref(),
        Ok("1")
    );
}

/// Throwaway marks in the machine's own PostgreSQL files and /etc/slm (as a deployment to this
/// machine leaves them); each is removed again on drop, also when the test panics.
struct MachineMarks {
    files: Vec<PathBuf>,
    /// /etc/slm when this test created it.
    created_dir: Option<PathBuf>,
}

impl MachineMarks {
    fn make(tag: &str) -> MachineMarks {
        let mut me = MachineMarks {
            files: Vec::new(),
            created_dir: None,
        };
        let slm = Path::new("/etc/slm");
        if !slm.exists() {
            std::fs::create_dir(slm).expect("create /etc/slm");
            me.created_dir = Some(slm.to_path_buf());
        }
        for dir in [
            "/etc/postgresql/15/main/conf.d",
            "/var/lib/postgresql",
            "/var/log/postgresql",
            "/etc/slm",
        ] {
            assert!(
                Path::new(dir).is_dir(),
                "{dir} is missing: the machine needs postgresql-15 with its cluster 15 main (tests/run installs it)"
            );
            let file = Path::new(dir).join(format!("99-{tag}.conf"));
            std::fs::write(&file, "# a test host must not see this file\n").expect("write mark");
            me.files.push(file);
        }
        me
    }
}

impl Drop for MachineMarks {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        if let Some(d) = &self.created_dir {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// `pg_lsclusters -h` on the machine (this only reads the clusters' configuration).
fn machine_clusters() -> String {
    let o = std::process::Command::new("pg_lsclusters")
        .arg("-h")
        .output()
        .expect("run pg_lsclusters");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Section 4 of issue 14: a test host's PostgreSQL never depends on the machine's. The machine's
/// configuration, data directory, log directory and /etc/slm carry marks (as after a deployment
/// to this machine); an ordinary host sees none of them and has the pristine `15 main` (not
/// started, no databases but the stock ones); a --no-postgres host has no PostgreSQL state at
/// all. The machine's cluster is left as it was.
#[test]
fn test_hosts_start_from_a_pristine_postgresql_not_the_machines() {
    if !root_or_skip("test_hosts_start_from_a_pristine_postgresql_not_the_machines") {
        return;
    }
    let tag = format!("slm-hosts-test-{}", std::process::id());
    let before = machine_clusters();
    let marks = MachineMarks::make(&tag);
    let pristine =
        hosts::pristine_dir().expect("the machine has PostgreSQL, so a pristine cluster");

    let h = Hosts::up(2, &["pg", "nopg"], &["nopg"]);
    // Not a trace of the marks, in any of the places.
    let seen = h.sh(
        "pg",
        &format!(
            "ls -A /etc/postgresql/15/main/conf.d /var/lib/postgresql /var/log/postgresql; \
             ls -d /etc/slm 2>&1; grep -rl {tag} /etc/postgresql /var/lib/postgresql /var/log/postgresql 2>&1; true"
        ),
    );
    assert!(
        !seen.contains(&tag),
        "the host sees the machine's marks:\n{seen}"
    );
    assert!(seen.contains("cannot access '/etc/slm'"), "{seen}");
    // Exactly the pristine cluster: 15 main on 5432, down, its data directory a copy of the
    // pristine one (the same system identifier).
    assert_eq!(
        h.sh("pg", "pg_lsclusters -h").trim(),
        "15 main 5432 down postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log"
    );
    let sysid = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("Database system identifier"))
            .map(|l| l.to_string())
            .unwrap_or_else(|| panic!("no system identifier in:\n{text}"))
    };
    let pristine_data = pristine.join("var/lib/postgresql/15/main");
    let o = std::process::Command::new("/usr/lib/postgresql/15/bin/pg_controldata")
        .arg(&pristine_data)
        .env("LC_ALL", "C")
        .output()
        .expect("run pg_controldata");
    let want = sysid(&String::from_utf8_lossy(&o.stdout));
    let got = sysid(&h.sh(
        "pg",
        "LC_ALL=C /usr/lib/postgresql/15/bin/pg_controldata /var/lib/postgresql/15/main",
    ));
    assert_eq!(got, want);
    h.ctl("pg-start", "pg");
    assert_eq!(
        as_postgres(
            &h,
            "pg",
            "postgres",
            "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"
        ),
        "postgres,template0,template1"
    );
    assert_eq!(
        as_postgres(
            &h,
            "pg",
            "postgres",
            "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname !~ '^pg_'"
        ),
        "postgres"
    );
    // The --no-postgres host: nothing.
    let none = h.sh(
        "nopg",
        "ls -d /etc/postgresql /var/lib/postgresql /var/log/postgresql /etc/slm 2>&1; true",
    );
    assert_eq!(none.matches("No such file").count(), 4, "{none}");
    drop(h);

    // The machine: its marks are still there, its clusters as they were.
    for f in &marks.files {
        assert!(f.exists(), "{} was removed on the machine", f.display());
    }
    drop(marks);
    assert_eq!(machine_clusters(), before);
}

/// The non-comment lines of the host's pg_hba.conf.
fn hba_lines(h: &Hosts, host: &str) -> Vec<String> {
    h.sh(host, "cat /etc/postgresql/15/main/pg_hba.conf")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn postmaster_started(h: &Hosts, host: &str) -> String {
    as_postgres(h, host, "postgres", "SELECT pg_postmaster_start_time()")
}

/// Sections 5 and 8 of issue 14, on one host in both roles (as the local inventory has it):
/// PostgreSQL listens on localhost and the inventory's address of the host only, so an address
/// or an interface that comes later changes nothing and restarts nothing; the operator's
/// `postgresql_listen_addresses` are added; an allowed client equal to a line already written
/// (the host's own 127.0.0.1/32, a repeated entry) adds no second line to pg_hba.conf.
#[test]
fn listen_addresses_stay_put_when_interfaces_change_and_pg_hba_has_no_duplicates() {
    if !root_or_skip(
        "listen_addresses_stay_put_when_interfaces_change_and_pg_hba_has_no_duplicates",
    ) {
        return;
    }
    let h = Hosts::up(1, &["db"], &[]);
    let addr = h.addr("db").to_string();
    let subnet = format!(
        "{}.0/24",
        addr.rsplit_once('.')
            .map(|(net, _)| net)
            .unwrap_or_default()
    );
    let inventory = |extra: &str| {
        let conn = h.inventory_text(|_| Vec::new());
        let conn = conn
            .strip_prefix("all:\n  hosts:\n    db:\n")
            .unwrap_or(&conn);
        format!(
            "all:\n  children:\n    slm_server:\n      hosts:\n        db:\n{}{extra}    redis_vm:\n      hosts:\n        db:\n  vars:\n    postgresql_allowed_clients:\n      - 127.0.0.1/32\n      - {subnet}\n      - {subnet}\n",
            conn.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        )
    };
    let inv = h.write("listen-inventory.yml", &inventory(""));
    let args: Vec<String> = pw_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let conf = "/etc/postgresql/15/main/conf.d/50-slm-restart.conf";

    let run = h.run_path(&playbook(), &inv, &args);
    run.assert_code(0);
    let listen = |h: &Hosts| {
        h.sh("db", &format!("grep '^listen_addresses' {conf}"))
            .trim()
            .to_string()
    };
    assert_eq!(listen(&h), format!("listen_addresses = 'localhost,{addr}'"));
    let sockets = h.sh("db", "ss -ltnH 'sport = :5432'");
    assert!(
        sockets.contains(&format!("{addr}:5432")) && sockets.contains("127.0.0.1:5432"),
        "{sockets}"
    );
    // pg_hba: one line per client and database, none twice.
    let lines = hba_lines(&h, "db");
    let mut unique = lines.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        lines.len(),
        "duplicate lines:\n{}",
        lines.join("\n")
    );
    for db in ["slm", "slm_users", "autobot_users"] {
        for client in ["127.0.0.1/32", subnet.as_str()] {
            let n = lines
                .iter()
                .filter(|l| l.starts_with(&format!("host {db} ")) && l.contains(client))
                .count();
            assert_eq!(n, 1, "{db} {client}:\n{}", lines.join("\n"));
        }
    }
    // The allowed subnet really may connect (from the host's own address, over TCP).
    assert_eq!(
        psql_tcp(
            &h,
            "db",
            &addr,
            "autobot_app",
            AUTOBOT_PW,
            "autobot_users",
            "SELECT 1"
        )
        .as_deref(),
        Ok("1")
    );
    let started = postmaster_started(&h, "db");

    // A new address on eth0 and a new interface (a veth pair) with an address of its own.
    h.sh(
        "db",
        "ip addr add 10.99.0.1/24 dev eth0 && ip link add slmx0 type veth peer name slmx1 && \
         ip addr add 10.98.0.1/24 dev slmx0 && ip link set slmx0 up && ip link set slmx1 up",
    );
    let run = h.run_path(&playbook(), &inv, &args);
    run.assert_code(0);
    assert_eq!(run.stats("db").changed, 0, "{}", run.dump());
    assert_eq!(
        run.status("db", "Configure listen addresses and port (restart)"),
        "ok"
    );
    assert_eq!(
        postmaster_started(&h, "db"),
        started,
        "PostgreSQL was restarted"
    );
    assert_eq!(listen(&h), format!("listen_addresses = 'localhost,{addr}'"));

    // The operator's extra address (set for the host in the inventory) is listened on.
    let inv = h.write(
        "listen-inventory-2.yml",
        &inventory("          postgresql_listen_addresses:\n            - 10.99.0.1\n"),
    );
    let run = h.run_path(&playbook(), &inv, &args);
    run.assert_code(0);
    assert_eq!(
        run.status("db", "Configure listen addresses and port (restart)"),
        "changed"
    );
    assert_eq!(
        listen(&h),
        format!("listen_addresses = 'localhost,{addr},10.99.0.1'")
    );
    let sockets = h.sh("db", "ss -ltnH 'sport = :5432'");
    assert!(sockets.contains("10.99.0.1:5432"), "{sockets}");
    assert!(!sockets.contains("10.98.0.1:5432"), "{sockets}");
}

/// Section 5 of issue 14 when the inventory names the host instead of giving its address: the
/// name counts as the host's own addresses it resolves to there, never a loopback answer
/// (Debian's `127.0.1.1 NAME`). The playbook runs on the host itself (local connection, the
/// host's inventory name `db`, which its /etc/hosts maps to 127.0.1.1 and to its address).
#[test]
fn listen_address_of_an_inventory_name_is_what_it_resolves_to_on_the_host() {
    if !root_or_skip("listen_address_of_an_inventory_name_is_what_it_resolves_to_on_the_host") {
        return;
    }
    let h = Hosts::up(1, &["db"], &[]);
    let addr = h.addr("db").to_string();
    h.sh("db", "sed -i '1i 127.0.1.1\\tdb' /etc/hosts");
    let resolved = h.sh("db", "getent ahostsv4 db | awk '{print $1}' | sort -u");
    assert!(
        resolved.contains("127.0.1.1") && resolved.contains(&addr),
        "{resolved}"
    );
    // The binary, the playbook and the inventory in the host's state dir, which the host sees
    // at the same path.
    let dir = h.state_dir().join("hosts/db");
    let copy = h.in_host_copy("db");
    let bin = copy.bin.clone();
    let host_playbook = copy.root.join("playbooks/user-management-db.yml");
    let inv = dir.join("local-inventory.yml");
    std::fs::write(
        &inv,
        "all:\n  children:\n    slm_server:\n      hosts:\n        db:\n          ansible_connection: local\n    redis_vm:\n      hosts:\n        db:\n",
    )
    .expect("write inventory");
    let run = || {
        h.sh(
            "db",
            &format!(
                "cd / && XDG_STATE_HOME=/tmp/xdg {} run {} -i {} -e slm_db_password={SLM_PW} -e autobot_db_password={AUTOBOT_PW} 2>&1",
                bin.display(),
                host_playbook.display(),
                inv.display()
            ),
        )
    };
    let first = run();
    let conf = h.sh(
        "db",
        "grep '^listen_addresses' /etc/postgresql/15/main/conf.d/50-slm-restart.conf",
    );
    assert_eq!(
        conf.trim(),
        format!("listen_addresses = 'localhost,{addr}'"),
        "{first}"
    );
    h.sh("db", "ip addr add 10.99.0.1/24 dev eth0");
    let again = run();
    assert!(
        again
            .lines()
            .any(|l| l.starts_with("db ") && l.contains("changed=0") && l.contains("failed=0")),
        "{again}"
    );
}
