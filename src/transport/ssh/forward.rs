//! ProxyJump specs and errors, and `-L`-style local port forwarding.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::ChannelMsg;
use russh::client;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::transport::TransportError;

use super::SshTransport;
use super::known_hosts::Client;
use super::params::parse_port;

/// One ProxyJump hop: `[user@]host[:port]`, `[user@][v6addr]:port` or
/// `ssh://[user@]host[:port]`. Several comma-separated hops are refused.
pub(super) fn parse_jump_spec(spec: &str) -> Result<(Option<String>, String, Option<u16>), String> {
    let spec = spec.trim();
    if spec.contains(',') {
        return Err(format!(
            "ProxyJump {spec:?}: only one jump host is supported by the built-in SSH transport"
        ));
    }
    let rest = spec.strip_prefix("ssh://").unwrap_or(spec);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some(_) => return Err(format!("ProxyJump {spec:?}: empty user name")),
        None => (None, rest),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("ProxyJump {spec:?}: missing ]"))?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_string(), Some(parse_port(p)?)),
            None if after.is_empty() => (h.to_string(), None),
            None => return Err(format!("ProxyJump {spec:?}: bad host")),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(parse_port(p)?)),
            _ => (hostport.to_string(), None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("ProxyJump {spec:?}: bad host name"));
    }
    Ok((user, host, port))
}

/// Keeps a [`SshTransport::forward_local`] listener running; dropping it stops the forwarder
/// and its connections.
pub struct ForwardGuard {
    task: tokio::task::AbortHandle,
}

impl Drop for ForwardGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SshTransport {
    /// Local port forwarding: a TCP listener on 127.0.0.1:0 whose connections are forwarded
    /// (`direct-tcpip`) to `remote_host:remote_port` as seen from the target. Runs until the
    /// transport is closed or the guard is dropped.
    pub async fn forward_local(
        &self,
        remote_host: &str,
        remote_port: u16,
    ) -> Result<(SocketAddr, ForwardGuard), TransportError> {
        self.check_alive()?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| TransportError::Other(format!("cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TransportError::Other(format!("cannot listen on 127.0.0.1: {e}")))?;
        let handle = self.handle.clone();
        let mut shutdown = self.shared.shutdown.subscribe();
        let target_host = remote_host.to_string();
        let label = self.label.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((sock, peer)) => {
                            conns.spawn(forward_connection(
                                handle.clone(), sock, peer, target_host.clone(), remote_port,
                            ));
                        }
                        Err(e) => {
                            tracing::warn!(host = %label, "port forward accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    },
                    _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => break,
                    _ = tick.tick() => {
                        if handle.is_closed() {
                            break;
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            // Dropping `conns` aborts the connections still open.
        });
        tracing::debug!(host = %self.label, %addr, remote_host, remote_port, "port forward");
        Ok((
            addr,
            ForwardGuard {
                task: task.abort_handle(),
            },
        ))
    }
}

/// How host-key errors name a jump host: `NAME (ProxyJump host)`.
pub const JUMP_HOST_SUFFIX: &str = " (ProxyJump host)";

/// An error from the connection to the jump host, naming it as such.
pub(super) fn jump_error(e: TransportError, hop: &str) -> TransportError {
    let on = |what: String| format!("ProxyJump host {hop}: {what}");
    match e {
        TransportError::Unreachable { reason } => {
            TransportError::Unreachable { reason: on(reason) }
        }
        // AuthFailed names no host; say which hop refused the login.
        e @ TransportError::AuthFailed { .. } => TransportError::Unreachable {
            reason: on(e.to_string()),
        },
        TransportError::HostKeyUnknown { host, fingerprint } => TransportError::HostKeyUnknown {
            host: format!("{host}{JUMP_HOST_SUFFIX}"),
            fingerprint,
        },
        TransportError::HostKeyMismatch {
            host,
            path,
            line,
            expected,
            offered,
        } => TransportError::HostKeyMismatch {
            host: format!("{host} (ProxyJump host)"),
            path,
            line,
            expected,
            offered,
        },
        TransportError::ConnectionLost { reason } => {
            TransportError::ConnectionLost { reason: on(reason) }
        }
        TransportError::Other(s) => TransportError::Other(on(s)),
        other => other,
    }
}

/// How long a forwarded connection waits for the server to close its channel after the local
/// client went away (it normally does at once, on our EOF).
const FORWARD_CLOSE_GRACE: Duration = Duration::from_secs(30);

async fn forward_connection(
    handle: Arc<client::Handle<Client>>,
    sock: TcpStream,
    peer: SocketAddr,
    host: String,
    port: u16,
) {
    use tokio::io::AsyncReadExt;
    let _ = sock.set_nodelay(true);
    let channel = match handle
        .channel_open_direct_tcpip(
            host.as_str(),
            u32::from(port),
            peer.ip().to_string(),
            u32::from(peer.port()),
        )
        .await
    {
        Ok(ch) => ch,
        Err(e) => {
            tracing::warn!("port forward to {host}:{port} refused: {e}");
            return;
        }
    };
    // Copied by hand rather than through `into_stream`, whose drop closes the channel first:
    // russh (0.65) then drops the server's answering CLOSE and keeps the channel's entry for the
    // life of the connection — about 100 bytes per forwarded connection. Here the server closes.
    let (mut from_server, to_server) = channel.split();
    let (mut from_client, mut to_client) = sock.into_split();
    let tx = &to_server;
    let up = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.data_bytes(buf[..n].to_vec()).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.eof().await;
    };
    // Ends true when the server closed the channel (or the connection is gone), false when the
    // local client can no longer take data.
    let down = async move {
        while let Some(msg) = from_server.wait().await {
            let delivered = match msg {
                ChannelMsg::Data { data } => to_client.write_all(&data).await.is_ok(),
                ChannelMsg::Eof => {
                    let _ = to_client.shutdown().await;
                    true
                }
                ChannelMsg::Close => return true,
                _ => true,
            };
            if !delivered {
                return false;
            }
        }
        true
    };
    tokio::pin!(up, down);
    let server_closed = tokio::select! {
        closed = &mut down => closed,
        _ = &mut up => tokio::time::timeout(FORWARD_CLOSE_GRACE, &mut down)
            .await
            .unwrap_or(false),
    };
    if !server_closed {
        // The client went away (reset) or the server never closed: end the channel ourselves,
        // or its far end (e.g. a PostgreSQL backend) stays open as long as the SSH connection.
        tracing::debug!("port forward to {host}:{port}: closing the channel from our side");
        let _ = to_server.eof().await;
        let _ = to_server.close().await;
    }
}
