//! `reboot` (ansible.builtin's action): reads the boot id (`boot_time_command`), runs the
//! reboot command (`shutdown -r …`, or `reboot_command` with its first word looked up in
//! `search_paths`), then — on a new connection each try, as the old one dies with the host —
//! waits until the boot id changed and `test_command` succeeds, within `reboot_timeout`, with
//! the action's back-off between tries. A connection lost while the reboot command runs is the
//! reboot. The host's new connection replaces the old one for the rest of the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::module::{Module, Query};
use super::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::{Transport, TransportError, sh_quote};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reboot {
    #[serde(default, deserialize_with = "args::opt_string")]
    boot_time_command: Option<String>,
    #[serde(default, deserialize_with = "args::opt_int")]
    connect_timeout: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_string")]
    msg: Option<String>,
    #[serde(default, deserialize_with = "args::opt_int")]
    post_reboot_delay: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_int")]
    pre_reboot_delay: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_string")]
    reboot_command: Option<String>,
    #[serde(default, deserialize_with = "args::opt_int")]
    reboot_timeout: Option<i64>,
    #[serde(default, deserialize_with = "opt_paths")]
    search_paths: Option<Vec<String>>,
    #[serde(default, deserialize_with = "args::opt_string")]
    test_command: Option<String>,
}

fn opt_paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    args::list(d).map(Some)
}

const DEFAULT_SEARCH_PATHS: [&str; 5] =
    ["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"];
const BOOT_ID: &str = "cat /proc/sys/kernel/random/boot_id";
/// The action's longest pause between two tries (plus up to a second of jitter).
const MAX_FAIL_SLEEP: f64 = 12.0;

fn result(changed: bool, rebooted: bool, elapsed: u64) -> ModuleResult {
    let mut r = ModuleResult::changed(changed);
    r.extra.insert("rebooted".into(), rebooted.into());
    r.extra.insert("elapsed".into(), elapsed.into());
    r
}

/// Below a second of jitter, as the action adds to each pause (no randomness needed beyond it).
fn jitter() -> f64 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(n % 1000) / 1000.0
}

/// Python's list repr of the search paths, as the action's message shows them.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The connection a try uses: the task's until it fails, then a new one each try.
struct Link<'a> {
    ctx: &'a Ctx<'a>,
    fresh: Option<Arc<dyn Transport>>,
    broken: bool,
    connect_timeout: Option<Duration>,
}

/// What the action waits for after the reboot command.
enum Probe<'a> {
    /// `boot_time_command` prints something else than `previous`.
    BootChanged { cmd: &'a str, previous: &'a str },
    /// `test_command` succeeds.
    Test(&'a str),
}

impl Link<'_> {
    async fn probe(&mut self, p: &Probe<'_>) -> Result<(), String> {
        match p {
            Probe::BootChanged { cmd, previous } => {
                let out = self.run(cmd).await?;
                let now = out.stdout.trim();
                if out.rc != 0 || now.is_empty() || now == *previous {
                    return Err("boot time has not changed".into());
                }
            }
            Probe::Test(cmd) => {
                let out = self.run(cmd).await?;
                if out.rc != 0 {
                    return Err(format!(
                        "Test command failed: {} {}",
                        out.stderr, out.stdout
                    ));
                }
            }
        }
        Ok(())
    }

    /// Runs `cmd` (as the become user); Err is a connection problem, to be retried.
    async fn run(&mut self, cmd: &str) -> Result<crate::transport::Output, String> {
        if self.broken {
            let Some(reconnect) = self.ctx.reconnect else {
                return Err("the connection was lost and cannot be reopened here".into());
            };
            let opened = match self.connect_timeout {
                Some(t) => tokio::time::timeout(t, reconnect())
                    .await
                    .unwrap_or_else(|_| {
                        Err(TransportError::Unreachable {
                            reason: format!("connection timed out after {}s", t.as_secs()),
                        })
                    }),
                None => reconnect().await,
            };
            self.fresh = Some(opened.map_err(|e| e.to_string())?);
            self.broken = false;
        }
        let out = match &self.fresh {
            Some(c) => self.ctx.with_conn(c.as_ref()).query(cmd, None).await,
            None => self.ctx.query(cmd, None).await,
        };
        out.map_err(|e| {
            self.broken = true;
            e.to_string()
        })
    }
}

impl Reboot {
    fn boot_time_command(&self) -> &str {
        self.boot_time_command
            .as_deref()
            .filter(|c| !c.is_empty())
            .unwrap_or(BOOT_ID)
    }

    /// The action's `do_until_success_or_timeout`: Ok once `probe` succeeds, Err (its
    /// message) at the timeout.
    async fn until(
        &self,
        link: &mut Link<'_>,
        probe: &Probe<'_>,
        timeout: Duration,
    ) -> Result<(), String> {
        let end = Instant::now() + timeout;
        let mut fails: i32 = 0;
        while Instant::now() < end {
            if link.ctx.cancel.is_cancelled() {
                return Err("killed: the run was cancelled".into());
            }
            if link.probe(probe).await.is_ok() {
                return Ok(());
            }
            let mut pause = 2f64.powi(fails) + jitter();
            if pause > MAX_FAIL_SLEEP {
                pause = MAX_FAIL_SLEEP + jitter();
            }
            fails += 1;
            tokio::time::sleep(Duration::from_secs_f64(pause)).await;
        }
        let desc = match probe {
            Probe::BootChanged { .. } => "last boot time check",
            Probe::Test(_) => "post-reboot test command",
        };
        Err(format!(
            "Timed out waiting for {desc} (timeout={})",
            timeout.as_secs()
        ))
    }

