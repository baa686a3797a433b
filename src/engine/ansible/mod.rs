//! The `ansible` engine: runs the real `ansible-playbook` with our callback plugin
//! (`slm_wizard_events.py`, written to a private temp dir) and turns its JSON lines into the
//! same `RunEvent` stream as the native engine.
//!
//! Secrets (survey answers, stored and asked-for passwords, `-e` values) reach ansible only as
//! vault-encrypted extra-vars files in a 0700 temp dir; the vault password goes through a pipe
//! that ansible inherits as fd 4 and that a small client script (`--vault-password-file`) reads
//! via `/proc/$PPID/fd/4`: never in argv, the environment or a plaintext file. The dir is removed
//! after the run (also on cancel); dirs of a killed wizard are removed at the next start.

mod lines;
pub mod translate;

use lines::BoundedLines;

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::engine::events::{Counts, RunEvent, Status};
use crate::engine::plan::{RunRequest, make_vault_fn, parse_extra_vars};
use crate::engine::run::{Cancel, RunSummary};
use crate::error::InputError;
use crate::playbook::ansible_cfg::host_key_warning;
use crate::secrets::{Redactor, Secret};
use crate::transport::Capped;

/// The callback plugin, embedded.
const PLUGIN: &str = include_str!("slm_wizard_events.py");
const PLUGIN_NAME: &str = "slm_wizard_events";
/// The pinned ansible release `slm-wizard ansible install` gets from PyPI.
pub const ANSIBLE_PIN: &str = "ansible==12.3.0";
/// The fds ansible-playbook inherits: our event pipe and the vault password pipe.
const EVENTS_FD: i32 = 3;
const VAULT_FD: i32 = 4;
/// How much of ansible's stderr is kept: this much from its start and this much from its end.
const STDERR_HALF: usize = 16 * 1024;
/// The longest piece of one stderr line handled at once.
const STDERR_LINE: usize = 8 * 1024;

/// The venv `slm-wizard ansible install` makes.
pub fn venv_dir() -> PathBuf {
    crate::paths::ansible_venv_dir()
}

/// How to get ansible when it is missing.
pub fn install_hint() -> String {
    format!(
        "ansible-playbook was not found (ANSIBLE_PLAYBOOK, ansible_playbook in the config file, PATH, {}): \
         run `slm-wizard ansible install` (a venv with {ANSIBLE_PIN} from PyPI) or `pip install {ANSIBLE_PIN}`",
        venv_dir().join("bin/ansible-playbook").display()
    )
}

/// `ansible-playbook`: `$ANSIBLE_PLAYBOOK`, the config file's `ansible_playbook`, PATH, the venv.
pub fn find_ansible_playbook(configured: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ANSIBLE_PLAYBOOK").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("ANSIBLE_PLAYBOOK={}: no such file", p.display()))
        };
    }
    if let Some(p) = configured {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!(
                "ansible_playbook = {} (config file): no such file",
                p.display()
            ))
        };
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("ansible-playbook"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| Some(venv_dir().join("bin/ansible-playbook")).filter(|p| p.is_file()))
        .ok_or_else(install_hint)
}

/// Makes the venv of [`venv_dir`] with [`ANSIBLE_PIN`]; pip's output goes to our stderr.
pub fn install() -> Result<PathBuf, String> {
    let dir = venv_dir();
    let run = |cmd: &mut std::process::Command, what: &str| -> Result<(), String> {
        let st = cmd
            .stdout(std::process::Stdio::inherit())
            .status()
            .map_err(|e| format!("{what}: {e}"))?;
        if st.success() {
            Ok(())
        } else {
            Err(format!("{what} failed ({st})"))
        }
    };
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    run(
        std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir),
        "python3 -m venv",
    )?;
    run(
        std::process::Command::new(dir.join("bin/pip")).args([
            "install",
            "--disable-pip-version-check",
            ANSIBLE_PIN,
        ]),
        &format!("pip install {ANSIBLE_PIN}"),
    )?;
    Ok(dir.join("bin/ansible-playbook"))
}

/// Where the private run dirs live.
fn runs_dir() -> PathBuf {
    crate::paths::ansible_runs_dir()
}

/// Removes the run dirs of wizards that are gone (killed before they could clean up).
pub fn remove_stale_dirs() {
    remove_stale_in(&runs_dir());
}

