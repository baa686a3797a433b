//! The typed module contract. A module is its argument struct: serde builds it from the task's
//! (templated) arguments with `deny_unknown_fields` and Ansible's aliases, so an argument is either
//! read by the module or refused — never accepted and ignored. `query` only reads the target and
//! says what would change; `apply` changes it. [`drive`] is the one place that decides check mode.

use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::{Map, Value};

use super::{Ctx, ModuleError, ModuleResult};

/// What `query` found: the result reported when nothing is applied (check mode, or nothing to
/// do), and — when something would change — what `apply` needs to do it.
pub struct Query<P> {
    pub result: ModuleResult,
    pub pending: Option<P>,
}

impl<P> Query<P> {
    /// Nothing to change.
    pub fn done(result: ModuleResult) -> Self {
        Self {
            result,
            pending: None,
        }
    }
    /// `result` (with `changed: true`) is what check mode reports; `apply` gets `pending`.
    pub fn change(result: ModuleResult, pending: P) -> Self {
        Self {
            result,
            pending: Some(pending),
        }
    }
}

pub trait Module: DeserializeOwned + Send + Sync + Sized {
    /// The canonical name (`postgresql_user`, not `community.postgresql.postgresql_user`).
    const NAME: &'static str;
    /// Arguments Ansible documents for this module that the native engine does not implement:
    /// refused at plan time with a hint to run the playbook with ansible-playbook.
    const ANSIBLE_ONLY: &'static [&'static str];
    /// What `apply` needs from `query`.
    type Pending: Send;
    /// The arguments Ansible types `path` on the target (aliases included, and lists of paths):
    /// [`drive`] expands `$VAR` and `~` in them first, as AnsibleModule does (see `expand`).
    const PATH_ARGS: &'static [&'static str] = &[];
    /// Those of [`Self::PATH_ARGS`] that are lists of paths (a string is comma-separated).
    const PATH_LISTS: &'static [&'static str] = &[];

    /// [`Self::PATH_ARGS`] for these arguments: narrower where a source is on the controller
    /// unless `remote_src` says otherwise.
    fn path_args(_args: &Map<String, Value>) -> &'static [&'static str] {
        Self::PATH_ARGS
    }

    /// Ansible's run-time failure for arguments its module does not take (`unknown`: sorted, at
    /// least one; `action`: the module as the task wrote it), reported when the others are
    /// valid (AnsibleModule lists it after their errors). AnsibleModule's wording by default.
    fn unsupported(action: &str, unknown: &[&str]) -> String {
        unsupported_msg(action, unknown, &supported::<Self>())
    }

    /// An action plugin's own refusal of unknown arguments, made before the module checks any
    /// argument (fail's `_VALID_ARGS`, shell's `expand_argument_vars`).
    fn action_refuses(_action: &str, _unknown: &[&str]) -> Option<String> {
        None
    }

    /// Checks between arguments that serde cannot express (one of two required, exclusive pairs).
    fn validate(&self) -> Result<(), ModuleError> {
        Ok(())
    }

    /// Reads the target; never changes it.
    fn query(
        &self,
        ctx: &Ctx<'_>,
    ) -> impl std::future::Future<Output = Result<Query<Self::Pending>, ModuleError>> + Send;

    /// Makes the change `query` found.
    fn apply(
        &self,
        pending: Self::Pending,
        ctx: &Ctx<'_>,
    ) -> impl std::future::Future<Output = Result<ModuleResult, ModuleError>> + Send;
}

/// Builds the module from templated arguments and runs it: query, then apply unless check mode.
/// An argument Ansible's module does not take fails here, at run time, as in Ansible (check mode
/// too; one set to `omit` was dropped before): only a task that runs fails.
pub async fn drive<M: Module>(
    args: &Map<String, Value>,
    ctx: &Ctx<'_>,
) -> Result<ModuleResult, ModuleError> {
    let expanded =
        super::expand::expand_paths(args, M::path_args(args), M::PATH_LISTS, ctx).await?;
    let module = parse_known::<M>(expanded.as_ref().unwrap_or(args), ctx.action)?;
    let found = module.query(ctx).await?;
    match found.pending {
        Some(pending) if !ctx.check => module.apply(pending, ctx).await,
        _ => Ok(found.result),
    }
}

