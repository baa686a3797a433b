//! Bad input: what is wrong, where (file:line:col), and what would be valid. Exit code 5.

use std::fmt;

use crate::compat::yaml::{Pos, YamlError};

#[derive(Debug, Clone)]
pub struct InputError {
    pub pos: Option<Pos>,
    pub msg: String,
    pub kind: InputErrorKind,
}

/// Why input was refused: `auto` hands a playbook to ansible only for what the native engine
/// lacks; input that is wrong for Ansible too (a type error, a refused value, bad YAML) is
/// reported as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputErrorKind {
    /// The input is wrong.
    #[default]
    Invalid,
    /// Valid Ansible that the native engine does not implement (a module, an argument, a keyword).
    NotImplemented,
}

impl InputError {
    pub fn at(pos: &Pos, msg: impl Into<String>) -> Self {
        Self {
            pos: Some(pos.clone()),
            msg: msg.into(),
            kind: InputErrorKind::Invalid,
        }
    }
    pub fn new(msg: impl Into<String>) -> Self {
        Self {
            pos: None,
            msg: msg.into(),
            kind: InputErrorKind::Invalid,
        }
    }
    /// Marks a refusal of valid Ansible that the native engine does not implement.
    pub fn not_implemented(mut self) -> Self {
        self.kind = InputErrorKind::NotImplemented;
        self
    }
    pub fn is_not_implemented(&self) -> bool {
        self.kind == InputErrorKind::NotImplemented
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pos {
            Some(p) => write!(f, "{p}: {}", self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for InputError {}

impl From<YamlError> for InputError {
    fn from(e: YamlError) -> Self {
        Self {
            pos: Some(e.pos),
            msg: e.msg,
            kind: InputErrorKind::Invalid,
        }
    }
}

/// "did you mean …" for a misspelled key, from the valid ones.
pub fn suggest<'a>(word: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .into_iter()
        .map(|v| (edit_distance(word, v), v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The message for a key that is not allowed here.
pub fn unknown_key(key: &str, what: &str, valid: &[&str]) -> String {
    match suggest(key, valid.iter().copied()) {
        Some(s) => format!("unknown key '{key}' in {what}; did you mean '{s}'?"),
        None => format!(
            "unknown key '{key}' in {what}; valid keys: {}",
            valid.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        assert_eq!(
            suggest("become_usr", ["become", "become_user"]),
            Some("become_user")
        );
        assert_eq!(suggest("zzzzzz", ["become", "become_user"]), None);
    }
}
