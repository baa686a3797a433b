//! `slm-wizard doctor`: the spec's troubleshooting section, run in order for every database —
//! server reachable (and, with an inventory, the PostgreSQL clusters running on its hosts),
//! pg_hba allows this client, test connection, database exists, migrations status — each with
//! pass / fail / skip and, on failure, the fix (`cmd::doctor` prints them).

use std::time::{Duration, Instant};

use sqlx::Connection;

use super::probe::{self, ConnectFailure};
use super::source::{DbSource, SourceError, load_inventory, resolve};
use super::{Failure, Target};
use crate::db::migrate;
use crate::engine::connect::{ConnectOptions, connector};
use crate::inventory::Inventory;
use crate::transport::{self, ExecRequest};

/// Options of `slm-wizard doctor`.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Only this inventory host (for the service check).
    pub host: Option<String>,
    pub source: DbSource,
    pub timeout: Duration,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        Self {
            host: None,
            source: DbSource::default(),
            timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct Check {
    /// What it is about: a database or a host.
    pub subject: String,
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn new(subject: &str, name: &'static str, outcome: Outcome, detail: String) -> Self {
        Check {
            subject: subject.to_string(),
            name,
            outcome,
            detail,
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn render(&self) -> String {
        let tag = match self.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        let mut s = format!("[{tag}] {}: {} — {}", self.subject, self.name, self.detail);
        if let Some(f) = &self.fix {
            s.push_str(&format!("\n       fix: {f}"));
        }
        s
    }
}

/// What doctor learned about an inventory host, so that its fixes run as printed there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub name: String,
    /// The address the inventory gives (`ansible_host`, else the name).
    pub address: String,
    /// Reached with `ansible_connection: local` (this machine).
    pub local: bool,
    /// The login user is root: no `sudo` in front of a fix.
    pub root: bool,
    /// systemd is PID 1 (else `pg_ctlcluster` starts a cluster).
    pub systemd: bool,
    /// (version, cluster, port, online) of each PostgreSQL cluster.
    pub clusters: Vec<(String, String, u16, bool)>,
}

impl HostFacts {
    fn sudo(&self) -> &'static str {
        if self.root { "" } else { "sudo " }
    }

    /// The command that starts a cluster on this host.
    pub fn start_command(&self, version: &str, cluster: &str) -> String {
        if self.systemd {
            format!(
                "{}systemctl start postgresql@{version}-{cluster}",
                self.sudo()
            )
        } else {
            format!("{}pg_ctlcluster {version} {cluster} start", self.sudo())
        }
    }

    /// The cluster listening on `port` (Debian's default 15/main when it is not known).
    fn cluster_on(&self, port: u16) -> (String, String, Option<bool>) {
        self.clusters
            .iter()
            .find(|c| c.2 == port)
            .map(|(v, c, _, online)| (v.clone(), c.clone(), Some(*online)))
            .unwrap_or_else(|| ("15".into(), "main".into(), None))
    }
}

/// How fix lines name the deployment, so that they run as printed: its playbook and inventory
/// (the `slm-wizard` options as doctor was given them) and the facts of its hosts.
#[derive(Debug, Clone, Default)]
pub struct Fixes {
    /// `-i INV --playbook PB …` (or `--env-file F`) for `slm-wizard migrate`; empty for none.
    pub source_args: String,
    /// `slm-wizard run PB -i INV`, with an inventory.
    pub run: Option<String>,
    pub hosts: Vec<HostFacts>,
}

/// Quotes `s` for a POSIX shell when it needs it.
fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether a `-e` value may be repeated in a printed fix line: `@file` (the file stays where it
/// is) and `key=value` of a variable that is no secret. Inline YAML/JSON could hold anything.
fn repeatable_extra_var(e: &str, secret_questions: &[String]) -> bool {
    if e.starts_with('@') {
        return true;
    }
    // One `key=value` only: `-e "a=1 b_password=x"` sets two variables, as ansible does.
    if e.chars().any(char::is_whitespace) {
        return false;
    }
    match e.split_once('=') {
        Some((k, _))
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            !crate::secrets::is_secret_name(k) && !secret_questions.iter().any(|q| q == k)
        }
        _ => false,
    }
}

impl Fixes {
    /// From doctor's options. `-e` values that may hold a password are not repeated (a fix line
    /// is printed); the stored secrets make them unnecessary after a run.
    pub fn new(source: &DbSource) -> Self {
        let path = |p: &std::path::Path| sh_quote(&p.display().to_string());
        let mut args = String::new();
        if let Some(f) = &source.env_file {
            args.push_str(&format!(" --env-file {}", path(f)));
        }
        if let Some(d) = &source.migrations_dir {
            args.push_str(&format!(" --migrations-dir {}", path(d)));
        }
        let mut run = None;
        if let Some(inv) = &source.inventory {
            let (inv, pb) = (path(inv), path(&source.playbook));
            // Survey questions that are secret, whatever their name.
            let secret_questions: Vec<String> = crate::playbook::survey::load_for(&source.playbook)
                .ok()
                .flatten()
                .map(|sv| {
                    sv.questions
                        .iter()
                        .filter(|q| q.secret || q.generate.is_some())
                        .map(|q| q.variable.clone())
                        .collect()
                })
                .unwrap_or_default();
            let extra: String = source
                .extra_vars
                .iter()
                .filter(|e| repeatable_extra_var(e, &secret_questions))
                .map(|e| format!(" -e {}", sh_quote(e)))
                .collect();
            args.push_str(&format!(" -i {inv} --playbook {pb}{extra}"));
            run = Some(format!("slm-wizard run {pb} -i {inv}{extra}"));
        }
        if let Some(h) = &source.via_ssh {
            args.push_str(&format!(" --via-ssh {}", sh_quote(h)));
        }
        Fixes {
            source_args: args,
            run,
            hosts: Vec::new(),
        }
    }

    /// The inventory host a target's database server runs on, when doctor checked it.
    pub fn server_host(&self, t: &Target) -> Option<&HostFacts> {
        let host = t.url.host.trim_start_matches('[').trim_end_matches(']');
        let loopback = matches!(host, "127.0.0.1" | "::1" | "localhost");
        if loopback {
            return match &t.tunnel {
                Some(tunnel) => self.hosts.iter().find(|h| h.name == tunnel.via),
                None => self.hosts.iter().find(|h| {
                    h.local || matches!(h.address.as_str(), "127.0.0.1" | "::1" | "localhost")
                }),
            };
        }
        self.hosts
            .iter()
            .find(|h| h.address == host || h.name == host)
    }
}

/// What the service check runs: who logged in, whether systemd is PID 1, then the clusters
/// (whose exit code is the script's).
const SERVICE_SCRIPT: &str = "id -u; if [ -d /run/systemd/system ]; then echo systemd; else echo init; fi; \
     pg_lsclusters --no-header 2>&1";

/// `pg_lsclusters` on every host of the inventory (or only `only`), with what was learned of
/// each host reached.
pub async fn service_checks(
    inv: &Inventory,
    only: Option<&str>,
    accept_new: bool,
    timeout: Duration,
    fixes: &Fixes,
) -> Vec<(Check, Option<HostFacts>)> {
    let connect = connector(ConnectOptions {
        accept_new_host_keys: accept_new,
        connect_timeout: timeout,
    });
    let hosts: Vec<String> = inv
        .hosts
        .keys()
        .filter(|h| only.is_none_or(|o| o == h.as_str()))
        .cloned()
        .collect();
    let checks = hosts.into_iter().map(|host| {
        let connect = connect.clone();
        let vars = inv.host_vars(&host);
        let run = fixes.run.clone();
        async move {
            let name = "PostgreSQL service running (pg_lsclusters)";
            let mut facts = HostFacts {
                name: host.clone(),
                address: vars
                    .get("ansible_host")
                    .and_then(|v| v.as_str())
                    .unwrap_or(&host)
                    .to_string(),
                local: vars.get("ansible_connection").and_then(|v| v.as_str()) == Some("local"),
                ..Default::default()
            };
            let run_limited = |what: &str, prose: &str| match &run {
                Some(r) => format!("{what}: {r} --limit {}", sh_quote(&host)),
                None => prose.to_string(),
            };
            let exec = async {
                let t = connect(host.clone(), vars).await.map_err(|e| e.to_string())?;
                let req = ExecRequest {
                    script: SERVICE_SCRIPT,
                    stdin: None,
                    stdin_file: None,
                    escalation: None,
                    timeout: Some(timeout),
                };
                let out = transport::exec(&*t, req, &mut |_, _| {})
                    .await
                    .map_err(|e| e.to_string())?;
                t.close().await;
                Ok::<_, String>(out)
            };
            let res = match tokio::time::timeout(timeout * 2, exec).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} s", (timeout * 2).as_secs())),
            };
            let o = match res {
                Err(e) => {
                    let check = Check::new(&host, name, Outcome::Fail, format!("cannot reach the host: {e}"))
                        .fix(run_limited(
                            "check the host is up and its SSH settings in the inventory; test the connection with",
                            "check the host is up and its SSH settings in the inventory",
                        ));
                    return (check, None);
                }
                Ok(o) => o,
            };
            let mut lines = o.stdout.splitn(3, '\n');
            facts.root = lines.next().map(str::trim) == Some("0");
            facts.systemd = lines.next().map(str::trim) == Some("systemd");
            let clusters = lines.next().unwrap_or_default();
            let check = match o.rc {
                127 => Check::new(&host, name, Outcome::Fail, "pg_lsclusters not found: PostgreSQL is not installed".into())
                    .fix(run_limited("install it", "install it by running the playbook on this host")),
                0 => match cluster_check(&host, name, clusters, Some(&facts)) {
                    c if c.detail == NO_CLUSTER => c.fix(run_limited(
                        "create one",
                        "create one by running the playbook on this host",
                    )),
                    c => c,
                },
                rc => Check::new(&host, name, Outcome::Fail, format!("pg_lsclusters failed (rc {rc}): {}", clusters.trim()))
                    .fix(format!(
                        "on {host}: {}",
                        if facts.systemd {
                            format!("{}systemctl status postgresql", facts.sudo())
                        } else {
                            format!("{}tail -n 50 /var/log/postgresql/*.log", facts.sudo())
                        }
                    )),
            };
            facts.clusters = parse_clusters(clusters);
            (check, Some(facts))
        }
    });
    futures::future::join_all(checks).await
}

