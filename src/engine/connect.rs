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
                    "local" => Ok(Arc::new(LocalTransport::default()) as Arc<dyn Transport>),
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
    let params =
        ssh_params(host, vars, opts).map_err(|reason| TransportError::Unreachable { reason })?;
    Ok(Arc::new(
        crate::transport::ssh::SshTransport::connect(params).await?,
    ))
}

/// SSH parameters of an inventory host from its (templated) connection variables, as
/// ansible-playbook would pass them to OpenSSH: inventory values beat `~/.ssh/config`, which
/// beats the defaults. The one place every SSH user (runs, health tunnels, the wizard) gets them.
pub fn ssh_params(
    host: &str,
    vars: &Map<String, Value>,
    opts: &ConnectOptions,
) -> Result<crate::transport::ssh::SshParams, String> {
    use crate::transport::ssh::{SshParams, StrictHostKeyChecking};
    // The name ansible gives ssh on its command line; ~/.ssh/config `Host` blocks match it.
    let address =
        s(vars, &["ansible_host", "ansible_ssh_host"]).unwrap_or_else(|| host.to_string());
    let mut params = SshParams::new(address.clone(), 22, "");
    // Inventory variables become command-line options, like ansible's `-o Port=...`: they beat
    // the ssh config; what they leave unset comes from the config, then the defaults.
    if let Some(p) = s(vars, &["ansible_port", "ansible_ssh_port"]) {
        if p.parse::<u16>().is_err() {
            return Err(format!("ansible_port {p:?} is not a port number"));
        }
        params.set_option("Port", &p)?;
    }
    if let Some(u) = s(vars, &["ansible_user", "ansible_ssh_user"]) {
        params.set_option("User", &u)?;
    }
    if let Some(k) = s(
        vars,
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
    ) {
        params
            .identity_files
            .insert(0, crate::paths::expand_tilde(&k));
    }
    if let Some(p) = s(vars, &["ansible_password", "ansible_ssh_pass"]) {
        params.password = Some(crate::secrets::Secret::new(p));
    }
    if !opts.connect_timeout.is_zero() {
        params.set_connect_timeout(opts.connect_timeout);
    }
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(args) = s(vars, &[key]) {
            params
                .from_ssh_args(&args)
                .map_err(|e| format!("{key}: {e}"))?;
        }
    }
    params
        .apply_ssh_config(&address)
        .map_err(|e| format!("ssh config: {e}"))?;
    if opts.accept_new_host_keys {
        for p in std::iter::once(&mut params.strict)
            .chain(params.proxy_jump.as_mut().map(|j| &mut j.strict))
        {
            if *p == StrictHostKeyChecking::Yes {
                *p = StrictHostKeyChecking::AcceptNew;
            }
        }
    }
    Ok(params)
}
