//! Services: systemd when it is PID 1, otherwise the SysV script via `service` (the test hosts and
//! containers have no systemd). `wait_for` polls on the target, in one command.

use super::{Args, Ctx, Diff, ModuleError, ModuleResult};
use crate::transport::sh_quote;

pub async fn service(
    module: &str,
    a: &Args<'_>,
    ctx: &Ctx<'_>,
) -> Result<ModuleResult, ModuleError> {
    let name = a.opt_str("name")?;
    let state = match a.opt_str("state")? {
        None => None,
        Some(_) => Some(a.choice(
            "state",
            &["started", "stopped", "restarted", "reloaded"],
            "started",
        )?),
    };
    let enabled = if a.has("enabled") {
        Some(a.bool("enabled", true)?)
    } else {
        None
    };
    let daemon_reload = module == "systemd" && a.bool("daemon_reload", false)?;
    let Some(name) = name else {
        if daemon_reload {
            if !ctx.check {
                ctx.query("systemctl daemon-reload", None).await?;
            }
            return Ok(ModuleResult::ok());
        }
        return Err(ModuleError::Args(format!("{module}: 'name' is required")));
    };
    let n = sh_quote(&name);
    // One round trip learns the init system, whether the service runs, and whether it is enabled.
    let probe = format!(
        "if [ -d /run/systemd/system ]; then echo mgr=systemd; \
           systemctl is-active --quiet {n} && echo active=1 || echo active=0; \
           systemctl is-enabled --quiet {n} 2>/dev/null && echo enabled=1 || echo enabled=0; \
           systemctl cat {n} >/dev/null 2>&1 && echo exists=1 || echo exists=0; \
         else echo mgr=sysv; \
           [ -x /etc/init.d/{name} ] && echo exists=1 || echo exists=0; \
           service {n} status >/dev/null 2>&1 && echo active=1 || echo active=0; \
           ls /etc/rc[2345].d/S[0-9][0-9]{name} >/dev/null 2>&1 && echo enabled=1 || echo enabled=0; fi",
        name = shell_glob_safe(&name)
    );
    let out = ctx.query(&probe, None).await?;
    let field = |k: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
            .unwrap_or_default()
    };
    let systemd = field("mgr") == "systemd";
    if field("exists") != "1" {
        return Ok(ModuleResult::fail(format!(
            "Could not find the requested service {name}: host"
        )));
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
    let action = match state.as_deref() {
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
    r.extra.insert("name".into(), name.clone().into());
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
    if !r.changed || ctx.check {
        return Ok(r);
    }
    let out = ctx.sh(&format!("set -e\n{script}"), None).await?;
    if out.rc != 0 {
        let mut f = ModuleResult::fail(format!(
            "Unable to {} service {name}: {}",
            changes.join("/"),
            out.stderr.trim()
        ));
        f.rc = Some(out.rc);
        f.stdout = Some(out.stdout);
        f.stderr = Some(out.stderr);
        return Ok(f);
    }
    Ok(r)
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

pub async fn wait_for(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let timeout = a.opt_int("timeout")?.unwrap_or(300);
    let delay = a.opt_int("delay")?.unwrap_or(0);
    let sleep = a.opt_int("sleep")?.unwrap_or(1);
    let state = a.choice(
        "state",
        &["started", "stopped", "present", "absent", "drained"],
        "started",
    )?;
    let check = if let Some(port) = a.opt_int("port")? {
        let host = a.str_or("host", "127.0.0.1")?;
        if !(1..=65535).contains(&port) {
            return Err(ModuleError::Args(format!(
                "wait_for: port {port} is not a TCP port (1-65535)"
            )));
        }
        if !valid_host(&host) {
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
        match state.as_str() {
            "stopped" | "absent" | "drained" => format!("! {open}"),
            _ => open,
        }
    } else if let Some(path) = a.opt_str("path")? {
        let p = sh_quote(&path);
        match (state.as_str(), a.opt_str("search_regex")?) {
            ("absent", _) => format!("[ ! -e {p} ]"),
            (_, Some(re)) => format!("grep -qE -e {} -- {p} 2>/dev/null", sh_quote(&re)),
            _ => format!("[ -e {p} ]"),
        }
    } else {
        format!("sleep {timeout}; true")
    };
    if ctx.check {
        return Ok(ModuleResult::ok());
    }
    let script = format!(
        "sleep {delay}; end=$(( $(date +%s) + {timeout} )); \
         while :; do if {check}; then echo elapsed=$(( $(date +%s) - end + {timeout} )); exit 0; fi; \
         [ $(date +%s) -ge $end ] && exit 1; sleep {sleep}; done"
    );
    let out = ctx.query(&script, None).await?;
    if out.rc != 0 {
        let msg = a
            .opt_str("msg")?
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
