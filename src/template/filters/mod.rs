//! Ansible's filters and tests on top of minijinja's builtins.
//!
//! [`register`] adds the filters and tests of `ansible.builtin` that
//! templates commonly use, and replaces the minijinja builtins whose
//! behaviour differs from Jinja2/Ansible (`default`, `bool`, `int`, `float`,
//! `map`, `sort`, `split`, `urlencode` and the `sequence`/`iterable` tests).
//! Builtins that already behave like Jinja2 (`lower`, `upper`, `join`,
//! `length`, `first`, `select`, `unique`, ...) are left alone.
//!
//! The values follow Ansible 2.19 (ansible-core) with Jinja2 3.1: regular
//! expressions use Python's `re` syntax and replacement templates (`\1`,
//! `\g<name>`), `to_json` is Python's `json.dumps`, and `to_yaml` is
//! PyYAML's `yaml.dump` with libyaml's emitter, as Ansible uses it.

use minijinja::value::{Kwargs, Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value};

use crate::compat::py::{kind_name, map_pairs};

mod collections;
mod convert;
pub(crate) mod crypt;
mod encoding;
mod net;
mod predicates;
mod regex;
mod serial;
mod sets;
mod strings;
mod version;

pub(crate) use crypt::{random_salt, sha512_crypt};
pub(crate) use encoding::digest;
pub(crate) use serial::python_json;

type Res<T> = Result<T, Error>;

/// Registers Ansible's filters and tests in `env`.
pub fn register(env: &mut Environment<'static>) {
    // defaults and conversions
    env.add_filter("default", convert::default_filter);
    env.add_filter("d", convert::default_filter);
    env.add_filter("mandatory", convert::mandatory);
    env.add_filter("ternary", convert::ternary);
    env.add_filter("bool", convert::bool_filter);
    env.add_filter("int", convert::int_filter);
    env.add_filter("float", convert::float_filter);
    env.add_filter("type_debug", convert::type_debug);

    // serialisation
    env.add_filter("to_json", serial::to_json);
    env.add_filter("to_nice_json", serial::to_nice_json);
    env.add_filter("from_json", serial::from_json);
    env.add_filter("to_yaml", serial::to_yaml);
    env.add_filter("to_nice_yaml", serial::to_nice_yaml);
    env.add_filter("from_yaml", serial::from_yaml);
    env.add_filter("from_yaml_all", serial::from_yaml_all);

    // strings
    env.add_filter("regex_replace", regex::regex_replace);
    env.add_filter("regex_search", regex::regex_search);
    env.add_filter("regex_findall", regex::regex_findall);
    env.add_filter("regex_escape", regex::regex_escape);
    env.add_filter("quote", strings::quote);
    env.add_filter("b64encode", encoding::b64encode);
    env.add_filter("b64decode", encoding::b64decode);
    env.add_filter("hash", encoding::hash_filter);
    env.add_filter("password_hash", crypt::password_hash);
    env.add_filter("md5", encoding::md5_filter);
    env.add_filter("sha1", encoding::sha1_filter);
    env.add_filter("checksum", encoding::sha1_filter);
    env.add_filter("split", strings::split);
    // `'fmt' % args`, rewritten to this filter before compiling (see template::syntax).
    env.add_filter("__py_percent", strings::py_percent);
    env.add_filter("splitlines", strings::splitlines);
    env.add_filter("basename", strings::basename);
    env.add_filter("dirname", strings::dirname);
    env.add_filter("urlencode", strings::urlencode);

    // data structures
    env.add_filter("dict2items", collections::dict2items);
    env.add_filter("items2dict", collections::items2dict);
    env.add_filter("combine", collections::combine);
    env.add_filter("flatten", collections::flatten);
    env.add_filter("dict", collections::dict_filter);
    env.add_filter("map", collections::map_filter);
    env.add_filter("sort", collections::sort_filter);
    env.add_filter("union", sets::union);
    env.add_filter("intersect", sets::intersect);
    env.add_filter("difference", sets::difference);
    env.add_filter("symmetric_difference", sets::symmetric_difference);
    env.add_filter("zip", sets::zip);
    env.add_filter("zip_longest", sets::zip_longest);
    env.add_filter("product", sets::product);
    env.add_filter("comment", sets::comment);
    env.add_filter("to_uuid", sets::to_uuid);
    env.add_filter("ipaddr", net::ipaddr);
    env.add_filter("ipv4", net::ipv4);
    env.add_filter("ipv6", net::ipv6);

    // tests
    env.add_test("sequence", predicates::is_sequence);
    env.add_test("iterable", predicates::is_iterable);
    env.add_test("failed", predicates::is_failed);
    env.add_test("failure", predicates::is_failed);
    env.add_test("succeeded", predicates::is_succeeded);
    env.add_test("success", predicates::is_succeeded);
    env.add_test("successful", predicates::is_succeeded);
    env.add_test("changed", predicates::is_changed);
    env.add_test("change", predicates::is_changed);
    env.add_test("skipped", predicates::is_skipped);
    env.add_test("skip", predicates::is_skipped);
    env.add_test("unreachable", predicates::is_unreachable);
    env.add_test("reachable", predicates::is_reachable);
    env.add_test("match", regex::is_match);
    env.add_test("search", regex::is_search);
    env.add_test("regex", regex::is_regex);
    env.add_test("version", version::is_version);
    env.add_test("version_compare", version::is_version);
    env.add_test("truthy", predicates::is_truthy);
    env.add_test("falsy", predicates::is_falsy);
    env.add_test("contains", predicates::is_contains);
    env.add_test("subset", predicates::is_subset);
    env.add_test("issubset", predicates::is_subset);
    env.add_test("superset", predicates::is_superset);
    env.add_test("issuperset", predicates::is_superset);
    env.add_test("abs", predicates::is_abs);
    env.add_test("is_abs", predicates::is_abs);
    env.add_test("any", predicates::is_any);
    env.add_test("all", predicates::is_all);
    env.add_test("nan", predicates::is_nan);
    env.add_test("isnan", predicates::is_nan);
}