fn remove_stale_in(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // `<pid>.<start time>-<random>` (see PrivateDir::new).
        let owner = name
            .split('-')
            .next()
            .and_then(crate::process::ProcessRef::parse_tag);
        if !owner.is_some_and(|p| p.is_alive()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A 0700 dir, removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> std::io::Result<Self> {
        let parent = runs_dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent)?;
        let name = format!(
            "{}-{}",
            crate::process::ProcessRef::current().tag(),
            crate::secrets::generate_password(12).expose()
        );
        let dir = parent.join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Self(dir))
    }

    fn write(&self, name: &str, text: &str, mode: u32) -> std::io::Result<PathBuf> {
        let p = self.0.join(name);
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(mode)
            .open(&p)?;
        f.write_all(text.as_bytes())?;
        Ok(p)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one ansible run needs besides the request.
pub struct AnsibleOptions {
    pub ansible_playbook: PathBuf,
    /// Secrets to mask in ansible's output (the survey's, stored ones); the request's
    /// secret-looking values and the vault password are added.
    pub secrets: Vec<Secret>,
}

/// Masks what ansible could print of the request's secrets (and the native refusal that made
/// `auto` choose ansible).
pub(crate) fn redactor_for(request: &RunRequest, secrets: &[Secret]) -> Redactor {
    let r = Redactor::default();
    for s in secrets {
        r.add(s.expose());
    }
    if let Some(pw) = &request.vault_password {
        r.add(pw.expose());
    }
    // Secret-named values at any depth and of any type, as the native engine registers them.
    let add_vars = |vars: &Map<String, Value>| r.add_named_map(vars, &|_| false);
    add_vars(&request.extra_values);
    let vault = make_vault_fn(request.vault_password.clone(), r.clone());
    // One by one: a file that cannot be read must not hide the other items' secrets.
    for item in &request.extra_vars {
        if let Ok(extra) = parse_extra_vars(std::slice::from_ref(item), &vault) {
            add_vars(&extra);
        }
    }
    if let Some(inv) = &request.inventory
        && let Ok(inv) = crate::inventory::Inventory::load(inv, &vault)
    {
        for h in inv.hosts.keys() {
            add_vars(&inv.host_vars(h));
        }
    }
    r
}

/// ansible-playbook's arguments: every value of `-e` and the wizard's answers go into
/// vault-encrypted files (order kept, so later values still win); `@file` stays as given.
fn arguments(
    request: &RunRequest,
    cfg: &crate::playbook::ansible_cfg::AnsibleCfg,
    dir: &PrivateDir,
    vault_password: &Secret,
    redactor: &Redactor,
) -> Result<Vec<OsString>, InputError> {
    let mut args: Vec<OsString> = Vec::new();
    let inventory = match &request.inventory {
        Some(i) => i.clone(),
        None => dir
            .write(
                "localhost.ini",
                "localhost ansible_connection=local ansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n",
                0o600,
            )
            .map_err(|e| InputError::new(format!("cannot write the inventory: {e}")))?,
    };
    args.push("-i".into());
    args.push(inventory.into());
    let vault = make_vault_fn(request.vault_password.clone(), redactor.clone());
    let mut files = 0;
    let mut encrypted = |vars: &Map<String, Value>| -> Result<PathBuf, InputError> {
        files += 1;
        let text = serde_json::to_string(vars).unwrap_or_default();
        let body = crate::secrets::vault::encrypt(
            text.as_bytes(),
            vault_password.expose().as_bytes(),
            None,
        );
        dir.write(&format!("extra-{files}.vault.yml"), &body, 0o600)
            .map_err(|e| InputError::new(format!("cannot write the extra vars: {e}")))
    };
    for item in &request.extra_vars {
        let mut path = OsString::from("@");
        if item.trim().starts_with('@') {
            path.push(item.trim().trim_start_matches('@'));
        } else {
            let vars = parse_extra_vars(std::slice::from_ref(item), &vault)?;
            path.push(encrypted(&vars)?);
        }
        args.push("-e".into());
        args.push(path);
    }
    if !request.extra_values.is_empty() {
        let mut path = OsString::from("@");
        path.push(encrypted(&request.extra_values)?);
        args.push("-e".into());
        args.push(path);
    }
    if let Some(l) = &request.limit {
        args.extend(["--limit".into(), l.into()]);
    }
    if !request.tags.is_empty() {
        args.extend(["--tags".into(), request.tags.join(",").into()]);
    }
    if !request.skip_tags.is_empty() {
        args.extend(["--skip-tags".into(), request.skip_tags.join(",").into()]);
    }
    if let Some(t) = &request.start_at_task {
        args.extend(["--start-at-task".into(), t.into()]);
    }
    if request.check {
        args.push("--check".into());
    }
    if request.diff {
        args.push("--diff".into());
    }
    args.extend([
        "--forks".into(),
        request
            .forks
            .or(cfg.forks)
            .unwrap_or(crate::engine::plan::DEFAULT_FORKS)
            .max(1)
            .to_string()
            .into(),
        "--timeout".into(),
        request.connect_timeout.as_secs().max(1).to_string().into(),
    ]);
    args.push(request.playbook.clone().into());
    Ok(args)
}

/// One line from ansible: an event of our plugin, or a line of its stdout/stderr.
enum Line {
    Event(Value),
    /// ansible ended without reporting these tasks' results (see `Translator::unfinished`).
    Unfinished(String),
    Stdout(String),
    Stderr(String),
}

fn signal_process(pid: i32, sig: i32) {
    // SAFETY: kill has no memory effects; the pid is our child's (not reaped while we signal).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// SIGTERM to ansible-playbook when dropped (forgotten once it has ended by itself).
struct TermOnDrop(i32);

impl Drop for TermOnDrop {
    fn drop(&mut self) {
        signal_process(self.0, libc::SIGTERM);
    }
}

fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: killpg has no memory effects; the group is the child's own (process_group(0)).
    unsafe {
        libc::killpg(pgid, sig);
    }
}

/// Runs the request with ansible-playbook, forwarding its events. Errors are bad input
/// (ansible refused the playbook, inventory or options before any play ran), or ansible could
/// not be started.
pub async fn run(
    request: RunRequest,
    opts: AnsibleOptions,
    events: crate::engine::channel::EventSender,
    cancel: Cancel,
) -> Result<RunSummary, InputError> {
    // The same configuration the native engine reads; ansible-playbook is pointed at its file.
    let cfg = crate::playbook::ansible_cfg::load_for(&request.playbook)?;
    let mut request = request;
    if request.inventory.is_none() {
        request.inventory = cfg.inventory.clone();
    }
    let redactor = redactor_for(&request, &opts.secrets);
    let emit = |mut ev: RunEvent| {
        ev.redact(&redactor);
        let _ = events.send(ev);
    };
    let dir = PrivateDir::new()
        .map_err(|e| InputError::new(format!("cannot make the private run dir: {e}")))?;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir.0.join("callbacks"))
        .and_then(|_| dir.write(&format!("callbacks/{PLUGIN_NAME}.py"), PLUGIN, 0o600))
        .map_err(|e| InputError::new(format!("cannot write the callback plugin: {e}")))?;
    let client = dir
        .write(
            "vault-client",
            "#!/bin/sh\n# The vault password comes from the pipe ansible-playbook inherited as fd 4.\nexec cat /proc/$PPID/fd/4\n",
            0o700,
        )
        .map_err(|e| InputError::new(format!("cannot write the vault client: {e}")))?;
    let vault_password = request
        .vault_password
        .clone()
        .unwrap_or_else(|| crate::secrets::generate_password(40));
    redactor.add(vault_password.expose());
    let mut args = arguments(&request, &cfg, &dir, &vault_password, &redactor)?;
    // No file found: an empty one, so ansible does not find another (its cwd is ours, not the
    // playbook's directory).
    let config_file = match &cfg.file {
        Some(f) => f.clone(),
        None => dir
            .write("ansible.cfg", "", 0o600)
            .map_err(|e| InputError::new(format!("cannot write the empty ansible.cfg: {e}")))?,
    };
    let accept_new = request.accept_new_host_keys || !cfg.host_key_checking;
    if let Some(warning) = host_key_warning(&cfg) {
        emit(RunEvent::Warning { msg: warning });
    }
    args.insert(0, client.into_os_string());
    args.insert(0, "--vault-password-file".into());

    let io_err = |what: &str, e: std::io::Error| InputError::new(format!("{what}: {e}"));
    let (events_r, events_w) = std::io::pipe().map_err(|e| io_err("pipe", e))?;
    let (vault_r, mut vault_w) = std::io::pipe().map_err(|e| io_err("pipe", e))?;
    // The password fits the pipe's buffer: written and closed before ansible starts.
    vault_w
        .write_all(vault_password.expose().as_bytes())
        .map_err(|e| io_err("vault pipe", e))?;
    drop(vault_w);

    let mut cmd = tokio::process::Command::new(&opts.ansible_playbook);
    cmd.args(&args)
        .env("ANSIBLE_STDOUT_CALLBACK", PLUGIN_NAME)
        .env("ANSIBLE_CALLBACK_PLUGINS", dir.0.join("callbacks"))
        .env("SLM_WIZARD_EVENTS_FD", EVENTS_FD.to_string())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        // ssh takes the first value of an option: ours comes before the user's ssh_args (or
        // ansible's default) and the inventory's args.
        .env(
            "ANSIBLE_SSH_ARGS",
            format!(
                "-o StrictHostKeyChecking={} {}",
                if accept_new { "accept-new" } else { "yes" },
                std::env::var("ANSIBLE_SSH_ARGS")
                    .ok()
                    .or_else(|| cfg.ssh_args.clone())
                    .filter(|a| !a.trim().is_empty())
                    .unwrap_or_else(|| "-C -o ControlMaster=auto -o ControlPersist=60s".into())
            ),
        )
        .env("ANSIBLE_CONFIG", &config_file)
        // Passwords were asked before the run (-k/-K or the configuration's ask_pass /
        // become_ask_pass) and come as variables; ansible has no terminal to ask on.
        .env("ANSIBLE_ASK_PASS", "False")
        .env("ANSIBLE_BECOME_ASK_PASS", "False")
        .env("PYTHONWARNINGS", "ignore")
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("ANSIBLE_VAULT_IDENTITY_LIST")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(t) = request.command_timeout {
        cmd.env("ANSIBLE_TASK_TIMEOUT", t.as_secs().max(1).to_string());
    }
    let (ew, vr) = (events_w.as_raw_fd(), vault_r.as_raw_fd());
    // Targets on the local connection get the umask this process started with, not the 077
    // slm-wizard runs with (as the native engine's local transport does).
    let umask = crate::secrets::target_umask().unwrap_or(0o022);
    // SAFETY: only async-signal-safe calls (prctl, umask, fcntl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // ansible must not outlive us (a SIGKILLed wizard releases the deployment's lock):
            // it gets SIGTERM when we die, and passes it on to its workers.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::umask(umask as libc::mode_t);
            let a = libc::fcntl(ew, libc::F_DUPFD_CLOEXEC, 10);
            let b = libc::fcntl(vr, libc::F_DUPFD_CLOEXEC, 10);
            if a < 0 || b < 0 || libc::dup2(a, EVENTS_FD) < 0 || libc::dup2(b, VAULT_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        InputError::new(format!(
            "cannot start {}: {e}",
            opts.ansible_playbook.display()
        ))
    })?;
    // Only ansible holds the write end now: its exit ends the event stream.
    drop(events_w);
    drop(vault_r);
    let pgid = child.id().map_or(0, |p| p as i32);

    // Bounded: with the wait for room below, a consumer that falls behind stops the reading of
    // ansible's pipes (and so ansible), not the growth of a queue.
    let (ltx, mut lrx) = tokio::sync::mpsc::channel::<Line>(256);
    {
        let ltx = ltx.clone();
        tokio::task::spawn_blocking(move || {
            for line in std::io::BufReader::new(events_r).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        let _ = ltx.blocking_send(Line::Event(v));
                    }
                    Err(_) => {
                        let _ = ltx.blocking_send(Line::Stdout(line));
                    }
                }
            }
        });
    }
    if let Some(out) = child.stdout.take() {
        let ltx = ltx.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = ltx.send(Line::Stdout(l)).await;
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        let ltx = ltx.clone();
        tokio::spawn(async move {
            // Line by line, but a line without an end (a traceback of one huge repr, binary
            // noise) comes in pieces: never more than STDERR_LINE held here.
            let mut lines = BoundedLines::new(err, STDERR_LINE);
            while let Some(l) = lines.next_line().await {
                if ltx.send(Line::Stderr(l)).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(ltx);
    // First cancel: SIGINT to ansible-playbook, which our plugin turns into "no new tasks"
    // (the running ones finish). Kill: SIGTERM, which ansible passes on to its workers (they
    // are process group leaders of their own), then SIGKILL to what is left of the group.
    let waiter = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            // A waiter dropped before ansible ended (the runtime shutting down as the wizard
            // quits) stops it rather than leaving it running without the lock.
            let guard = TermOnDrop(pgid);
            let mut interrupted = false;
            let status = loop {
                tokio::select! {
                    st = child.wait() => break st.ok(),
                    _ = cancel.killed() => {
                        signal_process(pgid, libc::SIGTERM);
                        if let Ok(st) = tokio::time::timeout(Duration::from_secs(3), child.wait()).await {
                            signal_group(pgid, libc::SIGKILL);
                            break st.ok();
                        }
                        signal_group(pgid, libc::SIGKILL);
                        break child.wait().await.ok();
                    }
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        if cancel.is_cancelled() && !interrupted {
                            interrupted = true;
                            signal_process(pgid, libc::SIGINT);
                        }
                    }
                }
            };
            std::mem::forget(guard);
            status
        })
    };

    let mut tr = translate::Translator::default();
    tr.check = request.check;
    tr.diff = request.diff;
    let mut counts: IndexMap<String, Counts> = IndexMap::new();
    let mut last_failure: IndexMap<String, String> = IndexMap::new();
    // ansible's stderr (its error report, tracebacks, a module's noise) is kept as head and
    // tail plus its size: a chatty or looping ansible must not grow our memory without end.
    let mut stderr_text = Capped::new(Some(STDERR_HALF));
    let mut handle_line = |line: Line, stderr_text: &mut Capped| match line {
        Line::Event(_) | Line::Unfinished(_) => {
            let evs = match line {
                Line::Event(v) => tr.line(&v),
                // Only when ansible did not get to its end (no stats).
                Line::Unfinished(msg) if tr.stats.is_none() => tr.unfinished(&msg),
                _ => Vec::new(),
            };
            for ev in evs {
                if let RunEvent::TaskResult(t) = &ev {
                    let c = counts.entry(t.host.clone()).or_default();
                    match t.status {
                        Status::Ok => c.ok += 1,
                        Status::Changed => {
                            c.ok += 1;
                            c.changed += 1;
                        }
                        Status::Failed if !t.ignored => {
                            c.failed += 1;
                            last_failure.insert(
                                t.host.clone(),
                                format!("{}: {}", t.task, t.msg.clone().unwrap_or_default()),
                            );
                        }
                        Status::Failed => c.ignored += 1,
                        Status::Skipped => c.skipped += 1,
                        Status::Unreachable => {
                            c.unreachable += 1;
                            last_failure.insert(
                                t.host.clone(),
                                t.msg.clone().unwrap_or_else(|| "unreachable".into()),
                            );
                        }
                    }
                }
                emit(ev);
            }
        }
        Line::Stdout(l) if !l.trim().is_empty() => emit(RunEvent::Warning { msg: l }),
        Line::Stdout(_) => {}
        Line::Stderr(l) => {
            let t = l.trim();
            if let Some(w) = t.strip_prefix("[WARNING]:") {
                emit(RunEvent::Warning {
                    msg: w.trim().to_string(),
                });
            } else if !t.is_empty() {
                stderr_text.push(t.as_bytes());
                stderr_text.push(b"\n");
            }
        }
    };
    let mut waiter = waiter;
    let status = loop {
        events.room().await;
        tokio::select! {
            line = lrx.recv() => match line {
                Some(l) => handle_line(l, &mut stderr_text),
                None => break waiter.await.ok().flatten(),
            },
            st = &mut waiter => {
                // ansible is gone; what is left in the pipes comes at once (a stray holder of
                // a pipe must not hold the run).
                while let Ok(Some(l)) = tokio::time::timeout(Duration::from_secs(2), lrx.recv()).await {
                    handle_line(l, &mut stderr_text);
                }
                break st.ok().flatten();
            }
        }
    };
    // When ansible did not get to its end, what was running is reported, not left open.
    let killed = futures::FutureExt::now_or_never(cancel.killed()).is_some();
    handle_line(
        Line::Unfinished(if killed {
            "killed: the run was cancelled while this command ran".into()
        } else {
            "ansible-playbook ended before this task reported a result".into()
        }),
        &mut stderr_text,
    );
    drop(dir);
    let stderr_text = stderr_text.into_string();
    let cancelled = cancel.is_cancelled();
    let code = status.and_then(|s| s.code());
    let mut hosts = match tr.stats.take() {
        Some(h) => h,
        None => {
            if !cancelled && counts.is_empty() && code != Some(0) {
                let msg = redactor.redact(stderr_text.trim());
                let msg = msg
                    .strip_prefix("[ERROR]: ")
                    .or_else(|| msg.strip_prefix("ERROR! "))
                    .unwrap_or(&msg);
                return Err(InputError::new(format!(
                    "ansible-playbook: {}",
                    if msg.is_empty() {
                        format!("exited with {status:?}")
                    } else {
                        msg.to_string()
                    }
                )));
            }
            counts
        }
    };
    for h in &tr.hosts_started {
        hosts.entry(h.clone()).or_default();
    }
    if !stderr_text.trim().is_empty() && code != Some(0) {
        emit(RunEvent::Warning {
            msg: stderr_text.trim().to_string(),
        });
    }
    for (host, reason) in last_failure {
        if hosts
            .get(&host)
            .is_some_and(|c| c.failed > 0 || c.unreachable > 0)
        {
            emit(RunEvent::HostStopped { host, reason });
        }
    }
    emit(RunEvent::Stats {
        hosts: hosts.clone(),
        cancelled,
    });
    Ok(RunSummary { hosts, cancelled })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_to_vault_files_never_to_the_arguments() {
        let dir = PrivateDir::new().unwrap();
        let request = RunRequest {
            playbook: "site.yml".into(),
            extra_vars: vec!["db_password=hunter2-long".into(), "@vars.yml".into()],
            extra_values: [("token".to_string(), Value::from("tok-123456"))]
                .into_iter()
                .collect(),
            limit: Some("a,b".into()),
            ..Default::default()
        };
        let pw = Secret::new("vault-pw-0123456789");
        let r = redactor_for(&request, &[]);
        let args = arguments(&request, &Default::default(), &dir, &pw, &r).unwrap();
        let text: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = text.join(" ");
        assert!(
            !joined.contains("hunter2") && !joined.contains("tok-123"),
            "{joined}"
        );
        assert!(
            joined.contains("-e @vars.yml") && joined.contains("--limit a,b"),
            "{joined}"
        );
        let files: Vec<&String> = text.iter().filter(|a| a.contains(".vault.yml")).collect();
        assert_eq!(files.len(), 2, "{joined}");
        // The -e file comes before @vars.yml (order kept); each decrypts to its values.
        assert!(joined.find("extra-1").unwrap() < joined.find("@vars.yml").unwrap());
        let body = std::fs::read_to_string(files[0].trim_start_matches('@')).unwrap();
        assert!(crate::secrets::vault::is_vault(&body) && !body.contains("hunter2"));
        let plain = crate::secrets::vault::decrypt(&body, pw.expose().as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            r#"{"db_password":"hunter2-long"}"#
        );
        assert_eq!(r.redact("x hunter2-long tok-123456"), "x ******** ********");
        let path = dir.0.clone();
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn stale_dirs_of_dead_processes_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let me = crate::process::ProcessRef::current();
        let live = d.path().join(format!("{}-abc", me.tag()));
        let dead = d.path().join("999999999-abc");
        // A live pid with another start time: the pid was reused, the owner is gone.
        let reused = crate::process::ProcessRef {
            start_time: me.start_time.map(|t| t + 1),
            ..me
        };
        let recycled = d.path().join(format!("{}-abc", reused.tag()));
        for p in [&live, &dead, &recycled] {
            std::fs::create_dir(p).unwrap();
        }
        remove_stale_in(d.path());
        assert!(live.exists() && !dead.exists());
        assert!(!recycled.exists(), "a reused pid kept a stale run dir");
    }
}
