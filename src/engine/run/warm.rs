//! Work started ahead (issue 19): a new connection's login check gathers the facts in the same
//! round trip when the gather task will run as the login; once a host's facts are in, the psql
//! session its play's first PostgreSQL task will use starts while the tasks before that one run.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::r#become::{effective_become, requested_become};
use super::scope::{Inherited, build_scope};
use super::task::module_args;
use super::{HostState, PlayCtx, Shared};
use crate::engine::events::FACTS_TASK_ID;
use crate::engine::modules::ModuleResult;
use crate::playbook::{Item, Task};
use crate::transport::Become;

/// The facts script, when `task` is the play's implicit fact gathering (no arguments) about to
/// open the host's connection and it will likely run as the login: no become, or a become user
/// that is the inventory's `ansible_user`. The login check then runs it too ([`early_facts`]
/// decides, once the login is known, whether its output stands for the task's own run).
pub(super) fn facts_with_login(
    shared: &Arc<Shared>,
    inh: &Inherited,
    task: &Task,
    scope: &minijinja::Value,
) -> Option<String> {
    if task.id != FACTS_TASK_ID || !task.args.is_empty() {
        return None;
    }
    let as_login = match requested_become(
        &shared.plan.templar,
        &shared.plan.ansible_cfg,
        inh,
        task,
        scope,
    ) {
        Ok(None) => true,
        Ok(Some(want)) => super::scope::var_str(scope, &["ansible_user", "ansible_ssh_user"])
            .is_some_and(|user| user == want.user),
        Err(_) => false,
    };
    as_login.then(crate::engine::modules::misc::facts_script)
}

/// The gather task's result from the facts its connection's login check gathered, when the task
/// runs exactly as that script ran: as the login (no escalation), with no `environment:` and no
/// arguments. `out` was taken from the host's state as the connection opened: later gathers
/// (and any other task) run their own.
pub(super) fn early_facts(
    out: Option<crate::transport::Output>,
    task: &Task,
    args: &Map<String, Value>,
    escalation: Option<&Become>,
    environment: &[(String, String)],
) -> Option<ModuleResult> {
    let out = out.filter(|_| task.id == FACTS_TASK_ID)?;
    (escalation.is_none() && environment.is_empty() && args.is_empty())
        .then(|| crate::engine::modules::misc::facts_result(&out))
}

/// Starts the psql session of the first PostgreSQL task of the play's own task lists (not in a
/// block, role or include, not delegated, no `environment:`), rendered in the host's scope as
/// it is now. A task whose arguments need what later tasks register does not render, and one
/// whose arguments call a lookup is not rendered ahead: nothing starts. Whether the task then
/// runs (`when`, tags) does not matter: an unused session is dropped with the connection.
pub(super) fn psql_session(
    shared: &Arc<Shared>,
    pc: &PlayCtx<'_>,
    state: &HostState,
    base: &Inherited,
) {
    let Some(transport) = state.conn.clone() else {
        return;
    };
    let Some(task) = first_postgres_task(pc) else {
        return;
    };
    // A lookup may run a command or read a file: only the task itself renders one.
    if task.common.delegate_to.is_some()
        || base.delegate_to.is_some()
        || task.common.environment.is_some()
        || !base.environment.is_empty()
        || task
            .args
            .values()
            .any(|v| shared.plan.templar.names_lookup(v))
    {
        return;
    }
    let scope = build_scope(shared, pc, state, base, task, None);
    let Ok(args) = module_args(&shared.plan.templar, task, &scope) else {
        return;
    };
    let Ok(escalation) = effective_become(
        &shared.plan.templar,
        &shared.plan.ansible_cfg,
        base,
        task,
        &scope,
        state.login.as_ref(),
    ) else {
        return;
    };
    crate::engine::modules::postgres::warm_session(
        &task.module,
        &args,
        transport,
        escalation,
        shared.plan.request.command_timeout,
    );
}

fn first_postgres_task<'p>(pc: &PlayCtx<'p>) -> Option<&'p Task> {
    pc.play
        .pre_tasks
        .iter()
        .chain(pc.play.tasks.iter())
        .find_map(|item| match item {
            Item::Task(t) if t.module.starts_with("postgresql_") => Some(&**t),
            _ => None,
        })
}
