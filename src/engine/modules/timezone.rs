//! `timezone` (community.general) on Linux targets, with the collection's two ways there:
//! `timedatectl` when it answers (systemd), else the Debian files — `/etc/timezone`,
//! `/etc/localtime` (a link into `/usr/share/zoneinfo`, then `dpkg-reconfigure tzdata`) and, for
//! `hwclock`, `/etc/default/rcS` + `/etc/adjtime` + `hwclock --systohc`. Values are compared as
//! the module compares them (`n/a` for what it cannot read); the result's `diff` is the module's
//! `{before: {…}, after: {…}}`, in check mode `after` is the planned state.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::write_plain;
use super::module::{Module, Query};
use super::{Ctx, Diff, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timezone {
    #[serde(default, deserialize_with = "args::opt_string")]
    name: Option<String>,
    #[serde(default, alias = "rtc", deserialize_with = "args::opt_string")]
    hwclock: Option<String>,
}

/// What the target has, read once by `query` (and again after the change).
#[derive(Default)]
struct State {
    /// `timedatectl`'s path when it runs (the systemd way).
    timedatectl: Option<String>,
    status: String,
    zone_exists: bool,
    dpkg_reconfigure: bool,
    hwclock_bin: String,
    /// `/etc/timezone` (None: missing).
    timezone_file: Option<String>,
    /// `/etc/localtime`'s link target and whether it resolves; None: not a link.
    link: Option<(String, bool)>,
    /// `/etc/localtime` has the planned zone's bytes.
    same_file: bool,
    rcs: Option<String>,
    adjtime: Option<String>,
}

/// The keys the module compares, in its argument order (hwclock, then name).
type Values = Vec<(&'static str, String)>;

pub struct Change {
    state: State,
    before: Values,
}

const KEYS: [&str; 2] = ["hwclock", "name"];

impl Timezone {
    fn planned(&self) -> Values {
        let mut v = Values::new();
        if let Some(h) = &self.hwclock {
            v.push(("hwclock", h.clone()));
        }
        if let Some(n) = &self.name {
            v.push(("name", n.clone()));
        }
        v
    }

    async fn read(&self, ctx: &Ctx<'_>) -> Result<State, ModuleError> {
        let zone = self
            .name
            .as_deref()
            .map(|n| sh_quote(&format!("/usr/share/zoneinfo/{n}")))
            .unwrap_or_else(|| "/nonexistent".into());
        let out = ctx
            .query(
                &format!(
                    "t=$(command -v timedatectl) && timedatectl >/dev/null 2>&1 && {{ echo \"D $t\"; \
                     timedatectl status 2>/dev/null | sed 's/^/S /'; }}\n\
                     [ -f {zone} ] && echo Z\n\
                     command -v dpkg-reconfigure >/dev/null 2>&1 && echo R\n\
                     h=$(PATH=\"$PATH:/sbin:/usr/sbin\" command -v hwclock) && echo \"H $h\"\n\
                     [ -f /etc/timezone ] && {{ echo TF; sed 's/^/T /' /etc/timezone; }}\n\
                     [ -L /etc/localtime ] && {{ echo \"L $(readlink /etc/localtime)\"; [ -e /etc/localtime ] && echo LE; }}\n\
                     cmp -s /etc/localtime {zone} 2>/dev/null && echo SAME\n\
                     [ -f /etc/default/rcS ] && {{ echo CF; sed 's/^/C /' /etc/default/rcS; }}\n\
                     [ -f /etc/adjtime ] && {{ echo AF; sed 's/^/A /' /etc/adjtime; }}\n\
                     true"
                ),
                None,
            )
            .await?;
        let mut s = State::default();
        let mut link_target = None;
        let mut link_ok = false;
        let add = |file: &mut Option<String>, line: &str| {
            let f = file.get_or_insert_with(String::new);
            f.push_str(line);
            f.push('\n');
        };
        for l in out.stdout.lines() {
            match l {
                "Z" => s.zone_exists = true,
                "R" => s.dpkg_reconfigure = true,
                "TF" => s.timezone_file = Some(String::new()),
                "LE" => link_ok = true,
                "SAME" => s.same_file = true,
                "CF" => s.rcs = Some(String::new()),
                "AF" => s.adjtime = Some(String::new()),
                _ => {
                    if let Some(v) = l.strip_prefix("D ") {
                        s.timedatectl = Some(v.to_string());
                    } else if let Some(v) = l.strip_prefix("S ") {
                        s.status.push_str(v);
                        s.status.push('\n');
                    } else if let Some(v) = l.strip_prefix("H ") {
                        s.hwclock_bin = v.to_string();
                    } else if let Some(v) = l.strip_prefix("T ") {
                        add(&mut s.timezone_file, v);
                    } else if let Some(v) = l.strip_prefix("L ") {
                        link_target = Some(v.to_string());
                    } else if let Some(v) = l.strip_prefix("C ") {
                        add(&mut s.rcs, v);
                    } else if let Some(v) = l.strip_prefix("A ") {
                        add(&mut s.adjtime, v);
                    }
                }
            }
        }
        s.link = link_target.map(|t| (t, link_ok));
        Ok(s)
    }

    /// The module's `get(key, phase)`; Err is its abort message.
    fn get(&self, s: &State, key: &str, after: bool) -> Result<String, String> {
        let planned = if key == "name" {
            self.name.clone().unwrap_or_default()
        } else {
            self.hwclock.clone().unwrap_or_default()
        };
        if s.timedatectl.is_some() {
            let label = if key == "name" {
                ["Time zone", "Timezone"]
            } else {
                ["RTC in local TZ", "RTC in local TZ"]
            };
            let found = s.status.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                label
                    .contains(&k.trim())
                    .then(|| v.split_whitespace().next().unwrap_or("").to_string())
            });
            let Some(v) = found else {
                return Err(format!("timedatectl status shows no '{}'", label[0]));
            };
            return Ok(match key {
                "hwclock" if args::parse_bool(&Value::String(v.clone())) == Some(true) => {
                    "local".into()
                }
                "hwclock" => "UTC".into(),
                _ => v,
            });
        }
        if key == "hwclock" {
            let v = match first_match(s.rcs.as_deref(), rcs_value) {
                None => "n/a".to_string(),
                Some(v) if args::parse_bool(&Value::String(v.clone())) == Some(true) => {
                    "UTC".into()
                }
                Some(_) => "local".into(),
            };
            if v != planned {
                return Ok(v);
            }
            return Ok(
                match first_match(s.adjtime.as_deref(), |l| {
                    matches!(l, "UTC" | "LOCAL").then(|| l.to_string())
                }) {
                    Some(a) if a == "LOCAL" => "local".into(),
                    _ => "UTC".into(),
                },
            );
        }
        let value = match first_match(s.timezone_file.as_deref(), first_word) {
            Some(v) => v,
            None if after && s.timezone_file.is_some() => {
                return Err(
                    "tried to configure name using a file \"/etc/timezone\", but could not find a valid value in it"
                        .into(),
                );
            }
            None => "n/a".into(),
        };
        if value != planned {
            return Ok(value);
        }
        Ok(match &s.link {
            Some((target, true)) => match zoneinfo_name(target) {
                Some(z) if z != planned => z,
                Some(_) => value,
                None => "n/a".into(),
            },
            Some((_, false)) => "n/a".into(),
            None if s.same_file => value,
            None => "n/a".into(),
        })
    }

    fn values(&self, s: &State, after: bool) -> Result<Values, String> {
        let mut v = Values::new();
        for key in KEYS {
            let given = if key == "name" {
                self.name.is_some()
            } else {
                self.hwclock.is_some()
            };
            if given {
                v.push((key, self.get(s, key, after)?));
            }
        }
        Ok(v)
    }
}

