//! `ansible_connection: ssh`: commands run over one SSH connection per host (russh), one session
//! channel per command, the way `ansible` runs them through OpenSSH with ControlMaster.
//!
//! What OpenSSH does and this transport copies:
//! - host keys are checked against `known_hosts` (plain, `[host]:port` and hashed entries), with
//!   `StrictHostKeyChecking` `yes` (default), `accept-new` and `no`;
//! - authentication in OpenSSH order: ssh-agent keys, identity files, password
//!   (and keyboard-interactive answered with the password);
//! - the command string goes to the remote user's shell as-is;
//! - keepalives (`ServerAliveInterval`/`ServerAliveCountMax 3`) detect a dead peer;
//! - `-L`-style local forwarding over `direct-tcpip` channels;
//! - the OpenSSH client config (`~/.ssh/config` or `-F FILE`, see [`read_ssh_config`]), whose
//!   values count only where the command line (the inventory) gave none;
//! - one-hop `ProxyJump`: the target's SSH session runs inside a `direct-tcpip` channel of an
//!   authenticated connection to the jump host.
//!
//! Not supported: ProxyCommand, ProxyJump chains (more than one hop), `Match` blocks in the
//! config, the system-wide `/etc/ssh/ssh_config`, certificates in identity files, GSSAPI, host
//! certificates (`@cert-authority`).

mod auth;
mod channel;
mod config;
mod forward;
mod known_hosts;
mod params;
mod quickack;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use russh::client;
use russh::keys::Algorithm;
use russh::{ChannelOpenFailure, Disconnect};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, watch};

use crate::transport::{ProcEvent, Process, Transport, TransportError, control_channel};

pub use auth::set_passphrase_prompt;
pub use config::{HostConfig, Proxy, read_ssh_config};
pub use forward::{ForwardGuard, JUMP_HOST_SUFFIX};
pub(crate) use params::split_shell_words;
pub use params::{SshParams, StrictHostKeyChecking};

use auth::{authenticate, default_identity_files};
use channel::{SessionSlot, pump};
use forward::jump_error;
use known_hosts::{Client, default_known_hosts, known_host_keys};

// ---------------------------------------------------------------------------------------------
// Connection state shared by the transport, the russh handler, command pumps and forwarders.

struct Shared {
    /// Why the connection ended, as reported to the handler.
    lost_reason: Mutex<Option<String>>,
    closed_by_us: AtomicBool,
    /// Flips to true when the transport is closed or dropped; forwarders stop.
    shutdown: watch::Sender<bool>,
    /// Session channels being opened or open, and those open; used to wait for a free slot
    /// when the server limits sessions per connection (OpenSSH `MaxSessions`, default 10).
    sessions: AtomicUsize,
    open_sessions: AtomicUsize,
    session_freed: Notify,
}

impl Shared {
    fn lost_reason(&self) -> Option<String> {
        self.lost_reason.lock().ok().and_then(|g| g.clone())
    }
}

// ---------------------------------------------------------------------------------------------

/// One authenticated SSH connection to a host.
pub struct SshTransport {
    handle: Arc<client::Handle<Client>>,
    shared: Arc<Shared>,
    label: String,
    fingerprint: Option<String>,
    /// The connection to the ProxyJump host this one runs through.
    jump: Option<Box<SshTransport>>,
    shells: super::ShellCache,
    kept: super::Kept,
}

