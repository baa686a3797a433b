//! Jinja2 templating as Ansible does it, on minijinja: strict undefined, lazy variables (a
//! variable may itself be a template), native values for `"{{ expr }}"`, and Ansible's filters.

pub mod filters;
pub mod literals;
pub mod lookups;
pub mod syntax;

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value as JValue};
use serde_json::{Map, Value};

use literals::Escapes;

/// The placeholder `omit` renders to; a module argument equal to it is dropped.
pub const OMIT: &str = "__omit_place_holder__slm_wizard__";

#[derive(Debug, Clone, thiserror::Error)]
#[error("{msg}")]
pub struct TemplateError {
    pub msg: String,
    /// The template used an undefined variable or attribute (`with_first_found` leaves such
    /// terms out, as Ansible does).
    pub undefined: bool,
    /// The template names a filter, test or lookup the engine does not have (ansible-playbook
    /// may still run it).
    pub unknown_name: bool,
}

impl TemplateError {
    fn new(msg: impl Into<String>) -> Self {
        Self {
            msg: msg.into(),
            undefined: false,
            unknown_name: false,
        }
    }

    fn new_undefined(msg: impl Into<String>) -> Self {
        Self {
            msg: msg.into(),
            undefined: true,
            unknown_name: false,
        }
    }
}

/// The shared template environment.
#[derive(Clone)]
pub struct Templar {
    env: Arc<Environment<'static>>,
}

impl std::fmt::Debug for Templar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templar")
    }
}

impl Default for Templar {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    /// Depth of nested variable templating; a variable that refers to itself would loop forever.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}
const MAX_DEPTH: usize = 64;

pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

impl Templar {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax.trim_blocks(true).keep_trailing_newline(true);
        if let Ok(s) = syntax.build() {
            env.set_syntax(s);
        }
        filters::register(&mut env);
        // Python's str/dict/list methods (`.split()`, `.get()`, `.items()`, `.format()` …).
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("lookup", lookup);
        env.add_function("query", query);
        env.add_function("q", query);
        Self { env: Arc::new(env) }
    }

