//! One `psql` per host, become user and connection (issue 19): the first PostgreSQL task that
//! needs it starts it, the next ones reuse it, so a task costs one round trip on an open channel
//! instead of a psql start, a become and a new server connection.
//!
//! Per task, on the session's stdin: a ready probe `SELECT 'NONCE-ready';`, the task's SQL,
//! then `\echo NONCE-end` and `\warn NONCE-end`. A fresh random nonce per task makes the end
//! markers unforgeable by query output or server messages. psql runs with ON_ERROR_STOP as the
//! one-shot psql does: the first failing statement ends it (exit 3) and the task's result is
//! what it printed, so errors keep their meaning; the next task starts a new session. A session
//! whose server went away between tasks (a `service: restarted`) fails the probe before any of
//! the task's SQL ran: the task is run again, once, on a new session.
//!
//! Secrets: the SQL (ALTER ROLE … PASSWORD) and a login password travel on stdin only; the
//! password is read by psql's own prompt (`-W`), never exported to its environment.

use std::sync::{Arc, LazyLock};

use super::{Conn, Ctx, ModuleError, psql_command, strip_prompt};
use crate::transport::{
    Become, Control, Output, ProcEvent, Process, Stream, Transport, TransportError, spawn_as,
};

/// A psql kept on the connection between tasks.
struct Session {
    proc: Process,
    /// The database it is connected to; a task for another one switches with `\connect`.
    db: String,
    /// Lines psql has read: its messages number lines from its start, a task's from its own.
    lines: usize,
    /// A task is running on it: dropping it then kills it.
    busy: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.busy {
            let _ = self.proc.control.try_send(Control::Kill);
        }
        // End of input: psql closes its server connection and exits.
        let _ = self.proc.control.try_send(Control::CloseStdin);
    }
}

/// A session [`warm`] is starting: the task that needs it waits for it rather than starting
/// another.
struct Starting {
    session: tokio::sync::oneshot::Receiver<Session>,
    db: String,
}

