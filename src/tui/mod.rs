//! The terminal side of the wizard: terminal guard (restored on exit, error, panic and Ctrl-C),
//! one action channel fed by the keyboard, a ticker and the effect executor, and a loop that
//! drains every pending action before it redraws — only when something changed, at most ~30 fps.

pub mod follow;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::app::action::RunKind;
use crate::app::effects::SecretsAction;
use crate::app::state::{HostsView, PlaybookEntry, Session};
use crate::app::{Action, Effect, State, update};
use crate::engine::output::Journal;
use crate::engine::{self, Cancel};
use crate::health::deployment::DeploymentRef;
use crate::inventory::Inventory;
use crate::prepare::{self, PrepareError, PrepareOptions};
use crate::secrets::Redactor;

/// When the process started (for the first-frame time the benchmark reads from the log).
static PROCESS_START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

pub fn mark_process_start() {
    PROCESS_START.get_or_init(Instant::now);
}

/// Frames drawn and the time spent drawing them (logged at exit, for the benchmark).
#[derive(Default)]
struct FrameStats {
    frames: u64,
    total: Duration,
    max: Duration,
}

impl FrameStats {
    fn record(&mut self, took: Duration) {
        if self.frames == 0
            && let Some(start) = PROCESS_START.get()
        {
            tracing::info!(
                first_frame_ms = start.elapsed().as_secs_f64() * 1000.0,
                "first frame drawn"
            );
        }
        self.frames += 1;
        self.total += took;
        self.max = self.max.max(took);
    }
}

/// Minimum time between two frames.
const FRAME: Duration = Duration::from_millis(33);

/// How the wizard is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// The directory whose playbooks are offered (when `playbook_dirs` is empty).
    pub playbook_dir: PathBuf,
    /// The directories whose playbooks are offered, found recursively (`--playbooks`, the
    /// config's `playbook_dirs`); empty: `playbook_dir`.
    pub playbook_dirs: Vec<PathBuf>,
    /// `-i`; without it, the last session's inventory, else `playbooks/inventory/local.yml`.
    pub inventory: Option<PathBuf>,
    pub playbook: Option<PathBuf>,
    /// Open on the Health step (`slm-wizard health --watch` on a terminal).
    pub start_at_health: bool,
    /// What the Health step probes; without it, the databases of `/etc/slm/database.env` and
    /// the environment, read each time the step opens.
    pub health: Option<HealthSource>,
    pub health_interval: Duration,
    pub health_retention: Duration,
    /// The engine (`--engine`, `SLM_WIZARD_ENGINE`, else the config file's, else auto).
    pub engine: crate::config::Engine,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            playbook_dir: PathBuf::from("playbooks"),
            playbook_dirs: Vec::new(),
            inventory: None,
            playbook: None,
            start_at_health: false,
            health: None,
            health_interval: Duration::from_secs(5),
            health_retention: Duration::from_secs(600),
            engine: crate::config::Engine::Auto,
        }
    }
}

/// Prepared health targets (settings, tunnels) and how to probe them.
#[derive(Debug, Clone)]
pub struct HealthSource {
    pub targets: Vec<crate::health::Target>,
    pub cfg: crate::health::ProbeConfig,
    /// The SLM backend's base URL, to probe its `/api/health` too.
    pub api_url: Option<String>,
}

/// Loads the playbooks and the inventory into a fresh state that starts where `session` left off.
pub fn initial_state(opts: &Options, session: Option<Session>) -> State {
    let dirs = if opts.playbook_dirs.is_empty() {
        vec![opts.playbook_dir.clone()]
    } else {
        opts.playbook_dirs.clone()
    };
    let playbooks = PlaybookEntry::scan_dirs(&dirs);
    let inventory = opts
        .inventory
        .clone()
        .or_else(|| {
            session
                .as_ref()
                .and_then(|s| s.inventory.clone())
                .filter(|p| p.is_file())
        })
        .unwrap_or_else(|| default_inventory().to_path_buf());
    let vault = engine::plan::make_vault_fn(None, Redactor::default());
    let hosts = match Inventory::load(&inventory, &vault) {
        Ok(inv) => HostsView::from_inventory(&inventory, &inv),
        Err(e) => HostsView::failed(&inventory, e.to_string()),
    };
    let mut state = State::new(dirs[0].clone(), playbooks, hosts, opts.playbook.as_deref());
    state.playbook_dirs = dirs;
    if let Some(s) = session {
        state.resume(s, opts.playbook.is_some());
    }
    state.health.interval = opts.health_interval;
    state.health.retention = opts.health_retention;
    state.engine = opts.engine;
    state
}

