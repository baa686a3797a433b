//! Ansible's configuration (`ansible.cfg` and the `ANSIBLE_*` environment), read once for both
//! engines: which file (as ansible-core 2.19's `find_ini_config_file`, with the playbook's
//! directory as the working directory), its INI syntax (Python's `configparser` as ansible sets
//! it up), and what each setting means here: implemented, ignored (it only concerns Python,
//! OpenSSH options or ansible's own output), or refused for the native engine with the file's
//! line and column (it would change what a run does).
//!
//! Precedence, as `lib/ansible/config/base.yml` has it: a command-line flag (the caller's
//! business) beats the environment variable, which beats the file, which beats the default.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compat::yaml::Pos;
use crate::error::InputError;

/// One `key = value` of the file.
#[derive(Debug, Clone)]
struct Entry {
    value: String,
    pos: Pos,
}

/// How facts are gathered by default (`[defaults] gathering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gathering {
    /// Every play gathers unless it says `gather_facts: false`.
    #[default]
    Implicit,
    /// Only plays that say `gather_facts: true`.
    Explicit,
    /// As implicit, but a host whose facts were gathered earlier in the run is not gathered again.
    Smart,
}

/// The settings both engines honour, resolved (environment over file over default).
#[derive(Debug, Clone)]
pub struct AnsibleCfg {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// `[defaults] inventory` / `ANSIBLE_INVENTORY`: the inventory when `-i` is not given.
    pub inventory: Option<PathBuf>,
    /// `[defaults] remote_user` / `ANSIBLE_REMOTE_USER`: the login when no `ansible_user` is set.
    pub remote_user: Option<String>,
    /// `[defaults] forks` / `ANSIBLE_FORKS`: hosts at once when `-f` is not given.
    pub forks: Option<usize>,
    /// `[defaults] host_key_checking` / `ANSIBLE_HOST_KEY_CHECKING` (default true).
    pub host_key_checking: bool,
    /// Where host_key_checking was turned off (`FILE:LINE:COL` or the variable), for the warning.
    pub host_key_checking_origin: Option<String>,
    /// `[defaults] roles_path` / `ANSIBLE_ROLES_PATH`, relative entries resolved.
    pub roles_path: Option<Vec<PathBuf>>,
    /// `[privilege_escalation] become` / `ANSIBLE_BECOME`: the default of the `become` keyword.
    pub r#become: bool,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    /// `[privilege_escalation] become_ask_pass`: ask once before the run, like `-K`.
    pub become_ask_pass: bool,
    /// `[defaults] ask_pass`: ask for the SSH password once, like `-k`.
    pub ask_pass: bool,
    pub gathering: Gathering,
    /// `[defaults] strategy`: the strategy of plays that name none.
    pub strategy: Option<String>,
    /// `[defaults] inject_facts_as_vars` / `ANSIBLE_INJECT_FACT_VARS`: facts also as `ansible_*`.
    pub inject_facts_as_vars: bool,
    /// `[ssh_connection] ssh_args` (the ansible engine keeps them behind its own options).
    pub ssh_args: Option<String>,
    /// Settings the native engine would get wrong: refused at plan time (the first one).
    pub unsupported: Vec<InputError>,
}

impl Default for AnsibleCfg {
    fn default() -> Self {
        Self {
            file: None,
            inventory: None,
            remote_user: None,
            forks: None,
            host_key_checking: true,
            host_key_checking_origin: None,
            roles_path: None,
            r#become: false,
            become_user: None,
            become_method: None,
            become_ask_pass: false,
            ask_pass: false,
            gathering: Gathering::Implicit,
            strategy: None,
            ssh_args: None,
            inject_facts_as_vars: true,
            unsupported: Vec::new(),
        }
    }
}

/// The configuration file ansible-playbook reads when its working directory is `playbook_dir`:
/// `ANSIBLE_CONFIG` (a directory means its `ansible.cfg`), `ansible.cfg` in the playbook's
/// directory unless that directory is world-writable, `~/.ansible.cfg`,
/// `/etc/ansible/ansible.cfg`; the first that exists and is readable.
pub fn find(playbook_dir: &Path) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(env) = std::env::var_os("ANSIBLE_CONFIG") {
        let mut p = absolute(&expand_path(&env.to_string_lossy()));
        if p.is_dir() {
            p = p.join("ansible.cfg");
        }
        candidates.push(p);
    }
    let dir = absolute(playbook_dir);
    if !world_writable(&dir) {
        candidates.push(dir.join("ansible.cfg"));
    }
    if let Some(home) = crate::paths::home_dir() {
        candidates.push(home.join(".ansible.cfg"));
    }
    candidates.push("/etc/ansible/ansible.cfg".into());
    candidates.into_iter().find(|p| readable(p))
}

fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

fn readable(p: &Path) -> bool {
    // What os.access(R_OK) answers: opening it for reading works (directories excluded).
    p.exists() && !p.is_dir() && std::fs::File::open(p).is_ok()
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The configuration for the playbook at `playbook` (see [`find`]).
pub fn load_for(playbook: &Path) -> Result<AnsibleCfg, InputError> {
    let dir = playbook.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    load(find(dir).as_deref())
}

/// The settings from `file` (none: the environment and the defaults only).
pub fn load(file: Option<&Path>) -> Result<AnsibleCfg, InputError> {
    let ini = match file {
        Some(f) => {
            if !matches!(f.extension().and_then(|e| e.to_str()), Some("cfg" | "ini")) {
                return Err(InputError::new(format!(
                    "Unsupported configuration file extension for {}: ansible reads .cfg or .ini files",
                    f.display()
                )));
            }
            let text = std::fs::read_to_string(f).map_err(|e| {
                InputError::new(format!("cannot read the config file {}: {e}", f.display()))
            })?;
            parse(&text, f)?
        }
        None => Ini::default(),
    };
    resolve(file, &ini, &|k| std::env::var(k).ok())
}

/// The parsed file: section → key → entry (`[DEFAULT]` keys answer for every section).
#[derive(Debug, Default)]
struct Ini {
    sections: HashMap<String, HashMap<String, Entry>>,
}

impl Ini {
    fn get(&self, section: &str, key: &str) -> Option<&Entry> {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .or_else(|| {
                // configparser: DEFAULT's values appear in every section that exists.
                self.sections.contains_key(section).then_some(())?;
                self.sections.get("DEFAULT")?.get(key)
            })
    }
}

/// Python's `configparser.ConfigParser(inline_comment_prefixes=(';',))` read raw (ansible reads
/// values with `raw=True`, so `%` is literal): `[section]` headers, `key = value` or
/// `key: value` (keys lower-cased), whole-line `#`/`;` comments, ` ;` inline comments, indented
/// continuation lines; a key before any section, a line without a delimiter, a repeated
/// section or key are errors, as in Python.
fn parse(text: &str, file: &Path) -> Result<Ini, InputError> {
    let file = Arc::new(file.to_path_buf());
    let at = |line: usize, col: usize| Pos {
        file: file.clone(),
        line,
        col,
    };
    let mut ini = Ini::default();
    let mut section: Option<String> = None;
    // The key a continuation line extends, and its line's indentation.
    let mut current: Option<(String, usize)> = None;
    for (n, raw) in (1..).zip(text.lines()) {
        let raw = raw.trim_end_matches('\r');
        let stripped = raw.trim();
        if stripped.is_empty() || stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        let value_part = strip_inline_comment(raw);
        if let (Some((key, key_indent)), Some(sec)) = (&current, &section)
            && indent > *key_indent
        {
            let extra = value_part.trim();
            if let Some(e) = ini.sections.get_mut(sec).and_then(|s| s.get_mut(key))
                && !extra.is_empty()
            {
                e.value.push('\n');
                e.value.push_str(extra);
            }
            continue;
        }
        if let Some(name) = stripped.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if ini.sections.contains_key(name) {
                return Err(InputError::at(
                    &at(n, indent + 1),
                    format!(
                        "section '{name}' already exists (ansible's config parser refuses a repeated section)"
                    ),
                ));
            }
            ini.sections.insert(name.to_string(), HashMap::new());
            section = Some(name.to_string());
            current = None;
            continue;
        }
        let Some(sec) = &section else {
            return Err(InputError::at(
                &at(n, indent + 1),
                "a setting before any [section] header (ansible's config parser refuses it; start with [defaults])",
            ));
        };
        let Some(d) = value_part.find(['=', ':']) else {
            return Err(InputError::at(
                &at(n, indent + 1),
                format!("'{stripped}' is no 'key = value' line"),
            ));
        };
        let key = value_part[..d].trim().to_lowercase();
        let value = unquote(value_part[d + 1..].trim()).to_string();
        let entries = ini.sections.entry(sec.clone()).or_default();
        if entries.contains_key(&key) {
            return Err(InputError::at(
                &at(n, indent + 1),
                format!(
                    "'{key}' is set twice in section '{sec}' (ansible's config parser refuses it)"
                ),
            ));
        }
        entries.insert(
            key.clone(),
            Entry {
                value,
                pos: at(n, indent + 1),
            },
        );
        current = Some((key, indent));
    }
    Ok(ini)
}

