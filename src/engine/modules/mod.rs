//! Modules: each reads the target's current state, computes the difference, and changes only
//! that (or, in check mode, reports it). One family per file.

pub mod args;
pub mod command;
pub mod files;
pub mod misc;
pub mod module;
pub mod pkg;
pub mod postgres;
pub mod service;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::transport::{self, Become, ExecRequest, Output, Stream, Transport, TransportError};

/// What a module accepts, checked at plan time.
pub struct ModuleSpec {
    pub name: &'static str,
    pub args: &'static [&'static str],
    /// Alternative argument names, normalized to the canonical one.
    pub aliases: &'static [(&'static str, &'static str)],
    /// Required arguments; `a|b` means one of them.
    pub required: &'static [&'static str],
    /// Takes free-form text (`command: ls -l`).
    pub free_form: bool,
}

const PG_COMMON: &[&str] = &[
    "login_db",
    "db",
    "port",
    "login_port",
    "login_unix_socket",
    "login_user",
    "login_host",
    "login_password",
    "ssl_mode",
    "ca_cert",
    "session_role",
    "trust_input",
];

macro_rules! spec {
    ($name:literal, [$($a:literal),* $(,)?], aliases [$(($f:literal, $t:literal)),* $(,)?], required [$($r:literal),* $(,)?], $free:expr) => {
        ModuleSpec { name: $name, args: &[$($a),*], aliases: &[$(($f, $t)),*], required: &[$($r),*], free_form: $free }
    };
}