/// Sends logs to `$XDG_STATE_HOME/slm-wizard/logs/wizard.log`, never to the screen.
fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = crate::paths::logs_dir();
    crate::fsutil::private_dir(&dir).ok()?;
    engine::output::rotate_log(&dir.join("wizard.log"), 10 << 20);
    // The appender opens the file with the process umask (077); a file left by an older version
    // is made private too.
    let file = dir.join("wizard.log");
    if file.exists() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).ok()?;
    }
    let appender = tracing_appender::rolling::never(&dir, "wizard.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLM_WIZARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}

/// Restores the terminal when dropped (normal exit and error paths).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

fn restore() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::event::DisableMouseCapture,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Runs the wizard until the user quits; returns the dashboard's last overall state, if any.
pub async fn run(opts: Options) -> anyhow::Result<Option<crate::health::Status>> {
    let _log = init_logging();
    tracing::info!(?opts, "wizard starting");
    let mut state = initial_state(&opts, load_session());
    // The panic hook comes first, so a panic during init still restores the terminal. A panic of
    // the UI thread restores the terminal and reports as usual; one in a background task (which
    // comes back as a failed run) only goes to the log, so the screen stays intact.
    let ui_thread = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui_thread {
            restore();
            previous(info);
        } else {
            tracing::error!("panic in a background task: {info}");
        }
    }));
    let _guard = TerminalGuard;
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    // The wheel scrolls; SLM_WIZARD_NO_MOUSE=1 leaves the mouse to the terminal (text selection).
    if std::env::var_os("SLM_WIZARD_NO_MOUSE").is_none() {
        crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture)?;
    }
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;

    let (tx, mut rx) = unbounded_channel::<Action>();
    let mut exec = Executor::new(tx.clone());
    exec.health_source = opts.health.clone();
    exec.health_retention = opts.health_retention;
    if opts.start_at_health {
        state.health.standalone = true;
        for effect in crate::app::update::enter_health(&mut state) {
            exec.execute(effect);
        }
    }
    spawn_input(tx.clone());
    spawn_ticker(tx.clone());
    spawn_signals(tx.clone());

    let mut last_frame = Instant::now() - FRAME;
    let mut stats = FrameStats::default();
    loop {
        if state.dirty {
            let wait = FRAME.saturating_sub(last_frame.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            // One synchronized update per frame: the terminal shows it whole, without tearing.
            let _ = crossterm::execute!(
                std::io::stdout(),
                crossterm::terminal::BeginSynchronizedUpdate
            );
            let started = Instant::now();
            let drawn = terminal.draw(|f| crate::ui::render(f, &state));
            stats.record(started.elapsed());
            let _ = crossterm::execute!(
                std::io::stdout(),
                crossterm::terminal::EndSynchronizedUpdate
            );
            drawn?;
            state.dirty = false;
            last_frame = Instant::now();
        }
        let Some(first) = rx.recv().await else { break };
        let mut batch = vec![first];
        while let Ok(a) = rx.try_recv() {
            batch.push(a);
            if batch.len() >= 10_000 {
                break;
            }
        }
        for action in batch {
            if matches!(action, Action::Resize) {
                terminal.autoresize()?;
            }
            for effect in update(&mut state, action) {
                exec.execute(effect);
            }
        }
        if state.quit {
            break;
        }
    }
    exec.cancel_all();
    tracing::info!(
        frames = stats.frames,
        render_mean_us = (stats.total.as_micros() as u64)
            .checked_div(stats.frames)
            .unwrap_or(0),
        render_max_us = stats.max.as_micros() as u64,
        "wizard done"
    );
    Ok(state.health.snapshot.map(|s| s.status))
}

fn spawn_input(tx: UnboundedSender<Action>) {
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(ev) = events.next().await {
            let action = match ev {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => Action::Key(k),
                Ok(Event::Resize(..)) => Action::Resize,
                Ok(Event::Mouse(m)) => match m.kind {
                    crossterm::event::MouseEventKind::ScrollUp => Action::Wheel { up: true },
                    crossterm::event::MouseEventKind::ScrollDown => Action::Wheel { up: false },
                    _ => continue,
                },
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!("terminal input: {e}");
                    break;
                }
            };
            if tx.send(action).is_err() {
                break;
            }
        }
    });
}

/// SIGINT asks like `q`; SIGTERM and SIGHUP (a dropped SSH session) cancel and leave, so the
/// terminal guard restores the terminal.
fn spawn_signals(tx: UnboundedSender<Action>) {
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [
        (SignalKind::interrupt(), Action::Quit),
        (SignalKind::terminate(), Action::Terminate),
        (SignalKind::hangup(), Action::Terminate),
    ];
    for (kind, action) in kinds {
        let Ok(mut sig) = signal(kind) else { continue };
        let tx = tx.clone();
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                if tx.send(action.clone()).is_err() {
                    break;
                }
            }
        });
    }
}

fn spawn_ticker(tx: UnboundedSender<Action>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.tick().await;
        loop {
            every.tick().await;
            if tx.send(Action::Tick(Duration::from_secs(1))).is_err() {
                break;
            }
        }
    });
}

