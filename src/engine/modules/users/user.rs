//! `user`: a local account present (uid, primary group, supplementary groups, comment, home,
//! shell, password hash) or absent, as ansible-core's Linux `User` class manages it. The
//! password is a hash; it goes to `chpasswd -e` on stdin and is reported as Ansible does,
//! `NOT_LOGGING_PASSWORD`.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::group::State;
use super::{Accounts, PasswdEntry};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize, Clone, Copy, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePassword {
    #[default]
    Always,
    OnCreate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    #[serde(alias = "user", deserialize_with = "args::string")]
    name: String,
    #[serde(default)]
    state: State,
    #[serde(default, deserialize_with = "args::opt_int")]
    uid: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    non_unique: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "opt_list")]
    groups: Option<Vec<String>>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    append: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    comment: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    home: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    shell: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    password: Option<String>,
    #[serde(default)]
    update_password: UpdatePassword,
    #[serde(default, alias = "createhome", deserialize_with = "args::opt_bool")]
    create_home: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    move_home: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    skeleton: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    system: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    force: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    remove: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    umask: Option<String>,
    #[serde(default, deserialize_with = "args::opt_int")]
    uid_min: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_int")]
    uid_max: Option<i64>,
}

/// `groups`: absent (None) differs from an empty list (remove every supplementary group).
fn opt_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    args::list(v).map(Some).map_err(serde::de::Error::custom)
}

/// What `apply` does.
pub enum Pending {
    Create,
    Delete,
    /// usermod's options (empty: none), whether to set the password, and whether to create
    /// the missing home directory.
    Modify {
        usermod: Vec<String>,
        password: bool,
        create_home: bool,
    },
}

impl User {
    fn create_home(&self) -> bool {
        self.create_home.unwrap_or(true)
    }

    fn base(&self) -> ModuleResult {
        let mut r = ModuleResult::ok();
        r.extra
            .insert("name".into(), Value::String(self.name.clone()));
        r.extra.insert("state".into(), self.state.as_str().into());
        r
    }

    /// The keys Ansible reports for an account that exists after the task.
    fn info(&self, r: &mut ModuleResult, p: &PasswdEntry) {
        r.extra.insert("uid".into(), p.uid.into());
        r.extra.insert("group".into(), p.gid.into());
        r.extra.insert("comment".into(), p.comment.clone().into());
        r.extra.insert("home".into(), p.home.clone().into());
        r.extra.insert("shell".into(), p.shell.clone().into());
        if let Some(g) = &self.groups {
            r.extra.insert("groups".into(), g.join(",").into());
        }
        if self.password.is_some() {
            r.extra
                .insert("password".into(), "NOT_LOGGING_PASSWORD".into());
        }
    }

    /// The named groups must exist: their names (a gid is taken as the group that has it).
    fn group_names(&self, db: &Accounts) -> Result<BTreeSet<String>, String> {
        let mut names = BTreeSet::new();
        for g in self.groups.iter().flatten() {
            match db.group(g) {
                Some(e) => names.insert(e.name.clone()),
                None => return Err(format!("Group {g} does not exist")),
            };
        }
        Ok(names)
    }

    /// usermod's options for what differs (Ansible's `modify_user_usermod`).
    fn usermod(&self, db: &Accounts, p: &PasswdEntry) -> Result<Vec<String>, String> {
        let mut a: Vec<String> = Vec::new();
        if let Some(uid) = self.uid
            && i64::from(p.uid) != uid
        {
            a.extend(["-u".into(), uid.to_string()]);
            if self.non_unique.unwrap_or(false) {
                a.push("-o".into());
            }
        }
        if let Some(g) = &self.group {
            let e = db
                .group(g)
                .ok_or_else(|| format!("Group {g} does not exist"))?;
            if e.gid != p.gid {
                a.extend(["-g".into(), e.gid.to_string()]);
            }
        }
        if let Some(groups) = &self.groups {
            let current: BTreeSet<String> = db
                .groups
                .iter()
                .filter(|g| g.members.iter().any(|m| m == &self.name))
                .map(|g| g.name.clone())
                .collect();
            let append = self.append.unwrap_or(false);
            let want = self.group_names(db)?;
            let need = if groups.is_empty() {
                !current.is_empty() && !append
            } else {
                let diff: BTreeSet<&String> = current.symmetric_difference(&want).collect();
                if append {
                    want.iter().any(|g| diff.contains(g))
                } else {
                    !diff.is_empty()
                }
            };
            if need {
                if append {
                    a.push("-a".into());
                }
                a.extend(["-G".into(), want.into_iter().collect::<Vec<_>>().join(",")]);
            }
        }
        if let Some(c) = &self.comment
            && c != &p.comment
        {
            a.extend(["-c".into(), c.clone()]);
        }
        if let Some(h) = &self.home
            && h != &p.home
        {
            a.extend(["-d".into(), h.clone()]);
            if self.move_home.unwrap_or(false) {
                a.push("-m".into());
            }
        }
        if let Some(s) = &self.shell
            && s != &p.shell
        {
            a.extend(["-s".into(), s.clone()]);
        }
        Ok(a)
    }

