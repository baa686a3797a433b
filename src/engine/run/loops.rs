//! A task's loop: its items (`loop` rendered, or a `with_<lookup>` run on its rendered terms), the
//! variables each item adds (`loop_control`), the items run one after the other, and what the
//! loop registers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use minijinja::Value as JValue;
use serde_json::{Map, Value, json};

use super::judge::{CENSORED, account, emit_result, judge, result_json};
use super::scope::{Inherited, build_scope};
use super::task::{run_once_item, short};
use super::{HostState, PlayCtx, Shared};
use crate::engine::events::Status;
use crate::engine::modules::ModuleResult;
use crate::playbook::Task;
use crate::template::Templar;
use crate::template::lookups as loop_lookups;

/// The task's loop items: `loop` rendered (None without a loop, an empty list for null;
/// Err(message) when it is not a list), or `with_<lookup>` run on its rendered terms.
pub(super) fn loop_items(
    templar: &Templar,
    task: &Task,
    scope: &JValue,
    ctx: &loop_lookups::Context,
) -> Result<Option<Vec<Value>>, String> {
    let Some(spec) = &task.loop_items else {
        return Ok(None);
    };
    if let Some(name) = &task.loop_with {
        // As Ansible's TaskExecutor: a text value is stripped and rendered, and whatever is not a
        // list becomes the one term.
        let spec = match spec {
            Value::String(s) => Value::String(s.trim().to_string()),
            other => other.clone(),
        };
        let rendered = if name == "first_found" && !spec.is_string() {
            // with_first_found leaves out the terms that are undefined (2.19's _recurse_terms).
            render_defined(templar, &spec, scope)
                .map_err(|e| e.msg)?
                .unwrap_or(Value::Null)
        } else {
            templar.render_value(&spec, scope).map_err(|e| e.msg)?
        };
        let terms = match rendered {
            Value::Array(terms) => terms,
            other => vec![other],
        };
        return loop_lookups::items(name, terms, ctx, templar, scope).map(Some);
    }
    match templar.render_value(spec, scope) {
        Ok(Value::Array(items)) => Ok(Some(items)),
        Ok(Value::Null) => Ok(Some(Vec::new())),
        Ok(other) => Err(format!(
            "loop must be a list, got {}",
            short(&other.to_string())
        )),
        Err(e) => Err(e.msg),
    }
}

