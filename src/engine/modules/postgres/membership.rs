//! `postgresql_membership`: roles that are (or are not) members of groups.

use super::{Change, apply_sql, check_input, plan_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

/// `state:`; `exact` (revoke every other group) is not implemented.
#[derive(serde::Deserialize, Clone, Copy, PartialEq, Eq, Default, Debug)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    #[default]
    Present,
    Absent,
}

pg_args! {
    pub struct PostgresqlMembership {
        #[serde(alias = "group", alias = "source_role", alias = "source_roles", deserialize_with = "crate::engine::modules::args::list")]
        pub groups: Vec<String>,
        #[serde(alias = "target_role", alias = "users", alias = "user", deserialize_with = "crate::engine::modules::args::list")]
        pub target_roles: Vec<String>,
        #[serde(default)]
        pub state: MemberState,
        #[serde(default, alias = "db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

impl PostgresqlMembership {
    fn db(&self) -> String {
        self.login_db.clone().unwrap_or_else(|| "postgres".into())
    }
}

impl Module for PostgresqlMembership {
    const NAME: &'static str = "postgresql_membership";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!("fail_on_role");
    type Pending = Change;

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let (groups, targets) = (self.groups.join(","), self.target_roles.join(","));
        if let Some(failed) = check_input(
            self.trust_input,
            &[Some(&groups), Some(&targets), self.session_role.as_deref()],
        ) {
            return Ok(Query::done(failed));
        }
        let db = self.db();
        let conn = self.conn(&db);
        let lits = |v: &[String]| {
            v.iter()
                .map(|s| quote_literal(s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Every named role must exist (the module fails on a missing one by default).
        let out = try_sql!(
            sql_ok(
                ctx,
                &conn,
                &db,
                &format!(
                    "SELECT 'role', rolname FROM pg_roles WHERE rolname IN ({all});\n\
                 SELECT 'member', g.rolname, m.rolname FROM pg_auth_members a \
                 JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member \
                 WHERE g.rolname IN ({gs}) AND m.rolname IN ({ts});\n",
                    all = lits(&[self.groups.clone(), self.target_roles.clone()].concat()),
                    gs = lits(&self.groups),
                    ts = lits(&self.target_roles),
                ),
            )
            .await
        );
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        for role in self.groups.iter().chain(&self.target_roles) {
            if !rows
                .iter()
                .any(|r| r.first() == Some(&"role") && r.get(1) == Some(&role.as_str()))
            {
                return Ok(Query::done(ModuleResult::fail(format!(
                    "Role {role} does not exist"
                ))));
            }
        }
        let is_member = |g: &str, t: &str| {
            rows.iter().any(|r| {
                r.first() == Some(&"member") && r.get(1) == Some(&g) && r.get(2) == Some(&t)
            })
        };
        let mut stmts = Vec::new();
        for g in &self.groups {
            for t in &self.target_roles {
                match (self.state, is_member(g, t)) {
                    (MemberState::Present, false) => {
                        stmts.push(format!("GRANT {} TO {};", quote_ident(g), quote_ident(t)))
                    }
                    (MemberState::Absent, true) => stmts.push(format!(
                        "REVOKE {} FROM {};",
                        quote_ident(g),
                        quote_ident(t)
                    )),
                    _ => {}
                }
            }
        }
        Ok(plan_sql(ctx, &db, stmts, ModuleResult::ok(), "membership"))
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        apply_sql(ctx, &self.conn(&self.db()), change).await
    }
}
