//! Database URLs: the SQLAlchemy and libpq forms normalised to `postgres://`, and masking, so
//! a password is never shown.

use super::*;

/// URL schemes accepted (all mean PostgreSQL); the SQLAlchemy driver suffix is dropped.
const SCHEMES: &[&str] = &[
    "postgresql+asyncpg",
    "postgresql+psycopg2",
    "postgresql+psycopg",
    "postgresql",
    "postgres",
];

/// A parsed database URL. The password is kept out of `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// The variable it came from (for messages).
    pub var: String,
    pub user: String,
    password: Option<String>,
    /// Host name, IPv4 address, or `[IPv6]`.
    pub host: String,
    pub port: u16,
    pub database: String,
    /// The query string (e.g. `sslmode=require`), without `?`.
    pub query: Option<String>,
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbUrl")
            .field("var", &self.var)
            .field("target", &self.target())
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("query", &self.query.as_deref().map(mask_query))
            .finish()
    }
}

impl fmt::Display for DbUrl {
    /// `postgres://user:***@host:port/db` — safe to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgres://{}{}@{}:{}/{}",
            self.user,
            if self.password.is_some() { ":***" } else { "" },
            self.host,
            self.port,
            self.database
        )?;
        if let Some(q) = &self.query {
            write!(f, "?{}", mask_query(q))?;
        }
        Ok(())
    }
}

