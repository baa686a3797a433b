//! Modules that run on the controller (debug, assert, fail, pause) and fact gathering.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::module::{self, Module, Query};
use super::{Ctx, ModuleError, ModuleResult, args};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debug {
    /// `Some(Null)` for an explicit `msg: null` (Ansible shows `null`); `None` when absent.
    #[serde(default, deserialize_with = "present")]
    msg: Option<Value>,
    #[serde(default, deserialize_with = "args::opt_string")]
    var: Option<String>,
    #[serde(default, deserialize_with = "args::opt_int")]
    verbosity: Option<i64>,
    /// `var` evaluated by the engine (not a playbook argument: plan time refuses it).
    #[serde(default, rename = "__var_value")]
    var_value: Option<Value>,
}

impl Debug {
    fn result(&self) -> ModuleResult {
        let mut r = ModuleResult::ok();
        // Runs are at verbosity 0: a message for `-v` and above is not shown, as in Ansible.
        if self.verbosity.unwrap_or(0) > 0 {
            r.skipped = true;
            r.msg = Some("Verbosity threshold not met.".into());
            return r;
        }
        if let Some(name) = &self.var {
            r.extra
                .insert(name.clone(), self.var_value.clone().unwrap_or(Value::Null));
        } else {
            match &self.msg {
                Some(Value::String(s)) => r.msg = Some(s.clone()),
                // A list, mapping, number or null stays that value in the result, as in Ansible
                // (the registered `msg` is not its JSON text).
                Some(other) => {
                    r.extra.insert("msg".into(), other.clone());
                }
                None => r.msg = Some("Hello world!".into()),
            }
        }
        r
    }
}

/// A field that is present, even as `null` (serde's `Option` folds `null` into absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl Module for Debug {
    const NAME: &'static str = "debug";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();

    async fn query(&self, _ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        Ok(Query::done(self.result()))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(self.result())
    }
}

/// `assert`'s arguments arrive untemplated: `that` holds expressions the module evaluates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assert {
    that: Value,
    #[serde(default, deserialize_with = "args::opt_string")]
    msg: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    fail_msg: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    success_msg: Option<String>,
    /// No success message (and so nothing shown beside "ok"), as the action plugin does.
    #[serde(default, deserialize_with = "args::opt_bool")]
    quiet: Option<bool>,
}

impl Module for Assert {
    const NAME: &'static str = "assert";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        let that = match &self.that {
            Value::Array(items) => items.clone(),
            v => vec![v.clone()],
        };
        for cond in &that {
            let ok = ctx
                .templar
                .eval_bool(cond, ctx.scope)
                .map_err(|e| ModuleError::Args(format!("assert: {}", e.msg)))?;
            if !ok {
                let msg = self
                    .fail_msg
                    .clone()
                    .or(self.msg.clone())
                    .unwrap_or_else(|| "Assertion failed".into());
                let mut r = ModuleResult::fail(msg);
                r.extra.insert("assertion".into(), cond.clone());
                r.extra.insert("evaluated_to".into(), Value::Bool(false));
                return Ok(Query::done(r));
            }
        }
        if self.quiet == Some(true) {
            return Ok(Query::done(ModuleResult::ok()));
        }
        Ok(Query::done(
            ModuleResult::ok().with_msg(
                self.success_msg
                    .clone()
                    .unwrap_or_else(|| "All assertions passed".into()),
            ),
        ))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fail {
    #[serde(default, deserialize_with = "args::opt_string")]
    msg: Option<String>,
}

impl Module for Fail {
    const NAME: &'static str = "fail";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();

    /// fail's action plugin checks its `_VALID_ARGS` itself.
    fn action_refuses(action: &str, unknown: &[&str]) -> Option<String> {
        Some(module::invalid_options_msg(action, unknown))
    }

    async fn query(&self, _ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        Ok(Query::done(ModuleResult::fail(
            self.msg
                .clone()
                .unwrap_or_else(|| "Failed as requested from task".into()),
        )))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

/// `ping`: proves a command runs on the host (with the task's become), as the module proves
/// Python runs there; `data: crash` fails as the module's deliberate exception does.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    #[serde(default, deserialize_with = "args::opt_string")]
    data: Option<String>,
}

impl Module for Ping {
    const NAME: &'static str = "ping";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        let out = ctx.query(":", None).await?;
        if out.rc != 0 {
            let mut r = ModuleResult::fail("MODULE FAILURE: a command could not run on the host");
            r.rc = Some(out.rc);
            r.stderr = Some(out.stderr);
            return Ok(Query::done(r));
        }
        let data = self.data.clone().unwrap_or_else(|| "pong".into());
        if data == "crash" {
            // ansible-core 2.19's text for the module's exception.
            return Ok(Query::done(ModuleResult::fail(
                "Task failed: Module failed: boom",
            )));
        }
        let mut r = ModuleResult::ok();
        r.extra.insert("ping".into(), Value::String(data));
        Ok(Query::done(r))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// `pause: 5` (minutes in Ansible's free form are not supported: seconds).
    #[serde(default, rename = "_raw_params", deserialize_with = "args::opt_int")]
    raw_params: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_int")]
    seconds: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_int")]
    minutes: Option<i64>,
    #[serde(default)]
    prompt: Option<Value>,
}

impl Module for Pause {
    const NAME: &'static str = "pause";
    const ANSIBLE_ONLY: &'static [&'static str] = &["echo"];
    type Pending = ();

