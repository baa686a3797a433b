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

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{self, Algorithm, HashAlg, PrivateKeyWithHashAlg, PublicKey};
use russh::{ChannelMsg, ChannelOpenFailure, Disconnect, MethodKind, MethodSet, Sig};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::{Control, ProcEvent, Process, Stream, Transport, TransportError};
use crate::secrets::Secret;

/// What to do with a host key that is not in `known_hosts` (OpenSSH `StrictHostKeyChecking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrictHostKeyChecking {
    /// Refuse unknown keys (OpenSSH `yes`/`ask`).
    #[default]
    Yes,
    /// Record unknown keys in `known_hosts` and go on; refuse changed keys.
    AcceptNew,
    /// Accept any key and record nothing.
    No,
}

/// How to reach and log in to one host.
#[derive(Debug, Clone)]
pub struct SshParams {
    /// Address to connect to (`ansible_host`).
    pub host: String,
    /// `ansible_port`, default 22.
    pub port: u16,
    /// `ansible_user`, default: the user running slm-wizard.
    pub user: String,
    /// `ansible_ssh_private_key_file` first, then `-i` / `-o IdentityFile`, then the ssh
    /// config's IdentityFiles; when empty, `~/.ssh/id_ed25519`, `id_ecdsa` and `id_rsa` that
    /// exist are tried.
    pub identity_files: Vec<PathBuf>,
    /// `ansible_password` (used for `password` and `keyboard-interactive`).
    pub password: Option<Secret>,
    /// Passphrase for encrypted identity files.
    pub key_passphrase: Option<Secret>,
    /// `UserKnownHostsFile`; `None` means `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    pub strict: StrictHostKeyChecking,
    /// The SHA256 fingerprint of a key a person approved for this host (the wizard's trust
    /// dialog). With `AcceptNew`, an unknown key is then recorded only when it is this one; any
    /// other is refused and nothing is written (the key shown is the key recorded).
    pub approved_host_key: Option<String>,
    /// Time allowed for the TCP connect and, separately, for the SSH handshake.
    pub connect_timeout: Duration,
    /// Keepalive interval; the connection counts as lost after 3 unanswered keepalives.
    /// `Duration::ZERO` disables keepalives.
    pub keepalive: Duration,
    /// OpenSSH client config read by [`SshParams::apply_ssh_config`] (`ssh -F`); `None` means
    /// `~/.ssh/config` when it exists, `none` means no config file.
    pub config_file: Option<PathBuf>,
    /// The jump host (`ProxyJump`), fully resolved. When `None`, a `-J`/`ProxyJump` given in
    /// the ssh arguments or the config is resolved by [`SshParams::resolve_proxy_jump`] (which
    /// [`SshTransport::connect`] calls).
    pub proxy_jump: Option<Box<SshParams>>,
    /// The `[user@]host[:port]` (or `none`) of `-J` / `ProxyJump`, not yet resolved.
    jump_spec: Option<String>,
    /// The name the host was given by (`ansible_host`, else the inventory name).
    alias: String,
    /// Options given on the command line (inventory variables, ssh arguments): the config
    /// file cannot change them (OpenSSH keeps the first value it obtains).
    given: Given,
}

/// Which options were set from the command line.
#[derive(Debug, Clone, Default)]
struct Given {
    hostname: bool,
    port: bool,
    user: bool,
    known_hosts: bool,
    strict: bool,
    connect_timeout: bool,
    keepalive: bool,
    /// ProxyJump or ProxyCommand (OpenSSH treats them as one setting).
    proxy: bool,
}

impl Default for SshParams {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 22,
            user: current_user(),
            identity_files: Vec::new(),
            password: None,
            key_passphrase: None,
            known_hosts: None,
            strict: StrictHostKeyChecking::Yes,
            approved_host_key: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            config_file: None,
            proxy_jump: None,
            jump_spec: None,
            alias: String::new(),
            given: Given::default(),
        }
    }
}

/// `ssh` options that take a value (`ssh -X value` or `ssh -Xvalue`).
const SSH_FLAGS_WITH_VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";

