//! Step 4, Review: the check-mode dry run per host, then the confirmation of the real run.

use std::collections::HashMap;

use super::bump;
use super::execute::start_real_run_with;
use super::health::enter_health;
use crate::app::action::RunKind;
use crate::app::effects::{Effect, SecretsAction};
use crate::app::host_nav;
use crate::app::keymap::Intent;
use crate::app::state::{Dialog, Phase, State, Step};
use crate::engine::events::Counts;
use crate::engine::{RunEvent, RunSummary, Status};

/// A task the dry run says would change (or failed).
#[derive(Debug, Clone)]
pub struct CheckItem {
    pub task: String,
    pub status: Status,
    pub msg: Option<String>,
    /// Unified-diff-like lines.
    pub diff: Vec<String>,
}

/// The Review step's dry run.
#[derive(Debug, Clone)]
pub struct Review {
    pub phase: Phase,
    pub hosts: Vec<String>,
    pub per_host: HashMap<String, Vec<CheckItem>>,
    pub counts: HashMap<String, Counts>,
    pub selected_host: usize,
    pub scroll: u16,
    pub error: Option<String>,
    /// The engine of the dry run (`ansible`/`native`) and why not native, once known.
    pub engine: Option<(String, Option<String>)>,
}

/// A failure of the dry run, as the confirm dialog lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunFailure {
    pub host: String,
    pub task: String,
    pub reason: String,
    /// An earlier task on the same host that check mode could not apply (it would change): the
    /// failure may only follow from it (e.g. a service of a package not installed yet).
    pub after_unapplied: Option<String>,
}

impl Review {
    /// What failed in the dry run, per host in order; the dry run that could not start at all
    /// is one failure without a host.
    pub fn failures(&self) -> Vec<DryRunFailure> {
        let mut out = Vec::new();
        if self.phase == Phase::Failed {
            out.push(DryRunFailure {
                host: String::new(),
                task: "(dry run)".into(),
                reason: self.error.clone().unwrap_or_default(),
                after_unapplied: None,
            });
        }
        for host in &self.hosts {
            let mut first_change: Option<&str> = None;
            for it in self
                .per_host
                .get(host)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                match it.status {
                    Status::Changed => {
                        first_change.get_or_insert(it.task.as_str());
                    }
                    Status::Failed | Status::Unreachable => out.push(DryRunFailure {
                        host: host.clone(),
                        task: it.task.clone(),
                        reason: it.msg.clone().unwrap_or_default(),
                        after_unapplied: first_change
                            .filter(|_| it.status == Status::Failed)
                            .map(str::to_string),
                    }),
                    _ => {}
                }
            }
        }
        out
    }
}

impl Default for Review {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            hosts: Vec::new(),
            per_host: HashMap::new(),
            counts: HashMap::new(),
            selected_host: 0,
            scroll: 0,
            error: None,
            engine: None,
        }
    }
}

/// Goes to Review and starts the check-mode dry run.
pub fn enter_review(state: &mut State) -> Vec<Effect> {
    if state.hosts.error.is_some() {
        state.message = Some("the inventory could not be read; fix it first".into());
        return Vec::new();
    }
    let Some(req) = state.request(true) else {
        state.message = Some("choose a playbook first".into());
        return Vec::new();
    };
    state.step = Step::Review;
    state.review = Review {
        phase: Phase::Running,
        ..Default::default()
    };
    vec![Effect::StartRun(RunKind::Check, Box::new(req))]
}

