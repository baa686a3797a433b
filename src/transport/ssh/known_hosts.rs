//! known_hosts: reading, lookup, recording, and the host-key check of the russh handler.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::{self, HashAlg, PublicKey};

use crate::transport::TransportError;

use super::Shared;
use super::config::patterns_match;
use super::params::{StrictHostKeyChecking, home_dir};

pub(super) fn default_known_hosts() -> PathBuf {
    home_dir()
        .unwrap_or_else(|| PathBuf::from("/"))
        .join(".ssh")
        .join("known_hosts")
}

pub(super) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// russh callbacks: host key verification and disconnect bookkeeping.
pub(super) struct Client {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) label: String,
    pub(super) known_hosts: PathBuf,
    pub(super) strict: StrictHostKeyChecking,
    /// See [`SshParams::approved_host_key`](super::SshParams::approved_host_key).
    pub(super) approved: Option<String>,
    /// The precise reason a host key was refused (russh only gets a bool back).
    pub(super) rejection: Arc<Mutex<Option<TransportError>>>,
    pub(super) fingerprint: Arc<Mutex<Option<String>>>,
    pub(super) shared: Arc<Shared>,
}

/// Serializes known_hosts updates within this process (parallel connects with accept-new).
static KNOWN_HOSTS_LOCK: Mutex<()> = Mutex::new(());

enum KnownHost {
    Match,
    Unknown,
    /// 1-based line number in the file, and the fingerprint recorded there.
    Changed {
        line: usize,
        expected: String,
    },
    /// The key is on a `@revoked` line (1-based line number): never accepted, never learned.
    Revoked {
        line: usize,
    },
}

/// The marker a known_hosts line may start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// One usable line of a known_hosts file.
#[derive(Debug)]
struct KnownHostLine {
    /// 1-based, counting every line (comments and blank ones too), as an editor shows it.
    line: usize,
    marker: Marker,
    /// Comma-separated patterns: names, `[name]:port`, `*`/`?` wildcards, `!` negations and
    /// hashed `|1|salt|hash` entries.
    hosts: String,
    key: PublicKey,
}

/// Parses known_hosts as OpenSSH does: fields separated by any run of spaces or tabs, an
/// optional `@revoked`/`@cert-authority` marker, lines that cannot be parsed skipped (so one
/// bad line does not make every host unknown). A missing file has no entries.
fn read_known_hosts(path: &Path) -> Result<Vec<KnownHostLine>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let text = String::from_utf8_lossy(&bytes);
    Ok(parse_known_hosts(&text, path))
}

fn parse_known_hosts(text: &str, path: &Path) -> Vec<KnownHostLine> {
    let mut entries = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let marker = if first.starts_with('@') {
            let m = match first.to_ascii_lowercase().as_str() {
                "@revoked" => Marker::Revoked,
                "@cert-authority" => Marker::CertAuthority,
                other => {
                    tracing::debug!(
                        "{}:{}: unknown marker {other}; line skipped",
                        path.display(),
                        idx + 1
                    );
                    continue;
                }
            };
            first = fields.next().unwrap_or_default();
            m
        } else {
            Marker::None
        };
        let (Some(_kind), Some(blob)) = (fields.next(), fields.next()) else {
            tracing::debug!("{}:{}: incomplete line skipped", path.display(), idx + 1);
            continue;
        };
        match keys::parse_public_key_base64(blob) {
            Ok(key) => entries.push(KnownHostLine {
                line: idx + 1,
                marker,
                hosts: first.to_string(),
                key,
            }),
            Err(e) => tracing::debug!(
                "{}:{}: key not readable ({e}); line skipped",
                path.display(),
                idx + 1
            ),
        }
    }
    entries
}

/// `host` as known_hosts names it: lower-cased (OpenSSH does so before any lookup or record),
/// `[host]:port` when the port is not 22.
fn known_hosts_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// Whether a line's host patterns name `name` (as from [`known_hosts_name`]): any pattern
/// matches and no negated one does.
fn known_hosts_patterns_match(patterns: &str, name: &str) -> bool {
    patterns_match(patterns.split(',').filter(|p| !p.is_empty()), name, true)
}