/// Carries out effects; results come back as actions.
pub struct Executor {
    tx: UnboundedSender<Action>,
    check: Option<Cancel>,
    real: Option<Cancel>,
    health: Option<HealthTask>,
    pub health_source: Option<HealthSource>,
    pub health_retention: Duration,
}

/// The health pipeline (source, sampler, snapshots) running for the Health step.
struct HealthTask {
    interval: tokio::sync::watch::Sender<Duration>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HealthTask {
    fn drop(&mut self) {
        // Dropping the pipeline drops its sampler, which stops every probe.
        self.task.abort();
    }
}

/// Finds what to probe, then samples it and turns the samples into snapshots until aborted.
async fn health_pipeline(
    explicit: Option<HealthSource>,
    deployment: Option<DeploymentRef>,
    hosts: Vec<crate::health::host::HostTarget>,
    mut interval: tokio::sync::watch::Receiver<Duration>,
    retention: Duration,
    tx: UnboundedSender<Action>,
) {
    use crate::health::dashboard::Snapshot;
    use crate::health::host::HostStore;
    use crate::health::store::{SampleStore, Sampler};
    let source = match explicit {
        Some(s) => Ok(s),
        None => health_source(deployment).await,
    };
    // Without database settings the hosts are still watched; the reason is shown above them.
    let source = match source {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Action::HealthFailed(e));
            if hosts.is_empty() {
                return;
            }
            HealthSource {
                targets: Vec::new(),
                cfg: crate::health::ProbeConfig::default(),
                api_url: api_url_from_env(),
            }
        }
    };
    let store = Arc::new(std::sync::Mutex::new(SampleStore::new(retention)));
    let host_store = Arc::new(std::sync::Mutex::new(HostStore::default()));
    let timeout = source.cfg.timeout;
    let backend = Arc::new(std::sync::Mutex::new(None));
    let every = *interval.borrow_and_update();
    let mut sampler = Sampler::spawn(source.targets, source.cfg, every, store.clone());
    if let Some(url) = source.api_url {
        sampler.add_api(url, timeout, backend.clone());
    }
    sampler.add_hosts(
        hosts,
        crate::engine::connect::ConnectOptions {
            accept_new_host_keys: false,
            connect_timeout: timeout,
        },
        timeout,
        host_store.clone(),
    );
    let mut updates = sampler.updates.clone();
    // Pending rows show at once; then one snapshot per burst of samples.
    loop {
        let snap = match (store.lock(), host_store.lock(), backend.lock()) {
            (Ok(mut st), Ok(hosts), Ok(api)) => {
                st.prune(chrono::Utc::now());
                Snapshot::from_store(&st, Some(&hosts), api.as_ref())
            }
            _ => break,
        };
        if tx.send(Action::HealthSnapshot(Box::new(snap))).is_err() {
            break;
        }
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                updates.borrow_and_update();
            }
            changed = interval.changed() => {
                if changed.is_err() {
                    break;
                }
                sampler.set_interval(*interval.borrow_and_update());
            }
        }
    }
}

impl Executor {
    pub fn new(tx: UnboundedSender<Action>) -> Self {
        Self {
            tx,
            check: None,
            real: None,
            health: None,
            health_source: None,
            health_retention: Duration::from_secs(600),
        }
    }

    /// The cancel handle of the run of this kind.
    fn run_mut(&mut self, kind: RunKind) -> &mut Option<Cancel> {
        match kind {
            RunKind::Check => &mut self.check,
            RunKind::Real => &mut self.real,
        }
    }

    fn start_health(
        &mut self,
        interval: Duration,
        hosts: Vec<crate::health::host::HostTarget>,
        deployment: Option<DeploymentRef>,
    ) {
        let (interval_tx, interval_rx) = tokio::sync::watch::channel(interval);
        let task = tokio::spawn(health_pipeline(
            self.health_source.clone(),
            deployment,
            hosts,
            interval_rx,
            self.health_retention,
            self.tx.clone(),
        ));
        self.health = Some(HealthTask {
            interval: interval_tx,
            task,
        });
    }

