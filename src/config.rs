//! Settings from TOML files: `/etc/slm-wizard/config.toml`, then
//! `$XDG_CONFIG_HOME/slm-wizard/config.toml` (later files win; flags and environment win over both).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::InputError;

/// Which engine runs a playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// slm-wizard's own engine; a playbook it cannot plan is refused (exit 5).
    Native,
    /// The real ansible-playbook, behind the same screens and events.
    Ansible,
    /// Native when its plan passes, else ansible.
    #[default]
    Auto,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Native => "native",
            Engine::Ansible => "ansible",
            Engine::Auto => "auto",
        }
    }

    /// The next choice (the wizard's Review key cycles through them).
    pub fn next(self) -> Self {
        match self {
            Engine::Auto => Engine::Native,
            Engine::Native => Engine::Ansible,
            Engine::Ansible => Engine::Auto,
        }
    }

    /// `SLM_WIZARD_ENGINE`'s value, checked.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "native" => Ok(Engine::Native),
            "ansible" => Ok(Engine::Ansible),
            "auto" => Ok(Engine::Auto),
            other => Err(format!(
                "unknown engine '{other}' (valid: native, ansible, auto)"
            )),
        }
    }
}

/// One file's keys, exactly these.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    engine: Option<Engine>,
    ansible_playbook: Option<PathBuf>,
    playbook_dirs: Option<Vec<PathBuf>>,
}

/// The merged settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub engine: Option<Engine>,
    /// Path of the `ansible-playbook` to run.
    pub ansible_playbook: Option<PathBuf>,
    /// Where the wizard's Playbook step looks for playbooks.
    pub playbook_dirs: Vec<PathBuf>,
}

/// The files read, in order (later ones win).
pub fn default_paths() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/etc/slm-wizard/config.toml")];
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(u) = user {
        out.push(u.join("slm-wizard/config.toml"));
    }
    out
}

/// Reads the default files ([`default_paths`]); missing files are skipped.
pub fn load() -> Result<Config, InputError> {
    load_from(&default_paths())
}

/// Reads `paths` in order, later values over earlier ones; missing files are skipped.
pub fn load_from(paths: &[PathBuf]) -> Result<Config, InputError> {
    let mut cfg = Config::default();
    for p in paths {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(InputError::new(format!(
                    "{}: cannot read: {e}",
                    p.display()
                )));
            }
        };
        let file = parse(&text, p)?;
        if file.engine.is_some() {
            cfg.engine = file.engine;
        }
        if let Some(a) = file.ansible_playbook {
            cfg.ansible_playbook = Some(relative_to(p, a));
        }
        if let Some(d) = file.playbook_dirs {
            cfg.playbook_dirs = d.into_iter().map(|d| relative_to(p, d)).collect();
        }
    }
    Ok(cfg)
}

/// A relative path in a config file is relative to the file's directory.
fn relative_to(file: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        file.parent().map_or(p.clone(), |d| d.join(&p))
    }
}

fn parse(text: &str, path: &Path) -> Result<FileConfig, InputError> {
    toml::from_str::<FileConfig>(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|s| line_col(text, s.start))
            .unwrap_or((1, 1));
        let msg = e.message().trim().to_string();
        let hint = if msg.contains("unknown field") {
            ""
        } else if msg.contains("unknown variant") {
            " (engine: native, ansible or auto)"
        } else {
            " (valid keys: engine = \"native|ansible|auto\", ansible_playbook = \"PATH\", playbook_dirs = [\"DIR\", …])"
        };
        InputError::new(format!("{}:{line}:{col}: {msg}{hint}", path.display()))
    })
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn later_files_win_and_relative_paths_follow_the_file() {
        let d = tempfile::tempdir().unwrap();
        let a = write(
            d.path(),
            "a.toml",
            "engine = \"native\"\nansible_playbook = \"/opt/a/ansible-playbook\"\nplaybook_dirs = [\"pb\"]\n",
        );
        let b = write(d.path(), "b.toml", "engine = \"ansible\"\n");
        let missing = d.path().join("missing.toml");
        let cfg = load_from(&[a, b, missing]).unwrap();
        assert_eq!(cfg.engine, Some(Engine::Ansible));
        assert_eq!(
            cfg.ansible_playbook,
            Some(PathBuf::from("/opt/a/ansible-playbook"))
        );
        assert_eq!(cfg.playbook_dirs, vec![d.path().join("pb")]);
    }

    #[test]
    fn unknown_keys_and_values_are_pointed_at() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "c.toml", "engine = \"auto\"\nengnie = \"x\"\n");
        let e = load_from(std::slice::from_ref(&p)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2:1:", p.display())), "{e}");
        assert!(e.contains("engnie") && e.contains("playbook_dirs"), "{e}");
        let p = write(d.path(), "d.toml", "\nengine = \"fast\"\n");
        let e = load_from(std::slice::from_ref(&p)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2:10:", p.display())), "{e}");
        assert!(e.contains("native, ansible or auto"), "{e}");
        let p = write(d.path(), "e.toml", "playbook_dirs = \"one\"\n");
        let e = load_from(std::slice::from_ref(&p)).unwrap_err().to_string();
        assert!(e.contains(":1:17:"), "{e}");
    }
}