    fn validate(&self) -> Result<(), ModuleError> {
        if self.prompt.as_ref().is_some_and(|p| !p.is_null())
            && self.seconds.is_none()
            && self.minutes.is_none()
        {
            return Err(ModuleError::Args(
                "pause: an interactive prompt is not supported; give seconds or minutes".into(),
            ));
        }
        Ok(())
    }

    /// Pausing changes nothing: it happens in check mode too.
    async fn query(&self, _ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        let secs = self.seconds.unwrap_or(0)
            + self.minutes.unwrap_or(0) * 60
            + self.raw_params.unwrap_or(0);
        if secs < 0 {
            return Err(ModuleError::Args(
                "pause: seconds must not be negative".into(),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_secs(secs as u64)).await;
        Ok(Query::done(
            ModuleResult::ok().with_msg(format!("Paused for {secs} seconds")),
        ))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

/// `setup` and `gather_facts`: the facts the engine uses, gathered in one round trip.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatherFacts {}

impl Module for Setup {
    const NAME: &'static str = "setup";
    const ANSIBLE_ONLY: &'static [&'static str] =
        &["gather_subset", "filter", "gather_timeout", "fact_path"];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        Ok(Query::done(setup(ctx).await?))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

impl Module for GatherFacts {
    const NAME: &'static str = "gather_facts";
    const ANSIBLE_ONLY: &'static [&'static str] = &["parallel"];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        Ok(Query::done(setup(ctx).await?))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

/// The facts script: everything in one round trip, no Python, and as few processes as possible
/// (a fork+exec costs more than the rest of the script): builtins reading `/proc`, `/sys` and
/// `/etc` where they hold the answer; `hostname -f` (the resolver) and one `ip` for addresses
/// and the default route are the only programs on a current Linux (`uname` before 6.1, `id` for
/// a user `/etc/passwd` does not list).
const FACTS_SCRIPT: &str = r#"
set -f
read -r h </proc/sys/kernel/hostname
echo "hostname=${h%%.*}"
echo "fqdn=$(hostname -f 2>/dev/null || echo "$h")"
if [ -r /etc/os-release ]; then . /etc/os-release; fi
echo "os_id=${ID:-}"; echo "os_like=${ID_LIKE:-}"; echo "os_version=${VERSION_ID:-}"; echo "os_codename=${VERSION_CODENAME:-}"; echo "os_name=${NAME:-}"
[ -r /etc/debian_version ] && read -r v </etc/debian_version && echo "debian_version=$v"
if [ -r /proc/sys/kernel/arch ]; then read -r v </proc/sys/kernel/arch; else v=$(uname -m); fi
echo "arch=$v"
read -r v </proc/sys/kernel/osrelease; echo "kernel=$v"
read -r v </proc/sys/kernel/ostype; echo "system=$v"
while read -r k v _; do [ "$k" = Uid: ] && break; done </proc/self/status
u=; while IFS=: read -r n _ i _; do [ "$i" = "$v" ] && { u=$n; break; }; done </etc/passwd
[ -n "$u" ] || u=$(id -un 2>/dev/null)
echo "user_id=$u"; echo "user_uid=$v"
v=$(ip -4 -o -batch - 2>/dev/null <<'SLM_IP'
addr show scope global
route get 1.1.1.1
SLM_IP
)
a=; d=; i=
while read -r l; do
set -- $l
case ${1:-} in
*:) a="$a${4%%/*} " ;;
*) while [ $# -gt 1 ]; do case $1 in dev) i=$2 ;; src) d=$2 ;; esac; shift; done ;;
esac
done <<SLM_IP
$v
SLM_IP
echo "ipv4_all=$a"; echo "default_ipv4=$d"; echo "default_if=$i"
read -r v </proc/1/comm 2>/dev/null; echo "pid1=$v"
[ -d /run/systemd/system ] && echo "systemd=1"
for m in apt-get dnf yum zypper apk pacman; do command -v $m >/dev/null 2>&1 && { echo "pkg=$m"; break; }; done
while read -r k v _; do [ "$k" = MemTotal: ] && { echo "memtotal_kb=$v"; break; }; done </proc/meminfo
n=0; v=
read -r v 2>/dev/null </sys/devices/system/cpu/online
IFS=,; for r in $v; do case $r in *-*) n=$((n + ${r#*-} - ${r%-*} + 1)) ;; *) n=$((n + 1)) ;; esac; done; unset IFS
[ "$n" -gt 0 ] || n=$(nproc 2>/dev/null)
echo "nproc=$n"
echo "---env---"
for k in ENV_NAMES; do eval "s=\${$k+1} v=\${$k-}"; if [ -n "$s" ]; then printf '%s=%s\n' "$k" "$v"; fi; done
"#;

/// The environment variables `ansible_env` holds: what playbooks read from it (home, user, path,
/// locale), never the rest — a target's or the controller's environment can hold credentials
/// (`SLM_DATABASE_URL`, `PGPASSWORD`), and facts reach host variables and `setup` results.
const ENV_NAMES: &[&str] = &[
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PATH",
    "PWD",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "TMPDIR",
    "MAIL",
    "SUDO_USER",
    "SUDO_UID",
    "SUDO_GID",
    "XDG_RUNTIME_DIR",
];

/// The script `setup` runs (one round trip; see [`facts_result`]).
pub fn facts_script() -> String {
    FACTS_SCRIPT.replace("ENV_NAMES", &ENV_NAMES.join(" "))
}

async fn setup(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let out = ctx.query(&facts_script(), None).await?;
    Ok(facts_result(&out))
}

/// `setup`'s result from what [`facts_script`] printed.
pub fn facts_result(out: &crate::transport::Output) -> ModuleResult {
    if out.rc != 0 {
        return ModuleResult::fail(format!("gathering facts failed: {}", out.stderr.trim()));
    }
    let facts = parse_facts(&out.stdout);
    let mut r = ModuleResult::ok();
    r.extra.insert("ansible_facts".into(), Value::Object(facts));
    r
}

pub fn parse_facts(text: &str) -> Map<String, Value> {
    let (main, env) = text.split_once("---env---\n").unwrap_or((text, ""));
    let mut raw = std::collections::HashMap::new();
    for line in main.lines() {
        if let Some((k, v)) = line.split_once('=') {
            raw.insert(k.to_string(), v.trim().to_string());
        }
    }
    let get = |k: &str| raw.get(k).cloned().unwrap_or_default();
    let os_id = get("os_id");
    let like = get("os_like");
    let family = |id: &str| -> &'static str {
        match id {
            "debian" | "ubuntu" | "linuxmint" | "raspbian" | "kali" | "pop" | "devuan" => "Debian",
            "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "ol" | "amzn" => "RedHat",
            "sles" | "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" => "Suse",
            "arch" | "manjaro" => "Archlinux",
            "alpine" => "Alpine",
            _ => "",
        }
    };
    let mut os_family = family(&os_id).to_string();
    if os_family.is_empty() {
        os_family = like
            .split_whitespace()
            .map(family)
            .find(|f| !f.is_empty())
            .unwrap_or("")
            .to_string();
    }
    if os_family.is_empty() {
        os_family = capitalize(&os_id);
    }
    let distribution = match os_id.as_str() {
        "rhel" => "RedHat".to_string(),
        "ol" => "OracleLinux".to_string(),
        "opensuse-leap" => "openSUSE Leap".to_string(),
        other => capitalize(other),
    };
    let mut version = get("os_version");
    // Debian's os-release has "12"; Ansible reports the point release from /etc/debian_version.
    let dv = get("debian_version");
    if os_id == "debian" && dv.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        version = dv;
    }
    let major = version.split('.').next().unwrap_or("").to_string();
    let ipv4_all: Vec<Value> = get("ipv4_all")
        .split_whitespace()
        .map(|s| Value::String(s.to_string()))
        .collect();
    let mut default_ipv4 = get("default_ipv4");
    if default_ipv4.is_empty()
        && let Some(Value::String(first)) = ipv4_all.first()
    {
        default_ipv4 = first.clone();
    }
    let service_mgr = if raw.contains_key("systemd") {
        "systemd".to_string()
    } else {
        match get("pid1").as_str() {
            "init" | "" => "sysvinit".to_string(),
            other => other.to_string(),
        }
    };
    let pkg_mgr = match get("pkg").as_str() {
        "apt-get" => "apt",
        "" => "unknown",
        other => other,
    }
    .to_string();
    let mut envmap = Map::new();
    for line in env.lines() {
        if let Some((k, v)) = line.split_once('=')
            && !k.is_empty()
            && ENV_NAMES.contains(&k)
        {
            envmap.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    let mut f = Map::new();
    let mut put = |k: &str, v: Value| {
        f.insert(k.to_string(), v);
    };
    put("hostname", get("hostname").into());
    put("nodename", get("hostname").into());
    put("fqdn", get("fqdn").into());
    put("os_family", os_family.into());
    put("distribution", distribution.into());
    put("distribution_version", version.into());
    put("distribution_major_version", major.into());
    put("distribution_release", get("os_codename").into());
    put("architecture", get("arch").into());
    put("kernel", get("kernel").into());
    put("system", get("system").into());
    put("user_id", get("user_id").into());
    put(
        "user_uid",
        get("user_uid")
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    put("all_ipv4_addresses", Value::Array(ipv4_all));
    let mut d4 = Map::new();
    d4.insert("address".into(), default_ipv4.into());
    d4.insert("interface".into(), get("default_if").into());
    put("default_ipv4", Value::Object(d4));
    put("service_mgr", service_mgr.into());
    put("pkg_mgr", pkg_mgr.into());
    put(
        "memtotal_mb",
        get("memtotal_kb")
            .parse::<i64>()
            .map(|k| Value::from(k / 1024))
            .unwrap_or(Value::Null),
    );
    put(
        "processor_vcpus",
        get("nproc")
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    put("env", Value::Object(envmap));
    f
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_above_verbosity_zero_is_skipped() {
        let d: Debug =
            serde_json::from_value(serde_json::json!({"msg": "hi", "verbosity": 1})).unwrap();
        let r = d.result();
        assert!(r.skipped);
        let d: Debug = serde_json::from_value(serde_json::json!({"msg": "hi"})).unwrap();
        assert_eq!(d.result().msg.as_deref(), Some("hi"));
    }

    #[test]
    fn debian_facts() {
        let f = parse_facts(
            "hostname=h1\nos_id=debian\nos_version=12\ndebian_version=12.7\nos_codename=bookworm\nipv4_all=10.0.0.2 10.0.0.3 \npkg=apt-get\npid1=sh\n---env---\nHOME=/root\nPGPASSWORD=x\n",
        );
        assert_eq!(f["os_family"], "Debian");
        assert_eq!(f["distribution"], "Debian");
        assert_eq!(f["distribution_version"], "12.7");
        assert_eq!(f["distribution_major_version"], "12");
        assert_eq!(f["default_ipv4"]["address"], "10.0.0.2");
        assert_eq!(f["pkg_mgr"], "apt");
        assert_eq!(f["service_mgr"], "sh");
        assert_eq!(f["env"]["HOME"], "/root");
        assert_eq!(f["env"].get("PGPASSWORD"), None);
    }
}

/// `validate_argument_spec` (the action ansible-core prepends to a role with an argument spec,
/// usable as a task too): the provided arguments over the variables the spec names, validated
/// with AnsibleModule's rules on the controller.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateArgumentSpec {
    argument_spec: Value,
    #[serde(default)]
    provided_arguments: Option<Value>,
    #[serde(default)]
    validate_args_context: Option<Value>,
    /// The spec's options that are variables of the task, rendered (set by the engine, not a
    /// playbook argument).
    #[serde(default, rename = "__task_vars")]
    task_vars: Option<Map<String, Value>>,
}

impl ValidateArgumentSpec {
    fn result(&self) -> Result<ModuleResult, ModuleError> {
        let Value::Object(spec) = &self.argument_spec else {
            return Err(ModuleError::Args(format!(
                "Incorrect type for argument_spec, expected dict and got {}",
                argspec_class(&self.argument_spec)
            )));
        };
        let provided = match &self.provided_arguments {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return Err(ModuleError::Args(format!(
                    "Incorrect type for provided_arguments, expected dict and got {}",
                    argspec_class(other)
                )));
            }
        };
        // combine_vars(args_from_vars, provided_arguments): the role's parameters win.
        let mut params = self.task_vars.clone().unwrap_or_default();
        params.extend(provided);
        let v = crate::playbook::argspec::validate::validate(spec, params);
        let context = self
            .validate_args_context
            .clone()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let mut r = if let Some(fatal) = v.fatal {
            ModuleResult::fail(fatal)
        } else if v.errors.is_empty() {
            ModuleResult::ok().with_msg("The arg spec validation passed")
        } else {
            let mut r = ModuleResult::fail(format!(
                "Validation of arguments failed:\n{}",
                v.errors.join("\n")
            ));
            r.extra
                .insert("argument_spec_data".into(), self.argument_spec.clone());
            r.extra.insert(
                "argument_errors".into(),
                Value::Array(v.errors.into_iter().map(Value::String).collect()),
            );
            r
        };
        r.extra.insert("validate_args_context".into(), context);
        Ok(r)
    }
}

fn argspec_class(v: &Value) -> String {
    format!("<class '{}'>", crate::compat::py::py_type(v))
}

impl Module for ValidateArgumentSpec {
    const NAME: &'static str = "validate_argument_spec";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();

    /// An action plugin on the controller: it validates in check mode too.
    async fn query(&self, _ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        Ok(Query::done(self.result()?))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        self.result()
    }
}