    /// Templates every string inside `value` (keys included), with `scope` as the variables.
    pub fn render_value(&self, value: &Value, scope: &JValue) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(s) => self.render_str(s, scope)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_value(v, scope))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let key = if is_template(k) {
                        match self.render_str(k, scope)? {
                            Value::String(s) => s,
                            other => other.to_string(),
                        }
                    } else {
                        k.clone()
                    };
                    out.insert(key, self.render_value(v, scope)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// Templates one string. A string that is exactly one `{{ expression }}` keeps the
    /// expression's type (a list stays a list), as Ansible does.
    pub fn render_str(&self, s: &str, scope: &JValue) -> Result<Value, TemplateError> {
        if !is_template(s) {
            return Ok(Value::String(s.to_string()));
        }
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let result = if depth > MAX_DEPTH {
            Err(TemplateError::new(format!(
                "recursive loop detected in template string: {s}"
            )))
        } else {
            self.render_str_inner(s, scope)
        };
        DEPTH.with(|d| d.set(d.get() - 1));
        result
    }

    /// Evaluates a bare expression as Ansible's `evaluate_expression` does (debug's `var:`): its
    /// literals read with Python's escapes (Jinja2 compiles it without a `{{`, so Ansible's
    /// `escape_backslashes` never applies).
    pub fn eval_expression(&self, expr: &str, scope: &JValue) -> Result<Value, TemplateError> {
        self.eval_single(expr, expr, Escapes::Python, scope)
    }

    fn render_str_inner(&self, s: &str, scope: &JValue) -> Result<Value, TemplateError> {
        if let Some(expr) = single_expression(s) {
            let value = self.eval_single(expr, s, Escapes::Inline, scope)?;
            // "{{ x }}\n" keeps its newline when the result is text, as Jinja2 renders it.
            let tail = &s[s.trim_end_matches('\n').len()..];
            return Ok(match value {
                Value::String(text) if !tail.is_empty() => Value::String(text + tail),
                other => other,
            });
        }
        self.env
            .render_str(&syntax::rewrite(s, false, Escapes::Inline), scope.clone())
            .map(Value::String)
            .map_err(|e| self.describe(e, s, scope))
    }

    /// One expression `expr` (the inside of template `s`, or `s` itself), keeping its type.
    fn eval_single(
        &self,
        expr: &str,
        s: &str,
        escapes: Escapes,
        scope: &JValue,
    ) -> Result<Value, TemplateError> {
        let compiled = self
            .env
            .compile_expression_owned(syntax::rewrite(expr, true, escapes).into_owned())
            .map_err(|e| self.describe(e, s, scope))?;
        let v = compiled
            .eval(scope.clone())
            .map_err(|e| self.describe(e, s, scope))?;
        if v.is_undefined() {
            return Err(self.undefined_error(s, scope));
        }
        to_json(&v).map_err(|e| self.describe(e, s, scope))
    }

    /// Renders a template file's text (the `template` module).
    pub fn render_text(&self, text: &str, scope: &JValue) -> Result<String, TemplateError> {
        self.env
            .render_str(
                &syntax::rewrite(text, false, Escapes::Python),
                scope.clone(),
            )
            .map_err(|e| self.describe(e, text, scope))
    }

    /// Evaluates a condition (`when:`, `changed_when:`, `failed_when:`, `until:`).
    pub fn eval_bool(&self, cond: &Value, scope: &JValue) -> Result<bool, TemplateError> {
        match cond {
            Value::Bool(b) => Ok(*b),
            Value::Null => Ok(false),
            Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0) != 0.0),
            Value::Array(items) => {
                for c in items {
                    if !self.eval_bool(c, scope)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Value::String(s) => {
                let expr_owned;
                let expr = if is_template(s) {
                    // Ansible accepts (and warns about) `when: "{{ x }}"`: render, then judge.
                    match self.render_str(s, scope)? {
                        Value::Bool(b) => return Ok(b),
                        Value::String(r) => {
                            expr_owned = r;
                            expr_owned.as_str()
                        }
                        other => return Ok(truthy_json(&other)),
                    }
                } else {
                    s.as_str()
                };
                let t = expr.trim();
                match t.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" => return Ok(true),
                    "false" | "no" | "off" | "" => return Ok(false),
                    _ => {}
                }
                let compiled = self
                    .env
                    .compile_expression_owned(
                        syntax::rewrite(t, true, Escapes::Python).into_owned(),
                    )
                    .map_err(|e| self.describe(e, t, scope))?;
                let v = compiled
                    .eval(scope.clone())
                    .map_err(|e| self.describe(e, t, scope))?;
                if v.is_undefined() {
                    return Err(self.undefined_error(t, scope));
                }
                Ok(v.is_true())
            }
            Value::Object(_) => Err(TemplateError::new(
                "a condition must be an expression, not a mapping",
            )),
        }
    }

    /// Checks a template's syntax without rendering it, and that every filter, test and lookup
    /// it names exists.
    pub fn check_syntax(&self, s: &str) -> Result<(), TemplateError> {
        if !is_template(s) {
            return Ok(());
        }
        let bad = |e: minijinja::Error| {
            TemplateError::new(format!("template error in {s:?}: {}", detail(&e)))
        };
        if let Some(expr) = single_expression(s) {
            self.env
                .compile_expression_owned(syntax::rewrite(expr, true, Escapes::Inline).into_owned())
                .map_err(bad)?;
        } else {
            self.env
                .template_from_str(&syntax::rewrite(s, false, Escapes::Inline))
                .map_err(bad)?;
        }
        self.check_names(s, false)
    }

    /// Whether any template in `v` calls a lookup (which may run a command or read a file):
    /// work started ahead renders only what has no such effects.
    pub fn names_lookup(&self, v: &Value) -> bool {
        any_string(v, &|s| {
            is_template(s)
                && syntax::used_names(s, false)
                    .iter()
                    .any(|u| matches!(u.kind, syntax::NameKind::Lookup))
        })
    }

    /// Checks a bare condition expression's syntax and names.
    pub fn check_expr(&self, s: &str) -> Result<(), TemplateError> {
        if is_template(s) {
            return self.check_syntax(s);
        }
        self.env
            .compile_expression_owned(syntax::rewrite(s, true, Escapes::Python).into_owned())
            .map_err(|e| TemplateError::new(format!("invalid expression {s:?}: {}", detail(&e))))?;
        self.check_names(s, true)
    }

    /// Refuses a filter, test or lookup the engine does not have, naming where in `s` it is.
    fn check_names(&self, s: &str, bare: bool) -> Result<(), TemplateError> {
        for used in syntax::used_names(s, bare) {
            let known = match used.kind {
                syntax::NameKind::Filter => self.has(&used.name, true),
                syntax::NameKind::Test => self.has(&used.name, false),
                syntax::NameKind::Lookup => {
                    lookups::LOOKUPS.contains(&lookups::short_name(&used.name))
                }
            };
            if !known {
                let mut e = TemplateError::new(format!(
                    "{} '{}' (line {}, column {} of {s:?}) is not implemented by slm-wizard's engine; run this playbook with ansible-playbook",
                    used.kind.word(),
                    used.name,
                    used.line,
                    used.col
                ));
                e.unknown_name = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Whether the environment has filter (or test) `name`: calling it without arguments fails
    /// with "unknown" only when there is none (filters and tests have no side effects).
    fn has(&self, name: &str, filter: bool) -> bool {
        let Ok(t) = self.env.template_from_str("") else {
            return true;
        };
        let mut state = t.new_state();
        let r = if filter {
            state.apply_filter(name, &[]).err()
        } else {
            state.perform_test(name, &[]).err()
        };
        !r.is_some_and(|e| matches!(e.kind(), ErrorKind::UnknownFilter | ErrorKind::UnknownTest))
    }

    /// Root variable names a template or expression reads.
    pub fn variables_of(&self, s: &str, bare_expr: bool) -> HashSet<String> {
        let (expr, escapes) = if bare_expr && !is_template(s) {
            (Some(s), Escapes::Python)
        } else {
            (single_expression(s), Escapes::Inline)
        };
        match expr {
            Some(e) => self
                .env
                .compile_expression_owned(syntax::rewrite(e, true, escapes).into_owned())
                .map(|c| c.undeclared_variables(false))
                .unwrap_or_default(),
            None => self
                .env
                .template_from_str(&syntax::rewrite(s, false, Escapes::Inline))
                .map(|t| t.undeclared_variables(false))
                .unwrap_or_default(),
        }
    }

    fn undefined_error(&self, s: &str, scope: &JValue) -> TemplateError {
        // Names are looked up without evaluating them: evaluating could recurse into the very
        // template that failed.
        let defined: HashSet<String> = scope
            .try_iter()
            .map(|it| it.filter_map(|k| k.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let mut missing: Vec<String> = self
            .variables_of(s, true)
            .into_iter()
            .filter(|v| !defined.contains(v))
            .collect();
        missing.sort();
        if missing.is_empty() {
            TemplateError::new_undefined(format!("{s:?} evaluates to an undefined value"))
        } else {
            TemplateError::new_undefined(format!(
                "'{}' is undefined (in {s:?})",
                missing.join("', '")
            ))
        }
    }

    fn describe(&self, e: minijinja::Error, s: &str, scope: &JValue) -> TemplateError {
        if e.kind() == ErrorKind::UndefinedError {
            let base = self.undefined_error(s, scope);
            // Point at an attribute that is missing when every root variable is defined.
            if base.msg.contains("evaluates to an undefined value") {
                return TemplateError::new_undefined(format!("{} (in {s:?})", detail(&e)));
            }
            return base;
        }
        TemplateError::new(format!("template error in {s:?}: {}", detail(&e)))
    }
}

fn detail(e: &minijinja::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        msg.push_str(": ");
        msg.push_str(&inner.to_string());
        src = inner.source();
    }
    msg
}

/// `"{{ expr }}"` with nothing around it → `expr`.
fn single_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    // Trailing text after the expression would change the type; only a bare expression qualifies.
    if t.len() != s.len() && !s.trim_end_matches('\n').eq(t) {
        return None;
    }
    Some(inner.trim())
}

pub fn to_json(v: &JValue) -> Result<Value, minijinja::Error> {
    serde_json::to_value(v).map_err(|e| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot convert value: {e}"),
        )
    })
}