// ---------------------------------------------------------------------------
// helpers

/// An error of `what` (a filter or test name) about its input.
fn fail(what: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{what}: {msg}"))
}

/// The engine's own error for an undefined value.
///
/// Looking up an item of an undefined value fails with the same error the
/// engine raises, including where the value came from when debug info is on.
fn undefined_error(value: &Value) -> Error {
    match value.get_item(&Value::from(0)) {
        Err(err) => err,
        Ok(_) => Error::from(ErrorKind::UndefinedError),
    }
}

fn is_strict(state: &State) -> bool {
    matches!(
        state.undefined_behavior(),
        UndefinedBehavior::Strict | UndefinedBehavior::SemiStrict
    )
}

/// Fails for an undefined value where the undefined behaviour is strict.
fn check_defined(state: &State, value: &Value) -> Res<()> {
    if value.is_undefined() && is_strict(state) {
        Err(undefined_error(value))
    } else {
        Ok(())
    }
}

/// Python's `str(value)`; an undefined value is an error when strict.
fn py_str(state: &State, value: &Value) -> Res<String> {
    check_defined(state, value)?;
    Ok(match value.as_str() {
        Some(s) => s.to_string(),
        None => value.to_string(),
    })
}

/// A short Python-like `repr` of a value for error messages.
fn repr(value: &Value) -> String {
    let s = format!("{value:?}");
    if s.chars().count() > 200 {
        let cut: String = s.chars().take(200).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// Splits a filter's trailing arguments into positional and keyword ones.
fn split_kwargs(args: Vec<Value>) -> Res<(Vec<Value>, Option<Kwargs>)> {
    let mut args = args;
    if args.last().is_some_and(Value::is_kwargs)
        && let Some(last) = args.pop()
    {
        let kwargs = Kwargs::try_from(last)?;
        return Ok((args, Some(kwargs)));
    }
    Ok((args, None))
}

/// Binds positional and keyword arguments to the parameter `names` like
/// Python does.  The first `required` parameters must be given.
fn bind_args(
    what: &str,
    args: Vec<Value>,
    names: &[&str],
    required: usize,
) -> Res<Vec<Option<Value>>> {
    let (pos, kwargs) = split_kwargs(args)?;
    if pos.len() > names.len() {
        return Err(fail(
            what,
            format!(
                "takes at most {} argument(s), got {}",
                names.len(),
                pos.len()
            ),
        ));
    }
    let mut slots: Vec<Option<Value>> = vec![None; names.len()];
    for (slot, value) in slots.iter_mut().zip(pos) {
        *slot = Some(value);
    }
    if let Some(kwargs) = kwargs {
        let keys: Vec<String> = kwargs.args().map(str::to_string).collect();
        for key in keys {
            let Some(idx) = names.iter().position(|n| *n == key) else {
                return Err(fail(what, format!("unexpected keyword argument '{key}'")));
            };
            if slots[idx].is_some() {
                return Err(fail(
                    what,
                    format!("got multiple values for argument '{key}'"),
                ));
            }
            slots[idx] = Some(kwargs.get::<Value>(&key)?);
        }
    }
    for (idx, name) in names.iter().enumerate().take(required) {
        if slots[idx].is_none() {
            return Err(fail(what, format!("missing required argument '{name}'")));
        }
    }
    Ok(slots)
}

/// A string argument; `none` and a missing argument give `None`.
fn opt_str_arg(what: &str, name: &str, value: Option<&Value>) -> Res<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) if v.is_undefined() => Err(fail(what, format!("argument '{name}' is undefined"))),
        Some(v) => match v.as_str() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(fail(
                what,
                format!(
                    "argument '{name}' must be a string, got {} {}",
                    kind_name(v),
                    repr(v)
                ),
            )),
        },
    }
}

