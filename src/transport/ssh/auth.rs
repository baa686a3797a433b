//! Authentication: ssh-agent keys, identity files (with the passphrase prompt), password and
//! keyboard-interactive, in OpenSSH's order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{self, Algorithm, HashAlg, PrivateKeyWithHashAlg, PublicKey};
use russh::{MethodKind, MethodSet};

use crate::secrets::Secret;
use crate::transport::TransportError;

use super::known_hosts::{Client, fingerprint};
use super::params::{SshParams, home_dir};

pub(super) fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| home.join(".ssh").join(name))
        .filter(|p| p.is_file())
        .collect()
}

type PassphrasePrompt = Box<dyn Fn(&Path) -> Option<String> + Send + Sync>;

/// Asks a person for the passphrase of an encrypted identity file. Set once by the command line
/// when a terminal is attached; never in the wizard, whose screen a prompt would break.
static PASSPHRASE_PROMPT: std::sync::OnceLock<PassphrasePrompt> = std::sync::OnceLock::new();

/// Answers per key file, so hosts connecting in parallel ask once, one after the other.
static PASSPHRASES: std::sync::LazyLock<
    tokio::sync::Mutex<std::collections::HashMap<PathBuf, Option<Secret>>>,
> = std::sync::LazyLock::new(Default::default);

/// Lets encrypted identity files without a given passphrase be unlocked by asking (OpenSSH does).
pub fn set_passphrase_prompt(prompt: impl Fn(&Path) -> Option<String> + Send + Sync + 'static) {
    let _ = PASSPHRASE_PROMPT.set(Box::new(prompt));
}

async fn ask_passphrase(path: &Path) -> Option<Secret> {
    let prompt = PASSPHRASE_PROMPT.get()?;
    let mut answers = PASSPHRASES.lock().await;
    if let Some(known) = answers.get(path) {
        return known.clone();
    }
    let p = path.to_path_buf();
    let answer = tokio::task::spawn_blocking(move || prompt(&p))
        .await
        .ok()
        .flatten()
        .map(Secret::new);
    answers.insert(path.to_path_buf(), answer.clone());
    answer
}

struct AuthState {
    user: String,
    tried: Vec<String>,
    /// Methods the server says can continue; empty = unknown, try everything.
    methods: MethodSet,
    /// A method succeeded but the server wants another one too (AuthenticationMethods).
    partial: bool,
    rsa_hash: Option<Option<HashAlg>>,
}

impl AuthState {
    fn offers(&self, m: MethodKind) -> bool {
        self.methods.is_empty() || self.methods.contains(&m)
    }

    /// Records a failure; false when the server has hung up (no point going on).
    fn failed(&mut self, handle: &client::Handle<Client>, result: AuthResult) -> bool {
        if let AuthResult::Failure {
            remaining_methods,
            partial_success,
        } = result
        {
            self.partial |= partial_success;
            if !remaining_methods.is_empty() {
                self.methods = remaining_methods;
            }
        }
        !handle.is_closed()
    }

    async fn rsa_hash(&mut self, handle: &client::Handle<Client>) -> Option<HashAlg> {
        if self.rsa_hash.is_none() {
            self.rsa_hash = Some(
                handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten(),
            );
        }
        self.rsa_hash.flatten()
    }
}

fn is_rsa(key: &PublicKey) -> bool {
    matches!(key.algorithm(), Algorithm::Rsa { .. })
}

