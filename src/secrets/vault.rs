//! Ansible Vault (1.1 / 1.2, AES256) — reading and writing vault texts
//! that interoperate with `ansible-vault`.
//!
//! Format (as written by Ansible's `VaultAES256` and `format_vaulttext_envelope`):
//!
//! ```text
//! $ANSIBLE_VAULT;1.1;AES256            (or $ANSIBLE_VAULT;1.2;AES256;<vault-id>)
//! <hex( hex(salt) "\n" hex(hmac) "\n" hex(ciphertext) ), wrapped at 80 columns>
//! ```
//!
//! * key material: PBKDF2-HMAC-SHA256(password, salt, 10 000 rounds) → 80 bytes
//!   = 32-byte AES key ‖ 32-byte HMAC key ‖ 16-byte initial counter block;
//! * cipher: AES-256-CTR (128-bit big-endian counter) over the PKCS#7-padded
//!   plaintext (Ansible pads although CTR would not need it);
//! * MAC: HMAC-SHA256 over the ciphertext with the HMAC key, verified in
//!   constant time before anything is decrypted.
//!
//! Error values never contain the password or any plaintext.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};

const HEADER_MAGIC: &str = "$ANSIBLE_VAULT";
const CIPHER_NAME: &str = "AES256";
const PBKDF2_ROUNDS: u32 = 10_000;
const SALT_LEN: usize = 32;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const HMAC_LEN: usize = 32;
const BLOCK_LEN: usize = 16;
const LINE_WIDTH: usize = 80;
/// Longest piece of a header echoed back in an error message.
const MAX_ECHO: usize = 40;

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;
type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Why a vault text could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The text does not start with `$ANSIBLE_VAULT;`.
    #[error("not an Ansible Vault text (no $ANSIBLE_VAULT header)")]
    NotVault,
    /// The header names a format version other than 1.1 / 1.2.
    #[error("unsupported Ansible Vault format version {0:?} (only 1.1 and 1.2 are supported)")]
    UnsupportedVersion(String),
    /// The header names a cipher other than AES256.
    #[error("unsupported Ansible Vault cipher {0:?} (only AES256 is supported)")]
    UnsupportedCipher(String),
    /// The vault text is damaged; the message says what is wrong.
    #[error("malformed Ansible Vault data: {0}")]
    Malformed(String),
    /// The HMAC did not match: wrong password (or ciphertext altered).
    #[error("Ansible Vault HMAC verification failed: wrong vault password or altered data")]
    WrongPassword,
}

/// Whether `text` looks like an Ansible Vault text: after optional leading
/// whitespace it starts with `$ANSIBLE_VAULT;`.
pub fn is_vault(text: &str) -> bool {
    trim_leading(text).starts_with("$ANSIBLE_VAULT;")
}

/// Decrypts an Ansible Vault text (format 1.1 or 1.2, AES256).
///
/// Leading/trailing whitespace, per-line indentation (as in the body of a
/// YAML `!vault |` block scalar), CRLF line endings and blank lines are
/// tolerated. The vault id of a 1.2 header is not checked against anything.
///
/// # Errors
/// [`VaultError::NotVault`] without the header, [`VaultError::UnsupportedVersion`] /
/// [`VaultError::UnsupportedCipher`] for other formats, [`VaultError::Malformed`]
/// for damaged data and [`VaultError::WrongPassword`] when the HMAC does not match.
pub fn decrypt(text: &str, password: &[u8]) -> Result<Vec<u8>, VaultError> {
    let text = trim_leading(text);
    if !is_vault(text) {
        return Err(VaultError::NotVault);
    }
    let mut lines = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let header = lines.next().ok_or(VaultError::NotVault)?;
    check_header(header)?;

    let body: String = lines.collect();
    if body.is_empty() {
        return Err(malformed("no data after the header"));
    }
    let envelope = decode_hex(&body, "body")?;
    let mut parts = envelope.splitn(3, |&b| b == b'\n');
    let (Some(salt_hex), Some(hmac_hex), Some(ct_hex)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "decoded body does not consist of salt, HMAC and ciphertext lines",
        ));
    };
    let salt = decode_hex_bytes(salt_hex, "salt")?;
    let tag = decode_hex_bytes(hmac_hex, "HMAC")?;
    let mut data = decode_hex_bytes(ct_hex, "ciphertext")?;
    if salt.is_empty() {
        return Err(malformed("salt is empty"));
    }
    if tag.len() != HMAC_LEN {
        return Err(malformed(format!(
            "HMAC is {} bytes long, expected {HMAC_LEN}",
            tag.len()
        )));
    }
    if data.is_empty() || !data.len().is_multiple_of(BLOCK_LEN) {
        return Err(malformed(format!(
            "ciphertext length {} is not a positive multiple of {BLOCK_LEN}",
            data.len()
        )));
    }

    let keys = derive_keys(password, &salt);
    let mut mac = hmac_for(&keys.hmac_key);
    mac.update(&data);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&tag)
        .map_err(|_| VaultError::WrongPassword)?;

    let mut cipher = Aes256Ctr::new(&keys.cipher_key.into(), &keys.iv.into());
    cipher.apply_keystream(&mut data);
    let plain_len = unpadded_len(&data)
        .ok_or_else(|| malformed("invalid PKCS#7 padding after successful authentication"))?;
    data.truncate(plain_len);
    Ok(data)
}