impl SshParams {
    /// Defaults for everything but the address, port and login user, as documented on the
    /// fields.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        let user = user.into();
        let host = host.into();
        Self {
            alias: host.clone(),
            host,
            port,
            user: if user.is_empty() {
                current_user()
            } else {
                user
            },
            ..Self::default()
        }
    }

    /// Applies the OpenSSH command-line options found in `ansible_ssh_common_args` /
    /// `ansible_ssh_extra_args`: `-o Key=value` (also `-oKey=value`, `-o "Key value"` and
    /// `-o Key value`), `-i FILE`, `-p PORT`, `-l USER`, `-F FILE`, `-J [user@]host[:port]`.
    /// Understood `-o` keys: StrictHostKeyChecking, UserKnownHostsFile, Port, User,
    /// IdentityFile, HostName, ConnectTimeout, ServerAliveInterval, ProxyJump. Other options
    /// are ignored, except ProxyCommand, which is refused because ignoring it would connect
    /// elsewhere. Within the arguments the last value wins; all of them beat the config file.
    pub fn from_ssh_args(&mut self, args: &str) -> Result<(), String> {
        let tokens = split_shell_words(args)?;
        let mut tokens = tokens.into_iter().peekable();
        while let Some(token) = tokens.next() {
            let Some(flags) = token.strip_prefix('-') else {
                continue; // a stray word; ssh would take it for the host name
            };
            if flags.is_empty() || flags.starts_with('-') {
                continue;
            }
            for (pos, flag) in flags.char_indices() {
                if !SSH_FLAGS_WITH_VALUE.contains(flag) {
                    continue; // -C, -v, -T, -4, ... change nothing here
                }
                let attached = &flags[pos + flag.len_utf8()..];
                let value = if attached.is_empty() {
                    tokens
                        .next()
                        .ok_or_else(|| format!("ssh option -{flag} needs a value"))?
                } else {
                    attached.to_string()
                };
                match flag {
                    'o' => {
                        let (key, mut val) = split_option(&value);
                        if val.is_empty()
                            && let Some(next) = tokens.peek()
                            && !next.starts_with('-')
                        {
                            val = tokens.next().unwrap_or_default();
                        }
                        self.set_option(&key, &val)?;
                    }
                    'i' => self.identity_files.push(expand_tilde(&value)),
                    'p' => self.set_option("Port", &value)?,
                    'l' => self.set_option("User", &value)?,
                    'J' => self.set_option("ProxyJump", &value)?,
                    'F' => self.config_file = Some(expand_tilde(&value)),
                    _ => {} // -L, -R, -D, -c, ... ignored
                }
                break;
            }
        }
        Ok(())
    }

    /// Sets one option as given on the command line (`-o Key=value`): the config file will not
    /// change it. Unknown keys are ignored.
    pub fn set_option(&mut self, key: &str, value: &str) -> Result<(), String> {
        let raw = value.trim();
        let value = raw
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        match key.to_ascii_lowercase().as_str() {
            "stricthostkeychecking" => {
                self.strict = match value.to_ascii_lowercase().as_str() {
                    "yes" | "ask" | "true" => StrictHostKeyChecking::Yes,
                    "no" | "off" | "false" => StrictHostKeyChecking::No,
                    "accept-new" => StrictHostKeyChecking::AcceptNew,
                    other => {
                        return Err(format!(
                            "StrictHostKeyChecking: expected yes, no or accept-new, got {other:?}"
                        ));
                    }
                };
                self.given.strict = true;
            }
            "userknownhostsfile" => {
                // OpenSSH allows several (quoted) files; the first one is the one written to.
                let files = split_shell_words(raw)?;
                let first = files.first().map(String::as_str).unwrap_or("");
                if first.is_empty() {
                    return Err("UserKnownHostsFile needs a file name".into());
                }
                self.known_hosts = Some(if first.eq_ignore_ascii_case("none") {
                    PathBuf::from("/dev/null")
                } else {
                    expand_tilde(first)
                });
                self.given.known_hosts = true;
            }
            "port" => {
                self.port = parse_port(value)?;
                self.given.port = true;
            }
            "user" if !value.is_empty() => {
                self.user = value.to_string();
                self.given.user = true;
            }
            "hostname" if !value.is_empty() => {
                self.host = value.to_string();
                self.given.hostname = true;
            }
            "identityfile" if !value.is_empty() && !value.eq_ignore_ascii_case("none") => {
                self.identity_files.push(expand_tilde(value));
            }
            "connecttimeout" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| format!("ConnectTimeout: expected seconds, got {value:?}"))?;
                self.set_connect_timeout(Duration::from_secs(secs));
            }
            "serveraliveinterval" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| format!("ServerAliveInterval: expected seconds, got {value:?}"))?;
                self.keepalive = Duration::from_secs(secs);
                self.given.keepalive = true;
            }
            "proxyjump" => {
                if !value.eq_ignore_ascii_case("none") {
                    parse_jump_spec(value)?;
                }
                self.jump_spec = Some(value.to_string());
                self.proxy_jump = None;
                self.given.proxy = true;
            }
            "proxycommand" => {
                if !value.eq_ignore_ascii_case("none") {
                    return Err(format!(
                        "{key} is not supported by the built-in SSH transport (use ProxyJump)"
                    ));
                }
                // `ProxyCommand none` also turns off a ProxyJump from the config file.
                self.jump_spec = Some("none".into());
                self.proxy_jump = None;
                self.given.proxy = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// Sets the connect timeout as given on the command line (the config file's
    /// `ConnectTimeout` will not change it).
    pub fn set_connect_timeout(&mut self, timeout: Duration) {
        self.connect_timeout = timeout;
        self.given.connect_timeout = true;
    }

    /// The config file to read: `config_file`, else `~/.ssh/config` when it exists.
    fn config_path(&self) -> Option<PathBuf> {
        match &self.config_file {
            Some(p) if p.as_os_str().eq_ignore_ascii_case("none") => None,
            Some(p) => Some(p.clone()),
            None => home_dir()
                .map(|h| h.join(".ssh").join("config"))
                .filter(|p| p.is_file()),
        }
    }

    /// Applies the OpenSSH client config for `name` (the host name as given on the ssh command
    /// line: `ansible_host`, else the inventory name) to every option not already given on the
    /// command line, then resolves the jump host. Call it after the inventory variables and
    /// [`SshParams::from_ssh_args`].
    pub fn apply_ssh_config(&mut self, name: &str) -> Result<(), String> {
        self.alias = name.to_string();
        if let Some(path) = self.config_path() {
            let cfg = read_ssh_config(&path, name)?;
            self.apply_host_config(name, &cfg, &path)?;
        }
        self.resolve_proxy_jump()
    }

    fn apply_host_config(
        &mut self,
        name: &str,
        cfg: &HostConfig,
        path: &Path,
    ) -> Result<(), String> {
        let tokens = |p: &Self, s: &str| {
            expand_tokens(
                s,
                &Tokens {
                    host: &p.host,
                    name,
                    user: &p.user,
                    port: p.port,
                },
            )
        };
        if !self.given.hostname
            && let Some(h) = &cfg.hostname
        {
            // Only %h (and %%) mean something in HostName.
            self.host = expand_hostname(h, name);
        }
        if !self.given.port
            && let Some(p) = cfg.port
        {
            self.port = p;
        }
        if !self.given.user
            && let Some(u) = &cfg.user
        {
            self.user = u.clone();
        }
        if !self.given.strict
            && let Some(s) = cfg.strict
        {
            self.strict = s;
        }
        if !self.given.connect_timeout
            && let Some(t) = cfg.connect_timeout
        {
            self.connect_timeout = t;
        }
        if !self.given.keepalive
            && let Some(k) = cfg.keepalive
        {
            self.keepalive = k;
        }
        if !self.given.known_hosts
            && let Some(k) = &cfg.known_hosts
        {
            self.known_hosts = Some(if k.eq_ignore_ascii_case("none") {
                PathBuf::from("/dev/null")
            } else {
                expand_tilde(&tokens(self, k))
            });
        }
        // IdentityFile adds up: command-line files first, then the config's.
        for f in &cfg.identity_files {
            let f = expand_tilde(&tokens(self, f));
            if !self.identity_files.contains(&f) {
                self.identity_files.push(f);
            }
        }
        if !self.given.proxy {
            match &cfg.proxy {
                Some(Proxy::Jump(spec)) => {
                    self.jump_spec = Some(spec.clone());
                    self.proxy_jump = None;
                }
                Some(Proxy::Command(cmd)) if !cmd.eq_ignore_ascii_case("none") => {
                    return Err(format!(
                        "{}: ProxyCommand (for {name}) is not supported by the built-in SSH \
                         transport; use ProxyJump",
                        path.display()
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Turns a `-J`/`ProxyJump` `[user@]host[:port]` into the jump host's parameters: its own
    /// config lookup (same config file), user and port from the spec beating the config, its
    /// own identity files and known_hosts. Does nothing when `proxy_jump` is already set.
    pub fn resolve_proxy_jump(&mut self) -> Result<(), String> {
        if self.proxy_jump.is_some() {
            return Ok(());
        }
        let Some(spec) = self.jump_spec.clone() else {
            return Ok(());
        };
        if spec.eq_ignore_ascii_case("none") {
            return Ok(());
        }
        let (user, host, port) = parse_jump_spec(&spec)?;
        let mut jump = SshParams::new(host.clone(), 22, "");
        jump.config_file = self.config_file.clone();
        if let Some(port) = port {
            jump.set_option("Port", &port.to_string())?;
        }
        if let Some(user) = user {
            jump.set_option("User", &user)?;
        }
        let mut jump_timeout_from_config = false;
        if let Some(path) = jump.config_path() {
            let cfg = read_ssh_config(&path, &host)?;
            jump_timeout_from_config = cfg.connect_timeout.is_some();
            match &cfg.proxy {
                // The usual `Host bastion ProxyJump bastion` via a `Host *` block: OpenSSH
                // would loop; one hop is what is meant.
                Some(Proxy::Jump(j)) if !j.eq_ignore_ascii_case("none") && *j != spec => {
                    return Err(format!(
                        "ProxyJump host {host} has a ProxyJump of its own ({j}): only one hop \
                         is supported by the built-in SSH transport"
                    ));
                }
                _ => {}
            }
            let mut cfg = cfg;
            cfg.proxy = None;
            jump.apply_host_config(&host, &cfg, &path)?;
        }
        if !jump_timeout_from_config && self.given.connect_timeout {
            jump.connect_timeout = self.connect_timeout;
        }
        jump.alias = host;
        self.proxy_jump = Some(Box::new(jump));
        Ok(())
    }

    /// How a hop is named in messages: `alias ([host]:port)`, or the label alone.
    fn hop_name(&self) -> String {
        let label = self.host_label();
        if self.alias.is_empty() || self.alias == self.host {
            label
        } else {
            format!("{} ({label})", self.alias)
        }
    }

    /// `host` as written in known_hosts and in messages: `host`, or `[host]:port`.
    fn host_label(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// `Key=value`, `Key value` or `Key = value` → (Key, value).
fn split_option(s: &str) -> (String, String) {
    let s = s.trim();
    match s.find(|c: char| c == '=' || c.is_whitespace()) {
        Some(at) => {
            let key = &s[..at];
            let rest = s[at..].trim_start();
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
            (key.to_string(), rest.to_string())
        }
        None => (s.to_string(), String::new()),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(format!("invalid SSH port {s:?}")),
    }
}

/// POSIX-shell-like word splitting (what ansible does with `shlex.split`).
pub(crate) fn split_shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unterminated single quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err(format!("unterminated double quote in {s:?}")),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unterminated double quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(ch) => word.push(ch),
                    None => word.push('\\'),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(std::env::home_dir)
}

fn expand_tilde(p: &str) -> PathBuf {
    if p == "~" {
        return home_dir().unwrap_or_else(|| PathBuf::from(p));
    }
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = home_dir()
    {
        return home.join(rest);
    }
    PathBuf::from(p)
}

// ---------------------------------------------------------------------------------------------
// OpenSSH client config (`ssh_config(5)`)

/// `ProxyJump` or `ProxyCommand`, whichever the config gives first (OpenSSH treats them as
/// one setting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    Jump(String),
    Command(String),
}

/// What the OpenSSH client config says for one host: the first value obtained for each option
/// (as OpenSSH), `IdentityFile`s all added up. Tokens (`%h`, `%r`, ...) and `~` are expanded
/// later, by [`SshParams::apply_ssh_config`], with the final host, user and port.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostConfig {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<String>,
    /// The first `UserKnownHostsFile` (the one OpenSSH writes to).
    pub known_hosts: Option<String>,
    pub strict: Option<StrictHostKeyChecking>,
    pub proxy: Option<Proxy>,
    pub connect_timeout: Option<Duration>,
    pub keepalive: Option<Duration>,
}

/// Include nesting limit (OpenSSH `READCONF_MAX_DEPTH`).
const CONFIG_MAX_DEPTH: usize = 16;

/// Reads an OpenSSH client config file for the host `name` (as given on the command line).
/// Understands `Host` (patterns with `*` and `?`, `!negation`, several per line), `Include`
/// (relative paths are in `~/.ssh`, globs), HostName, User, Port, IdentityFile,
/// UserKnownHostsFile, StrictHostKeyChecking, ProxyJump, ProxyCommand, ConnectTimeout and
/// ServerAliveInterval; other keywords are ignored.
///
/// `Match` blocks are skipped: their conditions (exec, canonical, final, localuser, ...) are
/// not evaluated, so they are treated as not matching (logged at debug level).
pub fn read_ssh_config(path: &Path, name: &str) -> Result<HostConfig, String> {
    let mut cfg = HostConfig::default();
    read_config_file(path, &name.to_ascii_lowercase(), &mut cfg, 0)?;
    Ok(cfg)
}

fn read_config_file(
    path: &Path,
    name: &str,
    cfg: &mut HostConfig,
    depth: usize,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read ssh config {}: {e}", path.display()))?;
    let at = |n: usize| format!("{}:{n}", path.display());
    // Lines before the first Host/Match apply to every host.
    let mut active = true;
    for (idx, line) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = split_option(line);
        let key = key.to_ascii_lowercase();
        let mut args = split_shell_words(&rest).map_err(|e| format!("{}: {e}", at(lineno)))?;
        if let Some(comment) = args.iter().position(|a| a.starts_with('#')) {
            args.truncate(comment);
        }
        match key.as_str() {
            "host" => {
                active = host_patterns_match(&args, name);
                continue;
            }
            "match" => {
                // Not evaluated: treated as not matching, so nothing in the block applies.
                tracing::debug!(config = %at(lineno), "ssh config Match block skipped");
                active = false;
                continue;
            }
            _ => {}
        }
        if !active {
            continue;
        }
        let first = args.first().cloned().unwrap_or_default();
        let missing = || format!("{}: {key} needs a value", at(lineno));
        let seconds = |what: &str| -> Result<Option<Duration>, String> {
            if first.eq_ignore_ascii_case("none") {
                return Ok(None);
            }
            first
                .parse::<u64>()
                .map(|s| Some(Duration::from_secs(s)))
                .map_err(|_| format!("{}: {what}: expected seconds, got {first:?}", at(lineno)))
        };
        match key.as_str() {
            "include" => {
                if depth + 1 >= CONFIG_MAX_DEPTH {
                    return Err(format!("{}: Include nested too deeply", at(lineno)));
                }
                for pattern in &args {
                    for file in glob_paths(&include_pattern(pattern)) {
                        read_config_file(&file, name, cfg, depth + 1)?;
                    }
                }
            }
            "hostname" if cfg.hostname.is_none() => {
                cfg.hostname = Some(args.first().cloned().ok_or_else(missing)?);
            }
            "user" if cfg.user.is_none() => {
                cfg.user = Some(args.first().cloned().ok_or_else(missing)?);
            }
            "port" if cfg.port.is_none() => {
                cfg.port = Some(parse_port(&first).map_err(|e| format!("{}: {e}", at(lineno)))?);
            }
            "identityfile" => {
                if args.is_empty() {
                    return Err(missing());
                }
                if !first.eq_ignore_ascii_case("none") && !cfg.identity_files.contains(&first) {
                    cfg.identity_files.push(first);
                }
            }
            "userknownhostsfile" if cfg.known_hosts.is_none() => {
                cfg.known_hosts = Some(args.first().cloned().ok_or_else(missing)?);
            }
            "stricthostkeychecking" if cfg.strict.is_none() => {
                cfg.strict = Some(match first.to_ascii_lowercase().as_str() {
                    "yes" | "ask" | "true" => StrictHostKeyChecking::Yes,
                    "no" | "off" | "false" => StrictHostKeyChecking::No,
                    "accept-new" => StrictHostKeyChecking::AcceptNew,
                    other => {
                        return Err(format!(
                            "{}: StrictHostKeyChecking: expected yes, no, ask, accept-new or \
                             off, got {other:?}",
                            at(lineno)
                        ));
                    }
                });
            }
            "proxyjump" if cfg.proxy.is_none() => {
                if args.is_empty() {
                    return Err(missing());
                }
                if !first.eq_ignore_ascii_case("none") {
                    parse_jump_spec(&first).map_err(|e| format!("{}: {e}", at(lineno)))?;
                }
                cfg.proxy = Some(Proxy::Jump(first));
            }
            "proxycommand" if cfg.proxy.is_none() => {
                if args.is_empty() {
                    return Err(missing());
                }
                // The command is the rest of the line, as written.
                cfg.proxy = Some(Proxy::Command(rest.trim().to_string()));
            }
            "connecttimeout" if cfg.connect_timeout.is_none() => {
                cfg.connect_timeout = seconds("ConnectTimeout")?;
            }
            "serveraliveinterval" if cfg.keepalive.is_none() => {
                cfg.keepalive = Some(seconds("ServerAliveInterval")?.unwrap_or(Duration::ZERO));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `Host` line: matches when a pattern matches and no negated pattern does.
fn host_patterns_match(patterns: &[String], name: &str) -> bool {
    patterns_match(patterns.iter().map(String::as_str), name, false)
}

/// OpenSSH's pattern lists (ssh_config `Host`, known_hosts host fields): a matching negated
/// pattern wins, else any matching plain one — or, in known_hosts, a hashed `|1|` entry.
fn patterns_match<'a>(
    patterns: impl Iterator<Item = &'a str>,
    name: &str,
    known_hosts: bool,
) -> bool {
    let mut matched = false;
    for pattern in patterns {
        if known_hosts && let Some(hashed) = pattern.strip_prefix("|1|") {
            matched |= hashed_host_matches(hashed, name);
            continue;
        }
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix('!') {
            Some(negated) => {
                if wildcard_match(negated, name) {
                    return false;
                }
            }
            None => matched |= wildcard_match(&pattern, name),
        }
    }
    matched
}

/// `*` (any run of characters) and `?` (one character) matching.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `Include` argument → absolute pattern: `~` expanded, relative paths in `~/.ssh` (OpenSSH
/// does so for user configs, including `-F` ones).
fn include_pattern(arg: &str) -> String {
    if arg.starts_with('/') {
        return arg.to_string();
    }
    if arg == "~" || arg.starts_with("~/") {
        return expand_tilde(arg).to_string_lossy().into_owned();
    }
    let home = home_dir().unwrap_or_else(|| PathBuf::from("/"));
    home.join(".ssh").join(arg).to_string_lossy().into_owned()
}

/// Files matching a pattern with `*`/`?` in any path component, sorted like glob(3); none when
/// nothing matches (OpenSSH ignores such Includes).
fn glob_paths(pattern: &str) -> Vec<PathBuf> {
    use std::path::Component;
    let mut found = vec![PathBuf::new()];
    for comp in Path::new(pattern).components() {
        let part = comp.as_os_str().to_string_lossy();
        if matches!(comp, Component::Normal(_)) && part.contains(['*', '?']) {
            let mut next = Vec::new();
            for dir in &found {
                let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir.as_path()
                }) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    if (file.starts_with('.') && !part.starts_with('.'))
                        || !wildcard_match(&part, &file)
                    {
                        continue;
                    }
                    next.push(dir.join(&file));
                }
            }
            next.sort();
            found = next;
        } else {
            for dir in &mut found {
                dir.push(comp.as_os_str());
            }
        }
    }
    found.into_iter().filter(|p| p.is_file()).collect()
}

/// Values for the `%` tokens of IdentityFile and UserKnownHostsFile.
struct Tokens<'a> {
    /// Remote host name (after HostName).
    host: &'a str,
    /// The name given on the command line.
    name: &'a str,
    /// Remote user.
    user: &'a str,
    port: u16,
}

/// Expands `%%`, `%d` (local home), `%u` (local user), `%i` (local uid), `%h`, `%n`, `%r`,
/// `%p`; other tokens are left as written.
fn expand_tokens(s: &str, t: &Tokens<'_>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('d') => out.push_str(
                &home_dir()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            Some('u') => out.push_str(&current_user()),
            Some('i') => out.push_str(&crate::secrets::current_uid().to_string()),
            Some('h') => out.push_str(t.host),
            Some('n') => out.push_str(t.name),
            Some('r') => out.push_str(t.user),
            Some('p') => out.push_str(&t.port.to_string()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// `HostName` value: only `%h` (the name given) and `%%` are tokens there.
fn expand_hostname(value: &str, name: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('%', Some('h')) => {
                chars.next();
                out.push_str(name);
            }
            ('%', Some('%')) => {
                chars.next();
                out.push('%');
            }
            _ => out.push(c),
        }
    }
    out
}

/// One ProxyJump hop: `[user@]host[:port]`, `[user@][v6addr]:port` or
/// `ssh://[user@]host[:port]`. Several comma-separated hops are refused.
fn parse_jump_spec(spec: &str) -> Result<(Option<String>, String, Option<u16>), String> {
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

/// The login name of the user running this process: `$USER`, `$LOGNAME`, else `/etc/passwd`.
fn current_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
    }
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        let uid = crate::secrets::current_uid().to_string();
        for line in passwd.lines() {
            let mut fields = line.split(':');
            if let (Some(name), Some(_), Some(u)) = (fields.next(), fields.next(), fields.next())
                && u == uid
            {
                return name.to_string();
            }
        }
    }
    "root".to_string()
}

fn default_known_hosts() -> PathBuf {
    home_dir()
        .unwrap_or_else(|| PathBuf::from("/"))
        .join(".ssh")
        .join("known_hosts")
}

fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| home.join(".ssh").join(name))
        .filter(|p| p.is_file())
        .collect()
}

fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

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

/// russh callbacks: host key verification and disconnect bookkeeping.
struct Client {
    host: String,
    port: u16,
    label: String,
    known_hosts: PathBuf,
    strict: StrictHostKeyChecking,
    /// See [`SshParams::approved_host_key`].
    approved: Option<String>,
    /// The precise reason a host key was refused (russh only gets a bool back).
    rejection: Arc<Mutex<Option<TransportError>>>,
    fingerprint: Arc<Mutex<Option<String>>>,
    shared: Arc<Shared>,
}

/// Serializes known_hosts updates within this process (parallel connects with accept-new).
static KNOWN_HOSTS_LOCK: Mutex<()> = Mutex::new(());

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

enum KnownHost {
    Match,
    Unknown,
    /// 1-based line number in the file, and the fingerprint recorded there.
    Changed {
        line: usize,
        expected: String,
    },
    /// The key is on a `@revoked` line (1-based line number): never accepted, never learned.
    Revoked {
        line: usize,
    },
}

/// The marker a known_hosts line may start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// One usable line of a known_hosts file.
#[derive(Debug)]
struct KnownHostLine {
    /// 1-based, counting every line (comments and blank ones too), as an editor shows it.
    line: usize,
    marker: Marker,
    /// Comma-separated patterns: names, `[name]:port`, `*`/`?` wildcards, `!` negations and
    /// hashed `|1|salt|hash` entries.
    hosts: String,
    key: PublicKey,
}