    fn password_differs(&self, db: &Accounts) -> bool {
        self.update_password == UpdatePassword::Always
            && self
                .password
                .as_deref()
                .is_some_and(|p| db.shadow.trim_start_matches('!') != p.trim_start_matches('!'))
    }

    /// useradd's options (Ansible's `create_user_useradd`, the hash left to chpasswd).
    fn useradd(&self, db: &Accounts) -> Result<Vec<String>, String> {
        let mut a: Vec<String> = vec!["useradd".into()];
        if let Some(uid) = self.uid {
            a.extend(["-u".into(), uid.to_string()]);
            if self.non_unique.unwrap_or(false) {
                a.push("-o".into());
            }
        }
        if let Some(g) = &self.group {
            if db.group(g).is_none() {
                return Err(format!("Group {g} does not exist"));
            }
            a.extend(["-g".into(), g.clone()]);
        } else if db.groups.iter().any(|g| g.name == self.name) {
            // A group named like the user exists: useradd must not try to create it.
            a.push("-N".into());
        }
        if self.groups.as_ref().is_some_and(|g| !g.is_empty()) {
            self.group_names(db)?;
            a.extend([
                "-G".into(),
                self.groups
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(","),
            ]);
        }
        if let Some(c) = &self.comment {
            a.extend(["-c".into(), c.clone()]);
        }
        if let Some(h) = &self.home {
            a.extend(["-d".into(), h.clone()]);
        }
        if let Some(s) = &self.shell {
            a.extend(["-s".into(), s.clone()]);
        }
        if self.create_home() {
            a.push("-m".into());
            if let Some(k) = &self.skeleton {
                a.extend(["-k".into(), k.clone()]);
            }
            if let Some(u) = &self.umask {
                a.extend(["-K".into(), format!("UMASK={u}")]);
            }
        } else {
            a.push("-M".into());
        }
        if self.system.unwrap_or(false) {
            a.push("-r".into());
        }
        for (key, v) in [("UID_MIN", self.uid_min), ("UID_MAX", self.uid_max)] {
            if let Some(v) = v {
                a.extend(["-K".into(), format!("{key}={v}")]);
            }
        }
        a.push("--".into());
        a.push(self.name.clone());
        Ok(a)
    }

    /// Shell lines creating `$h` as Ansible's `create_homedir` does (a copy of the skeleton,
    /// HOME_MODE or UMASK from login.defs); [`CHOWN_HOME`] then gives it to the user.
    fn homedir_script(&self) -> String {
        format!(
            "k={}\nif [ ! -e \"$h\" ]; then\n\
             mkdir -p -- \"$(dirname -- \"$h\")\"\n\
             if [ -e \"$k\" ] && [ \"$k\" != /dev/null ]; then cp -a -- \"$k\" \"$h\"; else mkdir -p -- \"$h\"; fi\n\
             if [ -f /etc/login.defs ]; then m=$(awk '/^HOME_MODE[ \\t]+[0-9]+$/ {{print $2; exit}}' /etc/login.defs)\n\
             if [ -z \"$m\" ]; then u=$(awk '/^UMASK[ \\t]+[0-9]+$/ {{u=$2}} END {{print u}}' /etc/login.defs)\n\
             if [ -n \"$u\" ]; then m=$(printf '%o' $(( 0777 & ~0$u ))); else m=755; fi; fi\n\
             chmod -- \"$m\" \"$h\"; fi\nfi\n",
            sh_quote(self.skeleton.as_deref().unwrap_or("/etc/skel"))
        )
    }

