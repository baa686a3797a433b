//! Services: systemd when it is PID 1, otherwise the SysV script via `service` (the test hosts and
//! containers have no systemd). `wait_for` polls on the target, in one command.

use serde::Deserialize;

use super::module::{Module, Query};
use super::{Ctx, Diff, ModuleError, ModuleResult, args, pg_clusters};
use crate::transport::sh_quote;

const STATES: &[&str] = &["started", "stopped", "restarted", "reloaded"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(deserialize_with = "args::string")]
    name: String,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    enabled: Option<bool>,
    /// The init system: `auto` (detected), `systemd`, or `sysvinit`/`service`.
    #[serde(default, rename = "use", deserialize_with = "args::opt_string")]
    use_: Option<String>,
}

const MANAGERS: &[&str] = &["auto", "systemd", "sysvinit", "service"];

/// The shell test that picks systemd on the target.
fn systemd_test(manager: Option<&str>) -> &'static str {
    match manager {
        Some("systemd") => "true",
        Some("sysvinit" | "service") => "false",
        _ => "[ -d /run/systemd/system ]",
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Systemd {
    #[serde(
        default,
        alias = "unit",
        alias = "service",
        deserialize_with = "args::opt_string"
    )]
    name: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    enabled: Option<bool>,
    #[serde(default, alias = "daemon-reload", deserialize_with = "args::opt_bool")]
    daemon_reload: Option<bool>,
}

/// The script that changes the service, what it changes, and the result to report.
pub struct ServiceChange {
    script: String,
    changes: String,
    result: ModuleResult,
}

fn check_state(module: &str, state: &Option<String>) -> Result<(), ModuleError> {
    match state.as_deref() {
        Some(s) if !STATES.contains(&s) => Err(ModuleError::Args(format!(
            "{module}: argument 'state' is {s:?}; valid: {}",
            STATES.join(", ")
        ))),
        _ => Ok(()),
    }
}

impl Module for Service {
    const NAME: &'static str = "service";
    const ANSIBLE_ONLY: &'static [&'static str] =
        &["pattern", "sleep", "arguments", "args", "runlevel"];
    const ANSIBLE_ONLY_ALIASES: &'static [&'static str] = &["args"];
    type Pending = ServiceChange;

    fn validate(&self) -> Result<(), ModuleError> {
        check_state(Self::NAME, &self.state)?;
        match self.use_.as_deref() {
            Some(u) if !MANAGERS.contains(&u) => Err(ModuleError::Args(format!(
                "service: argument 'use' is {u:?}; valid: {} (other init systems: {})",
                MANAGERS.join(", "),
                super::catalog::USE_ANSIBLE
            ))),
            _ => Ok(()),
        }
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<ServiceChange>, ModuleError> {
        let systemd = systemd_test(self.use_.as_deref());
        query_service(
            ctx,
            &self.name,
            self.state.as_deref(),
            self.enabled,
            false,
            systemd,
        )
        .await
    }

    async fn apply(&self, c: ServiceChange, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        apply_service(ctx, &self.name, c).await
    }
}