static SPECS: &[ModuleSpec] = &[
    spec!("command", ["_raw_params", "cmd", "argv", "chdir", "creates", "removes", "stdin", "stdin_add_newline", "strip_empty_ends", "executable", "warn", "expand_argument_vars"], aliases [], required [], true),
    spec!("shell", ["_raw_params", "cmd", "chdir", "creates", "removes", "stdin", "stdin_add_newline", "strip_empty_ends", "executable", "warn"], aliases [], required [], true),
    spec!("apt", ["name", "state", "update_cache", "cache_valid_time", "install_recommends", "force", "purge", "autoremove", "default_release", "dpkg_options", "allow_unauthenticated", "only_upgrade", "deb", "lock_timeout", "clean", "upgrade"], aliases [("pkg", "name"), ("package", "name"), ("update-cache", "update_cache"), ("install-recommends", "install_recommends")], required [], false),
    spec!(
        "package",
        ["name", "state", "use"],
        aliases[("pkg", "name")],
        required["name"],
        false
    ),
    spec!(
        "copy",
        [
            "content",
            "src",
            "dest",
            "owner",
            "group",
            "mode",
            "backup",
            "validate",
            "force",
            "remote_src",
            "directory_mode",
            "unsafe_writes",
            "decrypt",
            "follow",
            "local_follow",
            "checksum",
            "seuser",
            "serole",
            "setype",
            "selevel",
            "attributes"
        ],
        aliases[("path", "dest")],
        required["dest"],
        false
    ),
    spec!("template", ["src", "dest", "owner", "group", "mode", "backup", "validate", "force", "newline_sequence", "trim_blocks", "lstrip_blocks", "unsafe_writes", "follow", "output_encoding", "variable_start_string", "variable_end_string", "block_start_string", "block_end_string", "seuser", "serole", "setype", "selevel", "attributes"], aliases [("path", "dest")], required ["src", "dest"], false),
    spec!("lineinfile", ["path", "regexp", "search_string", "line", "state", "insertafter", "insertbefore", "create", "backup", "validate", "owner", "group", "mode", "backrefs", "firstmatch", "unsafe_writes", "attributes", "seuser", "serole", "setype", "selevel"], aliases [("dest", "path"), ("destfile", "path"), ("name", "path"), ("regex", "regexp"), ("value", "line")], required ["path"], false),
    spec!("blockinfile", ["path", "block", "marker", "marker_begin", "marker_end", "state", "insertafter", "insertbefore", "create", "backup", "validate", "owner", "group", "mode", "append_newline", "prepend_newline", "unsafe_writes", "attributes"], aliases [("dest", "path"), ("destfile", "path"), ("name", "path"), ("content", "block")], required ["path"], false),
    spec!("file", ["path", "state", "owner", "group", "mode", "recurse", "src", "force", "follow", "access_time", "modification_time", "attributes", "unsafe_writes"], aliases [("dest", "path"), ("name", "path")], required ["path"], false),
    spec!("stat", ["path", "follow", "get_checksum", "checksum_algorithm", "get_mime", "get_attributes"], aliases [("dest", "path"), ("name", "path")], required ["path"], false),
    spec!(
        "service",
        [
            "name",
            "state",
            "enabled",
            "pattern",
            "sleep",
            "arguments",
            "runlevel",
            "use"
        ],
        aliases[("args", "arguments")],
        required["name"],
        false
    ),
    spec!("systemd", ["name", "state", "enabled", "daemon_reload", "daemon_reexec", "masked", "scope", "no_block", "force"], aliases [("unit", "name"), ("service", "name"), ("daemon-reload", "daemon_reload")], required [], false),
    spec!("wait_for", ["host", "port", "state", "timeout", "delay", "sleep", "connect_timeout", "path", "search_regex", "msg", "active_connection_states", "exclude_hosts"], aliases [], required [], false),
    spec!("set_fact", ["cacheable"], aliases [], required [], false),
    spec!("debug", ["msg", "var", "verbosity"], aliases [], required [], false),
    spec!("assert", ["that", "msg", "fail_msg", "success_msg", "quiet"], aliases [], required ["that"], false),
    spec!("fail", ["msg"], aliases [], required [], false),
    spec!("pause", ["_raw_params", "seconds", "minutes", "prompt", "echo"], aliases [], required [], false),
    spec!("meta", ["_raw_params"], aliases [], required ["_raw_params"], false),
    spec!("setup", ["gather_subset", "filter", "gather_timeout", "fact_path"], aliases [], required [], false),
    spec!("gather_facts", ["parallel"], aliases [], required [], false),
    spec!("postgresql_db", ["name", "owner", "encoding", "lc_collate", "lc_ctype", "template", "state", "conn_limit", "tablespace", "maintenance_db", "force", "comment", "icu_locale", "locale_provider", "target", "target_opts", "dump_extra_args"], aliases [("db", "name"), ("datname", "name")], required ["name"], false),
    spec!(
        "postgresql_user",
        [
            "name",
            "password",
            "role_attr_flags",
            "expires",
            "state",
            "encrypted",
            "no_password_changes",
            "conn_limit",
            "comment",
            "fail_on_user",
            "configuration",
            "priv",
            "groups"
        ],
        aliases[("user", "name")],
        required["name"],
        false
    ),
    spec!("postgresql_privs", ["database", "roles", "privs", "type", "objs", "schema", "state", "grant_option", "target_roles", "fail_on_role", "usage_on_types"], aliases [("db", "database"), ("login_db", "database"), ("role", "roles"), ("priv", "privs"), ("obj", "objs")], required ["roles"], false),
    spec!("postgresql_pg_hba", ["dest", "contype", "databases", "users", "source", "method", "options", "state", "address", "netmask", "backup", "backup_file", "create", "keep_comments_at_rules", "comment", "overwrite", "rules", "rules_behavior", "owner", "group", "mode"], aliases [("src", "source"), ("db", "databases"), ("user", "users")], required ["dest"], false),
    spec!("postgresql_query", ["query", "positional_args", "named_args", "path_to_script", "as_single_query", "autocommit", "encoding", "search_path"], aliases [], required ["query|path_to_script"], false),
    spec!("postgresql_ping", [], aliases [], required [], false),
];

/// `ansible.builtin.copy` → `copy`; `community.postgresql.postgresql_db` → `postgresql_db`.
pub fn canonical_name(name: &str) -> String {
    for prefix in [
        "ansible.builtin.",
        "ansible.legacy.",
        "community.postgresql.",
        "community.general.",
        "ansible.posix.",
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    match name {
        "include" => "include_tasks".into(),
        "systemd_service" => "systemd".into(),
        other => other.to_string(),
    }
}

pub fn spec(name: &str) -> Option<&'static ModuleSpec> {
    SPECS.iter().find(|s| s.name == name)
}

/// Common PostgreSQL connection arguments accepted by every `postgresql_*` module.
pub fn is_pg_common_arg(module: &str, arg: &str) -> bool {
    module.starts_with("postgresql_") && PG_COMMON.contains(&arg)
}

pub fn names() -> Vec<&'static str> {
    SPECS
        .iter()
        .map(|s| s.name)
        .filter(|n| !matches!(*n, "setup" | "gather_facts"))
        .collect()
}

/// A file difference, shown as a unified diff.
#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct Diff {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

/// Largest file text a diff shows (before or after); a larger one is named with its size only,
/// so `--check --diff` over a big file neither prints nor journals it.
pub const MAX_DIFF_TEXT: usize = 256 * 1024;