/// Encrypts `plaintext` into an Ansible Vault text, like `ansible-vault encrypt`.
///
/// Without a vault id (or with `""` / `"default"`, as Ansible does) the header is
/// `$ANSIBLE_VAULT;1.1;AES256`, otherwise `$ANSIBLE_VAULT;1.2;AES256;<id>`.
/// Characters that would break the header (`;`, whitespace, control
/// characters) are replaced by `_` in the id. The hex body is wrapped at 80
/// columns and the text ends with a newline. A fresh random 32-byte salt is
/// drawn from the OS-seeded CSPRNG for every call.
pub fn encrypt(plaintext: &[u8], password: &[u8], vault_id: Option<&str>) -> String {
    let mut salt = [0u8; SALT_LEN];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut salt);
    encrypt_with_salt(plaintext, password, vault_id, &salt)
}

/// Reads a vault password the way Ansible's `--vault-password-file` does.
///
/// A plain file is read and stripped of surrounding whitespace (Ansible
/// applies Python's `bytes.strip()`, so besides a trailing `\n` / `\r\n` also
/// leading and trailing blanks go). If the file is executable (any `x` bit,
/// Unix only) it is run without arguments — stdin and stderr inherited, so
/// it may prompt — and its stdout, stripped of leading/trailing `\r`/`\n`,
/// is the password; a non-zero exit status is an error.
///
/// # Errors
/// I/O errors; the path is a directory; the script fails; the password is empty.
pub fn read_password_file(path: &Path) -> io::Result<Vec<u8>> {
    let with_path = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("vault password file {}: {e}", path.display()),
        )
    };
    let meta = std::fs::metadata(path).map_err(with_path)?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("vault password file {} is a directory", path.display()),
        ));
    }
    let password = if is_executable(&meta) {
        // Absolute, so that a bare file name is not looked up in $PATH.
        let script = std::path::absolute(path).map_err(with_path)?;
        let out = Command::new(&script)
            .stdin(Stdio::inherit())
            .stderr(Stdio::inherit())
            .stdout(Stdio::piped())
            .output()
            .map_err(with_path)?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "vault password script {} failed ({})",
                path.display(),
                out.status
            )));
        }
        let stdout = zeroize::Zeroizing::new(out.stdout);
        trim_bytes(&stdout, |b| b == b'\r' || b == b'\n').to_vec()
    } else {
        let content = zeroize::Zeroizing::new(std::fs::read(path).map_err(with_path)?);
        trim_bytes(&content, is_python_whitespace).to_vec()
    };
    if password.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("vault password from {} is empty", path.display()),
        ));
    }
    Ok(password)
}

// ---------------------------------------------------------------------------

struct Keys {
    cipher_key: [u8; KEY_LEN],
    hmac_key: [u8; KEY_LEN],
    iv: [u8; IV_LEN],
}

