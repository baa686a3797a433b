//! What the filter tests share: the variables of the Ansible playbook the expectations come
//! from, and render helpers.

use super::serial::json_to_value;
use super::*;

/// The variables of the Ansible playbook the expectations come from
/// (Ansible saw them with sorted keys).
pub(super) fn ctx() -> Value {
    json_to_value(serde_json::json!({
        "d1": {"a": 1, "b": {"l": [1, 2], "x": 1}, "c": "z"},
        "d2": {"b": {"l": [3], "y": 2}, "c": null, "e": 5},
        "users": [
            {"age": 30, "groups": ["wheel"], "name": "bob"},
            {"age": 25, "name": "Alice"}
        ],
        "res_ok": {"changed": false, "failed": false, "rc": 0},
        "res_fail": {"changed": true, "failed": true, "rc": 2},
        "res_skip": {"changed": false, "skipped": true},
        "res_rc": {"rc": 3},
        "res_loop": {"results": [{"changed": false}, {"changed": true}]},
        "nested": {
            "a": [1, "two", {"e": [], "k": "v"}],
            "colon": "a: b",
            "empty": "",
            "f": 1.5,
            "long": "word ".repeat(25),
            "m": {},
            "multi": "line1\nline2",
            "n": null,
            "num": "123",
            "q": "it's",
            "s": "yes",
            "t": true,
            "z": 1
        },
        "unicode": {"ctl": "a\tb\u{1}", "k": "ü€😀"}
    }))
}

pub(super) fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    register(&mut env);
    env
}

pub(super) fn try_render(template: &str) -> Result<String, Error> {
    env().render_str(template, ctx())
}

/// Renders a template.
#[track_caller]
pub(super) fn render(template: &str) -> String {
    match try_render(template) {
        Ok(s) => s,
        Err(e) => panic!("{template}: {e:#}"),
    }
}

/// Renders an expression.
#[track_caller]
pub(super) fn r(expr: &str) -> String {
    render(&format!("{{{{ {expr} }}}}"))
}

/// The value of an expression as Python's `json.dumps` prints it.
#[track_caller]
pub(super) fn j(expr: &str) -> String {
    render(&format!("{{{{ ({expr})|to_json(ensure_ascii=false) }}}}"))
}

/// The error message of an expression that must fail.
#[track_caller]
pub(super) fn err(expr: &str) -> String {
    match try_render(&format!("{{{{ {expr} }}}}")) {
        Ok(s) => panic!("{expr} should fail, gave {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
pub(super) fn assert_err(expr: &str, needle: &str) {
    let msg = err(expr);
    assert!(
        msg.contains(needle),
        "{expr}: error {msg:?} lacks {needle:?}"
    );
}