/// Parses known_hosts as OpenSSH does: fields separated by any run of spaces or tabs, an
/// optional `@revoked`/`@cert-authority` marker, lines that cannot be parsed skipped (so one
/// bad line does not make every host unknown). A missing file has no entries.
fn read_known_hosts(path: &Path) -> Result<Vec<KnownHostLine>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let text = String::from_utf8_lossy(&bytes);
    Ok(parse_known_hosts(&text, path))
}

fn parse_known_hosts(text: &str, path: &Path) -> Vec<KnownHostLine> {
    let mut entries = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let marker = if first.starts_with('@') {
            let m = match first.to_ascii_lowercase().as_str() {
                "@revoked" => Marker::Revoked,
                "@cert-authority" => Marker::CertAuthority,
                other => {
                    tracing::debug!(
                        "{}:{}: unknown marker {other}; line skipped",
                        path.display(),
                        idx + 1
                    );
                    continue;
                }
            };
            first = fields.next().unwrap_or_default();
            m
        } else {
            Marker::None
        };
        let (Some(_kind), Some(blob)) = (fields.next(), fields.next()) else {
            tracing::debug!("{}:{}: incomplete line skipped", path.display(), idx + 1);
            continue;
        };
        match keys::parse_public_key_base64(blob) {
            Ok(key) => entries.push(KnownHostLine {
                line: idx + 1,
                marker,
                hosts: first.to_string(),
                key,
            }),
            Err(e) => tracing::debug!(
                "{}:{}: key not readable ({e}); line skipped",
                path.display(),
                idx + 1
            ),
        }
    }
    entries
}

/// `host` as known_hosts names it: lower-cased (OpenSSH does so before any lookup or record),
/// `[host]:port` when the port is not 22.
fn known_hosts_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// Whether a line's host patterns name `name` (as from [`known_hosts_name`]): any pattern
/// matches and no negated one does.
fn known_hosts_patterns_match(patterns: &str, name: &str) -> bool {
    patterns_match(patterns.split(',').filter(|p| !p.is_empty()), name, true)
}

