//! How commands reach a host: a transport spawns `sh -c` processes and streams their output.
//! The engine talks to every transport through [`Transport`]; `exec` adds become and stdin on top.

mod capped;
mod control;
mod kept;
pub mod local;
mod shell;
pub mod ssh;

pub use capped::{CAPTURE_HALF, Capped};
pub use control::{ControlReceiver, ControlSender, KillWatch, STDIN_QUEUE, control_channel};
pub use kept::{Kept, spawn_as};
pub use shell::ShellCache;

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("unreachable: {reason}")]
    Unreachable { reason: String },
    #[error("authentication failed (tried: {})", tried.join(", "))]
    AuthFailed { tried: Vec<String> },
    #[error(
        "host key for {host} is not known (SHA256 fingerprint {fingerprint}); \
         trust it with --accept-new-host-keys or StrictHostKeyChecking=accept-new"
    )]
    HostKeyUnknown { host: String, fingerprint: String },
    #[error(
        "HOST KEY CHANGED for {host}: known_hosts {path}:{line} has {expected}, the host offers {offered}; \
         if the change is expected, remove that line"
    )]
    HostKeyMismatch {
        host: String,
        path: String,
        line: usize,
        expected: String,
        offered: String,
    },
    #[error("connection lost: {reason}")]
    ConnectionLost { reason: String },
    #[error("command timed out after {}s", .0.as_secs())]
    CommandTimeout(Duration),
    #[error("privilege escalation failed: {0}")]
    Become(String),
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// Errors after which the host is gone for the rest of the run.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::AuthFailed { .. }
                | Self::HostKeyUnknown { .. }
                | Self::HostKeyMismatch { .. }
                | Self::ConnectionLost { .. }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug)]
pub enum ProcEvent {
    Output(Stream, Vec<u8>),
    /// Exit code, or the signal name when killed by a signal.
    Exit(Result<i32, String>),
}

#[derive(Debug)]
pub enum Control {
    Stdin(Vec<u8>),
    CloseStdin,
    Kill,
}

/// A running remote (or local) `sh -c` process.
pub struct Process {
    /// Stdin (bounded: senders wait for the target) and kill (never queued behind stdin).
    pub control: ControlSender,
    pub events: mpsc::Receiver<ProcEvent>,
}