impl Module for Systemd {
    const NAME: &'static str = "systemd";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "daemon_reexec",
        "daemon-reexec",
        "masked",
        "scope",
        "no_block",
        "force",
    ];
    const ANSIBLE_ONLY_ALIASES: &'static [&'static str] = &["daemon-reexec"];
    type Pending = ServiceChange;

    fn validate(&self) -> Result<(), ModuleError> {
        check_state(Self::NAME, &self.state)?;
        if self.name.is_none() && !self.daemon_reload.unwrap_or(false) {
            return Err(ModuleError::Args("systemd: 'name' is required".into()));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<ServiceChange>, ModuleError> {
        let daemon_reload = self.daemon_reload.unwrap_or(false);
        match &self.name {
            Some(name) => {
                query_service(
                    ctx,
                    name,
                    self.state.as_deref(),
                    self.enabled,
                    daemon_reload,
                    // As before: SysV where systemd is not PID 1 (containers, the test hosts).
                    systemd_test(None),
                )
                .await
            }
            // A reload alone reports ok, as before (it changes no unit's state).
            None => Ok(Query::change(
                ModuleResult::ok(),
                ServiceChange {
                    script: "systemctl daemon-reload\n".into(),
                    changes: String::new(),
                    result: ModuleResult::ok(),
                },
            )),
        }
    }

    async fn apply(&self, c: ServiceChange, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        match &self.name {
            Some(name) => apply_service(ctx, name, c).await,
            None => {
                ctx.query(&c.script, None).await?;
                Ok(c.result)
            }
        }
    }
}

async fn query_service(
    ctx: &Ctx<'_>,
    name: &str,
    state: Option<&str>,
    enabled: Option<bool>,
    daemon_reload: bool,
    systemd: &str,
) -> Result<Query<ServiceChange>, ModuleError> {
    let n = sh_quote(name);
    let status = format!("service {n} status >/dev/null 2>&1 && echo active=1 || echo active=0");
    // Debian's PostgreSQL status runs pg_lsclusters (Perl, ~0.1 s of the target's CPU): the
    // files it reads decide instead when they can (pg_clusters), printed after the fields.
    let mark = pg_clusters_mark(name);
    let sysv_active = match &mark {
        Some(m) => format!("echo active=pg; {}", pg_clusters::probe(m)),
        None => status.clone(),
    };
    // One round trip learns the init system, whether the service runs, and whether it is enabled.
    let probe = format!(
        "if {systemd}; then echo mgr=systemd; \
           systemctl is-active --quiet {n} && echo active=1 || echo active=0; \
           systemctl is-enabled --quiet {n} 2>/dev/null && echo enabled=1 || echo enabled=0; \
           systemctl cat {n} >/dev/null 2>&1 && echo exists=1 || echo exists=0; \
         else echo mgr=sysv; \
           [ -x /etc/init.d/{name} ] && echo exists=1 || echo exists=0; \
           e=0; for f in /etc/rc[2345].d/S[0-9][0-9]{name}; do \
             [ -e \"$f\" ] || [ -L \"$f\" ] && e=1; done; echo enabled=$e; \
           {sysv_active}; fi",
        name = shell_glob_safe(name)
    );
    let mut out = ctx.query(&probe, None).await?;
    if let Some(m) = &mark
        && out.stdout.lines().any(|l| l == "active=pg")
    {
        let known = pg_clusters::active(&out.stdout, m);
        let active = match known {
            Some(a) => a,
            None => ctx.query(&status, None).await?.stdout.contains("active=1"),
        };
        // The fields end where the probe's records begin.
        let head = out.stdout.find(m.as_str()).unwrap_or(out.stdout.len());
        out.stdout = format!(
            "{}active={}\n",
            &out.stdout[..head].replace("active=pg\n", ""),
            u8::from(active)
        );
    }
    let field = |k: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
            .unwrap_or_default()
    };
    let systemd = field("mgr") == "systemd";
    if field("exists") != "1" {
        return Ok(Query::done(ModuleResult::fail(format!(
            "Could not find the requested service {name}: host"
        ))));
    }
    let active = field("active") == "1";
    let is_enabled = field("enabled") == "1";
    let mut script = String::new();
    let mut changes = Vec::new();
    if daemon_reload {
        script.push_str("systemctl daemon-reload\n");
    }
    if let Some(want) = enabled
        && want != is_enabled
    {
        changes.push(if want { "enabled" } else { "disabled" });
        script.push_str(&if systemd {
            format!(
                "systemctl {} {n}\n",
                if want { "enable" } else { "disable" }
            )
        } else {
            format!(
                "update-rc.d {n} {}\n",
                if want { "enable" } else { "disable" }
            )
        });
    }
    let action = match state {
        Some("started") if !active => Some("start"),
        Some("stopped") if active => Some("stop"),
        Some("restarted") => Some("restart"),
        Some("reloaded") => Some(if active { "reload" } else { "start" }),
        _ => None,
    };
    if let Some(act) = action {
        changes.push(act);
        script.push_str(&if systemd {
            format!("systemctl {act} {n}\n")
        } else {
            format!("service {n} {act}\n")
        });
    }
    let mut r = ModuleResult::changed(!changes.is_empty());
    r.extra.insert("name".into(), name.into());
    r.extra.insert(
        "state".into(),
        (if active ^ (action == Some("stop")) || action == Some("start") {
            "started"
        } else {
            "stopped"
        })
        .into(),
    );
    if ctx.diff && r.changed {
        r.diff.push(Diff {
            before_header: format!("service {name}"),
            after_header: format!("service {name}"),
            before: format!("active: {active}\nenabled: {is_enabled}\n"),
            after: format!("{}\n", changes.join(", ")),
        });
    }
    if r.changed {
        r.msg = Some(changes.join(", "));
    }
    if !r.changed {
        return Ok(Query::done(r));
    }
    Ok(Query::change(
        r.clone(),
        ServiceChange {
            script,
            changes: changes.join("/"),
            result: r,
        },
    ))
}

async fn apply_service(
    ctx: &Ctx<'_>,
    name: &str,
    c: ServiceChange,
) -> Result<ModuleResult, ModuleError> {
    let out = ctx.sh(&format!("set -e\n{}", c.script), None).await?;
    if out.rc != 0 {
        let mut f = ModuleResult::fail(format!(
            "Unable to {} service {name}: {}",
            c.changes,
            out.stderr.trim()
        ));
        f.rc = Some(out.rc);
        f.stdout = Some(out.stdout);
        f.stderr = Some(out.stderr);
        return Ok(f);
    }
    Ok(c.result)
}

