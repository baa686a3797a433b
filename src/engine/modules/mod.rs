//! Modules: each reads the target's current state, computes the difference, and changes only
//! that (or, in check mode, reports it). One family per file.

pub mod apt_repo;
pub mod args;
pub mod catalog;
pub mod command;
pub mod cron;
pub mod dnf;
pub mod expand;
pub mod facts;
pub mod files;
pub mod get_url;
pub mod hostname;
pub mod locale_gen;
pub mod misc;
pub mod module;
pub mod pg_clusters;
pub mod pkg;
pub mod postgres;
pub mod reboot;
pub mod service;
pub mod sysctl;
pub mod timezone;
pub mod ufw;
pub mod unarchive;
pub mod users;

pub use args::parse_bool;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::transport::{self, Become, ExecRequest, Output, Stream, Transport, TransportError};

/// A file difference, shown as a unified diff.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Default)]
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

    /// `text` as a diff shows it: itself, or [`not_shown`](Self::not_shown) over
    /// [`MAX_DIFF_TEXT`].
    pub fn bounded_text(text: &str) -> String {
        if text.len() > MAX_DIFF_TEXT {
            Self::not_shown(text.len() as u64)
        } else {
            text.to_string()
        }
    }

    /// The diff as events and the journal carry it (texts over [`MAX_DIFF_TEXT`] named by size).
    pub fn bounded(&self) -> Diff {
        Diff {
            before_header: self.before_header.clone(),
            after_header: self.after_header.clone(),
            before: Self::bounded_text(&self.before),
            after: Self::bounded_text(&self.after),
        }
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

/// Opens a new connection to the task's host, which then replaces the host's connection for
/// the rest of the run (`reboot` waits for the host to come back on one).
pub type Reconnect = dyn Fn() -> futures::future::BoxFuture<'static, Result<Arc<dyn Transport>, TransportError>>
    + Send
    + Sync;

/// Everything a module may use.
pub struct Ctx<'a> {
    pub host: &'a str,
    /// The module as the task wrote it (`ansible.builtin.shell`): Ansible's `task.action`, which
    /// its messages name.
    pub action: &'a str,
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
    /// None where the connection cannot be replaced (a delegated task).
    pub reconnect: Option<&'a Reconnect>,
}

impl Ctx<'_> {
    /// The same context over another connection to the host.
    pub fn with_conn<'b>(&'b self, conn: &'b dyn Transport) -> Ctx<'b> {
        Ctx {
            host: self.host,
            conn,
            escalation: self.escalation.clone(),
            check: self.check,
            diff: self.diff,
            templar: self.templar,
            scope: self.scope,
            playbook_dir: self.playbook_dir,
            facts: self.facts,
            environment: self.environment.clone(),
            sink: self.sink.clone(),
            command_timeout: self.command_timeout,
            cancel: self.cancel.clone(),
            reconnect: self.reconnect,
            action: self.action,
        }
    }

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

/// Actions ansible-core runs on the controller without connecting to the host (action plugins
/// that never call a module): a host that is unreachable still runs them.
pub fn runs_on_controller(module: &str) -> bool {
    matches!(
        module,
        "debug" | "assert" | "fail" | "pause" | "validate_argument_spec"
    )
}