/// [`parse`] for arguments that may hold some Ansible's module does not take: its errors in
/// Ansible's order — the action plugin's refusal, the other arguments' errors, then
/// "Unsupported parameters".
fn parse_known<M: Module>(args: &Map<String, Value>, action: &str) -> Result<M, ModuleError> {
    let unknown = unknown_args::<M>(args);
    if unknown.is_empty() {
        return parse::<M>(args);
    }
    if let Some(msg) = M::action_refuses(action, &unknown) {
        return Err(ModuleError::Args(msg));
    }
    let mut known = args.clone();
    known.retain(|k, _| ansible_takes::<M>(k));
    parse::<M>(&known)?;
    Err(ModuleError::Args(M::unsupported(action, &unknown)))
}

/// The typed arguments, or an error that names the module and the argument.
pub fn parse<M: Module>(args: &Map<String, Value>) -> Result<M, ModuleError> {
    let module: M = serde_json::from_value(Value::Object(args.clone())).map_err(|e| {
        let msg = e.to_string();
        ModuleError::Args(describe::<M>(culprit::<M>(args, &msg).as_deref(), &msg))
    })?;
    module.validate()?;
    Ok(module)
}

/// Whether Ansible's module takes `key`: the engine implements it, or it is Ansible-only (refused
/// at plan time, so it never reaches a run).
pub fn ansible_takes<M: Module>(key: &str) -> bool {
    accepted_args::<M>().contains(&key) || M::ANSIBLE_ONLY.contains(&key)
}

/// The arguments Ansible's module does not take, sorted (as Ansible lists them).
fn unknown_args<M: Module>(args: &Map<String, Value>) -> Vec<&str> {
    let mut unknown: Vec<&str> = args
        .keys()
        .map(String::as_str)
        .filter(|k| !ansible_takes::<M>(k))
        .collect();
    unknown.sort_unstable();
    unknown
}

/// What Ansible's module takes, sorted, for the message: what the engine implements and what it
/// leaves to Ansible, aliases among them; names the engine fills in itself (`_raw_params`,
/// `__var_value`) are not listed.
pub fn supported<M: Module>() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = accepted_args::<M>()
        .iter()
        .chain(M::ANSIBLE_ONLY)
        .copied()
        .filter(|a| !a.starts_with('_'))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// AnsibleModule's message (ansible-core 2.19 `ArgumentSpecValidator` + `AnsibleModule`):
/// `Unsupported parameters for (copy) module: a, b. Supported parameters include: c, d.`
pub fn unsupported_msg(module: &str, unknown: &[&str], supported: &[&str]) -> String {
    format!(
        "Unsupported parameters for ({module}) module: {}. Supported parameters include: {}.",
        unknown.join(", "),
        supported.join(", ")
    )
}

/// The message of an action plugin that checks its own `_VALID_ARGS` (fail, reboot, group_by):
/// `Invalid options for fail: a,b`.
pub fn invalid_options_msg(action: &str, unknown: &[&str]) -> String {
    format!("Invalid options for {action}: {}", unknown.join(","))
}

/// A plan-time argument error: the argument it is about (when one is), and the message.
#[derive(Debug)]
pub struct ArgError {
    pub key: Option<String>,
    pub msg: String,
}

/// Plan time: the arguments deserialize (and pass `validate`). An argument whose value holds a
/// template (`templated`) is only known per host: its type is checked when the task runs, and
/// `validate` (which may compare arguments) waits until then too. One Ansible's module does not
/// take is left to the run, where it fails the task (see [`drive`]); the errors Ansible reports
/// before it are still found here, unless an action plugin refuses it before anything else.
pub fn check<M: Module>(
    args: &Map<String, Value>,
    templated: &dyn Fn(&Value) -> bool,
) -> Result<(), ArgError> {
    let unknown = unknown_args::<M>(args);
    if !unknown.is_empty() && M::action_refuses(M::NAME, &unknown).is_some() {
        return Ok(());
    }
    let mut a = args.clone();
    a.retain(|k, _| ansible_takes::<M>(k));
    let mut removed: Vec<String> = Vec::new();
    loop {
        let msg = match serde_json::from_value::<M>(Value::Object(a.clone())) {
            Ok(m) => {
                if removed.is_empty() && !a.values().any(templated) {
                    m.validate().map_err(|e| ArgError {
                        key: None,
                        msg: e.to_string(),
                    })?;
                }
                return Ok(());
            }
            Err(e) => e.to_string(),
        };
        if let Some(field) = missing_field(&msg) {
            // A templated argument that was set aside may be the one missing (or its alias).
            if !removed.is_empty() {
                return Ok(());
            }
            return Err(ArgError {
                key: None,
                msg: format!("module '{}' needs the argument '{field}'", M::NAME),
            });
        }
        match culprit::<M>(&a, &msg) {
            Some(k) if a.get(&k).is_some_and(templated) => {
                a.remove(&k);
                removed.push(k);
            }
            key => {
                return Err(ArgError {
                    msg: describe::<M>(key.as_deref(), &msg),
                    key,
                });
            }
        }
    }
}