/// A fresh record mark for the PostgreSQL status probe, for Debian's `postgresql` service only.
fn pg_clusters_mark(name: &str) -> Option<String> {
    (name == "postgresql").then(|| {
        let mut bytes = [0u8; 12];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
        format!("SLMPGC{}", hex::encode(bytes))
    })
}

/// Service names go into paths; keep them to safe characters.
fn shell_glob_safe(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.@".contains(*c))
        .collect()
}

/// A host name, an IPv4 address or an IPv6 address (optionally in brackets).
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && !host.starts_with('-')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitFor {
    #[serde(default, deserialize_with = "args::opt_string")]
    host: Option<String>,
    #[serde(default, deserialize_with = "args::opt_int")]
    port: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_int")]
    timeout: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_int")]
    delay: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_int")]
    sleep: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_string")]
    path: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    search_regex: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    msg: Option<String>,
}

const WAIT_STATES: &[&str] = &["started", "stopped", "present", "absent", "drained"];

impl Module for WaitFor {
    const NAME: &'static str = "wait_for";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "connect_timeout",
        "active_connection_states",
        "exclude_hosts",
    ];
    /// The condition to poll for (shell).
    type Pending = String;

    fn validate(&self) -> Result<(), ModuleError> {
        match self.state.as_deref() {
            Some(s) if !WAIT_STATES.contains(&s) => Err(ModuleError::Args(format!(
                "wait_for: argument 'state' is {s:?}; valid: {}",
                WAIT_STATES.join(", ")
            ))),
            _ => Ok(()),
        }
    }

    /// Waiting reads nothing and changes nothing; check mode does not wait.
    async fn query(&self, _ctx: &Ctx<'_>) -> Result<Query<String>, ModuleError> {
        let timeout = self.timeout.unwrap_or(300);
        let state = self.state.as_deref().unwrap_or("started");
        let check = if let Some(port) = self.port {
            let host = self.host.as_deref().unwrap_or("127.0.0.1");
            if !(1..=65535).contains(&port) {
                return Err(ModuleError::Args(format!(
                    "wait_for: port {port} is not a TCP port (1-65535)"
                )));
            }
            if !valid_host(host) {
                return Err(ModuleError::Args(format!(
                    "wait_for: host {host:?} is not a host name or IP address \
                     (letters, digits, '.', '-', '_', ':', '[' and ']')"
                )));
            }
            // Host and port are arguments of the inner shell, never part of its code.
            let open = format!(
                "timeout 2 bash -c 'exec 3<>\"/dev/tcp/$1/$2\"' slm-wait-for {} {port} 2>/dev/null",
                sh_quote(host.trim_start_matches('[').trim_end_matches(']'))
            );
            match state {
                "stopped" | "absent" | "drained" => format!("! {open}"),
                _ => open,
            }
        } else if let Some(path) = &self.path {
            let p = sh_quote(path);
            match (state, &self.search_regex) {
                ("absent", _) => format!("[ ! -e {p} ]"),
                (_, Some(re)) => format!("grep -qE -e {} -- {p} 2>/dev/null", sh_quote(re)),
                _ => format!("[ -e {p} ]"),
            }
        } else {
            format!("sleep {timeout}; true")
        };
        Ok(Query::change(ModuleResult::ok(), check))
    }

    async fn apply(&self, check: String, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let timeout = self.timeout.unwrap_or(300);
        let delay = self.delay.unwrap_or(0);
        let sleep = self.sleep.unwrap_or(1);
        let state = self.state.as_deref().unwrap_or("started");
        let script = format!(
            "sleep {delay}; end=$(( $(date +%s) + {timeout} )); \
             while :; do if {check}; then echo elapsed=$(( $(date +%s) - end + {timeout} )); exit 0; fi; \
             [ $(date +%s) -ge $end ] && exit 1; sleep {sleep}; done"
        );
        let out = ctx.query(&script, None).await?;
        if out.rc != 0 {
            let msg = self
                .msg
                .clone()
                .unwrap_or_else(|| format!("Timeout when waiting for {state} after {timeout}s"));
            return Ok(ModuleResult::fail(msg));
        }
        let mut r = ModuleResult::ok();
        if let Some(e) = out
            .stdout
            .trim()
            .strip_prefix("elapsed=")
            .and_then(|e| e.parse::<i64>().ok())
        {
            r.extra.insert("elapsed".into(), e.into());
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_picks_the_init_system() {
        assert_eq!(systemd_test(Some("systemd")), "true");
        assert_eq!(systemd_test(Some("sysvinit")), "false");
        assert_eq!(systemd_test(Some("auto")), "[ -d /run/systemd/system ]");
        let s: Service =
            serde_json::from_value(serde_json::json!({"name": "postgresql", "use": "upstart"}))
                .expect("deserializes");
        let err = s.validate().expect_err("an init system we do not drive");
        assert!(err.to_string().contains("--engine ansible"), "{err}");
    }
}
