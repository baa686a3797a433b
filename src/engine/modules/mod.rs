//! Modules: each reads the target's current state, computes the difference, and changes only
//! that (or, in check mode, reports it). One family per file.

pub mod args;
pub mod catalog;
pub mod command;
pub mod files;
pub mod misc;
pub mod module;
pub mod pkg;
pub mod postgres;
pub mod service;

pub use args::parse_bool;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::transport::{self, Become, ExecRequest, Output, Stream, Transport, TransportError};

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

/// Typed access to a task's templated arguments, for the postgres modules that are not typed yet.
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
            Some(v) => args::parse_bool(v)
                .ok_or_else(|| self.type_err(key, "a boolean (yes/no, true/false)", v)),
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

/// Runs one module invocation.
pub async fn run(
    module: &str,
    args: &Map<String, Value>,
    ctx: &Ctx<'_>,
) -> Result<ModuleResult, ModuleError> {
    use module::drive;
    let a = Args::new(module, args);
    match module {
        "command" => drive::<command::Command>(args, ctx).await,
        "shell" => drive::<command::Shell>(args, ctx).await,
        "apt" => drive::<pkg::Apt>(args, ctx).await,
        "package" => drive::<pkg::Package>(args, ctx).await,
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
        "pause" => drive::<misc::Pause>(args, ctx).await,
        "setup" => drive::<misc::Setup>(args, ctx).await,
        "gather_facts" => drive::<misc::GatherFacts>(args, ctx).await,
        "postgresql_db" => postgres::db(&a, ctx).await,
        "postgresql_user" => postgres::user(&a, ctx).await,
        "postgresql_privs" => postgres::privs(&a, ctx).await,
        "postgresql_pg_hba" => postgres::pg_hba(&a, ctx).await,
        "postgresql_query" => postgres::query(&a, ctx).await,
        "postgresql_ping" => postgres::ping(&a, ctx).await,
        other => Err(ModuleError::Args(format!(
            "module '{other}' is handled by the engine, not run on a host"
        ))),
    }
}
