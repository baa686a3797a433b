//! `ufw` (community.general): the module's commands, built as it builds them (`state`,
//! `default`, `rule`, `logging`, in that order), run with `LANG=C`. ufw itself decides what a
//! rule means, so `changed` is decided as the module decides it: in check mode from
//! `ufw status verbose` and `ufw --dry-run …` (which change nothing), otherwise by comparing
//! the status and the `### tuple` lines of the user rules before and after. The registered
//! result has the module's `commands` (and `msg`, the status after a run).

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use super::module::{Module, Query};
use super::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ufw {
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, alias = "policy", deserialize_with = "args::opt_string")]
    default: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    logging: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    direction: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    delete: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    route: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_int")]
    insert: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_string")]
    insert_relative_to: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    rule: Option<String>,
    #[serde(default, alias = "if", deserialize_with = "args::opt_string")]
    interface: Option<String>,
    #[serde(default, alias = "if_in", deserialize_with = "args::opt_string")]
    interface_in: Option<String>,
    #[serde(default, alias = "if_out", deserialize_with = "args::opt_string")]
    interface_out: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    log: Option<bool>,
    #[serde(
        default,
        alias = "from",
        alias = "src",
        deserialize_with = "args::opt_string"
    )]
    from_ip: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    from_port: Option<String>,
    #[serde(
        default,
        alias = "dest",
        alias = "to",
        deserialize_with = "args::opt_string"
    )]
    to_ip: Option<String>,
    #[serde(default, alias = "port", deserialize_with = "args::opt_string")]
    to_port: Option<String>,
    #[serde(default, alias = "protocol", deserialize_with = "args::opt_string")]
    proto: Option<String>,
    #[serde(default, alias = "app", deserialize_with = "args::opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    comment: Option<String>,
}

const IPV4: &str =
    r"((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])";
const IPV6: &str = concat!(
    r"(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
    r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}",
    r"(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4})",
    r"{1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]",
    r"{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]",
    r"{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)|fe80:(:[0-9a-fA-F]{0,4})",
    r"{0,4}%[0-9a-zA-Z]{1,}|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]",
    r"|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}",
    r"[0-9])|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}",
    r"[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))"
);

/// (search anywhere, match at the start) for the module's IPv4 and IPv6 patterns.
static PATTERNS: LazyLock<[(regex::Regex, regex::Regex); 2]> = LazyLock::new(|| {
    let pair = |p: &str| {
        (
            regex::Regex::new(p).unwrap_or_else(|_| never()),
            regex::Regex::new(&format!("^(?:{p})")).unwrap_or_else(|_| never()),
        )
    };
    [pair(IPV4), pair(IPV6)]
});

/// The patterns above are constants the tests compile.
fn never() -> regex::Regex {
    regex::Regex::new("$^").unwrap_or_else(|_| unreachable!())
}

const USER_RULES: [&str; 6] = [
    "/lib/ufw/user.rules",
    "/lib/ufw/user6.rules",
    "/etc/ufw/user.rules",
    "/etc/ufw/user6.rules",
    "/var/lib/ufw/user.rules",
    "/var/lib/ufw/user6.rules",
];

/// What the host looked like before: the tools' paths, `ufw status verbose`, the rule tuples.
pub struct Before {
    ufw: String,
    grep: String,
    state: String,
    rules: String,
    commands: Vec<String>,
}

/// Runs one of the module's commands: a failure ends the module with its message and the
/// commands run so far.
struct Runner<'a> {
    ctx: &'a Ctx<'a>,
    commands: Vec<String>,
}

