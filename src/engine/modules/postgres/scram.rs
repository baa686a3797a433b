//! Role passwords: SCRAM-SHA-256 verifiers computed here (the password never reaches the
//! server), and checking a stored verifier against a password.

use base64::Engine as _;

/// Whether `stored` (pg_authid.rolpassword) is the verifier of `password`, without sending it anywhere.
pub fn password_matches(stored: &str, password: &str, role: &str) -> bool {
    if let Some(rest) = stored.strip_prefix("SCRAM-SHA-256$") {
        let Some((iter_salt, keys)) = rest.split_once('$') else {
            return false;
        };
        let Some((iter, salt)) = iter_salt.split_once(':') else {
            return false;
        };
        let Some((stored_key, server_key)) = keys.split_once(':') else {
            return false;
        };
        let (Ok(iter), Ok(salt)) = (
            iter.parse::<u32>(),
            base64::engine::general_purpose::STANDARD.decode(salt),
        ) else {
            return false;
        };
        let (sk, svk) = scram_keys(password, &salt, iter);
        let b64 = base64::engine::general_purpose::STANDARD;
        return b64.encode(sk) == stored_key && b64.encode(svk) == server_key;
    }
    if let Some(hash) = stored.strip_prefix("md5") {
        return md5_hex(&format!("{password}{role}")) == hash;
    }
    !stored.is_empty() && stored == password
}

fn scram_keys(password: &str, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    use hmac::{KeyInit, Mac};
    use sha2::Digest;
    type HmacSha256 = hmac::Hmac<sha2::Sha256>;
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let mac = |key: &[u8], msg: &[u8]| -> [u8; 32] {
        let mut m =
            <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
        m.update(msg);
        m.finalize().into_bytes().into()
    };
    let client_key = mac(&salted, b"Client Key");
    let stored_key: [u8; 32] = sha2::Sha256::digest(client_key).into();
    let server_key = mac(&salted, b"Server Key");
    (stored_key, server_key)
}

/// A SCRAM-SHA-256 verifier as PostgreSQL stores it, for a fresh random salt.
pub fn scram_verifier(password: &str) -> String {
    use rand::RngExt;
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let iterations = 4096;
    let (sk, svk) = scram_keys(password, &salt, iterations);
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(sk),
        b64.encode(svk)
    )
}

/// The md5 verifier PostgreSQL stores for `password` of `role` (`password_encryption = md5`).
pub fn md5_verifier(password: &str, role: &str) -> String {
    format!("md5{}", md5_hex(&format!("{password}{role}")))
}

/// MD5 (only for legacy `md5…` role passwords).
fn md5_hex(s: &str) -> String {
    hex::encode(crate::template::filters::digest::md5(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_known_vector() {
        assert_eq!(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn scram_round_trip() {
        let v = scram_verifier("s3cret-pass");
        assert!(v.starts_with("SCRAM-SHA-256$4096:"));
        assert!(password_matches(&v, "s3cret-pass", "r"));
        assert!(!password_matches(&v, "other", "r"));
    }
}