/// `salt|hash` of a hashed entry (`ssh-keygen -H`): HMAC-SHA1 of the name keyed by the salt.
pub(super) fn hashed_host_matches(salt_hash: &str, name: &str) -> bool {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = salt_hash.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
        return false;
    };
    let Ok(mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// The keys recorded for `host:port` (not revoked ones, not CA keys), with their line numbers.
pub(super) fn known_host_keys(
    host: &str,
    port: u16,
    path: &Path,
) -> Result<Vec<(usize, PublicKey)>, String> {
    let name = known_hosts_name(host, port);
    Ok(read_known_hosts(path)?
        .into_iter()
        .filter(|e| e.marker == Marker::None && known_hosts_patterns_match(&e.hosts, &name))
        .map(|e| (e.line, e.key))
        .collect())
}

/// Looks `key` up in a known_hosts file: a `@revoked` line with this key refuses it whatever
/// its host patterns (OpenSSH: "must not ever be accepted"); otherwise any line of this host
/// with this key accepts it, and a line of this host with another key of the same type means
/// the key changed.
fn lookup_known_host(
    host: &str,
    port: u16,
    key: &PublicKey,
    path: &Path,
) -> Result<KnownHost, String> {
    let entries = read_known_hosts(path)?;
    if let Some(e) = entries
        .iter()
        .find(|e| e.marker == Marker::Revoked && e.key.key_data() == key.key_data())
    {
        return Ok(KnownHost::Revoked { line: e.line });
    }
    let name = known_hosts_name(host, port);
    let mine: Vec<&KnownHostLine> = entries
        .iter()
        .filter(|e| e.marker == Marker::None && known_hosts_patterns_match(&e.hosts, &name))
        .collect();
    if mine.iter().any(|e| e.key.key_data() == key.key_data()) {
        return Ok(KnownHost::Match);
    }
    match mine.iter().find(|e| e.key.algorithm() == key.algorithm()) {
        Some(e) => Ok(KnownHost::Changed {
            line: e.line,
            expected: fingerprint(&e.key),
        }),
        None => Ok(KnownHost::Unknown),
    }
}

/// Appends the key to known_hosts, creating the directory (0700) and file (0600) if needed.
fn learn_known_host(host: &str, port: u16, key: &PublicKey, path: &Path) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let _guard = KNOWN_HOSTS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // Another connection may have recorded it meanwhile; a revoked key is never learned.
    match lookup_known_host(host, port, key, path)? {
        KnownHost::Match => return Ok(()),
        KnownHost::Revoked { line } => {
            return Err(format!(
                "the host key is revoked in {}:{line}; not recorded",
                path.display()
            ));
        }
        KnownHost::Unknown | KnownHost::Changed { .. } => {}
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let entry = key
        .to_openssh()
        .map_err(|e| format!("cannot encode the host key: {e}"))?;
    // A file whose last line has no newline gets one first, so the entry is a line of its own.
    let needs_newline = std::fs::read(path)
        .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
        .unwrap_or(false);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let line = format!(
        "{}{} {entry}\n",
        if needs_newline { "\n" } else { "" },
        known_hosts_name(host, port)
    );
    file.write_all(line.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = server_public_key.public_key();
        let offered = fingerprint(&key);
        if let Ok(mut fp) = self.fingerprint.lock() {
            *fp = Some(offered.clone());
        }
        if self.strict == StrictHostKeyChecking::No {
            tracing::debug!(host = %self.label, %offered, "host key accepted without checking");
            return Ok(true);
        }
        let path = self.known_hosts.clone();
        let rejection = match lookup_known_host(&self.host, self.port, &key, &path) {
            Ok(KnownHost::Match) => return Ok(true),
            Ok(KnownHost::Unknown)
                if self.strict == StrictHostKeyChecking::AcceptNew
                    && self.approved.as_ref().is_some_and(|a| *a != offered) =>
            {
                TransportError::Unreachable {
                    reason: format!(
                        "the host key of {} is not the one approved: {} was shown and trusted, \
                         the host now offers {offered}; nothing recorded in {} (test the \
                         connection again and compare the new key)",
                        self.label,
                        self.approved.as_deref().unwrap_or_default(),
                        path.display()
                    ),
                }
            }
            Ok(KnownHost::Unknown) if self.strict == StrictHostKeyChecking::AcceptNew => {
                match learn_known_host(&self.host, self.port, &key, &path) {
                    Ok(()) => {
                        tracing::info!(
                            host = %self.label, %offered, path = %path.display(),
                            "new host key recorded"
                        );
                        return Ok(true);
                    }
                    Err(e) => TransportError::Other(e),
                }
            }
            Ok(KnownHost::Unknown) => TransportError::HostKeyUnknown {
                host: self.label.clone(),
                fingerprint: offered,
            },
            Ok(KnownHost::Revoked { line }) => TransportError::Unreachable {
                reason: format!(
                    "the host key of {} ({offered}) is REVOKED in {}:{line}; refusing to connect",
                    self.label,
                    path.display()
                ),
            },
            Ok(KnownHost::Changed { line, expected }) => TransportError::HostKeyMismatch {
                host: self.label.clone(),
                path: path.display().to_string(),
                line,
                expected,
                offered,
            },
            Err(e) => TransportError::Other(format!(
                "cannot check the host key of {} against {}: {e}",
                self.label,
                path.display()
            )),
        };
        if let Ok(mut r) = self.rejection.lock() {
            *r = Some(rejection);
        }
        Ok(false)
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let (text, result) = match reason {
            client::DisconnectReason::ReceivedDisconnect(info) => (
                format!("the server closed the connection ({})", info.message),
                Ok(()),
            ),
            client::DisconnectReason::Error(e) => (e.to_string(), Err(e)),
        };
        if !self.shared.closed_by_us.load(Ordering::SeqCst) {
            tracing::debug!(host = %self.label, reason = %text, "SSH connection ended");
        }
        if let Ok(mut r) = self.shared.lost_reason.lock()
            && r.is_none()
        {
            *r = Some(text);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_line_numbers_count_comments() {
        let path = Path::new("kh");
        let text = format!("# one\nhost1 {KEY_A}\n# two\n#three\nhost2 {KEY_A}\n");
        let lines: Vec<usize> = parse_known_hosts(&text, path)
            .iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(lines, [2, 5]);
    }

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEYvmT7aM9NsRTdGCqZfQPCfgQIwZebfSIuUv6epV87Y";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIa+OBzqkMa1AYOc0Ox+CBW0UyQabn+7QikF5o/MpLDx";

    fn key(entry: &str) -> PublicKey {
        keys::parse_public_key_base64(entry.split(' ').nth(1).unwrap()).unwrap()
    }

    fn lookup(text: &str, host: &str, port: u16, k: &str) -> KnownHost {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, text).unwrap();
        lookup_known_host(host, port, &key(k), &path).unwrap()
    }

    #[test]
    fn known_hosts_fields_split_on_any_blanks() {
        let tabs = KEY_A.replace(' ', "\t \t");
        for text in [
            format!("db1  {}\n", KEY_A.replace(' ', "   ")),
            format!("db1\t{tabs}  a comment\n"),
            format!("  db1 {KEY_A}\n"),
        ] {
            assert!(
                matches!(lookup(&text, "db1", 22, KEY_A), KnownHost::Match),
                "{text:?}"
            );
            assert!(
                matches!(
                    lookup(&text, "db1", 22, KEY_B),
                    KnownHost::Changed { line: 1, .. }
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn known_hosts_names_are_case_insensitive() {
        let text = format!("DB1.Example.COM {KEY_A}\n[Db2.example.com]:2222 {KEY_A}\n");
        assert!(matches!(
            lookup(&text, "db1.example.com", 22, KEY_A),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "DB2.EXAMPLE.COM", 2222, KEY_A),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "db2.example.com", 22, KEY_A),
            KnownHost::Unknown
        ));
        // Learned entries are written lower-cased.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        std::fs::write(&path, format!("other {KEY_B}")).unwrap();
        learn_known_host("DB3.Example.com", 2200, &key(KEY_A), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().nth(1).unwrap(),
            format!("[db3.example.com]:2200 {KEY_A}")
        );
    }

    #[test]
    fn known_hosts_hashed_wildcard_and_negated_patterns() {
        // From `ssh-keygen -H`: db1.example.com and [db2.example.com]:2222.
        let text = format!(
            "|1|NSkvDk5arIbsIP3qmi9HpTCurqo=|j4hhpwK1DSImWQoPZ2YU+zX76ao= {KEY_A}\n\
             |1|G3NN/bjUQFH3JFQJlJaTLwUZfhI=|z8BjTQ7nxX/tkyawu0STUo0C/x4= {KEY_A}\n\
             *.lan,!bad.lan {KEY_B}\n"
        );
        assert!(matches!(
            lookup(&text, "DB1.example.com", 22, KEY_A),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "db2.example.com", 2222, KEY_A),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "db2.example.com", 22, KEY_A),
            KnownHost::Unknown
        ));
        assert!(matches!(
            lookup(&text, "pg.lan", 22, KEY_B),
            KnownHost::Match
        ));
        assert!(matches!(
            lookup(&text, "bad.lan", 22, KEY_B),
            KnownHost::Unknown
        ));
    }

    #[test]
    fn known_hosts_revoked_keys_are_refused_and_never_learned() {
        let text = format!("# revoked below\n@revoked * {KEY_A}\ndb1 {KEY_B}\n");
        assert!(matches!(
            lookup(&text, "db9", 22, KEY_A),
            KnownHost::Revoked { line: 2 }
        ));
        // Even a host that also lists the key as its own.
        let listed = format!("db1 {KEY_A}\n@REVOKED db1 {KEY_A}\n");
        assert!(matches!(
            lookup(&listed, "db1", 22, KEY_A),
            KnownHost::Revoked { line: 2 }
        ));
        // The revoked line is not a key of the host: db1's own key is still fine.
        assert!(matches!(lookup(&text, "db1", 22, KEY_B), KnownHost::Match));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        std::fs::write(&path, &text).unwrap();
        let err = learn_known_host("db9", 22, &key(KEY_A), &path).unwrap_err();
        assert!(err.contains("revoked") && err.contains(":2"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // CA lines and bad lines are no host keys; the lines after them still count.
        let text =
            format!("@cert-authority db1 {KEY_A}\ndb1 ssh-ed25519 !!notbase64\ndb1 {KEY_B}\n");
        assert!(matches!(
            lookup(&text, "db1", 22, KEY_A),
            KnownHost::Changed { line: 3, .. }
        ));
    }
}