/// Tries ssh-agent keys, identity files and the password, in that order (like OpenSSH).
pub(super) async fn authenticate(
    handle: &mut client::Handle<Client>,
    params: &SshParams,
    identity_files: &[PathBuf],
) -> Result<(), TransportError> {
    let mut st = AuthState {
        user: params.user.clone(),
        tried: Vec::new(),
        methods: MethodSet::empty(),
        partial: false,
        rsa_hash: None,
    };
    let closed = |mut tried: Vec<String>| {
        tried.push("(the server closed the connection)".into());
        TransportError::AuthFailed { tried }
    };

    // Keys go first, without asking the server's methods with "none" beforehand (OpenSSH does):
    // OpenSSH's sshd holds back every request that does not log the user in until a per-user
    // minimum time has passed (5-9 ms, auth2.c ensure_minimum_time_since), "none" too before
    // auth2.c 1.168 (Debian 12 ships 9.2). A failure lists the methods as well, and "none" is
    // tried last for a server that lets the user in without any.
    if st.offers(MethodKind::PublicKey) {
        if try_agent(handle, &mut st).await {
            return Ok(());
        }
        if handle.is_closed() {
            return Err(closed(st.tried));
        }
        if identity_files.is_empty() {
            st.tried
                .push("publickey (no ~/.ssh/id_ed25519, id_ecdsa or id_rsa)".into());
        }
        for path in identity_files {
            if !st.offers(MethodKind::PublicKey) {
                break;
            }
            let shown = path.display();
            let passphrase = params.key_passphrase.as_ref().map(|s| s.expose());
            let loaded = match keys::load_secret_key(path, passphrase) {
                Err(keys::Error::KeyIsEncrypted) if passphrase.is_none() => {
                    match ask_passphrase(path).await {
                        Some(asked) => keys::load_secret_key(path, Some(asked.expose())),
                        None => Err(keys::Error::KeyIsEncrypted),
                    }
                }
                other => other,
            };
            let key = match loaded {
                Ok(k) => k,
                Err(keys::Error::KeyIsEncrypted) => {
                    st.tried.push(format!(
                        "publickey {shown} (skipped: encrypted, no passphrase given)"
                    ));
                    continue;
                }
                Err(e) => {
                    st.tried
                        .push(format!("publickey {shown} (skipped: cannot load: {e})"));
                    continue;
                }
            };
            let hash = if is_rsa(key.public_key()) {
                st.rsa_hash(handle).await
            } else {
                None
            };
            let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
            st.tried.push(format!("publickey {shown}"));
            match handle.authenticate_publickey(st.user.clone(), key).await {
                Ok(AuthResult::Success) => return Ok(()),
                Ok(r) => {
                    if !st.failed(handle, r) {
                        return Err(closed(st.tried));
                    }
                }
                Err(e) => {
                    if let Some(last) = st.tried.last_mut() {
                        last.push_str(&format!(" (error: {e})"));
                    }
                    if handle.is_closed() {
                        return Err(closed(st.tried));
                    }
                }
            }
        }
    }
    // The server's list, known since the first refusal, has no publickey: the keys were not the
    // problem, say so.
    if !st.partial && !st.offers(MethodKind::PublicKey) {
        st.tried
            .push("publickey (not accepted by the server)".into());
    }

    if let Some(password) = &params.password {
        if st.offers(MethodKind::Password) {
            st.tried.push("password".into());
            match handle
                .authenticate_password(st.user.clone(), password.expose())
                .await
            {
                Ok(AuthResult::Success) => return Ok(()),
                Ok(r) => {
                    if !st.failed(handle, r) {
                        return Err(closed(st.tried));
                    }
                }
                Err(_) if handle.is_closed() => return Err(closed(st.tried)),
                Err(_) => {}
            }
        }
        if st.offers(MethodKind::KeyboardInteractive) {
            st.tried.push("keyboard-interactive".into());
            if keyboard_interactive(handle, &st.user, password).await {
                return Ok(());
            }
            if handle.is_closed() {
                return Err(closed(st.tried));
            }
        }
        if !st.methods.is_empty()
            && !st.methods.contains(&MethodKind::Password)
            && !st.methods.contains(&MethodKind::KeyboardInteractive)
        {
            st.tried
                .push("password (not accepted by the server)".into());
        }
    }
    match handle.authenticate_none(st.user.clone()).await {
        Ok(AuthResult::Success) => Ok(()),
        Err(_) if handle.is_closed() => Err(closed(st.tried)),
        _ => Err(TransportError::AuthFailed { tried: st.tried }),
    }
}

/// ssh-agent keys. True when one of them logged us in.
async fn try_agent(handle: &mut client::Handle<Client>, st: &mut AuthState) -> bool {
    let Some(sock) = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) else {
        st.tried.push("publickey (agent: not running)".into());
        return false;
    };
    let mut agent = match AgentClient::connect_uds(&sock).await {
        Ok(a) => a,
        Err(e) => {
            st.tried
                .push(format!("publickey (agent: cannot connect: {e})"));
            return false;
        }
    };
    if let Some(binding) = handle.agent_session_binding() {
        // Needed for destination-constrained keys; older agents refuse it, which is fine.
        let _ = agent.bind_session(binding, false).await;
    }
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            st.tried
                .push(format!("publickey (agent: cannot list keys: {e})"));
            return false;
        }
    };
    if identities.is_empty() {
        st.tried.push("publickey (agent: 0 keys)".into());
        return false;
    }
    for identity in identities {
        if !st.offers(MethodKind::PublicKey) || handle.is_closed() {
            break;
        }
        let public = identity.public_key().into_owned();
        let name = if identity.comment().is_empty() {
            fingerprint(&public)
        } else {
            identity.comment().to_string()
        };
        let hash = if is_rsa(&public) {
            st.rsa_hash(handle).await
        } else {
            None
        };
        st.tried.push(format!("publickey (agent: {name})"));
        let result = match identity {
            AgentIdentity::PublicKey { key, .. } => {
                handle
                    .authenticate_publickey_with(st.user.clone(), key, hash, &mut agent)
                    .await
            }
            AgentIdentity::Certificate { certificate, .. } => {
                handle
                    .authenticate_certificate_with(st.user.clone(), certificate, hash, &mut agent)
                    .await
            }
        };
        match result {
            Ok(AuthResult::Success) => return true,
            Ok(r) => {
                st.failed(handle, r);
            }
            Err(e) => {
                if let Some(last) = st.tried.last_mut() {
                    last.push_str(&format!(" (agent error: {e})"));
                }
            }
        }
    }
    false
}

/// Answers keyboard-interactive prompts with the password (what sshpass does for ansible).
async fn keyboard_interactive(
    handle: &mut client::Handle<Client>,
    user: &str,
    password: &Secret,
) -> bool {
    let mut reply = handle
        .authenticate_keyboard_interactive_start(user.to_string(), None::<String>)
        .await;
    let mut answered_password = 0;
    for _ in 0..8 {
        match reply {
            Ok(KeyboardInteractiveAuthResponse::Success) => return true,
            Ok(KeyboardInteractiveAuthResponse::Failure { .. }) | Err(_) => return false,
            Ok(KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. }) => {
                let mut answers = Vec::with_capacity(prompts.len());
                for p in &prompts {
                    if !p.echo {
                        answered_password += 1;
                        answers.push(password.expose().to_string());
                    } else {
                        answers.push(String::new());
                    }
                }
                // A second password prompt means the first answer was wrong.
                if answered_password > 1 {
                    return false;
                }
                reply = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await;
            }
        }
    }
    false
}