/// Starts the session a later task will use (issue 19: the run starts it while the tasks before
/// that one run, so its become, `pg_wrapper` and server connection are not on the task's
/// path). Nothing is reported: a session that did not start, or whose server went away before
/// the task, is replaced by a new one then, as any stale session is.
pub fn warm(
    transport: Arc<dyn Transport>,
    escalation: Option<Become>,
    conn: &Conn,
    db: &str,
    command_timeout: Option<std::time::Duration>,
) {
    let Some(kept) = transport.kept() else {
        return;
    };
    if conn.one_shot || command_timeout.is_some() {
        return;
    }
    let key = key(escalation.as_ref(), conn);
    if kept.has(&key) {
        return;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    kept.put(
        key,
        Starting {
            session: rx,
            db: db.to_string(),
        },
    );
    let (conn, db) = (conn.clone(), db.to_string());
    tokio::spawn(async move {
        if let Ok(s) = start(transport.as_ref(), escalation.as_ref(), &conn, &db).await {
            // No taker any more (the connection closed): dropping it ends psql.
            let _ = tx.send(s);
        }
    });
}

/// What a task's exchange with a session came to.
enum Exchange {
    /// Both end markers arrived: the session can serve the next task.
    Done(Output),
    /// psql ended (an error under ON_ERROR_STOP, a lost server); `ready` says whether the probe
    /// ran, i.e. whether any of the task's SQL may have.
    Ended { out: Output, ready: bool },
}

/// Whether `psql` can use a session for this task: the connection keeps them, and nothing the
/// session would not carry is asked for (task `environment:`, a command time limit).
pub(super) fn suits(ctx: &Ctx<'_>, conn: &Conn) -> bool {
    !conn.one_shot
        && ctx.conn.kept().is_some()
        && ctx.environment.is_empty()
        && ctx.command_timeout.is_none()
}

/// Runs `sql` in `db` on the session for `conn`, starting one when there is none.
pub(super) async fn run(
    ctx: &Ctx<'_>,
    conn: &Conn,
    db: &str,
    sql: &str,
) -> Result<Output, ModuleError> {
    let Some(kept) = ctx.conn.kept() else {
        return Err(TransportError::Other("no kept sessions on this connection".into()).into());
    };
    let key = key(ctx.escalation.as_ref(), conn);
    let mut sql = sql.to_string();
    if !sql.ends_with('\n') {
        sql.push('\n');
    }
    loop {
        // One started ahead counts as reused: if it failed or went stale, a new one is started.
        let warmed = match kept.take::<Starting>(&key) {
            Some(Starting { session: rx, .. }) => tokio::select! {
                r = rx => r.ok(),
                _ = ctx.cancel.killed() => return Err(killed()),
            },
            None => None,
        };
        let (mut session, reused) = match warmed.or_else(|| kept.take::<Session>(&key)) {
            Some(s) => (s, true),
            None => tokio::select! {
                r = start(ctx.conn, ctx.escalation.as_ref(), conn, db) => (r?, false),
                _ = ctx.cancel.killed() => return Err(killed()),
            },
        };
        session.busy = true;
        // A kill drops the busy session, which kills psql.
        let exchange = tokio::select! {
            r = exchange(&mut session, db, &sql) => r,
            _ = ctx.cancel.killed() => return Err(killed()),
        };
        match exchange {
            Ok(Exchange::Done(out)) => {
                session.busy = false;
                kept.put(key, session);
                return Ok(out);
            }
            // A stale session (its server restarted since the last task): nothing ran; again
            // on a new one.
            Ok(Exchange::Ended { ready: false, .. }) if reused => continue,
            Ok(Exchange::Ended { out, .. }) => return Ok(out),
            // The channel of a session idle since an earlier task broke: again on a new one (a
            // new channel fails the same way if the host is gone).
            Err(_) if reused => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn killed() -> ModuleError {
    TransportError::Other("killed: the run was cancelled while this command ran".into()).into()
}

/// The session's identity: who runs psql and how it connects (the database aside: a session
/// switches). The password is part of it (hashed: keys are compared, never shown) so another
/// password gets another session.
fn key(escalation: Option<&Become>, conn: &Conn) -> String {
    use sha2::Digest;
    let become_key = escalation
        .map(|b| format!("{}:{}", b.method.tool(), b.user))
        .unwrap_or_default();
    let pw = conn
        .password
        .as_deref()
        .map(|p| hex::encode(sha2::Sha256::digest(p.as_bytes())))
        .unwrap_or_default();
    // The role too: a `SET ROLE` lasts for the session.
    format!(
        "psql\u{0}{become_key}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{pw}",
        conn.port, conn.host, conn.socket, conn.user, conn.conninfo, conn.session_role
    )
}

/// Ends the host's idle session (or the one still starting) when it sits on a database other
/// than `db`: before a psql of its own runs a user's SQL, which may drop or rename that
/// database — the server refuses while anyone else is connected to it, and ansible's modules,
/// each connecting anew, leave no one behind.
pub(super) fn release_others(ctx: &Ctx<'_>, db: &str) {
    if let Some(kept) = ctx.conn.kept() {
        kept.retain::<Session>(|s| s.db == db);
        kept.retain::<Starting>(|s| s.db == db);
    }
}

/// Starts psql as the one-shot path would run it, reading its script from stdin until the end.
async fn start(
    transport: &dyn Transport,
    escalation: Option<&Become>,
    conn: &Conn,
    db: &str,
) -> Result<Session, ModuleError> {
    let command = psql_command(conn, db);
    let (proc, _) = spawn_as(transport, &command, escalation).await?;
    let session = Session {
        proc,
        db: db.to_string(),
        lines: 0,
        busy: false,
    };
    if let Some(pw) = &conn.password {
        send(&session.proc, format!("{pw}\n").into_bytes()).await;
    }
    Ok(session)
}

async fn send(proc: &Process, data: Vec<u8>) {
    for chunk in data.chunks(64 * 1024) {
        if proc
            .control
            .send(Control::Stdin(chunk.to_vec()))
            .await
            .is_err()
        {
            // psql ended: its exit (and why) arrives as an event.
            return;
        }
    }
}

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("SLMPG{}", hex::encode(bytes))
}

/// Sends one task's SQL and reads until both end markers, or until psql ends.
async fn exchange(session: &mut Session, db: &str, sql: &str) -> Result<Exchange, TransportError> {
    let nonce = nonce();
    let ready = format!("{nonce}-ready\n");
    let end = format!("{nonce}-end\n");
    // Before the probe: a database that cannot be reached ends psql before any SQL ran.
    let mut frame = String::new();
    if session.db != db {
        frame.push_str(&connect_line(db));
        session.db = db.to_string();
    }
    frame.push_str(&format!("SELECT '{nonce}-ready';\n"));
    // psql numbers lines from its start: the task's SQL starts after the probe.
    let first_line = session.lines + frame.matches('\n').count();
    // A lone `;` sends a last statement left without one, as the one-shot psql does at the end
    // of its input (an empty one is a no-op): the markers never pass a statement not yet run.
    frame.push_str(&format!("{sql};\n\\echo {nonce}-end\n\\warn {nonce}-end\n"));
    session.lines += frame.bytes().filter(|&b| b == b'\n').count();
    send(&session.proc, frame.into_bytes()).await;

    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let (mut out_end, mut err_end) = (None, None);
    loop {
        if let (Some(o), Some(e)) = (out_end, err_end) {
            stdout.truncate(o);
            stderr.truncate(e);
            let out = output(0, &stdout, &stderr, &ready, first_line);
            return Ok(Exchange::Done(out));
        }
        match session.proc.events.recv().await {
            Some(ProcEvent::Output(Stream::Stdout, data)) => {
                let from = stdout.len().saturating_sub(end.len());
                stdout.extend_from_slice(&data);
                if out_end.is_none() {
                    out_end = find(&stdout, from, end.as_bytes());
                }
            }
            Some(ProcEvent::Output(Stream::Stderr, data)) => {
                let from = stderr.len().saturating_sub(end.len());
                stderr.extend_from_slice(&data);
                if err_end.is_none() {
                    err_end = find(&stderr, from, end.as_bytes());
                }
            }
            Some(ProcEvent::Exit(Ok(rc))) => {
                let probed = stdout.starts_with(ready.as_bytes());
                let out = output(rc, &stdout, &stderr, &ready, first_line);
                return Ok(Exchange::Ended { out, ready: probed });
            }
            Some(ProcEvent::Exit(Err(reason))) if reason != crate::transport::CONNECTION_LOST => {
                let probed = stdout.starts_with(ready.as_bytes());
                let mut out = output(-1, &stdout, &stderr, &ready, first_line);
                out.signal = Some(reason);
                return Ok(Exchange::Ended { out, ready: probed });
            }
            Some(ProcEvent::Exit(Err(_))) | None => {
                return Err(TransportError::ConnectionLost {
                    reason: "the connection dropped while a command was running".into(),
                });
            }
        }
    }
}

/// `\connect` to `db`, keeping the session's host, port and user (and password). The name is
/// a conninfo value (see `dbname_conninfo`) in a psql-quoted argument, where `'` doubles and
/// `\` escapes.
fn connect_line(db: &str) -> String {
    let conninfo = super::dbname_conninfo(db);
    format!(
        "\\connect -reuse-previous=on '{}'\n",
        conninfo.replace('\\', "\\\\").replace('\'', "''")
    )
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| from + at)
}

/// The task's output as the one-shot psql would have printed it: without the probe's row, the
/// password prompt, and with line numbers counted from the task's first line.
fn output(rc: i32, stdout: &[u8], stderr: &[u8], ready: &str, first_line: usize) -> Output {
    let stdout = stdout.strip_prefix(ready.as_bytes()).unwrap_or(stdout);
    let stderr = renumber(&String::from_utf8_lossy(stderr), first_line);
    Output {
        rc,
        signal: None,
        stdout: String::from_utf8_lossy(stdout).into_owned(),
        stderr,
        stdout_bytes: stdout.to_vec(),
    }
}

/// `psql:<stdin>:N:` → the line within the task's SQL; a leading password prompt is dropped.
fn renumber(stderr: &str, first_line: usize) -> String {
    static LINE: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"psql:<stdin>:(\d+):").ok());
    let s = strip_prompt(stderr);
    match LINE.as_ref() {
        Some(re) => re
            .replace_all(&s, |c: &regex::Captures<'_>| {
                let n = c[1].parse::<usize>().unwrap_or(0);
                format!("psql:<stdin>:{}:", n.saturating_sub(first_line).max(1))
            })
            .into_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_drops_the_probe_and_renumbers_lines() {
        let out = output(
            3,
            b"SLMPGx-ready\n1\t2\n",
            b"Password: psql:<stdin>:12: ERROR:  role \"a\" already exists\n",
            "SLMPGx-ready\n",
            10,
        );
        assert_eq!(out.stdout, "1\t2\n");
        assert_eq!(out.stdout_bytes, b"1\t2\n");
        // Line 12 of the session is the task's second line (its first is 11, after the probe).
        assert_eq!(
            out.stderr,
            "psql:<stdin>:2: ERROR:  role \"a\" already exists\n"
        );
    }

    #[test]
    fn markers_are_found_across_chunks_only_after_from() {
        assert_eq!(find(b"abcN-end\n", 0, b"N-end\n"), Some(3));
        assert_eq!(find(b"abcN-end\n", 4, b"N-end\n"), None);
        assert_eq!(find(b"ab", 5, b"N-end\n"), None);
    }

    #[test]
    fn connect_quotes_the_database_for_psql() {
        assert_eq!(
            connect_line("slm"),
            "\\connect -reuse-previous=on 'dbname=''slm'''\n"
        );
        // conninfo: dbname='a\'b\\c'; psql: each ' doubled, each \ doubled.
        assert_eq!(
            connect_line(r"a'b\c"),
            r"\connect -reuse-previous=on 'dbname=''a\\''b\\\\c'''".to_string() + "\n"
        );
    }
}
