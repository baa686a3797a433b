//! How commands reach a host: a transport spawns `sh -c` processes and streams their output.
//! The engine talks to every transport through [`Transport`]; `exec` adds become and stdin on top.

pub mod local;
mod shell;
pub mod ssh;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
    pub control: mpsc::Sender<Control>,
    pub events: mpsc::Receiver<ProcEvent>,
}

pub trait Transport: Send + Sync {
    /// Runs `command` with `sh -c` on the target.
    fn spawn<'a>(&'a self, command: &'a str) -> BoxFuture<'a, Result<Process, TransportError>>;
    /// Persistent shells of this connection, when it keeps them (see [`shell`]).
    fn shells(&self) -> Option<&ShellCache> {
        None
    }
    /// Closes the connection cleanly; later spawns fail.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BecomeMethod {
    Sudo,
    Su,
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
            "su -s /bin/sh {} -c {}",
            sh_quote(&b.user),
            sh_quote(&inner)
        ),
    }
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
    if shell::suits(&req)
        && let Some(cache) = transport.shells()
        && let Some(out) = shell::exec(cache, transport, &req, sink).await?
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
    let run = drive(&mut proc, &req, sink);
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

struct KillOnDrop(Option<mpsc::Sender<Control>>);

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
    sink: &mut (dyn FnMut(Stream, &[u8]) + Send),
) -> Result<Output, TransportError> {
    let mut out = Output::default();
    let mut stdout = match req.escalation {
        Some(b) => escalate(proc, b).await?,
        None => Vec::new(),
    };
    let mut stderr = Vec::new();
    if !stdout.is_empty() {
        sink(Stream::Stdout, &stdout);
    }
    send_stdin(proc, req).await;
    while let Some(ev) = proc.events.recv().await {
        match ev {
            ProcEvent::Output(stream, data) => {
                sink(stream, &data);
                match stream {
                    Stream::Stdout => stdout.extend_from_slice(&data),
                    Stream::Stderr => stderr.extend_from_slice(&data),
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
    out.stdout = String::from_utf8_lossy(&stdout).into_owned();
    out.stderr = String::from_utf8_lossy(&stderr).into_owned();
    Ok(out)
}

/// Waits until the become wrapper reports that privileges were obtained, answering sudo's
/// password prompt (once: a second prompt means the password is wrong). Output before the
/// marker belongs to sudo/su; what followed it on stdout is returned.
async fn escalate(proc: &mut Process, b: &Become) -> Result<Vec<u8>, TransportError> {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
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
                if find(&stderr, BECOME_PROMPT.as_bytes()).is_none() {
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
                let msg = String::from_utf8_lossy(&stderr).trim().to_string();
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

async fn send_stdin(proc: &Process, req: &ExecRequest<'_>) {
    if let Some(path) = req.stdin_file {
        // Streamed from a task of its own, so output keeps flowing while the file uploads.
        let control = proc.control.clone();
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
            if proc
                .control
                .send(Control::Stdin(chunk.to_vec()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    let _ = proc.control.send(Control::CloseStdin).await;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("abc"), "abc");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