/// The value rendered with what renders to undefined left out of lists and mappings (None: the
/// value itself is undefined).
fn render_defined(
    templar: &Templar,
    v: &Value,
    scope: &JValue,
) -> Result<Option<Value>, crate::template::TemplateError> {
    match v {
        Value::Array(a) => {
            let mut out = Vec::new();
            for x in a {
                out.extend(render_defined(templar, x, scope)?);
            }
            Ok(Some(Value::Array(out)))
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                if let Some(r) = render_defined(templar, x, scope)? {
                    out.insert(k.clone(), r);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        other => match templar.render_value(other, scope) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.undefined => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// Where the task's lookups look: as Ansible's `ansible_search_path`, the directories of the
/// roles the task is in (innermost first), its file's directory, then the playbook's.
pub(super) fn lookup_context(
    shared: &Shared,
    roles: &[Arc<crate::playbook::Role>],
    task: &Task,
) -> loop_lookups::Context {
    let playbook_dir = &shared.plan.playbook.dir;
    let mut search_path: Vec<PathBuf> = roles.iter().rev().map(|r| r.path.clone()).collect();
    search_path.extend(search_path_of(task, playbook_dir));
    search_path.dedup();
    loop_lookups::Context {
        search_path,
        basedir: playbook_dir.clone(),
        module: task.module_written.clone(),
        redactor: Some(shared.plan.redactor.clone()),
    }
}

/// The task's file's directory, then the playbook's.
fn search_path_of(task: &Task, playbook_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = task.pos.file.parent()
        && !dir.as_os_str().is_empty()
    {
        out.push(dir.to_path_buf());
    }
    if !out.iter().any(|d| d == playbook_dir) {
        out.push(playbook_dir.to_path_buf());
    }
    out
}

/// Runs the task once per item, emitting each item's result, then counts the task once (as
/// Ansible's recap does) with the items' results under `results`. Returns the registered value;
/// None when an item's run gave no result.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_loop(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    scope: &JValue,
    items: &[Value],
    hidden: bool,
) -> Option<Value> {
    for it in items {
        shared.plan.redactor.add_named(it, &|_| false);
    }
    let mut tally = LoopTally::new(items.len());
    let pause = loop_pause(&shared.plan.templar, task, scope);
    for (i, item) in items.iter().enumerate() {
        if i > 0 && pause > 0.0 {
            // In slices, so that a cancelled run does not wait out the pause.
            let until = Instant::now() + std::time::Duration::from_secs_f64(pause.min(86_400.0));
            while Instant::now() < until && !shared.cancel.is_cancelled() {
                let left = until.saturating_duration_since(Instant::now());
                tokio::time::sleep(left.min(std::time::Duration::from_millis(100))).await;
            }
        }
        if state.stopped || shared.cancel.is_cancelled() {
            break;
        }
        let layer = loop_layer(task, items, i);
        let item_scope = build_scope(shared, pc, state, inh, task, Some(Arc::new(layer)));
        let label = loop_label(&shared.plan.templar, task, &item_scope, item);
        let item_started = Instant::now();
        let r = run_once_item(shared, pc, state, task, inh, &item_scope, hidden).await?;
        let mut reg = item_result_json(task, item, i, &r, hidden);
        let (status, failed, ignored) =
            judge(&shared.plan.templar, task, inh, &item_scope, &r, &mut reg);
        tally.add(&r, failed && !ignored);
        emit_result(
            shared,
            state,
            task,
            scope,
            status,
            Some(label),
            &r,
            ignored,
            item_started,
            hidden,
            reg.clone(),
        );
        tally.results.push(reg);
    }
    let status = tally.status();
    let reg = tally.register(hidden);
    Some(account(shared, pc, state, task, inh, status, false, reg))
}

/// The variables item `i` adds: the loop variable, `ansible_loop_var`, the index variable
/// (`loop_control.index_var`) and `ansible_loop` with Ansible's `extended` fields.
pub(super) fn loop_layer(task: &Task, items: &[Value], i: usize) -> Map<String, Value> {
    let len = items.len();
    let mut layer = Map::new();
    layer.insert(task.loop_var.clone(), items[i].clone());
    layer.insert("ansible_loop_var".into(), task.loop_var.clone().into());
    if let Some(iv) = &task.loop_index_var {
        layer.insert(iv.clone(), i.into());
        layer.insert("ansible_index_var".into(), iv.clone().into());
    }
    let mut lp = Map::new();
    lp.insert("index".into(), (i + 1).into());
    lp.insert("index0".into(), i.into());
    lp.insert("first".into(), (i == 0).into());
    lp.insert("last".into(), (i + 1 == len).into());
    lp.insert("length".into(), len.into());
    lp.insert("revindex".into(), (len - i).into());
    lp.insert("revindex0".into(), (len - i - 1).into());
    if task.loop_allitems {
        lp.insert("allitems".into(), Value::Array(items.to_vec()));
    }
    if let Some(next) = items.get(i + 1) {
        lp.insert("nextitem".into(), next.clone());
    }
    if let Some(prev) = i.checked_sub(1).and_then(|p| items.get(p)) {
        lp.insert("previtem".into(), prev.clone());
    }
    layer.insert("ansible_loop".into(), Value::Object(lp));
    layer
}

/// `loop_control.pause` in seconds (0 when unset or not a number).
fn loop_pause(templar: &Templar, task: &Task, scope: &JValue) -> f64 {
    let Some(p) = &task.loop_pause else {
        return 0.0;
    };
    match templar.render_value(p, scope) {
        Ok(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Ok(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
    .max(0.0)
}

/// How an item is shown: `loop_control.label` rendered, else the item itself (also when the
/// label fails to render).
fn loop_label(templar: &Templar, task: &Task, item_scope: &JValue, item: &Value) -> Value {
    match &task.loop_label {
        Some(l) => templar
            .render_value(l, item_scope)
            .unwrap_or_else(|_| item.clone()),
        None => item.clone(),
    }
}

/// One item's registered result: the module's, plus the item under the loop variable's name.
fn item_result_json(
    task: &Task,
    item: &Value,
    index: usize,
    r: &ModuleResult,
    hidden: bool,
) -> Value {
    let mut reg = result_json(r, hidden);
    if let Value::Object(m) = &mut reg {
        m.insert(
            task.loop_var.clone(),
            if hidden {
                Value::String(CENSORED.into())
            } else {
                item.clone()
            },
        );
        m.insert("ansible_loop_var".into(), task.loop_var.clone().into());
        if let Some(iv) = &task.loop_index_var {
            m.insert(iv.clone(), index.into());
            m.insert("ansible_index_var".into(), iv.clone().into());
        }
    }
    reg
}

/// What a loop's items add up to.
struct LoopTally {
    /// How many items the loop has (not how many ran).
    items: usize,
    results: Vec<Value>,
    any_changed: bool,
    /// An item failed and was not ignored.
    any_failed: bool,
    all_skipped: bool,
}

impl LoopTally {
    fn new(items: usize) -> Self {
        Self {
            items,
            results: Vec::new(),
            any_changed: false,
            any_failed: false,
            all_skipped: items > 0,
        }
    }

    fn add(&mut self, r: &ModuleResult, failed_not_ignored: bool) {
        self.any_changed |= r.changed;
        self.all_skipped &= r.skipped;
        self.any_failed |= failed_not_ignored;
    }

    /// The status the task is counted with: skipped when the loop is empty or every item was.
    fn status(&self) -> Status {
        if self.items == 0 || self.all_skipped {
            Status::Skipped
        } else if self.any_failed {
            Status::Failed
        } else if self.any_changed {
            Status::Changed
        } else {
            Status::Ok
        }
    }

    /// The loop's registered result: `results` and Ansible's summary `msg`.
    fn register(self, hidden: bool) -> Value {
        if self.items == 0 {
            // What ansible-core 2.19 registers for a loop with no items.
            return json!({
                "changed": false,
                "results": [],
                "skipped": true,
                "skipped_reason": "No items in the list",
            });
        }
        let mut agg = ModuleResult::changed(self.any_changed);
        agg.failed = self.any_failed;
        agg.skipped = self.all_skipped;
        let mut reg = result_json(&agg, hidden);
        if let Value::Object(m) = &mut reg {
            m.insert("results".into(), Value::Array(self.results));
            m.insert(
                "msg".into(),
                Value::String(if self.any_failed {
                    "One or more items failed".into()
                } else {
                    "All items completed".into()
                }),
            );
        }
        reg
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{scope, task};
    use super::*;

    fn looping(spec: Value) -> Task {
        let mut t = task("command");
        t.loop_items = Some(spec);
        t
    }

    #[test]
    fn loop_spec_renders_to_items_null_to_none_and_text_is_refused() {
        let t = Templar::new();
        let s = scope(json!({"dbs": ["slm", "slm_users"], "nothing": null}));
        assert_eq!(
            loop_items(&t, &task("command"), &s, &loop_lookups::Context::here()),
            Ok(None)
        );
        assert_eq!(
            loop_items(
                &t,
                &looping(json!("{{ dbs }}")),
                &s,
                &loop_lookups::Context::here()
            ),
            Ok(Some(vec![json!("slm"), json!("slm_users")]))
        );
        assert_eq!(
            loop_items(
                &t,
                &looping(json!("{{ nothing }}")),
                &s,
                &loop_lookups::Context::here()
            ),
            Ok(Some(Vec::new()))
        );
        let err = loop_items(
            &t,
            &looping(json!("a string")),
            &s,
            &loop_lookups::Context::here(),
        )
        .err()
        .unwrap_or_default();
        assert_eq!(err, "loop must be a list, got \"a string\"");
        assert!(
            loop_items(
                &t,
                &looping(json!("{{ undefined_x }}")),
                &s,
                &loop_lookups::Context::here()
            )
            .is_err()
        );
    }

    #[test]
    fn loop_layer_has_the_item_and_ansible_loop() {
        let mut t = task("command");
        t.loop_var = "db".into();
        t.loop_index_var = Some("n".into());
        let items = [json!(1), json!(2), json!("slm")];
        let layer = loop_layer(&t, &items, 2);
        assert_eq!(layer["db"], json!("slm"));
        assert_eq!(layer["ansible_loop_var"], json!("db"));
        assert_eq!(layer["n"], json!(2));
        assert_eq!(layer["ansible_index_var"], json!("n"));
        assert_eq!(
            layer["ansible_loop"],
            json!({"index": 3, "index0": 2, "first": false, "last": true, "length": 3,
                   "revindex": 1, "revindex0": 0, "allitems": [1, 2, "slm"], "previtem": 2})
        );
        assert_eq!(
            loop_layer(&t, &items, 0)["ansible_loop"]["first"],
            json!(true)
        );
        assert_eq!(
            loop_layer(&t, &items, 0)["ansible_loop"]["nextitem"],
            json!(2)
        );
        t.loop_allitems = false;
        assert!(
            loop_layer(&t, &items, 0)["ansible_loop"]
                .get("allitems")
                .is_none()
        );
    }

    #[test]
    fn item_label_is_rendered_and_falls_back_to_the_item() {
        let tp = Templar::new();
        let item = json!({"name": "slm", "password": "x"});
        let s = scope(json!({"item": item.clone()}));
        assert_eq!(loop_label(&tp, &task("command"), &s, &item), item);
        let mut t = task("command");
        t.loop_label = Some(json!("{{ item.name }}"));
        assert_eq!(loop_label(&tp, &t, &s, &item), json!("slm"));
        t.loop_label = Some(json!("{{ item.missing.deeper }}"));
        assert_eq!(loop_label(&tp, &t, &s, &item), item);
    }

    #[test]
    fn item_result_carries_the_item_unless_hidden() {
        let t = task("command");
        let reg = item_result_json(&t, &json!("slm"), 0, &ModuleResult::ok(), false);
        assert_eq!(reg["item"], json!("slm"));
        assert_eq!(reg["ansible_loop_var"], json!("item"));
        let reg = item_result_json(&t, &json!("secret"), 0, &ModuleResult::ok(), true);
        assert_eq!(reg["item"], json!(CENSORED));
    }

    fn skipped() -> ModuleResult {
        let mut r = ModuleResult::ok();
        r.skipped = true;
        r
    }

    #[test]
    fn loop_tally_status_and_registered_summary() {
        assert_eq!(LoopTally::new(0).status(), Status::Skipped);
        let empty = LoopTally::new(0).register(false);
        assert_eq!(empty["skipped_reason"], json!("No items in the list"));
        assert_eq!(empty["skipped"], json!(true));
        let mut all_skipped = LoopTally::new(2);
        all_skipped.add(&skipped(), false);
        all_skipped.add(&skipped(), false);
        assert_eq!(all_skipped.status(), Status::Skipped);
        let mut mixed = LoopTally::new(3);
        mixed.add(&skipped(), false);
        mixed.add(&ModuleResult::changed(true), false);
        assert_eq!(mixed.status(), Status::Changed);
        mixed.add(&ModuleResult::fail("x"), true);
        assert_eq!(mixed.status(), Status::Failed);
        mixed.results.push(json!({"item": 1}));
        let reg = mixed.register(false);
        assert_eq!(reg["msg"], json!("One or more items failed"));
        assert_eq!(reg["results"], json!([{"item": 1}]));
        assert_eq!(
            (&reg["changed"], &reg["failed"]),
            (&json!(true), &json!(true))
        );
        // An ignored failure does not fail the loop.
        let mut ok = LoopTally::new(1);
        ok.add(&ModuleResult::fail("ignored"), false);
        assert_eq!(ok.status(), Status::Ok);
        assert_eq!(ok.register(false)["msg"], json!("All items completed"));
    }
}
