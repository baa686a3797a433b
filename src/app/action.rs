//! Everything that can happen to the wizard: keys, ticks, and results of effects.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::KeyEvent;

use crate::engine::{RunEvent, RunSummary};

/// Which engine run an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// The check-mode dry run of the Review step.
    Check,
    /// The real run of the Execute step.
    Real,
}

#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    /// The mouse wheel: up (true) or down, over the current screen.
    Wheel {
        up: bool,
    },
    Resize,
    /// Time passed (sent once a second while a run is going).
    Tick(Duration),
    /// An event of a running playbook.
    Run(RunKind, RunEvent),
    /// A run could not start (bad input, store error): the message.
    RunFailed(RunKind, String),
    /// The real run would set a newly generated password on roles that exist already (their
    /// password is not in the secret store): nothing ran; the message says which.
    RolesExist(String),
    /// The engine a run goes to, and the native engine's refusal when `auto` chose ansible.
    Engine {
        kind: RunKind,
        name: String,
        reason: Option<String>,
    },
    /// A run ended.
    RunDone {
        kind: RunKind,
        summary: RunSummary,
        journal: Option<PathBuf>,
    },
    /// The result of a "test connection".
    Tested {
        host: String,
        result: Result<String, String>,
    },
    /// The inventory was written (and read back), or why not.
    InventorySaved(Result<Box<crate::app::state::SavedInventory>, String>),
    /// "test connection" met a host key that is not in known_hosts yet: ask to trust it.
    HostKeyUnknown {
        host: String,
        fingerprint: String,
        /// The key is that of the ProxyJump host the host is reached through (named here),
        /// not the host's own.
        jump_host: Option<String>,
    },
    /// The health dashboard's data after new samples.
    HealthSnapshot(Box<crate::health::dashboard::Snapshot>),
    /// The health probes could not start (no database settings): why.
    HealthFailed(String),
    /// One database's schema migrations (running, then how they ended).
    Migration {
        /// Started by `m` on Health (else the phase after a run).
        from_health: bool,
        db: String,
        state: crate::app::state::MigrationState,
    },
    /// Every database was migrated (`Ok`), or they could not be reached at all (why).
    MigrationsDone {
        from_health: bool,
        result: Result<(), String>,
    },
    /// Quit (asks first while a run is going), e.g. on SIGINT.
    Quit,
    /// The terminal is going away (SIGTERM, SIGHUP): cancel any run and leave.
    Terminate,
}
