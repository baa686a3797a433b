//! Chooses and opens a host's transport from its connection variables.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use super::run::Connector;
use crate::transport::local::LocalTransport;
use crate::transport::{Transport, TransportError};

#[derive(Clone, Default)]
pub struct ConnectOptions {
    pub accept_new_host_keys: bool,
    pub connect_timeout: std::time::Duration,
}

fn s(vars: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match vars.get(*k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

pub fn connector(opts: ConnectOptions) -> Connector {
    Arc::new(
        move |host: String,
              vars: Map<String, Value>|
              -> BoxFuture<'static, Result<Arc<dyn Transport>, TransportError>> {
            let opts = opts.clone();
            Box::pin(async move {
                let kind = s(&vars, &["ansible_connection"]).unwrap_or_else(|| "ssh".into());
                match kind.as_str() {
                    "local" => Ok(Arc::new(LocalTransport) as Arc<dyn Transport>),
                    "ssh" | "smart" | "paramiko" => ssh(&host, &vars, &opts).await,
                    other => Err(TransportError::Unreachable {
                        reason: format!(
                            "ansible_connection '{other}' is not supported (valid: ssh, local)"
                        ),
                    }),
                }
            })
        },
    )
}

async fn ssh(
    host: &str,
    vars: &Map<String, Value>,
    opts: &ConnectOptions,
) -> Result<Arc<dyn Transport>, TransportError> {
    use crate::transport::ssh::{SshParams, SshTransport, StrictHostKeyChecking};
    let address =
        s(vars, &["ansible_host", "ansible_ssh_host"]).unwrap_or_else(|| host.to_string());
    let port = match s(vars, &["ansible_port", "ansible_ssh_port"]) {
        Some(p) => p.parse::<u16>().map_err(|_| TransportError::Unreachable {
            reason: format!("ansible_port {p:?} is not a port number"),
        })?,
        None => 22,
    };
    let user = s(vars, &["ansible_user", "ansible_ssh_user"])
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    let mut params = SshParams::new(address, port, user);
    if let Some(k) = s(
        vars,
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
    ) {
        params.identity_files.insert(0, expand_home(&k).into());
    }
    if let Some(p) = s(vars, &["ansible_password", "ansible_ssh_pass"]) {
        params.password = Some(crate::secrets::Secret::new(p));
    }
    if opts.accept_new_host_keys {
        params.strict = StrictHostKeyChecking::AcceptNew;
    }
    if !opts.connect_timeout.is_zero() {
        params.connect_timeout = opts.connect_timeout;
    }
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(args) = s(vars, &[key]) {
            params
                .from_ssh_args(&args)
                .map_err(|e| TransportError::Unreachable {
                    reason: format!("{key}: {e}"),
                })?;
        }
    }
    if opts.accept_new_host_keys && params.strict == StrictHostKeyChecking::Yes {
        params.strict = StrictHostKeyChecking::AcceptNew;
    }
    Ok(Arc::new(SshTransport::connect(params).await?))
}

pub fn expand_home(p: &str) -> String {
    match p.strip_prefix("~/") {
        Some(rest) => format!("{}/{rest}", std::env::var("HOME").unwrap_or_default()),
        None => p.to_string(),
    }
}