pub fn truthy_json(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().unwrap_or(0.0) != 0.0,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Variables visible to a template: layers searched from the first (highest precedence) down.
/// String values that are templates are rendered when read, against the same scope.
#[derive(Debug)]
pub struct Scope {
    pub layers: Vec<Arc<Map<String, Value>>>,
    pub templar: Templar,
    /// Objects that are computed, not stored (e.g. `hostvars`).
    pub specials: Vec<(String, JValue)>,
    /// Indices of layers that hold data, not templates (registered results, facts set by
    /// set_fact): their strings are never rendered, as Ansible never trusts a result's text.
    pub literal_layers: Vec<usize>,
    /// Templated values already computed in this scope (each variable is rendered once).
    cache: std::sync::Mutex<std::collections::HashMap<String, JValue>>,
    /// Variables being rendered right now; meeting one again is a reference loop.
    resolving: std::sync::Mutex<HashSet<String>>,
    /// Where this scope's `lookup()` calls look for files (None: the working directory).
    pub lookup_ctx: Option<Arc<lookups::Context>>,
}

impl Scope {
    pub fn new(templar: Templar) -> Self {
        Self {
            layers: Vec::new(),
            templar,
            specials: Vec::new(),
            literal_layers: Vec::new(),
            cache: Default::default(),
            resolving: Default::default(),
            lookup_ctx: None,
        }
    }

    pub fn into_value(self) -> JValue {
        JValue::from_object(self)
    }

    /// The first layer's value for `key`, and whether that layer holds data (not templates).
    fn raw(&self, key: &str) -> Option<(&Value, bool)> {
        self.layers
            .iter()
            .enumerate()
            .find_map(|(i, l)| Some((l.get(key)?, self.literal_layers.contains(&i))))
    }

    /// A variable's value, templated, as JSON.
    pub fn resolve(self: &Arc<Self>, key: &str) -> Option<Result<Value, TemplateError>> {
        let (raw, literal) = self.raw(key)?;
        if literal {
            return Some(Ok(raw.clone()));
        }
        let me = JValue::from_dyn_object(self.clone());
        Some(self.templar.render_value(raw, &me))
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let key = key.as_str()?;
        if key == LOOKUP_HANDLE {
            let ctx = self.lookup_ctx.clone()?;
            return Some(JValue::from_object(LookupHandle {
                ctx,
                scope: JValue::from_dyn_object(self.clone()),
            }));
        }
        if let Some((_, v)) = self.specials.iter().find(|(k, _)| k == key) {
            return Some(v.clone());
        }
        let (raw, literal) = self.raw(key)?;
        if literal || !contains_template(raw) {
            return Some(JValue::from(minijinja::value::Serde(raw)));
        }
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(key).cloned()) {
            return Some(v);
        }
        let fresh = self
            .resolving
            .lock()
            .map(|mut r| r.insert(key.to_string()))
            .unwrap_or(false);
        if !fresh {
            return Some(JValue::from(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("recursive loop detected: variable '{key}' refers to itself"),
            )));
        }
        let value = match self.resolve(key)? {
            Ok(v) => JValue::from(minijinja::value::Serde(&v)),
            Err(e) => JValue::from(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("variable '{key}': {}", e.msg),
            )),
        };
        if let Ok(mut r) = self.resolving.lock() {
            r.remove(key);
        }
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key.to_string(), value.clone());
        }
        Some(value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<JValue> = self
            .specials
            .iter()
            .map(|(k, _)| JValue::from(k.as_str()))
            .collect();
        let mut seen: HashSet<String> = self.specials.iter().map(|(k, _)| k.clone()).collect();
        for l in &self.layers {
            for k in l.keys() {
                if seen.insert(k.clone()) {
                    keys.push(JValue::from(k.as_str()));
                }
            }
        }
        Enumerator::Values(keys)
    }
}