/// The module's `abort`: its message, then the messages of what it did so far.
fn abort(msg: &str, done: &[String]) -> ModuleResult {
    let mut text = format!("Error message:\n{msg}");
    if !done.is_empty() {
        text.push_str("\nOther message(s):\n");
        text.push_str(&done.join("\n"));
    }
    ModuleResult::fail(text)
}

/// The value of the first line `f` accepts.
fn first_match(text: Option<&str>, f: impl Fn(&str) -> Option<String>) -> Option<String> {
    text?.lines().find_map(f)
}

/// `^([^\s]+)`: the first word of a line that starts with one.
fn first_word(l: &str) -> Option<String> {
    if l.starts_with(char::is_whitespace) {
        return None;
    }
    l.split_whitespace().next().map(str::to_string)
}

/// `^UTC\s*=\s*([^\s]+)`.
fn rcs_value(l: &str) -> Option<String> {
    let rest = l.strip_prefix("UTC")?.trim_start().strip_prefix('=')?;
    rest.split_whitespace().next().map(str::to_string)
}

/// The zone a `/etc/localtime` link points at (`…/usr/share/zoneinfo/Europe/Paris`).
fn zoneinfo_name(target: &str) -> Option<String> {
    ["/usr/share/zoneinfo/", "/etc/zoneinfo/"]
        .iter()
        .filter_map(|p| target.find(p).map(|i| (i, p.len())))
        .min()
        .map(|(i, n)| target[i + n..].to_string())
}

