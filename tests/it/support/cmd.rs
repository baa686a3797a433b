//! Shared helpers for the integration tests: a sandbox directory with a one-host local inventory,
//! running the `slm-wizard` binary headless (`--json`), reading its events and journal, and a real
//! throw-away PostgreSQL 15 cluster.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_slm-wizard");

/// No single run of the binary may take longer than this.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The default inventory: one host over the local connection.
pub const LOCAL_INVENTORY: &str = "all:\n  hosts:\n    local1:\n      ansible_connection: local\n";

/// A temporary directory holding playbooks, an inventory, the journal (`XDG_STATE_HOME`) and any
/// files the playbooks manage. `@D@` in playbook text is replaced by the directory's path.
pub struct Sandbox {
    dir: tempfile::TempDir,
    counter: AtomicUsize,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Self::with_inventory(LOCAL_INVENTORY)
    }

    pub fn with_inventory(inventory: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("slm-it-")
            .tempdir()
            .expect("create temp dir");
        let sb = Self {
            dir,
            counter: AtomicUsize::new(0),
        };
        std::fs::create_dir_all(sb.state_dir()).expect("state dir");
        sb.write("inventory.yml", inventory);
        sb
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// An absolute path inside the sandbox.
    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The sandbox path as text (for building playbooks).
    pub fn d(&self) -> String {
        self.dir.path().display().to_string()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn inventory(&self) -> PathBuf {
        self.p("inventory.yml")
    }

    /// Writes a file (parents created), with `@D@` replaced by the sandbox path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.p(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&path, self.subst(text)).expect("write file");
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.p(rel))
            .unwrap_or_else(|e| panic!("read {}: {e}", self.p(rel).display()))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.p(rel).symlink_metadata().is_ok()
    }

    pub fn subst(&self, text: &str) -> String {
        text.replace("@D@", &self.d())
    }

    /// Writes `playbook` to a new file `pb-N.yml` and runs it with `--json` against the sandbox
    /// inventory, plus `args`.
    pub fn run(&self, playbook: &str, args: &[&str]) -> Run {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let pb = self.write(&format!("pb-{n}.yml"), playbook);
        self.run_file(&pb, args)
    }

    /// Runs an existing playbook file with `--json -i inventory.yml` plus `args`.
    pub fn run_file(&self, playbook: &Path, args: &[&str]) -> Run {
        let inv = self.inventory();
        let mut full: Vec<String> = vec![
            "run".into(),
            playbook.display().to_string(),
            "-i".into(),
            inv.display().to_string(),
            "--json".into(),
        ];
        full.extend(args.iter().map(|a| self.subst(a)));
        self.run_raw(&full)
    }

    /// Runs the binary with exactly these arguments (journal in the sandbox).
    pub fn run_raw<S: AsRef<str>>(&self, args: &[S]) -> Run {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .current_dir(self.path())
            .env("XDG_STATE_HOME", self.state_dir())
            .env("NO_COLOR", "1")
            .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        no_ansible_settings(&mut cmd);
        Run::from_output(args, run_with_timeout(cmd, RUN_TIMEOUT))
    }

    /// ansible-playbook's stdout for `playbook` on the sandbox inventory, run in the sandbox
    /// without colour, with the system python3 (this machine's pyenv shim is broken).
    pub fn ansible_stdout(&self, ansible: &Path, playbook: &Path) -> String {
        let o = Command::new(ansible)
            .arg("-i")
            .arg(self.inventory())
            .arg(playbook)
            .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .current_dir(self.path())
            .output()
            .expect("run ansible-playbook");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Every journal file's text, concatenated.
    pub fn journal(&self) -> String {
        let dir = self.state_dir().join("slm-wizard").join("runs");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("")
    }

    pub fn journal_files(&self) -> Vec<PathBuf> {
        let dir = self.state_dir().join("slm-wizard").join("runs");
        match std::fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => Vec::new(),
        }
    }
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Removes the test's `ANSIBLE_*` settings (ansible.cfg's variables: forks, inventory, become,
/// …) from `cmd`; `ANSIBLE_PLAYBOOK` (which ansible-playbook to use) stays.
pub fn no_ansible_settings(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("ANSIBLE_") && k != "ANSIBLE_PLAYBOOK" {
            cmd.env_remove(&*k);
        }
    }
}

/// Runs a command, killing it (and failing the test) when it takes longer than `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd.spawn().expect("spawn command");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = t_out.join().unwrap_or_default();
            let stderr = t_err.join().unwrap_or_default();
            panic!(
                "command {cmd:?} did not finish within {timeout:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Output {
        code,
        stdout,
        stderr,
    }
}

/// One finished run of the binary.
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Every stdout line that parsed as JSON.
    pub events: Vec<Value>,
}

