//! The terminal side of the wizard: terminal guard (restored on exit, error, panic and Ctrl-C),
//! one action channel fed by the keyboard, a ticker and the effect executor, and a loop that
//! drains every pending action before it redraws — only when something changed, at most ~30 fps.

mod actions;
mod executor;
mod files;
pub mod follow;

pub use actions::{ActionReceiver, ActionSender, action_channel};
pub use executor::{Executor, test_connection};
pub use files::load_session;
use files::save_session;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;

use crate::app::action::RunKind;
use crate::app::effects::SecretsAction;
use crate::app::state::{HostsView, PlaybookEntry, Session};
use crate::app::{Action, Effect, State, update};
use crate::engine::output::Journal;
use crate::engine::{self, Cancel};
use crate::health::deployment::DeploymentRef;
use crate::health::source::HealthSource;
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
        .or_else(|| configured_inventory(&dirs[0]))
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

    let (tx, mut rx) = action_channel();
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
        while let Some(a) = rx.try_recv() {
            batch.push(a);
            if batch.len() >= 10_000 {
                break;
            }
        }
        for action in batch {
            if matches!(action, Action::Resize) {
                terminal.autoresize()?;
            }
            if let Action::Run(_, ev) = &action {
                exec.run_event_done(ev);
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

fn spawn_input(tx: ActionSender) {
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
            // Waits while the loop is behind: keys stay in the terminal, none is lost.
            if tx.input(action).await.is_err() {
                break;
            }
        }
    });
}

/// SIGINT asks like `q`; SIGTERM and SIGHUP (a dropped SSH session) cancel and leave, so the
/// terminal guard restores the terminal.
fn spawn_signals(tx: ActionSender) {
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
                if tx.input(action.clone()).await.is_err() {
                    break;
                }
            }
        });
    }
}

fn spawn_ticker(tx: ActionSender) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.tick().await;
        loop {
            every.tick().await;
            if tx.tick(Duration::from_secs(1)).is_err() {
                break;
            }
        }
    });
}

/// The Health step's monitor, running (or still finding its targets).
struct HealthTask {
    interval: tokio::sync::watch::Sender<Duration>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HealthTask {
    fn drop(&mut self) {
        // Dropping the task drops its monitor, which stops every probe.
        self.task.abort();
    }
}

/// Finds what the Health step watches, then forwards the monitor's snapshots as actions until
/// aborted.
async fn watch_health(
    explicit: Option<HealthSource>,
    deployment: Option<DeploymentRef>,
    hosts: Vec<crate::health::host::HostTarget>,
    mut interval: tokio::sync::watch::Receiver<Duration>,
    retention: Duration,
    tx: ActionSender,
) {
    use crate::health::monitor::{Monitor, MonitorOptions};
    let (source, failed) = crate::health::source::step_source(explicit, deployment).await;
    if let Some(e) = failed {
        let _ = tx.send(Action::HealthFailed(e));
        if hosts.is_empty() {
            return;
        }
    }
    let opts = MonitorOptions {
        interval: *interval.borrow_and_update(),
        retention,
        ..Default::default()
    };
    let monitor = Monitor::start(source, hosts, opts);
    let mut snapshots = monitor.snapshots();
    loop {
        tokio::select! {
            snap = snapshots.next() => {
                let Some(snap) = snap else { break };
                let snap = Box::new(Arc::unwrap_or_clone(snap));
                if tx.input(Action::HealthSnapshot(snap)).await.is_err() {
                    break;
                }
            }
            changed = interval.changed() => {
                if changed.is_err() {
                    break;
                }
                monitor.set_interval(*interval.borrow_and_update());
            }
        }
    }
}

/// The default inventory when `-i` is not given.
pub fn default_inventory() -> &'static Path {
    Path::new("playbooks/inventory/local.yml")
}

/// The inventory ansible's configuration names for playbooks of `playbook_dir` (ansible.cfg's
/// `inventory`, `ANSIBLE_INVENTORY`), when it is a file.
fn configured_inventory(playbook_dir: &Path) -> Option<std::path::PathBuf> {
    let file = crate::playbook::ansible_cfg::find(playbook_dir);
    crate::playbook::ansible_cfg::load(file.as_deref())
        .ok()?
        .inventory
        .filter(|p| p.is_file())
}
