//! Work started ahead (issue 19): once a host's facts are in, the psql session its play's first
//! PostgreSQL task will use starts while the tasks before that one run.

use std::sync::Arc;

use super::r#become::effective_become;
use super::scope::{Inherited, build_scope};
use super::task::module_args;
use super::{HostState, PlayCtx, Shared};
use crate::playbook::{Item, Task};

/// Starts the psql session of the first PostgreSQL task of the play's own task lists (not in a
/// block, role or include, not delegated, no `environment:`), rendered in the host's scope as
/// it is now. A task whose arguments need what later tasks register does not render: nothing
/// starts. Whether the task then runs (`when`, tags) does not matter: an unused session is
/// dropped with the connection.
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
    if task.common.delegate_to.is_some()
        || base.delegate_to.is_some()
        || task.common.environment.is_some()
        || !base.environment.is_empty()
    {
        return;
    }
    let scope = build_scope(shared, pc, state, base, task, None);
    let Ok(args) = module_args(&shared.plan.templar, task, &scope) else {
        return;
    };
    let Ok(escalation) = effective_become(
        &shared.plan.templar,
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
