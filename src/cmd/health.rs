//! The `slm-wizard health` command: one round (`--json` or a table), or `--watch`.

use std::io::Write;

use futures::future::join_all;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::db::migrate::Source;
use crate::db::{DbName, Settings};
use crate::health::store::{SampleStore, Sampler};
use crate::health::{
    ProbeConfig, Status, Target, Thresholds, Tunnel, ViaHost, deployment, probe, report,
};
use crate::inventory::Inventory;
use crate::secrets::{Redactor, Secret};
use crate::transport::ssh::SshParams;

/// Exit code for bad input (settings, URLs, inventory), as `migrate` and `run`.
pub const EXIT_BAD_INPUT: u8 = 5;

/// Which databases, and where their URLs come from (`health` and `doctor`).
#[derive(Debug, Clone)]
pub struct DbSource {
    /// `slm`, `slm_users`, `autobot_users` or `all`.
    pub database: String,
    pub env_file: Option<PathBuf>,
    pub migrations_dir: Option<PathBuf>,
    pub inventory: Option<PathBuf>,
    /// The deployment's playbook and `-e` values (the URLs come from them when none are given).
    pub playbook: PathBuf,
    pub extra_vars: Vec<String>,
    pub vault_password: Option<Secret>,
    /// Reach the databases through an SSH tunnel from this inventory host.
    pub via_ssh: Option<String>,
    pub accept_new_host_keys: bool,
}

impl Default for DbSource {
    fn default() -> Self {
        Self {
            database: "all".into(),
            env_file: None,
            migrations_dir: None,
            inventory: None,
            playbook: deployment::default_playbook(std::path::Path::new("playbooks")),
            extra_vars: Vec::new(),
            vault_password: None,
            via_ssh: None,
            accept_new_host_keys: false,
        }
    }
}

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
    /// a redrawn text table.
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

/// Why a [`DbSource`] gives no databases (exit 5).
#[derive(Debug)]
pub enum SourceError {
    BadInput(String),
    /// No URLs were given and the deployment's settings could not be rendered (not run yet,
    /// no secrets stored, …); the inventory itself is fine.
    Deployment(String),
}

impl SourceError {
    /// Prints the error; returns the exit code.
    pub fn report(&self, err: &mut dyn Write) -> u8 {
        let _ = match self {
            SourceError::BadInput(e) => writeln!(err, "ERROR! {e}"),
            SourceError::Deployment(e) => writeln!(
                err,
                "ERROR! no database URLs given and none from the deployment: {e}"
            ),
        };
        EXIT_BAD_INPUT
    }
}

/// The targets of `source` (routed through SSH where needed; a tunnel that cannot open is a
/// probe's failure, not bad input) and its inventory, loaded once.
pub async fn resolve(
    source: &DbSource,
    settings: Settings,
    timeout: Duration,
) -> Result<(Vec<Target>, Option<Inventory>), SourceError> {
    let bad_input = SourceError::BadInput;
    let inv = match &source.inventory {
        Some(p) => Some(load_inventory(p, source.vault_password.clone()).map_err(bad_input)?),
        None => None,
    };
    let mut via_ssh = source.via_ssh.clone();
    // On the SLM server itself, plain `health` watches what the backend uses.
    let env_file = source.env_file.clone().or_else(|| {
        let backend = std::path::Path::new(crate::db::BACKEND_ENV_FILE);
        (source.inventory.is_none() && !settings.has_urls() && backend.exists())
            .then(|| backend.to_path_buf())
    });
    let settings = match (&source.inventory, &source.env_file) {
        (Some(inventory), None) if !settings.has_urls() => {
            let d = load_deployment(deployment::DeploymentRef {
                playbook: source.playbook.clone(),
                inventory: inventory.clone(),
                extra_vars: source.extra_vars.clone(),
                answers: Default::default(),
                vault_password: source.vault_password.clone(),
            })
            .await
            .map_err(SourceError::Deployment)?;
            via_ssh = via_ssh.or(d.via);
            d.settings
        }
        _ => settings,
    };
    let mut targets = prepare(
        &source.database,
        env_file.as_deref(),
        source.migrations_dir.as_deref(),
        settings,
    )
    .map_err(bad_input)?;
    if let Some(host) = &via_ssh {
        let Some(inv) = &inv else {
            return Err(bad_input(format!(
                "--via-ssh {host} needs the inventory that describes the host (-i)"
            )));
        };
        if !inv.hosts.contains_key(host) {
            return Err(bad_input(format!(
                "--via-ssh: host '{host}' is not in the inventory"
            )));
        }
        route_via(
            &mut targets,
            inv,
            host,
            source.accept_new_host_keys,
            timeout,
        )
        .map_err(bad_input)?;
    }
    Ok((targets, inv))
}