pub(crate) fn review_key(state: &mut State, intent: Option<Intent>) -> Vec<Effect> {
    let r = &mut state.review;
    match intent {
        Some(Intent::Back) => {
            let mut fx = Vec::new();
            if r.phase == Phase::Running {
                fx.push(Effect::Cancel(RunKind::Check));
            }
            if state.limit.is_some() {
                // A repair came from Health: back there, with the whole deployment again.
                state.limit = None;
                fx.extend(enter_health(state));
            } else {
                state.step = Step::Hosts;
            }
            return fx;
        }
        Some(Intent::Run) => {
            if r.phase == Phase::Running {
                state.message = Some("the dry run is still going; wait for it".into());
            } else if r.failures().is_empty() {
                state.dialog = Some(Dialog::ConfirmRun);
            } else {
                state.dialog = Some(Dialog::ConfirmRunAnyway);
            }
        }
        Some(Intent::Recheck) if r.phase != Phase::Running => return enter_review(state),
        Some(Intent::SwitchEngine) => {
            // Another engine: the dry run starts again with it.
            let mut fx = Vec::new();
            if r.phase == Phase::Running {
                fx.push(Effect::Cancel(RunKind::Check));
            }
            state.engine = state.engine.next();
            state.message = Some(format!("engine: {}", state.engine.name()));
            fx.extend(enter_review(state));
            return fx;
        }
        Some(Intent::Rotate) if r.phase != Phase::Running => {
            // New passwords go to every host of the deployment (they are stored for all of
            // them), and only after a clean dry run.
            if state.limit.is_some() {
                state.message = Some(
                    "rotation runs on the whole deployment: leave the repair (Esc) first".into(),
                );
            } else if !r.failures().is_empty() {
                state.message = Some(
                    "the dry run failed: rotate after a clean dry run (r checks again)".into(),
                );
            } else {
                state.dialog = Some(Dialog::ConfirmRotate);
            }
        }
        Some(i @ (Intent::PrevHost | Intent::NextHost)) => {
            host_nav::key(i, r.hosts.len(), &mut r.selected_host, &mut r.scroll);
        }
        Some(Intent::PageUp) => r.scroll = r.scroll.saturating_sub(10),
        Some(Intent::PageDown) => r.scroll = r.scroll.saturating_add(10),
        Some(Intent::Up) => r.scroll = r.scroll.saturating_sub(1),
        Some(Intent::Down) => r.scroll = r.scroll.saturating_add(1),
        _ => state.dirty = false,
    }
    Vec::new()
}

fn diff_lines(d: &crate::engine::modules::Diff) -> Vec<String> {
    crate::engine::diff::unified(&d.before, &d.after, &d.before_header, &d.after_header)
        .lines()
        .map(str::to_string)
        .collect()
}

pub(crate) fn on_check_event(r: &mut Review, ev: RunEvent) {
    match ev {
        RunEvent::PlaybookStart { hosts, .. } => {
            for h in hosts {
                host_nav::add(&mut r.hosts, &h);
            }
        }
        RunEvent::TaskResult(t) => {
            let c = r.counts.entry(t.host.clone()).or_default();
            bump(c, t.status);
            host_nav::add(&mut r.hosts, &t.host);
            if matches!(
                t.status,
                Status::Changed | Status::Failed | Status::Unreachable
            ) {
                r.per_host
                    .entry(t.host.clone())
                    .or_default()
                    .push(CheckItem {
                        task: t.task.clone(),
                        status: t.status,
                        msg: t.msg.clone(),
                        diff: t.diff.iter().flat_map(diff_lines).collect(),
                    });
            }
        }
        RunEvent::HostStopped { host, reason } => {
            r.per_host.entry(host).or_default().push(CheckItem {
                task: "(host stopped)".into(),
                status: Status::Failed,
                msg: Some(reason),
                diff: Vec::new(),
            });
        }
        _ => {}
    }
}

/// The engine the dry run went to, shown on the screen.
pub(crate) fn on_engine(state: &mut State, name: String, reason: Option<String>) {
    state.review.engine = Some((name, reason));
}

/// The dry run could not start.
pub(crate) fn on_failed(state: &mut State, msg: String) {
    state.review.phase = Phase::Failed;
    state.review.error = Some(msg);
}

/// The dry run ended: its recap per host.
pub(crate) fn on_done(state: &mut State, summary: RunSummary) {
    for (h, c) in &summary.hosts {
        state.review.counts.insert(h.clone(), c.clone());
        host_nav::add(&mut state.review.hosts, h);
    }
    state.review.phase = Phase::Done;
}

/// A confirmed dialog of this step: the real run starts.
pub(crate) fn confirm(state: &mut State, d: Dialog) -> Vec<Effect> {
    let secrets = match d {
        Dialog::ConfirmRotate => Some(SecretsAction::Rotate),
        _ => None,
    };
    let limit = state.limit.clone();
    start_real_run_with(state, limit, secrets)
}
