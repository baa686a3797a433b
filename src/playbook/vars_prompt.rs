//! A play's `vars_prompt`, checked as ansible-core's `Play._load_vars_prompt` does (a list of
//! mappings, each with `name`, only the keys Ansible knows), plus what this engine can hash.
//! The entries stay as written: they are templated when the play starts (see
//! `engine::run::prompt`), with the extra vars and the play's vars, as ansible-playbook does.

use serde_json::{Map, Value};

use super::{Parser, bool_of};
use crate::compat::yaml::{Kind, Node, Pos};
use crate::error::{InputError, unknown_key};
use crate::template::is_template;

/// One `vars_prompt` entry.
#[derive(Debug, Clone)]
pub struct VarPrompt {
    pub pos: Pos,
    /// `name` as written (it may be a template, as anything in the entry).
    pub name: String,
    /// The whole entry as written (`name`, `prompt`, `default`, …).
    pub entry: Map<String, Value>,
}

impl VarPrompt {
    /// Whether the entry has a `default` (a null one counts as none, as in Ansible).
    pub fn has_default(&self) -> bool {
        self.entry.get("default").is_some_and(|d| !d.is_null())
    }
}

/// The keys Ansible accepts in an entry.
pub const VARS_PROMPT_KEYS: &[&str] = &[
    "name",
    "prompt",
    "default",
    "private",
    "confirm",
    "encrypt",
    "salt_size",
    "salt",
    "unsafe",
];

/// The `encrypt` scheme this engine hashes with.
pub const ENCRYPT_SCHEMES: &[&str] = &["sha512_crypt"];

/// Schemes ansible-playbook hashes with (through passlib) that this engine does not: a playbook
/// naming one is refused as not implemented (`auto` then runs ansible-playbook).
const PASSLIB_SCHEMES: &[&str] = &[
    "md5_crypt",
    "bcrypt",
    "sha256_crypt",
    "des_crypt",
    "bsdi_crypt",
    "bigcrypt",
    "crypt16",
    "sun_md5_crypt",
    "apr_md5_crypt",
    "phpass",
    "pbkdf2_sha1",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "scram",
    "bsd_nthash",
    "argon2",
    "scrypt",
];

/// Checks a literal `encrypt` value (a templated one is checked when the play starts).
pub fn check_scheme(scheme: &str) -> Result<(), InputError> {
    if ENCRYPT_SCHEMES.contains(&scheme) {
        Ok(())
    } else if PASSLIB_SCHEMES.contains(&scheme) {
        Err(InputError::new(format!(
            "vars_prompt encrypt '{scheme}' is not implemented by slm-wizard's engine (it hashes with {}); run this playbook with ansible-playbook",
            ENCRYPT_SCHEMES.join(", ")
        ))
        .not_implemented())
    } else {
        Err(InputError::new(format!(
            "vars_prompt encrypt '{scheme}' is not a hash scheme; valid: {}",
            ENCRYPT_SCHEMES.join(", ")
        )))
    }
}

/// The first `vars_prompt` entry of the playbook at `path` (and the playbooks it imports) whose
/// literal name `answered` does not know and that has no default: what a run that cannot
/// prompt must refuse. Read leniently (the YAML only): the ansible engine runs playbooks this
/// engine refuses.
pub fn first_unanswered(
    path: &std::path::Path,
    answered: &dyn Fn(&str) -> bool,
) -> Option<(Pos, String)> {
    fn walk(
        path: &std::path::Path,
        answered: &dyn Fn(&str) -> bool,
        depth: usize,
    ) -> Option<(Pos, String)> {
        let root = crate::compat::yaml::load_file(path).ok()?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        for play in root.as_seq()? {
            if let Some(imp) = play
                .get("import_playbook")
                .or_else(|| play.get("ansible.builtin.import_playbook"))
            {
                if depth < 8
                    && let Some(file) = imp.as_str()
                    && !is_template(file)
                    && let Some(found) = walk(&dir.join(file), answered, depth + 1)
                {
                    return Some(found);
                }
                continue;
            }
            let entries: Vec<&Node> = match play.get("vars_prompt").map(|v| &v.kind) {
                Some(Kind::Seq(items)) => items.iter().collect(),
                Some(Kind::Map(_)) => play.get("vars_prompt").into_iter().collect(),
                _ => continue,
            };
            for e in entries {
                let Some(name) = e.get("name").and_then(Node::as_str) else {
                    continue;
                };
                let has_default = e
                    .get("default")
                    .is_some_and(|d| !matches!(d.kind, Kind::Null));
                if !is_template(name) && !has_default && !answered(name) {
                    return Some((e.pos.clone(), name.to_string()));
                }
            }
        }
        None
    }
    walk(path, answered, 0)
}

impl Parser<'_> {
    /// `vars_prompt:` — a list of entries (a single mapping counts as a list of one).
    pub(super) fn vars_prompt(&self, node: &Node) -> Result<Vec<VarPrompt>, InputError> {
        let items: Vec<&Node> = match &node.kind {
            Kind::Null => return Ok(Vec::new()),
            Kind::Seq(items) => items.iter().collect(),
            Kind::Map(_) => vec![node],
            _ => {
                return Err(InputError::at(
                    &node.pos,
                    format!(
                        "'vars_prompt' must be a list of mappings (each with 'name'), not {}",
                        node.type_name()
                    ),
                ));
            }
        };
        items.into_iter().map(|i| self.prompt_entry(i)).collect()
    }

    fn prompt_entry(&self, node: &Node) -> Result<VarPrompt, InputError> {
        let Some(fields) = node.as_map() else {
            return Err(InputError::at(
                &node.pos,
                format!(
                    "a vars_prompt entry must be a mapping with 'name', not {}",
                    node.type_name()
                ),
            ));
        };
        for (k, v) in fields {
            let key = k.key_string();
            if !VARS_PROMPT_KEYS.contains(&key.as_str()) {
                return Err(InputError::at(
                    &k.pos,
                    unknown_key(&key, "vars_prompt", VARS_PROMPT_KEYS),
                ));
            }
            let literal = match &v.kind {
                Kind::Str(s) => !is_template(s),
                _ => true,
            };
            match key.as_str() {
                "private" | "confirm" | "unsafe" if literal => {
                    bool_of(v, &format!("vars_prompt {key}"))?;
                }
                "salt_size" if literal && !matches!(v.kind, Kind::Int(1..) | Kind::Null) => {
                    return Err(InputError::at(
                        &v.pos,
                        "vars_prompt 'salt_size' must be a positive integer",
                    ));
                }
                "encrypt" if literal && !matches!(v.kind, Kind::Null) => {
                    let scheme = super::str_of(v, "encrypt")?;
                    check_scheme(&scheme).map_err(|mut e| {
                        e.pos = Some(v.pos.clone());
                        e
                    })?;
                }
                _ => {}
            }
        }
        let Some(name) = node.get("name") else {
            return Err(InputError::at(
                &node.pos,
                "vars_prompt entry without 'name' (the variable it sets)",
            ));
        };
        let name = super::str_of(name, "name")?;
        let Value::Object(entry) = self.json(node)? else {
            return Err(InputError::at(
                &node.pos,
                "a vars_prompt entry must be a mapping",
            ));
        };
        Ok(VarPrompt {
            pos: node.pos.clone(),
            name,
            entry,
        })
    }
}
