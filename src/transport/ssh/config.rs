//! The OpenSSH client config (`ssh_config(5)`) for one host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::forward::parse_jump_spec;
use super::known_hosts::hashed_host_matches;
use super::params::{
    StrictHostKeyChecking, current_user, expand_tilde, home_dir, parse_port, split_option,
    split_shell_words,
};

/// `ProxyJump` or `ProxyCommand`, whichever the config gives first (OpenSSH treats them as
/// one setting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    Jump(String),
    Command(String),
}

/// What the OpenSSH client config says for one host: the first value obtained for each option
/// (as OpenSSH), `IdentityFile`s all added up. Tokens (`%h`, `%r`, ...) and `~` are expanded
/// later, by [`SshParams::apply_ssh_config`](super::SshParams::apply_ssh_config), with the final host, user and port.
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
pub(super) fn patterns_match<'a>(
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
pub(super) struct Tokens<'a> {
    /// Remote host name (after HostName).
    pub(super) host: &'a str,
    /// The name given on the command line.
    pub(super) name: &'a str,
    /// Remote user.
    pub(super) user: &'a str,
    pub(super) port: u16,
}

/// Expands `%%`, `%d` (local home), `%u` (local user), `%i` (local uid), `%h`, `%n`, `%r`,
/// `%p`; other tokens are left as written.
pub(super) fn expand_tokens(s: &str, t: &Tokens<'_>) -> String {
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
pub(super) fn expand_hostname(value: &str, name: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::super::SshParams;
    use super::*;

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