/// Cuts a ` ;` comment (a `;` after whitespace) off a line.
fn strip_inline_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for i in 1..b.len() {
        if b[i] == b';' && b[i - 1].is_ascii_whitespace() {
            return &line[..i];
        }
    }
    line
}

/// ansible's `unquote`: one pair of matching surrounding quotes is removed.
fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// ansible's `boolean(value, strict=False)`: y, yes, on, 1, true, t (any case) are true,
/// everything else false.
pub fn boolean(s: &str) -> bool {
    matches!(
        s.trim().to_lowercase().as_str(),
        "y" | "yes" | "on" | "1" | "true" | "t"
    )
}

/// `~`, `$VAR` / `${VAR}` expanded, as ansible's `unfrackpath` does (os.path.expandvars: an
/// unknown variable stays as written).
fn expand_path(p: &str) -> PathBuf {
    let mut out = String::new();
    let mut rest = p;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(b) = after.strip_prefix('{') {
            match b.find('}') {
                Some(e) => (&b[..e], e + 2),
                None => ("", 0),
            }
        } else {
            let e = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..e], e)
        };
        match (!name.is_empty())
            .then(|| std::env::var(name).ok())
            .flatten()
        {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[i..i + 1 + len]),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    crate::paths::expand_tilde(&out)
}

/// A path setting: relative to the config file's directory when it comes from the file, to the
/// working directory when it comes from the environment (as ansible's `resolve_path`).
fn resolve_path(p: &str, base: Option<&Path>) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    let p = p.replace("{{CWD}}", &cwd.to_string_lossy());
    let e = expand_path(&p);
    let joined = match base {
        Some(b) if e.is_relative() => b.join(e),
        _ => e,
    };
    crate::fsutil::unfrack(&joined)
}

/// Where a value came from, for messages.
enum Origin<'a> {
    Env(&'static str),
    File(&'a Entry),
}

impl Origin<'_> {
    fn describe(&self) -> String {
        match self {
            Origin::Env(v) => format!("{v} (environment)"),
            Origin::File(e) => e.pos.to_string(),
        }
    }
}

mod rules;
pub use rules::IGNORED_SECTIONS;
use rules::RULES;
use rules::Rule::*;