impl Run {
    /// A finished run of the binary with `args`: its output and the JSON events in it.
    pub fn from_output(args: Vec<String>, out: Output) -> Self {
        let events = out
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        Run {
            args,
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
            events,
        }
    }

    /// Everything, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "args: {:?}\nexit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.dump());
        self
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        self.assert_code(0)
    }

    /// (ok, changed, failed, skipped, unreachable) of a host from the final stats event.
    #[track_caller]
    pub fn stats(&self, host: &str) -> (u64, u64, u64, u64, u64) {
        stats(&self.events, host).unwrap_or_else(|| panic!("no stats for {host}\n{}", self.dump()))
    }

    pub fn has_stats_for(&self, host: &str) -> bool {
        stats(&self.events, host).is_some()
    }

    /// The `changed` count of the host.
    #[track_caller]
    pub fn changed(&self, host: &str) -> u64 {
        self.stats(host).1
    }

    pub fn task_results(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["event"] == "task_result")
            .collect()
    }

    /// Every task_result of the task named `name` (one per host/item).
    pub fn results_of(&self, name: &str) -> Vec<&Value> {
        self.task_results()
            .into_iter()
            .filter(|e| e["task"] == name)
            .collect()
    }

    /// The (first) task_result of the task named `name`.
    #[track_caller]
    pub fn result(&self, name: &str) -> &Value {
        self.results_of(name)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no task_result for task {name:?}\n{}", self.dump()))
    }

    /// The status (`ok`, `changed`, …) of the task named `name`.
    #[track_caller]
    pub fn status(&self, name: &str) -> String {
        self.result(name)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Whether the task named `name` produced any result (did it run at all?).
    pub fn ran(&self, name: &str) -> bool {
        !self.results_of(name).is_empty()
    }

    /// Names of the tasks with results, in order (duplicates kept).
    pub fn task_order(&self) -> Vec<String> {
        self.task_results()
            .iter()
            .map(|e| e["task"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn stats_event(&self) -> Option<&Value> {
        self.events.iter().rev().find(|e| e["event"] == "stats")
    }
}

/// (ok, changed, failed, skipped, unreachable) for `host` from the last stats event.
pub fn stats(events: &[Value], host: &str) -> Option<(u64, u64, u64, u64, u64)> {
    let st = events.iter().rev().find(|e| e["event"] == "stats")?;
    let h = st["hosts"].get(host)?;
    let n = |k: &str| h[k].as_u64().unwrap_or(u64::MAX);
    Some((
        n("ok"),
        n("changed"),
        n("failed"),
        n("skipped"),
        n("unreachable"),
    ))
}

/// Octal permission bits of a path.
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A throw-away PostgreSQL 15 cluster owned by the `postgres` OS user, on a free TCP port of
/// 127.0.0.1 and its own Unix socket directory. Dropping it stops the server and removes the
/// directory; a watchdog process does the same when the test process exits without dropping it
/// (e.g. a cluster kept in a `static`).
pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
    pub sock: PathBuf,
    pub data: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs a program with stdin closed and output captured.
fn quiet<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Output {
    let mut c = Command::new(program);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_with_timeout(c, Duration::from_secs(60))
}

impl PgCluster {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("slm-it-pg-")
            .tempdir()
            .expect("pg temp dir");
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir_all(&sock).expect("socket dir");
        let o = quiet(
            "chown",
            &["-R", "postgres:postgres", &dir.path().display().to_string()],
        );
        assert_eq!(o.code, 0, "chown: {}", o.stderr);
        let o = quiet(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                &format!("{PG_BIN}/initdb"),
                "-D",
                &data.display().to_string(),
                "-A",
                "peer",
                "--auth-host=scram-sha-256",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert_eq!(o.code, 0, "initdb failed: {}\n{}", o.stdout, o.stderr);
        let log = dir.path().join("server.log");
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let o = quiet(
                "runuser",
                &[
                    "-u",
                    "postgres",
                    "--",
                    &format!("{PG_BIN}/pg_ctl"),
                    "-D",
                    &data.display().to_string(),
                    "-l",
                    &log.display().to_string(),
                    "-o",
                    &format!(
                        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                        sock.display()
                    ),
                    "-w",
                    "start",
                ],
            );
            if o.code == 0 {
                let c = PgCluster {
                    dir,
                    port,
                    sock,
                    data,
                };
                c.spawn_watchdog();
                return c;
            }
            last_err = format!(
                "{}\n{}\n{}",
                o.stdout,
                o.stderr,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("PostgreSQL did not start: {last_err}");
    }

    /// Stops the server (immediately, like a crash or `systemctl stop`); `start_again` brings it back.
    pub fn stop(&self) {
        let o = self.pg_ctl(&["-m", "immediate", "stop"]);
        assert_eq!(o.code, 0, "pg_ctl stop: {}", o.stderr);
    }

    /// Starts a stopped server on the same port and socket directory.
    pub fn start_again(&self) {
        let o = self.pg_ctl(&[
            "-l",
            &self.dir.path().join("server.log").display().to_string(),
            "-o",
            &format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                self.port,
                self.sock.display()
            ),
            "-w",
            "start",
        ]);
        assert_eq!(o.code, 0, "pg_ctl start: {}\n{}", o.stdout, o.stderr);
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let pg_ctl = format!("{PG_BIN}/pg_ctl");
        let data = self.data.display().to_string();
        let mut all = vec!["-u", "postgres", "--", pg_ctl.as_str(), "-D", data.as_str()];
        all.extend_from_slice(args);
        quiet("runuser", &all)
    }

    /// Stops the server and removes the directory once this test process is gone.
    fn spawn_watchdog(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             runuser -u postgres -- {PG_BIN}/pg_ctl -D '{data}' -m immediate stop >/dev/null 2>&1; \
             rm -rf '{dir}'",
            pid = std::process::id(),
            data = self.data.display(),
            dir = self.dir.path().display(),
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// One cluster shared by the tests of one test module (stopped by the watchdog at exit).
    /// Modules don't share one: each was a test binary of its own and sets up roles with the
    /// same names (`slm_app`) as another. Call as `PgCluster::shared(module_path!())`.
    pub fn shared(module: &'static str) -> &'static PgCluster {
        static PGS: Mutex<Vec<(&'static str, &'static PgCluster)>> = Mutex::new(Vec::new());
        let mut started = PGS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, pg)) = started.iter().find(|(m, _)| *m == module) {
            return pg;
        }
        let pg: &'static PgCluster = Box::leak(Box::new(PgCluster::start()));
        started.push((module, pg));
        pg
    }

    pub fn sock_str(&self) -> String {
        self.sock.display().to_string()
    }

    /// Runs SQL in database `postgres` as the postgres superuser; returns psql's unaligned output.
    #[track_caller]
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("postgres", sql)
    }

    #[track_caller]
    pub fn psql_db(&self, db: &str, sql: &str) -> String {
        let o = self.try_psql_db(db, sql);
        match o {
            Ok(s) => s,
            Err(e) => panic!("psql -d {db} -c {sql:?} failed: {e}"),
        }
    }

    pub fn try_psql_db(&self, db: &str, sql: &str) -> Result<String, String> {
        let o = quiet(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                "psql",
                "-h",
                &self.sock_str(),
                "-p",
                &self.port.to_string(),
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-XAtc",
                sql,
            ],
        );
        if o.code == 0 {
            Ok(o.stdout.trim_end_matches('\n').to_string())
        } else {
            Err(o.stderr)
        }
    }

    /// Logs in over TCP with a password (SCRAM), as a client application would.
    pub fn login(&self, user: &str, password: &str, db: &str) -> Result<String, String> {
        let mut c = Command::new("psql");
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            user,
            "-d",
            db,
            "-w",
            "-XAtc",
            "SELECT current_user",
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let o = run_with_timeout(c, Duration::from_secs(30));
        if o.code == 0 {
            Ok(o.stdout.trim().to_string())
        } else {
            Err(o.stderr)
        }
    }

    /// Inventory with one local host that knows how to reach this cluster (`pg_port`, `pg_sock`).
    pub fn inventory(&self) -> String {
        format!(
            "all:\n  hosts:\n    local1:\n      ansible_connection: local\n      pg_port: {}\n      pg_sock: {}\n",
            self.port,
            self.sock.display()
        )
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = quiet(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                &format!("{PG_BIN}/pg_ctl"),
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "stop",
            ],
        );
    }
}

/// A name unique to this test process and call (for databases, roles, files).
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The ansible-playbook the comparisons run (`ANSIBLE_PLAYBOOK`, `SLM_ANSIBLE_PLAYBOOK`, else the
/// venv `.ci/run` installs). Outside CI a machine without it skips the comparison with a note; in
/// CI its absence fails the test, so a comparison is never counted as passed unrun.
pub fn ansible_playbook() -> Option<PathBuf> {
    let found = [
        std::env::var_os("ANSIBLE_PLAYBOOK").map(PathBuf::from),
        std::env::var_os("SLM_ANSIBLE_PLAYBOOK").map(PathBuf::from),
        Some(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ansible-venv/bin/ansible-playbook"),
        ),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "ansible-playbook is required in CI (.ci/run installs it)"
        );
        eprintln!("NOTE: ansible-playbook not installed; the comparison with it was not run");
    }
    found
}
