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
    /// Those of [`Self::ANSIBLE_ONLY`] that are aliases in Ansible's argument spec (listed in
    /// parentheses by "Supported parameters include").
    const ANSIBLE_ONLY_ALIASES: &'static [&'static str] = &[];
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

/// What AnsibleModule lists after "Supported parameters include:" (ansible-core 2.19
/// `ArgumentSpecValidator.validate`): the parameters sorted, then the aliases sorted in one pair
/// of parentheses — `follow, path (dest, name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supported {
    pub params: Vec<&'static str>,
    pub aliases: Vec<&'static str>,
}

impl Supported {
    /// Parameters without aliases (a list kept by hand, as command's).
    pub fn plain(params: &[&'static str]) -> Self {
        Self {
            params: params.to_vec(),
            aliases: Vec::new(),
        }
    }
}

impl std::fmt::Display for Supported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.params.join(", "))?;
        if !self.aliases.is_empty() {
            write!(f, " ({})", self.aliases.join(", "))?;
        }
        Ok(())
    }
}

/// What Ansible's module takes: what the engine implements (an alias told from its parameter by
/// serde's field table, [`field_of`]) and what it leaves to Ansible (aliases there named by
/// [`Module::ANSIBLE_ONLY_ALIASES`]; `attr` is always one, of the file arguments' `attributes`).
/// Names the engine fills in itself (`_raw_params` of pause, `__var_value`) are not listed;
/// Ansible's own internal ones (file's `_diff_peek`) are, among the Ansible-only.
pub fn supported<M: Module>() -> Supported {
    let mut params: Vec<&'static str> = Vec::new();
    let mut aliases: Vec<&'static str> = Vec::new();
    for &name in accepted_args::<M>().iter().filter(|a| !a.starts_with('_')) {
        match field_of::<M>(name) {
            Some(field) if field != name => aliases.push(name),
            _ => params.push(name),
        }
    }
    for &name in M::ANSIBLE_ONLY {
        if name == "attr" || M::ANSIBLE_ONLY_ALIASES.contains(&name) {
            aliases.push(name);
        } else {
            params.push(name);
        }
    }
    for list in [&mut params, &mut aliases] {
        list.sort_unstable();
        list.dedup();
    }
    Supported { params, aliases }
}

/// AnsibleModule's message: `Unsupported parameters for (stat) module: a, b. Supported
/// parameters include: follow, path (dest, name).`
pub fn unsupported_msg(module: &str, unknown: &[&str], supported: &Supported) -> String {
    format!(
        "Unsupported parameters for ({module}) module: {}. Supported parameters include: {supported}.",
        unknown.join(", ")
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

/// The field `name` belongs to, as serde names it (an alias gives its field's name): a map that
/// holds `name` twice fails with serde's "duplicate field `<field>`". The first value must
/// deserialize, so one of each JSON type is tried (and an enum's first variant); None when none
/// does.
fn field_of<M: Module>(name: &'static str) -> Option<&'static str> {
    let mut candidates = vec![
        Value::from("x"),
        Value::from(true),
        Value::from(1),
        Value::from(vec!["x"]),
        Value::Object(Map::new()),
    ];
    let mut i = 0;
    while i < candidates.len() && i < 8 {
        let twice = Twice {
            key: name,
            value: candidates[i].clone(),
            given: 0,
        };
        match M::deserialize(twice) {
            Err(FieldProbe::Duplicate(field)) => return Some(field),
            Err(FieldProbe::Other(msg)) => {
                if let Some(variant) = first_variant(&msg) {
                    candidates.push(Value::from(variant));
                }
            }
            Ok(_) => {}
        }
        i += 1;
    }
    None
}

/// The first variant serde's "unknown variant `x`, expected one of `a`, `b`" names.
fn first_variant(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown variant `")?;
    let expected = rest.split_once("expected ")?.1;
    Some(expected.split('`').nth(1)?.to_string())
}

/// A map giving one key twice, for [`field_of`].
struct Twice {
    key: &'static str,
    value: Value,
    given: u8,
}

#[derive(Debug)]
enum FieldProbe {
    Duplicate(&'static str),
    Other(String),
}

impl std::fmt::Display for FieldProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldProbe::Duplicate(field) => write!(f, "duplicate field `{field}`"),
            FieldProbe::Other(msg) => f.write_str(msg),
        }
    }
}
impl std::error::Error for FieldProbe {}
impl de::Error for FieldProbe {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        FieldProbe::Other(msg.to_string())
    }
    fn duplicate_field(field: &'static str) -> Self {
        FieldProbe::Duplicate(field)
    }
}