pub trait Transport: Send + Sync {
    /// Runs `command` with `sh -c` on the target.
    fn spawn<'a>(&'a self, command: &'a str) -> BoxFuture<'a, Result<Process, TransportError>>;
    /// Persistent shells of this connection, when it keeps them (see [`shell`]).
    fn shells(&self) -> Option<&ShellCache> {
        None
    }
    /// Processes modules keep between tasks on this connection, when it keeps them ([`Kept`]).
    fn kept(&self) -> Option<&Kept> {
        None
    }
    /// Closes the connection cleanly; later spawns fail.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// No connection at all: what actions that run on the controller (debug, assert, …) are given,
/// so a host that cannot be reached still runs them, as in Ansible. Any command is an error.
pub struct Detached;

impl Transport for Detached {
    fn spawn<'a>(&'a self, _command: &'a str) -> BoxFuture<'a, Result<Process, TransportError>> {
        Box::pin(async {
            Err(TransportError::Other(
                "this action runs on the controller and has no connection to the host".into(),
            ))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BecomeMethod {
    Sudo,
    Su,
    /// util-linux `runuser`: root becoming another user without sudo (never asks a password).
    Runuser,
}

impl BecomeMethod {
    /// The command the method runs on the host.
    pub fn tool(self) -> &'static str {
        match self {
            Self::Sudo => "sudo",
            Self::Su => "su",
            Self::Runuser => "runuser",
        }
    }
}

#[derive(Clone)]
pub struct Become {
    pub method: BecomeMethod,
    pub user: String,
    pub password: Option<crate::secrets::Secret>,
}

/// Output of a finished command.
#[derive(Debug, Default, Clone)]
pub struct Output {
    pub rc: i32,
    pub signal: Option<String>,
    pub stdout: String,
    pub stderr: String,
    /// Stdout exactly as received (`stdout` is its lossy UTF-8 text): file contents stay bytes.
    pub stdout_bytes: Vec<u8>,
}

pub struct ExecRequest<'a> {
    pub script: &'a str,
    pub stdin: Option<&'a [u8]>,
    /// A local file streamed to stdin in chunks (large uploads never sit whole in memory).
    pub stdin_file: Option<&'a std::path::Path>,
    pub escalation: Option<&'a Become>,
    pub timeout: Option<Duration>,
}

/// The exit reason a transport reports when the connection died under a running command.
pub const CONNECTION_LOST: &str = "connection lost";

/// The host is gone, not the command failed.
fn lost_mid_command() -> TransportError {
    TransportError::ConnectionLost {
        reason: "the connection dropped while a command was running".into(),
    }
}

const BECOME_PROMPT: &str = "[slm-wizard become password]:";
const BECOME_OK: &str = "SLM-WIZARD-BECOME-OK";

/// Single-quotes `s` for POSIX sh.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn wrap_become(script: &str, b: &Become) -> String {
    let inner = format!("echo {BECOME_OK}; {script}");
    match b.method {
        BecomeMethod::Sudo if b.password.is_some() => format!(
            "sudo -H -S -p {} -u {} -- sh -c {}",
            sh_quote(BECOME_PROMPT),
            sh_quote(&b.user),
            sh_quote(&inner)
        ),
        BecomeMethod::Sudo => format!(
            "sudo -H -n -u {} -- sh -c {}",
            sh_quote(&b.user),
            sh_quote(&inner)
        ),
        BecomeMethod::Su => format!(
            "su -s /bin/sh -c {} -- {}",
            sh_quote(&inner),
            sh_quote(&b.user)
        ),
        // Like `sudo -H` and su, runuser sets HOME, USER and LOGNAME of the target user.
        BecomeMethod::Runuser => format!(
            "runuser -u {} -- sh -c {}",
            sh_quote(&b.user),
            sh_quote(&inner)
        ),
    }
}

/// Who a connection logged in as, and which escalation tools the host has: learned once per
/// connection without become, so escalation is decided from the login, not from facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub uid: Option<u32>,
    /// Escalation tools found in the login's PATH (of sudo, su, runuser).
    pub tools: Vec<String>,
}

/// One round trip; the shell's builtins read the uid and its name where `/proc` and
/// `/etc/passwd` hold them (two `id` processes cost more than the rest); `id` answers for a
/// user only a name service knows. A uid without a name leaves `user` empty, so each value has
/// its own line.
const WHOAMI_SCRIPT: &str = r#"slm_u= slm_i=
while read -r slm_k slm_v _; do [ "$slm_k" = Uid: ] && { slm_i=$slm_v; break; }; done 2>/dev/null </proc/self/status
[ -n "$slm_i" ] || slm_i=$(id -u)
while IFS=: read -r slm_n _ slm_v _; do [ "$slm_v" = "$slm_i" ] && { slm_u=$slm_n; break; }; done 2>/dev/null </etc/passwd
[ -n "$slm_u" ] || slm_u=$(id -un 2>/dev/null)
printf 'user=%s\nuid=%s\n' "$slm_u" "$slm_i"
for t in sudo su runuser; do command -v "$t" >/dev/null 2>&1 && echo "tool=$t"; done
"#;

impl Login {
    pub fn parse(stdout: &str) -> Option<Login> {
        let mut user = None;
        let mut uid = None;
        let mut tools = Vec::new();
        for line in stdout.lines() {
            match line.split_once('=') {
                Some(("user", v)) => user = Some(v.trim().to_string()),
                Some(("uid", v)) => uid = v.trim().parse().ok(),
                Some(("tool", v)) => tools.push(v.trim().to_string()),
                _ => {}
            }
        }
        let user = user?;
        if user.is_empty() && uid.is_none() {
            return None;
        }
        Some(Login { user, uid, tools })
    }

    pub fn is_root(&self) -> bool {
        self.uid == Some(0)
    }

    pub fn has(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }

    /// Whether `user` (a name or a numeric uid) is the login user itself.
    fn is(&self, user: &str) -> bool {
        (!self.user.is_empty() && self.user == user)
            || self.uid.is_some_and(|u| u.to_string() == user)
            || (user == "root" && self.is_root())
    }
}

/// The line between [`WHOAMI_SCRIPT`]'s output and the output of the script run after it.
const THEN_MARKER: &str = "@@slm-then\n";

/// Asks the host who this connection is (no become). `Ok(None)` when the answer is unusable:
/// the caller then escalates as asked, as before.
pub async fn whoami(transport: &dyn Transport) -> Result<Option<Login>, TransportError> {
    Ok(whoami_then(transport, None).await?.0)
}

/// [`whoami`], then `then` in the same round trip (issue 19: the first command on a new
/// connection also gathers the facts). `then`'s output comes back on its own: its stdout
/// after the marker, the exit code its own (the login part never fails); `then` runs as the
/// login, so its output is for callers whose command would run without escalation.
pub async fn whoami_then(
    transport: &dyn Transport,
    then: Option<&str>,
) -> Result<(Option<Login>, Option<Output>), TransportError> {
    let script = match then {
        Some(t) => format!("{WHOAMI_SCRIPT}echo {}\n{t}", THEN_MARKER.trim_end()),
        None => format!("{WHOAMI_SCRIPT}exit 0\n"),
    };
    let out = exec(
        transport,
        ExecRequest {
            script: &script,
            stdin: None,
            stdin_file: None,
            escalation: None,
            timeout: None,
        },
        &mut |_, _| {},
    )
    .await?;
    let Some(_) = then else {
        return Ok((
            if out.rc == 0 {
                Login::parse(&out.stdout)
            } else {
                None
            },
            None,
        ));
    };
    let marker = THEN_MARKER.as_bytes();
    let Some(at) = find(&out.stdout_bytes, marker) else {
        // The login part did not finish (the shell died): neither answer is known.
        return Ok((None, None));
    };
    let login = Login::parse(&String::from_utf8_lossy(&out.stdout_bytes[..at]));
    let bytes = out.stdout_bytes[at + marker.len()..].to_vec();
    let rest = Output {
        rc: out.rc,
        signal: out.signal,
        stdout: String::from_utf8_lossy(&bytes).into_owned(),
        stderr: out.stderr,
        stdout_bytes: bytes,
    };
    Ok((login, Some(rest)))
}

/// What escalation a task gets on a host: `Ok(None)` when the login already is the become user;
/// for a root login the method's tool is replaced by one the host has (root needs no password);
/// `Err` names the missing tool and the fix when a non-root login cannot escalate at all.
/// Without a known login, `want` is used as asked.
pub fn decide_become(login: Option<&Login>, want: Become) -> Result<Option<Become>, String> {
    if let Some(login) = login
        && login.is(&want.user)
    {
        return Ok(None);
    }
    // su reads its password from a terminal, which commands here never have; only root (which
    // su never asks) can use it.
    if want.method == BecomeMethod::Su
        && want.password.is_some()
        && !login.is_some_and(Login::is_root)
    {
        return Err(format!(
            "become_method su with a become password cannot work: su reads the password from a \
             terminal, and slm-wizard runs commands without one. Use become_method sudo (the \
             password is answered on sudo's prompt), or log in as root (su needs no password \
             then); becoming {}",
            want.user
        ));
    }
    let Some(login) = login else {
        return Ok(Some(want));
    };
    if login.has(want.method.tool()) {
        return Ok(Some(want));
    }
    if login.is_root() {
        // Preference: runuser (no PAM session, no tty), then su, then sudo.
        let other = [BecomeMethod::Runuser, BecomeMethod::Su, BecomeMethod::Sudo]
            .into_iter()
            .find(|m| login.has(m.tool()));
        return match other {
            Some(method) => Ok(Some(Become { method, ..want })),
            None => Err(format!(
                "cannot become {}: none of sudo, runuser, su is installed on the host \
                 (fix, as root: apt-get install util-linux sudo)",
                want.user
            )),
        };
    }
    let who = if login.user.is_empty() {
        login.uid.map(|u| format!("uid {u}")).unwrap_or_default()
    } else {
        login.user.clone()
    };
    let (fix, alternative) = match want.method {
        BecomeMethod::Sudo => (
            "apt-get install sudo",
            "and give the login user sudo rights, or log in as root",
        ),
        BecomeMethod::Su => ("apt-get install util-linux", "or log in as root"),
        BecomeMethod::Runuser => ("apt-get install util-linux", "or log in as root"),
    };
    Err(format!(
        "privilege escalation is not possible: become_method {} needs `{}`, which is not \
         installed on the host; the login user {who} is not {}. Fix, as root on the host: {fix} \
         ({alternative})",
        want.method.tool(),
        want.method.tool(),
        want.user,
    ))
}

/// Runs a script, streaming output chunks to `sink` as they arrive, and collects the result.
/// With `become`, the script runs as that user; a sudo password is written to stdin only when
/// sudo asks for it, and the script's own stdin is sent only after privilege escalation succeeded.
/// Runs on the connection's persistent shell when it has one free, else on a channel of its own.
pub async fn exec(
    transport: &dyn Transport,
    req: ExecRequest<'_>,
    sink: &mut (dyn FnMut(Stream, &[u8]) + Send),
) -> Result<Output, TransportError> {
    exec_full(transport, req, &[], sink, None).await
}

/// Whether `name` may be exported by a POSIX shell (and so cannot inject shell code).
pub fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks task `environment:` names and values; the error names the field and what is valid.
pub fn check_environment(env: &[(String, String)]) -> Result<(), String> {
    for (name, value) in env {
        if !valid_env_name(name) {
            return Err(format!(
                "environment: {name:?} is not a valid variable name (letters, digits and _, \
                 not starting with a digit)"
            ));
        }
        if value.contains('\0') {
            return Err(format!(
                "environment: the value of {name} contains a NUL byte, which no environment \
                 variable can hold"
            ));
        }
    }
    Ok(())
}

/// Reads the variables framed by [`env_frame`] from stdin and exports them. Only the count is in
/// the script (which ends up in an argv on the target); names, lengths and values come on stdin,
/// read by the shell's `read` builtin and `head -c`, which never read past what they need.
fn env_prelude(count: usize) -> String {
    format!(
        "slm_c={count}\n\
         while [ \"$slm_c\" -gt 0 ]; do IFS=' ' read -r slm_k slm_b || exit 97; \
         slm_v=$(head -c \"$slm_b\"; echo .); export \"$slm_k=${{slm_v%.}}\"; \
         slm_c=$((slm_c - 1)); done\n\
         unset slm_c slm_k slm_b slm_v\n"
    )
}

/// `NAME BYTES\n` then the value's bytes, per variable.
fn env_frame(env: &[(String, String)]) -> Vec<u8> {
    let mut frame = Vec::new();
    for (name, value) in env {
        frame.extend_from_slice(format!("{name} {}\n", value.len()).as_bytes());
        frame.extend_from_slice(value.as_bytes());
    }
    frame
}

/// [`exec`] with the task's `environment:` exported to the script. The values travel on the
/// command's stdin ahead of its own stdin, never in a command line: a script is an argv on the
/// target (`sh -c SCRIPT`), which every local user can read in `ps` while it runs.
pub async fn exec_env(
    transport: &dyn Transport,
    req: ExecRequest<'_>,
    env: &[(String, String)],
    sink: &mut (dyn FnMut(Stream, &[u8]) + Send),
    half: Option<usize>,
) -> Result<Output, TransportError> {
    if env.is_empty() {
        return exec_full(transport, req, &[], sink, half).await;
    }
    check_environment(env).map_err(TransportError::Other)?;
    let script = format!("{}{}", env_prelude(env.len()), req.script);
    let frame = env_frame(env);
    if req.stdin_file.is_some() {
        // The file is streamed after the frame.
        let req = ExecRequest {
            script: &script,
            ..req
        };
        return exec_full(transport, req, &frame, sink, half).await;
    }
    let mut stdin = frame;
    stdin.extend_from_slice(req.stdin.unwrap_or_default());
    let req = ExecRequest {
        script: &script,
        stdin: Some(&stdin),
        ..req
    };
    exec_full(transport, req, &[], sink, half).await
}

/// [`exec`], with `prefix` sent on stdin before a streamed `stdin_file`, and the result capped
/// at `half` bytes from each end of each stream (`None`: whole).
async fn exec_full(
    transport: &dyn Transport,
    req: ExecRequest<'_>,
    prefix: &[u8],
    sink: &mut (dyn FnMut(Stream, &[u8]) + Send),
    half: Option<usize>,
) -> Result<Output, TransportError> {
    if shell::suits(&req)
        && let Some(cache) = transport.shells()
        && let Some(out) = shell::exec(cache, transport, &req, sink, half).await?
    {
        return Ok(out);
    }
    let command = match req.escalation {
        Some(b) => wrap_become(req.script, b),
        None => req.script.to_string(),
    };
    let mut proc = transport.spawn(&command).await?;
    // Abandoned (the caller dropped this future: a kill): the command is killed, not left running.
    let guard = KillOnDrop(Some(proc.control.clone()));
    let run = drive(&mut proc, &req, prefix, sink, half);
    let result = match req.timeout {
        Some(limit) => match tokio::time::timeout(limit, run).await {
            Ok(r) => r,
            Err(_) => {
                let _ = proc.control.send(Control::Kill).await;
                Err(TransportError::CommandTimeout(limit))
            }
        },
        None => run.await,
    };
    guard.disarm();
    result
}

struct KillOnDrop(Option<ControlSender>);

impl KillOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let _ = c.try_send(Control::Kill);
        }
    }
}