/// Key material is wiped when dropped (a write the optimiser may not remove, unlike `fill(0)`).
impl Drop for Keys {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.cipher_key.zeroize();
        self.hmac_key.zeroize();
        self.iv.zeroize();
    }
}

fn derive_keys(password: &[u8], salt: &[u8]) -> Keys {
    let mut out = [0u8; 2 * KEY_LEN + IV_LEN];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, PBKDF2_ROUNDS, &mut out);
    let mut keys = Keys {
        cipher_key: [0; KEY_LEN],
        hmac_key: [0; KEY_LEN],
        iv: [0; IV_LEN],
    };
    keys.cipher_key.copy_from_slice(&out[..KEY_LEN]);
    keys.hmac_key.copy_from_slice(&out[KEY_LEN..2 * KEY_LEN]);
    keys.iv.copy_from_slice(&out[2 * KEY_LEN..]);
    zeroize::Zeroize::zeroize(&mut out);
    keys
}

fn hmac_for(key: &[u8; KEY_LEN]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn encrypt_with_salt(
    plaintext: &[u8],
    password: &[u8],
    vault_id: Option<&str>,
    salt: &[u8],
) -> String {
    let keys = derive_keys(password, salt);

    let pad = BLOCK_LEN - plaintext.len() % BLOCK_LEN;
    let mut data = Vec::with_capacity(plaintext.len() + pad);
    data.extend_from_slice(plaintext);
    // `pad` is in 1..=16, so the cast is lossless.
    data.resize(plaintext.len() + pad, pad as u8);
    let mut cipher = Aes256Ctr::new(&keys.cipher_key.into(), &keys.iv.into());
    cipher.apply_keystream(&mut data);

    let mut mac = hmac_for(&keys.hmac_key);
    mac.update(&data);
    let tag = mac.finalize().into_bytes();

    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(tag),
        hex::encode(&data)
    );
    let body = hex::encode(inner);

    let id = vault_id.map(sanitize_vault_id).unwrap_or_default();
    let mut out = if id.is_empty() || id == "default" {
        format!("{HEADER_MAGIC};1.1;{CIPHER_NAME}\n")
    } else {
        format!("{HEADER_MAGIC};1.2;{CIPHER_NAME};{id}\n")
    };
    out.reserve(body.len() + body.len() / LINE_WIDTH + 1);
    // `body` is ASCII hex, so slicing at any byte index is on a char boundary.
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(LINE_WIDTH));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out
}