/// The module's `_edit_file`: the first matching line replaced by `line`, the other matches
/// dropped (or `line` inserted first); returns the text and how many lines were deleted.
fn edit(text: Option<&str>, matches: impl Fn(&str) -> bool, line: &str) -> (String, usize) {
    let mut lines: Vec<String> = text
        .unwrap_or("")
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    let hits: Vec<usize> = (0..lines.len()).filter(|&i| matches(&lines[i])).collect();
    let at = hits.first().copied().unwrap_or(0);
    for &i in hits.iter().rev() {
        lines.remove(i);
    }
    lines.insert(at, line.to_string());
    (lines.concat(), hits.len())
}

fn diff_value(before: &Values, after: &Values) -> Value {
    let side = |v: &Values| {
        Value::Object(
            v.iter()
                .map(|(k, x)| (k.to_string(), Value::String(x.clone())))
                .collect::<Map<_, _>>(),
        )
    };
    let mut d = Map::new();
    d.insert("before".into(), side(before));
    d.insert("after".into(), side(after));
    Value::Object(d)
}

fn result(before: &Values, after: &Values, msgs: &[String], show: bool) -> ModuleResult {
    let mut r = ModuleResult::changed(before != after);
    let d = diff_value(before, after);
    if show && r.changed {
        let text = |k: &str| serde_json::to_string_pretty(&d[k]).unwrap_or_default() + "\n";
        r.diff.push(Diff {
            before_header: String::new(),
            after_header: String::new(),
            before: text("before"),
            after: text("after"),
        });
    }
    // The registered `diff` is the module's mapping (the display above is its text).
    r.extra.insert("diff".into(), d);
    if !msgs.is_empty() {
        r.msg = Some(msgs.join("\n"));
    }
    r
}

impl Module for Timezone {
    const NAME: &'static str = "timezone";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = Change;

    fn validate(&self) -> Result<(), ModuleError> {
        if self.name.is_none() && self.hwclock.is_none() {
            return Err(ModuleError::Args(
                "timezone: one of the following is required: hwclock, name".into(),
            ));
        }
        args::choice(
            "timezone",
            "hwclock",
            self.hwclock.as_deref(),
            &["local", "UTC"],
        )?;
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let s = self.read(ctx).await?;
        if let Some(n) = &self.name
            && !s.zone_exists
        {
            return Ok(Query::done(abort(
                &format!("given timezone \"{n}\" is not available"),
                &[],
            )));
        }
        if s.timedatectl.is_none() && !s.dpkg_reconfigure {
            return Ok(Query::done(ModuleResult::fail(format!(
                "timezone: this host has neither a working timedatectl nor dpkg-reconfigure; the native \
                 engine sets the timezone on systemd and Debian-family hosts only; {}",
                super::catalog::USE_ANSIBLE
            ))));
        }
        if s.timedatectl.is_none() && self.hwclock.is_some() && s.hwclock_bin.is_empty() {
            return Ok(Query::done(ModuleResult::fail(
                "Failed to find required executable \"hwclock\" in paths",
            )));
        }
        let before = match self.values(&s, false) {
            Ok(v) => v,
            Err(msg) => return Ok(Query::done(abort(&msg, &[]))),
        };
        let planned = self.planned();
        let r = result(&before, &planned, &[], ctx.diff);
        if !r.changed {
            return Ok(Query::done(r));
        }
        Ok(Query::change(r, Change { state: s, before }))
    }