fn str_arg(what: &str, name: &str, value: Option<&Value>) -> Res<String> {
    opt_str_arg(what, name, value)?.ok_or_else(|| {
        fail(
            what,
            format!("argument '{name}' must be a string, got none"),
        )
    })
}

/// A flag argument, judged by Python's truthiness like Ansible does.
fn flag_arg(what: &str, name: &str, value: Option<&Value>) -> Res<bool> {
    match value {
        None => Ok(false),
        Some(v) if v.is_undefined() => Err(fail(what, format!("argument '{name}' is undefined"))),
        Some(v) => Ok(v.is_true()),
    }
}

fn int_arg(what: &str, name: &str, value: Option<&Value>) -> Res<Option<i64>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => match v.kind() {
            ValueKind::Number | ValueKind::Bool
                if v.is_integer() || v.kind() == ValueKind::Bool =>
            {
                i64::try_from(v.clone())
                    .map(Some)
                    .map_err(|_| fail(what, format!("argument '{name}' is out of range: {v}")))
            }
            _ => Err(fail(
                what,
                format!(
                    "argument '{name}' must be an integer, got {} {}",
                    kind_name(v),
                    repr(v)
                ),
            )),
        },
    }
}

/// Collects the items of an iterable value (the keys of a mapping).
fn items_of(state: &State, what: &str, value: &Value) -> Res<Vec<Value>> {
    check_defined(state, value)?;
    if value.is_none() || value.is_undefined() {
        return Err(fail(
            what,
            format!("expected a list, got {}", kind_name(value)),
        ));
    }
    let iter = value.try_iter().map_err(|_| {
        fail(
            what,
            format!("expected a list, got {} {}", kind_name(value), repr(value)),
        )
    })?;
    Ok(iter.collect())
}

/// Python's `list`/`tuple` check (strings and mappings are not sequences).
fn is_list_like(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// Looks up a dotted attribute path like Jinja2's `make_attrgetter`:
/// numeric parts index sequences.
fn get_attr_path(value: &Value, path: &Value) -> Value {
    let Some(path) = path.as_str() else {
        return value.get_item(path).unwrap_or(Value::UNDEFINED);
    };
    let mut rv = value.clone();
    for part in path.split('.') {
        let key = match part.parse::<i64>() {
            Ok(idx) if part.bytes().all(|b| b.is_ascii_digit()) => Value::from(idx),
            _ => Value::from(part),
        };
        rv = match rv.get_item(&key) {
            Ok(v) => v,
            Err(_) => return Value::UNDEFINED,
        };
        if rv.is_undefined() {
            return rv;
        }
    }
    rv
}

#[cfg(test)]
mod test_support;
