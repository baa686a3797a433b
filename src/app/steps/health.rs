//! Step 6, Health: the live dashboard of the deployment's databases and hosts, with repair
//! (a limited re-run through Review) and migrations (`m`).

use std::time::Duration;

use super::execute::migration_text;
use super::playbook::choose_playbook;
use super::review::enter_review;
use crate::app::effects::Effect;
use crate::app::keymap::Intent;
use crate::app::state::{Dialog, MigrationState, Phase, State, Step};
use crate::app::update::quit;

/// The Health step: the live dashboard fed by a background sampler while the step is shown.
#[derive(Debug, Clone)]
pub struct HealthView {
    /// Running while the sampler is on.
    pub phase: Phase,
    pub snapshot: Option<Box<crate::health::dashboard::Snapshot>>,
    /// Why the probes could not start.
    pub error: Option<String>,
    pub selected: usize,
    pub detail: bool,
    pub interval: Duration,
    pub retention: Duration,
    /// Opened as `health --watch`: Esc leaves instead of walking into an empty wizard.
    pub standalone: bool,
    /// `m`: the database and its pending migrations, waiting for a confirmation.
    pub migrate_prompt: Option<(String, Vec<String>)>,
    /// A migration started with `m` is going.
    pub migrating: bool,
}

impl HealthView {
    pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
    pub const MAX_INTERVAL: Duration = Duration::from_secs(300);
}

impl Default for HealthView {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            snapshot: None,
            error: None,
            selected: 0,
            detail: false,
            interval: Duration::from_secs(5),
            retention: Duration::from_secs(600),
            standalone: false,
            migrate_prompt: None,
            migrating: false,
        }
    }
}

/// Goes to Health and starts the live probes (they stop when the step is left).
pub fn enter_health(state: &mut State) -> Vec<Effect> {
    state.step = Step::Health;
    if state.health.phase == Phase::Running {
        return Vec::new();
    }
    state.health.phase = Phase::Running;
    state.health.error = None;
    vec![Effect::StartHealth {
        interval: state.health.interval,
        hosts: state.hosts.database_hosts(),
        deployment: deployment_ref(state),
    }]
}

/// The wizard's deployment (its playbook, inventory and answers), as Health and the
/// migrations find its databases.
pub(crate) fn deployment_ref(state: &State) -> Option<crate::health::deployment::DeploymentRef> {
    state.request(false).and_then(|r| {
        Some(crate::health::deployment::DeploymentRef {
            playbook: r.playbook,
            inventory: r.inventory?,
            answers: r.extra_values,
            ..Default::default()
        })
    })
}

/// `m`: apply the selected database's pending migrations, after a confirmation that lists them.
fn ask_migrate(state: &mut State) -> Vec<Effect> {
    let row = state
        .health
        .snapshot
        .as_ref()
        .and_then(|s| s.rows.get(state.health.selected));
    let Some(row) = row else {
        state.message = Some("select a database first".into());
        return Vec::new();
    };
    let Some(info) = row.migrations.as_ref() else {
        state.message = Some(format!("{}: migrations not known yet", row.key));
        return Vec::new();
    };
    if info.pending == 0 {
        state.message = Some(format!("{}: no pending migrations", row.key));
        return Vec::new();
    }
    if state.health.migrating || state.exec.migrations.phase == Some(Phase::Running) {
        state.message = Some("migrations are being applied; wait for them".into());
        return Vec::new();
    }
    state.health.migrate_prompt = Some((row.key.clone(), info.pending_names.clone()));
    state.dialog = Some(Dialog::ConfirmMigrate);
    Vec::new()
}

/// Leaves Health for `step`, stopping the probes.
pub(crate) fn leave_health(state: &mut State, step: Step) -> Vec<Effect> {
    state.step = step;
    state.health.phase = Phase::Idle;
    vec![Effect::StopHealth]
}

pub(crate) fn health_key(state: &mut State, intent: Option<Intent>) -> Vec<Effect> {
    let h = &mut state.health;
    let rows = h
        .snapshot
        .as_ref()
        .map_or(0, |s| s.rows.len() + s.hosts.len());
    match intent {
        Some(Intent::Back) if h.detail => h.detail = false,
        // Opened as `health --watch`, there is no wizard behind the dashboard to go back to.
        Some(Intent::Back) if h.standalone => return quit(state),
        Some(Intent::Back) => return leave_health(state, Step::Execute),
        Some(Intent::Detail) => h.detail = !h.detail,
        Some(i @ (Intent::Slower | Intent::Faster)) => {
            let next = if i == Intent::Slower {
                h.interval.saturating_mul(2)
            } else {
                h.interval / 2
            };
            h.interval = next.clamp(HealthView::MIN_INTERVAL, HealthView::MAX_INTERVAL);
            state.message = Some(format!(
                "probing every {}",
                crate::ui::widgets::human_secs(state.health.interval)
            ));
            return vec![Effect::SetHealthInterval(state.health.interval)];
        }
        Some(Intent::Repair) => return repair(state),
        Some(Intent::Migrate) => return ask_migrate(state),
        Some(Intent::Top) => h.selected = 0,
        Some(Intent::Bottom) => h.selected = rows.saturating_sub(1),
        Some(Intent::Up) => h.selected = h.selected.saturating_sub(1),
        Some(Intent::Down) => h.selected = (h.selected + 1).min(rows.saturating_sub(1)),
        _ => state.dirty = false,
    }
    Vec::new()
}