impl Diff {
    /// What a diff shows instead of a text of `size` bytes over [`MAX_DIFF_TEXT`].
    pub fn not_shown(size: u64) -> String {
        format!(
            "(not shown: {size} bytes; diffs are shown for files under {} KiB)\n",
            MAX_DIFF_TEXT >> 10
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct ModuleResult {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub msg: Option<String>,
    pub rc: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub diff: Vec<Diff>,
    /// Module-specific fields of the registered result (`stat`, `ansible_facts`, `query_result` …).
    pub extra: Map<String, Value>,
}

impl ModuleResult {
    pub fn ok() -> Self {
        Self::default()
    }
    pub fn changed(changed: bool) -> Self {
        Self {
            changed,
            ..Default::default()
        }
    }
    pub fn fail(msg: impl Into<String>) -> Self {
        Self {
            failed: true,
            msg: Some(msg.into()),
            ..Default::default()
        }
    }
    pub fn with_msg(mut self, msg: impl Into<String>) -> Self {
        self.msg = Some(msg.into());
        self
    }
    pub fn with_diff(mut self, diff: Diff) -> Self {
        self.diff.push(diff);
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Arguments that are wrong once templated (wrong type, invalid value).
    #[error("{0}")]
    Args(String),
}

pub type Sink = Arc<dyn Fn(Stream, &[u8]) + Send + Sync>;

/// Everything a module may use.
pub struct Ctx<'a> {
    pub host: &'a str,
    pub conn: &'a dyn Transport,
    pub escalation: Option<Become>,
    pub check: bool,
    pub diff: bool,
    pub templar: &'a crate::template::Templar,
    pub scope: &'a minijinja::Value,
    pub playbook_dir: &'a Path,
    pub facts: &'a Map<String, Value>,
    /// Exported to every command (task `environment:`).
    pub environment: Vec<(String, String)>,
    pub sink: Sink,
    pub command_timeout: Option<Duration>,
    /// A kill stops the command running now.
    pub cancel: crate::engine::Cancel,
}

impl Ctx<'_> {
    /// Runs a shell script on the target (as the become user when set), streaming its output.
    pub async fn sh(&self, script: &str, stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        self.exec(script, stdin, None, true).await
    }

    /// Like `sh`, without streaming (for state queries whose output is data, not progress).
    pub async fn query(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, TransportError> {
        self.exec(script, stdin, None, false).await
    }

    /// Runs a script with a local file streamed to its stdin.
    pub async fn query_with_file(
        &self,
        script: &str,
        file: &Path,
    ) -> Result<Output, TransportError> {
        self.exec(script, None, Some(file), false).await
    }

    /// The one way commands reach the target: task `environment:` exported, become applied.
    async fn exec(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
        stdin_file: Option<&Path>,
        stream: bool,
    ) -> Result<Output, TransportError> {
        let sink = self.sink.clone();
        let mut forward = |s, data: &[u8]| {
            if stream {
                sink(s, data)
            }
        };
        // Environment values go on stdin (a script is visible in `ps` on the target); streamed
        // output is progress and may be endless: the result keeps its head and tail.
        let run = transport::exec_env(
            self.conn,
            ExecRequest {
                script,
                stdin,
                stdin_file,
                escalation: self.escalation.as_ref(),
                timeout: self.command_timeout,
            },
            &self.environment,
            &mut forward,
            stream.then_some(transport::CAPTURE_HALF),
        );
        // Dropping the command's future kills it (see transport::exec).
        tokio::select! {
            r = run => r,
            _ = self.cancel.killed() => Err(TransportError::Other(
                "killed: the run was cancelled while this command ran".into(),
            )),
        }
    }

    pub fn os_family(&self) -> &str {
        self.facts
            .get("os_family")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Typed access to a task's templated arguments, with errors that name the argument.
pub struct Args<'a> {
    pub module: &'a str,
    pub map: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    pub fn new(module: &'a str, map: &'a Map<String, Value>) -> Self {
        Self { module, map }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<String>, ModuleError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.type_err(key, "a string", other)),
        }
    }

    pub fn str(&self, key: &str) -> Result<String, ModuleError> {
        self.opt_str(key)?.ok_or_else(|| {
            ModuleError::Args(format!("{}: argument '{key}' is required", self.module))
        })
    }

    pub fn str_or(&self, key: &str, default: &str) -> Result<String, ModuleError> {
        Ok(self.opt_str(key)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ModuleError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => {
                parse_bool(v).ok_or_else(|| self.type_err(key, "a boolean (yes/no, true/false)", v))
            }
        }
    }

    pub fn opt_int(&self, key: &str) -> Result<Option<i64>, ModuleError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| self.type_err(key, "an integer", &Value::Number(n.clone()))),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.type_err(key, "an integer", &Value::String(s.clone()))),
            Some(other) => Err(self.type_err(key, "an integer", other)),
        }
    }

    pub fn list(&self, key: &str) -> Result<Vec<String>, ModuleError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(self.type_err(key, "a list of strings", other)),
                })
                .collect(),
            Some(other) => Err(self.type_err(key, "a list or a comma-separated string", other)),
        }
    }

    /// One of `choices`, or `default`.
    pub fn choice(
        &self,
        key: &str,
        choices: &[&str],
        default: &str,
    ) -> Result<String, ModuleError> {
        let v = self.str_or(key, default)?;
        if choices.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(ModuleError::Args(format!(
                "{}: argument '{key}' is {v:?}; valid: {}",
                self.module,
                choices.join(", ")
            )))
        }
    }

    /// A file mode as octal text (`0644`); YAML's `0644` arrives as the integer 420.
    pub fn mode(&self, key: &str) -> Result<Option<String>, ModuleError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(m) if m <= 0o7777 => Ok(Some(format!("{m:04o}"))),
                _ => Err(self.type_err(
                    key,
                    "an octal mode such as '0644'",
                    &Value::Number(n.clone()),
                )),
            },
            Some(Value::String(s)) => {
                let t = s.trim();
                let digits = t.trim_start_matches("0o");
                if !digits.is_empty()
                    && digits.len() <= 4
                    && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
                {
                    let m = u32::from_str_radix(digits, 8).unwrap_or(0);
                    Ok(Some(format!("{m:04o}")))
                } else if !t.is_empty() && t.bytes().all(|b| b"ugoa+-=rwxXst,".contains(&b)) {
                    Ok(Some(t.to_string()))
                } else {
                    Err(self.type_err(
                        key,
                        "an octal mode such as '0644' or symbolic like 'u=rw,g=r'",
                        &Value::String(s.clone()),
                    ))
                }
            }
            Some(other) => Err(self.type_err(key, "an octal mode such as '0644'", other)),
        }
    }

    fn type_err(&self, key: &str, want: &str, got: &Value) -> ModuleError {
        let shown = match got {
            Value::String(s) if s.len() > 60 => format!(
                "{:?}…",
                &s[..s.char_indices().nth(60).map_or(s.len(), |(i, _)| i)]
            ),
            other => other.to_string(),
        };
        ModuleError::Args(format!(
            "{}: argument '{key}' must be {want}, got {shown}",
            self.module
        ))
    }
}

pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_f64().unwrap_or(0.0) != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" | "t" => Some(true),
            "no" | "false" | "off" | "0" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Runs one module invocation.
pub async fn run(
    module: &str,
    args: &Map<String, Value>,
    ctx: &Ctx<'_>,
) -> Result<ModuleResult, ModuleError> {
    let a = Args::new(module, args);
    match module {
        "command" | "shell" => command::run(module, &a, ctx).await,
        "apt" => pkg::apt(&a, ctx).await,
        "package" => pkg::package(&a, ctx).await,
        "copy" => files::copy(&a, ctx).await,
        "template" => files::template(&a, ctx).await,
        "lineinfile" => files::lineinfile(&a, ctx).await,
        "blockinfile" => files::blockinfile(&a, ctx).await,
        "file" => files::file(&a, ctx).await,
        "stat" => files::stat(&a, ctx).await,
        "service" | "systemd" => service::service(module, &a, ctx).await,
        "wait_for" => service::wait_for(&a, ctx).await,
        "debug" => misc::debug(&a, ctx),
        "assert" => misc::assert(&a, ctx),
        "fail" => Ok(ModuleResult::fail(
            a.str_or("msg", "Failed as requested from task")?,
        )),
        "pause" => misc::pause(&a, ctx).await,
        "setup" | "gather_facts" => misc::setup(ctx).await,
        "postgresql_db" => module::drive::<postgres::PostgresqlDb>(args, ctx).await,
        "postgresql_user" => module::drive::<postgres::PostgresqlUser>(args, ctx).await,
        "postgresql_privs" => module::drive::<postgres::PostgresqlPrivs>(args, ctx).await,
        "postgresql_pg_hba" => module::drive::<postgres::PostgresqlPgHba>(args, ctx).await,
        "postgresql_query" => module::drive::<postgres::PostgresqlQuery>(args, ctx).await,
        "postgresql_ping" => module::drive::<postgres::PostgresqlPing>(args, ctx).await,
        other => Err(ModuleError::Args(format!(
            "module '{other}' is handled by the engine, not run on a host"
        ))),
    }
}