    pub fn execute(&mut self, effect: Effect) {
        tracing::debug!(effect = effect.label(), "effect");
        match effect {
            Effect::StartRun(kind, request) => {
                let cancel = Cancel::default();
                if let Some(old) = self.run_mut(kind).replace(cancel.clone()) {
                    old.cancel();
                }
                tokio::spawn(start_run(kind, *request, None, cancel, self.tx.clone()));
            }
            Effect::StartRunWithSecrets(request, action) => {
                let cancel = Cancel::default();
                if let Some(old) = self.real.replace(cancel.clone()) {
                    old.cancel();
                }
                tokio::spawn(start_run(
                    RunKind::Real,
                    *request,
                    Some(action),
                    cancel,
                    self.tx.clone(),
                ));
            }
            Effect::Kill(kind) => {
                if let Some(c) = self.run_mut(kind) {
                    c.kill();
                }
            }
            Effect::Cancel(kind) => {
                if let Some(c) = self.run_mut(kind) {
                    c.cancel();
                }
            }
            Effect::SaveSession(session) => save_session(&session),
            Effect::SaveInventory { source, to, edits } => {
                let result = save_inventory(&source, &to, &edits).map(Box::new);
                let _ = self.tx.send(Action::InventorySaved(result));
            }
            Effect::TestConnection {
                host,
                vars,
                trust_new_key,
                approved,
            } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let approved = if trust_new_key { approved } else { None };
                    let action = match test_connection(&host, vars, approved).await {
                        Err(crate::transport::TransportError::HostKeyUnknown {
                            host: key_host,
                            fingerprint,
                        }) => Action::HostKeyUnknown {
                            host,
                            fingerprint,
                            // The transport names a jump host's key "NAME (ProxyJump host)".
                            jump_host: key_host
                                .strip_suffix(crate::transport::ssh::JUMP_HOST_SUFFIX)
                                .map(str::to_string),
                        },
                        result => Action::Tested {
                            host,
                            result: result.map_err(|e| e.to_string()),
                        },
                    };
                    let _ = tx.send(action);
                });
            }
            Effect::StartHealth {
                interval,
                hosts,
                deployment,
            } => self.start_health(interval, hosts, deployment),
            Effect::StopHealth => self.health = None,
            Effect::SetHealthInterval(every) => {
                if let Some(h) = &self.health {
                    let _ = h.interval.send(every);
                }
            }
            Effect::ApplyMigrations {
                from_health,
                deployment,
                databases,
                journal,
            } => {
                tokio::spawn(apply_migrations(
                    from_health,
                    self.health_source.clone(),
                    deployment,
                    databases,
                    journal,
                    self.tx.clone(),
                ));
            }
            Effect::Quit => {}
        }
    }

    fn cancel_all(&self) {
        for c in [&self.check, &self.real].into_iter().flatten() {
            c.cancel();
        }
    }
}