    /// The password goes on stdin: `name:hash` for `chpasswd -e`.
    fn password_stdin(&self) -> Vec<u8> {
        format!("{}:{}\n", self.name, self.password.as_deref().unwrap_or("")).into_bytes()
    }

    async fn home_exists(&self, ctx: &Ctx<'_>, home: &str) -> Result<bool, ModuleError> {
        let out = ctx
            .query(&format!("h={}\n[ -e \"$h\" ]", sh_quote(home)), None)
            .await?;
        Ok(out.rc == 0)
    }

    fn failed(&self, msg: String, rc: Option<i32>) -> ModuleResult {
        let mut r = ModuleResult::fail(msg);
        r.rc = rc;
        r.extra
            .insert("name".into(), Value::String(self.name.clone()));
        r
    }

    /// Runs `script` (stdin: the password line when `password`); Ansible's failure on rc ≠ 0.
    async fn run(
        &self,
        ctx: &Ctx<'_>,
        script: &str,
        password: bool,
    ) -> Result<Result<crate::transport::Output, ModuleResult>, ModuleError> {
        let stdin = password.then(|| self.password_stdin());
        let out = ctx
            .query(
                &format!("set -e\nn={}\n{script}", sh_quote(&self.name)),
                stdin.as_deref(),
            )
            .await?;
        if out.rc != 0 {
            return Ok(Err(
                self.failed(out.stderr.trim_end().to_string(), Some(out.rc))
            ));
        }
        Ok(Ok(out))
    }

    /// The result once the account exists (after apply): Ansible's keys from the new entry.
    async fn finish(
        &self,
        ctx: &Ctx<'_>,
        mut r: ModuleResult,
        out: &crate::transport::Output,
    ) -> Result<ModuleResult, ModuleError> {
        r.changed = true;
        if !out.stdout.is_empty() {
            r.stdout = Some(out.stdout.clone());
        }
        if !out.stderr.is_empty() {
            r.stderr = Some(out.stderr.clone());
        }
        let db = Accounts::read(ctx, Some(&self.name)).await?;
        match &db.passwd {
            Some(p) => self.info(&mut r, p),
            None => {
                r.failed = true;
                r.msg = Some(format!("failed to look up user name: {}", self.name));
            }
        }
        Ok(r)
    }
}

/// Gives `$h` (recursively) to the user `$n`, as Ansible's `chown_homedir`.
const CHOWN_HOME: &str = "chown -R -- \"$(id -u -- \"$n\"):$(id -g -- \"$n\")\" \"$h\"\n";

