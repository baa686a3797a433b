//! A list of tasks and blocks on one host: block/rescue/always, `meta` actions, handlers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::future::BoxFuture;
use serde_json::Value;

use super::scope::Inherited;
use super::task::run_task;
use super::{HostState, PlayCtx, Shared, publish};
use crate::playbook::{Item, Task};

pub(super) fn run_items<'a>(
    shared: &'a Arc<Shared>,
    pc: &'a mut PlayCtx<'_>,
    state: &'a mut HostState,
    items: &'a [Item],
    inh: &'a Inherited,
) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        for item in items {
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
                        let action = t
                            .args
                            .get("_raw_params")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        match action {
                            "flush_handlers" => flush_handlers(shared, pc, state, inh).await,
                            "end_host" => {
                                state.stopped = true;
                                return;
                            }
                            "end_play" => {
                                shared.abort_play.store(true, Ordering::SeqCst);
                                return;
                            }
                            // This host's failure no longer counts against the play (the
                            // recap keeps it), as Ansible's clear_host_errors does.
                            "clear_host_errors" => {
                                pc.failed = false;
                                pc.fatal = false;
                                pc.errors_cleared += 1;
                                state.counts.recovered = state.counts.failed;
                            }
                            _ => {}
                        }
                        continue;
                    }
                    run_task(shared, pc, state, t, inh, false).await;
                }
                Item::Block(b) => {
                    let inner = inh.with(&b.common);
                    // A block whose condition is false skips all of it (conditions are inherited too).
                    run_items(shared, pc, state, &b.block, &inner).await;
                    if pc.failed && !state.stopped && !b.rescue.is_empty() {
                        pc.failed = false;
                        pc.fatal = false;
                        state.counts.failed = state.counts.failed.saturating_sub(1);
                        state.counts.rescued += 1;
                        set_failure_vars(shared, pc, state);
                        run_items(shared, pc, state, &b.rescue, &inner).await;
                    }
                    if !state.stopped {
                        let was_failed = pc.failed;
                        let cleared = pc.errors_cleared;
                        pc.failed = false;
                        run_items(shared, pc, state, &b.always, &inner).await;
                        if pc.errors_cleared == cleared {
                            pc.failed |= was_failed;
                        }
                    }
                }
            }
        }
    })
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

/// Queues the handlers that `names` notify (by name or `listen` topic), each once.
pub(super) fn notify(pc: &mut PlayCtx<'_>, names: &[String]) {
    for h in flatten(&pc.play.handlers) {
        if is_notified(h, names) && !pc.notified.contains(&h.id) {
            pc.notified.push(h.id);
        }
    }
}

/// Runs the notified handlers in definition order, in one pass as Ansible does: a handler
/// notified by a handler after it runs in this pass, one before it at the next flush.
pub(super) async fn flush_handlers(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    inh: &Inherited,
) {
    let play = pc.play;
    for h in flatten(&play.handlers) {
        if pc.notified.is_empty() || state.stopped || pc.failed {
            return;
        }
        if let Some(i) = pc.notified.iter().position(|id| *id == h.id) {
            pc.notified.remove(i);
            run_task(shared, pc, state, h, inh, true).await;
        }
    }
}

/// Whether a handler was notified, by its name or a `listen` topic.
fn is_notified(h: &Task, notified: &[String]) -> bool {
    let name = h.common.name.clone().unwrap_or_default();
    notified.iter().any(|n| *n == name || h.listen.contains(n))
}

/// Handlers in definition order, blocks opened (a handler block's parts all count).
fn flatten(items: &[Item]) -> Vec<&Task> {
    let mut out = Vec::new();
    for i in items {
        match i {
            Item::Task(t) => out.push(t.as_ref()),
            Item::Block(b) => {
                out.extend(flatten(&b.block));
                out.extend(flatten(&b.rescue));
                out.extend(flatten(&b.always));
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
        assert!(is_notified(&h, &["restart postgresql".into()]));
        assert!(is_notified(
            &h,
            &["other".into(), "db config changed".into()]
        ));
        assert!(!is_notified(&h, &["restart".into()]));
        assert!(
            !is_notified(&task("command"), &["command".into()]),
            "the module is no name"
        );
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
        };
        let items = [t("first"), Item::Block(Box::new(block)), t("last")];
        let names: Vec<String> = flatten(&items).iter().map(|t| t.display_name()).collect();
        assert_eq!(names, ["first", "b1", "r1", "a1", "last"]);
    }
}