impl SshTransport {
    /// Connects, verifies the host key and logs in.
    ///
    /// With a jump host (`proxy_jump`, or a `-J`/`ProxyJump` not yet resolved), first connects
    /// and logs in to the jump host (its own host key check and authentication), then runs
    /// this connection inside a `direct-tcpip` channel to `host:port` opened from there.
    /// Errors about the jump host name it as the ProxyJump host.
    pub async fn connect(mut params: SshParams) -> Result<Self, TransportError> {
        params
            .resolve_proxy_jump()
            .map_err(|reason| TransportError::Unreachable { reason })?;
        let Some(jump_params) = params.proxy_jump.take() else {
            let socket = tcp_connect(&params.host, params.port, params.connect_timeout).await?;
            return Self::establish(params, quickack::QuickAck(socket), None).await;
        };
        let hop = jump_params.hop_name();
        let jump = Box::pin(Self::connect(*jump_params))
            .await
            .map_err(|e| jump_error(e, &hop))?;
        let target = params.host_label();
        let opened = tokio::time::timeout(
            params.connect_timeout.max(Duration::from_secs(1)),
            jump.handle.channel_open_direct_tcpip(
                params.host.as_str(),
                u32::from(params.port),
                "127.0.0.1",
                0,
            ),
        )
        .await;
        let channel = match opened {
            Ok(Ok(ch)) => ch,
            Ok(Err(e)) => {
                jump.close().await;
                return Err(TransportError::Unreachable {
                    reason: format!(
                        "ProxyJump host {hop} cannot connect to {target}: {}",
                        match e {
                            russh::Error::ChannelOpenFailure(f) => format!("{f:?}"),
                            other => other.to_string(),
                        }
                    ),
                });
            }
            Err(_) => {
                jump.close().await;
                return Err(TransportError::Unreachable {
                    reason: format!(
                        "ProxyJump host {hop}: connection to {target} timed out after {}s",
                        params.connect_timeout.as_secs()
                    ),
                });
            }
        };
        tracing::debug!(host = %target, jump = %hop, "connecting through the jump host");
        match Self::establish(params, channel.into_stream(), Some(Box::new(jump))).await {
            Ok(t) => Ok(t),
            Err(TransportError::Unreachable { reason }) => Err(TransportError::Unreachable {
                reason: format!("{reason} (via ProxyJump host {hop})"),
            }),
            Err(e) => Err(e),
        }
    }

