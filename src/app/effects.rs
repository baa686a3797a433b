//! What `update` asks the outside world to do; the terminal layer above carries it out.

use crate::engine::RunRequest;

use super::action::RunKind;
use super::state::Session;

/// What a real run does about the deployment's generated passwords beyond the usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsAction {
    /// The operator confirmed: set newly generated passwords even on roles that exist already.
    ReplaceExisting,
    /// Rotate: new passwords for every generated secret, stored once the run succeeded.
    Rotate,
}

#[derive(Debug, Clone)]
pub enum Effect {
    /// Start a run (check or real) of this request; its events come back as `Action::Run`.
    StartRun(RunKind, Box<RunRequest>),
    /// Start a real run that also does `SecretsAction` with the generated passwords.
    StartRunWithSecrets(Box<RunRequest>, SecretsAction),
    /// Stop starting new tasks of this run.
    Cancel(RunKind),
    /// Cancel and kill the commands of this run that are running now.
    Kill(RunKind),
    /// Applies `edits` to the inventory `source` and writes the result to `to` (a backup of
    /// `to` first when it is `source`); answered by `Action::InventorySaved`.
    SaveInventory {
        source: std::path::PathBuf,
        to: std::path::PathBuf,
        edits: Vec<crate::inventory::edit::Edit>,
    },
    /// Remember where this session is, for the next start.
    SaveSession(Session),
    /// Connect to a host and ask what it runs; the answer comes back as `Action::Tested`.
    TestConnection {
        host: String,
        vars: serde_json::Map<String, serde_json::Value>,
        /// The operator accepted the host's key: record it in known_hosts on this connect.
        trust_new_key: bool,
        /// With `trust_new_key`: the key shown and approved, the only one that may be recorded.
        approved: Option<ApprovedKey>,
    },
    /// Start the background health sampler; snapshots come back as `Action::HealthSnapshot`.
    StartHealth {
        interval: std::time::Duration,
        /// Hosts whose clusters and disks are probed over their own connection.
        hosts: Vec<crate::health::host::HostTarget>,
        /// The wizard's deployment: its databases are watched when no URLs are configured.
        deployment: Option<crate::health::deployment::DeploymentRef>,
    },
    /// Stop the health sampler (the Health step was left).
    StopHealth,
    /// Probe every target at this interval from now on.
    SetHealthInterval(std::time::Duration),
    /// Apply the pending schema migrations of these databases (all when empty), as the app
    /// users, through the same source of credentials as Health; answered by `Action::Migration`
    /// per database and `Action::MigrationsDone`. The outcome is added to `journal`.
    ApplyMigrations {
        /// `m` on Health (its answers go to the status line), else the phase after a run.
        from_health: bool,
        deployment: Option<crate::health::deployment::DeploymentRef>,
        databases: Vec<String>,
        journal: Option<std::path::PathBuf>,
    },
    /// Leave the wizard.
    Quit,
}

/// A host key the operator approved in the trust dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedKey {
    /// SHA256 fingerprint as shown.
    pub fingerprint: String,
    /// The key is the ProxyJump host's (this one), not the target's.
    pub jump_host: Option<String>,
}

impl Effect {
    /// What the effect is, for logs: no values (answers and requests may hold passwords).
    pub fn label(&self) -> &'static str {
        match self {
            Effect::StartRun(..) => "start run",
            Effect::StartRunWithSecrets(..) => "start run with new passwords",
            Effect::Cancel(_) => "cancel run",
            Effect::Kill(_) => "kill run",
            Effect::SaveInventory { .. } => "save inventory",
            Effect::SaveSession(_) => "save session",
            Effect::TestConnection { .. } => "test connection",
            Effect::StartHealth { .. } => "start health",
            Effect::StopHealth => "stop health",
            Effect::SetHealthInterval(_) => "set health interval",
            Effect::ApplyMigrations { .. } => "apply migrations",
            Effect::Quit => "quit",
        }
    }
}