/// Prepares (survey answers, stored or generated secrets), plans and runs one request,
/// forwarding its events; a real run is journaled.
async fn start_run(
    kind: RunKind,
    mut request: engine::RunRequest,
    secrets_action: Option<SecretsAction>,
    cancel: Cancel,
    tx: UnboundedSender<Action>,
) {
    let fail = |msg: String| {
        let _ = tx.send(Action::RunFailed(kind, msg));
    };
    // One real run per deployment at a time, whoever starts it (the dry run takes no lock);
    // taken before the survey stores generated secrets.
    let mut run_lock = None;
    if kind == RunKind::Real {
        let (pb, inv) = (request.playbook.clone(), request.inventory.clone());
        match tokio::task::spawn_blocking(move || {
            crate::lock::acquire("wizard", &pb, inv.as_deref())
        })
        .await
        {
            Ok(Ok(l)) => run_lock = Some(l),
            Ok(Err(e)) => return fail(e.to_string()),
            Err(e) => return fail(format!("cannot lock the deployment: {e}")),
        }
    }
    // The dry run (request.check) stores nothing; a real run refuses a new password for a role
    // that exists already unless the operator said to replace it.
    let rotate = (secrets_action == Some(SecretsAction::Rotate)).then_some(&[][..]);
    let opts = PrepareOptions { generate: true };
    let (secrets, rotation) =
        match prepare::apply_survey(&mut request, opts, rotate, secrets_action.is_none()).await {
            Ok(Some(applied)) => (applied.secrets, applied.rotation),
            Ok(None) => (Vec::new(), None),
            Err(PrepareError::RoleExists(e)) if kind == RunKind::Real => {
                let _ = tx.send(Action::RolesExist(e.to_string()));
                return;
            }
            Err(e) => return fail(e.to_string()),
        };
    let rotated = rotation.map(|r| (request.clone(), r));
    let playbook = request.playbook.clone();
    let connect = engine::connect::ConnectOptions {
        accept_new_host_keys: request.accept_new_host_keys,
        connect_timeout: request.connect_timeout,
    };
    // The engine: native when chosen or when `auto` finds the native plan passes; else ansible
    // with the native refusal as the reason (shown on Review).
    use crate::config::Engine;
    let choice = request.engine;
    let planned = if choice == Engine::Ansible {
        None
    } else {
        let req = request.clone();
        match tokio::task::spawn_blocking(move || engine::plan(req)).await {
            Ok(p) => Some(p),
            Err(e) => return fail(format!("planning stopped: {e}")),
        }
    };
    let (etx, erx) = unbounded_channel();
    let engine_action = |name: &str, reason: Option<String>| {
        let _ = tx.send(Action::Engine {
            kind,
            name: name.into(),
            reason,
        });
    };
    let handle: tokio::task::JoinHandle<Result<engine::RunSummary, String>> = match planned {
        Some(Ok(plan)) => {
            let plan = Arc::new(plan);
            for s in &secrets {
                plan.redactor.add(s.expose());
            }
            engine_action("native", None);
            tokio::spawn(async move {
                Ok(engine::run::run(plan, engine::connect::connector(connect), etx, cancel).await)
            })
        }
        Some(Err(e)) if choice == Engine::Native => return fail(e.to_string()),
        refused => {
            let reason = refused.and_then(|r| r.err()).map(|e| e.to_string());
            let configured = crate::config::load().ok().and_then(|c| c.ansible_playbook);
            let path = match engine::ansible::find_ansible_playbook(configured.as_deref()) {
                Ok(p) => p,
                Err(hint) => {
                    return fail(match reason {
                        Some(r) => {
                            format!("{r} — the native engine cannot run this playbook; {hint}")
                        }
                        None => hint,
                    });
                }
            };
            // ansible's ssh checks host keys strictly: a key seen for the first time goes
            // through the trust dialog first, as a connection test does.
            if let Some((host, fingerprint, jump_host)) = unknown_host_key(&request).await {
                let _ = tx.send(Action::HostKeyUnknown {
                    host: host.clone(),
                    fingerprint,
                    jump_host,
                });
                return fail(format!(
                    "the host key of {host} is not known yet: trust it, then check again (r)"
                ));
            }
            engine_action("ansible", reason);
            let opts = engine::ansible::AnsibleOptions {
                ansible_playbook: path,
                secrets,
            };
            tokio::spawn(async move {
                engine::ansible::run(request, opts, etx, cancel)
                    .await
                    .map_err(|e| e.to_string())
            })
        }
    };
    let journal = match kind {
        RunKind::Real => Journal::create(&playbook)
            .map_err(|e| tracing::warn!("journal disabled: {e}"))
            .ok(),
        RunKind::Check => None,
    };
    if let (Some(l), Some(j)) = (run_lock.as_mut(), journal.as_ref()) {
        l.set_journal(&j.path);
    }
    let (journal_path, stats) = forward(kind, erx, journal, &tx).await;
    // `Stats` is the run's last event: the end is reported from it at once, and the engine task
    // is awaited in the background (a slow close of connections does not hold the screen).
    let summary = match stats {
        Some(s) => {
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(60), handle).await {
                    Ok(_) => tracing::debug!(?kind, "engine task ended"),
                    Err(_) => tracing::warn!(?kind, "engine task still running 60 s after Stats"),
                }
                // Held until the engine let go of the hosts.
                drop(run_lock);
            });
            s
        }
        None => match handle.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return fail(e),
            Err(e) => return fail(format!("the run stopped unexpectedly: {e}")),
        },
    };
    // A rotation is kept only when every host took the new passwords.
    if let Some((request, rotation)) = rotated {
        let clean = !summary.cancelled
            && summary
                .hosts
                .values()
                .all(|c| c.failed == 0 && c.unreachable == 0);
        let warning = if !clean {
            Some(format!(
                "rotation not finished: the new passwords stay pending in {} (the next rotation reuses them)",
                rotation.pending_path.display()
            ))
        } else {
            prepare::finish_rotation(&request, &rotation)
                .err()
                .map(|e| format!("rotation: the run succeeded but the store was not updated: {e}"))
        };
        // The journal of the rotation's run says whether the new passwords were kept.
        if let Some(path) = &journal_path {
            let event = serde_json::json!({
                "event": "rotation",
                "variables": rotation.variables,
                "result": if warning.is_none() { "stored" } else { "pending" },
                "time": chrono::Utc::now().to_rfc3339(),
            });
            append_journal(path, &[event.to_string()]);
        }
        if let Some(msg) = warning {
            let _ = tx.send(Action::Run(kind, engine::RunEvent::Warning { msg }));
        }
    }
    let _ = tx.send(Action::RunDone {
        kind,
        summary,
        journal: journal_path,
    });
}

