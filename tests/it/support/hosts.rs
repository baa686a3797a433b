//! Throwaway SSH hosts for the networked integration tests: a small Rust wrapper around
//! `tests/hosts/hostctl` (see tests/hosts/README.md), plus running the `slm-wizard` binary
//! headless (`--json`) against them, either to the end or reading its events as they arrive.
//!
//! Every [`Hosts`] is its own harness (own state dir, slot, bridge and subnet; `hostctl up`
//! allocates slots atomically), so tests can run in parallel. `Drop` runs `hostctl down`, also
//! when the test panics; a watchdog process does the same if the test process dies without
//! unwinding.
//!
//! The harness needs root. Tests call [`root_or_skip`] first: without root they are skipped
//! with a loud message, unless the `CI` environment variable is set, where they fail.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const HOSTCTL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hosts/hostctl");
pub const BIN: &str = env!("CARGO_BIN_EXE_slm-wizard");

/// No single run of the binary may take longer than this.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Nor a hostctl call (prefetch aside).
const HOSTCTL_TIMEOUT: Duration = Duration::from_secs(120);

/// See [`Hosts::in_host_copy`].
pub struct HostCopy {
    /// The slm-wizard binary.
    pub bin: PathBuf,
    /// A directory with the repository's `playbooks/`.
    pub root: PathBuf,
}

// ---------------------------------------------------------------------------------------------
// Root check

/// True when the effective uid is 0.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Whether `test` can run. Not root: prints a loud SKIPPED banner and returns false, or panics
/// when `CI` is set, so that CI cannot skip these tests silently.
pub fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    let msg = format!(
        "\n==================================================================\n\
         SKIPPED {test}: the networked tests need root (tests/hosts/hostctl\n\
         creates network namespaces, bridges and firewall rules).\n\
         ==================================================================\n"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}CI is set: refusing to skip. Run the test suite as root.");
    }
    // Straight to fd 2: libtest captures print!/eprint! output of passing tests.
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(msg.as_bytes());
    false
}

// ---------------------------------------------------------------------------------------------
// Running commands

/// A finished command.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// Runs a command with stdin closed, killing it (and panicking) after `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> CmdOutput {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let so = child.stdout.take().expect("stdout");
    let se = child.stderr.take().expect("stderr");
    let t_out = read_all(so);
    let t_err = read_all(se);
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
    CmdOutput {
        code: exit_code(status),
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

fn read_all<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn hostctl(args: &[&str], timeout: Duration) -> CmdOutput {
    let mut cmd = Command::new(HOSTCTL);
    cmd.args(args).env_remove("SLM_HOSTS_STATE");
    run_with_timeout(cmd, timeout)
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
pub fn yq(s: &str) -> String {
    serde_json::to_string(s).expect("string to JSON")
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL .debs for offline installs

fn debs_dir() -> PathBuf {
    std::env::var_os("SLM_HOSTS_DEBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/slm-hosts/debs"))
}

fn has_debs() -> bool {
    std::fs::read_dir(debs_dir())
        .map(|rd| {
            rd.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".deb"))
        })
        .unwrap_or(false)
}

/// Runs `hostctl prefetch` once per test process when the .deb cache is empty.
pub fn ensure_prefetched() {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if has_debs() {
        return;
    }
    eprintln!(
        "testhosts: {} has no .debs; running hostctl prefetch",
        debs_dir().display()
    );
    let o = hostctl(&["prefetch"], Duration::from_secs(900));
    assert!(
        o.ok() && has_debs(),
        "hostctl prefetch failed (exit {}):\n{}\n{}",
        o.code,
        o.stdout,
        o.stderr
    );
}

/// `hostctl pristine`: the directory with the PostgreSQL state every ordinary host starts from
/// (`etc/postgresql`, `var/lib/postgresql`, `var/log/postgresql`), made when missing. None when
/// the machine has no PostgreSQL server installed.
pub fn pristine_dir() -> Option<PathBuf> {
    let o = hostctl(&["pristine"], Duration::from_secs(120));
    assert!(
        o.ok(),
        "hostctl pristine failed (exit {}):\n{}",
        o.code,
        o.stderr
    );
    let dir = o.stdout.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

// ---------------------------------------------------------------------------------------------
// The harness

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub addr: String,
    /// The machine-side end of the host's veth pair.
    pub veth: String,
}