impl DbUrl {
    /// Parses `raw` (the value of variable `var`).
    pub fn parse(var: &str, raw: &str) -> Result<DbUrl, DbError> {
        let bad = |problem: String| DbError::BadUrl {
            var: var.to_string(),
            masked: mask_url(raw),
            problem,
        };
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(bad("not a URL (no '://')".into()));
        };
        if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
            return Err(bad(format!(
                "unsupported scheme '{}' (accepted: {})",
                scheme.chars().take(40).collect::<String>(),
                SCHEMES.join(", ")
            )));
        }
        // The user info ends at the last '@' (a password may hold an unencoded '@' or '/').
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let Some(userinfo) = userinfo else {
            return Err(bad("no user name (USER@HOST)".into()));
        };
        let (user_enc, password_enc) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        let user =
            percent_decode(user_enc).ok_or_else(|| bad("bad %-escape in the user name".into()))?;
        if user.is_empty() {
            return Err(bad("no user name (USER@HOST)".into()));
        }
        let password = match password_enc {
            None => None,
            Some(p) => {
                Some(percent_decode(p).ok_or_else(|| bad("bad %-escape in the password".into()))?)
            }
        };
        let (hostport, path_query) = match hostpart.find('/') {
            Some(p) => (&hostpart[..p], &hostpart[p + 1..]),
            None => (hostpart, ""),
        };
        let (path, query) = match path_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string()).filter(|q| !q.is_empty())),
            None => (path_query, None),
        };
        let (host, port) = split_host_port(hostport).map_err(bad)?;
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        let database =
            percent_decode(path).ok_or_else(|| bad("bad %-escape in the database name".into()))?;
        if database.is_empty() {
            return Err(bad("no database name (…/DATABASE)".into()));
        }
        if database.contains('/') {
            return Err(bad(format!("'{database}' is not a database name")));
        }
        let url = DbUrl {
            var: var.to_string(),
            user,
            password,
            host: host.to_string(),
            port,
            database,
            query,
        };
        // Let sqlx check the rest (query parameters) now, so that it is reported as bad input.
        url.connect_options()?;
        Ok(url)
    }

    /// `user@host:port/database`, for messages.
    pub fn target(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The password, for the connection and for masking it in messages.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The `postgres://` URL with the password in it (never print this).
    pub(super) fn connect_string(&self) -> String {
        let mut s = format!("postgres://{}", percent_encode(&self.user));
        if let Some(p) = &self.password {
            s.push(':');
            s.push_str(&percent_encode(p));
        }
        s.push('@');
        s.push_str(&self.host);
        s.push_str(&format!(
            ":{}/{}",
            self.port,
            percent_encode(&self.database)
        ));
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        s
    }

    /// sqlx connection options (statement logging off: migrations are long).
    pub fn connect_options(&self) -> Result<PgConnectOptions, DbError> {
        PgConnectOptions::from_str(&self.connect_string())
            .map(|o| o.disable_statement_logging())
            .map_err(|e| DbError::BadUrl {
                var: self.var.clone(),
                masked: self.to_string(),
                problem: self.redact(&e.to_string()),
            })
    }

    /// `text` with this URL's password (if any, and not trivially short) and the values of
    /// password parameters in its query string (`?password=…`) replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let query_secrets = self
            .query
            .iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| is_secret_param(k))
            .map(|(_, v)| v);
        for p in self.password.as_deref().into_iter().chain(query_secrets) {
            if p.len() >= 4 {
                out = out.replace(p, "***");
                out = out.replace(&percent_encode(p), "***");
                if let Some(d) = percent_decode(p) {
                    out = out.replace(&d, "***");
                }
            }
        }
        mask_url_queries(&out)
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` → (host, port), port 5432 when absent.
fn split_host_port(s: &str) -> Result<(&str, u16), String> {
    let (host, port) = if s.starts_with('[') {
        match s.find(']') {
            Some(end) => {
                let rest = &s[end + 1..];
                match rest.strip_prefix(':') {
                    Some(p) => (&s[..=end], Some(p)),
                    None if rest.is_empty() => (&s[..=end], None),
                    None => return Err("bad IPv6 address (expected [ADDRESS]:PORT)".into()),
                }
            }
            None => return Err("unterminated '[' in the host".into()),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None | Some("") => 5432,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            // Do not echo it: a URL with a forgotten '@' puts the password here.
            _ => return Err("the port is not a number between 1 and 65535".into()),
        },
    };
    if host.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err("bad host name".into());
    }
    Ok((host, port))
}

/// The URL with any password replaced by `***` (works on malformed URLs too: when there is no
/// user info, whatever follows a ':' in the host part is masked unless it is a port number; a
/// value without `://` is not shown at all).
pub fn mask_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        // Not a URL at all: it could be anything (a password pasted into the wrong variable).
        // Not even its length: that narrows down a password.
        return "a value that is not a URL (not shown)".into();
    };
    let scheme = format!("{scheme}://");
    if let Some(at) = rest.rfind('@') {
        let (userinfo, tail) = (&rest[..at], &rest[at..]);
        return match userinfo.split_once(':') {
            Some((u, _)) => format!("{scheme}{u}:***{}", mask_tail_query(tail)),
            None => format!("{scheme}{userinfo}{}", mask_tail_query(tail)),
        };
    }
    let (hostport, tail) = match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, ""),
    };
    match hostport.rsplit_once(':') {
        Some((h, p)) if !p.chars().all(|c| c.is_ascii_digit()) && !hostport.ends_with(']') => {
            format!("{scheme}{h}:***{}", mask_tail_query(tail))
        }
        _ => format!("{scheme}{}", mask_tail_query(rest)),
    }
}

/// Whether a connection parameter holds a secret (`password`, `sslpassword`, …).
fn is_secret_param(key: &str) -> bool {
    let k = percent_decode(key)
        .unwrap_or_else(|| key.to_string())
        .to_ascii_lowercase();
    k.contains("pass") || crate::secrets::is_secret_name(&k)
}

/// A query string (`a=1&password=x`) with the values of secret parameters replaced by `***`.
fn mask_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `text` with the query string after the first '?' masked ([`mask_query`]).
fn mask_tail_query(text: &str) -> String {
    match text.split_once('?') {
        Some((head, q)) => format!("{head}?{}", mask_query(q)),
        None => text.to_string(),
    }
}

/// Every `?query` of a URL-ish word in free text (an error message) with secret parameters masked.
fn mask_url_queries(text: &str) -> String {
    if !text.contains('?') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('?') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '`'))
            .unwrap_or(rest.len());
        out.push_str(&mask_query(&rest[..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes everything but unreserved characters (RFC 3986).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}
