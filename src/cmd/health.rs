//! The `slm-wizard health` command: one sample of every target (`--json` or a table), or
//! `--watch`: the dashboard on a terminal, else a block of lines per burst of samples — both
//! from the same monitor. Where the targets come from is `health::source`.

use std::io::Write;
use std::time::Duration;

use futures::future::join_all;

use super::exit;
use crate::db::Settings;
use crate::health::monitor::{self, Monitor, MonitorOptions};
use crate::health::source::{HealthSource, database_hosts, resolve};
use crate::health::store::Sample;
use crate::health::{ProbeConfig, Status, Target, Thresholds, report};

// Where the command line finds them (`health`, `doctor`, `migrate`, the rotation's login check).
pub use crate::health::source::{DbSource, deployment_targets};

/// Options of `slm-wizard health`.
#[derive(Debug, Clone)]
pub struct HealthOptions {
    pub source: DbSource,
    pub json: bool,
    pub watch: bool,
    pub interval: Duration,
    pub timeout: Duration,
    pub slow: Duration,
    pub retention: Duration,
    /// Colour the table.
    pub color: bool,
    /// The SLM backend to probe too (`http://host:port`).
    pub api_url: Option<String>,
    /// `--watch` on a terminal: the interactive dashboard (the wizard's Health step) instead of
    /// blocks of lines.
    pub dashboard: bool,
}

impl Default for HealthOptions {
    fn default() -> Self {
        Self {
            source: DbSource::default(),
            json: false,
            watch: false,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            slow: Duration::from_millis(500),
            retention: Duration::from_secs(600),
            color: false,
            api_url: None,
            dashboard: false,
        }
    }
}

/// Runs `slm-wizard health`; returns the exit code (0 healthy, 1 degraded, 2 unhealthy, 5 bad input).
pub async fn run_health(
    opts: &HealthOptions,
    settings: Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let (targets, inventory) = match resolve(&opts.source, settings, opts.timeout).await {
        Ok(found) => found,
        Err(e) => return super::source_error(&e, err),
    };
    let source = HealthSource {
        targets,
        cfg: ProbeConfig {
            timeout: opts.timeout,
            thresholds: Thresholds {
                slow: opts.slow,
                ..Thresholds::default()
            },
        },
        api_url: opts.api_url.clone(),
    };
    if opts.watch && opts.dashboard {
        return dashboard(source, opts, err).await;
    }
    if opts.watch {
        // The inventory's database hosts are watched too (the dashboard lists the wizard's).
        let hosts = inventory.as_ref().map(database_hosts).unwrap_or_default();
        return watch(source, hosts, opts, out).await;
    }
    let targets = source.targets.clone();
    let mut samplers = monitor::samplers(source, Vec::new());
    let samples = monitor::sample_once(&mut samplers).await;
    join_all(targets.iter().map(Target::close)).await;
    let mut dbs = Vec::new();
    let mut backend = None;
    for s in samples {
        match s {
            Sample::Db(d) => dbs.push(*d),
            Sample::Backend(b) => backend = Some(b),
            Sample::Host(_) => {}
        }
    }
    let refs: Vec<_> = dbs.iter().collect();
    let agg = report::aggregate(&refs);
    let worst = Status::worst(
        [agg.status]
            .into_iter()
            .chain(backend.as_ref().map(|b| b.status)),
    );
    if opts.json {
        let mut v = report::round_json(&refs);
        if let (Some(b), Some(obj)) = (&backend, v.as_object_mut()) {
            obj.insert(
                "backend".into(),
                serde_json::to_value(b).unwrap_or_default(),
            );
        }
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
    } else {
        let _ = write!(out, "{}", report::table(&refs, opts.color));
        if let Some(b) = &backend {
            let _ = writeln!(out, "{}", report::backend_line(b));
        }
    }
    let _ = out.flush();
    exit::for_health(worst)
}

/// `--watch` on a terminal: the wizard opened on its Health step, so `r` can repair a host.
async fn dashboard(source: HealthSource, opts: &HealthOptions, err: &mut dyn Write) -> u8 {
    let wizard = crate::tui::Options {
        inventory: opts.source.inventory.clone(),
        start_at_health: true,
        health: Some(source),
        health_interval: opts.interval,
        health_retention: opts.retention,
        ..Default::default()
    };
    match crate::tui::run(wizard).await {
        Ok(status) => status.map_or(exit::OK, exit::for_health),
        Err(e) => {
            let _ = writeln!(err, "slm-wizard health: {e}");
            exit::for_health(Status::Unhealthy)
        }
    }
}

/// `--watch` without a terminal: a block per burst of samples — the databases' table, the
/// hosts, the backend — until Ctrl-C; exits with the last block's overall state.
async fn watch(
    source: HealthSource,
    hosts: Vec<crate::health::host::HostTarget>,
    opts: &HealthOptions,
    out: &mut dyn Write,
) -> u8 {
    let monitor = Monitor::start(
        source,
        hosts,
        MonitorOptions {
            interval: opts.interval,
            retention: opts.retention,
            // Let the other targets of the same tick land, then print once.
            settle: Duration::from_millis(100),
        },
    );
    let mut snapshots = monitor.snapshots();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut status = Status::Healthy;
    loop {
        let snap = tokio::select! {
            _ = &mut ctrl_c => break,
            snap = snapshots.next() => match snap {
                Some(s) => s,
                None => break,
            },
        };
        let sampled = snap.rows.iter().any(|r| r.status.is_some())
            || snap.hosts.iter().any(|h| h.status.is_some())
            || snap.backend.is_some();
        if !sampled {
            continue;
        }
        status = snap.status;
        let mut text = report::snapshot_table(&snap, opts.color);
        if !snap.hosts.is_empty() {
            text.push('\n');
        }
        for h in &snap.hosts {
            text.push_str(&report::host_line(h));
            text.push('\n');
        }
        if let Some(b) = &snap.backend {
            text.push_str(&report::backend_line(b));
            text.push('\n');
        }
        let clear = if opts.color { "\x1b[H\x1b[2J" } else { "\n" };
        let _ = write!(
            out,
            "{clear}slm-wizard health — every {} s, last {} s kept, Ctrl-C to quit — {}\n\n{text}",
            monitor.interval().as_secs_f64(),
            opts.retention.as_secs(),
            chrono::Local::now().format("%H:%M:%S"),
        );
        let _ = out.flush();
    }
    drop(monitor);
    exit::for_health(status)
}

/// `slm-wizard health`: the options from the command line, the report on stdout.
pub async fn health_command(args: crate::cli::HealthArgs) -> std::process::ExitCode {
    use std::io::IsTerminal;
    let source = match super::source(args.source) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = HealthOptions {
        source,
        json: args.json,
        watch: args.watch,
        interval: super::seconds(args.interval, 0.2),
        timeout: super::seconds(args.timeout, 0.1),
        slow: Duration::from_millis(args.slow_ms),
        retention: Duration::from_secs(args.retention.max(1)),
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        api_url: args.api_url,
        dashboard: args.watch && std::io::stdout().is_terminal() && std::io::stdin().is_terminal(),
    };
    let mut out = super::stdout::CliStdout::exiting();
    let mut err = std::io::stderr();
    let code = run_health(&opts, Settings::from_env(), &mut out, &mut err).await;
    std::process::ExitCode::from(code)
}