/// One `hostctl up` harness plus a scratch directory for playbooks, inventories, the
/// journal (`XDG_STATE_HOME`) and local files. `hostctl down` on drop.
pub struct Hosts {
    dir: tempfile::TempDir,
    state: PathBuf,
    hosts: Vec<Host>,
    watchdog: Option<Child>,
    counter: AtomicUsize,
    down: bool,
}

impl Hosts {
    /// Brings up `n` hosts named `h1..hN`, or named `names` (then `n` must match), with
    /// PostgreSQL purged on the hosts in `no_postgres`. Panics when the harness fails.
    /// Call [`root_or_skip`] first.
    pub fn up(n: usize, names: &[&str], no_postgres: &[&str]) -> Hosts {
        assert!(n >= 1, "at least one host");
        assert!(
            names.is_empty() || names.len() == n,
            "{n} hosts but {} names",
            names.len()
        );
        if !no_postgres.is_empty() {
            ensure_prefetched();
        }
        let dir = tempfile::Builder::new()
            .prefix("slm-hosts-it-")
            .tempdir_in("/tmp")
            .expect("create temp dir");
        // hostctl wants a new or empty state dir and deletes it at `down`.
        let state = dir.path().join("state");
        std::fs::create_dir_all(dir.path().join("xdg")).expect("xdg dir");
        let state_s = state.display().to_string();
        let n_s = n.to_string();
        let names_s = names.join(",");
        let mut args: Vec<&str> = vec!["up", &n_s, "--state", &state_s];
        if !names.is_empty() {
            args.extend(["--names", &names_s]);
        }
        for h in no_postgres {
            args.extend(["--no-postgres", h]);
        }
        let started = Instant::now();
        let mut me = Hosts {
            dir,
            state,
            hosts: Vec::new(),
            watchdog: None,
            counter: AtomicUsize::new(0),
            down: false,
        };
        // From here on, Drop cleans up whatever `up` left behind.
        me.watchdog = me.spawn_watchdog();
        let o = hostctl(&args, HOSTCTL_TIMEOUT);
        assert!(
            o.ok(),
            "hostctl {args:?} failed (exit {}):\n{}\n{}",
            o.code,
            o.stdout,
            o.stderr
        );
        me.hosts = me.read_hosts();
        assert_eq!(me.hosts.len(), n, "{:?}", me.hosts);
        eprintln!(
            "testhosts: up {n} hosts in {:?} at {} ({})",
            started.elapsed(),
            me.state.display(),
            me.hosts
                .iter()
                .map(|h| format!("{}={}", h.name, h.addr))
                .collect::<Vec<_>>()
                .join(" ")
        );
        me
    }

