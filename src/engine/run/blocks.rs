//! A list of tasks and blocks on one host: block/rescue/always, `meta` actions, handlers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::future::BoxFuture;

use super::scope::Inherited;
use super::task::run_task;
use super::{HostState, PlayCtx, Shared, publish, set_removed};
use crate::playbook::{Item, Task};

/// Runs `items` one level below the task path at hand (`pc.path`, for the lockstep).
pub(super) fn run_items<'a>(
    shared: &'a Arc<Shared>,
    pc: &'a mut PlayCtx<'_>,
    state: &'a mut HostState,
    items: &'a [Item],
    inh: &'a Inherited,
) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        pc.path.push(0);
        items_here(shared, pc, state, items, inh).await;
        pc.path.pop();
    })
}

/// One part of a block (0 block, 1 rescue, 2 always).
async fn run_part(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    part: u32,
    items: &[Item],
    inh: &Inherited,
) {
    pc.path.push(part);
    run_items(shared, pc, state, items, inh).await;
    pc.path.pop();
}

async fn items_here(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    items: &[Item],
    inh: &Inherited,
) {
    for (i, item) in (0..).zip(items) {
        if let Some(last) = pc.path.last_mut() {
            *last = i;
        }
        if state.stopped
            || pc.failed
            || shared.cancel.is_cancelled()
            || shared.abort_play.load(Ordering::SeqCst)
        {
            return;
        }
        match item {
            Item::Task(t) => {
                if t.module == "meta" {
                    match super::meta::run_meta(shared, pc, state, t, inh).await {
                        super::meta::After::Continue => continue,
                        super::meta::After::Return => return,
                    }
                }
                run_task(shared, pc, state, t, inh, false).await;
            }
            Item::Block(b) if b.include.is_some() => {
                if let Some(include) = &b.include {
                    super::includes::run_include(shared, pc, state, b, include, inh).await;
                }
            }
            Item::Block(b) => {
                // A role that already ran on this host with the same parameters runs once,
                // as Ansible does, unless it allows duplicates.
                let role = b.common.role.as_ref().filter(|r| !r.allow_duplicates);
                if role.is_some_and(|r| state.roles_done.contains(&r.identity)) {
                    continue;
                }
                let inner = inh.with(&b.common);
                // A block whose condition is false skips all of it (conditions are inherited too).
                run_part(shared, pc, state, 0, &b.block, &inner).await;
                if let Some(r) = role
                    && !pc.failed
                    && !state.stopped
                    && conditions_hold(shared, pc, state, &inner)
                {
                    state.roles_done.insert(r.identity.clone());
                }
                // A mark that skips a section (a failed run_once, see `fatal`) is taken by the
                // innermost block the failure leaves.
                let mut skip = pc.failed && std::mem::take(&mut pc.skip_section);
                if pc.failed && !state.stopped && !b.rescue.is_empty() && !skip {
                    pc.failed = false;
                    pc.fatal = false;
                    // Another host's fatal failure sent this one here: Ansible's strategy
                    // counts and sets nothing for it, and the host stays out of the play's hosts.
                    if !std::mem::take(&mut pc.failure_is_mark) {
                        state.counts.failed = state.counts.failed.saturating_sub(1);
                        state.counts.rescued += 1;
                        set_failure_vars(shared, pc, state);
                        // A host in a rescue is back among the play's hosts, as in Ansible.
                        set_removed(shared, &state.name, false);
                    }
                    run_part(shared, pc, state, 1, &b.rescue, &inner).await;
                    skip = pc.failed && std::mem::take(&mut pc.skip_section);
                } else if !b.rescue.is_empty() {
                    skip = false;
                }
                if !state.stopped && !skip {
                    let was_failed = pc.failed;
                    let cleared = pc.errors_cleared;
                    pc.failed = false;
                    run_part(shared, pc, state, 2, &b.always, &inner).await;
                    if pc.errors_cleared == cleared {
                        pc.failed |= was_failed;
                    }
                }
            }
        }
    }
}

/// `ansible_failed_task` and `ansible_failed_result` for a rescue: host variables from then on,
/// as Ansible's non-persistent facts are.
fn set_failure_vars(shared: &Shared, pc: &PlayCtx<'_>, state: &mut HostState) {
    let Some((task, result)) = &pc.last_failure else {
        return;
    };
    let mut rt = (*state.runtime).clone();
    rt.insert("ansible_failed_task".into(), task.clone());
    rt.insert("ansible_failed_result".into(), result.clone());
    state.runtime = Arc::new(rt);
    publish(shared, state);
}

