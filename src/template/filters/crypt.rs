//! `password_hash` and the password lookup's `encrypt`: SHA-512 crypt (`$6$`, Drepper's
//! specification, what glibc's crypt(3) and Ansible's `sha512_crypt` give), the hash `user`'s
//! `password` wants.

use minijinja::value::{Rest, ValueOrKwargs};
use minijinja::{State, Value};
use sha2::{Digest, Sha512};

use super::{Res, bind_args, fail, int_arg, opt_str_arg, py_str};

/// crypt's base-64 alphabet; also the alphabet of a random salt.
pub(crate) const ITOA64: &[u8] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DEFAULT_ROUNDS: u32 = 5000;

/// A random salt of `len` characters from crypt's alphabet (Ansible's `random_salt`).
pub(crate) fn random_salt(len: usize) -> String {
    (0..len)
        .map(|_| ITOA64[rand::random_range(0..ITOA64.len())] as char)
        .collect()
}

/// `$6$[rounds=N$]salt$hash`; the salt is cut to 16 characters, rounds clamped as crypt does.
pub(crate) fn sha512_crypt(password: &[u8], salt: &str, rounds: Option<u32>) -> String {
    let salt: Vec<u8> = salt.bytes().take(16).collect();
    let n = rounds.map_or(DEFAULT_ROUNDS, |r| r.clamp(1000, 999_999_999));
    let b = Sha512::new()
        .chain_update(password)
        .chain_update(&salt)
        .chain_update(password)
        .finalize();
    let mut a = Sha512::new().chain_update(password).chain_update(&salt);
    let mut left = password.len();
    while left > 64 {
        a.update(b);
        left -= 64;
    }
    a.update(&b[..left]);
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            a.update(b);
        } else {
            a.update(password);
        }
        bits >>= 1;
    }
    let mut a = a.finalize();
    let mut dp = Sha512::new();
    for _ in 0..password.len() {
        dp.update(password);
    }
    let dp = dp.finalize();
    let p: Vec<u8> = dp.iter().cycle().take(password.len()).copied().collect();
    let mut ds = Sha512::new();
    for _ in 0..16 + usize::from(a[0]) {
        ds.update(&salt);
    }
    let ds = ds.finalize();
    let s: Vec<u8> = ds.iter().cycle().take(salt.len()).copied().collect();
    for i in 0..n {
        let mut c = Sha512::new();
        if i % 2 == 1 {
            c.update(&p);
        } else {
            c.update(a);
        }
        if i % 3 != 0 {
            c.update(&s);
        }
        if i % 7 != 0 {
            c.update(&p);
        }
        if i % 2 == 1 {
            c.update(a);
        } else {
            c.update(&p);
        }
        a = c.finalize();
    }
    const ORDER: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    let mut out = String::from("$6$");
    if rounds.is_some() {
        out.push_str(&format!("rounds={n}$"));
    }
    out.push_str(&String::from_utf8_lossy(&salt));
    out.push('$');
    let mut push = |w: u32, chars: usize| {
        let mut w = w;
        for _ in 0..chars {
            out.push(ITOA64[(w & 0x3f) as usize] as char);
            w >>= 6;
        }
    };
    for (x, y, z) in ORDER {
        push(
            (u32::from(a[x]) << 16) | (u32::from(a[y]) << 8) | u32::from(a[z]),
            4,
        );
    }
    push(u32::from(a[63]), 2);
    out
}

/// `password_hash(hashtype='sha512', salt=None, salt_size=None, rounds=None, ident=None)`.
pub(super) fn password_hash(
    state: &State,
    value: &Value,
    args: Rest<ValueOrKwargs>,
) -> Res<String> {
    const WHAT: &str = "password_hash";
    let slots = bind_args(
        WHAT,
        args.into_values(),
        &["hashtype", "salt", "salt_size", "rounds", "ident"],
        0,
    )?;
    let password = py_str(state, value)?;
    let hashtype =
        opt_str_arg(WHAT, "hashtype", slots[0].as_ref())?.unwrap_or_else(|| "sha512".into());
    if !matches!(hashtype.as_str(), "sha512" | "sha512_crypt") {
        return Err(fail(
            WHAT,
            format!(
                "hashtype '{hashtype}' is not supported by slm-wizard (supported: sha512, sha512_crypt)"
            ),
        ));
    }
    let salt_size = int_arg(WHAT, "salt_size", slots[2].as_ref())?.unwrap_or(16);
    let salt = match opt_str_arg(WHAT, "salt", slots[1].as_ref())? {
        Some(s) => {
            if let Some(bad) = s.bytes().find(|b| !ITOA64.contains(b)) {
                return Err(fail(
                    WHAT,
                    format!(
                        "invalid characters in salt: '{}' (valid: ./0-9A-Za-z)",
                        bad as char
                    ),
                ));
            }
            s
        }
        None => random_salt(usize::try_from(salt_size).unwrap_or(16).min(16)),
    };
    let rounds = int_arg(WHAT, "rounds", slots[3].as_ref())?
        .map(|r| u32::try_from(r).map_err(|_| fail(WHAT, format!("rounds out of range: {r}"))))
        .transpose()?;
    if let Some(ident) = opt_str_arg(WHAT, "ident", slots[4].as_ref())?
        && ident != "6"
    {
        return Err(fail(
            WHAT,
            format!("ident '{ident}' does not go with sha512 (it is '6')"),
        ));
    }
    Ok(sha512_crypt(password.as_bytes(), &salt, rounds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Python's crypt.crypt('secret', '$6$saltsalt$') on glibc.
        assert_eq!(
            sha512_crypt(b"secret", "saltsalt", None),
            "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
        );
        // Drepper's specification, test vectors 1 and 2.
        assert_eq!(
            sha512_crypt(b"Hello world!", "saltstring", None),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
        assert_eq!(
            sha512_crypt(b"Hello world!", "saltstringsaltstring", Some(10000)),
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
        );
    }
}