/// The first host of the request (after `--limit`) whose SSH host key is not in known_hosts yet,
/// with the key's fingerprint; none when new keys are accepted anyway.
async fn unknown_host_key(
    request: &engine::RunRequest,
) -> Option<(String, String, Option<String>)> {
    if request.accept_new_host_keys {
        return None;
    }
    let vault = engine::plan::make_vault_fn(request.vault_password.clone(), Redactor::default());
    let inv = Inventory::load(request.inventory.as_ref()?, &vault).ok()?;
    let hosts = match &request.limit {
        Some(l) => inv.select(l).ok()?,
        None => inv.hosts.keys().cloned().collect(),
    };
    let connect = engine::connect::connector(engine::connect::ConnectOptions {
        accept_new_host_keys: false,
        connect_timeout: request.connect_timeout,
    });
    let checks = hosts.into_iter().map(|h| {
        let vars = inv.host_vars(&h);
        let connect = connect.clone();
        async move {
            let r = connect(h.clone(), vars).await;
            (h, r)
        }
    });
    let mut unknown = None;
    for (host, r) in futures::future::join_all(checks).await {
        match r {
            Ok(t) => t.close().await,
            Err(crate::transport::TransportError::HostKeyUnknown {
                host: key_host,
                fingerprint,
            }) => {
                // The transport names a jump host's key "NAME (ProxyJump host)".
                let jump = key_host
                    .strip_suffix(crate::transport::ssh::JUMP_HOST_SUFFIX)
                    .map(str::to_string);
                unknown.get_or_insert((host, fingerprint, jump));
            }
            // Other failures show in ansible's own run (unreachable).
            Err(_) => {}
        }
    }
    unknown
}

/// Connects as a run would and asks the host for what it runs. A new host key is recorded only
/// when the operator approved it, and only that very key, for the host it was shown as (the
/// target or its ProxyJump host): a different key on this connection is refused, nothing
/// recorded.
pub async fn test_connection(
    host: &str,
    vars: serde_json::Map<String, serde_json::Value>,
    approved: Option<crate::app::effects::ApprovedKey>,
) -> Result<String, crate::transport::TransportError> {
    use crate::transport::ssh::{SshTransport, StrictHostKeyChecking};
    use crate::transport::{ExecRequest, Transport, TransportError, exec};
    let opts = engine::connect::ConnectOptions {
        accept_new_host_keys: false,
        connect_timeout: Duration::from_secs(10),
    };
    let t: Arc<dyn Transport> = match approved {
        None => engine::connect::connector(opts)(host.to_string(), vars).await?,
        Some(approved) => {
            // Only SSH asks about host keys.
            let mut params = engine::connect::ssh_params(host, &vars, &opts)
                .map_err(|reason| TransportError::Unreachable { reason })?;
            let hop = match (&approved.jump_host, params.proxy_jump.as_deref_mut()) {
                (Some(_), Some(jump)) => jump,
                (Some(j), None) => {
                    return Err(TransportError::Other(format!(
                        "the key approved was ProxyJump host {j}'s, but {host} is no longer \
                         reached through a jump host; nothing recorded, test again"
                    )));
                }
                (None, _) => &mut params,
            };
            if hop.strict == StrictHostKeyChecking::Yes {
                hop.strict = StrictHostKeyChecking::AcceptNew;
            }
            hop.approved_host_key = Some(approved.fingerprint);
            Arc::new(SshTransport::connect(params).await?)
        }
    };
    let script = "uname -sr; if command -v psql >/dev/null 2>&1; then psql --version; \
                  else echo 'PostgreSQL client not installed'; fi";
    let out = exec(
        t.as_ref(),
        ExecRequest {
            script,
            stdin: None,
            stdin_file: None,
            escalation: None,
            timeout: Some(Duration::from_secs(15)),
        },
        &mut |_, _| {},
    )
    .await;
    t.close().await;
    let out = out?;
    if out.rc != 0 {
        return Err(TransportError::Other(format!(
            "rc={}: {}",
            out.rc,
            out.stderr.trim()
        )));
    }
    Ok(out.stdout.lines().collect::<Vec<_>>().join(" · "))
}

fn session_path() -> PathBuf {
    crate::paths::session_file()
}

/// The last session, if one was saved and is readable.
pub fn load_session() -> Option<Session> {
    let text = std::fs::read_to_string(session_path()).ok()?;
    serde_json::from_str(&text)
        .map_err(|e| tracing::warn!("ignoring {}: {e}", session_path().display()))
        .ok()
}

fn save_session(session: &Session) {
    let path = session_path();
    let result = serde_json::to_vec_pretty(session)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::fsutil::write_atomic(&path, &bytes, 0o600)
        });
    if let Err(e) = result {
        tracing::warn!("cannot save the session to {}: {e}", path.display());
    }
}