impl Runner<'_> {
    async fn run(
        &mut self,
        cmd: &str,
        ignore_error: bool,
    ) -> Result<Result<String, ModuleResult>, ModuleError> {
        self.commands.push(cmd.to_string());
        // The module splits the line as a shell would and runs it without one.
        let words = crate::transport::ssh::split_shell_words(cmd).map_err(ModuleError::Args)?;
        let script = format!(
            "LANG=C {}",
            words
                .iter()
                .map(|w| sh_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = self.ctx.query(&script, None).await?;
        if out.rc != 0 && !ignore_error {
            let msg = if out.stderr.is_empty() {
                out.stdout
            } else {
                out.stderr
            };
            let mut r = ModuleResult::fail(msg);
            r.extra
                .insert("commands".into(), Value::from(self.commands.clone()));
            return Ok(Err(r));
        }
        Ok(Ok(out.stdout))
    }
}

/// Lines of `text` (ends kept) that `keep` accepts, joined.
fn lines_where(text: &str, keep: impl Fn(&str) -> bool) -> String {
    text.split_inclusive('\n').filter(|l| keep(l)).collect()
}

/// Python's `bool(x)` of an optional argument: given and not empty.
fn given(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

impl Ufw {
    fn commands(&self) -> Vec<(&'static str, &str)> {
        [
            ("state", &self.state),
            ("default", &self.default),
            ("rule", &self.rule),
            ("logging", &self.logging),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().filter(|s| !s.is_empty()).map(|s| (k, s)))
        .collect()
    }

    /// The rule's words after `ufw [--dry-run]` (the module's long format).
    fn rule_words(&self, rule: &str, insert_to: Option<i64>, comment: bool) -> Vec<String> {
        let mut w: Vec<String> = Vec::new();
        let mut add = |on: bool, s: String| {
            if on {
                w.push(s);
            }
        };
        add(self.route.unwrap_or(false), "route".into());
        let delete = self.delete.unwrap_or(false);
        add(delete, "delete".into());
        if self.insert.is_some() && !delete {
            add(
                insert_to.is_some(),
                format!("insert {}", insert_to.unwrap_or(0)),
            );
        }
        add(true, rule.to_string());
        let opt = |v: &Option<String>, f: &dyn Fn(&str) -> String| {
            v.as_deref().filter(|s| !s.is_empty()).map(f)
        };
        let from_ip = self.from_ip.clone().or(Some("any".into()));
        let to_ip = self.to_ip.clone().or(Some("any".into()));
        for part in [
            opt(&self.direction, &|d| d.to_string()),
            opt(&self.interface, &|i| format!("on {i}")),
            opt(&self.interface_in, &|i| format!("in on {i}")),
            opt(&self.interface_out, &|i| format!("out on {i}")),
            self.log.unwrap_or(false).then(|| "log".to_string()),
            opt(&from_ip, &|v| format!("from {v}")),
            opt(&self.from_port, &|v| format!("port {v}")),
            opt(&to_ip, &|v| format!("to {v}")),
            opt(&self.to_port, &|v| format!("port {v}")),
            opt(&self.proto, &|v| format!("proto {v}")),
            opt(&self.name, &|v| format!("app '{v}'")),
        ]
        .into_iter()
        .flatten()
        {
            w.push(part);
        }
        if comment && let Some(c) = self.comment.as_deref().filter(|c| !c.is_empty()) {
            w.push(format!("comment '{c}'"));
        }
        w
    }

    /// The rule's `insert` number: as given, or relative to `ufw status numbered`.
    async fn insert_to(&self, r: &Runner<'_>, ufw: &str) -> Result<Option<i64>, ModuleError> {
        let Some(insert) = self.insert else {
            return Ok(None);
        };
        let rel = self.insert_relative_to.as_deref().unwrap_or("zero");
        if rel == "zero" {
            return Ok(Some(insert));
        }
        let out = r
            .ctx
            .query(&format!("LANG=C {} status numbered", sh_quote(ufw)), None)
            .await?;
        let lines: Vec<(i64, bool)> = out
            .stdout
            .lines()
            .filter_map(|l| {
                let n = l.strip_prefix('[')?.trim_start();
                let (num, rest) = n.split_once(']')?;
                rest.starts_with(' ').then_some(())?;
                Some((num.parse().ok()?, l.contains("(v6)")))
            })
            .collect();
        let last = lines.iter().map(|(n, _)| *n).max().unwrap_or(0);
        let v4_max = lines.iter().filter(|(_, v6)| !v6).map(|(n, _)| *n).max();
        let has_v6 = lines.iter().any(|(_, v6)| *v6);
        let relative_to = match rel {
            "first-ipv4" => 1,
            "last-ipv4" => v4_max.unwrap_or(1),
            "first-ipv6" => v4_max.map(|m| m + 1).unwrap_or(1),
            _ if has_v6 => last,
            _ => last + 1,
        };
        let to = insert + relative_to;
        // ufw refuses a number past the last rule.
        Ok((to <= last).then_some(to))
    }

    async fn ufw_version(
        &self,
        r: &mut Runner<'_>,
        ufw: &str,
    ) -> Result<Result<(u32, u32), ModuleResult>, ModuleError> {
        let out = match r.run(&format!("{ufw} --version"), false).await? {
            Ok(o) => o,
            Err(f) => return Ok(Err(f)),
        };
        let first = out.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        // `^ufw.+(\d+)\.(\d+)(?:\.(\d+))?.*$`: `.+` is greedy, so the last `N.N` of the line.
        let re = regex::Regex::new(r"^ufw.+(\d+)\.(\d+)(?:\.(\d+))?.*$")
            .map_err(|e| ModuleError::Args(e.to_string()))?;
        match re.captures(first) {
            Some(c) => Ok(Ok((c[1].parse().unwrap_or(0), c[2].parse().unwrap_or(0)))),
            None => Ok(Err(ModuleResult::fail("Failed to get ufw version."))),
        }
    }

    fn rules_cmd(grep: &str) -> String {
        format!("{grep} -h '^### tuple' {}", USER_RULES.join(" "))
    }
}

impl Module for Ufw {
    const NAME: &'static str = "ufw";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = Before;

    fn validate(&self) -> Result<(), ModuleError> {
        let c = |arg, v: &Option<String>, valid: &[&str]| {
            args::choice("ufw", arg, v.as_deref(), valid).map(|_| ())
        };
        c(
            "state",
            &self.state,
            &["enabled", "disabled", "reloaded", "reset"],
        )?;
        c("default", &self.default, &["allow", "deny", "reject"])?;
        c(
            "logging",
            &self.logging,
            &["full", "high", "low", "medium", "off", "on"],
        )?;
        c(
            "direction",
            &self.direction,
            &["in", "incoming", "out", "outgoing", "routed"],
        )?;
        c(
            "insert_relative_to",
            &self.insert_relative_to,
            &["zero", "first-ipv4", "last-ipv4", "first-ipv6", "last-ipv6"],
        )?;
        c("rule", &self.rule, &["allow", "deny", "limit", "reject"])?;
        c(
            "proto",
            &self.proto,
            &[
                "ah", "any", "esp", "ipv6", "tcp", "udp", "gre", "igmp", "vrrp",
            ],
        )?;
        let set = |v: &Option<String>| v.is_some();
        let exclusive = [
            (
                vec!["name", "proto", "logging"],
                vec![set(&self.name), set(&self.proto), set(&self.logging)],
            ),
            (
                vec!["direction", "interface_in"],
                vec![set(&self.direction), set(&self.interface_in)],
            ),
            (
                vec!["direction", "interface_out"],
                vec![set(&self.direction), set(&self.interface_out)],
            ),
        ];
        for (names, on) in exclusive {
            if on.iter().filter(|b| **b).count() > 1 {
                return Err(ModuleError::Args(format!(
                    "ufw: parameters are mutually exclusive: {}",
                    names.join("|")
                )));
            }
        }
        if self.state.is_none()
            && self.default.is_none()
            && self.rule.is_none()
            && self.logging.is_none()
        {
            return Err(ModuleError::Args(
                "ufw: one of the following is required: state, default, rule, logging".into(),
            ));
        }
        if self.interface.is_some() && self.direction.is_none() {
            return Err(ModuleError::Args(
                "ufw: missing parameter(s) required by 'interface': direction".into(),
            ));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Before>, ModuleError> {
        let out = ctx
            .query(
                "PATH=\"$PATH:/sbin:/usr/sbin:/usr/local/sbin\"; echo \"U $(command -v ufw)\"; echo \"G $(command -v grep)\"",
                None,
            )
            .await?;
        let tool = |tag: &str| {
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix(tag))
                .map(str::trim)
                .unwrap_or("")
                .to_string()
        };
        let (ufw, grep) = (tool("U "), tool("G "));
        for (name, path) in [("ufw", &ufw), ("grep", &grep)] {
            if path.is_empty() {
                return Ok(Query::done(ModuleResult::fail(format!(
                    "Failed to find required executable \"{name}\" in paths"
                ))));
            }
        }
        let mut r = Runner {
            ctx,
            commands: Vec::new(),
        };
        let state = match r.run(&format!("{ufw} status verbose"), false).await? {
            Ok(s) => s,
            Err(f) => return Ok(Query::done(f)),
        };
        let rules = match r.run(&Self::rules_cmd(&grep), true).await? {
            Ok(s) => s,
            Err(f) => return Ok(Query::done(f)),
        };
        if !ctx.check {
            // Outside check mode the module runs its commands and compares before with after.
            return Ok(Query::change(
                ModuleResult::changed(true),
                Before {
                    ufw,
                    grep,
                    state,
                    rules,
                    commands: r.commands,
                },
            ));
        }
        let mut changed = false;
        for (command, value) in self.commands() {
            match command {
                "state" => {
                    let enabled = state.contains(" active");
                    changed |= matches!(value, "reloaded" | "reset")
                        || (value == "disabled" && enabled)
                        || (value == "enabled" && !enabled);
                }
                "logging" => changed |= logging_changes(&state, value),
                "default" => {
                    if let Some(f) = bad_default_direction(self.direction.as_deref()) {
                        return Ok(Query::done(f));
                    }
                    changed |= default_changes(&state, self.direction.as_deref(), value);
                }
                _ => {
                    if let Some(f) = self.bad_rule() {
                        return Ok(Query::done(f));
                    }
                    let insert_to = self.insert_to(&r, &ufw).await?;
                    let comment = match self.ufw_version(&mut r, &ufw).await? {
                        Ok((major, minor)) => major > 0 || minor >= 35,
                        Err(f) => return Ok(Query::done(f)),
                    };
                    let words = self.rule_words(value, insert_to, comment);
                    let dry = match r
                        .run(&format!("{ufw} --dry-run {}", words.join(" ")), false)
                        .await?
                    {
                        Ok(s) => s,
                        Err(f) => return Ok(Query::done(f)),
                    };
                    changed |= self.dry_run_changes(&rules, &dry);
                }
            }
        }
        let mut res = ModuleResult::changed(changed);
        res.extra.insert("commands".into(), Value::from(r.commands));
        Ok(Query::done(res))
    }

    async fn apply(&self, b: Before, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let mut r = Runner {
            ctx,
            commands: b.commands,
        };
        let ufw = &b.ufw;
        let mut changed = false;
        for (command, value) in self.commands() {
            let line = match command {
                "state" => {
                    changed |= matches!(value, "reloaded" | "reset");
                    let verb = match value {
                        "enabled" => "enable",
                        "disabled" => "disable",
                        "reloaded" => "reload",
                        _ => "reset",
                    };
                    format!("{ufw} -f {verb}")
                }
                "logging" => format!("{ufw} logging {value}"),
                "default" => {
                    if let Some(f) = bad_default_direction(self.direction.as_deref()) {
                        return Ok(f);
                    }
                    match self.direction.as_deref() {
                        Some(d) => format!("{ufw} default {value} {d}"),
                        None => format!("{ufw} default {value}"),
                    }
                }
                _ => {
                    if let Some(f) = self.bad_rule() {
                        return Ok(f);
                    }
                    let insert_to = self.insert_to(&r, ufw).await?;
                    let comment = match self.ufw_version(&mut r, ufw).await? {
                        Ok((major, minor)) => major > 0 || minor >= 35,
                        Err(f) => return Ok(f),
                    };
                    format!(
                        "{ufw} {}",
                        self.rule_words(value, insert_to, comment).join(" ")
                    )
                }
            };
            if let Err(f) = r.run(&line, false).await? {
                return Ok(f);
            }
        }
        let post = match r.run(&format!("{ufw} status verbose"), false).await? {
            Ok(s) => s,
            Err(f) => return Ok(f),
        };
        if !changed {
            let rules = match r.run(&Self::rules_cmd(&b.grep), true).await? {
                Ok(s) => s,
                Err(f) => return Ok(f),
            };
            changed = b.state != post || b.rules != rules;
        }
        let mut res = ModuleResult::changed(changed).with_msg(post.trim_end());
        res.extra.insert("commands".into(), Value::from(r.commands));
        Ok(res)
    }
}

impl Ufw {
    fn bad_rule(&self) -> Option<ModuleResult> {
        if !matches!(self.direction.as_deref(), None | Some("in") | Some("out")) {
            return Some(ModuleResult::fail(
                "For rules, direction must be one of \"in\" and \"out\", or direction must not be specified.",
            ));
        }
        if !self.route.unwrap_or(false) && given(&self.interface_in) && given(&self.interface_out) {
            return Some(ModuleResult::fail(
                "Only route rules can combine interface_in and interface_out",
            ));
        }
        None
    }

    /// Check mode: whether the dry run's rules differ from the current ones (only the address
    /// family the rule names, as a dry run shows one).
    fn dry_run_changes(&self, pre_rules: &str, dry: &str) -> bool {
        let skipping = dry.lines().filter(|l| l.contains("Skipping")).count();
        if skipping > 0 && skipping == dry.split_inclusive('\n').count() {
            return false;
        }
        let dry = lines_where(dry, |l| l.starts_with("### tuple"));
        let from = self.from_ip.as_deref().unwrap_or("any");
        let to = self.to_ip.as_deref().unwrap_or("any");
        let [(v4, v4_start), (v6, v6_start)] = &*PATTERNS;
        let family = |re: &regex::Regex, t: &str| lines_where(t, |l| re.is_match(l));
        if v4_start.is_match(from) || v4_start.is_match(to) {
            family(v4, pre_rules) != family(v4, &dry)
        } else if v6_start.is_match(from) || v6_start.is_match(to) {
            family(v6, pre_rules) != family(v6, &dry)
        } else {
            pre_rules != dry
        }
    }
}

fn bad_default_direction(direction: Option<&str>) -> Option<ModuleResult> {
    (!matches!(direction, None | Some("outgoing") | Some("incoming") | Some("routed"))).then(|| {
        ModuleResult::fail(
            "For default, direction must be one of \"outgoing\", \"incoming\" and \"routed\", or direction must not be specified.",
        )
    })
}

/// Check mode: `Logging: on (low)` against the wanted level.
fn logging_changes(status: &str, value: &str) -> bool {
    let Some(rest) = status
        .find("Logging: ")
        .map(|i| &status[i + "Logging: ".len()..])
    else {
        return true;
    };
    let on_off = if rest.starts_with("on") {
        "on"
    } else if rest.starts_with("off") {
        "off"
    } else {
        return true;
    };
    let level = rest[on_off.len()..].strip_prefix(" (").and_then(|r| {
        let end = r.find(|c: char| !c.is_ascii_lowercase())?;
        (r[end..].starts_with(')') && end > 0).then(|| &r[..end])
    });
    if value != "off" {
        on_off == "off" || (value != "on" && Some(value) != level)
    } else {
        on_off != "off"
    }
}

/// Check mode: `Default: deny (incoming), allow (outgoing), disabled (routed)`.
fn default_changes(status: &str, direction: Option<&str>, value: &str) -> bool {
    let re = regex::Regex::new(
        r"Default: (deny|allow|reject) \(incoming\), (deny|allow|reject) \(outgoing\), (deny|allow|reject|disabled) \(routed\)",
    );
    let Some(c) = re.ok().and_then(|re| {
        re.captures(status)
            .map(|c| [c[1].to_string(), c[2].to_string(), c[3].to_string()])
    }) else {
        return true;
    };
    let current = match direction {
        Some("outgoing") => &c[1],
        Some("routed") => &c[2],
        _ => &c[0],
    };
    current != value && current != "disabled"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(args: serde_json::Value) -> String {
        let serde_json::Value::Object(m) = args else {
            panic!("a mapping")
        };
        match crate::engine::modules::module::parse::<Ufw>(&m) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn arguments_are_checked_as_the_module_checks_them() {
        assert_eq!(
            refused(serde_json::json!({"port": 22})),
            "ufw: one of the following is required: state, default, rule, logging"
        );
        assert_eq!(
            refused(serde_json::json!({"rule": "allow", "if": "eth0"})),
            "ufw: missing parameter(s) required by 'interface': direction"
        );
        assert_eq!(
            refused(serde_json::json!({"rule": "allow", "app": "OpenSSH", "proto": "tcp"})),
            "ufw: parameters are mutually exclusive: name|proto|logging"
        );
        assert!(refused(serde_json::json!({"rule": "permit"})).contains("valid: allow, deny"));
    }

    fn ufw(v: serde_json::Value) -> Ufw {
        serde_json::from_value(v).expect("arguments")
    }

    #[test]
    fn rules_are_built_as_the_module_builds_them() {
        let u =
            ufw(serde_json::json!({"rule": "allow", "port": 22, "proto": "tcp", "comment": "ssh"}));
        assert_eq!(
            u.rule_words("allow", None, true).join(" "),
            "allow from any to any port 22 proto tcp comment 'ssh'"
        );
        let u = ufw(
            serde_json::json!({"rule": "deny", "direction": "in", "if": "eth0",
            "from": "10.0.0.0/8", "delete": true, "insert": 1, "log": true}),
        );
        assert_eq!(
            u.rule_words("deny", Some(1), false).join(" "),
            "delete deny in on eth0 log from 10.0.0.0/8 to any"
        );
        assert!(PATTERNS[0].1.is_match("10.0.0.1"));
        assert!(!PATTERNS[0].1.is_match("any"));
        assert!(PATTERNS[1].1.is_match("2001:db8::1"));
    }

    #[test]
    fn check_mode_reads_the_status_as_the_module_does() {
        let s = "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n";
        assert!(!logging_changes(s, "on"));
        assert!(!logging_changes(s, "low"));
        assert!(logging_changes(s, "high"));
        assert!(logging_changes(s, "off"));
        assert!(!default_changes(s, None, "deny"));
        assert!(default_changes(s, Some("outgoing"), "deny"));
        assert!(!default_changes(s, Some("routed"), "allow"));
        assert!(logging_changes("Status: inactive\n", "on"));
    }
}
