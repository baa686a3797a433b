//! A result judged and recorded: its registered form, changed_when / failed_when /
//! ignore_errors, the result event, the host's counts, handlers queued, failures noted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use minijinja::Value as JValue;
use minijinja::value::Object;
use serde_json::{Map, Value};

use super::scope::{Inherited, flag};
use super::task::title;
use super::{HostState, PlayCtx, Shared, publish};
use crate::engine::events::{Counts, RunEvent, Status, TaskResult};
use crate::engine::modules::{self, ModuleResult};
use crate::playbook::Task;
use crate::template::{Scope, Templar};

fn bounded_diffs(diffs: &[modules::Diff]) -> Vec<modules::Diff> {
    diffs.iter().map(modules::Diff::bounded).collect()
}

pub(super) const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

/// The registered form of a result.
pub(super) fn result_json(r: &ModuleResult, hidden: bool) -> Value {
    let mut m = Map::new();
    m.insert("changed".into(), r.changed.into());
    m.insert("failed".into(), r.failed.into());
    if r.skipped {
        m.insert("skipped".into(), true.into());
    }
    if hidden {
        m.insert("censored".into(), CENSORED.into());
        return Value::Object(m);
    }
    if let Some(msg) = &r.msg {
        m.insert("msg".into(), msg.clone().into());
    }
    if let Some(rc) = r.rc {
        m.insert("rc".into(), rc.into());
    }
    if let Some(s) = &r.stdout {
        m.insert("stdout".into(), s.clone().into());
        m.insert(
            "stdout_lines".into(),
            Value::from(s.lines().collect::<Vec<_>>()),
        );
    }
    if let Some(s) = &r.stderr {
        m.insert("stderr".into(), s.clone().into());
        m.insert(
            "stderr_lines".into(),
            Value::from(s.lines().collect::<Vec<_>>()),
        );
    }
    if !r.diff.is_empty() {
        m.insert(
            "diff".into(),
            serde_json::to_value(bounded_diffs(&r.diff)).unwrap_or(Value::Null),
        );
    }
    for (k, v) in &r.extra {
        if k != super::delegate::DELEGATED_KEY {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// Applies changed_when / failed_when / ignore_errors; returns (status, failed, ignored).
pub(super) fn judge(
    templar: &Templar,
    task: &Task,
    inh: &Inherited,
    scope: &JValue,
    r: &ModuleResult,
    reg: &mut Value,
) -> (Status, bool, bool) {
    if r.extra.contains_key("unreachable") {
        let ignored = flag(
            templar,
            "ignore_unreachable",
            &task.common.ignore_unreachable,
            &inh.ignore_unreachable,
            scope,
        );
        if let Err(msg) = &ignored {
            set_msg(reg, msg);
        }
        return (
            Status::Unreachable,
            true,
            ignored.ok().flatten().unwrap_or(false),
        );
    }
    if r.skipped {
        return (Status::Skipped, false, false);
    }
    let mut changed = r.changed;
    let mut failed = r.failed;
    let needs_eval = task.changed_when.is_some() || task.failed_when.is_some();
    if needs_eval {
        let mut layer = Map::new();
        if let Some(name) = &task.register {
            layer.insert(name.clone(), reg.clone());
        }
        // Ansible lets changed_when/failed_when read the result's fields through the register name only.
        let mut s = Scope::new(templar.clone());
        s.layers.push(Arc::new(layer));
        s.specials.push(("__parent".into(), scope.clone()));
        let merged = MergedScope {
            first: s.into_value(),
            second: scope.clone(),
        };
        let merged = JValue::from_object(merged);
        if let Some(c) = &task.changed_when {
            match templar.eval_bool(c, &merged) {
                Ok(v) => changed = v,
                Err(e) => {
                    failed = true;
                    set_msg(reg, &format!("changed_when: {}", e.msg));
                }
            }
        }
        if let Some(c) = &task.failed_when {
            match templar.eval_bool(c, &merged) {
                Ok(v) => {
                    failed = v;
                    if v && r.msg.is_none() {
                        set_msg(reg, "failed_when condition was true");
                    }
                }
                Err(e) => {
                    failed = true;
                    set_msg(reg, &format!("failed_when: {}", e.msg));
                }
            }
        }
        if let Value::Object(m) = reg {
            m.insert("changed".into(), changed.into());
            m.insert("failed".into(), failed.into());
        }
    }
    let ignored = match flag(
        templar,
        "ignore_errors",
        &task.common.ignore_errors,
        &inh.ignore_errors,
        scope,
    ) {
        Ok(b) => failed && b.unwrap_or(false),
        // A bad value fails the task, as Ansible does, naming the keyword.
        Err(msg) => {
            failed = true;
            set_msg(reg, &msg);
            if let Value::Object(m) = reg {
                m.insert("failed".into(), true.into());
            }
            false
        }
    };
    let status = if failed {
        Status::Failed
    } else if changed {
        Status::Changed
    } else {
        Status::Ok
    };
    (status, failed, ignored)
}

fn set_msg(reg: &mut Value, msg: &str) {
    if let Value::Object(m) = reg {
        m.insert("msg".into(), msg.into());
    }
}

/// Two scopes read as one (the first wins).
#[derive(Debug)]
struct MergedScope {
    first: JValue,
    second: JValue,
}

impl Object for MergedScope {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let name = key.as_str()?;
        match self.first.get_attr(name) {
            Ok(v) if !v.is_undefined() && name != "__parent" => Some(v),
            _ => self
                .second
                .get_attr(name)
                .ok()
                .filter(|v| !v.is_undefined()),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn emit_result(
    shared: &Shared,
    state: &HostState,
    task: &Task,
    scope: &JValue,
    status: Status,
    item: Option<Value>,
    r: &ModuleResult,
    ignored: bool,
    started: Instant,
    hidden: bool,
    mut reg: Value,
) {
    // Implicit fact gathering feeds the host's variables, not the event stream (`--json`, the
    // journal); an explicit `setup` task shows its facts, masked.
    if task.id == crate::engine::events::FACTS_TASK_ID
        && let Value::Object(m) = &mut reg
    {
        m.remove("ansible_facts");
    }
    let (msg, stdout, stderr, diff) = if hidden {
        (Some(CENSORED.to_string()), None, None, Vec::new())
    } else {
        // A non-string `msg` (debug's list) stays a value in `result`; the one-line `msg` the
        // wizard's output shows is its JSON text.
        let msg = match reg.get("msg") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) if !v.is_null() => Some(v.to_string()),
            _ => r.msg.clone(),
        };
        (
            msg,
            r.stdout.clone(),
            r.stderr.clone(),
            bounded_diffs(&r.diff),
        )
    };
    let (delegated_to, delegated_address) = super::delegate::of_result(&r.extra);
    shared.emit(RunEvent::TaskResult(Box::new(TaskResult {
        host: state.name.clone(),
        delegated_to,
        delegated_address,
        task_id: task.id,
        task: title(shared, task, scope),
        module: task.module.clone(),
        status,
        item: item.map(|i| {
            if hidden {
                Value::String("(censored due to no_log)".into())
            } else {
                i
            }
        }),
        msg,
        rc: r.rc,
        stdout,
        stderr,
        diff,
        ignored,
        duration_ms: started.elapsed().as_millis() as u64,
        result: reg,
    })));
}

/// Emits, registers and counts one non-loop result; returns the registered value.
#[allow(clippy::too_many_arguments)]
pub(super) fn finish(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    scope: &JValue,
    r: ModuleResult,
    item: Option<Value>,
    started: Instant,
    hidden: bool,
) -> Value {
    let mut reg = result_json(&r, hidden);
    let (status, _failed, ignored) = judge(&shared.plan.templar, task, inh, scope, &r, &mut reg);
    emit_result(
        shared,
        state,
        task,
        scope,
        status,
        item,
        &r,
        ignored,
        started,
        hidden,
        reg.clone(),
    );
    account(shared, pc, state, task, inh, status, ignored, reg)
}

/// Counts the task, registers its result, queues handlers, and stops the host on failure.
#[allow(clippy::too_many_arguments)]
pub(super) fn account(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    status: Status,
    ignored: bool,
    reg: Value,
) -> Value {
    if let Some(name) = &task.register {
        let mut rt = (*state.runtime).clone();
        rt.insert(name.clone(), reg.clone());
        state.runtime = Arc::new(rt);
        publish(shared, state);
    }
    let changed = reg.get("changed").and_then(Value::as_bool) == Some(true);
    count(&mut state.counts, status, ignored, changed);
    if status == Status::Changed {
        super::blocks::notify(pc, &task.notify);
    }
    match status {
        Status::Unreachable if !ignored => {
            super::set_removed(shared, &state.name, true);
            state.stopped = true;
            shared.emit(RunEvent::HostStopped {
                host: state.name.clone(),
                reason: reg
                    .get("msg")
                    .and_then(Value::as_str)
                    .unwrap_or("unreachable")
                    .to_string(),
            });
            note_failure(shared, pc, state, task, inh);
            settle_failure(shared, pc);
        }
        Status::Failed if !ignored => {
            // Out of the play's hosts, unless a rescue takes it back.
            super::set_removed(shared, &state.name, true);
            pc.failed = true;
            pc.failure_is_mark = false;
            pc.last_failure = Some((failed_task_json(task), reg.clone()));
            note_failure(shared, pc, state, task, inh);
        }
        _ => {}
    }
    reg
}

/// The failed task as `ansible_failed_task` shows it: its main attributes, as written.
fn failed_task_json(task: &Task) -> Value {
    let mut m = Map::new();
    m.insert(
        "name".into(),
        task.common.name.clone().unwrap_or_default().into(),
    );
    m.insert("action".into(), task.module_written.clone().into());
    m.insert("args".into(), Value::Object(task.args.clone()));
    m.insert("tags".into(), Value::from(task.common.tags.clone()));
    m.insert(
        "when".into(),
        task.common.when.clone().unwrap_or(Value::Array(Vec::new())),
    );
    m.insert("notify".into(), Value::from(task.notify.clone()));
    m.insert(
        "register".into(),
        task.register.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "loop".into(),
        task.loop_items.clone().unwrap_or(Value::Null),
    );
    m.insert("vars".into(), Value::Object(task.common.vars.clone()));
    Value::Object(m)
}

/// Adds one task's outcome to a host's recap as 2.19's strategy does
/// (`_process_pending_results`): an ignored failure or unreachable counts as ok and ignored, and
/// an ignored failure that changed something (a failing `command`) as changed too.
fn count(c: &mut Counts, status: Status, ignored: bool, changed: bool) {
    match status {
        Status::Ok => c.ok += 1,
        Status::Changed => {
            c.ok += 1;
            c.changed += 1;
        }
        Status::Skipped => c.skipped += 1,
        Status::Failed if ignored => {
            c.ok += 1;
            c.ignored += 1;
            c.changed += u32::from(changed);
        }
        Status::Failed => {
            c.failed += 1;
        }
        Status::Unreachable if ignored => {
            c.ok += 1;
            c.ignored += 1;
        }
        Status::Unreachable => c.unreachable += 1,
    }
}

/// Whether `failed` hosts out of the batch's `hosts` exceed `max_fail_percentage`.
fn over_max_fail(max_fail_percentage: Option<f64>, failed: usize, hosts: usize) -> bool {
    max_fail_percentage.is_some_and(|pct| (failed as f64) * 100.0 / (hosts.max(1) as f64) > pct)
}

/// Notes whether a failure is fatal to the play (`any_errors_fatal`); it is settled once it
/// leaves its blocks, since a rescue or always section still runs first.
fn note_failure(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &HostState,
    task: &Task,
    inh: &Inherited,
) {
    let fatal = super::fatal::is_fatal(shared, pc, state, task, inh);
    // Under `linear` the others are marked failed at this step (`fatal`); under `free` the
    // play ends for all once the failure is not rescued.
    if fatal && pc.lockstep.is_some() {
        super::fatal::record(shared, pc, &state.name, false);
    } else {
        pc.fatal |= fatal;
    }
}

/// A failure that no rescue handled counts against the play: the play, and the run, end for
/// every host past `max_fail_percentage` (or on `any_errors_fatal` under `free`).
pub(super) fn settle_failure(shared: &Shared, pc: &mut PlayCtx<'_>) {
    let n = shared.failed_in_play.fetch_add(1, Ordering::SeqCst) + 1;
    let over_pct = over_max_fail(pc.play.max_fail_percentage, n, pc.play_hosts.len());
    if pc.fatal || over_pct {
        shared.abort_play.store(true, Ordering::SeqCst);
        shared.abort_run.store(true, Ordering::SeqCst);
    }
    pc.fatal = false;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{scope, task};
    use super::*;

    fn judged(
        task: &Task,
        inh: &Inherited,
        r: &ModuleResult,
        vars: serde_json::Value,
    ) -> (Status, bool, bool, Value) {
        let mut reg = result_json(r, false);
        let (s, f, i) = judge(&Templar::new(), task, inh, &scope(vars), r, &mut reg);
        (s, f, i, reg)
    }

    fn registered(module: &str, changed_when: Option<&str>, failed_when: Option<&str>) -> Task {
        let mut t = task(module);
        t.register = Some("out".into());
        t.changed_when = changed_when.map(|c| json!(c));
        t.failed_when = failed_when.map(|c| json!(c));
        t
    }

    fn rc(code: i32) -> ModuleResult {
        let mut r = ModuleResult::changed(true);
        r.rc = Some(code);
        r.stdout = Some("a\nb".into());
        r
    }

    #[test]
    fn registered_form_has_lines_and_hides_everything_under_no_log() {
        let r = rc(0);
        let reg = result_json(&r, false);
        assert_eq!(reg["stdout_lines"], json!(["a", "b"]));
        assert_eq!(reg["rc"], json!(0));
        assert_eq!(reg["changed"], json!(true));
        assert!(reg.get("skipped").is_none());
        let hidden = result_json(&r, true);
        assert_eq!(hidden["censored"], json!(CENSORED));
        assert!(hidden.get("stdout").is_none() && hidden.get("rc").is_none());
    }

    #[test]
    fn changed_when_reads_the_result_through_the_register_name() {
        let t = registered("command", Some("out.rc == 2"), None);
        let (s, failed, _, reg) = judged(&t, &Inherited::default(), &rc(0), json!({}));
        assert_eq!((s, failed), (Status::Ok, false));
        assert_eq!(reg["changed"], json!(false));
        let (s, ..) = judged(&t, &Inherited::default(), &rc(2), json!({}));
        assert_eq!(s, Status::Changed);
    }

    #[test]
    fn failed_when_true_fails_with_a_message_and_false_clears_a_failure() {
        let t = registered("command", None, Some("out.rc != 0 and limit > 0"));
        let (s, failed, ignored, reg) =
            judged(&t, &Inherited::default(), &rc(1), json!({"limit": 1}));
        assert_eq!((s, failed, ignored), (Status::Failed, true, false));
        assert_eq!(reg["msg"], json!("failed_when condition was true"));
        assert_eq!(reg["failed"], json!(true));
        let mut r = rc(0);
        r.failed = true;
        let (s, failed, ..) = judged(&t, &Inherited::default(), &r, json!({"limit": 1}));
        assert_eq!((s, failed), (Status::Changed, false));
    }

    #[test]
    fn a_condition_that_cannot_be_evaluated_fails_the_task() {
        let t = registered("command", Some("out.rc == undefined_thing"), None);
        let (s, failed, _, reg) = judged(&t, &Inherited::default(), &rc(0), json!({}));
        assert_eq!((s, failed), (Status::Failed, true));
        let msg = reg["msg"].as_str().unwrap_or_default();
        assert!(msg.starts_with("changed_when: "), "{msg}");
    }

    #[test]
    fn ignore_errors_is_inherited_and_the_task_can_override_it() {
        let inh = Inherited {
            ignore_errors: Some(json!(true)),
            ..Default::default()
        };
        let fail = ModuleResult::fail("boom");
        let (s, failed, ignored, _) = judged(&task("command"), &inh, &fail, json!({}));
        assert_eq!((s, failed, ignored), (Status::Failed, true, true));
        let mut t = task("command");
        t.common.ignore_errors = Some(json!(false));
        let (.., ignored, _) = judged(&t, &inh, &fail, json!({}));
        assert!(!ignored);
    }

    #[test]
    fn unreachable_and_skipped_are_not_judged_by_conditions() {
        let t = registered("command", Some("true"), Some("true"));
        let mut down = ModuleResult::fail("no route");
        down.extra.insert("unreachable".into(), true.into());
        let inh = Inherited {
            ignore_unreachable: Some(json!(true)),
            ..Default::default()
        };
        let (s, failed, ignored, _) = judged(&t, &inh, &down, json!({}));
        assert_eq!((s, failed, ignored), (Status::Unreachable, true, true));
        let mut skipped = ModuleResult::ok();
        skipped.skipped = true;
        let (s, failed, ..) = judged(&t, &Inherited::default(), &skipped, json!({}));
        assert_eq!((s, failed), (Status::Skipped, false));
    }

    #[test]
    fn recap_counts_ignored_failures_and_unreachables_as_ok_and_ignored() {
        let mut c = Counts::default();
        count(&mut c, Status::Changed, false, true);
        count(&mut c, Status::Failed, true, true);
        count(&mut c, Status::Unreachable, true, false);
        count(&mut c, Status::Failed, false, true);
        let want = Counts {
            ok: 3,
            changed: 2,
            failed: 1,
            ignored: 2,
            ..Default::default()
        };
        assert_eq!(c, want);
    }

    #[test]
    fn max_fail_percentage_is_exceeded_only_strictly() {
        assert!(!over_max_fail(None, 5, 5));
        assert!(!over_max_fail(Some(50.0), 1, 2), "50 % is not over 50 %");
        assert!(over_max_fail(Some(50.0), 2, 3));
        assert!(
            over_max_fail(Some(0.0), 1, 0),
            "an empty batch counts as one host"
        );
    }

    #[test]
    fn large_diffs_are_replaced_by_a_note() {
        let d = modules::Diff {
            before_header: "a".into(),
            after_header: "b".into(),
            before: "x".repeat(modules::MAX_DIFF_TEXT + 1),
            after: "small".into(),
        };
        let out = bounded_diffs(&[d]);
        assert_eq!(out[0].after, "small");
        assert_eq!(
            out[0].before,
            modules::Diff::not_shown((modules::MAX_DIFF_TEXT + 1) as u64)
        );
    }
}
