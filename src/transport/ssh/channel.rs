//! One command on a session channel: the session slot and the pump between channel and engine.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use russh::client;
use russh::{ChannelMsg, Sig};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::transport::{Control, ControlReceiver, ProcEvent, Stream};

use super::Shared;
use super::known_hosts::Client;

/// Counts a session channel being opened or open; frees it (and wakes waiting spawns) when
/// dropped.
pub(super) struct SessionSlot {
    shared: Arc<Shared>,
    open: bool,
}

impl SessionSlot {
    pub(super) fn new(shared: &Arc<Shared>) -> Self {
        shared.sessions.fetch_add(1, Ordering::SeqCst);
        Self {
            shared: shared.clone(),
            open: false,
        }
    }

    pub(super) fn confirm(&mut self) {
        if !self.open {
            self.open = true;
            self.shared.open_sessions.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        if self.open {
            self.shared.open_sessions.fetch_sub(1, Ordering::SeqCst);
        }
        self.shared.sessions.fetch_sub(1, Ordering::SeqCst);
        self.shared.session_freed.notify_waiters();
    }
}

fn signal_name(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name.as_str(),
    }
    .to_string()
}

enum ChannelRequest {
    Kill,
    Close,
}

fn detached(writer: &Arc<russh::ChannelWriteHalf<client::Msg>>, req: ChannelRequest) {
    let w = writer.clone();
    tokio::spawn(async move {
        let _ = match req {
            ChannelRequest::Kill => w.signal(Sig::KILL).await,
            ChannelRequest::Close => w.close().await,
        };
    });
}

/// How long after `Kill` we wait for the server to confirm (exit-signal, channel close) before
/// closing the channel ourselves. (Once we send CHANNEL_CLOSE, russh drops everything the
/// server still sends on that channel, so the close comes last.)
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Moves one command's data between the channel and the engine until the channel is gone.
///
/// russh hands channel messages over from its connection task and blocks that task (every
/// channel of the connection) while a channel's buffer is full, so this loop always drains the
/// channel and queues events for the engine instead of waiting on it.
pub(super) async fn pump(
    channel: russh::Channel<client::Msg>,
    control: ControlReceiver,
    events: mpsc::Sender<ProcEvent>,
    handle: Arc<client::Handle<Client>>,
) {
    let (mut reader, writer) = channel.split();
    // Signal and close go out from tasks of their own: awaiting them here could deadlock with
    // the connection task waiting for room in this channel's buffer.
    let writer = Arc::new(writer);

    // Stdin goes through its own task: writes wait for the remote window, which must never
    // hold up reading output (`cat` would deadlock). It reads the bounded stdin queue itself,
    // so a sender waits while the target is slow; a kill comes on its own path, never behind
    // queued stdin.
    let (mut stdin_rx, kill) = control.split();
    let mut stdin_writer = writer.make_writer();
    let stdin_task = tokio::spawn(async move {
        // Returning drops the queue: later sends fail at once instead of waiting.
        while let Some(item) = stdin_rx.recv().await {
            match item {
                Control::Stdin(data) => {
                    if stdin_writer.write_all(&data).await.is_err() {
                        return;
                    }
                }
                Control::CloseStdin => {
                    let _ = stdin_writer.shutdown().await;
                    return;
                }
                Control::Kill => {}
            }
        }
        // Every sender is gone: stdin stays open (no EOF) until the command ends, as it
        // did when nobody closed it.
        std::future::pending::<()>().await;
    });

    let mut queue: VecDeque<ProcEvent> = VecDeque::new();
    let mut status: Option<Result<i32, String>> = None;
    let mut events_open = true;
    let mut killed = false;
    let mut exec_refused = false;
    // After Kill: when to stop waiting for the server.
    let mut deadline: Option<Instant> = None;

    loop {
        tokio::select! {
            msg = reader.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if events_open {
                        queue.push_back(ProcEvent::Output(Stream::Stdout, data.to_vec()));
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    if events_open {
                        queue.push_back(ProcEvent::Output(Stream::Stderr, data.to_vec()));
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    status = Some(Ok(i32::try_from(exit_status).unwrap_or(i32::MAX)));
                }
                Some(ChannelMsg::ExitSignal { signal_name: sig, .. }) => {
                    status = Some(Err(format!("signal {}", signal_name(&sig))));
                }
                Some(ChannelMsg::Failure) if status.is_none() => {
                    // The only request we want a reply to is `exec`.
                    exec_refused = true;
                    detached(&writer, ChannelRequest::Close);
                    break;
                }
                Some(_) => {}
                None => break,
            },
            () = kill.wait(), if !killed => {
                killed = true;
                stdin_task.abort();
                // OpenSSH (>= 7.9) sends the signal to the session's process group,
                // except for root logins (no post-auth privilege separation), where it
                // refuses. Closing the channel does not stop a command without a tty;
                // it gets SIGPIPE the next time it writes output.
                detached(&writer, ChannelRequest::Kill);
                deadline = Some(Instant::now() + KILL_WAIT);
            }
            permit = events.reserve(), if events_open && !queue.is_empty() => match permit {
                Ok(permit) => {
                    if let Some(ev) = queue.pop_front() {
                        permit.send(ev);
                    }
                }
                Err(_) => {
                    // Nobody listens any more; keep draining the channel.
                    events_open = false;
                    queue.clear();
                }
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)),
                if deadline.is_some() => {
                detached(&writer, ChannelRequest::Close);
                break;
            }
        }
    }
    stdin_task.abort();

    let exit = match status {
        Some(s) => s,
        None if exec_refused => Err("the server refused to run the command".into()),
        None if killed => {
            tracing::debug!("kill not confirmed by the server; the command may still run");
            Err("signal KILL (not confirmed by the server)".into())
        }
        None => {
            if !handle.is_closed() {
                tracing::debug!("channel closed without an exit status");
            }
            Err(crate::transport::CONNECTION_LOST.into())
        }
    };
    if events_open {
        for ev in queue {
            if events.send(ev).await.is_err() {
                return;
            }
        }
        let _ = events.send(ProcEvent::Exit(exit)).await;
    }
}
