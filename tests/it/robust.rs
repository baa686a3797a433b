//! Issue 18 hardening: hostile input and hostile output stay within bounded memory and end in a
//! clear error (exit 5, `ERROR! file:line:col: …`), never a crash; what targets print cannot
//! drive the terminal; journals are capped and pruned.
//!
//! Memory is measured as the peak resident set size of the slm-wizard process itself, which
//! `wait4` reports once it has exited (so no sampling can miss the peak).
//! Tests of one sandbox run one at a time (the measured output files are per sandbox).

use crate::support::cmd;

use std::path::Path;
use std::process::{Command, Stdio};

use cmd::{BIN, PgCluster, Sandbox};

/// What one measured run of the binary left behind.
struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    /// Peak RSS of the process, in KiB.
    max_rss_kib: i64,
}

impl Measured {
    fn dump(&self) -> String {
        let cut = |s: &str| s.chars().take(4000).collect::<String>();
        format!(
            "exit {} rss {} KiB\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.max_rss_kib,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }
}

/// Runs `argv[2:]` and writes its peak RSS (KiB) to the file `argv[1]` once it exited. Measured through this small
/// go-between because a child forked straight from the (large) test process would start with the
/// test process's memory counted in its peak.
const PEAK_RSS: &str = r#"
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) % 256 if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
"#;

/// Runs the binary with `args` in the sandbox (journal there too), output to files, and takes
/// its peak memory. `env` adds variables.
fn run_measured(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Measured {
    let out = sb.p("measured-stdout.txt");
    let err = sb.p("measured-stderr.txt");
    let rss = sb.p("measured-rss.txt");
    let _ = std::fs::remove_file(&rss);
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(PEAK_RSS)
        .arg(&rss)
        .arg(BIN)
        .args(args)
        .current_dir(sb.path())
        .env("XDG_STATE_HOME", sb.state_dir())
        .env("NO_COLOR", "1")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd.status().expect("run python3");
    let code = status.code().unwrap_or(-1);
    Measured {
        code,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        max_rss_kib: std::fs::read_to_string(&rss)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(i64::MAX),
    }
}

fn run_playbook(sb: &Sandbox, pb: &Path, extra: &[&str]) -> Measured {
    let inv = sb.inventory();
    let mut args = vec![
        "run",
        pb.to_str().expect("utf-8 path"),
        "-i",
        inv.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    run_measured(sb, &args, &[])
}

/// Refused like any bad input: exit 5, `ERROR! <file>:<line>:<col>: …` naming `needle`.
#[track_caller]
fn assert_refused_at(m: &Measured, file: &Path, needle: &str) {
    assert_eq!(m.code, 5, "must exit 5\n{}", m.dump());
    let prefix = format!("ERROR! {}:", file.display());
    assert!(m.stderr.starts_with(&prefix), "{}", m.dump());
    let rest = &m.stderr[prefix.len()..];
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().and_then(|l| l.parse::<usize>().ok());
    let col = parts.next().and_then(|c| c.parse::<usize>().ok());
    assert!(
        line.is_some_and(|l| l > 0) && col.is_some_and(|c| c > 0),
        "no line:col\n{}",
        m.dump()
    );
    assert!(
        m.stderr.contains(needle),
        "should say {needle:?}\n{}",
        m.dump()
    );
}

const MIB: i64 = 1024;

/// The review's 478-byte bomb: 9 levels of 9 aliases, 9^9 strings when copied out.
fn alias_bomb() -> String {
    let mut s = String::from(
        "- hosts: all\n  vars:\n    a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..9 {
        let p = i - 1;
        s.push_str(&format!(
            "    a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    s.push_str("  tasks: []\n");
    s
}

#[test]
fn yaml_alias_bomb_is_refused_in_bounded_memory() {
    let sb = Sandbox::new();
    let pb = sb.write("bomb.yml", &alias_bomb());
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &pb, "alias bomb");
    assert!(m.max_rss_kib < 64 * MIB, "peak RSS too high\n{}", m.dump());
}

#[test]
fn yaml_alias_bomb_in_the_inventory_is_refused() {
    let mut inv = String::from("all:\n  vars:\n    a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..9 {
        let p = i - 1;
        inv.push_str(&format!(
            "    a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    inv.push_str("  hosts:\n    local1:\n      ansible_connection: local\n");
    let sb = Sandbox::with_inventory(&inv);
    let pb = sb.write("pb.yml", "- hosts: all\n  gather_facts: no\n  tasks: []\n");
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &sb.inventory(), "alias bomb");
    assert!(m.max_rss_kib < 64 * MIB, "peak RSS too high\n{}", m.dump());
}

#[test]
fn ten_thousand_nested_levels_are_an_error_not_an_abort() {
    let sb = Sandbox::new();
    let mut text = String::from("- hosts: all\n  vars:\n    deep:\n");
    for i in 0..10_000 {
        text.push_str(&format!("{}- \n", "  ".repeat(i + 3)));
    }
    let pb = sb.write("deep.yml", &text);
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &pb, "nested more than");
    // Flow style hits the YAML scanner's limit: still a positioned error.
    let flow = format!(
        "- hosts: all\n  vars:\n    deep: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let pb = sb.write("flow.yml", &flow);
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &pb, "");
}

#[test]
fn a_playbook_importing_itself_is_refused() {
    let sb = Sandbox::new();
    let pb = sb.write(
        "self.yml",
        "- hosts: all\n  gather_facts: no\n  tasks: []\n- import_playbook: self.yml\n",
    );
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &pb, "import_playbook cycle");
    // Two files importing each other: the error names the whole cycle.
    let a = sb.write("a.yml", "- import_playbook: b.yml\n");
    let b = sb.write("b.yml", "- import_playbook: a.yml\n");
    let m = run_playbook(&sb, &a, &[]);
    assert_refused_at(&m, &b, "import_playbook cycle");
    assert!(
        m.stderr.contains("a.yml → ") && m.stderr.contains("b.yml → "),
        "{}",
        m.dump()
    );
}

#[test]
fn an_include_cycle_is_named() {
    let sb = Sandbox::new();
    sb.write("t1.yml", "- include_tasks: t2.yml\n");
    let t2 = sb.write("t2.yml", "- include_tasks: t1.yml\n");
    let pb = sb.write(
        "pb.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - include_tasks: t1.yml\n",
    );
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &t2, "include cycle");
}

/// Every journal file of the sandbox with its size.
fn journal_sizes(sb: &Sandbox) -> Vec<(std::path::PathBuf, u64)> {
    sb.journal_files()
        .into_iter()
        .map(|p| {
            let n = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            (p, n)
        })
        .collect()
}

#[test]
fn two_hundred_megabytes_of_output_stay_bounded() {
    let sb = Sandbox::new();
    let pb = sb.write(
        "loud.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: loud\n      shell: yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz | head -c 200000000\n      register: loud\n    - name: size\n      debug:\n        msg: \"kept={{ loud.stdout | length }}\"\n",
    );
    for mode in [&["-v"][..], &["--json"][..]] {
        let m = run_playbook(&sb, &pb, mode);
        assert_eq!(m.code, 0, "{}", m.dump());
        assert!(
            m.max_rss_kib < 64 * MIB,
            "peak RSS over 64 MiB with {mode:?}\n{}",
            m.dump()
        );
        assert!(m.stdout.len() < 8 << 20, "{} bytes printed", m.stdout.len());
        // The registered result keeps head and tail only (2 × 64 KiB and the note).
        let at = m.stdout.find("kept=").expect("debug msg printed");
        let len: String = m.stdout[at + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let len: usize = len.parse().expect("a length");
        assert!((131_072..140_000).contains(&len), "stdout kept {len} bytes");
        assert!(
            m.stdout.contains("is not shown or journalled"),
            "{}",
            m.dump()
        );
    }
    for (path, size) in journal_sizes(&sb) {
        assert!(
            size < 4 << 20,
            "journal {} has {size} bytes",
            path.display()
        );
    }
}

/// A consumer that falls behind (stdout a pipe nobody reads for a while) holds the run, not
/// memory: the engine waits for room in its event channel before each task, and every event
/// still arrives once the pipe is read.
#[test]
fn a_stalled_consumer_holds_the_run_not_memory() {
    let sb = Sandbox::new();
    const TASKS: usize = 80;
    let mut pb = String::from("- hosts: all\n  gather_facts: no\n  tasks:\n");
    for i in 0..TASKS {
        pb.push_str(&format!(
            "    - name: t{i}\n      shell: head -c 1000000 /dev/zero | tr '\\0' a | fold -w 100\n"
        ));
    }
    let pb = sb.write("many.yml", &pb);
    let inv = sb.inventory();
    let rss = sb.p("measured-rss.txt");
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PEAK_RSS)
        .arg(&rss)
        .arg(BIN)
        .args(["run", pb.to_str().expect("utf-8"), "-i"])
        .arg(&inv)
        .arg("--json")
        .current_dir(sb.path())
        .env("XDG_STATE_HOME", sb.state_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run python3");
    // Without back-pressure the run goes on meanwhile and its events pile up in memory.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out)
        .expect("read stdout");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    let results = out
        .lines()
        .filter(|l| l.starts_with("{\"event\":\"task_result\""))
        .count();
    assert_eq!(results, TASKS, "every result arrives");
    let peak: i64 = std::fs::read_to_string(&rss)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(i64::MAX);
    eprintln!("peak RSS with a stalled consumer: {peak} KiB");
    assert!(peak < 64 * MIB, "peak RSS {peak} KiB");
}

#[test]
fn escape_sequences_from_targets_do_not_reach_the_terminal() {
    let sb = Sandbox::new();
    // Title injection, screen clear, a C1 CSI, and "é" cut between two writes.
    let pb = sb.write(
        "esc.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: hostile\n      shell: \"printf '\\\\033]0;pwned\\\\007\\\\033[2J\\\\302\\\\23331m|caf\\\\303'; sleep 0.3; printf '\\\\251|\\\\n'\"\n",
    );
    let m = run_playbook(&sb, &pb, &["-v"]);
    assert_eq!(m.code, 0, "{}", m.dump());
    assert!(
        !m.stdout.contains('\u{1b}'),
        "raw ESC printed\n{:?}",
        m.stdout
    );
    assert!(
        !m.stdout.contains('\u{7}'),
        "raw BEL printed\n{:?}",
        m.stdout
    );
    assert!(
        !m.stdout.contains('\u{9b}'),
        "raw CSI printed\n{:?}",
        m.stdout
    );
    assert!(m.stdout.contains("\\x1b]0;pwned\\x07"), "{}", m.dump());
    assert!(
        m.stdout.contains("|café|"),
        "UTF-8 split across chunks\n{}",
        m.dump()
    );
}

#[test]
fn old_journals_are_pruned_when_a_run_starts() {
    let sb = Sandbox::new();
    let pb = sb.write("pb.yml", "- hosts: all\n  gather_facts: no\n  tasks: []\n");
    let inv = sb.inventory();
    let args = [
        "run",
        pb.to_str().expect("utf-8"),
        "-i",
        inv.to_str().expect("utf-8"),
    ];
    for _ in 0..5 {
        let m = run_measured(&sb, &args, &[("SLM_WIZARD_KEEP_RUNS", "3")]);
        assert_eq!(m.code, 0, "{}", m.dump());
    }
    assert_eq!(sb.journal_files().len(), 3, "{:?}", sb.journal_files());
    // The defaults keep them (200 runs, 90 days).
    let m = run_measured(&sb, &args, &[]);
    assert_eq!(m.code, 0, "{}", m.dump());
    assert_eq!(sb.journal_files().len(), 4);
}

/// `postgresql_query` against a throwaway cluster, tasks indented under `tasks:`.
fn pg_playbook(pg: &PgCluster, tasks: &str) -> String {
    format!(
        "- hosts: all\n  gather_facts: no\n  tasks:\n{}",
        tasks
            .replace("@PORT@", &pg.port.to_string())
            .replace("@SOCK@", &pg.sock_str())
    )
}

#[test]
fn check_mode_queries_change_nothing() {
    let pg = PgCluster::start();
    pg.psql("CREATE TABLE victims (id int); INSERT INTO victims SELECT generate_series(1, 5)");
    pg.psql("CREATE SEQUENCE seq");
    let sb = Sandbox::with_inventory(&pg.inventory());
    let task = |name: &str, query: &str| {
        format!(
            "    - name: {name}\n      postgresql_query:\n        port: @PORT@\n        login_unix_socket: @SOCK@\n        query: \"{query}\"\n"
        )
    };
    let tasks = [
        task("explain analyze", "EXPLAIN ANALYZE DELETE FROM victims"),
        task("nextval", "SELECT nextval('seq')"),
        task(
            "commit then delete",
            "EXPLAIN SELECT 1; COMMIT; DELETE FROM victims",
        ),
        task("select", "SELECT count(*) AS n FROM victims"),
    ]
    .concat();
    let pb = sb.write("q.yml", &pg_playbook(&pg, &tasks));
    let m = run_playbook(&sb, &pb, &["--check", "--json"]);
    assert_eq!(
        pg.psql("SELECT count(*) FROM victims"),
        "5",
        "check mode deleted rows\n{}",
        m.dump()
    );
    assert_eq!(
        pg.psql("SELECT last_value FROM seq"),
        "1",
        "nextval ran\n{}",
        m.dump()
    );
    assert_eq!(
        pg.psql("SELECT is_called FROM seq"),
        "f",
        "nextval ran\n{}",
        m.dump()
    );
    assert_eq!(m.code, 0, "{}", m.dump());
    assert!(
        m.stdout.contains("\"n\":5"),
        "a real SELECT still answers\n{}",
        m.dump()
    );
    // The same playbook for real does delete (the test can tell the difference).
    let m = run_playbook(&sb, &pb, &["--json"]);
    assert_eq!(pg.psql("SELECT count(*) FROM victims"), "0", "{}", m.dump());
}

#[test]
fn psql_errors_do_not_show_password_verifiers() {
    let pg = PgCluster::start();
    let sb = Sandbox::with_inventory(&pg.inventory());
    let verifier = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$c3RvcmVka2V5c3RvcmVka2V5c3RvcmVka2V5c3RvcmU=:c2VydmVya2V5";
    // A syntax error makes psql quote the statement, verifier and all.
    let tasks = format!(
        "    - name: bad\n      postgresql_query:\n        port: @PORT@\n        login_unix_socket: @SOCK@\n        query: \"ALTER ROLE nobody PASSWORD '{verifier}' SYNTAX ERROR HERE\"\n"
    );
    let pb = sb.write("bad.yml", &pg_playbook(&pg, &tasks));
    let m = run_playbook(&sb, &pb, &["--json"]);
    assert_eq!(m.code, 2, "{}", m.dump());
    assert!(m.stdout.contains("psql:"), "{}", m.dump());
    let leaked = |text: &str| text.contains("c3RvcmVka2V5") || text.contains("c2VydmVya2V5");
    // The statement itself is the task's argument (shown as `query`); psql's message must not
    // repeat it unmasked in `msg`.
    for line in m.stdout.lines().filter(|l| l.contains("\"msg\"")) {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let msg = v["result"]["msg"]
            .as_str()
            .or(v["msg"].as_str())
            .unwrap_or("");
        assert!(!leaked(msg), "verifier in psql's message: {msg}");
    }
}

#[test]
fn check_diff_over_a_big_file_is_not_printed_or_journalled() {
    let sb = Sandbox::new();
    let big = sb.p("big.txt");
    let line = "a fairly long line of text that repeats\n";
    std::fs::write(&big, line.repeat(40 * 1024 * 1024 / line.len())).expect("write big");
    let pb = sb.write(
        "diff.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: small over big\n      copy:\n        dest: @D@/big.txt\n        content: \"small\\n\"\n",
    );
    for mode in [
        &["--check", "--diff"][..],
        &["--check", "--diff", "--json"][..],
    ] {
        let m = run_playbook(&sb, &pb, mode);
        assert_eq!(m.code, 0, "{}", m.dump());
        assert!(m.stdout.len() < 1 << 20, "{} bytes printed", m.stdout.len());
        assert!(m.stdout.contains("(not shown: 41943"), "{}", m.dump());
        // The big destination is compared by size and checksum, never loaded.
        assert!(
            m.max_rss_kib < 64 * MIB,
            "peak RSS over 64 MiB\n{}",
            m.dump()
        );
    }
    for (path, size) in journal_sizes(&sb) {
        assert!(
            size < 1 << 20,
            "journal {} has {size} bytes",
            path.display()
        );
    }
    // For real: the small content replaces the big file; again, nothing changes.
    let m = run_playbook(&sb, &pb, &["--json"]);
    assert_eq!(m.code, 0, "{}", m.dump());
    assert_eq!(std::fs::read_to_string(&big).expect("read"), "small\n");
    let m = run_playbook(&sb, &pb, &["--json"]);
    assert!(m.stdout.contains("\"changed\":0"), "{}", m.dump());
}