async fn drive(
    proc: &mut Process,
    req: &ExecRequest<'_>,
    prefix: &[u8],
    sink: &mut (dyn FnMut(Stream, &[u8]) + Send),
    half: Option<usize>,
) -> Result<Output, TransportError> {
    let mut out = Output::default();
    let first = match req.escalation {
        Some(b) => escalate(proc, b).await?,
        None => Vec::new(),
    };
    let mut stdout = Capped::new(half);
    let mut stderr = Capped::new(half);
    if !first.is_empty() {
        sink(Stream::Stdout, &first);
        stdout.push(&first);
    }
    // Stdin is fed while output is read: the stdin queue is bounded, and a command that writes
    // before it has read all its input must not wait on us.
    let control = proc.control.clone();
    let feed = send_stdin(&control, req, prefix);
    tokio::pin!(feed);
    let mut fed = false;
    loop {
        let ev = tokio::select! {
            () = &mut feed, if !fed => {
                fed = true;
                continue;
            }
            ev = proc.events.recv() => ev,
        };
        let Some(ev) = ev else { break };
        match ev {
            ProcEvent::Output(stream, data) => {
                sink(stream, &data);
                match stream {
                    Stream::Stdout => stdout.push(&data),
                    Stream::Stderr => stderr.push(&data),
                }
            }
            // The transport lost the host mid-command: the host is gone, not the command failed.
            ProcEvent::Exit(Err(reason)) if reason == CONNECTION_LOST => {
                return Err(lost_mid_command());
            }
            ProcEvent::Exit(Ok(rc)) => out.rc = rc,
            ProcEvent::Exit(Err(sig)) => {
                out.rc = -1;
                out.signal = Some(sig);
            }
        }
    }
    (out.stdout, out.stdout_bytes) = stdout.into_text_and_bytes();
    out.stderr = stderr.into_string();
    Ok(out)
}