/// `salt|hash` of a hashed entry (`ssh-keygen -H`): HMAC-SHA1 of the name keyed by the salt.
fn hashed_host_matches(salt_hash: &str, name: &str) -> bool {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = salt_hash.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
        return false;
    };
    let Ok(mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// The keys recorded for `host:port` (not revoked ones, not CA keys), with their line numbers.
fn known_host_keys(host: &str, port: u16, path: &Path) -> Result<Vec<(usize, PublicKey)>, String> {
    let name = known_hosts_name(host, port);
    Ok(read_known_hosts(path)?
        .into_iter()
        .filter(|e| e.marker == Marker::None && known_hosts_patterns_match(&e.hosts, &name))
        .map(|e| (e.line, e.key))
        .collect())
}

/// Looks `key` up in a known_hosts file: a `@revoked` line with this key refuses it whatever
/// its host patterns (OpenSSH: "must not ever be accepted"); otherwise any line of this host
/// with this key accepts it, and a line of this host with another key of the same type means
/// the key changed.
fn lookup_known_host(
    host: &str,
    port: u16,
    key: &PublicKey,
    path: &Path,
) -> Result<KnownHost, String> {
    let entries = read_known_hosts(path)?;
    if let Some(e) = entries
        .iter()
        .find(|e| e.marker == Marker::Revoked && e.key.key_data() == key.key_data())
    {
        return Ok(KnownHost::Revoked { line: e.line });
    }
    let name = known_hosts_name(host, port);
    let mine: Vec<&KnownHostLine> = entries
        .iter()
        .filter(|e| e.marker == Marker::None && known_hosts_patterns_match(&e.hosts, &name))
        .collect();
    if mine.iter().any(|e| e.key.key_data() == key.key_data()) {
        return Ok(KnownHost::Match);
    }
    match mine.iter().find(|e| e.key.algorithm() == key.algorithm()) {
        Some(e) => Ok(KnownHost::Changed {
            line: e.line,
            expected: fingerprint(&e.key),
        }),
        None => Ok(KnownHost::Unknown),
    }
}

/// Appends the key to known_hosts, creating the directory (0700) and file (0600) if needed.
fn learn_known_host(host: &str, port: u16, key: &PublicKey, path: &Path) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let _guard = KNOWN_HOSTS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // Another connection may have recorded it meanwhile; a revoked key is never learned.
    match lookup_known_host(host, port, key, path)? {
        KnownHost::Match => return Ok(()),
        KnownHost::Revoked { line } => {
            return Err(format!(
                "the host key is revoked in {}:{line}; not recorded",
                path.display()
            ));
        }
        KnownHost::Unknown | KnownHost::Changed { .. } => {}
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let entry = key
        .to_openssh()
        .map_err(|e| format!("cannot encode the host key: {e}"))?;
    // A file whose last line has no newline gets one first, so the entry is a line of its own.
    let needs_newline = std::fs::read(path)
        .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
        .unwrap_or(false);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let line = format!(
        "{}{} {entry}\n",
        if needs_newline { "\n" } else { "" },
        known_hosts_name(host, port)
    );
    file.write_all(line.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = server_public_key.public_key();
        let offered = fingerprint(&key);
        if let Ok(mut fp) = self.fingerprint.lock() {
            *fp = Some(offered.clone());
        }
        if self.strict == StrictHostKeyChecking::No {
            tracing::debug!(host = %self.label, %offered, "host key accepted without checking");
            return Ok(true);
        }
        let path = self.known_hosts.clone();
        let rejection = match lookup_known_host(&self.host, self.port, &key, &path) {
            Ok(KnownHost::Match) => return Ok(true),
            Ok(KnownHost::Unknown)
                if self.strict == StrictHostKeyChecking::AcceptNew
                    && self.approved.as_ref().is_some_and(|a| *a != offered) =>
            {
                TransportError::Unreachable {
                    reason: format!(
                        "the host key of {} is not the one approved: {} was shown and trusted, \
                         the host now offers {offered}; nothing recorded in {} (test the \
                         connection again and compare the new key)",
                        self.label,
                        self.approved.as_deref().unwrap_or_default(),
                        path.display()
                    ),
                }
            }
            Ok(KnownHost::Unknown) if self.strict == StrictHostKeyChecking::AcceptNew => {
                match learn_known_host(&self.host, self.port, &key, &path) {
                    Ok(()) => {
                        tracing::info!(
                            host = %self.label, %offered, path = %path.display(),
                            "new host key recorded"
                        );
                        return Ok(true);
                    }
                    Err(e) => TransportError::Other(e),
                }
            }
            Ok(KnownHost::Unknown) => TransportError::HostKeyUnknown {
                host: self.label.clone(),
                fingerprint: offered,
            },
            Ok(KnownHost::Revoked { line }) => TransportError::Unreachable {
                reason: format!(
                    "the host key of {} ({offered}) is REVOKED in {}:{line}; refusing to connect",
                    self.label,
                    path.display()
                ),
            },
            Ok(KnownHost::Changed { line, expected }) => TransportError::HostKeyMismatch {
                host: self.label.clone(),
                path: path.display().to_string(),
                line,
                expected,
                offered,
            },
            Err(e) => TransportError::Other(format!(
                "cannot check the host key of {} against {}: {e}",
                self.label,
                path.display()
            )),
        };
        if let Ok(mut r) = self.rejection.lock() {
            *r = Some(rejection);
        }
        Ok(false)
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let (text, result) = match reason {
            client::DisconnectReason::ReceivedDisconnect(info) => (
                format!("the server closed the connection ({})", info.message),
                Ok(()),
            ),
            client::DisconnectReason::Error(e) => (e.to_string(), Err(e)),
        };
        if !self.shared.closed_by_us.load(Ordering::SeqCst) {
            tracing::debug!(host = %self.label, reason = %text, "SSH connection ended");
        }
        if let Ok(mut r) = self.shared.lost_reason.lock()
            && r.is_none()
        {
            *r = Some(text);
        }
        result
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
            return Self::establish(params, socket, None).await;
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

impl Drop for SshTransport {
    fn drop(&mut self) {
        let _ = self.shared.shutdown.send(true);
    }
}

/// How host-key errors name a jump host: `NAME (ProxyJump host)`.
pub const JUMP_HOST_SUFFIX: &str = " (ProxyJump host)";

/// An error from the connection to the jump host, naming it as such.
fn jump_error(e: TransportError, hop: &str) -> TransportError {
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
// Authentication

struct AuthState {
    user: String,
    tried: Vec<String>,
    /// Methods the server says can continue; empty = unknown, try everything.
    methods: MethodSet,
    rsa_hash: Option<Option<HashAlg>>,
}

impl AuthState {
    fn offers(&self, m: MethodKind) -> bool {
        self.methods.is_empty() || self.methods.contains(&m)
    }

    /// Records a failure; false when the server has hung up (no point going on).
    fn failed(&mut self, handle: &client::Handle<Client>, result: AuthResult) -> bool {
        if let AuthResult::Failure {
            remaining_methods, ..
        } = result
            && !remaining_methods.is_empty()
        {
            self.methods = remaining_methods;
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
async fn authenticate(
    handle: &mut client::Handle<Client>,
    params: &SshParams,
    identity_files: &[PathBuf],
) -> Result<(), TransportError> {
    let mut st = AuthState {
        user: params.user.clone(),
        tried: Vec::new(),
        methods: MethodSet::empty(),
        rsa_hash: None,
    };
    let closed = |mut tried: Vec<String>| {
        tried.push("(the server closed the connection)".into());
        TransportError::AuthFailed { tried }
    };

    // "none" tells which methods the server accepts.
    match handle.authenticate_none(st.user.clone()).await {
        Ok(AuthResult::Success) => return Ok(()),
        Ok(r) => {
            if !st.failed(handle, r) {
                return Err(closed(st.tried));
            }
        }
        Err(e) => {
            return Err(TransportError::ConnectionLost {
                reason: format!("during authentication: {e}"),
            });
        }
    }

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
    } else {
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
    Err(TransportError::AuthFailed { tried: st.tried })
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

// ---------------------------------------------------------------------------------------------
// Commands

impl Transport for SshTransport {
    fn shells(&self) -> Option<&super::ShellCache> {
        Some(&self.shells)
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
            let (control_tx, control_rx) = mpsc::channel::<Control>(16);
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

/// Counts a session channel being opened or open; frees it (and wakes waiting spawns) when
/// dropped.
struct SessionSlot {
    shared: Arc<Shared>,
    open: bool,
}

impl SessionSlot {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.sessions.fetch_add(1, Ordering::SeqCst);
        Self {
            shared: shared.clone(),
            open: false,
        }
    }

    fn confirm(&mut self) {
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
async fn pump(
    channel: russh::Channel<client::Msg>,
    mut control: mpsc::Receiver<Control>,
    events: mpsc::Sender<ProcEvent>,
    handle: Arc<client::Handle<Client>>,
) {
    let (mut reader, writer) = channel.split();
    // Signal and close go out from tasks of their own: awaiting them here could deadlock with
    // the connection task waiting for room in this channel's buffer.
    let writer = Arc::new(writer);

    // Stdin goes through its own task: writes wait for the remote window, which must never
    // hold up reading output (`cat` would deadlock).
    let (stdin_tx, mut stdin_rx) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
    let mut stdin_writer = writer.make_writer();
    let stdin_task = tokio::spawn(async move {
        while let Some(item) = stdin_rx.recv().await {
            match item {
                Some(data) => {
                    if stdin_writer.write_all(&data).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = stdin_writer.shutdown().await;
                    break;
                }
            }
        }
    });

    let mut queue: VecDeque<ProcEvent> = VecDeque::new();
    let mut status: Option<Result<i32, String>> = None;
    let mut control_open = true;
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
            ctl = control.recv(), if control_open => match ctl {
                Some(Control::Stdin(data)) => {
                    let _ = stdin_tx.send(Some(data));
                }
                Some(Control::CloseStdin) => {
                    let _ = stdin_tx.send(None);
                }
                Some(Control::Kill) => {
                    if !killed {
                        killed = true;
                        stdin_task.abort();
                        // OpenSSH (>= 7.9) sends the signal to the session's process group,
                        // except for root logins (no post-auth privilege separation), where it
                        // refuses. Closing the channel does not stop a command without a tty;
                        // it gets SIGPIPE the next time it writes output.
                        detached(&writer, ChannelRequest::Kill);
                        deadline = Some(Instant::now() + KILL_WAIT);
                    }
                }
                None => control_open = false,
            },
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
            Err(super::CONNECTION_LOST.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &str) -> SshParams {
        let mut p = SshParams::new("h", 22, "u");
        p.from_ssh_args(args).unwrap();
        p
    }

    #[test]
    fn defaults() {
        let p = SshParams::new("web1", 22, "");
        assert_eq!(p.host, "web1");
        assert_eq!(p.port, 22);
        assert!(!p.user.is_empty());
        assert_eq!(p.strict, StrictHostKeyChecking::Yes);
        assert_eq!(p.connect_timeout, Duration::from_secs(10));
        assert_eq!(p.keepalive, Duration::from_secs(15));
        assert!(p.known_hosts.is_none());
        assert!(p.identity_files.is_empty());
    }

    #[test]
    fn strict_host_key_checking_values() {
        assert_eq!(
            parsed("-o StrictHostKeyChecking=no").strict,
            StrictHostKeyChecking::No
        );
        assert_eq!(
            parsed("-o StrictHostKeyChecking=accept-new").strict,
            StrictHostKeyChecking::AcceptNew
        );
        assert_eq!(
            parsed("-o StrictHostKeyChecking=yes").strict,
            StrictHostKeyChecking::Yes
        );
        assert_eq!(
            parsed("-oStrictHostKeyChecking=No").strict,
            StrictHostKeyChecking::No
        );
        assert_eq!(
            parsed("-o stricthostkeychecking=ask").strict,
            StrictHostKeyChecking::Yes
        );
        let mut p = SshParams::new("h", 22, "u");
        assert!(p.from_ssh_args("-o StrictHostKeyChecking=maybe").is_err());
    }

    #[test]
    fn option_with_space_forms() {
        // Separate tokens, as written unquoted in an inventory.
        let p = parsed("-o StrictHostKeyChecking no -o UserKnownHostsFile /tmp/kh");
        assert_eq!(p.strict, StrictHostKeyChecking::No);
        assert_eq!(p.known_hosts, Some(PathBuf::from("/tmp/kh")));
        // One quoted token with a space, and `Key = value`.
        let p = parsed("-o 'StrictHostKeyChecking accept-new' -o \"Port = 2200\"");
        assert_eq!(p.strict, StrictHostKeyChecking::AcceptNew);
        assert_eq!(p.port, 2200);
    }

    #[test]
    fn known_hosts_file() {
        let p = parsed("-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no");
        assert_eq!(p.known_hosts, Some(PathBuf::from("/dev/null")));
        assert_eq!(p.strict, StrictHostKeyChecking::No);
        let p = parsed("-o 'UserKnownHostsFile=\"/a b/kh\" /other'");
        assert_eq!(p.known_hosts, Some(PathBuf::from("/a b/kh")));
        let p = parsed("-o 'UserKnownHostsFile=\"/a b/kh\"'");
        assert_eq!(p.known_hosts, Some(PathBuf::from("/a b/kh")));
        let p = parsed("-o UserKnownHostsFile=none");
        assert_eq!(p.known_hosts, Some(PathBuf::from("/dev/null")));
        if let Some(home) = home_dir() {
            let p = parsed("-o UserKnownHostsFile=~/.ssh/kh2");
            assert_eq!(p.known_hosts, Some(home.join(".ssh/kh2")));
        }
    }

    #[test]
    fn identity_port_user_flags() {
        let p = parsed("-i /k/one -i/k/two -p 2222 -l deploy -C -tt -4");
        assert_eq!(
            p.identity_files,
            vec![PathBuf::from("/k/one"), PathBuf::from("/k/two")]
        );
        assert_eq!(p.port, 2222);
        assert_eq!(p.user, "deploy");
        let p = parsed("-p2201 -o IdentityFile=/k/three -o User=ops -o Port=2202");
        assert_eq!(p.port, 2202);
        assert_eq!(p.user, "ops");
        assert_eq!(p.identity_files, vec![PathBuf::from("/k/three")]);
        // Combined boolean flags with a value flag at the end.
        let p = parsed("-Cqp 2300");
        assert_eq!(p.port, 2300);
    }

    #[test]
    fn timeouts() {
        let p = parsed("-o ConnectTimeout=3 -o ServerAliveInterval=5");
        assert_eq!(p.connect_timeout, Duration::from_secs(3));
        assert_eq!(p.keepalive, Duration::from_secs(5));
        let mut p = SshParams::new("h", 22, "u");
        assert!(p.from_ssh_args("-o ConnectTimeout=soon").is_err());
    }

    #[test]
    fn unknown_options_are_ignored() {
        let p = parsed(
            "-o ControlMaster=auto -o ControlPersist=60s -o ForwardAgent yes -L 8080:localhost:80 \
             -o PreferredAuthentications=publickey -F /dev/null -v",
        );
        assert_eq!(p.port, 22);
        assert_eq!(p.strict, StrictHostKeyChecking::Yes);
        assert!(p.identity_files.is_empty());
        assert_eq!(parsed("").port, 22);
    }

    #[test]
    fn errors() {
        let mut p = SshParams::new("h", 22, "u");
        assert!(p.from_ssh_args("-p").is_err());
        assert!(p.from_ssh_args("-p 70000").is_err());
        assert!(p.from_ssh_args("-o 'Port=22").is_err());
        assert!(p.from_ssh_args("-J a,b").is_err());
        assert!(p.from_ssh_args("-o ProxyJump=user@").is_err());
        assert!(p.from_ssh_args("-J bastion").is_ok());
        assert!(p.from_ssh_args("-o ProxyJump=bastion").is_ok());
        assert!(
            p.from_ssh_args("-o ProxyCommand='ssh -W %h:%p bastion'")
                .is_err()
        );
        assert!(p.from_ssh_args("-o ProxyCommand=none").is_ok());
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            split_shell_words(r#"a 'b c' "d \"e\"" f\ g"#).unwrap(),
            vec!["a", "b c", "d \"e\"", "f g"]
        );
        assert!(split_shell_words("").unwrap().is_empty());
    }

    #[test]
    fn option_splitting() {
        assert_eq!(split_option("A=b"), ("A".into(), "b".into()));
        assert_eq!(split_option("A b"), ("A".into(), "b".into()));
        assert_eq!(split_option("A = b"), ("A".into(), "b".into()));
        assert_eq!(split_option("A"), ("A".into(), String::new()));
    }

    #[test]
    fn known_hosts_line_numbers_count_comments() {
        let path = Path::new("kh");
        let text = format!("# one\nhost1 {KEY_A}\n# two\n#three\nhost2 {KEY_A}\n");
        let lines: Vec<usize> = parse_known_hosts(&text, path)
            .iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(lines, [2, 5]);
    }

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEYvmT7aM9NsRTdGCqZfQPCfgQIwZebfSIuUv6epV87Y";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIa+OBzqkMa1AYOc0Ox+CBW0UyQabn+7QikF5o/MpLDx";

    fn key(entry: &str) -> PublicKey {
        keys::parse_public_key_base64(entry.split(' ').nth(1).unwrap()).unwrap()
    }

    fn lookup(text: &str, host: &str, port: u16, k: &str) -> KnownHost {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, text).unwrap();
        lookup_known_host(host, port, &key(k), &path).unwrap()
    }

    #[test]
    fn known_hosts_fields_split_on_any_blanks() {
        let tabs = KEY_A.replace(' ', "\t \t");
        for text in [
            format!("db1  {}\n", KEY_A.replace(' ', "   ")),
            format!("db1\t{tabs}  a comment\n"),
            format!("  db1 {KEY_A}\n"),
        ] {
            assert!(
                matches!(lookup(&text, "db1", 22, KEY_A), KnownHost::Match),
                "{text:?}"
            );
            assert!(
                matches!(
                    lookup(&text, "db1", 22, KEY_B),
                    KnownHost::Changed { line: 1, .. }
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn known_hosts_names_are_case_insensitive() {
        let text = format!("DB1.Example.COM {KEY_A}\n[Db2.example.com]:2222 {KEY_A}\n");
        assert!(matches!(
            lookup(&text, "db1.example.com", 22, KEY_A),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "DB2.EXAMPLE.COM", 2222, KEY_A),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "db2.example.com", 22, KEY_A),
            KnownHost::Unknown
        ));
        // Learned entries are written lower-cased.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        std::fs::write(&path, format!("other {KEY_B}")).unwrap();
        learn_known_host("DB3.Example.com", 2200, &key(KEY_A), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().nth(1).unwrap(),
            format!("[db3.example.com]:2200 {KEY_A}")
        );
    }

    #[test]
    fn known_hosts_hashed_wildcard_and_negated_patterns() {
        // From `ssh-keygen -H`: db1.example.com and [db2.example.com]:2222.
        let text = format!(
            "|1|NSkvDk5arIbsIP3qmi9HpTCurqo=|j4hhpwK1DSImWQoPZ2YU+zX76ao= {KEY_A}\n\
             |1|G3NN/bjUQFH3JFQJlJaTLwUZfhI=|z8BjTQ7nxX/tkyawu0STUo0C/x4= {KEY_A}\n\
             *.lan,!bad.lan {KEY_B}\n"
        );
        assert!(matches!(
            lookup(&text, "DB1.example.com", 22, KEY_A),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "db2.example.com", 2222, KEY_A),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "db2.example.com", 22, KEY_A),
            KnownHost::Unknown
        ));
        assert!(matches!(
            lookup(&text, "pg.lan", 22, KEY_B),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "bad.lan", 22, KEY_B),
            KnownHost::Unknown
        ));
    }

    #[test]
    fn known_hosts_revoked_keys_are_refused_and_never_learned() {
        let text = format!("# revoked below\n@revoked * {KEY_A}\ndb1 {KEY_B}\n");
        assert!(matches!(
            lookup(&text, "db9", 22, KEY_A),
            KnownHost::Revoked { line: 2 }
        ));
        // Even a host that also lists the key as its own.
        let listed = format!("db1 {KEY_A}\n@REVOKED db1 {KEY_A}\n");
        assert!(matches!(
            lookup(&listed, "db1", 22, KEY_A),
            KnownHost::Revoked { line: 2 }
        ));
        // The revoked line is not a key of the host: db1's own key is still fine.
        assert!(matches!(lookup(&text, "db1", 22, KEY_B), KnownHost::Match));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        std::fs::write(&path, &text).unwrap();
        let err = learn_known_host("db9", 22, &key(KEY_A), &path).unwrap_err();
        assert!(err.contains("revoked") && err.contains(":2"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // CA lines and bad lines are no host keys; the lines after them still count.
        let text =
            format!("@cert-authority db1 {KEY_A}\ndb1 ssh-ed25519 !!notbase64\ndb1 {KEY_B}\n");
        assert!(matches!(
            lookup(&text, "db1", 22, KEY_A),
            KnownHost::Changed { line: 3, .. }
        ));
    }

    // -- ssh config ------------------------------------------------------------------------

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("web?", "web1"));
        assert!(!wildcard_match("web?", "web12"));
        assert!(wildcard_match("*.example.com", "a.b.example.com"));
        assert!(!wildcard_match("*.example.com", "example.com"));
        assert!(wildcard_match("a*b*c", "aXXbYYbc"));
        assert!(!wildcard_match("a*b*c", "aXXbYYbd"));
        assert!(wildcard_match("10.0.*.?", "10.0.12.5"));
        let pats = |s: &str| split_shell_words(s).unwrap();
        assert!(host_patterns_match(&pats("db* web*"), "web3"));
        assert!(!host_patterns_match(&pats("* !web3"), "web3"));
        assert!(host_patterns_match(&pats("* !web3"), "web4"));
        // A negation alone matches nothing.
        assert!(!host_patterns_match(&pats("!web3"), "web4"));
    }

    #[test]
    fn config_first_value_wins_and_identities_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "config",
            "# comment\n\
             ConnectTimeout 7\n\
             Host other\n  User nope\n  Port 1\n\
             Host web? !web9 db1\n\
             \x20 HostName %h.internal.example\n\
             \x20 User deploy\n\
             \x20 IdentityFile ~/.ssh/id_%r@%h\n\
             \x20 IdentityFile \"/keys/with space\"   # trailing comment\n\
             \x20 StrictHostKeyChecking accept-new\n\
             \x20 UserKnownHostsFile /kh/%h /ignored\n\
             \x20 ProxyJump ops@bastion:2200\n\
             Match host web1\n  User matched\n  Port 9\n\
             Host *\n\
             \x20 User fallback\n\
             \x20 Port=2222\n\
             \x20 IdentityFile /keys/default\n\
             \x20 ServerAliveInterval 30\n\
             \x20 StrictHostKeyChecking no\n",
        );
        let c = read_ssh_config(&cfg, "web1").unwrap();
        assert_eq!(c.hostname.as_deref(), Some("%h.internal.example"));
        assert_eq!(c.user.as_deref(), Some("deploy"));
        assert_eq!(c.port, Some(2222));
        assert_eq!(
            c.identity_files,
            vec!["~/.ssh/id_%r@%h", "/keys/with space", "/keys/default"]
        );
        assert_eq!(c.strict, Some(StrictHostKeyChecking::AcceptNew));
        assert_eq!(c.known_hosts.as_deref(), Some("/kh/%h"));
        assert_eq!(c.proxy, Some(Proxy::Jump("ops@bastion:2200".into())));
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(c.keepalive, Some(Duration::from_secs(30)));

        // Negated: only the `Host *` block.
        let c = read_ssh_config(&cfg, "web9").unwrap();
        assert_eq!(c.user.as_deref(), Some("fallback"));
        assert_eq!(c.hostname, None);
        assert_eq!(c.strict, Some(StrictHostKeyChecking::No));
        assert_eq!(c.proxy, None);
        // Host matching ignores case.
        assert_eq!(
            read_ssh_config(&cfg, "DB1").unwrap().user.as_deref(),
            Some("deploy")
        );

        // Tokens expanded with the final values.
        let mut p = SshParams::new("web1", 22, "");
        p.config_file = Some(cfg.clone());
        p.apply_ssh_config("web1").unwrap();
        assert_eq!(p.host, "web1.internal.example");
        assert_eq!(p.user, "deploy");
        assert_eq!(p.port, 2222);
        let home = home_dir().unwrap();
        assert_eq!(
            p.identity_files,
            vec![
                home.join(".ssh/id_deploy@web1.internal.example"),
                PathBuf::from("/keys/with space"),
                PathBuf::from("/keys/default"),
            ]
        );
        assert_eq!(
            p.known_hosts,
            Some(PathBuf::from("/kh/web1.internal.example"))
        );
        assert_eq!(p.strict, StrictHostKeyChecking::AcceptNew);
        assert_eq!(p.connect_timeout, Duration::from_secs(7));
        assert_eq!(p.keepalive, Duration::from_secs(30));
        let jump = p.proxy_jump.as_deref().expect("jump resolved");
        assert_eq!(jump.host, "bastion");
        assert_eq!(jump.user, "ops");
        assert_eq!(jump.port, 2200);
        // The jump host gets its own lookup: `Host *` only.
        assert_eq!(jump.strict, StrictHostKeyChecking::No);
        assert_eq!(jump.identity_files, vec![PathBuf::from("/keys/default")]);
        assert!(jump.proxy_jump.is_none());
    }

    #[test]
    fn command_line_beats_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "config",
            "Host web1\n  HostName 10.1.1.1\n  User deploy\n  Port 2222\n  IdentityFile /cfg/key\n\
             \x20 StrictHostKeyChecking no\n  ConnectTimeout 3\n  ProxyJump bastion\n\
             \x20 UserKnownHostsFile /cfg/kh\n",
        );
        // As connect.rs does: inventory variables as `-o` options, then the ssh args.
        let mut p = SshParams::new("web1", 22, "");
        p.set_option("Port", "22").unwrap();
        p.set_option("User", "admin").unwrap();
        p.identity_files.insert(0, PathBuf::from("/inv/key"));
        p.set_connect_timeout(Duration::from_secs(10));
        p.from_ssh_args(&format!(
            "-F {} -o StrictHostKeyChecking=yes -i /args/key -o ProxyJump=none",
            cfg.display()
        ))
        .unwrap();
        p.apply_ssh_config("web1").unwrap();
        assert_eq!(p.config_file, Some(cfg.clone()));
        assert_eq!(p.host, "10.1.1.1"); // not given: from the config
        assert_eq!(p.port, 22);
        assert_eq!(p.user, "admin");
        assert_eq!(p.strict, StrictHostKeyChecking::Yes);
        assert_eq!(p.connect_timeout, Duration::from_secs(10));
        assert_eq!(p.known_hosts, Some(PathBuf::from("/cfg/kh")));
        assert_eq!(
            p.identity_files,
            vec![
                PathBuf::from("/inv/key"),
                PathBuf::from("/args/key"),
                PathBuf::from("/cfg/key")
            ]
        );
        assert!(p.proxy_jump.is_none());

        // -o HostName and -J on the command line win too.
        let mut p = SshParams::new("web1", 22, "");
        p.config_file = Some(cfg.clone());
        p.from_ssh_args("-o HostName=10.9.9.9 -J root@jump:2022")
            .unwrap();
        p.apply_ssh_config("web1").unwrap();
        assert_eq!(p.host, "10.9.9.9");
        assert_eq!(p.port, 2222);
        let jump = p.proxy_jump.as_deref().unwrap();
        assert_eq!(
            (jump.host.as_str(), jump.port, jump.user.as_str()),
            ("jump", 2022, "root")
        );
        assert_eq!(jump.hop_name(), "[jump]:2022");

        // Without a config file nothing changes; a missing -F file is an error.
        let mut p = SshParams::new("web1", 22, "u");
        p.config_file = Some(PathBuf::from("none"));
        p.apply_ssh_config("web1").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("web1", 22));
        p.config_file = Some(dir.path().join("missing"));
        assert!(p.apply_ssh_config("web1").is_err());
    }

    #[test]
    fn config_proxy_command_is_refused_unless_overridden() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "config",
            "Host old\n  ProxyCommand ssh -W %h:%p bastion\n  ProxyJump ignored\n\
             Host chain\n  ProxyJump b1\nHost b1\n  ProxyJump b2\n\
             Host self\n  ProxyJump loop\nHost *\n  ProxyJump loop\n",
        );
        let mut p = SshParams::new("old", 22, "u");
        p.config_file = Some(cfg.clone());
        let err = p.apply_ssh_config("old").unwrap_err();
        assert!(err.contains("ProxyCommand"), "{err}");
        // The command line's ProxyJump (or ProxyCommand none) comes first.
        let mut p = SshParams::new("old", 22, "u");
        p.config_file = Some(cfg.clone());
        p.from_ssh_args("-o ProxyCommand=none").unwrap();
        p.apply_ssh_config("old").unwrap();
        assert!(p.proxy_jump.is_none());
        // Two hops are refused, naming the jump host.
        let mut p = SshParams::new("chain", 22, "u");
        p.config_file = Some(cfg.clone());
        let err = p.apply_ssh_config("chain").unwrap_err();
        assert!(err.contains("b1") && err.contains("one hop"), "{err}");
        // `Host *` giving the jump host itself as its ProxyJump: one hop.
        let mut p = SshParams::new("self", 22, "u");
        p.config_file = Some(cfg);
        p.apply_ssh_config("self").unwrap();
        assert_eq!(p.proxy_jump.as_deref().unwrap().host, "loop");
    }

    #[test]
    fn config_include_and_match() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        write(
            &dir.path().join("conf.d"),
            "20-b.conf",
            "Host web1\n  Port 2020\n  User from-b\n",
        );
        write(
            &dir.path().join("conf.d"),
            "10-a.conf",
            "Host web1\n  User from-a\n",
        );
        write(&dir.path().join("conf.d"), ".hidden.conf", "User hidden\n");
        write(dir.path(), "db.conf", "HostName db.example\n");
        let cfg = write(
            dir.path(),
            "config",
            &format!(
                "Include {d}/conf.d/*.conf {d}/nothing-*.conf\n\
                 Host db1\n  Include {d}/db.conf\n\
                 Match all\n  User from-match\n  Include {d}/conf.d/*.conf\n\
                 Host web1\n  User late\n  IdentityFile /k\n",
                d = dir.path().display()
            ),
        );
        let c = read_ssh_config(&cfg, "web1").unwrap();
        assert_eq!(c.user.as_deref(), Some("from-a"));
        assert_eq!(c.port, Some(2020));
        assert_eq!(c.identity_files, vec!["/k"]);
        assert_eq!(c.hostname, None);
        // The Include inside `Host db1` applies to db1 only.
        let c = read_ssh_config(&cfg, "db1").unwrap();
        assert_eq!(c.hostname.as_deref(), Some("db.example"));
        assert_eq!(c.user, None);
        // Relative Include paths are in ~/.ssh.
        let home = home_dir().unwrap();
        assert_eq!(
            include_pattern("config.d/*"),
            home.join(".ssh/config.d/*").to_string_lossy()
        );
        assert_eq!(include_pattern("~/x"), home.join("x").to_string_lossy());
        assert_eq!(include_pattern("/etc/x"), "/etc/x");
        // An Include that includes itself stops at the depth limit.
        let looped = write(dir.path(), "loop", "");
        std::fs::write(&looped, format!("Include {}\n", looped.display())).unwrap();
        assert!(read_ssh_config(&looped, "x").is_err());
    }

    #[test]
    fn config_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(dir.path(), "config", "Host *\n  Port http\n");
        let err = read_ssh_config(&cfg, "x").unwrap_err();
        assert!(err.contains("config:2"), "{err}");
        let cfg = write(dir.path(), "c2", "StrictHostKeyChecking maybe\n");
        assert!(read_ssh_config(&cfg, "x").is_err());
    }

    #[test]
    fn tokens_and_jump_specs() {
        let t = Tokens {
            host: "h.example",
            name: "h",
            user: "bob",
            port: 2200,
        };
        assert_eq!(
            expand_tokens("%h-%r-%p-%n-%%-%x", &t),
            "h.example-bob-2200-h-%-%x"
        );
        assert_eq!(expand_tokens("%u", &t), current_user());
        assert_eq!(
            expand_tokens("%d/k", &t),
            format!("{}/k", home_dir().unwrap().display())
        );
        assert_eq!(expand_hostname("%h.lan", "web1"), "web1.lan");
        assert_eq!(expand_hostname("100%%", "x"), "100%");
        assert_eq!(
            parse_jump_spec("ops@bastion:2200").unwrap(),
            (Some("ops".into()), "bastion".into(), Some(2200))
        );
        assert_eq!(
            parse_jump_spec("bastion").unwrap(),
            (None, "bastion".into(), None)
        );
        assert_eq!(
            parse_jump_spec("ssh://a@[::1]:22").unwrap(),
            (Some("a".into()), "::1".into(), Some(22))
        );
        assert_eq!(parse_jump_spec("::1").unwrap(), (None, "::1".into(), None));
        assert!(parse_jump_spec("a,b").is_err());
        assert!(parse_jump_spec("h:0").is_err());
        assert!(parse_jump_spec("@h").is_err());
    }
}