fn missing_field(msg: &str) -> Option<&str> {
    msg.strip_prefix("missing field `")?.split('`').next()
}

/// `copy: argument 'mode' must be …` from serde's message.
fn describe<M: Module>(key: Option<&str>, msg: &str) -> String {
    match key {
        // serde's message names the field already.
        _ if msg.starts_with("unknown field") => format!("{}: {msg}", M::NAME),
        Some(k) if msg.starts_with("must ") => format!("{}: argument '{k}' {msg}", M::NAME),
        Some(k) => format!("{}: argument '{k}': {msg}", M::NAME),
        None => format!("{}: {msg}", M::NAME),
    }
}

/// Which argument serde's first error is about: serde stops at the first bad value, so without
/// that argument the error changes (or goes away), without any other it stays.
fn culprit<M: Module>(args: &Map<String, Value>, msg: &str) -> Option<String> {
    args.keys()
        .find(|k| {
            let mut b = args.clone();
            b.remove(*k);
            match serde_json::from_value::<M>(Value::Object(b)) {
                Ok(_) => true,
                Err(e) => e.to_string() != msg,
            }
        })
        .cloned()
}

/// The argument names a module's struct accepts, aliases included (serde lists them in the
/// field table it hands to the deserializer; we stop it there), for plan-time checks and hints.
pub fn accepted_args<M: Module>() -> &'static [&'static str] {
    match M::deserialize(FieldNames) {
        Err(FieldNamesError(Some(fields))) => fields,
        _ => &[],
    }
}

struct FieldNames;

#[derive(Debug)]
struct FieldNamesError(Option<&'static [&'static str]>);

impl std::fmt::Display for FieldNamesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names")
    }
}
impl std::error::Error for FieldNamesError {}
impl de::Error for FieldNamesError {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        FieldNamesError(None)
    }
}

impl<'de> de::Deserializer<'de> for FieldNames {
    type Error = FieldNamesError;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(FieldNamesError(None))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        Err(FieldNamesError(Some(fields)))
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[serde(alias = "dest")]
        path: String,
        #[serde(default)]
        #[allow(dead_code)]
        force: bool,
    }

    impl Module for Probe {
        const NAME: &'static str = "probe";
        const ANSIBLE_ONLY: &'static [&'static str] = &["backup"];
        type Pending = ();
        async fn query(&self, _: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
            Ok(Query::done(ModuleResult::ok().with_msg(self.path.clone())))
        }
        async fn apply(&self, _: (), _: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
            Ok(ModuleResult::changed(true))
        }
    }

    #[test]
    fn accepted_args_lists_fields_and_aliases() {
        let mut names = accepted_args::<Probe>().to_vec();
        names.sort();
        assert_eq!(names, ["dest", "force", "path"]);
    }

    /// AnsibleModule's wording: the unknown arguments sorted, then everything the module takes
    /// (what the engine implements and what it leaves to Ansible).
    #[test]
    fn arguments_ansible_does_not_take_get_ansibles_message() {
        let mut args = Map::new();
        for k in ["path", "zed", "backup", "abc"] {
            args.insert(k.into(), true.into());
        }
        let unknown = unknown_args::<Probe>(&args);
        assert_eq!(unknown, ["abc", "zed"]);
        assert_eq!(
            Probe::unsupported("ansible.builtin.probe", &unknown),
            "Unsupported parameters for (ansible.builtin.probe) module: abc, zed. \
             Supported parameters include: backup, dest, force, path."
        );
        assert_eq!(
            invalid_options_msg("fail", &["a", "b"]),
            "Invalid options for fail: a,b"
        );
    }

    #[test]
    fn unknown_arguments_are_refused_with_the_module_name() {
        let mut args = Map::new();
        args.insert("path".into(), "/x".into());
        args.insert("backup".into(), true.into());
        let Err(ModuleError::Args(msg)) = parse::<Probe>(&args) else {
            panic!("an unknown argument must be refused");
        };
        assert!(msg.starts_with("probe: unknown field `backup`"), "{msg}");
    }
}
