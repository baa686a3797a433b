//! What a task sees: keywords inherited from play and blocks, the variable layers in Ansible's
//! precedence order, `hostvars` and the magic variables, and keywords rendered through them.

use std::sync::Arc;

use minijinja::Value as JValue;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::{Map, Value};

use super::HostState;
use super::{PlayCtx, Shared};
use crate::engine::modules::{ModuleError, parse_bool};
use crate::engine::plan::RunRequest;
use crate::playbook::{Common, Play, Task};
use crate::template::{OMIT, Scope, TemplateError};

/// Inherited keywords along the block path down to a task.
#[derive(Clone, Default)]
pub(super) struct Inherited {
    pub(super) when: Vec<Value>,
    pub(super) r#become: Option<Value>,
    pub(super) become_user: Option<String>,
    pub(super) become_method: Option<String>,
    pub(super) vars: Vec<Arc<Map<String, Value>>>,
    pub(super) tags: Vec<String>,
    pub(super) ignore_errors: Option<Value>,
    pub(super) ignore_unreachable: Option<Value>,
    pub(super) no_log: Option<Value>,
    pub(super) environment: Vec<Value>,
    pub(super) check_mode: Option<Value>,
    pub(super) diff: Option<Value>,
    pub(super) any_errors_fatal: Option<Value>,
    pub(super) run_once: Option<Value>,
    pub(super) delegate_to: Option<String>,
    pub(super) delegate_facts: Option<Value>,
    /// `module_defaults` from the play down, outermost first.
    pub(super) module_defaults: Vec<Value>,
    /// The roles the task is inside, outermost first (a dependency sees its parents' vars).
    pub(super) roles: Vec<Arc<crate::playbook::Role>>,
}

impl Inherited {
    pub(super) fn with(&self, c: &Common) -> Self {
        let mut n = self.clone();
        if let Some(w) = &c.when {
            n.when.push(w.clone());
        }
        n.r#become = c.r#become.clone().or(n.r#become);
        n.become_user = c.become_user.clone().or(n.become_user);
        n.become_method = c.become_method.clone().or(n.become_method);
        if !c.vars.is_empty() {
            n.vars.push(Arc::new(c.vars.clone()));
        }
        n.tags.extend(c.tags.iter().cloned());
        n.ignore_errors = c.ignore_errors.clone().or(n.ignore_errors);
        n.ignore_unreachable = c.ignore_unreachable.clone().or(n.ignore_unreachable);
        n.no_log = c.no_log.clone().or(n.no_log);
        if let Some(e) = &c.environment {
            n.environment.push(e.clone());
        }
        n.check_mode = c.check_mode.clone().or(n.check_mode);
        n.diff = c.diff.clone().or(n.diff);
        n.any_errors_fatal = c.any_errors_fatal.clone().or(n.any_errors_fatal);
        n.run_once = c.run_once.clone().or(n.run_once);
        n.delegate_to = c.delegate_to.clone().or(n.delegate_to);
        n.delegate_facts = c.delegate_facts.clone().or(n.delegate_facts);
        if let Some(d) = &c.module_defaults {
            n.module_defaults.push(d.clone());
        }
        if let Some(r) = &c.role {
            n.roles.push(r.clone());
        }
        n
    }
}

/// `hostvars`: every host's variables, read live.
#[derive(Debug)]
struct HostVars {
    shared: Arc<SharedRef>,
}

/// A Debug-able handle for template objects.
struct SharedRef(Arc<Shared>);

impl std::fmt::Debug for SharedRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hostvars")
    }
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let host = key.as_str()?;
        let shared = &self.shared.0;
        let implicit = || shared.published.read().is_ok_and(|p| p.contains_key(host));
        if !shared.plan.inventory.hosts.contains_key(host) && !implicit() {
            return None;
        }
        let p = shared
            .published
            .read()
            .ok()
            .and_then(|p| p.get(host).cloned())
            .unwrap_or_default();
        let inv = Arc::new(super::delegate::host_vars(&shared.plan.inventory, host));
        let mut scope = Scope::new(shared.plan.templar.clone());
        // Runtime variables (registers, set_fact) are data, never templates.
        scope.literal_layers = vec![1];
        scope.layers = vec![
            shared.plan.extra.clone(),
            p.runtime,
            p.included,
            p.facts,
            inv,
            Arc::new(magic_for(shared, host)),
        ];
        scope.specials.push((
            "hostvars".into(),
            JValue::from_object(HostVars {
                shared: self.shared.clone(),
            }),
        ));
        Some(scope.into_value())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.shared
                .0
                .plan
                .inventory
                .hosts
                .keys()
                .map(|h| JValue::from(h.as_str()))
                .collect(),
        )
    }
}