/// Queues the handlers that `names` notify (by name, `role : name`, or a `listen` topic), each
/// once. Of handlers sharing a name (a role's, loaded more than once), Ansible notifies the last
/// defined; `listen` topics reach them all.
pub(super) fn notify(pc: &mut PlayCtx<'_>, names: &[String]) {
    let handlers = flatten(&pc.play.handlers, &Inherited::default());
    for (i, (h, hinh)) in handlers.iter().enumerate() {
        let role = hinh.roles.last().map(|r| r.name.as_str());
        let shadowed = h.common.name.is_some()
            && handlers[i + 1..]
                .iter()
                .any(|(later, _)| later.common.name == h.common.name);
        let by_name = !shadowed && is_notified(h, role, names);
        let by_topic = names.iter().any(|n| h.listen.contains(n));
        if (by_name || by_topic) && !pc.notified.contains(&h.id) {
            pc.notified.push(h.id);
        }
    }
}

/// Runs the notified handlers in definition order, in one pass as Ansible does: a handler
/// notified by a handler after it runs in this pass, one before it at the next flush. A handler
/// runs in its own role's context, not in that of a role that flushes.
pub(super) async fn flush_handlers(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    inh: &Inherited,
) {
    let mut base = inh.clone();
    base.roles.clear();
    let play = pc.play;
    for (n, (h, hinh)) in (0..).zip(flatten(&play.handlers, &base)) {
        if pc.notified.is_empty() || state.stopped || pc.failed {
            return;
        }
        if let Some(i) = pc.notified.iter().position(|id| *id == h.id) {
            pc.notified.remove(i);
            // Handlers follow their flush point in the lockstep.
            pc.path.push(n);
            run_task(shared, pc, state, h, &hinh, true).await;
            pc.path.pop();
        }
    }
}

/// Whether the conditions along a block path hold on this host (a role counts as run only then).
fn conditions_hold(
    shared: &Arc<Shared>,
    pc: &PlayCtx<'_>,
    state: &HostState,
    inh: &Inherited,
) -> bool {
    if inh.when.is_empty() {
        return true;
    }
    let probe = super::plays::gather_task();
    let scope = super::scope::build_scope(shared, pc, state, inh, &probe, None);
    inh.when
        .iter()
        .all(|c| shared.plan.templar.eval_bool(c, &scope).unwrap_or(false))
}

/// Whether a handler was notified, by its name, `role : name` for a role's handler, or a `listen`
/// topic.
fn is_notified(h: &Task, role: Option<&str>, notified: &[String]) -> bool {
    let name = h.common.name.clone().unwrap_or_default();
    let full = role.map(|r| format!("{r} : {name}"));
    notified
        .iter()
        .any(|n| *n == name || Some(n) == full.as_ref() || h.listen.contains(n))
}

/// Handlers in definition order with what they inherit, blocks opened (a handler block's parts
/// all count; a role's handlers run in the role's context).
fn flatten<'a>(items: &'a [Item], inh: &Inherited) -> Vec<(&'a Task, Inherited)> {
    let mut out = Vec::new();
    for i in items {
        match i {
            Item::Task(t) => out.push((t.as_ref(), inh.clone())),
            Item::Block(b) => {
                let inner = inh.with(&b.common);
                out.extend(flatten(&b.block, &inner));
                out.extend(flatten(&b.rescue, &inner));
                out.extend(flatten(&b.always, &inner));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testutil::task;
    use super::*;
    use crate::playbook::{Block, Common};

    fn named(name: &str) -> Task {
        let mut t = task("command");
        t.common.name = Some(name.into());
        t
    }

    #[test]
    fn handlers_are_notified_by_name_or_listen_topic() {
        let mut h = named("restart postgresql");
        h.listen = vec!["db config changed".into()];
        assert!(is_notified(&h, None, &["restart postgresql".into()]));
        assert!(is_notified(
            &h,
            None,
            &["other".into(), "db config changed".into()]
        ));
        assert!(!is_notified(&h, None, &["restart".into()]));
        assert!(
            !is_notified(&task("command"), None, &["command".into()]),
            "the module is no name"
        );
        assert!(is_notified(
            &h,
            Some("db"),
            &["db : restart postgresql".into()]
        ));
        assert!(!is_notified(&h, None, &["db : restart postgresql".into()]));
    }

    #[test]
    fn handler_blocks_are_flattened_in_order() {
        let t = |n: &str| Item::Task(Box::new(named(n)));
        let block = Block {
            pos: Default::default(),
            common: Common::default(),
            block: vec![t("b1")],
            rescue: vec![t("r1")],
            always: vec![t("a1")],
            include: None,
        };
        let items = [t("first"), Item::Block(Box::new(block)), t("last")];
        let names: Vec<String> = flatten(&items, &Inherited::default())
            .iter()
            .map(|(t, _)| t.display_name())
            .collect();
        assert_eq!(names, ["first", "b1", "r1", "a1", "last"]);
    }
}