/// The targets of the options (bad input as a message).
pub fn prepare(
    database: &str,
    env_file: Option<&std::path::Path>,
    migrations_dir: Option<&std::path::Path>,
    settings: Settings,
) -> Result<Vec<Target>, String> {
    let dbs = DbName::parse_selection(database).map_err(|e| e.to_string())?;
    let settings = match env_file {
        Some(f) => settings.with_env_file(f).map_err(|e| e.to_string())?,
        None => settings,
    };
    let source = match migrations_dir {
        Some(d) => Source::Dir(d.to_path_buf()),
        None => Source::Embedded,
    };
    crate::health::targets(&settings, &dbs, &source).map_err(|e| e.to_string())
}

/// Loads an inventory (vault values decrypted with `password`).
pub fn load_inventory(
    path: &std::path::Path,
    password: Option<Secret>,
) -> Result<Inventory, String> {
    let vault = crate::engine::plan::make_vault_fn(password, Redactor::default());
    Inventory::load(path, &vault).map_err(|e| e.to_string())
}

/// SSH parameters of an inventory host (the connection variables the engine understands).
pub fn ssh_params(
    inv: &Inventory,
    host: &str,
    accept_new: bool,
    timeout: Duration,
) -> Result<SshParams, String> {
    if !inv.hosts.contains_key(host) {
        return Err(format!("host '{host}' is not in the inventory"));
    }
    let opts = crate::engine::connect::ConnectOptions {
        accept_new_host_keys: accept_new,
        connect_timeout: timeout,
    };
    crate::engine::connect::ssh_params(host, &inv.host_vars(host), &opts)
        .map_err(|e| format!("{host}: {e}"))
}

/// Routes the targets through `host`: one SSH connection, a forward per distinct database
/// server, both opened at the first probe and again after they dropped.
fn route_via(
    targets: &mut [Target],
    inv: &Inventory,
    host: &str,
    accept_new_host_keys: bool,
    timeout: Duration,
) -> Result<(), String> {
    let params = ssh_params(inv, host, accept_new_host_keys, timeout)?;
    let via = Arc::new(ViaHost::new(host.to_string(), params));
    let mut routed: Vec<(String, Arc<Tunnel>)> = Vec::new();
    for t in targets.iter_mut() {
        let server = t.server();
        if let Some((_, tunnel)) = routed.iter().find(|(s, _)| *s == server) {
            t.tunnel = Some(tunnel.clone());
            continue;
        }
        let host_only = t.url.host.trim_start_matches('[').trim_end_matches(']');
        let tunnel = Arc::new(Tunnel::new(via.clone(), host_only, t.url.port));
        t.tunnel = Some(tunnel.clone());
        routed.push((server, tunnel));
    }
    Ok(())
}

/// [`deployment::load`] off the async threads (files, vault decryption, planning).
async fn load_deployment(d: deployment::DeploymentRef) -> Result<deployment::Deployment, String> {
    tokio::task::spawn_blocking(move || deployment::load(&d))
        .await
        .map_err(|e| e.to_string())?
}

/// Every database of a deployment, as its backend reaches them (through the SLM server when that
/// is remote, over one SSH connection).
pub async fn deployment_targets(
    d: deployment::DeploymentRef,
    timeout: Duration,
) -> Result<Vec<Target>, String> {
    let inventory = d.inventory.clone();
    let password = d.vault_password.clone();
    let found = load_deployment(d).await?;
    let mut targets = prepare("all", None, None, found.settings)?;
    if let Some(host) = &found.via {
        let inv = load_inventory(&inventory, password)?;
        route_via(&mut targets, &inv, host, false, timeout)?;
    }
    Ok(targets)
}