fn magic_for(shared: &Shared, host: &str) -> Map<String, Value> {
    let plan = &shared.plan;
    let mut m = Map::new();
    m.insert("inventory_hostname".into(), host.into());
    m.insert(
        "inventory_hostname_short".into(),
        host.split('.').next().unwrap_or(host).into(),
    );
    let mut gn: Vec<String> = plan
        .inventory
        .groups_of(host)
        .into_iter()
        .filter(|g| g != "all")
        .collect();
    gn.sort();
    m.insert("group_names".into(), Value::from(gn));
    m.insert("groups".into(), Value::Object((*shared.groups).clone()));
    m.insert(
        "playbook_dir".into(),
        plan.playbook.dir.display().to_string().into(),
    );
    if let Some(inv) = &plan.request.inventory {
        m.insert("inventory_file".into(), inv.display().to_string().into());
        m.insert(
            "inventory_dir".into(),
            inv.parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
                .into(),
        );
    }
    m.insert("ansible_check_mode".into(), plan.request.check.into());
    m.insert("ansible_diff_mode".into(), plan.request.diff.into());
    m.insert("omit".into(), OMIT.into());
    m.insert(
        "ansible_run_tags".into(),
        Value::from(plan.request.tags.clone()),
    );
    m.insert(
        "ansible_skip_tags".into(),
        Value::from(plan.request.skip_tags.clone()),
    );
    let mut ver = Map::new();
    ver.insert("full".into(), "2.16.0".into());
    ver.insert(
        "string".into(),
        format!("slm-wizard {}", env!("CARGO_PKG_VERSION")).into(),
    );
    m.insert("ansible_version".into(), Value::Object(ver));
    m
}

/// Facts as `ansible_facts` plus, when `inject` (ansible.cfg's `inject_facts_as_vars`, default
/// true), the `ansible_*` aliases.
pub(super) fn facts_layer(facts: &Map<String, Value>, inject: bool) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in facts.iter().filter(|_| inject) {
        m.insert(format!("ansible_{k}"), v.clone());
    }
    m.insert("ansible_facts".into(), Value::Object(facts.clone()));
    m
}

/// What every task of a play inherits from the play's own keywords.
pub(super) fn play_base(play: &Play) -> Inherited {
    Inherited::default().with(&Common {
        when: None,
        name: None,
        vars: Map::new(),
        ..play.common.clone()
    })
}

/// Tag selection as Ansible does it (`always`, `never`, `all`).
pub fn selected_by_tags(req: &RunRequest, tags: &[String]) -> bool {
    let has = |t: &str| tags.iter().any(|x| x == t);
    if req.skip_tags.iter().any(|s| has(s) || (s == "all")) {
        return false;
    }
    if has("never") && !req.tags.iter().any(|t| has(t) && t != "always") {
        return false;
    }
    if req.tags.is_empty() || req.tags.iter().any(|t| t == "all") {
        return true;
    }
    has("always")
        || req.tags.iter().any(|t| {
            has(t) || (t == "tagged" && !tags.is_empty()) || (t == "untagged" && tags.is_empty())
        })
}