fn contains_template(v: &Value) -> bool {
    any_string(v, &is_template)
}

/// Whether `pred` holds for a string in `v`, object keys included ([`Templar::render_value`]
/// renders those too).
fn any_string(v: &Value, pred: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => pred(s),
        Value::Array(a) => a.iter().any(|x| any_string(x, pred)),
        Value::Object(o) => o.iter().any(|(k, v)| pred(k) || any_string(v, pred)),
        _ => false,
    }
}

/// The variable through which `lookup()` finds its task's [`lookups::Context`] and variables
/// (read by name, never listed).
const LOOKUP_HANDLE: &str = "__slm_wizard_lookup__";

/// What `lookup()` needs from the scope it is called in.
#[derive(Debug)]
struct LookupHandle {
    ctx: Arc<lookups::Context>,
    scope: JValue,
}

impl Object for LookupHandle {}

fn lookup(
    state: &minijinja::State,
    name: String,
    args: minijinja::value::Rest<minijinja::value::ValueOrKwargs>,
) -> Result<JValue, minijinja::Error> {
    invoke_lookup(state, &name, args.into_values(), false)
}

fn query(
    state: &minijinja::State,
    name: String,
    args: minijinja::value::Rest<minijinja::value::ValueOrKwargs>,
) -> Result<JValue, minijinja::Error> {
    invoke_lookup(state, &name, args.into_values(), true)
}