fn sanitize_vault_id(id: &str) -> String {
    id.trim()
        .chars()
        .map(|c| {
            if c == ';' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn check_header(header: &str) -> Result<(), VaultError> {
    let mut fields = header.split(';').map(str::trim);
    if fields.next() != Some(HEADER_MAGIC) {
        return Err(VaultError::NotVault);
    }
    let version = fields
        .next()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| malformed("header has no format version"))?;
    if version != "1.1" && version != "1.2" {
        return Err(VaultError::UnsupportedVersion(echo(version)));
    }
    let cipher = fields
        .next()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| malformed("header has no cipher name"))?;
    if cipher != CIPHER_NAME {
        return Err(VaultError::UnsupportedCipher(echo(cipher)));
    }
    // A 4th field (vault id) is informational only, as in Ansible.
    Ok(())
}

/// Length of the plaintext after removing valid PKCS#7 padding, if valid.
fn unpadded_len(data: &[u8]) -> Option<usize> {
    let &last = data.last()?;
    let n = usize::from(last);
    if n == 0 || n > BLOCK_LEN || n > data.len() {
        return None;
    }
    let (plain, pad) = data.split_at(data.len() - n);
    pad.iter().all(|&b| b == last).then_some(plain.len())
}

fn decode_hex(text: &str, what: &str) -> Result<Vec<u8>, VaultError> {
    decode_hex_bytes(text.as_bytes(), what)
}

/// Hex-decodes without echoing any of the input in the error.
fn decode_hex_bytes(bytes: &[u8], what: &str) -> Result<Vec<u8>, VaultError> {
    hex::decode(bytes).map_err(|e| match e {
        hex::FromHexError::InvalidHexCharacter { index, .. } => {
            malformed(format!("{what} has a non-hex character at offset {index}"))
        }
        hex::FromHexError::OddLength => {
            malformed(format!("{what} has an odd number of hex digits"))
        }
        hex::FromHexError::InvalidStringLength => {
            malformed(format!("{what} has an invalid length"))
        }
    })
}

fn malformed(msg: impl Into<String>) -> VaultError {
    VaultError::Malformed(msg.into())
}

/// A header field for an error message, cut short if long.
fn echo(field: &str) -> String {
    field.chars().take(MAX_ECHO).collect()
}

fn trim_leading(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

/// The bytes Python's `bytes.strip()` removes.
fn is_python_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn trim_bytes(bytes: &[u8], strip: impl Fn(u8) -> bool) -> &[u8] {
    let start = bytes.iter().position(|&b| !strip(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !strip(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

/// The decrypter YAML loaders call for `!vault` values: decrypts with `password` (an error at
/// the value's position without one) and registers every decrypted value with `redactor`.
pub fn make_vault_fn(
    password: Option<crate::secrets::Secret>,
    redactor: crate::secrets::Redactor,
) -> impl Fn(&str, &crate::compat::yaml::Pos) -> Result<String, crate::compat::yaml::YamlError> {
    move |text: &str, pos: &crate::compat::yaml::Pos| {
        let Some(pw) = &password else {
            return Err(crate::compat::yaml::YamlError {
                pos: pos.clone(),
                msg: "vault-encrypted value, but no vault password was given (use --vault-password-file)".into(),
            });
        };
        match decrypt(text, pw.expose().as_bytes()) {
            Ok(bytes) => {
                let bytes = zeroize::Zeroizing::new(bytes);
                let s = String::from_utf8_lossy(&bytes).into_owned();
                redactor.add(&s);
                // An encrypted file is secret as a whole: each of its values, whatever its name.
                if let Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) =
                    serde_yaml::from_str::<serde_json::Value>(&s)
                {
                    redactor.add_value(&v);
                }
                Ok(s)
            }
            Err(e) => Err(crate::compat::yaml::YamlError {
                pos: pos.clone(),
                msg: format!("cannot decrypt vault value: {e}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Non-secret test password used for all interop fixtures.
    const PW: &[u8] = b"test-vault-password";
    const PLAIN: &[u8] = b"hello from ansible-vault\n";

    // Produced by ansible-core 2.19.14:
    //   printf 'test-vault-password\n' > pw.txt
    //   printf 'hello from ansible-vault\n' > f && ansible-vault encrypt --vault-password-file pw.txt f
    const ANSIBLE_V11: &str = "\
$ANSIBLE_VAULT;1.1;AES256
32623161636466616239323634303138356565656138613133336138663032343235343963386139
3663363734393838633065643336633165656630636661650a656639353438356530303565316334
34633438333831353236353636626336393232653661633462613938393837343833336439336333
6132396461303137320a373239373932333735313137386330333631303766383531663430343232
37336239323738653036383063303261346562623863363638323932343738663564
";

    //   ansible-vault encrypt --vault-id myid@pw.txt f
    const ANSIBLE_V12: &str = "\
$ANSIBLE_VAULT;1.2;AES256;myid
62363036623634623961653939646231656535313333376133373132376565653432663235366365
6430343431326238663338616663323239313435323034650a653662653231646332663435633134
34303266653063623264366339646465623530366561613433386264383233656663336564316539
3265303536303135330a393566613738316365333537383638616433666564336539386130366562
62366266623632343837653432366532663861353935613833336263326434616461
";

    // Block-scalar contents of
    //   printf 'hello from ansible-vault\n' | ansible-vault encrypt_string \
    //       --vault-password-file pw.txt --stdin-name secret_value
    // copied with their YAML indentation.
    const ANSIBLE_STRING_V11: &str = "
          $ANSIBLE_VAULT;1.1;AES256
          32393432363135656465336132316435343561366161363766313435333631666335656535363163
          3762343437393739376263633432306363346334366462640a323432313834353961303562303133
          62636135356530336462303131356139323262616664396433663639303065636131636661323230
          3638386435643062300a666665386135356462666331306565323332636364633163633832323464
          33376466656366346635356466666538633638313266346265356333373332623961
";

    // Same with --vault-id myid@pw.txt.
    const ANSIBLE_STRING_V12: &str = "
          $ANSIBLE_VAULT;1.2;AES256;myid
          31366562626538363163346230343138353835363830373065313865373532633263663739353736
          3332313037663833333564643065663533363431643962380a633833643234373934616264336162
          66316637383239663163353433633964666433646134653034623435386231633365366637303766
          3839616231346636380a373434623261353632663563396532373639383433386463623663633561
          33303266343836633531336533356661333737356263363665353162656137346532
";

    // A 349-byte, non-ASCII, multi-block plaintext (see `long_plaintext`),
    // encrypted with ansible-vault encrypt --vault-id myid@pw.txt.
    const ANSIBLE_LONG_V12: &str = "\
$ANSIBLE_VAULT;1.2;AES256;myid
31356365626639383232366333653039393835616265363161383566303637633738383864666563
6365623763343739636361653736613632623538616461380a313262613733633633643962613936
37633732363733313764336531643433646365636238336564323136323361333362376466356438
3636646263303036640a653732396164663162373862616236396232396165303431626635306334
65656466316238656462353232353666613166356334396235393763336231326661356134376566
62636436353936643163363234643233303861396336366636636332636438303961366139333731
35623035633535393135333630643065333137616637396636393632656137633531326463383233
33386166633364316132376332383031366534373734626231366363363064666365353566626465
38333831653631613439396434646535363361333532393664366536646631373265633132653362
32313036336565323233633561303837646666303534633838323333376539366533366234373433
39623063643238373365346532616337613232633135376331636164643033343636386563363363
61663032613732633739383965323963373531383039353831326266343133363339313739323330
65346465323833663130633834346364623833383634643139633139656266636438326134363362
30396537313534323233656237643164336535346533313863306230656639333531373761663865
63353433633737366564346137633339376637623965626533633830343432373636353166393537
30626239633665396130663061653966616138656138393239366665303664326136363764363866
30306139373339363534363466363138623133373332333630623537343963333863343961653566
39613037363332383866346130316166323333636163316130376564646138303763313731656632
35663264306263373834643661346430383334383563323332333037356165353730653731383535
62646130653161663933316334653531623232616537373436613531633534373734393164623533
62343738383038343330373539346666616534303932643062663338643432303337
";

    fn long_plaintext() -> Vec<u8> {
        let mut s = String::new();
        for i in 1..=3 {
            s.push_str(&format!("line {i}: grüße "));
        }
        s.push('\n');
        s.push_str(&"x".repeat(300));
        s.into_bytes()
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// The salt stored in a vault text (to re-encrypt deterministically).
    fn salt_of(text: &str) -> Vec<u8> {
        let body: String = text.lines().skip(1).map(str::trim).collect();
        let inner = hex::decode(body).unwrap();
        let salt_hex = inner.split(|&b| b == b'\n').next().unwrap();
        hex::decode(salt_hex).unwrap()
    }

    /// Re-wraps the body of a vault text (to build damaged variants).
    fn with_body(header: &str, body: &str) -> String {
        let mut out = format!("{header}\n");
        for chunk in body.as_bytes().chunks(LINE_WIDTH) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push('\n');
        }
        out
    }

    fn assert_no_secret(err: &VaultError) {
        let msg = format!("{err} {err:?}");
        assert!(!msg.contains("test-vault-password"), "{msg}");
        assert!(!msg.contains("hello"), "{msg}");
    }

    #[test]
    fn round_trip_sizes_with_and_without_id() {
        for len in [0, 1, 15, 16, 17, 1000] {
            let plain = sample(len);
            for id in [None, Some("myid")] {
                let text = encrypt(&plain, PW, id);
                assert!(is_vault(&text));
                assert_eq!(decrypt(&text, PW).unwrap(), plain, "len {len} id {id:?}");
            }
        }
    }

    #[test]
    fn header_and_wrapping_match_ansible_layout() {
        let text = encrypt(&sample(1000), PW, None);
        assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
        let lines: Vec<&str> = text.lines().skip(1).collect();
        let (last, full) = lines.split_last().unwrap();
        assert!(full.iter().all(|l| l.len() == LINE_WIDTH));
        assert!(!last.is_empty() && last.len() <= LINE_WIDTH);
        assert!(lines.iter().all(|l| {
            l.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }));

        let text = encrypt(b"x", PW, Some("myid"));
        assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;myid\n"));
    }

    #[test]
    fn vault_id_edge_cases() {
        // Like Ansible: no/empty/"default" id → 1.1.
        for id in [Some(""), Some("  "), Some("default")] {
            assert!(encrypt(b"x", PW, id).starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        }
        let text = encrypt(b"x", PW, Some("a;b c\nd"));
        assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;a_b_c_d\n"));
        assert_eq!(decrypt(&text, PW).unwrap(), b"x");
    }

    #[test]
    fn fresh_salt_per_encryption() {
        let a = encrypt(PLAIN, PW, None);
        let b = encrypt(PLAIN, PW, None);
        assert_ne!(a, b);
        assert_eq!(salt_of(&a).len(), SALT_LEN);
    }

    #[test]
    fn decrypts_ansible_vault_files() {
        assert_eq!(decrypt(ANSIBLE_V11, PW).unwrap(), PLAIN);
        assert_eq!(decrypt(ANSIBLE_V12, PW).unwrap(), PLAIN);
        assert_eq!(decrypt(ANSIBLE_LONG_V12, PW).unwrap(), long_plaintext());
    }

    #[test]
    fn decrypts_ansible_encrypt_string_block_scalars() {
        assert!(is_vault(ANSIBLE_STRING_V11));
        assert_eq!(decrypt(ANSIBLE_STRING_V11, PW).unwrap(), PLAIN);
        assert_eq!(decrypt(ANSIBLE_STRING_V12, PW).unwrap(), PLAIN);
    }

    #[test]
    fn tolerates_crlf_tabs_and_blank_lines() {
        let crlf = ANSIBLE_V11.replace('\n', "\r\n");
        assert_eq!(decrypt(&crlf, PW).unwrap(), PLAIN);
        let crlf = ANSIBLE_STRING_V12.replace('\n', "\r\n");
        assert_eq!(decrypt(&crlf, PW).unwrap(), PLAIN);
        let messy = format!("\n\t {}\n\n  \n", ANSIBLE_V12.replace('\n', "\n\t\n  "));
        assert_eq!(decrypt(&messy, PW).unwrap(), PLAIN);
        let no_final_newline = ANSIBLE_V11.trim_end();
        assert_eq!(decrypt(no_final_newline, PW).unwrap(), PLAIN);
    }

    #[test]
    fn reencrypting_with_ansibles_salt_reproduces_ansibles_text() {
        let salt = salt_of(ANSIBLE_V11);
        assert_eq!(encrypt_with_salt(PLAIN, PW, None, &salt), ANSIBLE_V11);
        let salt = salt_of(ANSIBLE_V12);
        assert_eq!(
            encrypt_with_salt(PLAIN, PW, Some("myid"), &salt),
            ANSIBLE_V12
        );
        let salt = salt_of(ANSIBLE_LONG_V12);
        assert_eq!(
            encrypt_with_salt(&long_plaintext(), PW, Some("myid"), &salt),
            ANSIBLE_LONG_V12
        );
    }

    #[test]
    fn wrong_password() {
        for text in [ANSIBLE_V11, ANSIBLE_STRING_V12, &encrypt(PLAIN, PW, None)] {
            let err = decrypt(text, b"not-the-password").unwrap_err();
            assert!(matches!(err, VaultError::WrongPassword), "{err:?}");
            assert_no_secret(&err);
        }
        let err = decrypt(ANSIBLE_V11, b"").unwrap_err();
        assert!(matches!(err, VaultError::WrongPassword), "{err:?}");
    }

    #[test]
    fn altered_ciphertext_fails_authentication() {
        let body: String = ANSIBLE_V11.lines().skip(1).collect();
        let mut inner = hex::decode(&body).unwrap();
        let last = inner.len() - 1;
        inner[last] = if inner[last] == b'0' { b'1' } else { b'0' };
        let text = with_body("$ANSIBLE_VAULT;1.1;AES256", &hex::encode(inner));
        let err = decrypt(&text, PW).unwrap_err();
        assert!(matches!(err, VaultError::WrongPassword), "{err:?}");
    }

    #[test]
    fn not_vault() {
        for text in [
            "",
            "   \n",
            "hello from ansible-vault\n",
            "secret_value: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3132\n",
            "$ANSIBLE_VAULT\n",
            "$ANSIBLE_VAULTX;1.1;AES256\n00\n",
        ] {
            assert!(!is_vault(text), "{text:?}");
            let err = decrypt(text, PW).unwrap_err();
            assert!(matches!(err, VaultError::NotVault), "{text:?}: {err:?}");
        }
        assert!(is_vault("  \r\n\t$ANSIBLE_VAULT;1.1;AES256"));
    }

    #[test]
    fn unsupported_version_and_cipher() {
        let body: String = ANSIBLE_V11.lines().skip(1).collect();
        let err = decrypt(&with_body("$ANSIBLE_VAULT;1.1;AES", &body), PW).unwrap_err();
        assert!(
            matches!(&err, VaultError::UnsupportedCipher(c) if c == "AES"),
            "{err:?}"
        );
        let err = decrypt(&with_body("$ANSIBLE_VAULT;1.0;AES256", &body), PW).unwrap_err();
        assert!(
            matches!(&err, VaultError::UnsupportedVersion(v) if v == "1.0"),
            "{err:?}"
        );
        // A 1.1 header with an extra id field and a 1.2 header without one are accepted.
        assert_eq!(
            decrypt(&with_body("$ANSIBLE_VAULT;1.1;AES256;x", &body), PW).unwrap(),
            PLAIN
        );
        assert_eq!(
            decrypt(&with_body("$ANSIBLE_VAULT;1.2;AES256", &body), PW).unwrap(),
            PLAIN
        );
    }

    #[test]
    fn malformed_inputs() {
        let header = "$ANSIBLE_VAULT;1.1;AES256";
        let body: String = ANSIBLE_V11.lines().skip(1).collect();
        let inner = String::from_utf8(hex::decode(&body).unwrap()).unwrap();
        let parts: Vec<&str> = inner.split('\n').collect();
        let mut cases: Vec<(&str, String)> = vec![
            ("header only", format!("{header}\n")),
            ("no cipher", format!("$ANSIBLE_VAULT;1.1\n{body}\n")),
            ("no version", format!("$ANSIBLE_VAULT;\n{body}\n")),
            ("odd length", with_body(header, &body[..body.len() - 1])),
            ("non-hex", with_body(header, &body.replacen('3', "z", 1))),
            ("truncated by a line", {
                let lines: Vec<&str> = ANSIBLE_V11.lines().collect();
                lines[..lines.len() - 1].join("\n")
            }),
            (
                "truncated to 2 lines",
                ANSIBLE_V11.lines().take(3).collect::<Vec<_>>().join("\n"),
            ),
            ("one part", with_body(header, &hex::encode(parts[0]))),
            (
                "two parts",
                with_body(header, &hex::encode(format!("{}\n{}", parts[0], parts[1]))),
            ),
            (
                "empty salt",
                with_body(
                    header,
                    &hex::encode(format!("\n{}\n{}", parts[1], parts[2])),
                ),
            ),
            (
                "short hmac",
                with_body(
                    header,
                    &hex::encode(format!("{}\n{}\n{}", parts[0], &parts[1][2..], parts[2])),
                ),
            ),
            (
                "hmac not hex",
                with_body(
                    header,
                    &hex::encode(format!("{}\nzz{}\n{}", parts[0], &parts[1][2..], parts[2])),
                ),
            ),
            (
                "empty ciphertext",
                with_body(
                    header,
                    &hex::encode(format!("{}\n{}\n", parts[0], parts[1])),
                ),
            ),
            (
                "ciphertext not block-sized",
                with_body(
                    header,
                    &hex::encode(format!("{}\n{}\n{}", parts[0], parts[1], &parts[2][2..])),
                ),
            ),
            (
                "extra newline",
                with_body(
                    header,
                    &hex::encode(format!("{}\n{}\n{}\n", parts[0], parts[1], parts[2])),
                ),
            ),
        ];
        // Authentic ciphertext with broken padding: padding byte 0.
        {
            let keys = derive_keys(PW, b"salt");
            let mut data = vec![0u8; 16];
            Aes256Ctr::new(&keys.cipher_key.into(), &keys.iv.into()).apply_keystream(&mut data);
            let mut mac = hmac_for(&keys.hmac_key);
            mac.update(&data);
            let tag = mac.finalize().into_bytes();
            let inner = format!(
                "{}\n{}\n{}",
                hex::encode(b"salt"),
                hex::encode(tag),
                hex::encode(&data)
            );
            cases.push(("bad padding", with_body(header, &hex::encode(inner))));
        }
        for (what, text) in &cases {
            let err = decrypt(text, PW).unwrap_err();
            assert!(matches!(err, VaultError::Malformed(_)), "{what}: {err:?}");
            assert_no_secret(&err);
        }
    }

    #[test]
    fn padding_check() {
        assert_eq!(unpadded_len(&[1; 16]), Some(15));
        assert_eq!(unpadded_len(&[16; 16]), Some(0));
        assert_eq!(unpadded_len(&[0; 16]), None);
        assert_eq!(unpadded_len(&[17; 16]), None);
        let mut block = [2u8; 16];
        block[14] = 3;
        assert_eq!(unpadded_len(&block), None);
        assert_eq!(unpadded_len(&[]), None);
    }

    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "vault-test-{}-{tag}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn password_file_is_stripped_like_ansible() {
        let dir = TempDir::new("pwfile");
        let path = dir.0.join("pw");
        for content in [
            &b"test-vault-password"[..],
            b"test-vault-password\n",
            b"test-vault-password\r\n",
            b"  test-vault-password \t\n\n",
        ] {
            std::fs::write(&path, content).unwrap();
            assert_eq!(read_password_file(&path).unwrap(), PW, "{content:?}");
        }
        // Inner whitespace is kept.
        std::fs::write(&path, "pass word\n").unwrap();
        assert_eq!(read_password_file(&path).unwrap(), b"pass word");

        std::fs::write(&path, " \r\n").unwrap();
        assert_eq!(
            read_password_file(&path).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(read_password_file(&dir.0).is_err());
        assert_eq!(
            read_password_file(&dir.0.join("missing"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }

    /// `read_password_file` on a freshly written script; retries on ETXTBSY,
    /// which a concurrent fork elsewhere in the test binary can cause.
    #[cfg(unix)]
    fn run_script(path: &Path) -> io::Result<Vec<u8>> {
        for _ in 0..50 {
            match read_password_file(path) {
                Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
        read_password_file(path)
    }

    #[cfg(unix)]
    #[test]
    fn executable_password_file_is_run() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("pwscript");
        let script = dir.0.join("pw.sh");
        // Only \r and \n are stripped from script output (as Ansible does).
        std::fs::write(&script, "#!/bin/sh\nprintf ' test-vault-password\\r\\n'\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(run_script(&script).unwrap(), b" test-vault-password");

        let failing = dir.0.join("fail.sh");
        std::fs::write(&failing, "#!/bin/sh\necho test-vault-password\nexit 3\n").unwrap();
        std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = run_script(&failing).unwrap_err();
        assert!(!err.to_string().contains("test-vault-password"), "{err}");

        let empty = dir.0.join("empty.sh");
        std::fs::write(&empty, "#!/bin/sh\necho\n").unwrap();
        std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            run_script(&empty).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
