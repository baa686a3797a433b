//! `slm-wizard doctor`: the spec's troubleshooting section, run in order for every database —
//! server reachable (and, with an inventory, the PostgreSQL clusters running on its hosts),
//! pg_hba allows this client, test connection, database exists, migrations status — each printed
//! with pass / fail / skip and, on failure, the fix.

use std::io::Write;
use std::time::{Duration, Instant};

use sqlx::Connection;

use super::command::{DbSource, EXIT_BAD_INPUT, SourceError, load_inventory, resolve};
use super::probe::{self, ConnectFailure};
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

/// `pg_lsclusters` on every host of the inventory (or only `only`).
pub async fn service_checks(
    inv: &Inventory,
    only: Option<&str>,
    accept_new: bool,
    timeout: Duration,
) -> Vec<Check> {
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
        async move {
            let name = "PostgreSQL service running (pg_lsclusters)";
            let run = async {
                let t = connect(host.clone(), vars).await.map_err(|e| e.to_string())?;
                let req = ExecRequest {
                    script: "pg_lsclusters --no-header 2>&1",
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
            let res = match tokio::time::timeout(timeout * 2, run).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} s", (timeout * 2).as_secs())),
            };
            match res {
                Err(e) => Check::new(&host, name, Outcome::Fail, format!("cannot reach the host: {e}"))
                    .fix("check the host is up and its SSH settings in the inventory (slm-wizard run … --limit HOST tests the connection)"),
                Ok(o) if o.rc == 127 => Check::new(&host, name, Outcome::Fail, "pg_lsclusters not found: PostgreSQL is not installed".into())
                    .fix("install it: slm-wizard run playbooks/user-management-db.yml -i INVENTORY --limit HOST"),
                Ok(o) if o.rc != 0 => Check::new(&host, name, Outcome::Fail, format!("pg_lsclusters failed (rc {}): {}", o.rc, o.stdout.trim()))
                    .fix("sudo systemctl status postgresql"),
                Ok(o) => cluster_check(&host, name, &o.stdout),
            }
        }
    });
    futures::future::join_all(checks).await
}