/// ansible-core 2.19's `_invoke_lookup`: `wantlist` and `errors` taken out of the options, a
/// failure raised, warned or ignored (`[]`/None), and without `wantlist` one result given alone,
/// several strings joined with commas.
fn invoke_lookup(
    state: &minijinja::State,
    name: &str,
    mut args: Vec<JValue>,
    mut wantlist: bool,
) -> Result<JValue, minijinja::Error> {
    let invalid = |msg: String| minijinja::Error::new(ErrorKind::InvalidOperation, msg);
    let mut opts = Map::new();
    if args.last().is_some_and(JValue::is_kwargs)
        && let Some(kw) = args.pop()
    {
        let kw = minijinja::value::Kwargs::try_from(kw)?;
        for k in kw.args() {
            let v: JValue = kw.get(k)?;
            opts.insert(k.to_string(), to_json(&v)?);
        }
    }
    if let Some(w) = opts.shift_remove("wantlist") {
        wantlist |= truthy_json(&w);
    }
    let errors = match opts.shift_remove("errors") {
        None => "strict".to_string(),
        Some(Value::String(e)) if ["strict", "warn", "ignore"].contains(&e.as_str()) => e,
        Some(other) => {
            return Err(invalid(format!(
                "lookup '{name}': errors must be one of strict, warn, ignore, got {other}"
            )));
        }
    };
    let short = lookups::short_name(name);
    let terms = args.iter().map(to_json).collect::<Result<Vec<_>, _>>()?;
    let handle = state.lookup(LOOKUP_HANDLE);
    let handle = handle
        .as_ref()
        .and_then(|h| h.downcast_object_ref::<LookupHandle>());
    let here;
    let (ctx, scope) = match handle {
        Some(h) => (h.ctx.as_ref(), h.scope.clone()),
        None => {
            here = lookups::Context::here();
            (&here, JValue::UNDEFINED)
        }
    };
    let call = lookups::Call {
        ctx,
        env: state.env(),
        scope: &scope,
        as_with: false,
    };
    let results = match lookups::run(short, terms, &opts, &call) {
        Ok(r) => r,
        // `warn` would print a warning in Ansible; the engine has no warning channel here, so it
        // is treated as `ignore`.
        Err(_) if errors != "strict" => {
            return Ok(if wantlist {
                JValue::from(Vec::<JValue>::new())
            } else {
                JValue::from(())
            });
        }
        Err(e) => {
            return Err(invalid(format!("The lookup plugin '{name}' failed: {e}")));
        }
    };
    let mut values: Vec<JValue> = results
        .into_iter()
        .map(|v| match v {
            Some(v) => JValue::from(minijinja::value::Serde(&v)),
            None => JValue::UNDEFINED,
        })
        .collect();
    if wantlist || values.is_empty() {
        return Ok(JValue::from(values));
    }
    if values.len() == 1 {
        return Ok(values.remove(0));
    }
    if values.iter().all(|v| v.as_str().is_some()) {
        let joined: Vec<&str> = values.iter().filter_map(JValue::as_str).collect();
        return Ok(JValue::from(joined.join(",")));
    }
    Ok(JValue::from(values))
}