    /// The reboot command: its program's path (searched when not absolute) and arguments.
    async fn command(&self, ctx: &Ctx<'_>) -> Result<Result<String, String>, ModuleError> {
        let (bin, rest) = match &self.reboot_command {
            Some(c) => match c.split_once(' ') {
                Some((b, r)) => (b.to_string(), r.to_string()),
                None => (c.clone(), String::new()),
            },
            None => {
                let delay = self.pre_reboot_delay.unwrap_or(0).max(0);
                let msg = self.msg.as_deref().unwrap_or("Reboot initiated by Ansible");
                ("shutdown".into(), format!("-r {} \"{msg}\"", delay / 60))
            }
        };
        if bin.starts_with('/') {
            return Ok(Ok(format!("{bin} {rest}")));
        }
        let paths: Vec<String> = self
            .search_paths
            .clone()
            .unwrap_or_else(|| DEFAULT_SEARCH_PATHS.iter().map(|s| s.to_string()).collect());
        let mut script = String::new();
        for p in &paths {
            let f = sh_quote(&format!("{}/{bin}", p.trim_end_matches('/')));
            script.push_str(&format!(
                "if [ -e {f} ] || [ -L {f} ]; then printf '%s\\n' {f}; exit 0; fi\n"
            ));
        }
        let out = ctx.query(&script, None).await?;
        match out.stdout.lines().next() {
            Some(path) => Ok(Ok(format!("{path} {rest}"))),
            // An error the action raises: ansible-core 2.19 prefixes "Task failed: ".
            None => Ok(Err(format!(
                "Task failed: Unable to find command \"{bin}\" in search paths: {}",
                py_list(&paths)
            ))),
        }
    }
}

impl Module for Reboot {
    const NAME: &'static str = "reboot";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        let connection = ctx
            .scope
            .get_attr("ansible_connection")
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        if connection.as_deref() == Some("local") {
            let mut r = result(false, false, 0);
            r.failed = true;
            r.msg =
                Some("Running reboot with local connection would reboot the control node.".into());
            return Ok(Query::done(r));
        }
        if ctx.reconnect.is_none() {
            return Ok(Query::done(ModuleResult::fail(format!(
                "reboot: the native engine cannot wait for a delegated host to come back; {}",
                super::catalog::USE_ANSIBLE
            ))));
        }
        // Check mode: what the action reports without touching the host.
        Ok(Query::change(result(true, true, 0), ()))
    }

    async fn apply(&self, _: (), ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let boot_cmd = self.boot_time_command().to_string();
        let before = ctx.query(&boot_cmd, None).await?;
        if before.rc != 0 {
            let mut r = ModuleResult::fail(format!(
                "reboot: failed to get host boot time info, rc: {}, stdout: {}, stderr: {}",
                before.rc, before.stdout, before.stderr
            ));
            r.extra.insert("reboot".into(), false.into());
            return Ok(r);
        }
        let previous = before.stdout.trim().to_string();
        let command = match self.command(ctx).await? {
            Ok(c) => c,
            Err(msg) => return Ok(ModuleResult::fail(msg)),
        };
        let ran = ctx.query(&command, None).await;
        let start = Instant::now();
        match ran {
            Ok(out) if out.rc != 0 => {
                let mut r = result(false, false, 0);
                // The action's failed result keeps when the command returned.
                r.extra.insert(
                    "start".into(),
                    chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
                        .into(),
                );
                r.failed = true;
                r.msg = Some(format!(
                    "Reboot command failed. Error was: '{}, {}'",
                    out.stdout.trim(),
                    out.stderr.trim()
                ));
                return Ok(r);
            }
            Ok(_) => {}
            // The host went down under the command: that is the reboot.
            Err(e) if e.is_unreachable() => {}
            Err(e) => return Err(e.into()),
        }
        let post = self.post_reboot_delay.unwrap_or(0).max(0);
        if post > 0 {
            tokio::time::sleep(Duration::from_secs(post as u64)).await;
        }
        let timeout = Duration::from_secs(self.reboot_timeout.unwrap_or(600).max(0) as u64);
        let mut link = Link {
            ctx,
            fresh: None,
            broken: false,
            connect_timeout: self
                .connect_timeout
                .filter(|t| *t > 0)
                .map(|t| Duration::from_secs(t as u64)),
        };
        let test = self.test_command.clone().unwrap_or_else(|| "whoami".into());
        let boot = Probe::BootChanged {
            cmd: &boot_cmd,
            previous: &previous,
        };
        let waited = match self.until(&mut link, &boot, timeout).await {
            Ok(()) => self.until(&mut link, &Probe::Test(&test), timeout).await,
            Err(e) => Err(e),
        };
        let elapsed = start.elapsed().as_secs();
        Ok(match waited {
            Ok(()) => result(true, true, elapsed),
            Err(msg) => {
                let mut r = result(false, true, elapsed);
                r.failed = true;
                r.msg = Some(msg);
                r
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_paths_are_shown_as_the_action_shows_them() {
        let p: Vec<String> = DEFAULT_SEARCH_PATHS.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            py_list(&p),
            "['/sbin', '/bin', '/usr/sbin', '/usr/bin', '/usr/local/sbin']"
        );
    }
}