/// Judges `pg_lsclusters --no-header` output: every cluster must be online.
pub fn cluster_check(host: &str, name: &'static str, output: &str) -> Check {
    let clusters: Vec<Vec<&str>> = output
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    if clusters.is_empty() {
        return Check::new(host, name, Outcome::Fail, "no PostgreSQL cluster".into()).fix(
            "create one by running the playbook: slm-wizard run playbooks/user-management-db.yml -i INVENTORY",
        );
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
    let fixes: Vec<String> = down
        .iter()
        .map(|f| {
            let log = f.get(6).map(|l| format!(" (log: {l})")).unwrap_or_default();
            format!("sudo systemctl start postgresql@{}-{}{log}", f[0], f[1])
        })
        .collect();
    Check::new(host, name, Outcome::Fail, all.join(", ")).fix(fixes.join("; "))
}

/// The checks of one database, in the spec's order.
pub async fn database_checks(t: &Target, timeout: Duration) -> Vec<Check> {
    let db = t.db.as_str();
    let server = t.server();
    let mut checks = Vec::new();
    // 1. Server reachable.
    let t0 = Instant::now();
    let postgres_fix = format!(
        "check PostgreSQL is running on {} (sudo systemctl status postgresql; start it with sudo systemctl start postgresql), that it listens on {} (listen_addresses, port in postgresql.conf) and that no firewall drops the port",
        t.url.host, t.url.port
    );
    // Err: what failed and the fix.
    let answer: Result<String, (String, String)> = match &t.tunnel {
        // The tunnel's local end always accepts: ask the server itself, through it.
        Some(tunnel) => match probe::connect(t, timeout).await {
            Err(f) if f.failure == Failure::Tunnel => Err((
                format!("the SSH tunnel via {}: {}", tunnel.via, f.message),
                format!(
                    "check that {} is reachable over SSH with the inventory's settings (slm-wizard doctor {} -i INVENTORY checks its service too)",
                    tunnel.via, tunnel.via
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
            checks.push(
                Check::new(db, "pg_hba allows this client", Outcome::Fail, message.clone()).fix(
                    format!(
                        "add a line `host {} {} CLIENT_ADDRESS/32 scram-sha-256` to /etc/postgresql/15/main/pg_hba.conf (or list this client in postgresql_allowed_clients and re-run the playbook), then sudo systemctl reload postgresql; see: sudo grep -v '^#' /etc/postgresql/15/main/pg_hba.conf",
                        t.url.database, t.url.user
                    ),
                ),
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
                checks.push(
                    Check::new(db, "database exists", Outcome::Fail, f.message.clone()).fix(
                        "create it by running the playbook (slm-wizard run playbooks/user-management-db.yml -i INVENTORY); list the databases with: sudo -u postgres psql -c '\\l'",
                    ),
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
                    .fix(format!("restore the changed or missing migration files; see slm-wizard migrate --status --database {db}"))
            } else if info.pending > 0 {
                Check::new(db, "migrations", Outcome::Fail, detail)
                    .fix(format!("apply them: slm-wizard migrate --database {db}"))
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

/// Runs `slm-wizard doctor`; exit 0 when every check passed, 1 when one failed, 5 for bad input.
pub async fn run_doctor(
    opts: &DoctorOptions,
    settings: crate::db::Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut all = Vec::new();
    let (targets, inv) = match resolve(&opts.source, settings, opts.timeout).await {
        Ok(t) => t,
        // The hosts can still be checked; the missing settings are a finding of their own.
        Err(SourceError::Deployment(why)) => {
            let inv = opts
                .source
                .inventory
                .as_deref()
                .and_then(|p| load_inventory(p, opts.source.vault_password.clone()).ok());
            let check = Check::new("deployment", "database settings", Outcome::Fail, why).fix(
                format!(
                    "run the deployment first (slm-wizard run {} -i INVENTORY), or give the URLs \
                     (SLM_DATABASE_URL, SLM_USERS_DATABASE_URL, AUTOBOT_USERS_DATABASE_URL or --env-file)",
                    opts.source.playbook.display()
                ),
            );
            let _ = writeln!(out, "{}", check.render());
            all.push(check);
            (Vec::new(), inv)
        }
        Err(e) => return e.report(err),
    };
    if let (Some(h), Some(i)) = (&opts.host, &inv)
        && !i.hosts.contains_key(h)
    {
        let _ = writeln!(err, "ERROR! host '{h}' is not in the inventory");
        return EXIT_BAD_INPUT;
    }
    if opts.host.is_some() && inv.is_none() {
        let _ = writeln!(
            err,
            "ERROR! doctor HOST needs the inventory that describes the host (-i)"
        );
        return EXIT_BAD_INPUT;
    }
    if let Some(inv) = &inv {
        let checks = service_checks(
            inv,
            opts.host.as_deref(),
            opts.source.accept_new_host_keys,
            opts.timeout,
        )
        .await;
        for c in &checks {
            let _ = writeln!(out, "{}", c.render());
        }
        let _ = out.flush();
        all.extend(checks);
    }
    // The databases are checked concurrently and printed in order.
    let per_db =
        futures::future::join_all(targets.iter().map(|t| database_checks(t, opts.timeout))).await;
    for checks in per_db {
        for c in &checks {
            let _ = writeln!(out, "{}", c.render());
        }
        all.extend(checks);
    }
    let failed = all.iter().filter(|c| c.outcome == Outcome::Fail).count();
    let passed = all.iter().filter(|c| c.outcome == Outcome::Pass).count();
    let skipped = all.len() - failed - passed;
    let _ = writeln!(
        out,
        "\ndoctor: {passed} passed, {failed} failed, {skipped} skipped"
    );
    let _ = out.flush();
    if failed > 0 { 1 } else { 0 }
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
        );
        assert_eq!(ok.outcome, Outcome::Pass);
        assert!(ok.detail.contains("15/main port 5432 online"));
        let down = cluster_check(
            "h",
            "svc",
            "15  main    5432 down   postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log\n",
        );
        assert_eq!(down.outcome, Outcome::Fail);
        assert!(down.fix.unwrap().contains("postgresql@15-main"));
        assert_eq!(cluster_check("h", "svc", "").outcome, Outcome::Fail);
    }
}
