//! The host's connection: opened on first use with the login check (and, when asked, the facts
//! script in the same round trip), reopened for modules that cut it (`reboot`), adopted.

use std::sync::Arc;

use minijinja::Value as JValue;
use serde_json::Map;

use super::scope::var;
use super::{HostState, Shared};
use crate::engine::modules;
use crate::transport::{Login, Output, Transport, TransportError};

/// The host's connection, opened on first use; `then` (the facts script) runs with the login
/// check of a new connection and its output is kept in `state.early_facts`.
pub(super) async fn connection(
    shared: &Arc<Shared>,
    state: &mut HostState,
    scope: &JValue,
    then: Option<&str>,
) -> Result<Arc<dyn Transport>, TransportError> {
    if let Some(c) = &state.conn {
        return Ok(c.clone());
    }
    let (conn, login, early) = open_then(shared, &state.name, scope, then).await?;
    state.login = login;
    state.early_facts = early;
    shared
        .connections
        .lock()
        .await
        .insert(state.name.clone(), conn.clone());
    state.conn = Some(conn.clone());
    Ok(conn)
}

/// A connection a module opened to replace the host's (see [`modules::Reconnect`]).
pub(super) type Reopened = Arc<std::sync::Mutex<Option<(Arc<dyn Transport>, Option<Login>)>>>;

/// [`modules::Reconnect`] for `host`: each call opens a connection as [`open`] does and keeps the
/// newest in `slot` (an older one left there is closed).
pub(super) fn reconnector(
    shared: &Arc<Shared>,
    host: &str,
    scope: &JValue,
    slot: &Reopened,
) -> Box<modules::Reconnect> {
    let (shared, host, scope, slot) = (
        shared.clone(),
        host.to_string(),
        scope.clone(),
        slot.clone(),
    );
    Box::new(move || {
        let (shared, host, scope, slot) =
            (shared.clone(), host.clone(), scope.clone(), slot.clone());
        Box::pin(async move {
            let (conn, login) = open(&shared, &host, &scope).await?;
            let older = slot
                .lock()
                .ok()
                .and_then(|mut g| g.replace((conn.clone(), login)));
            if let Some((old, _)) = older {
                old.close().await;
            }
            Ok(conn)
        })
    })
}

/// Makes `conn` the host's connection (the old one is closed).
pub(super) async fn adopt(
    shared: &Arc<Shared>,
    state: &mut HostState,
    conn: Arc<dyn Transport>,
    login: Option<Login>,
) {
    state.conn = Some(conn.clone());
    state.login = login;
    let old = shared
        .connections
        .lock()
        .await
        .insert(state.name.clone(), conn);
    if let Some(old) = old {
        old.close().await;
    }
}

/// Opens a connection to `host` from the connection variables in `scope`, and learns who it
/// logged in as.
pub(super) async fn open(
    shared: &Arc<Shared>,
    host: &str,
    scope: &JValue,
) -> Result<(Arc<dyn Transport>, Option<Login>), TransportError> {
    let (conn, login, _) = open_then(shared, host, scope, None).await?;
    Ok((conn, login))
}

/// [`open`], with `then` run as the login in the same round trip as the login check.
async fn open_then(
    shared: &Arc<Shared>,
    host: &str,
    scope: &JValue,
    then: Option<&str>,
) -> Result<(Arc<dyn Transport>, Option<Login>, Option<Output>), TransportError> {
    let mut vars = Map::new();
    for key in [
        "ansible_connection",
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_ssh_private_key_file",
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_common_args",
        "ansible_ssh_extra_args",
        "ansible_private_key_file",
        "ansible_ssh_host",
        "ansible_ssh_port",
        "ansible_ssh_user",
    ] {
        if let Some(v) = var(scope, key) {
            vars.insert(key.to_string(), v);
        }
    }
    // ansible.cfg's remote_user: the login when no variable names one (ansible passes it to ssh
    // as `-o User=`, so it beats ~/.ssh/config as ansible_user does).
    if !vars.contains_key("ansible_user")
        && !vars.contains_key("ansible_ssh_user")
        && let Some(u) = &shared.plan.ansible_cfg.remote_user
    {
        vars.insert("ansible_user".into(), serde_json::Value::String(u.clone()));
    }
    let conn = (shared.connector)(host.to_string(), vars).await?;
    // Who we are decides escalation (root needs no sudo), so learn it before any task runs.
    let probe = async {
        let whoami = crate::transport::whoami_then(conn.as_ref(), then);
        match shared.plan.request.command_timeout {
            Some(limit) => tokio::time::timeout(limit, whoami)
                .await
                .unwrap_or(Err(TransportError::CommandTimeout(limit))),
            None => whoami.await,
        }
    };
    let login = tokio::select! {
        r = probe => r,
        _ = shared.cancel.killed() => Err(TransportError::Other("killed".into())),
    };
    let (login, then_out) = match login {
        Ok(answers) => answers,
        Err(e) if e.is_unreachable() => {
            conn.close().await;
            return Err(e);
        }
        Err(_) => (None, None),
    };
    Ok((conn, login, then_out))
}
