//! Connection parameters: the inventory's and the ssh command line's options for one host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::secrets::Secret;

use super::config::{HostConfig, Proxy, Tokens, expand_hostname, expand_tokens, read_ssh_config};
use super::forward::parse_jump_spec;

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
    /// [`SshTransport::connect`](super::SshTransport::connect) calls).
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
    pub(super) fn hop_name(&self) -> String {
        let label = self.host_label();
        if self.alias.is_empty() || self.alias == self.host {
            label
        } else {
            format!("{} ({label})", self.alias)
        }
    }

    /// `host` as written in known_hosts and in messages: `host`, or `[host]:port`.
    pub(super) fn host_label(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// `Key=value`, `Key value` or `Key = value` → (Key, value).
pub(super) fn split_option(s: &str) -> (String, String) {
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

pub(super) fn parse_port(s: &str) -> Result<u16, String> {
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

pub(super) use crate::paths::{expand_tilde, home_dir};

/// The login name of the user running this process: `$USER`, `$LOGNAME`, else `/etc/passwd`.
pub(super) fn current_user() -> String {
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
}
