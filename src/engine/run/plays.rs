//! Plays in order, their hosts in `serial` batches, up to `forks` hosts at a time (per task
//! under `linear`, per play under `free`), and one play on one host (fact gathering, the task
//! sections, handlers after each).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use indexmap::IndexMap;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::blocks::{flush_handlers, run_items};
use super::judge::settle_failure;
use super::lockstep::{DoneOnDrop, Lockstep, SECTION_END};
use super::scope::play_base;
use super::task::run_task;
use super::{HostState, PlayCtx, Shared};
use crate::engine::events::RunEvent;
use crate::playbook::ansible_cfg::Gathering;
use crate::playbook::{Common, Item, Task};

/// Runs the plays in order; a play's hosts go in `serial` batches, up to `forks` at a time.
pub(super) async fn run_plays(shared: &Arc<Shared>, states: &mut IndexMap<String, HostState>) {
    let plan = shared.plan.clone();
    let cancel = &shared.cancel;
    for (idx, play) in plan.playbook.plays.iter().enumerate() {
        if cancel.is_cancelled() || shared.abort_run.load(Ordering::SeqCst) {
            break;
        }
        let hosts: Vec<String> = plan.play_hosts[idx]
            .iter()
            .filter(|h| states.get(*h).is_some_and(|s| !s.stopped))
            .cloned()
            .collect();
        // vars_prompt comes before the PLAY banner, as in ansible-playbook.
        match super::prompt::ask_play(shared, idx).await {
            Ok(p) => {
                shared
                    .prompted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(idx, Arc::new(p));
            }
            Err(e) => {
                shared.emit(RunEvent::Warning {
                    msg: format!("ERROR! {e}"),
                });
                shared.abort_run.store(true, Ordering::SeqCst);
                shared.cancel.cancel();
                break;
            }
        }
        let task_count = count_tasks(&play.pre_tasks)
            + count_tasks(&play.tasks)
            + count_tasks(&play.post_tasks)
            + usize::from(play.gather_facts);
        shared.emit(RunEvent::PlayStart {
            play: play
                .common
                .name
                .clone()
                .unwrap_or_else(|| play.hosts.clone()),
            hosts: hosts.clone(),
            tasks: task_count,
        });
        // Hosts marked by an `any_errors_fatal` and rescued are failed in every later play.
        for s in states.values_mut().filter(|s| s.marked_rescued) {
            s.counts.marked_failed = true;
        }
        if hosts.is_empty() {
            shared.emit(RunEvent::Warning {
                msg: format!(
                    "play '{}': no hosts matched, skipping",
                    play.common.name.as_deref().unwrap_or(&play.hosts)
                ),
            });
            continue;
        }
        shared
            .removed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let play_hosts_all = Arc::new(hosts.clone());
        let serial = play
            .serial
            .as_ref()
            .map(|v| render_play_keyword(shared, idx, v));
        for batch in batches(&serial, &hosts) {
            if shared.abort_run.load(Ordering::SeqCst) {
                break;
            }
            shared.abort_play.store(false, Ordering::SeqCst);
            shared.failed_in_play.store(0, Ordering::SeqCst);
            shared
                .fatal_steps
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            shared
                .play_done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            let play_hosts = Arc::new(batch.clone());
            let sem = Arc::new(Semaphore::new(plan.forks.max(1)));
            let taken: Vec<HostState> = batch
                .iter()
                .filter_map(|h| states.shift_remove(h))
                .collect();
            // Under `linear` forks bound the hosts running a task at once (the gate hands out
            // the slots); under `free` a host keeps its slot for the whole play.
            let lockstep = plan
                .play_lockstep
                .get(idx)
                .copied()
                .unwrap_or(true)
                .then(|| {
                    let names: Vec<String> = taken.iter().map(|s| s.name.clone()).collect();
                    Arc::new(Lockstep::new(&names, plan.forks))
                });
            let mut set = tokio::task::JoinSet::new();
            for state in taken {
                let shared = shared.clone();
                let sem = sem.clone();
                let hosts = (play_hosts.clone(), play_hosts_all.clone());
                let lockstep = lockstep.clone();
                set.spawn(async move {
                    let _done = lockstep.clone().map(|lockstep| DoneOnDrop {
                        lockstep,
                        host: state.name.clone(),
                        wake: shared.clone(),
                    });
                    let _permit = match lockstep {
                        Some(_) => None,
                        None => sem.acquire_owned().await.ok(),
                    };
                    let mut state = state;
                    let failed = run_play_on_host(&shared, idx, hosts, lockstep, &mut state).await;
                    shared
                        .play_done
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(state.name.clone());
                    shared.progress.notify_waiters();
                    (state, failed)
                });
            }
            let mut failed = 0;
            while let Some(res) = set.join_next().await {
                if let Ok((state, f)) = res {
                    failed += usize::from(f);
                    states.insert(state.name.clone(), state);
                }
            }
            // The whole batch failed or became unreachable: ansible-playbook runs nothing more
            // (its PlaybookExecutor's break_play), whichever hosts the later plays target.
            if failed == batch.len() {
                shared.abort_run.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// A play keyword Ansible templates before any host runs (`serial`): rendered with `-e`, the
/// play's vars_files and vars; left as written when it does not render (the batch sizes then
/// treat it as one host at a time, as for any value that is not a size).
fn render_play_keyword(shared: &Shared, idx: usize, v: &Value) -> Value {
    let plan = &shared.plan;
    let mut scope = crate::template::Scope::new(plan.templar.clone());
    scope.layers.push(plan.extra.clone());
    scope.layers.push(plan.play_vars_files[idx].clone());
    let prompted = prompted(shared, idx);
    scope.layers.push(Arc::new(prompted.literal.clone()));
    scope.layers.push(play_vars(shared, idx, &prompted));
    plan.templar
        .render_value(v, &scope.into_value())
        .unwrap_or_else(|_| v.clone())
}

/// What play `idx`'s `vars_prompt` set (nothing before it was asked).
fn prompted(shared: &Shared, idx: usize) -> Arc<super::prompt::Prompted> {
    shared
        .prompted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&idx)
        .cloned()
        .unwrap_or_default()
}

/// The play's `vars` with its prompted (not unsafe) answers over them, as Ansible sets them.
fn play_vars(
    shared: &Shared,
    idx: usize,
    prompted: &super::prompt::Prompted,
) -> Arc<Map<String, Value>> {
    let mut vars = shared.plan.playbook.plays[idx].common.vars.clone();
    vars.extend(prompted.vars.clone());
    Arc::new(vars)
}

fn count_tasks(items: &[Item]) -> usize {
    items
        .iter()
        .map(|i| match i {
            Item::Task(_) => 1,
            // A dynamic include is a task of its own (its "included" result).
            Item::Block(b) => {
                usize::from(b.include.is_some()) + count_tasks(&b.block) + count_tasks(&b.always)
            }
        })
        .sum()
}

/// `serial:` — a number, a percentage, or a list of them.
fn batches(serial: &Option<Value>, hosts: &[String]) -> Vec<Vec<String>> {
    let Some(serial) = serial else {
        return vec![hosts.to_vec()];
    };
    let sizes: Vec<Value> = match serial {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let size_of = |v: &Value| -> usize {
        let n = match v {
            Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
            Value::String(s) if s.ends_with('%') => {
                let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(100.0);
                ((hosts.len() as f64) * pct / 100.0).floor() as usize
            }
            Value::String(s) => s.parse().unwrap_or(0),
            _ => 0,
        };
        n.max(1)
    };
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < hosts.len() {
        let size = size_of(&sizes[k.min(sizes.len() - 1)]);
        out.push(hosts[i..(i + size).min(hosts.len())].to_vec());
        i += size;
        k += 1;
    }
    out
}

async fn run_play_on_host(
    shared: &Arc<Shared>,
    idx: usize,
    (play_hosts, play_hosts_all): (Arc<Vec<String>>, Arc<Vec<String>>),
    lockstep: Option<Arc<Lockstep>>,
    state: &mut HostState,
) -> bool {
    let unreachable = state.counts.unreachable;
    let failed =
        run_play_sections(shared, idx, (play_hosts, play_hosts_all), lockstep, state).await;
    failed || state.counts.unreachable > unreachable
}

/// One play on one host; whether the host ended it failed (a failure no rescue handled, or the
/// mark of another host's fatal failure), as Ansible's TaskQueueManager counts failed hosts.
async fn run_play_sections(
    shared: &Arc<Shared>,
    idx: usize,
    (play_hosts, play_hosts_all): (Arc<Vec<String>>, Arc<Vec<String>>),
    lockstep: Option<Arc<Lockstep>>,
    state: &mut HostState,
) -> bool {
    let plan = shared.plan.clone();
    let play = &plan.playbook.plays[idx];
    let prompted = prompted(shared, idx);
    let mut pc = PlayCtx {
        play,
        play_idx: idx,
        vars_files: plan.play_vars_files[idx].clone(),
        play_vars: play_vars(shared, idx, &prompted),
        play_literal: Arc::new(prompted.literal.clone()),
        play_hosts,
        play_hosts_all,
        lockstep,
        path: vec![0],
        permit: None,
        notified: Vec::new(),
        failed: false,
        last_failure: None,
        errors_cleared: 0,
        fatal: false,
        marked: false,
        failure_is_mark: false,
        skip_section: false,
        become_checked: false,
    };
    let base = play_base(play);
    // Implicit and explicit gathering gather in every play that asks (explicit plays were
    // decided at plan time); smart does not gather a host twice in a run.
    let gather = match shared.plan.ansible_cfg.gathering {
        Gathering::Smart => play.gather_facts && !state.facts_gathered,
        Gathering::Implicit | Gathering::Explicit => play.gather_facts,
    };
    if gather {
        let task = gather_task();
        run_task(shared, &mut pc, state, &task, &base, false).await;
        state.facts_gathered = true;
        if state.stopped {
            return pc.failed;
        }
        super::warm::psql_session(shared, &pc, state, &base);
    }
    for (n, section) in (1..).zip([&play.pre_tasks, &play.tasks, &play.post_tasks]) {
        pc.path = vec![n];
        run_items(shared, &mut pc, state, section, &base).await;
        if !state.stopped && !pc.failed {
            pc.path = vec![n, SECTION_END];
            flush_handlers(shared, &mut pc, state, &base).await;
        }
        if pc.failed && !state.stopped {
            settle_failure(shared, &mut pc);
        }
        if state.stopped || pc.failed {
            break;
        }
    }
    // A host that failed in a play takes no part in the plays after it, as in Ansible.
    let failed = pc.failed || pc.marked;
    // Unrescued, the mark fails the run; rescued, it does once a later play runs.
    if pc.failed && pc.failure_is_mark {
        state.counts.marked_failed = true;
    }
    if pc.marked && !pc.failed {
        state.marked_rescued = true;
    }
    if failed && !state.stopped {
        state.stopped = true;
        shared.emit(RunEvent::HostStopped {
            host: state.name.clone(),
            reason: "a task failed".into(),
        });
    }
    failed
}

pub(super) fn gather_task() -> Task {
    Task {
        common: Common {
            name: Some("Gathering Facts".into()),
            ..Default::default()
        },
        module: "setup".into(),
        module_written: "setup".into(),
        ..Task::blank(Default::default(), crate::engine::events::FACTS_TASK_ID)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::playbook::Block;

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    fn sizes(serial: Option<Value>, n: usize) -> Vec<usize> {
        batches(&serial, &hosts(n)).iter().map(Vec::len).collect()
    }

    #[test]
    fn without_serial_all_hosts_are_one_batch() {
        assert_eq!(batches(&None, &hosts(3)), vec![hosts(3)]);
    }

    #[test]
    fn serial_number_cuts_batches_in_host_order() {
        let b = batches(&Some(json!(2)), &hosts(5));
        assert_eq!(b, vec![vec!["h1", "h2"], vec!["h3", "h4"], vec!["h5"]]);
        // A number given as text counts the same.
        assert_eq!(sizes(Some(json!("2")), 5), vec![2, 2, 1]);
    }

    #[test]
    fn serial_percentage_rounds_down_but_takes_at_least_one_host() {
        assert_eq!(sizes(Some(json!("50%")), 5), vec![2, 2, 1]);
        assert_eq!(sizes(Some(json!("10%")), 3), vec![1, 1, 1]);
        assert_eq!(sizes(Some(json!("100%")), 4), vec![4]);
        assert_eq!(sizes(Some(json!("33%")), 10), vec![3, 3, 3, 1]);
        assert_eq!(sizes(Some(json!("50%")), 100), vec![50, 50]);
        // A percentage that is not a number means all hosts.
        assert_eq!(sizes(Some(json!("half%")), 3), vec![3]);
    }

    #[test]
    fn serial_list_steps_through_sizes_and_repeats_the_last() {
        assert_eq!(sizes(Some(json!([1, "50%"])), 6), vec![1, 3, 2]);
        assert_eq!(sizes(Some(json!([1, 2, 10])), 4), vec![1, 2, 1]);
    }

    #[test]
    fn serial_zero_or_nonsense_runs_one_host_at_a_time() {
        assert_eq!(sizes(Some(json!(0)), 2), vec![1, 1]);
        assert_eq!(sizes(Some(json!("many")), 2), vec![1, 1]);
        assert_eq!(sizes(Some(json!(true)), 2), vec![1, 1]);
    }

    #[test]
    fn task_count_includes_block_and_always_but_not_rescue() {
        let t = || Item::Task(Box::new(super::super::testutil::task("command")));
        let block = Block {
            pos: Default::default(),
            common: Common::default(),
            block: vec![t(), t()],
            rescue: vec![t()],
            always: vec![t()],
            include: None,
        };
        assert_eq!(count_tasks(&[t(), Item::Block(Box::new(block.clone()))]), 4);
        // A dynamic include is one more task: its own "included" result.
        let include = Block {
            include: Some(Box::new(super::super::testutil::task("include_tasks"))),
            ..block
        };
        assert_eq!(count_tasks(&[Item::Block(Box::new(include))]), 4);
    }
}