/// Waits until the become wrapper reports that privileges were obtained, answering sudo's
/// password prompt (once: a second prompt means the password is wrong). Output before the
/// marker belongs to sudo/su; what followed it on stdout is returned.
async fn escalate(proc: &mut Process, b: &Become) -> Result<Vec<u8>, TransportError> {
    let limit = become_timeout();
    let mut stderr = Vec::new();
    match tokio::time::timeout(limit, escalate_until_ok(proc, b, &mut stderr)).await {
        Ok(r) => r,
        Err(_) => {
            let _ = proc.control.send(Control::Kill).await;
            let seen = String::from_utf8_lossy(&stderr);
            let seen = seen.trim();
            let seen: String = seen
                .chars()
                .rev()
                .take(200)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Err(TransportError::Become(format!(
                "{} did not finish within {}s; it may be waiting at a prompt slm-wizard does not \
                 answer{}. Check the become password (ansible_become_password) and the host's \
                 sudo/PAM configuration",
                b.method.tool(),
                limit.as_secs(),
                if seen.is_empty() {
                    String::new()
                } else {
                    format!(" (it printed: {seen:?})")
                }
            )))
        }
    }
}

/// How long privilege escalation may take before it counts as stuck at an unknown prompt;
/// `SLM_WIZARD_BECOME_TIMEOUT` (seconds) overrides it.
pub const BECOME_TIMEOUT: Duration = Duration::from_secs(20);