impl<'de> de::MapAccess<'de> for Twice {
    type Error = FieldProbe;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FieldProbe> {
        if self.given == 2 {
            return Ok(None);
        }
        self.given += 1;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(self.key))
            .map(Some)
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, FieldProbe> {
        seed.deserialize(self.value.clone())
            .map_err(|e| FieldProbe::Other(e.to_string()))
    }
}

impl<'de> de::Deserializer<'de> for Twice {
    type Error = FieldProbe;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(self)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
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
        const ANSIBLE_ONLY: &'static [&'static str] = &["backup", "attr", "_peek", "bak"];
        const ANSIBLE_ONLY_ALIASES: &'static [&'static str] = &["bak"];
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
             Supported parameters include: _peek, backup, force, path (attr, bak, dest)."
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
    /// Each message as ansible-playbook (ansible-core 2.19.14) printed it for the module given an
    /// unknown argument `bogus_zz`: parameters sorted, then the aliases in parentheses.
    #[test]
    fn supported_parameters_are_listed_as_ansible_core_2_19_lists_them() {
        use crate::engine::modules::{cron, files, get_url, pkg, service, unarchive, users};
        let cases = [
            (
                files::Stat::unsupported("stat", &["bogus_zz"]),
                "Unsupported parameters for (stat) module: bogus_zz. Supported parameters include: checksum_algorithm, follow, get_attributes, get_checksum, get_mime, path (attr, attributes, checksum, checksum_algo, dest, mime, mime-type, mime_type, name).",
            ),
            (
                files::File::unsupported("file", &["bogus_zz"]),
                "Unsupported parameters for (file) module: bogus_zz. Supported parameters include: _diff_peek, _original_basename, access_time, access_time_format, attributes, follow, force, group, mode, modification_time, modification_time_format, owner, path, recurse, selevel, serole, setype, seuser, src, state, unsafe_writes (attr, dest, name).",
            ),
            (
                files::LineInFile::unsupported("lineinfile", &["bogus_zz"]),
                "Unsupported parameters for (lineinfile) module: bogus_zz. Supported parameters include: attributes, backrefs, backup, create, firstmatch, group, insertafter, insertbefore, line, mode, owner, path, regexp, search_string, selevel, serole, setype, seuser, state, unsafe_writes, validate (attr, dest, destfile, name, regex, value).",
            ),
            (
                pkg::Apt::unsupported("apt", &["bogus_zz"]),
                "Unsupported parameters for (apt) module: bogus_zz. Supported parameters include: allow_change_held_packages, allow_downgrade, allow_unauthenticated, auto_install_module_deps, autoclean, autoremove, cache_valid_time, clean, deb, default_release, dpkg_options, fail_on_autoremove, force, force_apt_get, install_recommends, lock_timeout, only_upgrade, package, policy_rc_d, purge, state, update_cache, update_cache_retries, update_cache_retry_max_delay, upgrade (allow-downgrade, allow-downgrades, allow-unauthenticated, allow_downgrades, default-release, install-recommends, name, pkg, update-cache).",
            ),
            (
                users::User::unsupported("user", &["bogus_zz"]),
                "Unsupported parameters for (user) module: bogus_zz. Supported parameters include: append, authorization, comment, create_home, expires, force, generate_ssh_key, group, groups, hidden, home, local, login_class, move_home, name, non_unique, password, password_expire_account_disable, password_expire_max, password_expire_min, password_expire_warn, password_lock, profile, remove, role, seuser, shell, skeleton, ssh_key_bits, ssh_key_comment, ssh_key_file, ssh_key_passphrase, ssh_key_type, state, system, uid, uid_max, uid_min, umask, update_password (createhome, user).",
            ),
            (
                cron::Cron::unsupported("cron", &["bogus_zz"]),
                "Unsupported parameters for (cron) module: bogus_zz. Supported parameters include: backup, cron_file, day, disabled, env, hour, insertafter, insertbefore, job, minute, month, name, special_time, state, user, weekday (dom, dow, value).",
            ),
            (
                service::Systemd::unsupported("systemd", &["bogus_zz"]),
                "Unsupported parameters for (systemd) module: bogus_zz. Supported parameters include: daemon_reexec, daemon_reload, enabled, force, masked, name, no_block, scope, state (daemon-reexec, daemon-reload, service, unit).",
            ),
            (
                get_url::GetUrl::unsupported("get_url", &["bogus_zz"]),
                "Unsupported parameters for (get_url) module: bogus_zz. Supported parameters include: attributes, backup, checksum, ciphers, client_cert, client_key, decompress, dest, force, force_basic_auth, group, headers, http_agent, mode, owner, selevel, serole, setype, seuser, timeout, tmp_dest, unredirected_headers, unsafe_writes, url, url_password, url_username, use_gssapi, use_netrc, use_proxy, validate_certs (attr, password, username).",
            ),
            (
                users::Group::unsupported("group", &["bogus_zz"]),
                "Unsupported parameters for (group) module: bogus_zz. Supported parameters include: force, gid, gid_max, gid_min, local, name, non_unique, state, system.",
            ),
            (
                files::Find::unsupported("find", &["bogus_zz"]),
                "Unsupported parameters for (find) module: bogus_zz. Supported parameters include: age, age_stamp, checksum_algorithm, contains, depth, encoding, exact_mode, excludes, file_type, follow, get_checksum, hidden, limit, mode, paths, patterns, read_whole_file, recurse, size, use_regex (checksum, checksum_algo, exclude, name, path, pattern).",
            ),
            (
                files::Replace::unsupported("replace", &["bogus_zz"]),
                "Unsupported parameters for (replace) module: bogus_zz. Supported parameters include: after, attributes, backup, before, encoding, group, mode, owner, path, regexp, replace, selevel, serole, setype, seuser, unsafe_writes, validate (attr, dest, destfile, name).",
            ),
            (
                files::BlockInFile::unsupported("blockinfile", &["bogus_zz"]),
                "Unsupported parameters for (blockinfile) module: bogus_zz. Supported parameters include: append_newline, attributes, backup, block, create, group, insertafter, insertbefore, marker, marker_begin, marker_end, mode, owner, path, prepend_newline, selevel, serole, setype, seuser, state, unsafe_writes, validate (attr, content, dest, destfile, name).",
            ),
            (
                service::WaitFor::unsupported("wait_for", &["bogus_zz"]),
                "Unsupported parameters for (wait_for) module: bogus_zz. Supported parameters include: active_connection_states, connect_timeout, delay, exclude_hosts, host, msg, path, port, search_regex, sleep, state, timeout.",
            ),
            (
                files::Copy::unsupported("ansible.legacy.copy", &["bogus_zz"]),
                "Unsupported parameters for (ansible.legacy.copy) module: bogus_zz. Supported parameters include: _original_basename, attributes, backup, checksum, content, dest, directory_mode, follow, force, group, local_follow, mode, owner, remote_src, selevel, serole, setype, seuser, src, unsafe_writes, validate (attr).",
            ),
            (
                unarchive::Unarchive::unsupported("ansible.legacy.unarchive", &["bogus_zz"]),
                "Unsupported parameters for (ansible.legacy.unarchive) module: bogus_zz. Supported parameters include: attributes, copy, creates, decrypt, dest, exclude, extra_opts, group, include, io_buffer_size, keep_newer, list_files, mode, owner, remote_src, selevel, serole, setype, seuser, src, unsafe_writes, validate_certs (attr).",
            ),
        ];
        for (ours, ansible) in cases {
            assert_eq!(ours, ansible);
        }
    }
}