    async fn apply(&self, c: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let mut msgs: Vec<String> = Vec::new();
        let planned = self.planned();
        for ((key, want), (_, was)) in planned.iter().zip(&c.before) {
            if want == was {
                continue;
            }
            let mut cmds: Vec<(String, bool)> = Vec::new();
            if let Some(tdc) = &c.state.timedatectl {
                let (sub, v) = match *key {
                    "name" => ("set-timezone", want.as_str()),
                    _ if want == "local" => ("set-local-rtc", "yes"),
                    _ => ("set-local-rtc", "no"),
                };
                cmds.push((format!("{tdc} {sub} {v}"), true));
            } else {
                let (file, old, matches, line): (&str, _, fn(&str) -> bool, String) = match *key {
                    "name" => (
                        "/etc/timezone",
                        c.state.timezone_file.as_deref(),
                        |l| first_word(l).is_some(),
                        format!("{want}\n"),
                    ),
                    _ => (
                        "/etc/default/rcS",
                        c.state.rcs.as_deref(),
                        |l| rcs_value(l).is_some(),
                        format!("UTC={}\n", if want == "local" { "no" } else { "yes" }),
                    ),
                };
                let (text, deleted) = edit(old, matches, &line);
                if let Err(e) = write_plain(ctx, file, text.as_bytes()).await {
                    return Ok(abort(
                        &format!(
                            "tried to configure {key} using a file \"{file}\", but could not write to it ({e})"
                        ),
                        &msgs,
                    ));
                }
                msgs.push(format!(
                    "Added 1 line and deleted {deleted} line(s) on {file}"
                ));
                if *key == "name" {
                    let zone = format!("/usr/share/zoneinfo/{want}");
                    cmds.push((format!("ln -sf {zone} /etc/localtime"), false));
                    cmds.push((
                        "dpkg-reconfigure --frontend noninteractive tzdata".into(),
                        false,
                    ));
                } else {
                    let opt = if want == "local" {
                        "--localtime"
                    } else {
                        "--utc"
                    };
                    cmds.push((format!("{} --systohc {opt}", c.state.hwclock_bin), true));
                }
            }
            for (cmd, log) in cmds {
                // Words the module passes as a list; quoted here for sh.
                let script = cmd.split(' ').map(sh_quote).collect::<Vec<_>>().join(" ");
                let out = ctx
                    .query(
                        &format!(
                            "PATH=\"$PATH:/sbin:/usr/sbin\" DEBIAN_FRONTEND=noninteractive {script}"
                        ),
                        None,
                    )
                    .await?;
                if out.rc != 0 {
                    let mut r = ModuleResult::fail(out.stderr.trim_end());
                    r.rc = Some(out.rc);
                    r.stdout = Some(out.stdout);
                    r.stderr = Some(out.stderr);
                    r.extra.insert(
                        "cmd".into(),
                        Value::String(cmd.split(' ').collect::<Vec<_>>().join(" ")),
                    );
                    return Ok(r);
                }
                if log {
                    msgs.push(format!("executed `{cmd}`"));
                }
            }
        }
        let s = self.read(ctx).await?;
        let after = match self.values(&s, true) {
            Ok(v) => v,
            Err(msg) => return Ok(abort(&msg, &msgs)),
        };
        if after != planned {
            let side = |v: &Values| {
                let items: Vec<String> = v.iter().map(|(k, x)| format!("'{k}': '{x}'")).collect();
                format!("{{{}}}", items.join(", "))
            };
            return Ok(abort(
                &format!(
                    "still not desired state, though changes have made - planned: {}, after: {}",
                    side(&planned),
                    side(&after)
                ),
                &msgs,
            ));
        }
        Ok(result(&c.before, &after, &msgs, ctx.diff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(args: serde_json::Value) -> String {
        let serde_json::Value::Object(m) = args else {
            panic!("a mapping")
        };
        match crate::engine::modules::module::parse::<Timezone>(&m) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn arguments_are_checked_as_the_module_checks_them() {
        assert_eq!(
            refused(serde_json::json!({})),
            "timezone: one of the following is required: hwclock, name"
        );
        assert_eq!(
            refused(serde_json::json!({"rtc": "utc"})),
            "timezone: argument 'hwclock' is \"utc\"; valid: local, UTC"
        );
    }

    #[test]
    fn files_are_edited_and_read_as_the_module_does() {
        assert_eq!(
            edit(
                Some("Etc/UTC\n# x\n Europe/Paris\nA/B\n"),
                |l| first_word(l).is_some(),
                "Asia/Tokyo\n"
            ),
            // `# x` starts with a word too (`^([^\s]+)`).
            ("Asia/Tokyo\n Europe/Paris\n".to_string(), 3)
        );
        assert_eq!(
            edit(None, |l| rcs_value(l).is_some(), "UTC=yes\n"),
            ("UTC=yes\n".into(), 0)
        );
        assert_eq!(rcs_value("UTC = no # c").as_deref(), Some("no"));
        assert_eq!(rcs_value("UTCX=no"), None);
        assert_eq!(
            zoneinfo_name("../usr/share/zoneinfo/Europe/Paris").as_deref(),
            Some("Europe/Paris")
        );
        assert_eq!(zoneinfo_name("/opt/tz/Paris"), None);
    }
}
