//! Carries out the effects `update` returns: each becomes a task whose results come back as
//! Actions on the one channel. No wizard logic here: preparing a run, probing, migrating and
//! saving are the library's; this only starts them and forwards what they report.

use super::files::save_inventory;
use super::*;
use crate::engine::choose::Chosen;

/// Carries out effects; results come back as actions.
pub struct Executor {
    tx: ActionSender,
    run_budget: RunBudget,
    check: Option<Cancel>,
    real: Option<Cancel>,
    health: Option<HealthTask>,
    pub health_source: Option<HealthSource>,
    pub health_retention: Duration,
}

impl Executor {
    pub fn new(tx: ActionSender) -> Self {
        Self {
            tx,
            run_budget: RunBudget::default(),
            check: None,
            real: None,
            health: None,
            health_source: None,
            health_retention: Duration::from_secs(600),
        }
    }

    /// The loop handled a run event: its room in the queue is free again.
    pub fn run_event_done(&self, ev: &engine::RunEvent) {
        self.run_budget.release(ev);
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
        let task = tokio::spawn(watch_health(
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
                tokio::spawn(start_run(
                    kind,
                    *request,
                    None,
                    cancel,
                    self.tx.clone(),
                    self.run_budget.clone(),
                ));
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
                    self.run_budget.clone(),
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

    pub(super) fn cancel_all(&self) {
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
    tx: ActionSender,
    budget: RunBudget,
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
    // The engine (with the native refusal as the reason `auto` chose ansible, shown on Review).
    let choice = request.engine;
    let (req, survey_secrets) = (request.clone(), secrets.clone());
    let chosen = match tokio::task::spawn_blocking(move || {
        let configured = crate::config::load().ok().and_then(|c| c.ansible_playbook);
        engine::choose::choose(choice, &req, configured.as_deref(), &survey_secrets)
    })
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return fail(e.to_string()),
        Err(e) => return fail(format!("planning stopped: {e}")),
    };
    let (etx, erx) = engine::event_channel();
    // The engine goes to the screen now and into the journal after `playbook_start` (as `run`
    // journals it: `runs` reads it from there).
    let mut engine_event = None;
    let mut engine_action = |name: &str, reason: Option<String>| {
        engine_event = Some(engine::RunEvent::Engine {
            name: name.into(),
            reason: reason.clone(),
        });
        let _ = tx.send(Action::Engine {
            kind,
            name: name.into(),
            reason,
        });
    };
    let handle: tokio::task::JoinHandle<Result<engine::RunSummary, String>> = match chosen {
        Chosen::Native(plan) => {
            for s in &secrets {
                plan.redactor.add(s.expose());
            }
            engine_action("native", None);
            // host_key_checking = False: new keys are recorded unverified (the run warns).
            let mut connect = connect;
            connect.accept_new_host_keys |= !plan.ansible_cfg.host_key_checking;
            tokio::spawn(async move {
                Ok(engine::run::run(plan, engine::connect::connector(connect), etx, cancel).await)
            })
        }
        Chosen::Ansible { path, reason } => {
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
    let (journal_path, stats) = forward(kind, erx, journal, engine_event, &tx, &budget).await;
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
            budget
                .send(&tx, kind, engine::RunEvent::Warning { msg })
                .await;
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

/// Applies the pending migrations of the deployment's databases (found as the Health step
/// finds them), reporting each database as it goes and adding the outcome to the run's journal.
async fn apply_migrations(
    from_health: bool,
    explicit: Option<HealthSource>,
    deployment: Option<DeploymentRef>,
    databases: Vec<String>,
    journal: Option<PathBuf>,
    tx: ActionSender,
) {
    use crate::app::state::MigrationState;
    use crate::health::migrate::{MigrateResult, migrate_targets};
    let source = match explicit {
        Some(s) => Ok(s),
        None => crate::health::source::health_source(deployment).await,
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
    mut rx: engine::EventReceiver,
    mut journal: Option<Journal>,
    mut engine_event: Option<engine::RunEvent>,
    tx: &ActionSender,
    budget: &RunBudget,
) -> (Option<PathBuf>, Option<engine::RunSummary>) {
    let mut stats = None;
    while let Some(ev) = rx.recv().await {
        // What happened, never results or facts (logs are kept longer than a run's screen).
        tracing::debug!(?kind, event = %ev.summary(), "run event");
        if let Some(j) = journal.as_mut() {
            j.record(&ev);
            if matches!(ev, engine::RunEvent::PlaybookStart { .. })
                && let Some(e) = engine_event.take()
            {
                j.record(&e);
            }
        }
        if let engine::RunEvent::Stats { hosts, cancelled } = &ev {
            stats = Some(engine::RunSummary {
                hosts: hosts.clone(),
                cancelled: *cancelled,
            });
        }
        budget.send(tx, kind, ev).await;
        if stats.is_some() {
            break;
        }
    }
    (journal.map(|j| j.path.clone()), stats)
}

/// The run events sent to the wizard's loop and not handled yet, bounded like the engine's
/// channel ([`engine::channel::EVENT_BUDGET`]): when the screen falls behind, forwarding waits,
/// the engine's channel fills and the engine waits in turn. Nothing is dropped.
#[derive(Clone)]
pub struct RunBudget(std::sync::Arc<tokio::sync::Semaphore>);

impl Default for RunBudget {
    fn default() -> Self {
        Self(std::sync::Arc::new(tokio::sync::Semaphore::new(
            engine::channel::EVENT_BUDGET,
        )))
    }
}

impl RunBudget {
    fn cost(ev: &engine::RunEvent) -> u32 {
        // One event larger than the budget still passes (alone).
        engine::channel::weight(ev).min(engine::channel::EVENT_BUDGET) as u32
    }

    /// Sends `ev` to the loop once it has room.
    async fn send(&self, tx: &ActionSender, kind: RunKind, ev: engine::RunEvent) {
        if let Ok(permit) = self.0.acquire_many(Self::cost(&ev)).await {
            // Given back by `release` when the loop has handled the event.
            permit.forget();
        }
        let _ = tx.send(Action::Run(kind, ev));
    }

    fn release(&self, ev: &engine::RunEvent) {
        self.0.add_permits(Self::cost(ev) as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forwarding_waits_for_the_loop_and_drops_nothing() {
        let (tx, mut rx) = action_channel();
        let budget = RunBudget::default();
        let big = |n| engine::RunEvent::Warning { msg: "x".repeat(n) };
        // Warnings weigh a constant: fill the budget with enough of them.
        let per = RunBudget::cost(&big(1)) as usize;
        let fits = engine::channel::EVENT_BUDGET / per;
        for _ in 0..fits {
            budget.send(&tx, RunKind::Real, big(1)).await;
        }
        let sender = {
            let (budget, tx) = (budget.clone(), tx.clone());
            tokio::spawn(async move { budget.send(&tx, RunKind::Real, big(2)).await })
        };
        tokio::task::yield_now().await;
        assert!(!sender.is_finished(), "sent past the budget");
        // The loop handles one: the waiting event goes through.
        let Some(Action::Run(_, ev)) = rx.recv().await else {
            panic!("a run event")
        };
        budget.release(&ev);
        sender.await.unwrap();
        let mut n = 1;
        while rx.try_recv().is_some() {
            n += 1;
        }
        assert_eq!(n, fits + 1);
    }
}