/// The cartesian product of `lists`, the last list varying fastest (itertools.product), for the
/// `product` filter and the `cartesian` lookup; capped so that a template cannot exhaust memory.
pub(crate) fn cartesian_rows<T: Clone>(lists: &[Vec<T>]) -> Result<Vec<Vec<T>>, String> {
    const MAX_ROWS: usize = 1_000_000;
    let mut rows: Vec<Vec<T>> = vec![Vec::new()];
    for list in lists {
        if rows.len().saturating_mul(list.len()) > MAX_ROWS {
            return Err("more than a million combinations".into());
        }
        rows = rows
            .iter()
            .flat_map(|row| {
                list.iter().map(move |x| {
                    let mut row = row.clone();
                    row.push(x.clone());
                    row
                })
            })
            .collect();
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(vars: Value) -> JValue {
        let t = Templar::new();
        let mut s = Scope::new(t);
        if let Value::Object(m) = vars {
            s.layers.push(Arc::new(m));
        }
        s.into_value()
    }

    #[test]
    fn lookups_are_found_anywhere_in_a_value() {
        let t = Templar::new();
        assert!(t.names_lookup(&json!({"a": ["x", "{{ lookup('pipe', 'date') }}"]})));
        assert!(t.names_lookup(&json!("{{ query('file', 'f') | first }}")));
        assert!(
            t.names_lookup(&json!({"{{ lookup('env', 'K') }}": "v"})),
            "a key"
        );
        assert!(!t.names_lookup(&json!({"a": "{{ item | upper }}", "b": "lookup('pipe')"})));
    }

    #[test]
    fn native_and_string_rendering() {
        let t = Templar::new();
        let sc = scope(json!({"l": [1, 2], "n": "x", "a": "{{ n }}-y", "b": "{{ a }}!"}));
        assert_eq!(t.render_str("{{ l }}", &sc).expect("ok"), json!([1, 2]));
        assert_eq!(t.render_str("v={{ n }}", &sc).expect("ok"), json!("v=x"));
        assert_eq!(t.render_str("{{ b }}", &sc).expect("ok"), json!("x-y!"));
    }

    #[test]
    fn undefined_is_named() {
        let t = Templar::new();
        let sc = scope(json!({}));
        let e = t
            .render_str("{{ missing_var }}", &sc)
            .expect_err("undefined");
        assert!(e.msg.contains("'missing_var' is undefined"), "{}", e.msg);
        let e = t
            .render_str("x {{ missing_var }}", &sc)
            .expect_err("undefined");
        assert!(e.msg.contains("'missing_var' is undefined"), "{}", e.msg);
        assert!(e.undefined, "an undefined variable is marked as such");
        let e = t
            .render_str("{{ 1 | nofilter }}", &sc)
            .expect_err("bad filter");
        assert!(!e.undefined, "{}", e.msg);
        assert_eq!(
            t.render_str("{{ missing_var | default('d') }}", &sc)
                .expect("ok"),
            json!("d")
        );
    }

    #[test]
    fn self_reference_is_an_error_not_a_crash() {
        let t = Templar::new();
        let sc = scope(json!({"a": "{{ a }}"}));
        let e = t.render_str("{{ a }}", &sc).expect_err("loop");
        assert!(e.msg.contains("recursive"), "{}", e.msg);
    }

    #[test]
    fn conditions() {
        let t = Templar::new();
        let sc = scope(json!({"x": 3, "s": "yes"}));
        assert!(t.eval_bool(&json!("x > 2"), &sc).expect("ok"));
        assert!(!t.eval_bool(&json!(["x > 2", "x > 5"]), &sc).expect("ok"));
        assert!(t.eval_bool(&json!("s | bool"), &sc).expect("ok"));
        assert!(t.eval_bool(&json!("nope is not defined"), &sc).expect("ok"));
        assert!(t.eval_bool(&json!("nope"), &sc).is_err());
    }
}