/// Runs one module invocation.
pub async fn run(
    module: &str,
    args: &Map<String, Value>,
    ctx: &Ctx<'_>,
) -> Result<ModuleResult, ModuleError> {
    use module::drive;
    match module {
        "command" => drive::<command::Command>(args, ctx).await,
        "shell" => drive::<command::Shell>(args, ctx).await,
        "apt" => drive::<pkg::Apt>(args, ctx).await,
        "package" => drive::<pkg::Package>(args, ctx).await,
        "dnf" => drive::<dnf::Dnf>(args, ctx).await,
        "copy" => drive::<files::Copy>(args, ctx).await,
        "template" => drive::<files::Template>(args, ctx).await,
        "lineinfile" => drive::<files::LineInFile>(args, ctx).await,
        "blockinfile" => drive::<files::BlockInFile>(args, ctx).await,
        "file" => drive::<files::File>(args, ctx).await,
        "stat" => drive::<files::Stat>(args, ctx).await,
        "service" => drive::<service::Service>(args, ctx).await,
        "systemd" => drive::<service::Systemd>(args, ctx).await,
        "wait_for" => drive::<service::WaitFor>(args, ctx).await,
        "debug" => drive::<misc::Debug>(args, ctx).await,
        "assert" => drive::<misc::Assert>(args, ctx).await,
        "fail" => drive::<misc::Fail>(args, ctx).await,
        "validate_argument_spec" => drive::<misc::ValidateArgumentSpec>(args, ctx).await,
        "pause" => drive::<misc::Pause>(args, ctx).await,
        "ping" => drive::<misc::Ping>(args, ctx).await,
        "setup" => drive::<misc::Setup>(args, ctx).await,
        "gather_facts" => drive::<misc::GatherFacts>(args, ctx).await,
        // Issue #17's file and account modules.
        "slurp" => drive::<files::Slurp>(args, ctx).await,
        "replace" => drive::<files::Replace>(args, ctx).await,
        "tempfile" => drive::<files::TempFile>(args, ctx).await,
        "fetch" => drive::<files::Fetch>(args, ctx).await,
        "find" => drive::<files::Find>(args, ctx).await,
        "user" => drive::<users::User>(args, ctx).await,
        "group" => drive::<users::Group>(args, ctx).await,
        "postgresql_db" => drive::<postgres::PostgresqlDb>(args, ctx).await,
        "postgresql_user" => drive::<postgres::PostgresqlUser>(args, ctx).await,
        "postgresql_privs" => drive::<postgres::PostgresqlPrivs>(args, ctx).await,
        "postgresql_pg_hba" => drive::<postgres::PostgresqlPgHba>(args, ctx).await,
        "postgresql_query" => drive::<postgres::PostgresqlQuery>(args, ctx).await,
        "postgresql_ping" => drive::<postgres::PostgresqlPing>(args, ctx).await,
        "postgresql_set" => drive::<postgres::PostgresqlSet>(args, ctx).await,
        "postgresql_tablespace" => drive::<postgres::PostgresqlTablespace>(args, ctx).await,
        "postgresql_membership" => drive::<postgres::PostgresqlMembership>(args, ctx).await,
        "postgresql_schema" => drive::<postgres::PostgresqlSchema>(args, ctx).await,
        "postgresql_table" => drive::<postgres::PostgresqlTable>(args, ctx).await,
        "get_url" => drive::<get_url::GetUrl>(args, ctx).await,
        "unarchive" => drive::<unarchive::Unarchive>(args, ctx).await,
        "apt_repository" => drive::<apt_repo::AptRepository>(args, ctx).await,
        "apt_key" => drive::<apt_repo::AptKey>(args, ctx).await,
        "sysctl" => drive::<sysctl::Sysctl>(args, ctx).await,
        "cron" => drive::<cron::Cron>(args, ctx).await,
        "hostname" => drive::<hostname::Hostname>(args, ctx).await,
        "timezone" => drive::<timezone::Timezone>(args, ctx).await,
        "locale_gen" => drive::<locale_gen::LocaleGen>(args, ctx).await,
        "reboot" => drive::<reboot::Reboot>(args, ctx).await,
        "ufw" => drive::<ufw::Ufw>(args, ctx).await,
        "service_facts" => drive::<facts::ServiceFacts>(args, ctx).await,
        "package_facts" => drive::<facts::PackageFacts>(args, ctx).await,
        other => Err(ModuleError::Args(format!(
            "module '{other}' is handled by the engine, not run on a host"
        ))),
    }
}