/// Resolves every setting; `env` answers environment variables (a parameter for the tests).
fn resolve(
    file: Option<&Path>,
    ini: &Ini,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AnsibleCfg, InputError> {
    let base = file.and_then(Path::parent);
    let mut cfg = AnsibleCfg {
        file: file.map(Path::to_path_buf),
        ..Default::default()
    };
    // The value of a setting (environment first, then the file) and where it came from.
    let get = |section: &str, key: &str| -> Option<(String, Origin<'_>)> {
        let &(_, _, var, _) = RULES.iter().find(|r| r.0 == section && r.1 == key)?;
        if let Some(v) = env(var).filter(|_| !var.is_empty()) {
            return Some((v, Origin::Env(var)));
        }
        ini.get(section, key)
            .map(|e| (e.value.clone(), Origin::File(e)))
    };
    let bad = |o: &Origin<'_>, msg: String| match o {
        Origin::File(e) => InputError::at(&e.pos, msg),
        Origin::Env(_) => InputError::new(format!("{}: {msg}", o.describe())),
    };
    if let Some((v, o)) = get("defaults", "inventory") {
        let base = matches!(o, Origin::File(_)).then_some(base).flatten();
        let paths: Vec<PathBuf> = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| resolve_path(s, base))
            .collect();
        match paths.as_slice() {
            [] => {}
            [one] => cfg.inventory = Some(one.clone()),
            _ => cfg.unsupported.push(
                bad(
                    &o,
                    "inventory: more than one inventory source is not supported by the native engine; give one file".into(),
                )
                .not_implemented(),
            ),
        }
    }
    if let Some((v, _)) = get("defaults", "remote_user") {
        cfg.remote_user = Some(v).filter(|v| !v.is_empty());
    }
    if let Some((v, o)) = get("defaults", "forks") {
        match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => cfg.forks = Some(n),
            _ => {
                return Err(bad(
                    &o,
                    format!("forks: {v:?} is not a positive whole number"),
                ));
            }
        }
    }
    // The ssh plugin reads its own key first, then [defaults]'s.
    for (section, key) in [
        ("ssh_connection", "host_key_checking"),
        ("defaults", "host_key_checking"),
    ] {
        if let Some((v, o)) = get(section, key) {
            cfg.host_key_checking = boolean(&v);
            if !cfg.host_key_checking {
                cfg.host_key_checking_origin = Some(o.describe());
            }
            break;
        }
    }
    if let Some((v, o)) = get("defaults", "roles_path") {
        let base = matches!(o, Origin::File(_)).then_some(base).flatten();
        cfg.roles_path = Some(
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(|s| resolve_path(s, base))
                .collect(),
        );
    }
    if let Some((v, o)) = get("defaults", "gathering") {
        cfg.gathering = match v.trim().to_lowercase().as_str() {
            "implicit" => Gathering::Implicit,
            "explicit" => Gathering::Explicit,
            "smart" => Gathering::Smart,
            other => {
                return Err(bad(
                    &o,
                    format!("gathering: '{other}' is none of implicit, explicit, smart"),
                ));
            }
        };
    }
    if let Some((v, o)) = get("defaults", "strategy") {
        match v.trim() {
            "linear" | "free" | "ansible.builtin.linear" | "ansible.builtin.free" => {
                cfg.strategy = Some(v.trim().trim_start_matches("ansible.builtin.").into());
            }
            other => cfg.unsupported.push(
                bad(
                    &o,
                    format!(
                        "strategy: '{other}' is not implemented by the native engine (linear, free)"
                    ),
                )
                .not_implemented(),
            ),
        }
    }
    cfg.inject_facts_as_vars =
        get("defaults", "inject_facts_as_vars").is_none_or(|(v, _)| boolean(&v));
    cfg.ssh_args = ini
        .get("ssh_connection", "ssh_args")
        .map(|e| e.value.clone());
    cfg.ask_pass = get("defaults", "ask_pass").is_some_and(|(v, _)| boolean(&v));
    cfg.r#become = get("privilege_escalation", "become").is_some_and(|(v, _)| boolean(&v));
    cfg.become_ask_pass =
        get("privilege_escalation", "become_ask_pass").is_some_and(|(v, _)| boolean(&v));
    cfg.become_user = get("privilege_escalation", "become_user")
        .map(|(v, _)| v)
        .filter(|v| !v.is_empty());
    cfg.become_method = get("privilege_escalation", "become_method")
        .map(|(v, _)| v)
        .filter(|v| !v.is_empty());
    for &(section, key, _, rule) in RULES {
        let Some((v, o)) = get(section, key) else {
            continue;
        };
        let fine = match rule {
            Implemented | Ignored => true,
            Bool(default) => boolean(&v) == default,
            OneOf(ok) => ok.iter().any(|a| a.eq_ignore_ascii_case(v.trim())),
            Refused => false,
        };
        if !fine {
            cfg.unsupported.push(
                bad(
                    &o,
                    format!(
                        "[{section}] {key} = {v} is not implemented by the native engine (it would change what the run does); remove it or run with --engine ansible"
                    ),
                )
                .not_implemented(),
            );
        }
    }
    Ok(cfg)
}

