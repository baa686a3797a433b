//! Where slm-wizard keeps its files, and the one `~` expander.
//!
//! Everything lives under the state directory, `$XDG_STATE_HOME/slm-wizard` (default
//! `~/.local/state/slm-wizard`): `secrets/`, `runs/` (journals), `logs/`, `locks/`, the wizard's
//! session, the ansible engine's venv and its per-run directories.

use std::path::PathBuf;

/// The state directory (`$XDG_STATE_HOME/slm-wizard`, default `~/.local/state/slm-wizard`).
pub fn state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".local/state")
        });
    base.join("slm-wizard")
}

/// The directory of all secret stores.
pub fn secrets_dir() -> PathBuf {
    state_dir().join("secrets")
}

/// The run journals (`runs/<time>-<playbook>.jsonl`).
pub fn runs_dir() -> PathBuf {
    state_dir().join("runs")
}

/// The wizard's log files (the TUI owns the screen).
pub fn logs_dir() -> PathBuf {
    state_dir().join("logs")
}

/// The run locks of the deployments.
pub fn locks_dir() -> PathBuf {
    state_dir().join("locks")
}

/// The wizard's last session (playbook, inventory, non-secret answers).
pub fn session_file() -> PathBuf {
    state_dir().join("wizard-session.json")
}

/// The ansible engine's own venv (`ansible install`).
pub fn ansible_venv_dir() -> PathBuf {
    state_dir().join("ansible-venv")
}

/// The ansible engine's per-run private directories.
pub fn ansible_runs_dir() -> PathBuf {
    state_dir().join("ansible-runs")
}

/// The home directory: `$HOME` when set and not empty, else the password database's.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(std::env::home_dir)
}

/// `~` and `~/rest` as the user's home (as OpenSSH and Ansible read paths); anything else, and
/// `~user`, as it is.
pub fn expand_tilde(p: &str) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_is_the_home_directory_only_at_the_start() {
        let Some(home) = home_dir() else { return };
        assert_eq!(expand_tilde("~"), home);
        assert_eq!(expand_tilde("~/.ssh/id"), home.join(".ssh/id"));
        assert_eq!(expand_tilde("/a/~/b"), PathBuf::from("/a/~/b"));
        assert_eq!(expand_tilde("~other/x"), PathBuf::from("~other/x"));
    }

    #[test]
    fn every_dir_is_under_the_state_dir() {
        let s = state_dir();
        assert!(s.ends_with("slm-wizard"), "{}", s.display());
        for d in [
            secrets_dir(),
            runs_dir(),
            logs_dir(),
            locks_dir(),
            session_file(),
            ansible_venv_dir(),
            ansible_runs_dir(),
        ] {
            assert!(d.starts_with(&s), "{}", d.display());
        }
    }
}