const NO_CLUSTER: &str = "no PostgreSQL cluster";

/// (version, cluster, port, online) of `pg_lsclusters --no-header` lines.
fn parse_clusters(output: &str) -> Vec<(String, String, u16, bool)> {
    output
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .filter_map(|f| {
            Some((
                f[0].to_string(),
                f[1].to_string(),
                f[2].parse().ok()?,
                f[3].starts_with("online"),
            ))
        })
        .collect()
}

/// Judges `pg_lsclusters --no-header` output: every cluster must be online. The fix starts the
/// ones that are down, as `facts` says the host does it (without facts: systemd and sudo).
pub fn cluster_check(
    host: &str,
    name: &'static str,
    output: &str,
    facts: Option<&HostFacts>,
) -> Check {
    let clusters: Vec<Vec<&str>> = output
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    if clusters.is_empty() {
        return Check::new(host, name, Outcome::Fail, NO_CLUSTER.into())
            .fix("create one by running the playbook on this host");
    }
    let describe = |f: &Vec<&str>| format!("{}/{} port {} {}", f[0], f[1], f[2], f[3]);
    let down: Vec<&Vec<&str>> = clusters
        .iter()
        .filter(|f| !f[3].starts_with("online"))
        .collect();
    let all: Vec<String> = clusters.iter().map(describe).collect();
    if down.is_empty() {
        return Check::new(host, name, Outcome::Pass, all.join(", "));
    }
    let default = HostFacts {
        systemd: true,
        ..Default::default()
    };
    let facts = facts.unwrap_or(&default);
    let starts: Vec<String> = down
        .iter()
        .map(|f| facts.start_command(f[0], f[1]))
        .collect();
    let logs: Vec<&str> = down.iter().filter_map(|f| f.get(6).copied()).collect();
    let mut detail = all.join(", ");
    if !logs.is_empty() {
        detail.push_str(&format!(" (log: {})", logs.join(", ")));
    }
    Check::new(host, name, Outcome::Fail, detail).fix(format!("on {host}: {}", starts.join(" && ")))
}