pub(super) fn build_scope(
    shared: &Arc<Shared>,
    pc: &PlayCtx<'_>,
    state: &HostState,
    inh: &Inherited,
    task: &Task,
    loop_layer: Option<Arc<Map<String, Value>>>,
) -> JValue {
    let mut scope = Scope::new(shared.plan.templar.clone());
    // Ansible's precedence, highest first: extra vars, role params, set_fact/register, task and
    // block vars, the task's roles' vars, the play's roles' vars, vars_files, play vars, facts,
    // inventory, the task's roles' defaults, the play's roles' defaults.
    let roles = &inh.roles;
    scope.layers.push(shared.plan.extra.clone());
    if let Some(r) = roles.last() {
        let mut m = Map::new();
        m.insert("role_name".into(), r.name.clone().into());
        m.insert("ansible_role_name".into(), r.name.clone().into());
        m.insert("role_path".into(), r.path.display().to_string().into());
        scope.layers.push(Arc::new(m));
    }
    for r in roles.iter().rev().filter(|r| !r.params.is_empty()) {
        scope.layers.push(r.params.clone());
    }
    scope.literal_layers.push(scope.layers.len());
    scope.layers.push(state.runtime.clone());
    // include_vars sits just below set_fact/register (ansible-core's VariableManager merges
    // its vars cache, then the non-persistent facts).
    if !state.included.is_empty() {
        scope.layers.push(state.included.clone());
    }
    if let Some(l) = loop_layer {
        scope.layers.push(l);
    }
    if !task.common.vars.is_empty() {
        scope.layers.push(Arc::new(task.common.vars.clone()));
    }
    for v in inh.vars.iter().rev() {
        scope.layers.push(v.clone());
    }
    for r in roles.iter().rev() {
        scope.layers.push(r.entry_vars.clone());
        scope.layers.push(r.vars.clone());
    }
    // Roles of `include_role … public: true`, the last included highest, above the static ones.
    let public = public_roles(shared, pc);
    for r in public.iter().rev() {
        scope.layers.push(r.vars.clone());
    }
    if !pc.play.role_vars.is_empty() {
        scope.layers.push(pc.play.role_vars.clone());
    }
    scope.layers.push(pc.vars_files.clone());
    if !pc.play_literal.is_empty() {
        scope.literal_layers.push(scope.layers.len());
        scope.layers.push(pc.play_literal.clone());
    }
    scope.layers.push(pc.play_vars.clone());
    scope.layers.push(state.facts.clone());
    scope.layers.push(state.inventory_vars.clone());
    for r in roles.iter().rev() {
        scope.layers.push(r.defaults.clone());
    }
    for r in public.iter().rev() {
        scope.layers.push(r.defaults.clone());
    }
    if !pc.play.role_defaults.is_empty() {
        scope.layers.push(pc.play.role_defaults.clone());
    }
    let mut magic = magic_for(shared, &state.name);
    // Ansible's: the play's hosts, and those and the batch's without the hosts that failed,
    // became unreachable or ended so far.
    let (all, batch) = {
        let removed = shared.removed.lock().unwrap_or_else(|e| e.into_inner());
        let active = |hosts: &[String]| -> Value {
            Value::from(
                hosts
                    .iter()
                    .filter(|h| !removed.contains(*h))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        };
        (active(&pc.play_hosts_all), active(&pc.play_hosts))
    };
    magic.insert(
        "ansible_play_hosts_all".into(),
        Value::from(pc.play_hosts_all.as_ref().clone()),
    );
    magic.insert("ansible_play_hosts".into(), all);
    magic.insert("ansible_play_batch".into(), batch.clone());
    magic.insert("play_hosts".into(), batch);
    scope.layers.push(Arc::new(magic));
    scope.specials.push((
        "hostvars".into(),
        JValue::from_object(HostVars {
            shared: Arc::new(SharedRef(shared.clone())),
        }),
    ));
    scope.lookup_ctx = Some(Arc::new(super::loops::lookup_context(shared, roles, task)));
    scope.into_value()
}

fn template_err(e: TemplateError) -> ModuleError {
    ModuleError::Args(e.msg)
}

/// Reads one variable through the scope (templated), as JSON.
pub(super) fn var(scope: &JValue, name: &str) -> Option<Value> {
    let v = scope.get_attr(name).ok()?;
    if v.is_undefined() {
        return None;
    }
    crate::template::to_json(&v).ok()
}

pub(super) fn var_str(scope: &JValue, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match var(scope, n)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

pub(super) fn render_plain(
    t: &crate::template::Templar,
    scope: &JValue,
    s: &str,
) -> Result<String, ModuleError> {
    if !crate::template::is_template(s) {
        return Ok(s.to_string());
    }
    match t.render_str(s, scope).map_err(template_err)? {
        Value::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

pub(super) fn no_log(shared: &Shared, inh: &Inherited, task: &Task, scope: &JValue) -> bool {
    let v = task.common.no_log.clone().or(inh.no_log.clone());
    match v {
        None => false,
        Some(v) => shared
            .plan
            .templar
            .render_value(&v, scope)
            .ok()
            .as_ref()
            .and_then(parse_bool)
            .unwrap_or(true),
    }
}

/// A boolean keyword, the task's own or else the inherited one, rendered: Ok(None) when
/// neither sets it, Err(message) when it is not a boolean.
pub(super) fn flag(
    templar: &crate::template::Templar,
    kw: &str,
    own: &Option<Value>,
    inherited: &Option<Value>,
    scope: &JValue,
) -> Result<Option<bool>, String> {
    let Some(v) = own.as_ref().or(inherited.as_ref()) else {
        return Ok(None);
    };
    if let Value::Bool(b) = v {
        return Ok(Some(*b));
    }
    let rendered = templar
        .render_value(v, scope)
        .map_err(|e| format!("{kw}: {}", e.msg))?;
    parse_bool(&rendered).map(Some).ok_or_else(|| {
        format!(
            "{kw}: {} is not a boolean (true/false, yes/no)",
            super::task::short(&rendered.to_string())
        )
    })
}

pub(super) fn bool_kw(shared: &Shared, v: &Option<Value>, scope: &JValue) -> Option<bool> {
    let v = v.as_ref()?;
    shared
        .plan
        .templar
        .render_value(v, scope)
        .ok()
        .as_ref()
        .and_then(parse_bool)
}

/// The roles `include_role … public: true` exported to this play so far (include order).
fn public_roles(shared: &Shared, pc: &PlayCtx<'_>) -> Vec<Arc<crate::playbook::Role>> {
    let public = shared
        .public_roles
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    public
        .iter()
        .filter(|(p, _)| *p == pc.play_idx)
        .map(|(_, r)| r.clone())
        .collect()
}

/// Secret-named variables whose values are templates (`x_password: "{{ a ~ b }}"`, a lookup, a
/// nested `users[0].password`) are known only once rendered: render them for this host and
/// register the result before anything of the task is shown.
pub(super) fn register_templated_secrets(
    shared: &Shared,
    pc: &PlayCtx<'_>,
    state: &HostState,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
) {
    let mut layers: Vec<&Map<String, Value>> = vec![
        &shared.plan.extra,
        &task.common.vars,
        &pc.vars_files,
        &pc.play_vars,
        &state.inventory_vars,
    ];
    layers.extend(inh.vars.iter().map(|v| v.as_ref()));
    for r in &inh.roles {
        layers.extend([&*r.defaults, &*r.vars, &*r.entry_vars, &*r.params]);
    }
    layers.extend([&*pc.play.role_defaults, &*pc.play.role_vars]);
    let public = public_roles(shared, pc);
    for r in &public {
        layers.extend([&*r.defaults, &*r.vars]);
    }
    for vars in layers {
        for (k, v) in vars {
            if holds_templated_secret(k, v)
                && let Some(rendered) = var(scope, k)
            {
                let mut m = Map::new();
                m.insert(k.clone(), rendered);
                shared.plan.redactor.add_named_map(&m, &|_| false);
            }
        }
    }
}

/// Whether a secret-named value under `k` (at any depth) is a template.
fn holds_templated_secret(k: &str, v: &Value) -> bool {
    match v {
        Value::String(s) => crate::secrets::is_secret_name(k) && crate::template::is_template(s),
        Value::Array(items) => items.iter().any(|x| holds_templated_secret(k, x)),
        Value::Object(m) => m.iter().any(|(k2, v2)| {
            holds_templated_secret(k2, v2)
                || (crate::secrets::is_secret_name(k) && holds_templated_secret(k, v2))
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::Templar;

    fn common(v: Value) -> Common {
        let m = v.as_object().cloned().unwrap_or_default();
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let b = |k: &str| m.get(k).filter(|v| v.is_boolean()).cloned();
        Common {
            when: m.get("when").cloned(),
            r#become: b("become"),
            become_user: s("become_user"),
            become_method: s("become_method"),
            vars: m
                .get("vars")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            tags: m
                .get("tags")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            ignore_errors: b("ignore_errors"),
            run_once: b("run_once"),
            ..Default::default()
        }
    }

    #[test]
    fn block_keywords_reach_the_task_and_inner_ones_win() {
        let play = common(
            json!({"become": true, "become_user": "postgres", "tags": ["db"],
                                 "ignore_errors": true, "vars": {"a": 1}}),
        );
        let block = common(
            json!({"when": "x", "become_user": "app", "tags": ["schema"],
                                  "vars": {"a": 2}, "ignore_errors": false}),
        );
        let inner = common(json!({"when": "y", "run_once": true}));
        let inh = Inherited::default().with(&play).with(&block).with(&inner);
        assert_eq!(inh.r#become, Some(json!(true)), "kept from the play");
        assert_eq!(inh.become_user.as_deref(), Some("app"), "the block's wins");
        assert_eq!(
            inh.ignore_errors,
            Some(json!(false)),
            "an explicit false overrides"
        );
        assert_eq!(inh.run_once, Some(json!(true)));
        // Conditions and tags accumulate outermost first; vars stack (innermost last).
        assert_eq!(inh.when, vec![json!("x"), json!("y")]);
        assert_eq!(inh.tags, vec!["db", "schema"]);
        let vars: Vec<&Value> = inh.vars.iter().map(|v| &v["a"]).collect();
        assert_eq!(vars, vec![&json!(1), &json!(2)]);
    }

    #[test]
    fn play_base_leaves_when_name_and_vars_to_the_play() {
        let mut play: Play = crate::playbook::Play {
            common: common(json!({"when": "never_inherited", "become": true,
                                  "vars": {"v": 1}, "tags": ["t"]})),
            ..play_stub()
        };
        play.common.name = Some("the play".into());
        let base = play_base(&play);
        assert!(base.when.is_empty());
        assert!(base.vars.is_empty(), "play vars are their own scope layer");
        assert_eq!(base.r#become, Some(json!(true)));
        assert_eq!(base.tags, vec!["t"]);
    }

    fn play_stub() -> Play {
        crate::playbook::Play {
            pos: Default::default(),
            hosts: "all".into(),
            common: Common::default(),
            vars_pos: Default::default(),
            gather_facts: false,
            gather_facts_given: true,
            vars_files: Vec::new(),
            vars_prompt: Vec::new(),
            pre_tasks: Vec::new(),
            tasks: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
            serial: None,
            max_fail_percentage: None,
            strategy: None,
            role_defaults: Default::default(),
            role_vars: Default::default(),
        }
    }

    fn req(tags: &[&str], skip: &[&str]) -> RunRequest {
        RunRequest {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            skip_tags: skip.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    fn sel(r: &RunRequest, tags: &[&str]) -> bool {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        selected_by_tags(r, &tags)
    }

    #[test]
    fn tag_selection_follows_ansible() {
        let all = req(&[], &[]);
        assert!(sel(&all, &[]) && sel(&all, &["x"]));
        assert!(!sel(&all, &["never"]), "never runs only when asked for");
        let x = req(&["x"], &[]);
        assert!(sel(&x, &["x"]) && sel(&x, &["always"]));
        assert!(!sel(&x, &["y"]) && !sel(&x, &[]));
        assert!(sel(&x, &["never", "x"]));
        assert!(sel(&req(&["tagged"], &[]), &["y"]) && !sel(&req(&["tagged"], &[]), &[]));
        assert!(sel(&req(&["untagged"], &[]), &[]) && !sel(&req(&["untagged"], &[]), &["y"]));
        assert!(
            !sel(&req(&[], &["x"]), &["x", "always"]),
            "skip beats always"
        );
        assert!(!sel(&req(&[], &["all"]), &[]));
    }

    #[test]
    fn templated_secrets_are_found_at_any_depth() {
        assert!(holds_templated_secret("db_password", &json!("{{ a ~ b }}")));
        assert!(!holds_templated_secret("db_password", &json!("literal")));
        assert!(!holds_templated_secret("db_name", &json!("{{ a }}")));
        assert!(holds_templated_secret(
            "users",
            &json!([{"name": "x", "password": "{{ lookup('env', 'P') }}"}])
        ));
        assert!(holds_templated_secret(
            "api_token",
            &json!({"v": "{{ t }}"})
        ));
    }

    #[test]
    fn render_plain_renders_only_templates() {
        let t = Templar::new();
        let s = super::super::testutil::scope(json!({"who": "postgres", "n": 5}));
        assert_eq!(render_plain(&t, &s, "root").ok().as_deref(), Some("root"));
        assert_eq!(
            render_plain(&t, &s, "{{ who }}").ok().as_deref(),
            Some("postgres")
        );
        assert_eq!(render_plain(&t, &s, "{{ n }}").ok().as_deref(), Some("5"));
        assert!(render_plain(&t, &s, "{{ missing }}").is_err());
    }

    #[test]
    fn facts_appear_as_ansible_aliases_and_under_ansible_facts() {
        let facts = json!({"os_family": "Debian"});
        let layer = facts_layer(facts.as_object().unwrap_or(&Map::new()), true);
        assert_eq!(layer["ansible_os_family"], json!("Debian"));
        assert_eq!(layer["ansible_facts"], facts);
    }
}