/// The loud warning when host keys are not checked (None when they are).
pub fn host_key_warning(cfg: &AnsibleCfg) -> Option<String> {
    if cfg.host_key_checking {
        return None;
    }
    Some(format!(
        "host_key_checking is off ({}): host keys seen for the first time are accepted WITHOUT verification and recorded in known_hosts; a changed key is still refused",
        cfg.host_key_checking_origin
            .as_deref()
            .unwrap_or("configuration")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str, env: &[(&str, &str)]) -> Result<AnsibleCfg, InputError> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ansible.cfg");
        let ini = parse(text, &f)?;
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(Some(&f), &ini, &|k| env.get(k).cloned())
    }

    #[test]
    fn ini_syntax_as_configparser() {
        let c = cfg(
            "# comment\n; comment\n[defaults]\nFORKS: 7 ; inline\nremote_user = 'deploy'\n\
             roles_path = a\n   b:c\n[privilege_escalation]\nbecome = Yes\nbecome_user=postgres#x\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.forks, Some(7));
        assert_eq!(c.remote_user.as_deref(), Some("deploy"));
        assert!(c.r#become);
        // `#` is no inline comment prefix for ansible's parser.
        assert_eq!(c.become_user.as_deref(), Some("postgres#x"));
        let rp = c.roles_path.unwrap();
        assert_eq!(rp.len(), 2, "{rp:?}");
        assert!(
            rp[0].ends_with("a\nb"),
            "continuation joins with a newline: {rp:?}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = cfg("forks = 3\n", &[]).unwrap_err().to_string();
        assert!(
            e.contains("ansible.cfg:1:1") && e.contains("section"),
            "{e}"
        );
        let e = cfg("[defaults]\nforks = 3\nforks = 4\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3:1") && e.contains("twice"), "{e}");
        let e = cfg("[defaults]\njunk\n", &[]).unwrap_err().to_string();
        assert!(e.contains(":2:1"), "{e}");
        let e = cfg("[defaults]\nforks = many\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:1") && e.contains("forks"), "{e}");
    }

    #[test]
    fn environment_beats_the_file() {
        let c = cfg(
            "[defaults]\nforks = 3\nhost_key_checking = false\n",
            &[
                ("ANSIBLE_FORKS", "9"),
                ("ANSIBLE_HOST_KEY_CHECKING", "True"),
            ],
        )
        .unwrap();
        assert_eq!(c.forks, Some(9));
        assert!(c.host_key_checking);
    }

    #[test]
    fn booleans_as_ansible() {
        for t in ["y", "YES", "on", "1", "true", "T"] {
            assert!(boolean(t), "{t}");
        }
        for f in ["n", "no", "off", "0", "false", "", "maybe"] {
            assert!(!boolean(f), "{f}");
        }
    }

    #[test]
    fn run_changing_keys_are_refused_at_their_position_default_values_are_not() {
        let c = cfg(
            "[defaults]\nhash_behaviour = replace\nstdout_callback = yaml\nno_such_key = 1\n\
             [weird]\nx = 1\n[defaults2]\n",
            &[],
        )
        .unwrap();
        assert!(c.unsupported.is_empty());
        let c = cfg("[defaults]\nforks = 2\n  \nhash_behaviour = merge\n", &[]).unwrap();
        let e = c.unsupported[0].to_string();
        assert!(
            e.contains("ansible.cfg:4:1") && e.contains("hash_behaviour"),
            "{e}"
        );
        let c = cfg("", &[("ANSIBLE_VAULT_PASSWORD_FILE", "/pw")]).unwrap();
        assert!(
            c.unsupported.is_empty(),
            "slm-wizard's own --vault-password-file"
        );
        let c = cfg("", &[("ANSIBLE_HASH_BEHAVIOUR", "merge")]).unwrap();
        assert!(
            c.unsupported[0]
                .to_string()
                .contains("ANSIBLE_HASH_BEHAVIOUR")
        );
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let c = cfg("[defaults]\ninventory = inv/hosts.yml\n", &[]).unwrap();
        let inv = c.inventory.unwrap();
        assert!(
            inv.is_absolute() && inv.ends_with("inv/hosts.yml"),
            "{inv:?}"
        );
    }

    #[test]
    fn roles_path_entries_resolve_against_the_file_and_only_defaults_counts() {
        let c = cfg("[defaults]\nroles_path = ../shared:/abs/roles:~/r\n", &[]).unwrap();
        let rp = c.roles_path.unwrap();
        assert!(
            rp[0].ends_with("shared") && !rp[0].to_string_lossy().contains(".."),
            "{rp:?}"
        );
        assert_eq!(rp[1], PathBuf::from("/abs/roles"));
        assert!(!rp[2].to_string_lossy().contains('~'), "{rp:?}");
        let c = cfg("[other]\nroles_path = x\n", &[]).unwrap();
        assert_eq!(c.roles_path, None);
    }

    #[test]
    fn default_section_fills_existing_sections() {
        let c = cfg("[DEFAULT]\nforks = 4\n[defaults]\n", &[]).unwrap();
        assert_eq!(c.forks, Some(4));
    }
}
