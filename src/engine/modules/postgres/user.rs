//! `postgresql_user`: a login role, its attributes and its password (as a SCRAM verifier).

use serde_json::Value;

use super::scram::{password_matches, scram_verifier};
use super::{Change, State, apply_sql, plan_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

pg_args! {
    pub struct PostgresqlUser {
        #[serde(alias = "user", deserialize_with = "crate::engine::modules::args::string")]
        pub name: String,
        #[serde(default)]
        pub state: State,
        /// Plain text (stored as a SCRAM-SHA-256 verifier) or a verifier as PostgreSQL stores it.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub password: Option<String>,
        /// Always true here: a plain-text password is never sent, let alone stored.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub encrypted: Option<bool>,
        /// `LOGIN,NOSUPERUSER` (also `:`-separated, as older Ansible wrote them).
        #[serde(default, deserialize_with = "crate::engine::modules::args::list")]
        pub role_attr_flags: Vec<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub expires: Option<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub no_password_changes: Option<bool>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_int")]
        pub conn_limit: Option<i64>,
        /// The database psql connects to.
        #[serde(default, alias = "db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

impl PostgresqlUser {
    pub(super) fn login_db(&self) -> &str {
        self.login_db.as_deref().unwrap_or("postgres")
    }
}

impl Module for PostgresqlUser {
    const NAME: &'static str = "postgresql_user";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!(
        "comment",
        "fail_on_user",
        "fail_on_role",
        "configuration",
        "reset_unspecified_configuration",
        "quote_configuration_values",
        "priv",
        "groups"
    );
    type Pending = Change;

    fn validate(&self) -> Result<(), ModuleError> {
        if self.encrypted == Some(false) {
            return Err(ModuleError::Args(
                "postgresql_user: encrypted: false (a password stored as plain text) is not \
                 supported; leave it out or set it true: passwords are stored as SCRAM-SHA-256 \
                 verifiers"
                    .into(),
            ));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let flags = self.role_attr_flags.join(",");
        if let Some(failed) = super::check_input(
            self.trust_input,
            &[
                Some(&self.name),
                self.password.as_deref(),
                self.expires.as_deref(),
                Some(&flags),
                self.session_role.as_deref(),
            ],
        ) {
            return Ok(Query::done(failed));
        }
        read(self, ctx).await
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        apply_sql(ctx, &self.conn(self.login_db()), change).await
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

async fn read(a: &PostgresqlUser, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
    let name = a.name.clone();
    let db = a.login_db().to_string();
    let conn = a.conn(&db);
    let row = try_sql!(sql_ok(
        ctx,
        &conn,
        &db,
        &format!(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolcanlogin, rolreplication, rolbypassrls, \
             rolconnlimit, coalesce(rolvaliduntil::text, ''), coalesce(rolpassword, '') FROM {} WHERE rolname = {};\n",
            // A session_role need not be a superuser, who alone reads pg_authid: pg_roles then
            // (the verifier shows as ******** and cannot be compared).
            if conn.session_role.is_some() { "pg_roles" } else { "pg_authid" },
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
    if a.state == State::Absent {
        if exists {
            stmts.push(format!("DROP ROLE {ident};"));
        }
        return Ok(plan_sql(ctx, &db, stmts, r, &format!("role {name}")));
    }
    let mut wanted: Vec<String> = Vec::new();
    for flag in a
        .role_attr_flags
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
    let password = a.password.clone().filter(|p| !p.is_empty());
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
    if let Some(limit) = a.conn_limit
        && (!exists || fields.get(7).copied() != Some(limit.to_string().as_str()))
    {
        clauses.push(format!("CONNECTION LIMIT {limit}"));
    }
    if let Some(exp) = &a.expires {
        let have = fields.get(8).copied().unwrap_or("");
        if !exists || !same_timestamp(have, exp) {
            clauses.push(format!("VALID UNTIL {}", quote_literal(exp)));
        }
    }
    let mut password_changed = false;
    if let Some(pw) = &password {
        let stored = fields.get(9).copied().unwrap_or("");
        let matches = exists && password_matches(stored, pw, &name);
        let no_changes = a.no_password_changes.unwrap_or(false);
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
    Ok(plan_sql(ctx, &db, stmts, r, &format!("role {name}")))
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