/// Applies the Hosts step's edits to `source` and writes `to`: checked by reading it back as an
/// inventory before it replaces anything, the old `to` kept as `to.bak-TIMESTAMP`, written
/// through a temporary file and a rename so a crash never leaves half a file.
fn save_inventory(
    source: &Path,
    to: &Path,
    edits: &[crate::inventory::edit::Edit],
) -> Result<crate::app::state::SavedInventory, String> {
    let text = std::fs::read_to_string(source)
        .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", source.display()))?;
    crate::inventory::edit::apply(&mut doc, edits)?;
    let out = serde_yaml::to_string(&doc).map_err(|e| e.to_string())?;
    let dir = to
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = to
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("inventory.yml");
    // Written beside the destination with the destination's mode (an inventory holding
    // passwords stays 0600), checked, then renamed into place.
    let mode = crate::fsutil::mode_of_or(to, crate::fsutil::mode_of_or(source, 0o600));
    let pending = crate::fsutil::PendingFile::write(to, out.as_bytes(), mode)
        .map_err(|e| format!("cannot write beside {}: {e}", to.display()))?;
    // Group and host variable files are looked up beside the inventory, so the check reads
    // the temporary file from the same directory.
    let vault = engine::plan::make_vault_fn(None, Redactor::default());
    let inv = Inventory::load(pending.path(), &vault)
        .map_err(|e| format!("the result would not be a valid inventory: {e}"))?;
    let backup = if to.exists() {
        let b = dir.join(format!(
            "{name}.bak-{}",
            chrono::Local::now().format("%Y%m%dT%H%M%S")
        ));
        std::fs::copy(to, &b).map_err(|e| format!("cannot keep a backup {}: {e}", b.display()))?;
        Some(b)
    } else {
        None
    };
    pending
        .commit()
        .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    Ok(crate::app::state::SavedInventory {
        view: HostsView::from_inventory(to, &inv),
        backup,
    })
}

/// The SLM backend's base URL from `SLM_API_URL`, to probe its health API too.
fn api_url_from_env() -> Option<String> {
    std::env::var("SLM_API_URL").ok().filter(|u| !u.is_empty())
}

/// What the Health step probes when the command line gave nothing: database URLs in the
/// environment; else the wizard's deployment (what its playbook wrote for the backend, through
/// the SLM server when that is remote); else `/etc/slm/database.env` on this machine.
async fn health_source(deployment: Option<DeploymentRef>) -> Result<HealthSource, String> {
    use crate::health::{ProbeConfig, command, deployment};
    let cfg = ProbeConfig::default();
    let env = crate::db::Settings::from_env();
    let from_deployment = match deployment {
        // Only a playbook that writes the backend's settings says where its databases are.
        Some(d) if !env.has_urls() && deployment::writes_backend_settings(&d.playbook) => {
            Some(command::deployment_targets(d, cfg.timeout).await)
        }
        _ => None,
    };
    let env_file = Path::new(crate::db::BACKEND_ENV_FILE);
    let targets = match from_deployment {
        Some(Ok(targets)) => targets,
        // Without a settings file the spec's defaults would only hide why.
        Some(Err(why)) if !env_file.exists() => {
            return Err(format!("the deployment's databases: {why}"));
        }
        fallback => {
            if let Some(Err(why)) = fallback {
                tracing::info!(
                    "using {}; the deployment's settings: {why}",
                    crate::db::BACKEND_ENV_FILE
                );
            }
            command::prepare("all", env_file.exists().then_some(env_file), None, env)?
        }
    };
    Ok(HealthSource {
        targets,
        cfg,
        api_url: api_url_from_env(),
    })
}

/// Applies the pending migrations of the deployment's databases (found as the Health step
/// finds them), reporting each database as it goes and adding the outcome to the run's journal.
async fn apply_migrations(
    from_health: bool,
    explicit: Option<HealthSource>,
    deployment: Option<DeploymentRef>,
    databases: Vec<String>,
    journal: Option<PathBuf>,
    tx: UnboundedSender<Action>,
) {
    use crate::app::state::MigrationState;
    use crate::health::migrate::{MigrateResult, migrate_targets};
    let source = match explicit {
        Some(s) => Ok(s),
        None => health_source(deployment).await,
    };
    let source = match source {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Action::MigrationsDone {
                from_health,
                result: Err(e),
            });
            return;
        }
    };
    let targets: Vec<_> = source
        .targets
        .into_iter()
        .filter(|t| databases.is_empty() || databases.iter().any(|d| d == t.key()))
        .collect();
    if targets.is_empty() {
        let _ = tx.send(Action::MigrationsDone {
            from_health,
            result: Err("no database to migrate".into()),
        });
        return;
    }
    for t in &targets {
        let _ = tx.send(Action::Migration {
            from_health,
            db: t.key().to_string(),
            state: MigrationState::Running,
        });
    }
    let mut lines = Vec::new();
    migrate_targets(&targets, source.cfg.timeout, &mut |o| {
        let (state, event) = match &o.result {
            MigrateResult::Applied(names) => (
                MigrationState::Applied(names.clone()),
                serde_json::json!({"result": "applied", "applied": names}),
            ),
            MigrateResult::AlreadyApplied(n) => (
                MigrationState::AlreadyApplied(*n),
                serde_json::json!({"result": "already_applied", "already": n}),
            ),
            MigrateResult::Failed(why) => (
                MigrationState::Failed(why.clone()),
                serde_json::json!({"result": "failed", "reason": why}),
            ),
        };
        let mut event = event;
        event["event"] = "migration".into();
        event["database"] = o.db.as_str().into();
        event["time"] = chrono::Utc::now().to_rfc3339().into();
        lines.push(event.to_string());
        let _ = tx.send(Action::Migration {
            from_health,
            db: o.db.as_str().to_string(),
            state,
        });
    })
    .await;
    for t in &targets {
        t.close().await;
    }
    if let Some(path) = journal {
        append_journal(&path, &lines);
    }
    let _ = tx.send(Action::MigrationsDone {
        from_health,
        result: Ok(()),
    });
}