fn argv_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| sh_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Module for User {
    const NAME: &'static str = "user";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "login_class",
        "password_expire_max",
        "password_expire_min",
        "password_expire_warn",
        "password_expire_account_disable",
        "hidden",
        "seuser",
        "generate_ssh_key",
        "ssh_key_bits",
        "ssh_key_type",
        "ssh_key_file",
        "ssh_key_comment",
        "ssh_key_passphrase",
        "expires",
        "password_lock",
        "local",
        "profile",
        "authorization",
        "role",
    ];
    type Pending = Pending;
    const PATH_ARGS: &'static [&'static str] = &["home", "shell", "ssh_key_file"];

    fn validate(&self) -> Result<(), ModuleError> {
        if self.name.is_empty() || self.name.contains([':', '\n', ',']) {
            return Err(ModuleError::Args(format!(
                "user: argument 'name' {:?} is not a valid user name (no ':', ',' or newline)",
                self.name
            )));
        }
        if self.password.as_deref().is_some_and(|p| p.contains('\n')) {
            return Err(ModuleError::Args(
                "user: argument 'password' must be one line (a crypt hash)".into(),
            ));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
        let db = Accounts::read(ctx, Some(&self.name)).await?;
        let Some(p) = &db.passwd else {
            return Ok(match self.state {
                State::Absent => Query::done(self.base()),
                // Ansible's check mode reports only `changed` for a new account.
                State::Present => Query::change(ModuleResult::changed(true), Pending::Create),
            });
        };
        if self.state == State::Absent {
            return Ok(Query::change(ModuleResult::changed(true), Pending::Delete));
        }
        let usermod = match self.usermod(&db, p) {
            Ok(a) => a,
            Err(msg) => return Ok(Query::done(ModuleResult::fail(msg))),
        };
        let password = self.password_differs(&db);
        let home = self.home.clone().unwrap_or_else(|| p.home.clone());
        let create_home = self.create_home() && !self.home_exists(ctx, &home).await?;
        let mut r = self.base();
        r.extra
            .insert("append".into(), self.append.unwrap_or(false).into());
        r.extra
            .insert("move_home".into(), self.move_home.unwrap_or(false).into());
        self.info(&mut r, p);
        if usermod.is_empty() && !password && !create_home {
            return Ok(Query::done(r));
        }
        r.changed = true;
        Ok(Query::change(
            r,
            Pending::Modify {
                usermod,
                password,
                create_home,
            },
        ))
    }

    async fn apply(&self, pending: Pending, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let mut r = self.base();
        match pending {
            Pending::Delete => {
                let mut argv: Vec<String> = vec!["userdel".into()];
                if self.force.unwrap_or(false) {
                    argv.push("-f".into());
                }
                if self.remove.unwrap_or(false) {
                    argv.push("-r".into());
                }
                argv.extend(["--".into(), self.name.clone()]);
                let out = match self.run(ctx, &argv_words(&argv), false).await? {
                    Ok(o) => o,
                    Err(f) => return Ok(f),
                };
                r.changed = true;
                r.extra
                    .insert("force".into(), self.force.unwrap_or(false).into());
                r.extra
                    .insert("remove".into(), self.remove.unwrap_or(false).into());
                if !out.stdout.is_empty() {
                    r.stdout = Some(out.stdout);
                }
                if !out.stderr.is_empty() {
                    r.stderr = Some(out.stderr);
                }
                Ok(r)
            }
            Pending::Create => {
                let db = Accounts::read(ctx, None).await?;
                let argv = match self.useradd(&db) {
                    Ok(a) => a,
                    Err(msg) => return Ok(ModuleResult::fail(msg)),
                };
                let mut script = String::new();
                if let (Some(h), true) = (&self.home, self.create_home()) {
                    // useradd does not create a missing parent: Ansible then creates the home
                    // itself before useradd (which warns that it exists) and hands it over after.
                    script.push_str(&format!(
                        "h={}\nparents=0\nif [ ! -d \"$(dirname -- \"$h\")\" ]; then parents=1\n{}fi\n",
                        sh_quote(h),
                        self.homedir_script()
                    ));
                }
                script.push_str(&argv_words(&argv));
                script.push('\n');
                if self.password.is_some() {
                    script.push_str("chpasswd -e\n");
                }
                if self.home.is_some() && self.create_home() {
                    script.push_str(&format!("if [ \"$parents\" = 1 ]; then {}fi\n", CHOWN_HOME));
                }
                let out = match self.run(ctx, &script, self.password.is_some()).await? {
                    Ok(o) => o,
                    Err(f) => return Ok(f),
                };
                r.extra
                    .insert("system".into(), self.system.unwrap_or(false).into());
                r.extra
                    .insert("create_home".into(), self.create_home().into());
                self.finish(ctx, r, &out).await
            }
            Pending::Modify {
                usermod,
                password,
                create_home,
            } => {
                let mut script = String::new();
                if !usermod.is_empty() {
                    let mut argv = vec!["usermod".to_string()];
                    argv.extend(usermod);
                    argv.extend(["--".into(), self.name.clone()]);
                    script.push_str(&argv_words(&argv));
                    script.push('\n');
                }
                if password {
                    script.push_str("chpasswd -e\n");
                }
                if create_home {
                    script.push_str("h=$(getent passwd -- \"$n\" | cut -d: -f6)\n");
                    script.push_str(&self.homedir_script());
                    script.push_str(CHOWN_HOME);
                }
                let out = match self.run(ctx, &script, password).await? {
                    Ok(o) => o,
                    Err(f) => return Ok(f),
                };
                r.extra
                    .insert("append".into(), self.append.unwrap_or(false).into());
                r.extra
                    .insert("move_home".into(), self.move_home.unwrap_or(false).into());
                self.finish(ctx, r, &out).await
            }
        }
    }
}