/// Runs `slm-wizard health`; returns the exit code (0 healthy, 1 degraded, 2 unhealthy, 5 bad input).
pub async fn run_health(
    opts: &HealthOptions,
    settings: Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let targets = match resolve(&opts.source, settings, opts.timeout).await {
        Ok((targets, _)) => targets,
        Err(e) => return e.report(err),
    };
    let cfg = ProbeConfig {
        timeout: opts.timeout,
        thresholds: Thresholds {
            slow: opts.slow,
            ..Thresholds::default()
        },
    };
    if opts.watch && opts.dashboard {
        return dashboard(targets, cfg, opts, err).await;
    }
    if opts.watch {
        return watch(targets, cfg, opts, out).await;
    }
    let (samples, backend) = tokio::join!(probe::round(&targets, &cfg), async {
        match &opts.api_url {
            Some(url) => Some(crate::health::api::probe(url, opts.timeout).await),
            None => None,
        }
    });
    join_all(targets.iter().map(Target::close)).await;
    let refs: Vec<_> = samples.iter().collect();
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
        let _ = write!(out, "{}", report::table(&refs, None, opts.color));
        if let Some(b) = &backend {
            let _ = writeln!(
                out,
                "backend {}: {} (version {}, up {} s, nodes {}/{}, {:.0} ms){}",
                b.url,
                b.status,
                b.version.as_deref().unwrap_or("-"),
                b.uptime_seconds.map_or("-".into(), |u| u.to_string()),
                b.nodes_online.map_or("-".into(), |n| n.to_string()),
                b.nodes_total.map_or("-".into(), |n| n.to_string()),
                b.latency_ms,
                if b.reasons.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", b.reasons.join("; "))
                }
            );
        }
    }
    let _ = out.flush();
    worst.exit_code()
}

/// `--watch` on a terminal: the wizard opened on its Health step, so `r` can repair a host.
async fn dashboard(
    targets: Vec<Target>,
    cfg: ProbeConfig,
    opts: &HealthOptions,
    err: &mut dyn Write,
) -> u8 {
    let wizard = crate::tui::Options {
        inventory: opts.source.inventory.clone(),
        start_at_health: true,
        health: Some(crate::tui::HealthSource {
            targets,
            cfg,
            api_url: opts.api_url.clone(),
        }),
        health_interval: opts.interval,
        health_retention: opts.retention,
        ..Default::default()
    };
    match crate::tui::run(wizard).await {
        Ok(status) => status.map_or(0, Status::exit_code),
        Err(e) => {
            let _ = writeln!(err, "slm-wizard health: {e}");
            Status::Unhealthy.exit_code()
        }
    }
}

/// `--watch` without a terminal: a table redrawn after new samples, until Ctrl-C.
async fn watch(
    targets: Vec<Target>,
    cfg: ProbeConfig,
    opts: &HealthOptions,
    out: &mut dyn Write,
) -> u8 {
    let store = Arc::new(Mutex::new(SampleStore::new(opts.retention)));
    let sampler = Sampler::spawn(targets, cfg, opts.interval, store.clone());
    let mut updates = sampler.updates.clone();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut status = Status::Healthy;
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            changed = updates.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
        // Let the other targets of the same tick land, then draw once.
        tokio::time::sleep(Duration::from_millis(100)).await;
        updates.borrow_and_update();
        let text = {
            let Ok(mut st) = store.lock() else { break };
            st.prune(chrono::Utc::now());
            let latest = st.latest_all();
            status = report::aggregate(&latest).status;
            report::table(&latest, Some(&st), opts.color)
        };
        let clear = if opts.color { "\x1b[H\x1b[2J" } else { "\n" };
        let _ = write!(
            out,
            "{clear}slm-wizard health — every {} s, last {} s kept, Ctrl-C to quit — {}\n\n{text}",
            sampler.interval().as_secs_f64(),
            opts.retention.as_secs(),
            chrono::Local::now().format("%H:%M:%S"),
        );
        let _ = out.flush();
    }
    drop(sampler);
    status.exit_code()
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
    let mut out = crate::engine::output::CliStdout::exiting();
    let mut err = std::io::stderr();
    let code = run_health(&opts, Settings::from_env(), &mut out, &mut err).await;
    std::process::ExitCode::from(code)
}
