//! Secrets: a wrapper that never prints itself, generation from a CSPRNG, and a redactor that
//! scrubs every known secret from text before it reaches a screen, a log or a journal.

pub mod store;
pub mod vault;

use std::fmt;
use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use zeroize::Zeroizing;

/// A secret value. `Debug`/`Display` print a mask; only `expose` gives the text. The memory is
/// wiped when the last clone is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Arc::new(Zeroizing::new(s.into())))
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

/// The umask the process started with (`u32::MAX`: [`harden_process`] not called).
static START_UMASK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(u32::MAX);

/// Process-wide protection for the secrets this process holds, called first thing in `main`:
/// everything it writes is private to its user (umask 077: logs, journals, stores, temp files),
/// and no core dump or ptrace attach by another process of the user can read its memory.
pub fn harden_process() {
    // SAFETY: umask, setrlimit and prctl only change this process's attributes; the arguments
    // are valid constants and a pointer to a live, initialised struct.
    unsafe {
        let old = libc::umask(0o077);
        START_UMASK.store(old as u32, std::sync::atomic::Ordering::SeqCst);
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &none);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// The real user id of this process. Not from `/proc/self`: once [`harden_process`] made the
/// process non-dumpable, the kernel shows its `/proc` entries as owned by root.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The umask commands on a local-connection target get: the one the process started with (a
/// target's files are created as on any host), not the controller's private 077.
pub fn target_umask() -> Option<u32> {
    match START_UMASK.load(std::sync::atomic::Ordering::SeqCst) {
        u32::MAX => None,
        m => Some(m),
    }
}

/// Secrets shorter than this are masked only as whole tokens (not inside a longer word or
/// number): a 1-character secret masked everywhere would hide every occurrence of that
/// character. Their encoded forms are not registered either (too short to be told from text).
pub const SHORT_SECRET: usize = 4;

#[derive(Default)]
struct Known {
    /// Every registered form (raw and encoded), each once.
    forms: Vec<Zeroizing<String>>,
    /// Built lazily from `forms`, leftmost-longest: a secret that contains another is masked whole.
    matcher: Option<AhoCorasick>,
    /// Bytes of the longest form: how much a stream must hold back (see [`StreamRedactor`]).
    max_len: usize,
}

/// The set of secret strings known to this process; everything printed passes through it.
///
/// Each secret is registered with its common encodings (percent-encoded, base64 with and without
/// padding, URL-safe base64, JSON-escaped), so a secret put in a URL or a header is masked too.
#[derive(Clone, Default)]
pub struct Redactor {
    known: Arc<RwLock<Known>>,
}

/// Whether `b` continues a word (so a short secret next to it is part of a longer token).
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl Redactor {
    /// Registers a secret and its common encodings. Empty text is ignored.
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut forms = vec![secret.to_string()];
        if secret.len() >= SHORT_SECRET {
            use base64::Engine as _;
            use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
            forms.push(percent_encode(secret));
            forms.push(STANDARD.encode(secret));
            forms.push(STANDARD_NO_PAD.encode(secret));
            forms.push(URL_SAFE_NO_PAD.encode(secret));
            if let Ok(j) = serde_json::to_string(secret) {
                forms.push(j[1..j.len() - 1].to_string());
            }
        }
        let Ok(mut k) = self.known.write() else {
            return;
        };
        for f in forms {
            if !k.forms.iter().any(|s| **s == f) {
                k.max_len = k.max_len.max(f.len());
                k.forms.push(Zeroizing::new(f));
                k.matcher = None;
            }
        }
    }

    /// Registers every scalar inside `value` (strings, numbers; not booleans or null), at any
    /// depth: for a value that is secret as a whole (a vault-encrypted file, a secret-named
    /// variable holding a mapping or a list).
    pub fn add_value(&self, value: &serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => self.add(s),
            Value::Number(n) => self.add(&n.to_string()),
            Value::Array(items) => items.iter().for_each(|v| self.add_value(v)),
            Value::Object(m) => m.values().for_each(|v| self.add_value(v)),
            Value::Bool(_) | Value::Null => {}
        }
    }

    /// Registers the values of secret-named keys (see [`is_secret_name`]) at any depth of
    /// `value` (`users[0].password`), whatever their type. `skip` tells values that are still
    /// templates (registered once rendered, see the engine).
    pub fn add_named(&self, value: &serde_json::Value, skip: &dyn Fn(&str) -> bool) {
        use serde_json::Value;
        match value {
            Value::Object(m) => self.add_named_map(m, skip),
            Value::Array(items) => items.iter().for_each(|v| self.add_named(v, skip)),
            _ => {}
        }
    }

    /// [`Redactor::add_named`] for a mapping of variables.
    pub fn add_named_map(
        &self,
        vars: &serde_json::Map<String, serde_json::Value>,
        skip: &dyn Fn(&str) -> bool,
    ) {
        for (k, v) in vars {
            if is_secret_name(k) {
                match v {
                    serde_json::Value::String(s) if skip(s) => {}
                    // A flag named after passwords (`no_password_changes: 'true'`): masking
                    // the word everywhere would hide task names and results, not a secret.
                    serde_json::Value::String(s) if is_flag_word(s) => {}
                    other => self.add_value(other),
                }
            } else {
                self.add_named(v, skip);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.known
            .read()
            .map(|k| k.forms.is_empty())
            .unwrap_or(true)
    }

    /// Bytes of the longest registered form (0 when none).
    pub fn max_len(&self) -> usize {
        self.known.read().map(|k| k.max_len).unwrap_or(0)
    }

    /// The matcher, built on first use after a change.
    fn matcher(&self) -> Option<AhoCorasick> {
        if let Ok(k) = self.known.read() {
            if k.forms.is_empty() {
                return None;
            }
            if let Some(m) = &k.matcher {
                return Some(m.clone());
            }
        }
        let mut k = self.known.write().ok()?;
        if k.matcher.is_none() {
            k.matcher = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(k.forms.iter().map(|s| s.as_bytes()))
                .ok();
        }
        k.matcher.clone()
    }

    /// Where secrets occur in `text` (byte ranges, in order, not overlapping).
    fn find(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        let Some(m) = self.matcher() else {
            return Vec::new();
        };
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut at = 0;
        while at < b.len() {
            let Some(hit) = m.find(aho_corasick::Input::new(b).range(at..)) else {
                break;
            };
            let (s, e) = (hit.start(), hit.end());
            let whole_token =
                (s == 0 || !is_word_byte(b[s - 1])) && (e == b.len() || !is_word_byte(b[e]));
            if e - s >= SHORT_SECRET || whole_token {
                out.push(s..e);
                at = e;
            } else {
                at = s + 1;
            }
        }
        out
    }

    pub fn redact(&self, text: &str) -> String {
        let hits = self.find(text);
        if hits.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for r in hits {
            out.push_str(&text[last..r.start]);
            out.push_str(MASK);
            last = r.end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// Redacts every string, number and key inside a JSON value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            Value::Number(n) => {
                let t = n.to_string();
                if self.redact(&t) != t {
                    *value = Value::String(MASK.into());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                if map.keys().any(|k| self.redact(k) != *k) {
                    let old = std::mem::take(map);
                    for (k, v) in old {
                        map.insert(self.redact(&k), v);
                    }
                }
                map.values_mut().for_each(|v| self.redact_json(v))
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
}

/// Masks a stream that arrives in chunks (command output in `-v`): a secret split across two
/// chunks is masked too, because the last `max_len - 1` bytes are held back until the next chunk
/// (or [`StreamRedactor::finish`]) shows whether they start a secret.
pub struct StreamRedactor {
    redactor: Redactor,
    pending: String,
}

impl StreamRedactor {
    pub fn new(redactor: Redactor) -> Self {
        Self {
            redactor,
            pending: String::new(),
        }
    }

    /// Takes a chunk; returns the masked text that is safe to show now (possibly empty).
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        // Held back: only an end that could be the start of a secret (output ending in a newline
        // or in text no secret starts with is shown at once).
        let mut cut = self.redactor.partial_start(&self.pending);
        // A secret found whole before the cut may end after it: emit through its end.
        for r in self.redactor.find(&self.pending) {
            if r.start < cut && r.end > cut {
                cut = r.end;
            }
        }
        let rest = self.pending.split_off(cut);
        let ready = std::mem::replace(&mut self.pending, rest);
        self.redactor.redact_prefix(&ready, &self.pending)
    }

    /// The rest of the stream, masked.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.redactor.redact(&rest)
    }
}

impl Redactor {
    /// Where the longest end of `text` that is the beginning of a registered form starts
    /// (`text.len()` when none): the part a stream must hold back.
    fn partial_start(&self, text: &str) -> usize {
        let Ok(k) = self.known.read() else {
            return text.len();
        };
        let from = text.len().saturating_sub(k.max_len.saturating_sub(1));
        (from..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .find(|&i| {
                let end = &text.as_bytes()[i..];
                k.forms.iter().any(|f| f.as_bytes().starts_with(end))
            })
            .unwrap_or(text.len())
    }

    /// Masks `head`, knowing that `tail` follows it (so a short secret at the end of `head` is
    /// only a whole token when `tail` does not continue it).
    fn redact_prefix(&self, head: &str, tail: &str) -> String {
        let joined = format!("{head}{tail}");
        let mut out = String::with_capacity(head.len());
        let mut last = 0;
        for r in self.find(&joined) {
            if r.start >= head.len() {
                break;
            }
            out.push_str(&head[last..r.start]);
            out.push_str(MASK);
            last = r.end.min(head.len());
        }
        out.push_str(&head[last..]);
        out
    }
}

/// Variable names that look like they hold secrets; their values are masked in all output.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "private_key_passphrase",
        "vault_pass",
    ]
    .iter()
    .any(|w| n.contains(w))
        && !n.ends_with("_file")
}

/// Ansible's boolean words (`boolean()` in module_utils/parsing/convert_bool.py), in any case.
fn is_flag_word(s: &str) -> bool {
    [
        "true", "false", "yes", "no", "on", "off", "y", "n", "t", "f",
    ]
    .iter()
    .any(|w| s.eq_ignore_ascii_case(w))
}

/// Percent-encodes everything but RFC 3986's unreserved characters (how a secret looks in a URL).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

    #[test]
    fn flags_named_after_passwords_are_not_secrets() {
        let r = Redactor::default();
        let vars = serde_json::json!({"no_password_changes": "True", "db_password": "s3cr3t!"});
        r.add_named(&vars, &|_| false);
        assert_eq!(
            r.redact("explicit encrypted=True, s3cr3t!"),
            "explicit encrypted=True, ********"
        );
    }

    #[test]
    fn short_secrets_are_masked_as_whole_tokens_only() {
        let r = Redactor::default();
        r.add("7");
        r.add("ab");
        assert_eq!(
            r.redact("pin 7, rc=17, ab cab ab."),
            "pin ********, rc=17, ******** cab ********."
        );
    }

    #[test]
    fn encodings_numbers_keys_and_nesting_are_masked() {
        let r = Redactor::default();
        r.add("p@ss w/rd");
        r.add_value(&serde_json::json!(123456));
        assert_eq!(r.redact("u:p%40ss%20w%2Frd@h"), "u:********@h");
        assert_eq!(r.redact("Basic cEBzcyB3L3Jk"), "Basic ********");
        let mut j = serde_json::json!({"n": 123456, "123456": "x", "l": [1234567, 99]});
        r.redact_json(&mut j);
        assert_eq!(
            j,
            serde_json::json!({"n": "********", "********": "x", "l": ["********", 99]})
        );

        let r = Redactor::default();
        let vars = serde_json::json!({"users": [{"name": "bob", "password": 4711}],
            "db_password": "{{ x }}", "token": {"a": "nested-secret"}});
        r.add_named(&vars, &|s: &str| s.contains("{{"));
        assert_eq!(
            r.redact("bob 4711 nested-secret {{ x }}"),
            "bob ******** ******** {{ x }}"
        );
    }

    #[test]
    fn a_secret_split_across_chunks_is_masked() {
        let r = Redactor::default();
        r.add("SECRETXYZ");
        let mut s = StreamRedactor::new(r.clone());
        let mut out = String::new();
        for chunk in [
            "line one SEC",
            "RET",
            "XYZ tail\nand ",
            "more SECRETX",
            "YZ",
        ] {
            out.push_str(&s.push(chunk));
        }
        out.push_str(&s.finish());
        assert_eq!(out, "line one ******** tail\nand more ********");
        // Output that cannot start a secret is not held back.
        assert_eq!(s.push("start\n"), "start\n");
        assert_eq!(s.push("xx SEC"), "xx ");
        assert_eq!(s.push("OND\n"), "SECOND\n");
        // A 1-character secret: masked at once (as a token), nothing to hold back.
        let r = Redactor::default();
        r.add("7");
        let mut s = StreamRedactor::new(r);
        assert_eq!(s.push("rc 7\n"), "rc ********\n");
        // Nothing registered: chunks pass straight through.
        let mut s = StreamRedactor::new(Redactor::default());
        assert_eq!(s.push("abc"), "abc");
    }
}
