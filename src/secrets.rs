//! Secrets: a wrapper that never prints itself, generation from a CSPRNG, and a redactor that
//! scrubs every known secret from text before it reaches a screen, a log or a journal.

pub mod preflight;
pub mod store;

use std::fmt;
use std::sync::{Arc, RwLock};

/// A secret value. `Debug`/`Display` print a mask; only `expose` gives the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Arc::from(s.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

pub const MASK: &str = "********";

/// URL-safe alphabet for generated passwords (no quoting trouble in URLs, YAML or shells).
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A new password of `len` characters from the OS-seeded CSPRNG.
pub fn generate_password(len: usize) -> Secret {
    use rand::RngExt;
    let mut rng = rand::rng();
    let s: String = (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    Secret::new(s)
}

/// The set of secret strings known to this process; everything printed passes through it.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    pub fn add(&self, secret: &str) {
        // Very short values would mask innocent text everywhere; they are not worth hiding.
        if secret.len() < 4 {
            return;
        }
        if let Ok(mut v) = self.secrets.write()
            && !v.iter().any(|s| s == secret)
        {
            v.push(secret.to_string());
            // Longest first, so a secret that contains another is masked whole.
            v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.read().map(|v| v.is_empty()).unwrap_or(true)
    }

    pub fn redact(&self, text: &str) -> String {
        let Ok(v) = self.secrets.read() else {
            return text.to_string();
        };
        let mut out = text.to_string();
        for s in v.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// Redacts every string inside a JSON value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password(32);
        let b = generate_password(32);
        assert_eq!(a.expose().len(), 32);
        assert_ne!(a, b);
        assert!(a.expose().bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(format!("{a:?} {a}"), "Secret(********) ********");
    }

    #[test]
    fn redactor_masks_longest_first() {
        let r = Redactor::default();
        r.add("hunter2hunter2");
        r.add("hunter2");
        let mut j = serde_json::json!({"a": ["x hunter2hunter2 y", "hunter2"]});
        r.redact_json(&mut j);
        assert_eq!(j, serde_json::json!({"a": ["x ******** y", "********"]}));
    }
}