/// The client address in a "no pg_hba.conf entry for host \"ADDR\", …" refusal.
fn hba_client(message: &str) -> Option<&str> {
    let rest = message.split_once("for host \"")?.1;
    let addr = rest.split_once('"')?.0;
    (!addr.is_empty() && addr.parse::<std::net::IpAddr>().is_ok()).then_some(addr)
}

/// The checks of one database, in the spec's order.
pub async fn database_checks(t: &Target, timeout: Duration, fixes: &Fixes) -> Vec<Check> {
    let db = t.db.as_str();
    let server = t.server();
    let mut checks = Vec::new();
    let host = fixes.server_host(t);
    let (version, cluster, online) = host.map_or_else(
        || ("15".to_string(), "main".to_string(), None),
        |h| h.cluster_on(t.url.port),
    );
    // 1. Server reachable.
    let t0 = Instant::now();
    let postgres_fix = match host {
        // Known down on a host doctor checked: start it there.
        Some(h) if online != Some(true) => {
            format!("on {}: {}", h.name, h.start_command(&version, &cluster))
        }
        Some(h) => format!(
            "PostgreSQL {version}/{cluster} runs on {}: check that it listens on {} \
             (listen_addresses, port in /etc/postgresql/{version}/{cluster}/) and that no \
             firewall drops the port",
            h.name, t.url.port
        ),
        None => format!(
            "check PostgreSQL is running on {} (sudo systemctl status postgresql; start it with sudo systemctl start postgresql), that it listens on {} (listen_addresses, port in postgresql.conf) and that no firewall drops the port",
            t.url.host, t.url.port
        ),
    };
    // Err: what failed and the fix.
    let answer: Result<String, (String, String)> = match &t.tunnel {
        // The tunnel's local end always accepts: ask the server itself, through it.
        Some(tunnel) => match probe::connect(t, timeout).await {
            Err(f) if f.failure == Failure::Tunnel => Err((
                format!("the SSH tunnel via {}: {}", tunnel.via, f.message),
                format!(
                    "check that {} is reachable over SSH with the inventory's settings; its service check above says why not",
                    tunnel.via
                ),
            )),
            Err(f) if matches!(f.failure, Failure::Unreachable | Failure::Timeout) => Err((
                format!("through the SSH tunnel via {}: {}", tunnel.via, f.message),
                postgres_fix.clone(),
            )),
            answered => {
                if let Ok((conn, _)) = answered {
                    let _ = conn.close().await;
                }
                Ok(format!(
                    "{server} answers through the SSH tunnel via {} ({:.1} ms)",
                    tunnel.via,
                    t0.elapsed().as_secs_f64() * 1000.0
                ))
            }
        },
        None => {
            let addr_host = t.url.host.trim_start_matches('[').trim_end_matches(']');
            match tokio::time::timeout(
                timeout,
                tokio::net::TcpStream::connect((addr_host, t.url.port)),
            )
            .await
            {
                Ok(Ok(_)) => Ok(format!(
                    "{server} accepts TCP connections ({:.1} ms)",
                    t0.elapsed().as_secs_f64() * 1000.0
                )),
                Ok(Err(e)) => Err((e.to_string(), postgres_fix.clone())),
                Err(_) => Err((
                    format!("no answer within {} s", timeout.as_secs()),
                    postgres_fix.clone(),
                )),
            }
        }
    };
    let reachable = match answer {
        Ok(detail) => {
            checks.push(Check::new(db, "server reachable", Outcome::Pass, detail));
            true
        }
        Err((why, fix)) => {
            checks.push(
                Check::new(
                    db,
                    "server reachable",
                    Outcome::Fail,
                    format!("{server}: {why}"),
                )
                .fix(fix),
            );
            false
        }
    };
    let skip = |name: &'static str, why: &str| Check::new(db, name, Outcome::Skip, why.into());
    if !reachable {
        for n in [
            "pg_hba allows this client",
            "test connection",
            "database exists",
            "migrations",
        ] {
            checks.push(skip(n, "the server is not reachable"));
        }
        return checks;
    }
    // 2-4. One login attempt tells pg_hba, credentials and database apart.
    let conn = probe::connect(t, timeout).await;
    let target = t.url.target();
    match &conn {
        Err(ConnectFailure {
            failure: Failure::Hba,
            message,
            ..
        }) => {
            let client = hba_client(message).map(|a| {
                let bits = if a.contains(':') { 128 } else { 32 };
                format!("{a}/{bits}")
            });
            let line = format!(
                "host {} {} {} scram-sha-256",
                t.url.database,
                t.url.user,
                client.as_deref().unwrap_or("CLIENT_ADDRESS/32")
            );
            let hba = format!("/etc/postgresql/{version}/{cluster}/pg_hba.conf");
            let fix = match (host, &client) {
                // Runnable on that host as printed: the line the server asked for, then a reload.
                (Some(h), Some(_)) => format!(
                    "on {}: echo '{line}' | {}tee -a {hba} >/dev/null && {}pg_ctlcluster {version} {cluster} reload",
                    h.name,
                    h.sudo(),
                    h.sudo()
                ),
                _ => format!(
                    "add a line `{line}` to {hba} (or list this client in postgresql_allowed_clients and re-run the playbook), then sudo systemctl reload postgresql; see: sudo grep -v '^#' {hba}"
                ),
            };
            // The playbook writes pg_hba.conf: what the fix adds lasts until its next run.
            let keep = match &client {
                Some(c) if host.is_some() => format!(
                    " — to keep it, list {c} in postgresql_allowed_clients (the playbook rewrites pg_hba.conf)"
                ),
                _ => String::new(),
            };
            checks.push(
                Check::new(
                    db,
                    "pg_hba allows this client",
                    Outcome::Fail,
                    format!("{message}{keep}"),
                )
                .fix(fix),
            );
            checks.push(skip("test connection", "refused by pg_hba.conf"));
            checks.push(skip("database exists", "refused by pg_hba.conf"));
        }
        Err(f)
            if matches!(
                f.failure,
                Failure::Timeout | Failure::Unreachable | Failure::Tunnel
            ) =>
        {
            checks.push(skip(
                "pg_hba allows this client",
                "the server did not complete the login",
            ));
            checks.push(
                Check::new(db, "test connection", Outcome::Fail, f.message.clone()).fix(
                    "the port answers but PostgreSQL does not: check the server log (/var/log/postgresql/) and the sslmode in the URL",
                ),
            );
            checks.push(skip("database exists", "not connected"));
        }
        Err(f) if f.failure == Failure::Auth => {
            checks.push(Check::new(
                db,
                "pg_hba allows this client",
                Outcome::Pass,
                "the server asked for credentials".into(),
            ));
            checks.push(
                Check::new(db, "test connection", Outcome::Fail, f.message.clone()).fix(format!(
                    "check the user and password in {} (the playbook writes them to /etc/slm/database.env); test with: psql -h {} -U {} -d {} -c \"SELECT 1\"",
                    t.url.var, t.url.host, t.url.user, t.url.database
                )),
            );
            checks.push(skip("database exists", "not logged in"));
        }
        Err(f) => {
            // NoDatabase (or an unexpected server error): pg_hba and the password were fine.
            checks.push(Check::new(
                db,
                "pg_hba allows this client",
                Outcome::Pass,
                "the server accepted the client".into(),
            ));
            if f.failure == Failure::NoDatabase {
                checks.push(Check::new(
                    db,
                    "test connection",
                    Outcome::Pass,
                    format!("{} logged in", t.url.user),
                ));
                let fix = match &fixes.run {
                    Some(run) => format!("create it by running the playbook: {run}"),
                    None => "create it by running the playbook (slm-wizard run playbooks/user-management-db.yml -i INVENTORY); list the databases with: sudo -u postgres psql -c '\\l'".to_string(),
                };
                checks.push(
                    Check::new(db, "database exists", Outcome::Fail, f.message.clone()).fix(fix),
                );
            } else {
                checks.push(
                    Check::new(db, "test connection", Outcome::Fail, f.message.clone())
                        .fix("see the server log (/var/log/postgresql/)"),
                );
                checks.push(skip("database exists", "not connected"));
            }
        }
        Ok(_) => {
            checks.push(Check::new(
                db,
                "pg_hba allows this client",
                Outcome::Pass,
                "the server accepted the client".into(),
            ));
        }
    }
    let Ok((mut conn, took)) = conn else {
        checks.push(skip("migrations", "not connected"));
        return checks;
    };
    let select1 = tokio::time::timeout(
        timeout,
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&mut conn),
    )
    .await;
    match select1 {
        Ok(Ok(_)) => checks.push(Check::new(
            db,
            "test connection",
            Outcome::Pass,
            format!(
                "{target}: SELECT 1 ok (connect {:.1} ms)",
                took.as_secs_f64() * 1000.0
            ),
        )),
        other => {
            let why = match other {
                Ok(Err(e)) => t.url.redact(&e.to_string()),
                _ => format!("no answer within {} s", timeout.as_secs()),
            };
            checks.push(
                Check::new(db, "test connection", Outcome::Fail, why)
                    .fix("see the server log (/var/log/postgresql/)"),
            );
        }
    }
    checks.push(Check::new(
        db,
        "database exists",
        Outcome::Pass,
        format!("connected to {}", t.url.database),
    ));
    let status =
        tokio::time::timeout(timeout, migrate::status(&mut conn, t.db, &t.migrations)).await;
    let check = match status {
        Ok(Ok(rows)) => {
            let info = probe::migration_info(&rows);
            let latest = info.latest.clone().unwrap_or_else(|| "none".into());
            let detail = format!(
                "{} applied, {} pending, latest {latest}",
                info.applied, info.pending
            );
            if info.drift > 0 {
                Check::new(db, "migrations", Outcome::Fail, format!("{detail}; {} changed or missing", info.drift))
                    .fix(format!("restore the changed or missing migration files; see slm-wizard migrate --status --database {db}{}", fixes.source_args))
            } else if info.pending > 0 {
                Check::new(db, "migrations", Outcome::Fail, detail)
                    .fix(format!("apply them: slm-wizard migrate --database {db}{}", fixes.source_args))
            } else {
                Check::new(db, "migrations", Outcome::Pass, detail)
            }
        }
        Ok(Err(e)) => Check::new(db, "migrations", Outcome::Fail, t.url.redact(&e.to_string()))
            .fix("SELECT * FROM migrations_applied ORDER BY applied_at; as the app user shows what is recorded"),
        Err(_) => Check::new(db, "migrations", Outcome::Fail, format!("no answer within {} s", timeout.as_secs())),
    };
    checks.push(check);
    let _ = conn.close().await;
    checks
}