/// Adds lines to a run's journal (0600, written by the engine); a journal that cannot be
/// written is logged, never fatal.
fn append_journal(path: &Path, lines: &[String]) {
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| {
            for l in lines {
                writeln!(f, "{l}")?;
            }
            f.sync_all()
        });
    if let Err(e) = written {
        tracing::warn!("journal {}: {e}", path.display());
    }
}

async fn forward(
    kind: RunKind,
    mut rx: UnboundedReceiver<engine::RunEvent>,
    mut journal: Option<Journal>,
    tx: &UnboundedSender<Action>,
) -> (Option<PathBuf>, Option<engine::RunSummary>) {
    let mut stats = None;
    while let Some(ev) = rx.recv().await {
        // What happened, never results or facts (logs are kept longer than a run's screen).
        tracing::debug!(?kind, event = %ev.summary(), "run event");
        if let Some(j) = journal.as_mut() {
            j.record(&ev);
        }
        if let engine::RunEvent::Stats { hosts, cancelled } = &ev {
            stats = Some(engine::RunSummary {
                hosts: hosts.clone(),
                cancelled: *cancelled,
            });
        }
        let _ = tx.send(Action::Run(kind, ev));
        if stats.is_some() {
            break;
        }
    }
    (journal.map(|j| j.path.clone()), stats)
}

/// The default inventory when `-i` is not given.
pub fn default_inventory() -> &'static Path {
    Path::new("playbooks/inventory/local.yml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::edit::Edit;

    #[test]
    fn saving_keeps_the_inventorys_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("secret-inv.yml");
        std::fs::write(
            &inv,
            "all:\n  hosts:\n    a: {ansible_host: 10.0.0.1, ansible_password: hunter22}\n",
        )
        .unwrap();
        std::fs::set_permissions(&inv, std::fs::Permissions::from_mode(0o600)).unwrap();
        let edit = Edit::Upsert {
            group: "redis_vm".into(),
            host: "b".into(),
            vars: vec![("ansible_host".into(), Some("10.0.0.2".into()))],
        };
        save_inventory(&inv, &inv, std::slice::from_ref(&edit)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&inv), 0o600, "a 0600 inventory stays 0600");
        // Save as: the new file gets the source's mode, not the umask's.
        let other = dir.path().join("copy.yml");
        save_inventory(&inv, &other, std::slice::from_ref(&edit)).unwrap();
        assert_eq!(mode(&other), 0o600);
    }

    #[test]
    fn saving_keeps_a_backup_and_never_writes_an_invalid_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inv.yml");
        let original = "all:\n  children:\n    slm_server:\n      hosts:\n        slm: {ansible_host: 10.0.0.1}\n";
        std::fs::write(&inv, original).unwrap();
        let add = Edit::Upsert {
            group: "redis_vm".into(),
            host: "redis".into(),
            vars: vec![("ansible_host".into(), Some("10.0.0.2".into()))],
        };
        let saved = save_inventory(&inv, &inv, std::slice::from_ref(&add)).unwrap();
        let backup = saved.backup.expect("a backup");
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
        assert_eq!(saved.view.host_names(), ["slm", "redis"]);
        let vault = engine::plan::make_vault_fn(None, Redactor::default());
        let back = Inventory::load(&inv, &vault).unwrap();
        assert_eq!(back.host_vars("redis")["ansible_host"], "10.0.0.2");

        // A result the inventory loader refuses (here a misspelt group key the file already
        // had) is not written, and the file stays as it was.
        let broken = dir.path().join("broken.yml");
        let text = "all:\n  hostz:\n    a:\n";
        std::fs::write(&broken, text).unwrap();
        let e = save_inventory(&broken, &broken, std::slice::from_ref(&add)).unwrap_err();
        assert!(e.contains("would not be a valid inventory"), "{e}");
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), text);
        // Save as: a new file, no backup, the source untouched.
        let other = dir.path().join("copy.yml");
        let saved = save_inventory(&inv, &other, &[Edit::Remove { host: "slm".into() }]).unwrap();
        assert!(saved.backup.is_none());
        assert_eq!(saved.view.host_names(), ["redis"]);
        assert!(std::fs::read_to_string(&inv).unwrap().contains("slm"));
        // No temporary files left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.contains("slm-wizard-") || n.contains(".tmp-")),
            "{names:?}"
        );
        // A missing source is an error, not a panic.
        assert!(save_inventory(&dir.path().join("none.yml"), &other, &[]).is_err());
    }
}
