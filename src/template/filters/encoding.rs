//! Encodings and digests: `b64encode`/`b64decode`, `hash`, `md5`, `sha1`/`checksum`
//! (the digests are the RustCrypto crates').

use std::fmt::Write as _;

use base64::Engine as _;

use super::*;

fn encode_text(what: &str, text: &str, encoding: &str) -> Res<Vec<u8>> {
    let enc = encoding.to_ascii_lowercase().replace('_', "-");
    match enc.as_str() {
        "utf-8" | "utf8" => Ok(text.as_bytes().to_vec()),
        "utf-16-le" | "utf-16le" => Ok(text.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        "utf-16-be" | "utf-16be" => Ok(text.encode_utf16().flat_map(u16::to_be_bytes).collect()),
        "ascii" | "us-ascii" | "latin-1" | "latin1" | "iso-8859-1" => {
            let max = if enc.contains("ascii") { 0x7f } else { 0xff };
            text.chars()
                .map(|c| {
                    u8::try_from(c as u32)
                        .ok()
                        .filter(|b| u32::from(*b) <= max)
                        .ok_or_else(|| {
                            fail(
                                what,
                                format!("character {c:?} cannot be encoded as {encoding}"),
                            )
                        })
                })
                .collect()
        }
        _ => Err(fail(what, format!("unsupported encoding '{encoding}'"))),
    }
}

fn decode_bytes(what: &str, bytes: Vec<u8>, encoding: &str) -> Res<String> {
    let enc = encoding.to_ascii_lowercase().replace('_', "-");
    let utf16 = |le: bool| -> Res<String> {
        if !bytes.len().is_multiple_of(2) {
            return Err(fail(
                what,
                format!("decoded data is not valid {encoding} (odd length)"),
            ));
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units)
            .map_err(|_| fail(what, format!("decoded data is not valid {encoding}")))
    };
    match enc.as_str() {
        "utf-8" | "utf8" => String::from_utf8(bytes)
            .map_err(|e| fail(what, format!("decoded data is not valid UTF-8: {e}"))),
        "utf-16-le" | "utf-16le" => utf16(true),
        "utf-16-be" | "utf-16be" => utf16(false),
        "latin-1" | "latin1" | "iso-8859-1" => Ok(bytes.into_iter().map(char::from).collect()),
        "ascii" | "us-ascii" => {
            if bytes.is_ascii() {
                Ok(bytes.into_iter().map(char::from).collect())
            } else {
                Err(fail(what, "decoded data is not valid ASCII"))
            }
        }
        _ => Err(fail(what, format!("unsupported encoding '{encoding}'"))),
    }
}

/// `b64encode(encoding='utf-8', urlsafe=False)`.
pub(super) fn b64encode(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    const W: &str = "b64encode";
    let slots = bind_args(W, args.into_values(), &["encoding", "urlsafe"], 0)?;
    let text = py_str(state, value)?;
    let encoding = opt_str_arg(W, "encoding", slots[0].as_ref())?.unwrap_or_else(|| "utf-8".into());
    let bytes = encode_text(W, &text, &encoding)?;
    Ok(if flag_arg(W, "urlsafe", slots[1].as_ref())? {
        base64::engine::general_purpose::URL_SAFE.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}

/// `b64decode(encoding='utf-8', urlsafe=False)`; like Python, characters
/// outside the alphabet (whitespace) are skipped, the padding is checked.
pub(super) fn b64decode(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    const W: &str = "b64decode";
    let slots = bind_args(W, args.into_values(), &["encoding", "urlsafe"], 0)?;
    let text = py_str(state, value)?;
    let encoding = opt_str_arg(W, "encoding", slots[0].as_ref())?.unwrap_or_else(|| "utf-8".into());
    let urlsafe = flag_arg(W, "urlsafe", slots[1].as_ref())?;
    let mut data = String::with_capacity(text.len());
    let mut pads = 0;
    for c in text.chars() {
        let c = match c {
            '-' if urlsafe => '+',
            '_' if urlsafe => '/',
            c => c,
        };
        if c == '=' {
            pads += 1;
        } else if c.is_ascii_alphanumeric() || c == '+' || c == '/' {
            if pads > 0 {
                // data after padding: Python stops at a complete quantum
                break;
            }
            data.push(c);
        }
    }
    match data.len() % 4 {
        1 => {
            return Err(fail(
                W,
                format!(
                    "invalid base64 input {}: 1 more character than a multiple of 4",
                    repr(value)
                ),
            ));
        }
        2 | 3 if pads < 4 - data.len() % 4 => {
            return Err(fail(
                W,
                format!("invalid base64 input {}: incorrect padding", repr(value)),
            ));
        }
        _ => {}
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    let bytes = engine
        .decode(data.as_bytes())
        .map_err(|e| fail(W, format!("invalid base64 input {}: {e}", repr(value))))?;
    decode_bytes(W, bytes, &encoding)
}

fn hash_hex(what: &str, algo: &str, data: &[u8]) -> Res<String> {
    let digest = match algo.to_ascii_lowercase().as_str() {
        "md5" => digest::md5(data).to_vec(),
        "sha1" => digest::sha1(data).to_vec(),
        "sha256" => digest::sha256(data).to_vec(),
        "sha224" => {
            use sha2::Digest as _;
            sha2::Sha224::digest(data).to_vec()
        }
        "sha384" => {
            use sha2::Digest as _;
            sha2::Sha384::digest(data).to_vec()
        }
        "sha512" => {
            use sha2::Digest as _;
            sha2::Sha512::digest(data).to_vec()
        }
        _ => {
            return Err(fail(
                what,
                format!(
                    "unsupported hash type '{algo}' (supported: md5, sha1, sha224, sha256, sha384, sha512)"
                ),
            ));
        }
    };
    Ok(digest
        .iter()
        .fold(String::with_capacity(digest.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }))
}

/// `hash(hashtype='sha1')`: the hex digest of the UTF-8 text.
pub(super) fn hash_filter(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    let slots = bind_args("hash", args.into_values(), &["hashtype"], 0)?;
    let text = py_str(state, value)?;
    let algo = opt_str_arg("hash", "hashtype", slots[0].as_ref())?.unwrap_or_else(|| "sha1".into());
    hash_hex("hash", &algo, text.as_bytes())
}

pub(super) fn md5_filter(state: &State, value: &Value) -> Res<String> {
    hash_hex("md5", "md5", py_str(state, value)?.as_bytes())
}

pub(super) fn sha1_filter(state: &State, value: &Value) -> Res<String> {
    hash_hex("sha1", "sha1", py_str(state, value)?.as_bytes())
}

/// MD5, SHA-1 and SHA-256 as byte arrays, for the `hash` filter and the PostgreSQL md5 password
/// hash.
pub(crate) mod digest {
    use md5::Digest as _;

    pub fn md5(data: &[u8]) -> [u8; 16] {
        md5::Md5::digest(data).into()
    }

    pub fn sha1(data: &[u8]) -> [u8; 20] {
        sha1::Sha1::digest(data).into()
    }

    pub fn sha256(data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn base64_filters() {
        assert_eq!(r("'héllo'|b64encode"), "aMOpbGxv");
        assert_eq!(r("'aGVsbG8='|b64decode"), "hello");
        assert_eq!(r("'a GVs bG8='|b64decode"), "hello");
        assert_eq!(r("'a'|b64encode(encoding='utf-16-le')"), "YQA=");
        assert_eq!(r("'YQA='|b64decode(encoding='utf-16-le')"), "a");
        assert_eq!(r("'??>'|b64encode(urlsafe=true)"), "Pz8-");
        assert_eq!(r("'Pz8-'|b64decode(urlsafe=true)"), "??>");
        assert_err("'aGVsbG8'|b64decode", "incorrect padding");
        assert_err("'/w=='|b64decode", "not valid UTF-8");
    }

    #[test]
    fn hash_filters() {
        assert_eq!(
            r("'hello'|hash('sha1')"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            r("'hello'|hash"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(r("'hello'|hash('md5')"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            r("'hello'|hash('sha256')"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        // ansible-playbook: {{ 'abc' | hash('sha512') }}
        assert_eq!(
            r("'abc'|hash('sha512')"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(r("'hello'|md5"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            r("'hello'|sha1"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            r("'hello'|checksum"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_err(
            "'hello'|hash('whirlpool')",
            "hash: unsupported hash type 'whirlpool'",
        );
    }

    #[test]
    fn digests_match_reference_vectors() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(&digest::md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex(&digest::sha1(b"")),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            hex(&digest::sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(hex(&digest::md5(&long)), "cabe45dcc9ae5b66ba86600cca6b8ba8");
        assert_eq!(
            hex(&digest::sha1(&long)),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
        assert_eq!(
            hex(&digest::sha256(&long)),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }
}