/// The inventory hosts that serve a database: the spec's group for it (`slm_server` for `slm`
/// and `slm_users`, `redis_vm` for `autobot_users`), narrowed to the host whose address is the
/// database server's when the group has several.
pub fn hosts_serving(state: &State, db: &str, server: &str) -> Vec<String> {
    let group = if db == "autobot_users" {
        "redis_vm"
    } else {
        "slm_server"
    };
    let Some((_, hosts)) = state.hosts.groups.iter().find(|(g, _)| g == group) else {
        return Vec::new();
    };
    if hosts.len() <= 1 {
        return hosts.iter().map(|h| h.name.clone()).collect();
    }
    let addr = server
        .split(" via ")
        .next()
        .unwrap_or(server)
        .rsplit_once(':')
        .map_or(server, |(h, _)| h)
        .trim_matches(['[', ']']);
    let matching: Vec<String> = hosts
        .iter()
        .filter(|h| h.address == addr || h.name == addr)
        .map(|h| h.name.clone())
        .collect();
    if matching.is_empty() {
        hosts.iter().map(|h| h.name.clone()).collect()
    } else {
        matching
    }
}

/// `r`: re-run the playbook on the selected database's host only, through Review (dry run
/// first, then the usual confirmation).
fn repair(state: &mut State) -> Vec<Effect> {
    let Some(snap) = state.health.snapshot.as_ref() else {
        state.message = Some("nothing probed yet".into());
        return Vec::new();
    };
    let sel = state.health.selected;
    // What is repaired, its state, and the hosts to run on.
    let (what, status, hosts) = if let Some(row) = snap.rows.get(sel) {
        let hosts = hosts_serving(state, &row.key, &row.server);
        (row.key.clone(), row.status, hosts)
    } else if let Some(h) = snap.hosts.get(sel - snap.rows.len()) {
        (h.host.clone(), h.status, vec![h.host.clone()])
    } else {
        state.message = Some("nothing selected".into());
        return Vec::new();
    };
    if status == Some(crate::health::Status::Healthy) {
        state.message = Some(format!("{what} is healthy: nothing to repair"));
        return Vec::new();
    }
    // Pending migrations are not the playbook's to fix: a re-run would change nothing.
    if let Some(row) = snap.rows.get(sel)
        && status == Some(crate::health::Status::Degraded)
        && row.migrations.as_ref().is_some_and(|m| m.pending > 0)
        && row
            .reason
            .split("; ")
            .all(|r| r.contains("pending migration"))
    {
        state.message = Some(format!(
            "{what}: only migrations are pending, which a re-run does not apply; m applies them"
        ));
        return Vec::new();
    }
    if state.chosen.is_none() {
        // Opened as `health --watch`: the databases come from the user-management playbook.
        let Some(i) = state.playbooks.iter().position(|p| {
            p.path
                .file_name()
                .is_some_and(|n| n == crate::health::deployment::PLAYBOOK)
        }) else {
            state.message = Some("choose the playbook to repair with first (step 1)".into());
            return Vec::new();
        };
        state.selected = i;
        choose_playbook(state);
        if state.chosen.is_none() {
            return Vec::new();
        }
    }
    if hosts.is_empty() {
        state.message = Some(format!(
            "no inventory host serves {what} (groups slm_server / redis_vm in {})",
            state.hosts.path.display()
        ));
        return Vec::new();
    }
    state.limit = Some(hosts.join(","));
    let mut fx = leave_health(state, Step::Review);
    fx.extend(enter_review(state));
    fx
}

/// New samples for the dashboard.
pub(crate) fn on_snapshot(state: &mut State, snap: Box<crate::health::dashboard::Snapshot>) {
    let rows = snap.rows.len() + snap.hosts.len();
    state.health.selected = state.health.selected.min(rows.saturating_sub(1));
    state.health.snapshot = Some(snap);
    // Samples only matter while the dashboard is visible.
    state.dirty = state.step == Step::Health;
}

/// The probes could not start.
pub(crate) fn on_failed(state: &mut State, e: String) {
    state.health.phase = Phase::Failed;
    state.health.error = Some(e);
}

/// One database's migrations started with `m`: said on the status line.
pub(crate) fn on_migration(state: &mut State, db: String, m: MigrationState) {
    if let MigrationState::Running = m {
        state.message = Some(format!("{db}: applying migrations…"));
    } else {
        state.message = Some(migration_text(&db, &m));
    }
}

/// The migrations started with `m` ended.
pub(crate) fn on_migrations_done(state: &mut State, result: Result<(), String>) {
    state.health.migrating = false;
    if let Err(e) = result {
        state.message = Some(format!("migrations not applied: {e}"));
    }
}

/// `m` was confirmed: apply the listed migrations.
pub(crate) fn confirm_migrate(state: &mut State) -> Vec<Effect> {
    let Some((db, _)) = state.health.migrate_prompt.take() else {
        return Vec::new();
    };
    state.health.migrating = true;
    state.message = Some(format!("{db}: applying migrations…"));
    vec![Effect::ApplyMigrations {
        from_health: true,
        deployment: deployment_ref(state),
        databases: vec![db],
        journal: None,
    }]
}
