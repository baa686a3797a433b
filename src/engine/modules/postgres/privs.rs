//! `postgresql_privs`: privileges on databases, schemas, tables and sequences, and default
//! privileges of future objects.

use super::{Change, Conn, State, apply_sql, plan_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

/// The object types granted on here (Ansible's others: run with ansible-playbook).
#[derive(serde::Deserialize, Clone, Copy, PartialEq, Eq, Default, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Table,
    Sequence,
    Database,
    Schema,
    DefaultPrivs,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::Sequence => "sequence",
            Kind::Database => "database",
            Kind::Schema => "schema",
            Kind::DefaultPrivs => "default_privs",
        }
    }
}

pg_args! {
    pub struct PostgresqlPrivs {
        /// The database the objects are in (psql connects to it).
        #[serde(default, alias = "db", alias = "login_db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub database: Option<String>,
        #[serde(alias = "role", deserialize_with = "crate::engine::modules::args::list")]
        pub roles: Vec<String>,
        #[serde(default, alias = "priv", deserialize_with = "crate::engine::modules::args::list")]
        pub privs: Vec<String>,
        #[serde(default, rename = "type")]
        pub kind: Kind,
        #[serde(default, alias = "obj", deserialize_with = "crate::engine::modules::args::list")]
        pub objs: Vec<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub schema: Option<String>,
        #[serde(default)]
        pub state: State,
        #[serde(default, alias = "admin_option", deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub grant_option: Option<bool>,
        /// Whose future objects `default_privs` are for (default: the connecting role).
        #[serde(default, deserialize_with = "crate::engine::modules::args::list")]
        pub target_roles: Vec<String>,
    }
}

impl PostgresqlPrivs {
    pub(super) fn database(&self) -> &str {
        self.database.as_deref().unwrap_or("postgres")
    }
}

impl Module for PostgresqlPrivs {
    const NAME: &'static str = "postgresql_privs";
    const ANSIBLE_ONLY: &'static [&'static str] =
        pg_ansible_only!("fail_on_role", "usage_on_types");
    type Pending = Change;

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let (roles, targets) = (self.roles.join(","), self.target_roles.join(","));
        if let Some(failed) = super::check_input(
            self.trust_input,
            &[
                Some(&roles),
                Some(&targets),
                self.session_role.as_deref(),
                self.schema.as_deref(),
            ],
        ) {
            return Ok(Query::done(failed));
        }
        read(self, ctx).await
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        apply_sql(ctx, &self.conn(self.database()), change).await
    }
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

async fn read(a: &PostgresqlPrivs, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
    let kind = a.kind.as_str();
    let state = a.state.as_str();
    let database = a.database().to_string();
    let conn = a.conn(&database);
    let roles = a.roles.clone();
    if roles.is_empty() {
        return Err(ModuleError::Args(
            "postgresql_privs: 'roles' is empty".into(),
        ));
    }
    let all: &[&str] = match kind {
        "database" => DB_PRIVS,
        "schema" => SCHEMA_PRIVS,
        "sequence" => SEQ_PRIVS,
        "default_privs" => return default_privs(a, ctx, &conn, &database, &roles, state).await,
        _ => TABLE_PRIVS,
    };
    let mut privs = Vec::new();
    for p in a.privs.iter().flat_map(|p| {
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
    let schema = a.schema.clone().unwrap_or_else(|| "public".into());
    let objs: Vec<String> = match kind {
        "database" => {
            let o = a.objs.clone();
            if o.is_empty() {
                vec![database.clone()]
            } else {
                o
            }
        }
        _ => a.objs.clone(),
    };
    if objs.is_empty() {
        return Err(ModuleError::Args(
            "postgresql_privs: 'objs' is required for this type".into(),
        ));
    }
    // (object SQL name, ACL query) per object; the ACL is expanded with defaults when NULL.
    let mut targets: Vec<(String, String)> = Vec::new();
    for o in &objs {
        match kind {
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
                    targets.push(rel_target(&schema, rel, kind));
                }
            }
            _ => targets.push(rel_target(&schema, o, kind)),
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
    let obj_kw = match kind {
        "database" => "DATABASE",
        "schema" => "SCHEMA",
        "sequence" => "SEQUENCE",
        _ => "TABLE",
    };
    let grant_option = a.grant_option.unwrap_or(false);
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
    Ok(plan_sql(
        ctx,
        &database,
        stmts,
        ModuleResult::ok(),
        &format!("privileges in {database}"),
    ))
}

/// `ALTER DEFAULT PRIVILEGES`: privileges that future objects of `target_roles` get.
async fn default_privs(
    a: &PostgresqlPrivs,
    ctx: &Ctx<'_>,
    conn: &Conn,
    database: &str,
    roles: &[String],
    state: &str,
) -> Result<Query<Change>, ModuleError> {
    const KINDS: &[(&str, &str, &[&str])] = &[
        ("TABLES", "r", TABLE_PRIVS),
        ("SEQUENCES", "S", SEQ_PRIVS),
        ("FUNCTIONS", "f", &["EXECUTE"]),
        ("TYPES", "T", &["USAGE"]),
        ("SCHEMAS", "n", &["USAGE", "CREATE"]),
    ];
    let mut objs: Vec<String> = a.objs.iter().map(|o| o.to_ascii_uppercase()).collect();
    if objs.is_empty() {
        return Err(ModuleError::Args(
            "postgresql_privs: type=default_privs needs objs (TABLES, SEQUENCES, FUNCTIONS, TYPES, SCHEMAS or ALL_DEFAULT)".into(),
        ));
    }
    if objs.iter().any(|o| o == "ALL_DEFAULT") {
        objs = KINDS.iter().map(|(k, _, _)| k.to_string()).collect();
    }
    let schema = a.schema.clone();
    let targets = a.target_roles.clone();
    let targets: Vec<Option<String>> = if targets.is_empty() {
        vec![None]
    } else {
        targets.into_iter().map(Some).collect()
    };
    let wanted: Vec<String> = a
        .privs
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
    Ok(plan_sql(
        ctx,
        database,
        stmts,
        ModuleResult::ok(),
        &format!("default privileges in {database}"),
    ))
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