fn become_timeout() -> Duration {
    std::env::var("SLM_WIZARD_BECOME_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(BECOME_TIMEOUT, Duration::from_secs)
}

async fn escalate_until_ok(
    proc: &mut Process,
    b: &Become,
    stderr: &mut Vec<u8>,
) -> Result<Vec<u8>, TransportError> {
    let mut stdout = Vec::new();
    let mut password_sent = false;
    while let Some(ev) = proc.events.recv().await {
        match ev {
            ProcEvent::Output(Stream::Stdout, data) => {
                stdout.extend_from_slice(&data);
                if let Some(at) = find(&stdout, BECOME_OK.as_bytes()) {
                    let mut rest = stdout.split_off(at + BECOME_OK.len());
                    if rest.first() == Some(&b'\n') {
                        rest.remove(0);
                    }
                    return Ok(rest);
                }
            }
            ProcEvent::Output(Stream::Stderr, data) => {
                stderr.extend_from_slice(&data);
                if find(stderr, BECOME_PROMPT.as_bytes()).is_none() {
                    continue;
                }
                let Some(pw) = b.password.as_ref() else {
                    let _ = proc.control.send(Control::Kill).await;
                    return Err(TransportError::Become(
                        "sudo asks for a password but none was given (ansible_become_password)"
                            .into(),
                    ));
                };
                if password_sent {
                    let _ = proc.control.send(Control::Kill).await;
                    return Err(TransportError::Become("incorrect sudo password".into()));
                }
                let mut line = pw.expose().as_bytes().to_vec();
                line.push(b'\n');
                let _ = proc.control.send(Control::Stdin(line)).await;
                password_sent = true;
                stderr.clear();
            }
            ProcEvent::Exit(Err(reason)) if reason == CONNECTION_LOST => {
                return Err(lost_mid_command());
            }
            ProcEvent::Exit(status) => {
                let msg = String::from_utf8_lossy(stderr).trim().to_string();
                return Err(TransportError::Become(if msg.is_empty() {
                    let rc = status.map_or_else(|sig| sig, |rc| rc.to_string());
                    format!("exited with {rc} before running the command")
                } else {
                    msg
                }));
            }
        }
    }
    Err(TransportError::ConnectionLost {
        reason: "the connection dropped during privilege escalation".into(),
    })
}

async fn send_stdin(control: &ControlSender, req: &ExecRequest<'_>, prefix: &[u8]) {
    if !prefix.is_empty() && control.send(Control::Stdin(prefix.to_vec())).await.is_err() {
        return;
    }
    if let Some(path) = req.stdin_file {
        // Streamed from a task of its own, so output keeps flowing while the file uploads.
        let control = control.clone();
        let path = path.to_path_buf();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            if let Ok(mut f) = tokio::fs::File::open(&path).await {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    match f.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if control
                                .send(Control::Stdin(buf[..n].to_vec()))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                }
            }
            let _ = control.send(Control::CloseStdin).await;
        });
        return;
    }
    if let Some(data) = req.stdin {
        for chunk in data.chunks(64 * 1024) {
            if control.send(Control::Stdin(chunk.to_vec())).await.is_err() {
                return;
            }
        }
    }
    let _ = control.send(Control::CloseStdin).await;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The login check as the local user, then a script whose output and exit code come back
    /// on their own.
    #[tokio::test]
    async fn whoami_then_splits_the_two_answers() {
        let local = local::LocalTransport::default();
        let (login, then) = whoami_then(&local, Some("echo then-out; exit 3"))
            .await
            .expect("local exec");
        let login = login.expect("a login");
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("Uid:")?
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                })
            });
        assert_eq!(login.uid, uid);
        assert!(!login.user.is_empty());
        let then = then.expect("the script's output");
        assert_eq!((then.stdout.as_str(), then.rc), ("then-out\n", 3));
        let (alone, none) = whoami_then(&local, None).await.expect("local exec");
        assert_eq!((alone, none.is_none()), (Some(login), true));
    }

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("abc"), "abc");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    fn login(user: &str, uid: u32, tools: &[&str]) -> Login {
        Login {
            user: user.into(),
            uid: Some(uid),
            tools: tools.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn want(method: BecomeMethod, user: &str) -> Become {
        Become {
            method,
            user: user.into(),
            password: None,
        }
    }

    fn decided(l: Option<&Login>, w: Become) -> Result<Option<(BecomeMethod, String)>, String> {
        decide_become(l, w).map(|b| b.map(|b| (b.method, b.user)))
    }

    #[test]
    fn login_is_parsed_from_the_probe() {
        let l = Login::parse("user=root\nuid=0\ntool=su\ntool=runuser\n");
        assert_eq!(l, Some(login("root", 0, &["su", "runuser"])));
        // A uid without a name still counts.
        let l = Login::parse("user=\nuid=1234\n");
        assert_eq!(l.as_ref().and_then(|l| l.uid), Some(1234));
        assert_eq!(Login::parse("garbage"), None);
    }

    #[test]
    fn the_login_user_itself_needs_no_escalation_tool() {
        let root = login("root", 0, &[]);
        assert_eq!(
            decided(Some(&root), want(BecomeMethod::Sudo, "root")),
            Ok(None)
        );
        assert_eq!(decided(Some(&root), want(BecomeMethod::Su, "0")), Ok(None));
        let deploy = login("deploy", 1000, &[]);
        assert_eq!(
            decided(Some(&deploy), want(BecomeMethod::Sudo, "deploy")),
            Ok(None)
        );
        assert_eq!(
            decided(Some(&deploy), want(BecomeMethod::Sudo, "1000")),
            Ok(None)
        );
        // A root login under another name (uid 0) is root too.
        let toor = login("toor", 0, &[]);
        assert_eq!(
            decided(Some(&toor), want(BecomeMethod::Sudo, "root")),
            Ok(None)
        );
    }

    #[test]
    fn root_becomes_another_user_without_sudo() {
        let no_sudo = login("root", 0, &["su", "runuser"]);
        assert_eq!(
            decided(Some(&no_sudo), want(BecomeMethod::Sudo, "postgres")),
            Ok(Some((BecomeMethod::Runuser, "postgres".into())))
        );
        let only_su = login("root", 0, &["su"]);
        assert_eq!(
            decided(Some(&only_su), want(BecomeMethod::Sudo, "postgres")),
            Ok(Some((BecomeMethod::Su, "postgres".into())))
        );
        // With sudo there, sudo is used as asked.
        let all = login("root", 0, &["sudo", "su", "runuser"]);
        assert_eq!(
            decided(Some(&all), want(BecomeMethod::Sudo, "postgres")),
            Ok(Some((BecomeMethod::Sudo, "postgres".into())))
        );
        assert!(
            decided(
                Some(&login("root", 0, &[])),
                want(BecomeMethod::Sudo, "postgres")
            )
            .is_err()
        );
    }

    #[test]
    fn a_non_root_login_without_the_tool_gets_the_fix() {
        let deploy = login("deploy", 1000, &["su", "runuser"]);
        let err = decided(Some(&deploy), want(BecomeMethod::Sudo, "root")).unwrap_err();
        assert!(err.contains("apt-get install sudo"), "{err}");
        assert!(err.contains("deploy"), "{err}");
        // runuser does not help a non-root login: it is never substituted.
        let err = decided(Some(&deploy), want(BecomeMethod::Sudo, "postgres")).unwrap_err();
        assert!(err.contains("apt-get install sudo"), "{err}");
        let with_sudo = login("deploy", 1000, &["sudo"]);
        assert_eq!(
            decided(Some(&with_sudo), want(BecomeMethod::Sudo, "root")),
            Ok(Some((BecomeMethod::Sudo, "root".into())))
        );
    }

    #[test]
    fn su_with_a_password_is_refused_unless_root_logs_in() {
        let with_pw = |method| Become {
            password: Some(crate::secrets::Secret::new("pw".to_string())),
            ..want(method, "postgres")
        };
        let deploy = login("deploy", 1000, &["su", "sudo"]);
        let err = decided(Some(&deploy), with_pw(BecomeMethod::Su)).unwrap_err();
        assert!(err.contains("su") && err.contains("terminal"), "{err}");
        assert!(decided(None, with_pw(BecomeMethod::Su)).is_err());
        // Root never gets asked by su; sudo answers its prompt.
        let root = login("root", 0, &["su"]);
        assert!(decided(Some(&root), with_pw(BecomeMethod::Su)).is_ok());
        assert!(decided(Some(&deploy), with_pw(BecomeMethod::Sudo)).is_ok());
    }

    #[test]
    fn an_unknown_login_escalates_as_asked() {
        assert_eq!(
            decided(None, want(BecomeMethod::Sudo, "root")),
            Ok(Some((BecomeMethod::Sudo, "root".into())))
        );
    }

    #[test]
    fn runuser_keeps_the_script_quoted() {
        let cmd = wrap_become("echo 'hi'", &want(BecomeMethod::Runuser, "postgres"));
        assert!(cmd.starts_with("runuser -u postgres -- sh -c "), "{cmd}");
        assert!(cmd.contains(BECOME_OK), "{cmd}");
    }
}
