//! PostgreSQL modules through `psql` on the target, as the `postgres` OS user (peer auth) unless a
//! login host/user is given. SQL and secrets travel on stdin, never in argv. Passwords are set as
//! SCRAM-SHA-256 verifiers computed here, and compared by verifying against the stored verifier.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{Args, Ctx, Diff, ModuleError, ModuleResult};
use crate::transport::{Output, sh_quote};

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How to reach the server.
pub struct Conn {
    pub db: String,
    pub port: Option<i64>,
    pub socket: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Conn {
    pub fn from_args(a: &Args<'_>, default_db: &str) -> Result<Self, ModuleError> {
        Ok(Self {
            db: a
                .opt_str("login_db")?
                .or(a.opt_str("db")?)
                .unwrap_or_else(|| default_db.to_string()),
            port: match a.opt_int("port")? {
                Some(p) => Some(p),
                None => a.opt_int("login_port")?,
            },
            socket: a.opt_str("login_unix_socket")?.filter(|s| !s.is_empty()),
            host: a.opt_str("login_host")?.filter(|s| !s.is_empty()),
            user: a.opt_str("login_user")?.filter(|s| !s.is_empty()),
            password: a.opt_str("login_password")?.filter(|s| !s.is_empty()),
        })
    }
}

/// `dbname='…'` (libpq quoting: backslash-escaped `'` and `\`).
fn dbname_conninfo(db: &str) -> String {
    format!("dbname='{}'", db.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Runs SQL (stdin) through psql; unaligned, tuples only, tab-separated, stop on the first error.
pub async fn psql(ctx: &Ctx<'_>, conn: &Conn, db: &str, sql: &str) -> Result<Output, ModuleError> {
    let mut args = String::from("psql -X -q -A -t -v ON_ERROR_STOP=1 -F \"$(printf '\\t')\"");
    if let Some(p) = conn.port {
        args.push_str(&format!(" -p {p}"));
    }
    if let Some(h) = conn.host.as_ref().or(conn.socket.as_ref()) {
        args.push_str(&format!(" -h {}", sh_quote(h)));
    }
    if let Some(u) = &conn.user {
        args.push_str(&format!(" -U {}", sh_quote(u)));
    }
    // Always a database name: a value with `=` or a URI prefix would otherwise be read as a
    // whole connection string (another host, user or sslmode).
    args.push_str(&format!(" -d {} -f -", sh_quote(&dbname_conninfo(db))));
    // The first stdin line is the password (possibly empty); the rest is the SQL.
    let run_as = if conn.host.is_none() && conn.user.is_none() {
        "if [ \"$(id -u)\" = 0 ]; then set -- runuser -u postgres --; else set --; fi\n"
    } else {
        "set --\n"
    };
    let script = format!(
        "IFS= read -r PGPASSWORD; export PGPASSWORD; [ -n \"$PGPASSWORD\" ] || unset PGPASSWORD\n\
         {run_as}cd / && exec \"$@\" {args}"
    );
    let mut input = conn.password.clone().unwrap_or_default().into_bytes();
    input.push(b'\n');
    input.extend_from_slice(sql.as_bytes());
    Ok(ctx.query(&script, Some(&input)).await?)
}

/// Runs SQL and fails the task (with psql's message) on error.
async fn sql_ok(
    ctx: &Ctx<'_>,
    conn: &Conn,
    db: &str,
    sql: &str,
) -> Result<Result<String, ModuleResult>, ModuleError> {
    let out = psql(ctx, conn, db, sql).await?;
    if out.rc != 0 && ctx.check && server_not_running(&out.stderr) {
        // A dry run on a fresh host: the server that earlier tasks would start is not up yet.
        let mut r = ModuleResult::changed(true);
        r.msg = Some(
            "PostgreSQL is not running yet; in a real run this would be applied after it starts"
                .into(),
        );
        return Ok(Err(r));
    }
    if out.rc != 0 {
        let mut r = ModuleResult::fail(format!("psql: {}", mask_psql_stderr(out.stderr.trim())));
        r.rc = Some(out.rc);
        return Ok(Err(r));
    }
    Ok(Ok(out.stdout))
}

macro_rules! try_sql {
    ($e:expr) => {
        match $e? {
            Ok(v) => v,
            Err(fail) => return Ok(fail),
        }
    };
}

pub async fn db(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let name = a.str("name")?;
    let state = a.choice("state", &["present", "absent"], "present")?;
    let maint = a.str_or("maintenance_db", "postgres")?;
    let conn = Conn::from_args(a, &maint)?;
    let row = try_sql!(sql_ok(
        ctx,
        &conn,
        &maint,
        &format!(
            "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype, datconnlimit \
             FROM pg_database WHERE datname = {};\n",
            quote_literal(&name)
        )
    )
    .await);
    let fields: Vec<&str> = row.trim_end_matches('\n').split('\t').collect();
    let exists = !row.trim().is_empty();
    let mut r = ModuleResult::ok();
    r.extra.insert("db".into(), name.clone().into());
    let mut stmts = Vec::new();
    if state == "absent" {
        if exists {
            let force = if a.bool("force", false)? {
                " WITH (FORCE)"
            } else {
                ""
            };
            stmts.push(format!("DROP DATABASE {}{force};", quote_ident(&name)));
        }
    } else if !exists {
        let mut s = format!("CREATE DATABASE {}", quote_ident(&name));
        if let Some(o) = a.opt_str("owner")? {
            s.push_str(&format!(" OWNER {}", quote_ident(&o)));
        }
        if let Some(t) = a.opt_str("template")? {
            s.push_str(&format!(" TEMPLATE {}", quote_ident(&t)));
        }
        if let Some(e) = a.opt_str("encoding")? {
            s.push_str(&format!(" ENCODING {}", quote_literal(&e)));
        }
        if let Some(c) = a.opt_str("lc_collate")? {
            s.push_str(&format!(" LC_COLLATE {}", quote_literal(&c)));
        }
        if let Some(c) = a.opt_str("lc_ctype")? {
            s.push_str(&format!(" LC_CTYPE {}", quote_literal(&c)));
        }
        if let Some(l) = a.opt_int("conn_limit")? {
            s.push_str(&format!(" CONNECTION LIMIT {l}"));
        }
        stmts.push(format!("{s};"));
    } else {
        let get = |i: usize| fields.get(i).copied().unwrap_or("");
        for (arg, have, what) in [
            ("encoding", get(1), "encoding"),
            ("lc_collate", get(2), "LC_COLLATE"),
            ("lc_ctype", get(3), "LC_CTYPE"),
        ] {
            if let Some(want) = a.opt_str(arg)?
                && !want.eq_ignore_ascii_case(have)
                && !(arg == "encoding" && normalize_encoding(&want) == normalize_encoding(have))
            {
                return Ok(ModuleResult::fail(format!(
                    "database {name} exists with {what} {have}; changing it to {want} is not supported (drop and recreate it)"
                )));
            }
        }
        if let Some(o) = a.opt_str("owner")?
            && o != get(0)
        {
            stmts.push(format!(
                "ALTER DATABASE {} OWNER TO {};",
                quote_ident(&name),
                quote_ident(&o)
            ));
        }
        if let Some(l) = a.opt_int("conn_limit")?
            && l.to_string() != get(4)
        {
            stmts.push(format!(
                "ALTER DATABASE {} CONNECTION LIMIT {l};",
                quote_ident(&name)
            ));
        }
    }
    finish_sql(ctx, &conn, &maint, stmts, r, &format!("database {name}")).await
}

fn server_not_running(stderr: &str) -> bool {
    stderr.contains("No such file or directory") && stderr.contains("connection to server")
        || stderr.contains("Connection refused")
        || stderr.contains("psql: not found")
        || stderr.contains("psql: command not found")
        || stderr.contains("runuser: user postgres does not exist")
}

fn normalize_encoding(e: &str) -> String {
    e.to_ascii_uppercase().replace(['-', '_'], "")
}

/// Applies statements (unless check mode) and reports them as the change and the diff.
async fn finish_sql(
    ctx: &Ctx<'_>,
    conn: &Conn,
    db: &str,
    stmts: Vec<String>,
    mut r: ModuleResult,
    what: &str,
) -> Result<ModuleResult, ModuleError> {
    if stmts.is_empty() {
        return Ok(r);
    }
    r.changed = true;
    r.extra.insert(
        "queries".into(),
        Value::from(stmts.iter().map(|s| redact_sql(s)).collect::<Vec<_>>()),
    );
    if ctx.diff {
        r.diff.push(Diff {
            before_header: what.to_string(),
            after_header: what.to_string(),
            before: String::new(),
            after: stmts.iter().map(|s| redact_sql(s) + "\n").collect(),
        });
    }
    if ctx.check {
        return Ok(r);
    }
    let sql = stmts.join("\n") + "\n";
    let out = psql(ctx, conn, db, &sql).await?;
    if out.rc != 0 {
        let mut f = ModuleResult::fail(format!("psql: {}", mask_psql_stderr(out.stderr.trim())));
        f.rc = Some(out.rc);
        return Ok(f);
    }
    Ok(r)
}

/// psql's error messages quote the failing statement ("LINE 1: ALTER ROLE … PASSWORD
/// 'SCRAM-SHA-256$4096:…'"): password literals, SCRAM and md5 verifiers and `password=` conninfo
/// values are masked before they reach a result, the screen or the journal.
pub fn mask_psql_stderr(s: &str) -> String {
    static PATTERNS: std::sync::LazyLock<Vec<(regex::Regex, &'static str)>> =
        std::sync::LazyLock::new(|| {
            [
                (r"(?i)(PASSWORD\s+)'(?:[^']|'')*'?", "${1}'********'"),
                (r"SCRAM-SHA-256\$[^\s'\x22]*", "SCRAM-SHA-256$********"),
                (r"\bmd5[0-9a-fA-F]{32}\b", "md5********"),
                (
                    r"(?i)(\bpassword\s*=\s*)('(?:[^']|\\')*'|\S+)",
                    "${1}********",
                ),
            ]
            .into_iter()
            .filter_map(|(re, with)| regex::Regex::new(re).ok().map(|r| (r, with)))
            .collect()
        });
    // psql quotes a window of the statement ("LINE 1: ...2V5c3Rv=:c2Vy' SYNTAX ERR..."), which
    // can start inside a verifier: long base64/hex runs on those lines are masked whole.
    static QUOTED_TOKEN: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"[A-Za-z0-9+/=$:]{16,}").ok());
    let mut out = s.to_string();
    for (re, with) in PATTERNS.iter() {
        out = re.replace_all(&out, *with).into_owned();
    }
    match QUOTED_TOKEN.as_ref() {
        Some(token) => out
            .split('\n')
            .map(|line| match line.find("LINE ") {
                Some(at) if line[at..].split_once(':').is_some() => {
                    token.replace_all(line, "********").into_owned()
                }
                _ => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => out,
    }
}

/// Statements are shown to people; a PASSWORD clause never is.
fn redact_sql(s: &str) -> String {
    match s.find(" PASSWORD '") {
        Some(i) => {
            let rest = &s[i + 11..];
            let end = rest.find("'").map_or(rest.len(), |e| e + 1);
            format!("{} PASSWORD '********'{}", &s[..i], &rest[end..])
        }
        None => s.to_string(),
    }
}

const ROLE_FLAGS: &[(&str, usize)] = &[
    ("SUPERUSER", 0),
    ("CREATEDB", 1),
    ("CREATEROLE", 2),
    ("INHERIT", 3),
    ("LOGIN", 4),
    ("REPLICATION", 5),
    ("BYPASSRLS", 6),
];

pub async fn user(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let name = a.str("name")?;
    let state = a.choice("state", &["present", "absent"], "present")?;
    let conn = Conn::from_args(a, "postgres")?;
    let db = conn.db.clone();
    let row = try_sql!(sql_ok(
        ctx,
        &conn,
        &db,
        &format!(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolcanlogin, rolreplication, rolbypassrls, \
             rolconnlimit, coalesce(rolvaliduntil::text, ''), coalesce(rolpassword, '') FROM pg_authid WHERE rolname = {};\n",
            quote_literal(&name)
        )
    )
    .await);
    let fields: Vec<&str> = row.trim_end_matches('\n').split('\t').collect();
    let exists = !row.trim().is_empty();
    let mut r = ModuleResult::ok();
    r.extra.insert("user".into(), name.clone().into());
    let ident = quote_ident(&name);
    let mut stmts = Vec::new();
    if state == "absent" {
        if exists {
            stmts.push(format!("DROP ROLE {ident};"));
        }
        return finish_sql(ctx, &conn, &db, stmts, r, &format!("role {name}")).await;
    }
    let mut wanted: Vec<String> = Vec::new();
    for flag in a
        .list("role_attr_flags")?
        .iter()
        .flat_map(|f| f.split(':').map(str::to_string).collect::<Vec<_>>())
    {
        let f = flag.trim().to_ascii_uppercase();
        let bare = f.strip_prefix("NO").unwrap_or(&f);
        if !ROLE_FLAGS.iter().any(|(n, _)| *n == bare) {
            return Err(ModuleError::Args(format!(
                "postgresql_user: unknown role_attr_flags value {flag:?}; valid: [NO]{}",
                ROLE_FLAGS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", [NO]")
            )));
        }
        wanted.push(f);
    }
    let password = a.opt_str("password")?.filter(|p| !p.is_empty());
    let mut clauses: Vec<String> = Vec::new();
    if exists {
        for f in &wanted {
            let (on, bare) = match f.strip_prefix("NO") {
                Some(b) => (false, b),
                None => (true, f.as_str()),
            };
            let idx = ROLE_FLAGS
                .iter()
                .find(|(n, _)| *n == bare)
                .map_or(0, |(_, i)| *i);
            let have = fields.get(idx).copied() == Some("t");
            if have != on {
                clauses.push(f.clone());
            }
        }
    } else {
        clauses.extend(wanted.iter().cloned());
        if !wanted.iter().any(|f| f == "LOGIN" || f == "NOLOGIN") {
            // postgresql_user creates login roles (CREATE USER), as community.postgresql does.
            clauses.push("LOGIN".into());
        }
    }
    if let Some(limit) = a.opt_int("conn_limit")?
        && (!exists || fields.get(7).copied() != Some(limit.to_string().as_str()))
    {
        clauses.push(format!("CONNECTION LIMIT {limit}"));
    }
    if let Some(exp) = a.opt_str("expires")? {
        let have = fields.get(8).copied().unwrap_or("");
        if !exists || !same_timestamp(have, &exp) {
            clauses.push(format!("VALID UNTIL {}", quote_literal(&exp)));
        }
    }
    let mut password_changed = false;
    if let Some(pw) = &password {
        let stored = fields.get(9).copied().unwrap_or("");
        let matches = exists && password_matches(stored, pw, &name);
        let no_changes = a.bool("no_password_changes", false)?;
        if !matches && (!exists || !no_changes) {
            password_changed = true;
            let verifier =
                if pw.starts_with("SCRAM-SHA-256$") || (pw.starts_with("md5") && pw.len() == 35) {
                    pw.clone()
                } else {
                    scram_verifier(pw)
                };
            clauses.push(format!("PASSWORD {}", quote_literal(&verifier)));
        }
    }
    if !exists {
        stmts.push(format!("CREATE ROLE {ident} {};", clauses.join(" ")).replace(" ;", ";"));
    } else if !clauses.is_empty() {
        stmts.push(format!("ALTER ROLE {ident} {};", clauses.join(" ")));
    }
    if password_changed {
        r.extra.insert("password_changed".into(), Value::Bool(true));
    }
    finish_sql(ctx, &conn, &db, stmts, r, &format!("role {name}")).await
}

fn same_timestamp(have: &str, want: &str) -> bool {
    let norm = |s: &str| {
        s.replace('T', " ")
            .trim_end_matches("+00")
            .trim_end_matches("+00:00")
            .to_string()
    };
    have == want
        || norm(have).starts_with(&norm(want))
        || (want.eq_ignore_ascii_case("infinity") && have == "infinity")
}

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

/// MD5 (only to compare legacy `md5…` role passwords).
fn md5_hex(s: &str) -> String {
    hex::encode(crate::template::filters::digest::md5(s.as_bytes()))
}

const DB_PRIVS: &[&str] = &["CREATE", "CONNECT", "TEMPORARY"];
const SCHEMA_PRIVS: &[&str] = &["CREATE", "USAGE"];
const TABLE_PRIVS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];
const SEQ_PRIVS: &[&str] = &["SELECT", "UPDATE", "USAGE"];

pub async fn privs(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let kind = a.choice(
        "type",
        &["table", "sequence", "database", "schema", "default_privs"],
        "table",
    )?;
    let state = a.choice("state", &["present", "absent"], "present")?;
    let conn = Conn::from_args(a, "postgres")?;
    let database = a.opt_str("database")?.unwrap_or_else(|| conn.db.clone());
    let roles = a.list("roles")?;
    if roles.is_empty() {
        return Err(ModuleError::Args(
            "postgresql_privs: 'roles' is empty".into(),
        ));
    }
    let all: &[&str] = match kind.as_str() {
        "database" => DB_PRIVS,
        "schema" => SCHEMA_PRIVS,
        "sequence" => SEQ_PRIVS,
        "default_privs" => return default_privs(a, ctx, &conn, &database, &roles, &state).await,
        _ => TABLE_PRIVS,
    };
    let mut privs = Vec::new();
    for p in a.list("privs")?.iter().flat_map(|p| {
        p.split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .collect::<Vec<_>>()
    }) {
        let p = if p == "TEMP" {
            "TEMPORARY".to_string()
        } else {
            p
        };
        if p == "ALL" || p == "ALL PRIVILEGES" {
            privs.extend(all.iter().map(|s| s.to_string()));
        } else if all.contains(&p.as_str()) {
            privs.push(p);
        } else {
            return Err(ModuleError::Args(format!(
                "postgresql_privs: privilege {p:?} does not apply to type {kind}; valid: ALL, {}",
                all.join(", ")
            )));
        }
    }
    if privs.is_empty() {
        return Err(ModuleError::Args(
            "postgresql_privs: 'privs' is required for this type".into(),
        ));
    }
    privs.sort();
    privs.dedup();
    let schema = a.str_or("schema", "public")?;
    let objs: Vec<String> = match kind.as_str() {
        "database" => {
            let o = a.list("objs")?;
            if o.is_empty() {
                vec![database.clone()]
            } else {
                o
            }
        }
        _ => a.list("objs")?,
    };
    if objs.is_empty() {
        return Err(ModuleError::Args(
            "postgresql_privs: 'objs' is required for this type".into(),
        ));
    }
    // (object SQL name, ACL query) per object; the ACL is expanded with defaults when NULL.
    let mut targets: Vec<(String, String)> = Vec::new();
    for o in &objs {
        match kind.as_str() {
            "database" => targets.push((
                quote_ident(o),
                format!("SELECT coalesce(datacl, acldefault('d', datdba)) FROM pg_database WHERE datname = {}", quote_literal(o)),
            )),
            "schema" => targets.push((
                quote_ident(o),
                format!("SELECT coalesce(nspacl, acldefault('n', nspowner)) FROM pg_namespace WHERE nspname = {}", quote_literal(o)),
            )),
            _ if o == "ALL_IN_SCHEMA" => {
                let relkind = if kind == "sequence" { "'S'" } else { "'r','v','m','p','f'" };
                let out = try_sql!(sql_ok(
                    ctx,
                    &conn,
                    &database,
                    &format!(
                        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = {} AND c.relkind IN ({relkind}) ORDER BY 1;\n",
                        quote_literal(&schema)
                    )
                )
                .await);
                for rel in out.lines().filter(|l| !l.is_empty()) {
                    targets.push(rel_target(&schema, rel, &kind));
                }
            }
            _ => targets.push(rel_target(&schema, o, &kind)),
        }
    }
    // One query reads every object's ACL as (object index, grantee, privilege).
    let mut q = String::new();
    for (i, (_, acl)) in targets.iter().enumerate() {
        q.push_str(&format!(
            "SELECT {i}, CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(e.grantee) END, e.privilege_type \
             FROM ({acl}) a(acl), aclexplode(a.acl) e;\n"
        ));
    }
    let existing = if targets.is_empty() {
        String::new()
    } else {
        try_sql!(sql_ok(ctx, &conn, &database, &q).await)
    };
    let has = |i: usize, role: &str, p: &str| {
        existing.lines().any(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f.len() == 3 && f[0] == i.to_string() && f[1].eq_ignore_ascii_case(role) && f[2] == p
        })
    };
    let obj_kw = match kind.as_str() {
        "database" => "DATABASE",
        "schema" => "SCHEMA",
        "sequence" => "SEQUENCE",
        _ => "TABLE",
    };
    let grant_option = a.bool("grant_option", false)?;
    let mut stmts = Vec::new();
    for (i, (obj, _)) in targets.iter().enumerate() {
        for role in &roles {
            let role_sql = if role.eq_ignore_ascii_case("public") {
                "PUBLIC".to_string()
            } else {
                quote_ident(role)
            };
            let todo: Vec<&str> = privs
                .iter()
                .filter(|p| {
                    has(
                        i,
                        if role.eq_ignore_ascii_case("public") {
                            "PUBLIC"
                        } else {
                            role
                        },
                        p,
                    ) != (state == "present")
                })
                .map(String::as_str)
                .collect();
            if todo.is_empty() {
                continue;
            }
            stmts.push(if state == "present" {
                format!(
                    "GRANT {} ON {obj_kw} {obj} TO {role_sql}{};",
                    todo.join(", "),
                    if grant_option {
                        " WITH GRANT OPTION"
                    } else {
                        ""
                    }
                )
            } else {
                format!(
                    "REVOKE {} ON {obj_kw} {obj} FROM {role_sql};",
                    todo.join(", ")
                )
            });
        }
    }
    finish_sql(
        ctx,
        &conn,
        &database,
        stmts,
        ModuleResult::ok(),
        &format!("privileges in {database}"),
    )
    .await
}

/// `ALTER DEFAULT PRIVILEGES`: privileges that future objects of `target_roles` get.
async fn default_privs(
    a: &Args<'_>,
    ctx: &Ctx<'_>,
    conn: &Conn,
    database: &str,
    roles: &[String],
    state: &str,
) -> Result<ModuleResult, ModuleError> {
    const KINDS: &[(&str, &str, &[&str])] = &[
        ("TABLES", "r", TABLE_PRIVS),
        ("SEQUENCES", "S", SEQ_PRIVS),
        ("FUNCTIONS", "f", &["EXECUTE"]),
        ("TYPES", "T", &["USAGE"]),
        ("SCHEMAS", "n", &["USAGE", "CREATE"]),
    ];
    let mut objs: Vec<String> = a
        .list("objs")?
        .iter()
        .map(|o| o.to_ascii_uppercase())
        .collect();
    if objs.is_empty() {
        return Err(ModuleError::Args(
            "postgresql_privs: type=default_privs needs objs (TABLES, SEQUENCES, FUNCTIONS, TYPES, SCHEMAS or ALL_DEFAULT)".into(),
        ));
    }
    if objs.iter().any(|o| o == "ALL_DEFAULT") {
        objs = KINDS.iter().map(|(k, _, _)| k.to_string()).collect();
    }
    let schema = a.opt_str("schema")?;
    let targets = a.list("target_roles")?;
    let targets: Vec<Option<String>> = if targets.is_empty() {
        vec![None]
    } else {
        targets.into_iter().map(Some).collect()
    };
    let wanted: Vec<String> = a
        .list("privs")?
        .iter()
        .flat_map(|p| {
            p.split(',')
                .map(|s| s.trim().to_ascii_uppercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut stmts = Vec::new();
    for obj in &objs {
        let Some((_, code, all)) = KINDS.iter().find(|(k, _, _)| k == obj) else {
            return Err(ModuleError::Args(format!(
                "postgresql_privs: default_privs objs {obj:?} is not one of TABLES, SEQUENCES, FUNCTIONS, TYPES, SCHEMAS, ALL_DEFAULT"
            )));
        };
        let privs: Vec<&str> = if wanted.iter().any(|p| p == "ALL") {
            all.to_vec()
        } else {
            let bad: Vec<&String> = wanted
                .iter()
                .filter(|p| !all.contains(&p.as_str()))
                .collect();
            if !bad.is_empty() {
                return Err(ModuleError::Args(format!(
                    "postgresql_privs: {bad:?} do not apply to default privileges on {obj}; valid: ALL, {}",
                    all.join(", ")
                )));
            }
            all.iter()
                .copied()
                .filter(|p| wanted.iter().any(|w| w == p))
                .collect()
        };
        for target in &targets {
            let role_cond = match target {
                Some(t) => format!(
                    "d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = {})",
                    quote_literal(t)
                ),
                None => "d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
                    .to_string(),
            };
            let ns_cond = match &schema {
                Some(sc) => format!(
                    "d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = {})",
                    quote_literal(sc)
                ),
                None => "d.defaclnamespace = 0".to_string(),
            };
            let existing = try_sql!(
                sql_ok(
                    ctx,
                    conn,
                    database,
                    &format!(
                        "SELECT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(e.grantee) END, e.privilege_type \
                         FROM pg_default_acl d, aclexplode(d.defaclacl) e WHERE {role_cond} AND {ns_cond} AND d.defaclobjtype = '{code}';\n"
                    )
                )
                .await
            );
            for role in roles {
                let public = role.eq_ignore_ascii_case("public");
                let has = |p: &str| {
                    existing.lines().any(|l| {
                        let f: Vec<&str> = l.split('\t').collect();
                        f.len() == 2
                            && (f[0] == role.as_str() || (public && f[0] == "PUBLIC"))
                            && f[1] == p
                    })
                };
                let todo: Vec<&str> = privs
                    .iter()
                    .copied()
                    .filter(|p| has(p) != (state == "present"))
                    .collect();
                if todo.is_empty() {
                    continue;
                }
                let mut stmt = String::from("ALTER DEFAULT PRIVILEGES");
                if let Some(t) = target {
                    stmt.push_str(&format!(" FOR ROLE {}", quote_ident(t)));
                }
                if let Some(sc) = &schema {
                    stmt.push_str(&format!(" IN SCHEMA {}", quote_ident(sc)));
                }
                let grantee = if public {
                    "PUBLIC".to_string()
                } else {
                    quote_ident(role)
                };
                if state == "present" {
                    stmt.push_str(&format!(
                        " GRANT {} ON {obj} TO {grantee};",
                        todo.join(", ")
                    ));
                } else {
                    stmt.push_str(&format!(
                        " REVOKE {} ON {obj} FROM {grantee};",
                        todo.join(", ")
                    ));
                }
                stmts.push(stmt);
            }
        }
    }
    finish_sql(
        ctx,
        conn,
        database,
        stmts,
        ModuleResult::ok(),
        &format!("default privileges in {database}"),
    )
    .await
}

fn rel_target(schema: &str, rel: &str, kind: &str) -> (String, String) {
    let (s, r) = match rel.split_once('.') {
        Some((s, r)) => (s.to_string(), r.to_string()),
        None => (schema.to_string(), rel.to_string()),
    };
    let def = if kind == "sequence" { "s" } else { "r" };
    (
        format!("{}.{}", quote_ident(&s), quote_ident(&r)),
        format!(
            "SELECT coalesce(c.relacl, acldefault('{def}', c.relowner)) FROM pg_class c JOIN pg_namespace n \
             ON n.oid = c.relnamespace WHERE n.nspname = {} AND c.relname = {}",
            quote_literal(&s),
            quote_literal(&r)
        ),
    )
}

/// One pg_hba.conf rule.
#[derive(Debug, Clone, PartialEq)]
struct HbaRule {
    contype: String,
    databases: String,
    users: String,
    source: String,
    method: String,
    options: String,
}

impl HbaRule {
    fn key(&self) -> (String, String, String, String) {
        (
            self.contype.clone(),
            self.databases.clone(),
            self.users.clone(),
            self.source.clone(),
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let t = line.split('#').next()?.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        let contype = *words.first()?;
        if !matches!(
            contype,
            "local" | "host" | "hostssl" | "hostnossl" | "hostgssenc" | "hostnogssenc"
        ) {
            return None;
        }
        let (source, rest) = if contype == "local" {
            (String::new(), words.get(3..)?)
        } else {
            let addr = words.get(3)?;
            // "address netmask" form: fold to CIDR-less key including the mask.
            if words
                .get(4)
                .is_some_and(|w| w.contains('.') && !w.contains('='))
                && !addr.contains('/')
            {
                (format!("{addr} {}", words[4]), words.get(5..)?)
            } else {
                (addr.to_string(), words.get(4..)?)
            }
        };
        Some(Self {
            contype: contype.to_string(),
            databases: words.get(1)?.to_string(),
            users: words.get(2)?.to_string(),
            source,
            method: rest.first()?.to_string(),
            options: rest.get(1..).map(|r| r.join(" ")).unwrap_or_default(),
        })
    }

    fn render(&self) -> String {
        let mut s = format!(
            "{:<8}{:<16}{:<16}",
            self.contype, self.databases, self.users
        );
        if self.contype != "local" {
            s.push_str(&format!("{:<24}", self.source));
        } else {
            s.push_str(&format!("{:<24}", ""));
        }
        s.push_str(&self.method);
        if !self.options.is_empty() {
            s.push(' ');
            s.push_str(&self.options);
        }
        s.trim_end().to_string()
    }
}

pub async fn pg_hba(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let dest = a.str("dest")?;
    let state = a.choice("state", &["present", "absent"], "present")?;
    let contype = a.choice(
        "contype",
        &[
            "local",
            "host",
            "hostssl",
            "hostnossl",
            "hostgssenc",
            "hostnogssenc",
        ],
        "host",
    )?;
    // A line break in a field would add a rule of its own (e.g. `trust` for everyone).
    for key in [
        "databases",
        "users",
        "source",
        "address",
        "netmask",
        "options",
    ] {
        let values = match a.map.get(key) {
            Some(Value::Array(_)) => a.list(key)?,
            _ => a.opt_str(key)?.into_iter().collect(),
        };
        if values.iter().any(|v| v.contains(['\r', '\n'])) {
            return Err(ModuleError::Args(format!(
                "postgresql_pg_hba: '{key}' contains a line break (CR or LF); each pg_hba.conf \
                 rule is one line"
            )));
        }
    }
    let mut source = a
        .opt_str("source")?
        .or(a.opt_str("address")?)
        .unwrap_or_default();
    if let Some(mask) = a.opt_str("netmask")?
        && !source.contains('/')
    {
        source = format!("{source} {mask}");
    }
    if contype != "local" && source.is_empty() {
        return Err(ModuleError::Args(format!(
            "postgresql_pg_hba: contype {contype} needs 'source'"
        )));
    }
    let method = a.choice(
        "method",
        &[
            "trust",
            "reject",
            "md5",
            "password",
            "scram-sha-256",
            "gss",
            "sspi",
            "ident",
            "peer",
            "pam",
            "ldap",
            "radius",
            "cert",
        ],
        "md5",
    )?;
    let rule = HbaRule {
        contype: contype.clone(),
        databases: a
            .list("databases")?
            .join(",")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>(),
        users: a
            .list("users")?
            .join(",")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>(),
        source: if contype == "local" {
            String::new()
        } else {
            source
        },
        method,
        options: a.str_or("options", "")?,
    };
    let rule = HbaRule {
        databases: if rule.databases.is_empty() {
            "all".into()
        } else {
            rule.databases
        },
        users: if rule.users.is_empty() {
            "all".into()
        } else {
            rule.users
        },
        ..rule
    };
    let attrs = super::files::Attrs::from_args(a)?;
    let opts = super::files::WriteOpts {
        attrs: &attrs,
        backup: a.bool("backup", false)?,
        validate: None,
    };
    let current = super::files::read_remote(ctx, &dest).await?;
    if !current.exists && !a.bool("create", false)? {
        return Ok(ModuleResult::fail(format!(
            "{dest} does not exist (set create: true to create it)"
        )));
    }
    let text = current.content.clone().unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let found = lines
        .iter()
        .position(|l| HbaRule::parse(l).is_some_and(|r| r.key() == rule.key()));
    match (state.as_str(), found) {
        ("present", Some(i)) if HbaRule::parse(&lines[i]).as_ref() != Some(&rule) => {
            lines[i] = rule.render();
        }
        ("present", Some(_)) => {}
        ("present", None) => lines.push(rule.render()),
        ("absent", Some(_)) => {
            lines.retain(|l| HbaRule::parse(l).is_none_or(|r| r.key() != rule.key()))
        }
        _ => {}
    }
    let new = if lines.iter().map(String::as_str).eq(text.lines()) {
        text.clone()
    } else {
        lines.join("\n") + "\n"
    };
    let mut r = super::files::converge_content(ctx, &dest, &current, &new, &opts).await?;
    r.extra
        .insert("pg_hba".into(), Value::from(vec![rule_json(&rule)]));
    Ok(r)
}

fn rule_json(r: &HbaRule) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), r.contype.clone().into());
    m.insert("db".into(), r.databases.clone().into());
    m.insert("usr".into(), r.users.clone().into());
    if !r.source.is_empty() {
        m.insert("src".into(), r.source.clone().into());
    }
    m.insert("method".into(), r.method.clone().into());
    Value::Object(m)
}

/// psycopg-style `%s` / `%(name)s` placeholders, filled with quoted literals.
fn bind(
    query: &str,
    positional: &[Value],
    named: &Map<String, Value>,
) -> Result<String, ModuleError> {
    let lit = |v: &Value| match v {
        Value::Null => "NULL".to_string(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_literal(s),
        other => quote_literal(&other.to_string()),
    };
    let mut out = String::new();
    let mut pos = 0;
    let mut rest = query;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("%%") {
            out.push('%');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("%s") {
            let v = positional.get(pos).ok_or_else(|| {
                ModuleError::Args(format!(
                    "postgresql_query: placeholder %s #{} has no positional_args value",
                    pos + 1
                ))
            })?;
            out.push_str(&lit(v));
            pos += 1;
            rest = t;
        } else if let Some(t) = tail.strip_prefix("%(") {
            let Some(end) = t.find(")s") else {
                return Err(ModuleError::Args(
                    "postgresql_query: unterminated %(name)s placeholder".into(),
                ));
            };
            let name = &t[..end];
            let v = named.get(name).ok_or_else(|| {
                ModuleError::Args(format!("postgresql_query: named_args has no '{name}'"))
            })?;
            out.push_str(&lit(v));
            rest = &t[end + 2..];
        } else {
            out.push('%');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

pub async fn query(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let conn = Conn::from_args(a, "postgres")?;
    let text = match (a.opt_str("query")?, a.opt_str("path_to_script")?) {
        (Some(q), _) => q,
        (None, Some(p)) => {
            let out = ctx.query(&format!("cat -- {}", sh_quote(&p)), None).await?;
            if out.rc != 0 {
                return Ok(ModuleResult::fail(format!(
                    "cannot read {p}: {}",
                    out.stderr.trim()
                )));
            }
            out.stdout
        }
        _ => {
            return Err(ModuleError::Args(
                "postgresql_query: needs query or path_to_script".into(),
            ));
        }
    };
    let positional = match a.map.get("positional_args") {
        Some(Value::Array(v)) => v.clone(),
        _ => Vec::new(),
    };
    let named = match a.map.get("named_args") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let sql = bind(text.trim().trim_end_matches(';'), &positional, &named)?;
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    let read_only = matches!(
        first.as_str(),
        "SELECT" | "SHOW" | "TABLE" | "VALUES" | "EXPLAIN"
    ) || (first == "WITH"
        && !sql.to_ascii_uppercase().contains("INSERT")
        && !sql.to_ascii_uppercase().contains("UPDATE")
        && !sql.to_ascii_uppercase().contains("DELETE"));
    let mut r = ModuleResult::ok();
    r.extra.insert("query".into(), Value::String(sql.clone()));
    // In check mode even a "read-only" statement runs in a read-only transaction that is rolled
    // back (as community.postgresql does): `EXPLAIN ANALYZE DELETE`, `SELECT nextval(…)` or a
    // function that writes must not change anything. The session default stays read-only too,
    // so a COMMIT inside the query cannot end the protection.
    let guard = |body: String| {
        if ctx.check {
            format!("SET default_transaction_read_only = on;\nBEGIN READ ONLY;\n{body}ROLLBACK;\n")
        } else {
            body
        }
    };
    // A statement refused by the read-only transaction writes: in check mode, a change not made.
    let writes = |fail: &ModuleResult| {
        ctx.check
            && fail
                .msg
                .as_deref()
                .is_some_and(|m| m.contains("read-only transaction"))
    };
    let would_write = |mut r: ModuleResult, fail: ModuleResult| {
        r.changed = true;
        r.msg = Some(format!(
            "check mode: the query writes, so the read-only transaction refused it and nothing changed ({})",
            fail.msg.unwrap_or_default()
        ));
        r
    };
    if read_only && first != "SHOW" && first != "EXPLAIN" {
        let wrapped = guard(format!(
            "SELECT coalesce(json_agg(t), '[]'::json) FROM ({sql}) t;\n"
        ));
        let out = match sql_ok(ctx, &conn, &conn.db, &wrapped).await? {
            Ok(out) => out,
            Err(fail) if writes(&fail) => return Ok(would_write(r, fail)),
            Err(fail) => return Ok(fail),
        };
        let rows: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Array(Vec::new()));
        let n = rows.as_array().map_or(0, Vec::len);
        r.extra.insert("query_result".into(), rows);
        r.extra.insert("rowcount".into(), n.into());
        return Ok(r);
    }
    if read_only {
        let out = match sql_ok(ctx, &conn, &conn.db, &guard(format!("{sql};\n"))).await? {
            Ok(out) => out,
            Err(fail) if writes(&fail) => return Ok(would_write(r, fail)),
            Err(fail) => return Ok(fail),
        };
        let rows: Vec<Value> = out.lines().map(|l| Value::String(l.to_string())).collect();
        r.extra.insert("rowcount".into(), rows.len().into());
        r.extra.insert("query_result".into(), Value::Array(rows));
        return Ok(r);
    }
    r.changed = true;
    if ctx.check {
        return Ok(r);
    }
    // Without -q psql prints the command tag ("INSERT 0 3"), which gives the row count.
    let out = psql(ctx, &conn, &conn.db, &format!("\\set QUIET off\n{sql};\n")).await?;
    if out.rc != 0 {
        let mut f = ModuleResult::fail(format!("psql: {}", mask_psql_stderr(out.stderr.trim())));
        f.rc = Some(out.rc);
        return Ok(f);
    }
    let tag = out
        .stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    let count = tag
        .split_whitespace()
        .last()
        .and_then(|n| n.parse::<i64>().ok());
    if matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "MERGE") {
        r.changed = count.unwrap_or(0) > 0;
    }
    r.extra.insert("rowcount".into(), count.unwrap_or(0).into());
    r.extra.insert("statusmessage".into(), Value::String(tag));
    Ok(r)
}

pub async fn ping(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let conn = Conn::from_args(a, "postgres")?;
    let out = psql(
        ctx,
        &conn,
        &conn.db,
        "SELECT current_setting('server_version');\n",
    )
    .await?;
    let mut r = ModuleResult::ok();
    let available = out.rc == 0;
    r.extra.insert("is_available".into(), available.into());
    if available {
        let v = out.stdout.trim().to_string();
        let mut sv = Map::new();
        let mut parts = v.split(|c: char| !c.is_ascii_digit());
        sv.insert(
            "major".into(),
            parts.next().and_then(|p| p.parse::<i64>().ok()).into(),
        );
        sv.insert(
            "minor".into(),
            parts.next().and_then(|p| p.parse::<i64>().ok()).into(),
        );
        sv.insert("full".into(), v.into());
        r.extra.insert("server_version".into(), Value::Object(sv));
    } else {
        r.extra.insert(
            "conn_err_msg".into(),
            mask_psql_stderr(out.stderr.trim()).into(),
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_messages_are_masked() {
        let v = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVka2V5c3RvcmVka2V5:c2VydmVya2V5c2VydmVy";
        let err = format!(
            "psql:<stdin>:2: ERROR:  syntax error at or near \"X\"\nLINE 1: ALTER ROLE a PASSWORD '{v}' X\n"
        );
        let m = mask_psql_stderr(&err);
        assert!(
            !m.contains("c3RvcmVka2V5") && !m.contains("c2VydmVy"),
            "{m}"
        );
        assert!(m.contains("syntax error") && m.contains("LINE 1: ALTER ROLE a PASSWORD"));
        // A window that starts inside the verifier.
        let m = mask_psql_stderr("LINE 1: ...2V5c3RvcmVka2V5c3RvcmU=:c2VydmVya2V5' SYNTAX ERR...");
        assert!(!m.contains("c2VydmVya2V5"), "{m}");
        let m = mask_psql_stderr("x md5d41d8cd98f00b204e9800998ecf8427e y password=hunter2 z");
        assert_eq!(m, "x md5******** y password=******** z");
    }

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

    #[test]
    fn sql_quoting_and_binding() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        let q = bind(
            "SELECT %s, %(n)s, 100%%",
            &[Value::from("x'y")],
            &serde_json::from_str(r#"{"n": 3}"#).expect("json"),
        )
        .expect("binds");
        assert_eq!(q, "SELECT 'x''y', 3, 100%");
        assert_eq!(
            redact_sql("ALTER ROLE \"a\" LOGIN PASSWORD 'SCRAM-x';"),
            "ALTER ROLE \"a\" LOGIN PASSWORD '********';"
        );
    }

    #[test]
    fn hba_rule_parsing() {
        let r = HbaRule::parse("host  slm  slm_app  10.0.0.0/24  scram-sha-256 # x").expect("rule");
        assert_eq!(r.source, "10.0.0.0/24");
        assert_eq!(r.method, "scram-sha-256");
        assert!(HbaRule::parse("# comment").is_none());
        assert_eq!(HbaRule::parse(&r.render()).as_ref(), Some(&r));
    }
}