    /// The hosts from `hosts.env` (names, addresses), plus the machine-side veth from the
    /// harness's internal `hosts.list` (`NAME ADDR NETNS VETH NOPG`).
    fn read_hosts(&self) -> Vec<Host> {
        let env = std::fs::read_to_string(self.state.join("hosts.env")).expect("hosts.env");
        let get = |key: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
        };
        let list = std::fs::read_to_string(self.state.join("hosts.list")).unwrap_or_default();
        let names = get("SLM_HOSTS").unwrap_or_else(|| panic!("no SLM_HOSTS in hosts.env:\n{env}"));
        names
            .split(',')
            .map(|name| {
                let var = format!("SLM_HOST_{}_ADDR", name.to_uppercase().replace('-', "_"));
                let addr = get(&var).unwrap_or_else(|| panic!("no {var} in hosts.env:\n{env}"));
                let veth = list
                    .lines()
                    .map(|l| l.split_whitespace().collect::<Vec<_>>())
                    .find(|f| f.first() == Some(&name))
                    .and_then(|f| f.get(3).map(|v| v.to_string()))
                    .unwrap_or_default();
                Host {
                    name: name.to_string(),
                    addr,
                    veth,
                }
            })
            .collect()
    }

    /// Runs `hostctl down` for this state dir once the test process is gone (if Drop never ran,
    /// e.g. the process was killed by a timeout).
    fn spawn_watchdog(&self) -> Option<Child> {
        let script = "trap '' INT HUP TERM; while kill -0 \"$0\" 2>/dev/null; do sleep 0.5; done; \
                      exec \"$1\" down --state \"$2\" >/dev/null 2>&1";
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(std::process::id().to_string())
            .arg(HOSTCTL)
            .arg(&self.state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    }

    /// `hostctl down` now (Drop does it otherwise).
    pub fn down(&mut self) {
        if self.down {
            return;
        }
        self.down = true;
        let state = self.state.display().to_string();
        let o = hostctl(&["down", "--state", &state], HOSTCTL_TIMEOUT);
        if !o.ok() {
            eprintln!(
                "testhosts: hostctl down --state {state} failed (exit {}):\n{}\n{}",
                o.code, o.stdout, o.stderr
            );
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    // ----------------------------------------------------------------- accessors

    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The binary and the repository's `playbooks/` as host `name` sees them: copies in its dir
    /// under the harness's state dir, which the host binds at the same path (a host's `/tmp` is
    /// its own, and the checkout — CI's clone included — may live there). Made once per host.
    #[track_caller]
    pub fn in_host_copy(&self, name: &str) -> HostCopy {
        let root = self.state.join("hosts").join(name).join("repo");
        let copy = HostCopy {
            bin: root.join("slm-wizard"),
            root: root.clone(),
        };
        if copy.bin.exists() {
            return copy;
        }
        std::fs::create_dir_all(&root).expect("repo dir for the hosts");
        let out = Command::new("cp")
            .arg("-a")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks"))
            .arg(&root)
            .output()
            .expect("cp");
        assert!(out.status.success(), "copy playbooks: {out:?}");
        std::fs::copy(BIN, &copy.bin).expect("copy the binary for the hosts");
        copy
    }

    /// The harness's inventory (root, its key, its known_hosts, strict checking).
    pub fn inventory(&self) -> PathBuf {
        self.state.join("inventory.yml")
    }

    pub fn key(&self) -> PathBuf {
        self.state.join("id_ed25519")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.state.join("known_hosts")
    }

    pub fn deploy_password(&self) -> String {
        std::fs::read_to_string(self.state.join("deploy.password"))
            .expect("deploy.password")
            .trim()
            .to_string()
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    #[track_caller]
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    #[track_caller]
    pub fn addr(&self, name: &str) -> &str {
        &self.host(name).addr
    }

    /// `ssh-ed25519 AAAA…` of the host's current host key.
    pub fn host_key(&self, name: &str) -> String {
        let text = std::fs::read_to_string(
            self.state
                .join("hosts")
                .join(name)
                .join("ssh_host_ed25519_key.pub"),
        )
        .expect("host key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `SHA256:…` of the host's current host key, as ssh-keygen prints it.
    pub fn host_fingerprint(&self, name: &str) -> String {
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-l", "-E", "sha256", "-f"]).arg(
            self.state
                .join("hosts")
                .join(name)
                .join("ssh_host_ed25519_key.pub"),
        );
        let o = run_with_timeout(cmd, Duration::from_secs(10));
        assert!(o.ok(), "ssh-keygen -l: {}", o.stderr);
        o.stdout
            .split_whitespace()
            .nth(1)
            .expect("fingerprint")
            .to_string()
    }

    // ----------------------------------------------------------------- host control

    /// `hostctl exec NAME -- ARGS…`: runs inside the host (as root, clean PATH).
    pub fn exec(&self, name: &str, args: &[&str]) -> CmdOutput {
        let state = self.state.display().to_string();
        let mut a = vec!["exec", name, "--state", &state, "--"];
        a.extend_from_slice(args);
        hostctl(&a, HOSTCTL_TIMEOUT)
    }

    /// Runs a shell script inside the host; panics unless it exits 0. Returns stdout.
    #[track_caller]
    pub fn sh(&self, name: &str, script: &str) -> String {
        let o = self.exec(name, &["sh", "-c", script]);
        assert!(
            o.ok(),
            "on {name}: sh -c {script:?} failed (exit {}):\n{}\n{}",
            o.code,
            o.stdout,
            o.stderr
        );
        o.stdout
    }

    /// `hostctl SUB NAME` (sshd-stop, sshd-start, sshd-kill, rekey, drop, undrop, pg-start,
    /// pg-stop); panics when it fails.
    #[track_caller]
    pub fn ctl(&self, sub: &str, name: &str) {
        let state = self.state.display().to_string();
        let o = hostctl(&[sub, name, "--state", &state], HOSTCTL_TIMEOUT);
        assert!(
            o.ok(),
            "hostctl {sub} {name} failed (exit {}):\n{}\n{}",
            o.code,
            o.stdout,
            o.stderr
        );
    }

    /// Cuts the host's SSH connections: SIGKILL to the sshd listener (`hostctl sshd-kill`) and
    /// then to every remaining sshd process of the host's own pid namespace (the per-connection
    /// session processes, which outlive the listener). All of them were started by the harness.
    pub fn kill_ssh_connections(&self, name: &str) {
        self.ctl("sshd-kill", name);
        self.sh(
            name,
            "for p in $(ps -eo pid=,comm= | awk '$2 == \"sshd\" {print $1}'); do kill -9 \"$p\" 2>/dev/null; done; true",
        );
    }

    // ----------------------------------------------------------------- scratch files

    /// The scratch directory (playbooks, inventories, `files/`, the journal).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a scratch file (parents created).
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.p(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Inventory text for all hosts: the harness's connection settings (root, its key,
    /// `known_hosts`, `StrictHostKeyChecking=yes`), then whatever `extra(host)` returns as
    /// `(variable, raw YAML value)`; a variable given there replaces the default one.
    pub fn inventory_text(&self, extra: impl Fn(&Host) -> Vec<(String, String)>) -> String {
        let mut s = String::from("all:\n  hosts:\n");
        for h in &self.hosts {
            let mut vars: Vec<(String, String)> = vec![
                ("ansible_host".into(), h.addr.clone()),
                ("ansible_port".into(), "22".into()),
                ("ansible_user".into(), "root".into()),
                (
                    "ansible_ssh_private_key_file".into(),
                    yq(&self.key().display().to_string()),
                ),
                (
                    "ansible_ssh_common_args".into(),
                    yq(&ssh_args(&self.known_hosts(), "yes")),
                ),
            ];
            for (k, v) in extra(h) {
                match vars.iter_mut().find(|(name, _)| *name == k) {
                    Some(slot) => slot.1 = v,
                    None => vars.push((k, v)),
                }
            }
            s.push_str(&format!("    {}:\n", h.name));
            for (k, v) in vars {
                s.push_str(&format!("      {k}: {v}\n"));
            }
        }
        s
    }

    /// The spec's topology for hosts named `slm` and `redis`: `slm` in `slm_server`, `redis` in
    /// `redis_vm` with `slm` as the allowed client of autobot_users; root, the harness's key and
    /// known_hosts. Written to `rel`; returns its path.
    pub fn spec_inventory(&self, rel: &str) -> PathBuf {
        let conn = |name: &str| {
            format!(
                "          ansible_host: {}\n          ansible_user: root\n          ansible_ssh_private_key_file: {}\n          ansible_ssh_common_args: {}\n",
                self.addr(name),
                yq(&self.key().display().to_string()),
                yq(&ssh_args(&self.known_hosts(), "yes")),
            )
        };
        let text = format!(
            "all:\n  children:\n    slm_server:\n      hosts:\n        slm:\n{}    redis_vm:\n      hosts:\n        redis:\n{}      vars:\n        postgresql_allowed_clients:\n          - {}/32\n",
            conn("slm"),
            conn("redis"),
            self.addr("slm"),
        );
        self.write(rel, &text)
    }

    /// Writes [`Hosts::inventory_text`] to a scratch file and returns its path.
    pub fn write_inventory(
        &self,
        rel: &str,
        extra: impl Fn(&Host) -> Vec<(String, String)>,
    ) -> PathBuf {
        self.write(rel, &self.inventory_text(extra))
    }

    // ----------------------------------------------------------------- the binary

    fn playbook_file(&self, playbook: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        self.write(&format!("pb-{n}.yml"), playbook)
    }

    fn command(&self, playbook: &Path, inventory: &Path, args: &[&str]) -> (Command, Vec<String>) {
        let mut full: Vec<String> = vec![
            "run".into(),
            playbook.display().to_string(),
            "-i".into(),
            inventory.display().to_string(),
            "--json".into(),
        ];
        full.extend(args.iter().map(|a| a.to_string()));
        let mut cmd = Command::new(BIN);
        cmd.args(&full)
            .current_dir(self.dir())
            .env("XDG_STATE_HOME", self.p("xdg"))
            .env("NO_COLOR", "1")
            // Only the key files the inventory names: no agent keys, no vault password.
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        super::cmd::no_ansible_settings(&mut cmd);
        (cmd, full)
    }

    /// Writes `playbook` to a scratch file and runs it to the end with `--json -i inventory`.
    pub fn run(&self, playbook: &str, inventory: &Path, args: &[&str]) -> Run {
        self.spawn(playbook, inventory, args).finish(RUN_TIMEOUT)
    }

    /// Runs a playbook file that already exists (e.g. the repository's own) to the end.
    pub fn run_path(&self, playbook: &Path, inventory: &Path, args: &[&str]) -> Run {
        self.spawn_path(playbook, inventory, args)
            .finish(RUN_TIMEOUT)
    }

    /// Starts the run and returns at once; its events are read as they are printed.
    pub fn spawn(&self, playbook: &str, inventory: &Path, args: &[&str]) -> LiveRun {
        let pb = self.playbook_file(playbook);
        self.spawn_path(&pb, inventory, args)
    }

    /// [`Hosts::spawn`] of a playbook file that exists (the same file across runs: one
    /// deployment).
    pub fn spawn_path(&self, pb: &Path, inventory: &Path, args: &[&str]) -> LiveRun {
        let (mut cmd, full) = self.command(pb, inventory, args);
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn slm-wizard");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send((Instant::now(), line)).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        LiveRun {
            args: full,
            child,
            rx,
            stderr: Some(read_all(stderr)),
            started,
            lines: Vec::new(),
            eof: false,
        }
    }

    /// Every journal file's text, concatenated.
    pub fn journal(&self) -> String {
        let dir = self.p("xdg").join("slm-wizard").join("runs");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        self.down();
    }
}

/// `ansible_ssh_common_args` for a known_hosts file and a StrictHostKeyChecking value.
pub fn ssh_args(known_hosts: &Path, strict: &str) -> String {
    format!(
        "-o UserKnownHostsFile={} -o StrictHostKeyChecking={strict}",
        known_hosts.display()
    )
}

// ---------------------------------------------------------------------------------------------
// Runs of the binary

/// One stdout line and when the test read it.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub text: String,
    pub event: Option<Value>,
}

/// A run of the binary still going: events are read as they arrive.
pub struct LiveRun {
    pub args: Vec<String>,
    child: Child,
    rx: mpsc::Receiver<(Instant, String)>,
    stderr: Option<std::thread::JoinHandle<String>>,
    pub started: Instant,
    /// Everything read so far.
    pub lines: Vec<Line>,
    eof: bool,
}

impl LiveRun {
    /// The pid of the slm-wizard process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash or `kill -9` would end it; waits for it to be gone.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Reads the next line, waiting at most until `deadline`. None at EOF or deadline.
    fn next_line(&mut self, deadline: Instant) -> Option<&Line> {
        if self.eof {
            return None;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok((at, text)) => {
                let event = serde_json::from_str::<Value>(text.trim_end()).ok();
                self.lines.push(Line { at, text, event });
                self.lines.last()
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.eof = true;
                None
            }
        }
    }

    /// Reads until an event matches `pred` (already-read events count) and returns it; panics
    /// after `timeout` or when the run ends first.
    #[track_caller]
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(ev) = self
            .lines
            .iter()
            .filter_map(|l| l.event.as_ref())
            .find(|e| pred(e))
        {
            return ev.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_line(deadline) {
                Some(line) => {
                    if let Some(ev) = &line.event
                        && pred(ev)
                    {
                        return ev.clone();
                    }
                }
                None => {
                    let why = if self.eof {
                        "the run ended"
                    } else {
                        "timed out"
                    };
                    let so: String = self.lines.iter().map(|l| l.text.as_str()).collect();
                    let _ = self.child.kill();
                    panic!(
                        "waiting for {what}: {why} after {:?}\nargs: {:?}\n--- stdout so far ---\n{so}",
                        self.started.elapsed(),
                        self.args
                    );
                }
            }
        }
    }

    /// Reads the rest and waits for the exit (killing the process after `timeout`).
    pub fn finish(mut self, timeout: Duration) -> Run {
        let deadline = self.started + timeout;
        while !self.eof {
            if self.next_line(deadline).is_none() && !self.eof {
                break; // deadline
            }
        }
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            if Instant::now() > deadline {
                timed_out = true;
                let _ = self.child.kill();
                break self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let ended = Instant::now();
        // Lines printed between the deadline and the kill.
        while let Ok((at, text)) = self.rx.recv_timeout(Duration::from_millis(200)) {
            let event = serde_json::from_str::<Value>(text.trim_end()).ok();
            self.lines.push(Line { at, text, event });
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let run = Run {
            args: self.args.clone(),
            code: exit_code(status),
            stdout: self.lines.iter().map(|l| l.text.as_str()).collect(),
            stderr,
            events: self.lines.iter().filter_map(|l| l.event.clone()).collect(),
            lines: std::mem::take(&mut self.lines),
            started: self.started,
            ended,
        };
        assert!(
            !timed_out,
            "slm-wizard did not finish within {timeout:?}\n{}",
            run.dump()
        );
        run
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        // A test that panicked mid-run leaves no slm-wizard behind (ours, by its pid).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// (ok, changed, failed, skipped, unreachable) of one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub changed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub unreachable: u64,
}

/// A finished run of the binary.
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Every stdout line that parsed as JSON.
    pub events: Vec<Value>,
    pub lines: Vec<Line>,
    pub started: Instant,
    pub ended: Instant,
}

impl Run {
    pub fn dump(&self) -> String {
        format!(
            "args: {:?}\nexit code: {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args,
            self.code,
            self.ended - self.started,
            self.stdout,
            self.stderr
        )
    }

    pub fn elapsed(&self) -> Duration {
        self.ended - self.started
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.dump());
        self
    }

    /// The host's counts from the final stats event.
    #[track_caller]
    pub fn stats(&self, host: &str) -> Counts {
        let st = self
            .events
            .iter()
            .rev()
            .find(|e| e["event"] == "stats")
            .unwrap_or_else(|| panic!("no stats event\n{}", self.dump()));
        let h = st["hosts"]
            .get(host)
            .unwrap_or_else(|| panic!("no stats for {host}\n{}", self.dump()));
        let n = |k: &str| h[k].as_u64().unwrap_or(u64::MAX);
        Counts {
            ok: n("ok"),
            changed: n("changed"),
            failed: n("failed"),
            skipped: n("skipped"),
            unreachable: n("unreachable"),
        }
    }

    /// Every task_result of `host`.
    pub fn results(&self, host: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["event"] == "task_result" && e["host"] == host)
            .collect()
    }

    /// The task_result of `task` on `host`.
    #[track_caller]
    pub fn result(&self, host: &str, task: &str) -> &Value {
        self.results(host)
            .into_iter()
            .find(|e| e["task"] == task)
            .unwrap_or_else(|| panic!("no task_result for {task:?} on {host}\n{}", self.dump()))
    }

    #[track_caller]
    pub fn status(&self, host: &str, task: &str) -> String {
        self.result(host, task)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The unreachable task_result of `host` (there must be one).
    #[track_caller]
    pub fn unreachable(&self, host: &str) -> &Value {
        self.results(host)
            .into_iter()
            .find(|e| e["status"] == "unreachable")
            .unwrap_or_else(|| panic!("{host} was not unreachable\n{}", self.dump()))
    }

    /// `msg` of the unreachable task_result of `host`.
    #[track_caller]
    pub fn unreachable_msg(&self, host: &str) -> String {
        self.unreachable(host)["msg"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Index (in stdout order) and arrival time of the first event matching `pred`.
    pub fn find_line(&self, pred: impl Fn(&Value) -> bool) -> Option<(usize, Instant)> {
        self.lines
            .iter()
            .enumerate()
            .find(|(_, l)| l.event.as_ref().is_some_and(&pred))
            .map(|(i, l)| (i, l.at))
    }
}

/// A shared multi-thread tokio runtime for the tests that use the library directly.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}