    /// The SSH session over `socket`: handshake, host key check, login.
    async fn establish<S>(
        params: SshParams,
        socket: S,
        jump: Option<Box<SshTransport>>,
    ) -> Result<Self, TransportError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let result = Self::establish_inner(params, socket).await;
        match result {
            Ok((handle, shared, label, fingerprint)) => Ok(Self {
                handle: Arc::new(handle),
                shared,
                label,
                fingerprint,
                jump,
                shells: super::ShellCache::default(),
                kept: super::Kept::default(),
            }),
            Err(e) => {
                if let Some(j) = jump {
                    j.close().await;
                }
                Err(e)
            }
        }
    }

    async fn establish_inner<S>(
        params: SshParams,
        socket: S,
    ) -> Result<(client::Handle<Client>, Arc<Shared>, String, Option<String>), TransportError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let label = params.host_label();
        let known_hosts = params
            .known_hosts
            .clone()
            .unwrap_or_else(default_known_hosts);

        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            lost_reason: Mutex::new(None),
            closed_by_us: AtomicBool::new(false),
            shutdown,
            sessions: AtomicUsize::new(0),
            open_sessions: AtomicUsize::new(0),
            session_freed: Notify::new(),
        });
        let rejection = Arc::new(Mutex::new(None));
        let seen_fingerprint = Arc::new(Mutex::new(None));
        let handler = Client {
            host: params.host.clone(),
            port: params.port,
            label: label.clone(),
            known_hosts: known_hosts.clone(),
            strict: params.strict,
            approved: params.approved_host_key.clone(),
            rejection: rejection.clone(),
            fingerprint: seen_fingerprint.clone(),
            shared: shared.clone(),
        };

        // Like OpenSSH, prefer the host key types already recorded for this host, so a host
        // known by its RSA key is not reported as unknown because it also has an ed25519 key.
        let recorded: Vec<Algorithm> = if params.strict == StrictHostKeyChecking::No {
            Vec::new()
        } else {
            known_host_keys(&params.host, params.port, &known_hosts)
                .map(|v| v.into_iter().map(|(_, k)| k.algorithm()).collect())
                .unwrap_or_default()
        };
        let mut preferred = russh::Preferred::default();
        let mut key_algos = preferred.key.to_vec();
        key_algos.sort_by_key(|a| {
            !recorded.iter().any(|r| {
                r == a || (matches!(r, Algorithm::Rsa { .. }) && matches!(a, Algorithm::Rsa { .. }))
            })
        });
        preferred.key = key_algos.into();

        let keepalive = (!params.keepalive.is_zero()).then_some(params.keepalive);
        let config = Arc::new(client::Config {
            keepalive_interval: keepalive,
            keepalive_max: 3,
            inactivity_timeout: None,
            preferred,
            nodelay: true,
            ..Default::default()
        });

        let handshake = tokio::time::timeout(
            params.connect_timeout.max(Duration::from_secs(1)),
            client::connect_stream(config, socket, handler),
        )
        .await;
        let take_rejection = || rejection.lock().ok().and_then(|mut r| r.take());
        let mut handle = match handshake {
            Err(_) => {
                return Err(TransportError::Unreachable {
                    reason: format!(
                        "SSH handshake with {label} timed out after {}s",
                        params.connect_timeout.as_secs()
                    ),
                });
            }
            Ok(Err(e)) => {
                if let Some(err) = take_rejection() {
                    return Err(err);
                }
                return Err(TransportError::Unreachable {
                    reason: format!("SSH handshake with {label} failed: {e}"),
                });
            }
            Ok(Ok(handle)) => handle,
        };
        let fingerprint = seen_fingerprint.lock().ok().and_then(|f| f.clone());
        tracing::debug!(host = %label, fingerprint = ?fingerprint, "SSH handshake done");

        let identity_files = if params.identity_files.is_empty() {
            default_identity_files()
        } else {
            params.identity_files.clone()
        };
        let auth_limit = (params.connect_timeout * 6).max(Duration::from_secs(60));
        match tokio::time::timeout(
            auth_limit,
            authenticate(&mut handle, &params, &identity_files),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = handle.disconnect(Disconnect::ByApplication, "", "en").await;
                return Err(e);
            }
            Err(_) => {
                return Err(TransportError::Unreachable {
                    reason: format!(
                        "authentication on {label} did not finish within {}s",
                        auth_limit.as_secs()
                    ),
                });
            }
        }
        tracing::debug!(host = %label, user = %params.user, "SSH login done");

        Ok((handle, shared, label, fingerprint))
    }

    /// SHA256 fingerprint (`SHA256:…`) of the host key the server presented.
    pub fn host_key_fingerprint(&self) -> Option<String> {
        self.fingerprint.clone()
    }

    /// True once the connection is gone (closed by us, by the server, or lost).
    pub fn is_closed(&self) -> bool {
        self.shared.closed_by_us.load(Ordering::SeqCst) || self.handle.is_closed()
    }

    /// Why the connection ended, when it has.
    pub fn disconnect_reason(&self) -> Option<String> {
        if !self.is_closed() {
            return None;
        }
        if self.shared.closed_by_us.load(Ordering::SeqCst) {
            return Some("closed by slm-wizard".into());
        }
        if let Some(jump) = &self.jump
            && let Some(why) = jump.disconnect_reason()
        {
            return Some(format!(
                "the connection to ProxyJump host {} ended: {why}",
                jump.label
            ));
        }
        Some(
            self.shared
                .lost_reason()
                .unwrap_or_else(|| "the SSH connection was closed".into()),
        )
    }

    fn check_alive(&self) -> Result<(), TransportError> {
        if self.is_closed() {
            return Err(self.lost());
        }
        Ok(())
    }

    fn lost(&self) -> TransportError {
        let why = self
            .disconnect_reason()
            .unwrap_or_else(|| "the SSH connection was closed".into());
        TransportError::ConnectionLost {
            reason: format!("{}: {why}", self.label),
        }
    }

    /// Opens a session channel; when the server refuses because too many sessions are open on
    /// this connection (`MaxSessions`), waits for one of ours to finish and retries.
    async fn open_session(
        &self,
        slot: &mut SessionSlot,
    ) -> Result<russh::Channel<client::Msg>, TransportError> {
        // Refusals while only other opens are in flight (none confirmed yet): a few retries.
        let mut unconfirmed_retries = 0;
        loop {
            let freed = self.shared.session_freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match self.handle.channel_open_session().await {
                Ok(ch) => {
                    slot.confirm();
                    return Ok(ch);
                }
                // OpenSSH answers "connect failed" when MaxSessions is reached.
                Err(russh::Error::ChannelOpenFailure(
                    ChannelOpenFailure::AdministrativelyProhibited
                    | ChannelOpenFailure::ConnectFailed
                    | ChannelOpenFailure::ResourceShortage,
                )) if self.shared.sessions.load(Ordering::SeqCst) > 1
                    && unconfirmed_retries < 50 =>
                {
                    if self.shared.open_sessions.load(Ordering::SeqCst) > 0 {
                        tracing::trace!(host = %self.label, "session limit reached, waiting");
                        // Idle kept processes (psql sessions) give their channels back first:
                        // they are restarted when needed, a command waiting here is needed now.
                        self.kept.clear();
                        let _ = tokio::time::timeout(Duration::from_secs(1), freed).await;
                    } else {
                        unconfirmed_retries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    self.check_alive()?;
                }
                Err(e) => {
                    if self.is_closed() {
                        return Err(self.lost());
                    }
                    return Err(TransportError::Other(format!(
                        "{}: cannot open an SSH session channel: {e}",
                        self.label
                    )));
                }
            }
        }
    }
}

