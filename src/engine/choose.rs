//! Which engine runs a request: one decision for `run`, the wizard and Health's repair.
//!
//! `native`: the native plan, or its refusal. `ansible`: ansible-playbook. `auto`: the native
//! plan when it passes; when the native engine refuses something it does not implement (a
//! module, an argument, a keyword: [`InputError::is_not_implemented`]), ansible-playbook with that
//! refusal as the reason. Input that is wrong for Ansible too (a type error, a refused value, bad
//! YAML) is reported as it is by every choice.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Plan, RunRequest, ansible, plan};
use crate::config::Engine;
use crate::error::InputError;
use crate::secrets::Secret;

/// The engine a run goes to.
pub enum Chosen {
    Native(Arc<Plan>),
    /// `reason`: the native engine's refusal when `auto` fell back to ansible.
    Ansible {
        path: PathBuf,
        reason: Option<String>,
    },
}

/// Why no engine can run the request.
#[derive(Debug)]
pub enum ChoiceError {
    /// Bad input, or (`native`) what the native engine refused.
    Input(InputError),
    /// ansible-playbook is needed and missing: `hint` says how to get it; `refusal` is the native
    /// engine's refusal that made it needed (`auto`).
    NoAnsible {
        refusal: Option<InputError>,
        hint: String,
    },
}

impl std::fmt::Display for ChoiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChoiceError::Input(e) => write!(f, "{e}"),
            ChoiceError::NoAnsible {
                refusal: Some(r),
                hint,
            } => write!(
                f,
                "{r} — the native engine cannot run this playbook; the ansible engine could: {hint}"
            ),
            ChoiceError::NoAnsible {
                refusal: None,
                hint,
            } => f.write_str(hint),
        }
    }
}

/// Plans `request` natively unless `choice` is `ansible`, and picks the engine (blocking: the
/// plan reads files). `configured_ansible`: the config file's ansible-playbook, if any. The
/// refusal that made `auto` choose ansible is masked as the ansible run's output is (`secrets`:
/// the survey's, besides the request's secret-looking values).
pub fn choose(
    choice: Engine,
    request: &RunRequest,
    configured_ansible: Option<&Path>,
    secrets: &[Secret],
) -> Result<Chosen, ChoiceError> {
    let refusal = match choice {
        Engine::Ansible => None,
        Engine::Native | Engine::Auto => match plan(request.clone()) {
            Ok(p) => return Ok(Chosen::Native(Arc::new(p))),
            Err(e) if choice == Engine::Native || !e.is_not_implemented() => {
                return Err(ChoiceError::Input(e));
            }
            Err(mut e) => {
                e.msg = ansible::redactor_for(request, secrets).redact(&e.msg);
                Some(e)
            }
        },
    };
    match ansible::find_ansible_playbook(configured_ansible) {
        Ok(path) => Ok(Chosen::Ansible {
            path,
            reason: refusal.map(|e| e.to_string()),
        }),
        Err(hint) => Err(ChoiceError::NoAnsible { refusal, hint }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &Path, playbook: &str) -> RunRequest {
        let path = dir.join("p.yml");
        std::fs::write(&path, playbook).unwrap();
        RunRequest {
            playbook: path,
            ..Default::default()
        }
    }

    const HEAD: &str = "- hosts: localhost\n  gather_facts: false\n";

    /// Input that Ansible refuses too is reported by every choice, never handed to ansible.
    #[test]
    fn bad_input_is_not_handed_to_ansible() {
        let d = tempfile::tempdir().unwrap();
        for bad in [
            // A type error.
            format!(
                "{HEAD}  tasks:\n    - ansible.builtin.debug: {{msg: hi}}\n      ignore_errors: [1]\n"
            ),
            // A value the module refuses.
            format!(
                "{HEAD}  tasks:\n    - ansible.builtin.file: {{path: /tmp/x, state: sideways}}\n"
            ),
            // A required argument missing (a misspelled one alone fails the task when it runs,
            // as in Ansible).
            format!("{HEAD}  tasks:\n    - ansible.builtin.copy: {{dst: /tmp/x, content: a}}\n"),
            // Broken YAML.
            format!("{HEAD}  tasks: [\n"),
        ] {
            let req = request(d.path(), &bad);
            for choice in [Engine::Auto, Engine::Native] {
                match choose(choice, &req, Some(Path::new("/bin/true")), &[]) {
                    Err(ChoiceError::Input(e)) => {
                        assert!(!e.is_not_implemented(), "{bad}: {e}");
                        assert!(e.pos.is_some(), "{bad}: {e}");
                    }
                    Err(e) => panic!("{bad}: {e}"),
                    Ok(_) => panic!("{bad}: chosen"),
                }
            }
        }
    }

    /// What the native engine lacks goes to ansible with `auto` (the refusal as the reason) and
    /// is refused with `native`.
    #[test]
    fn unimplemented_falls_back_with_auto_only() {
        let d = tempfile::tempdir().unwrap();
        for (lacking, at) in [
            (
                format!("{HEAD}  tasks:\n    - ansible.builtin.pip: {{name: x}}\n"),
                "p.yml:4:7:",
            ),
            (
                format!(
                    "{HEAD}  tasks:\n    - ansible.builtin.file: {{path: /tmp/x, state: file, setype: etc_t}}\n"
                ),
                "p.yml:4:",
            ),
            (
                format!("{HEAD}  gather_subset: [min]\n  tasks: []\n"),
                "p.yml:3:3:",
            ),
            (
                format!(
                    "{HEAD}  tasks:\n    - ansible.builtin.debug: {{msg: hi}}\n      throttle: 1\n"
                ),
                "p.yml:5:7:",
            ),
        ] {
            let req = request(d.path(), &lacking);
            match choose(Engine::Native, &req, None, &[]) {
                Err(ChoiceError::Input(e)) => assert!(e.is_not_implemented(), "{lacking}: {e}"),
                Err(e) => panic!("{lacking}: {e}"),
                Ok(_) => panic!("{lacking}: planned natively"),
            }
            // ANSIBLE_PLAYBOOK, when the environment sets it, wins over the configured path.
            match choose(Engine::Auto, &req, Some(Path::new("/bin/true")), &[]) {
                Ok(Chosen::Ansible {
                    reason: Some(r), ..
                }) => assert!(r.contains(at), "{lacking}: {r}"),
                Err(ChoiceError::NoAnsible {
                    refusal: Some(r), ..
                }) => assert!(r.to_string().contains(at), "{lacking}: {r}"),
                Err(e) => panic!("{lacking}: {e}"),
                Ok(_) => panic!("{lacking}: no reason"),
            }
        }
    }
}
