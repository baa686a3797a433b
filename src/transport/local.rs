//! `ansible_connection: local`: commands run as child processes of slm-wizard.

use std::process::Stdio;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::{Control, ProcEvent, Process, Stream, Transport, TransportError};

#[derive(Default)]
pub struct LocalTransport {
    shells: super::ShellCache,
    kept: super::Kept,
}

impl Transport for LocalTransport {
    fn shells(&self) -> Option<&super::ShellCache> {
        Some(&self.shells)
    }

    fn kept(&self) -> Option<&super::Kept> {
        Some(&self.kept)
    }

    fn spawn<'a>(&'a self, command: &'a str) -> BoxFuture<'a, Result<Process, TransportError>> {
        Box::pin(async move {
            // The controller runs with umask 077 (secrets::harden_process); the target's commands
            // get the umask the process started with, as on any other host.
            let script = match crate::secrets::target_umask() {
                Some(m) => format!("umask {m:04o}\n{command}"),
                None => command.to_string(),
            };
            let mut child = Command::new("/bin/sh")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                // Its own process group, so a kill reaches the commands it started too.
                .process_group(0)
                .spawn()
                .map_err(|e| TransportError::Other(format!("cannot start /bin/sh: {e}")))?;
            let (control_tx, control_rx) = super::control_channel();
            let (event_tx, event_rx) = mpsc::channel::<ProcEvent>(64);
            let mut stdin = child.stdin.take();
            let mut stdout = child.stdout.take();
            let mut stderr = child.stderr.take();
            tokio::spawn(async move {
                let out_tx = event_tx.clone();
                let out_task = tokio::spawn(async move {
                    if let Some(s) = stdout.as_mut() {
                        pump(s, Stream::Stdout, &out_tx).await;
                    }
                });
                let err_tx = event_tx.clone();
                let err_task = tokio::spawn(async move {
                    if let Some(s) = stderr.as_mut() {
                        pump(s, Stream::Stderr, &err_tx).await;
                    }
                });
                // Stdin is written from a task of its own, so a write blocked on a full pipe
                // never holds up a kill.
                let (mut stdin_rx, kill) = control_rx.split();
                let stdin_task = tokio::spawn(async move {
                    while let Some(msg) = stdin_rx.recv().await {
                        match msg {
                            Control::Stdin(data) => {
                                if let Some(w) = stdin.as_mut()
                                    && w.write_all(&data).await.is_err()
                                {
                                    stdin = None;
                                }
                            }
                            Control::CloseStdin => stdin = None,
                            Control::Kill => {}
                        }
                    }
                    // Every sender is gone: stdin stays open until the command ends.
                    std::future::pending::<()>().await;
                });
                let mut killed = false;
                let status = loop {
                    tokio::select! {
                        status = child.wait() => break status,
                        () = kill.wait(), if !killed => {
                            killed = true;
                            if let Some(pid) = child.id() {
                                let _ = std::process::Command::new("kill")
                                    .args(["-s", "KILL", "--", &format!("-{pid}")])
                                    .stderr(Stdio::null())
                                    .status();
                            }
                            let _ = child.start_kill();
                        }
                    }
                };
                stdin_task.abort();
                let _ = out_task.await;
                let _ = err_task.await;
                let exit = match status {
                    Ok(s) => match s.code() {
                        Some(code) => Ok(code),
                        None => {
                            use std::os::unix::process::ExitStatusExt;
                            Err(format!("signal {}", s.signal().unwrap_or(0)))
                        }
                    },
                    Err(e) => Err(e.to_string()),
                };
                let _ = event_tx.send(ProcEvent::Exit(exit)).await;
            });
            Ok(Process {
                control: control_tx,
                events: event_rx,
            })
        })
    }
}

async fn pump<R: AsyncReadExt + Unpin>(r: &mut R, stream: Stream, tx: &mpsc::Sender<ProcEvent>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx
                    .send(ProcEvent::Output(stream, buf[..n].to_vec()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}