/// Why `doctor` cannot start (bad input, exit 5).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("{0}")]
    Source(SourceError),
    #[error("host '{0}' is not in the inventory")]
    UnknownHost(String),
    #[error("doctor HOST needs the inventory that describes the host (-i)")]
    HostNeedsInventory,
}

/// Runs `slm-wizard doctor`'s checks: the deployment's settings when they are missing, the hosts'
/// services (with an inventory), then every database. Each check goes to `on_check` as soon as
/// its group is done (the databases are checked concurrently and reported in order); all of them
/// are returned.
pub async fn diagnose(
    opts: &DoctorOptions,
    settings: crate::db::Settings,
    on_check: &mut dyn FnMut(&Check),
) -> Result<Vec<Check>, DoctorError> {
    let mut all = Vec::new();
    let mut fixes = Fixes::new(&opts.source);
    let (targets, inv) = match resolve(&opts.source, settings, opts.timeout).await {
        Ok(t) => t,
        // The hosts can still be checked; the missing settings are a finding of their own.
        Err(SourceError::Deployment(why)) => {
            let inv = opts
                .source
                .inventory
                .as_deref()
                .and_then(|p| load_inventory(p, opts.source.vault_password.clone()).ok());
            let check = Check::new(
                "deployment",
                "database settings",
                Outcome::Fail,
                format!(
                    "{why} (or give the URLs: SLM_DATABASE_URL, SLM_USERS_DATABASE_URL, \
                     AUTOBOT_USERS_DATABASE_URL or --env-file)"
                ),
            )
            .fix(match &fixes.run {
                Some(run) => format!("run the deployment first: {run}"),
                None => format!(
                    "run the deployment first: slm-wizard run {} -i INVENTORY",
                    opts.source.playbook.display()
                ),
            });
            on_check(&check);
            all.push(check);
            (Vec::new(), inv)
        }
        Err(e) => return Err(DoctorError::Source(e)),
    };
    if let (Some(h), Some(i)) = (&opts.host, &inv)
        && !i.hosts.contains_key(h)
    {
        return Err(DoctorError::UnknownHost(h.clone()));
    }
    if opts.host.is_some() && inv.is_none() {
        return Err(DoctorError::HostNeedsInventory);
    }
    if let Some(inv) = &inv {
        let checks = service_checks(
            inv,
            opts.host.as_deref(),
            opts.source.accept_new_host_keys,
            opts.timeout,
            &fixes,
        )
        .await;
        for (c, facts) in checks {
            on_check(&c);
            all.push(c);
            fixes.hosts.extend(facts);
        }
    }
    let per_db = futures::future::join_all(
        targets
            .iter()
            .map(|t| database_checks(t, opts.timeout, &fixes)),
    )
    .await;
    for checks in per_db {
        for c in &checks {
            on_check(c);
        }
        all.extend(checks);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_online_and_down() {
        let ok = cluster_check(
            "h",
            "svc",
            "15  main    5432 online postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log\n",
            None,
        );
        assert_eq!(ok.outcome, Outcome::Pass);
        assert!(ok.detail.contains("15/main port 5432 online"));
        let down = cluster_check(
            "h",
            "svc",
            "15  main    5432 down   postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log\n",
            None,
        );
        assert_eq!(down.outcome, Outcome::Fail);
        assert!(down.fix.unwrap().contains("postgresql@15-main"));
        assert_eq!(cluster_check("h", "svc", "", None).outcome, Outcome::Fail);

        // As root without systemd: pg_ctlcluster, no sudo, the log out of the command.
        let facts = HostFacts {
            root: true,
            ..Default::default()
        };
        let down = cluster_check(
            "redis",
            "svc",
            "15  main    5432 down   postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log\n",
            Some(&facts),
        );
        assert_eq!(
            down.fix.as_deref(),
            Some("on redis: pg_ctlcluster 15 main start")
        );
        assert!(
            down.detail
                .contains("log: /var/log/postgresql/postgresql-15-main.log")
        );
    }

    #[test]
    fn fix_lines_never_repeat_secret_extra_vars() {
        let secrets = vec!["api_pin".to_string()];
        assert!(repeatable_extra_var("postgresql_port=5433", &secrets));
        assert!(repeatable_extra_var("@vars.yml", &secrets));
        assert!(
            !repeatable_extra_var("api_pin=1234", &secrets),
            "a survey secret"
        );
        assert!(
            !repeatable_extra_var("db_token=abc", &secrets),
            "a secret name"
        );
        assert!(
            !repeatable_extra_var("{\"k\": \"v\"}", &secrets),
            "inline JSON"
        );
        assert!(!repeatable_extra_var("k: v", &secrets), "inline YAML");
        assert!(
            !repeatable_extra_var("port=5433 db_password=hunter2", &secrets),
            "several pairs in one -e"
        );
    }

    #[test]
    fn fix_lines_name_the_deployment() {
        assert_eq!(
            hba_client(
                "no pg_hba.conf entry for host \"10.77.1.11\", user \"autobot_app\", database \"autobot_users\", no encryption"
            ),
            Some("10.77.1.11")
        );
        assert_eq!(hba_client("password authentication failed"), None);
        let f = Fixes::new(&DbSource {
            inventory: Some("inv/my hosts.yml".into()),
            playbook: "playbooks/user-management-db.yml".into(),
            extra_vars: vec!["postgresql_port=5433".into(), "slm_db_password=x".into()],
            ..Default::default()
        });
        assert_eq!(
            f.run.as_deref(),
            Some(
                "slm-wizard run playbooks/user-management-db.yml -i 'inv/my hosts.yml' -e postgresql_port=5433"
            )
        );
        assert_eq!(
            f.source_args,
            " -i 'inv/my hosts.yml' --playbook playbooks/user-management-db.yml -e postgresql_port=5433"
        );
        assert_eq!(Fixes::new(&DbSource::default()).source_args, "");
    }
}