impl Drop for SshTransport {
    fn drop(&mut self) {
        let _ = self.shared.shutdown.send(true);
    }
}

async fn tcp_connect(host: &str, port: u16, limit: Duration) -> Result<TcpStream, TransportError> {
    let unreachable = |reason: String| TransportError::Unreachable { reason };
    let attempt = async {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| unreachable(format!("cannot resolve host name {host}: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(unreachable(format!(
                "cannot resolve host name {host}: no address"
            )));
        }
        let mut last = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some((addr, e)),
            }
        }
        Err(match last {
            Some((addr, e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                unreachable(format!("connection to {host} ({addr}) refused"))
            }
            Some((addr, e)) => unreachable(format!("cannot connect to {host} ({addr}): {e}")),
            None => unreachable(format!("cannot connect to {host}:{port}")),
        })
    };
    match tokio::time::timeout(limit.max(Duration::from_millis(100)), attempt).await {
        Ok(r) => {
            let s = r?;
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Err(_) => Err(unreachable(format!(
            "connection to {host}:{port} timed out after {}s",
            limit.as_secs()
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

impl Transport for SshTransport {
    fn shells(&self) -> Option<&super::ShellCache> {
        Some(&self.shells)
    }

    fn kept(&self) -> Option<&super::Kept> {
        Some(&self.kept)
    }

    fn spawn<'a>(&'a self, command: &'a str) -> BoxFuture<'a, Result<Process, TransportError>> {
        Box::pin(async move {
            self.check_alive()?;
            let mut slot = SessionSlot::new(&self.shared);
            let channel = self.open_session(&mut slot).await?;
            if let Err(e) = channel.exec(true, command.as_bytes()).await {
                drop(slot);
                if self.is_closed() {
                    return Err(self.lost());
                }
                return Err(TransportError::Other(format!(
                    "{}: cannot start the command: {e}",
                    self.label
                )));
            }
            let (control_tx, control_rx) = control_channel();
            let (event_tx, event_rx) = mpsc::channel::<ProcEvent>(64);
            let handle = self.handle.clone();
            tokio::spawn(async move {
                pump(channel, control_rx, event_tx, handle).await;
                drop(slot);
            });
            Ok(Process {
                control: control_tx,
                events: event_rx,
            })
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.shared.closed_by_us.swap(true, Ordering::SeqCst) {
                return;
            }
            // Kept sessions get their end of input first, so they can end cleanly (a psql says
            // goodbye to its server instead of vanishing).
            self.kept.clear();
            let _ = self.shared.shutdown.send(true);
            let _ = self
                .handle
                .disconnect(Disconnect::ByApplication, "", "en")
                .await;
            // Wake spawns waiting for a session slot so they see the closed connection.
            self.shared.session_freed.notify_waiters();
            if let Some(jump) = &self.jump {
                jump.close().await;
            }
        })
    }
}
