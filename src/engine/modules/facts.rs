//! Fact modules: `service_facts` and `package_facts` on Debian-family targets, as ansible-core
//! 2.19 reports them. Their `ansible_facts` become host facts (engine/run/task.rs merges any
//! module's facts). Each reads the target in one round trip and never changes it.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::module::{Module, Query};
use super::{Ctx, ModuleError, ModuleResult, args};

/// `service_facts`: sysv services from `service --status-all` and systemd units from
/// `systemctl`, with Ansible's rules for when each is asked (upstart, chkconfig and OpenRC hosts
/// are not Debian's and are not read).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFacts {}

/// Ansible's tool search adds the sbin directories to PATH; its systemd test is
/// module_utils.service.is_systemd_managed. Sections are tagged so the parser knows which
/// output is which.
const SERVICES_SCRIPT: &str = r#"
PATH=$PATH:/sbin:/usr/sbin:/usr/local/sbin
export LANG=C LC_ALL=C
if command -v service >/dev/null 2>&1 && ! command -v chkconfig >/dev/null 2>&1 && ! command -v rc-status >/dev/null 2>&1; then
  out=$(service --status-all 2>/dev/null); rc=$?
  if [ "$rc" != 4 ] || [ -e /etc/init.d ]; then echo "@@sysv"; printf '%s\n' "$out"; fi
fi
if command -v systemctl >/dev/null 2>&1; then
  sd=
  for c in /run/systemd/system/ /dev/.run/systemd/ /dev/.systemd/; do [ -e "$c" ] && sd=1; done
  if [ -z "$sd" ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then sd=1; fi
  if [ -n "$sd" ]; then
    echo "@@units"; systemctl list-units --no-pager --type service --all --plain 2>/dev/null
    echo "@@files"; systemctl list-unit-files --no-pager --type service --all 2>/dev/null
    echo "@@active"
    systemctl list-unit-files --no-pager --type service --all 2>/dev/null | while read -r u _; do
      case $u in *.service) printf '%s %s\n' "$u" "$(systemctl show "$u" --property=ActiveState 2>/dev/null)" ;; esac
    done
  fi
fi
"#;

/// The output of one tagged section.
fn section<'a>(out: &'a str, tag: &str) -> Option<&'a str> {
    let start = out.find(&format!("@@{tag}\n"))? + tag.len() + 3;
    let rest = &out[start..];
    Some(match rest.find("\n@@") {
        Some(end) => &rest[..=end],
        None => rest,
    })
}

/// `[ + ]  name` lines of `service --status-all` (`[ ? ]` is neither and is skipped).
fn parse_sysv(text: &str, services: &mut Map<String, Value>) {
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("[ ") else {
            continue;
        };
        let state = match rest.chars().next() {
            Some('+') => "running",
            Some('-') => "stopped",
            _ => continue,
        };
        let Some(after) = rest[1..].strip_prefix(" ]") else {
            continue;
        };
        if !after.starts_with(char::is_whitespace) {
            continue;
        }
        let name = after.trim_start();
        if name.is_empty() {
            continue;
        }
        services.insert(
            name.to_string(),
            json!({"name": name, "state": state, "source": "sysv"}),
        );
    }
}

const BAD_STATES: [&str; 3] = ["not-found", "masked", "failed"];

/// `systemctl list-units` (status from the LOAD/ACTIVE columns, state from SUB), then the unit
/// files that list did not show (their ActiveState asked one by one, as Ansible does).
fn parse_systemd(units: &str, files: &str, active: &str, services: &mut Map<String, Value>) {
    for line in units.lines().filter(|l| l.contains(".service")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            continue;
        }
        let head = &fields[..fields.len() - 1];
        let status = BAD_STATES
            .iter()
            .find(|b| head.contains(b))
            .copied()
            .unwrap_or(fields[2]);
        let state = if fields[3] == "running" {
            "running"
        } else {
            "stopped"
        };
        services.insert(
            fields[0].to_string(),
            json!({"name": fields[0], "state": state, "status": status, "source": "systemd"}),
        );
    }
    for line in files.lines().filter(|l| l.contains(".service")) {
        let mut it = line.split_whitespace();
        let (Some(name), Some(status)) = (it.next(), it.next()) else {
            continue;
        };
        match services.get_mut(name) {
            None => {
                let state = active
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                    .and_then(|v| v.trim().strip_prefix("ActiveState="))
                    .filter(|v| !v.is_empty())
                    .unwrap_or("unknown");
                services.insert(
                    name.to_string(),
                    json!({"name": name, "state": state, "status": status, "source": "systemd"}),
                );
            }
            Some(Value::Object(s)) => {
                let bad = s
                    .get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|v| BAD_STATES.contains(&v));
                if !bad {
                    s.insert("status".into(), status.into());
                }
            }
            Some(_) => {}
        }
    }
}

impl Module for ServiceFacts {
    const NAME: &'static str = "service_facts";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        let out = ctx.query(SERVICES_SCRIPT, None).await?;
        let mut services = Map::new();
        if let Some(t) = section(&out.stdout, "sysv") {
            parse_sysv(t, &mut services);
        }
        if let (Some(u), Some(f)) = (section(&out.stdout, "units"), section(&out.stdout, "files")) {
            let active = section(&out.stdout, "active").unwrap_or("");
            parse_systemd(u, f, active, &mut services);
        }
        if services.is_empty() {
            let mut r = ModuleResult::ok().with_msg(
                "Failed to find any services. This can be due to privileges or some other configuration issue.",
            );
            r.skipped = true;
            return Ok(Query::done(r));
        }
        let mut r = ModuleResult::ok();
        r.extra.insert(
            "ansible_facts".into(),
            json!({ "services": Value::Object(services) }),
        );
        Ok(Query::done(r))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

/// `package_facts` with the `apt` manager (`auto` finds it on a Debian-family target), read
/// with dpkg-query instead of python-apt.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFacts {
    #[serde(default, deserialize_with = "args::list")]
    manager: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    strategy: Option<String>,
}

/// The package's name as python-apt's cache names it (`name:arch` for a foreign architecture),
/// then version, architecture, section — for every package dpkg has installed (not only
/// config files left).
const PACKAGES_SCRIPT: &str = r#"
command -v dpkg-query >/dev/null 2>&1 || { echo "no dpkg-query" >&2; exit 3; }
a=$(dpkg --print-architecture 2>/dev/null)
echo "@@native $a"
dpkg-query -W -f='${Status}\t${Package}\t${Version}\t${Architecture}\t${Section}\n'
"#;

fn parse_packages(text: &str) -> Map<String, Value> {
    let native = text
        .lines()
        .find_map(|l| l.strip_prefix("@@native "))
        .unwrap_or("")
        .trim();
    let mut packages = Map::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [status, name, version, arch, section] = f[..] else {
            continue;
        };
        let installed = status
            .split_whitespace()
            .nth(2)
            .is_some_and(|s| !matches!(s, "not-installed" | "config-files"));
        if !installed || name.is_empty() {
            continue;
        }
        let name = if arch == native || arch == "all" || native.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{arch}")
        };
        let entry = json!({
            "name": name, "version": version, "arch": arch, "category": section, "source": "apt",
        });
        match packages.get_mut(&name) {
            Some(Value::Array(list)) => list.push(entry),
            _ => {
                packages.insert(name, Value::Array(vec![entry]));
            }
        }
    }
    packages
}

impl Module for PackageFacts {
    const NAME: &'static str = "package_facts";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();

    fn validate(&self) -> Result<(), ModuleError> {
        if let Some(other) = self
            .manager
            .iter()
            .find(|m| !matches!(m.to_ascii_lowercase().as_str(), "auto" | "apt"))
        {
            return Err(ModuleError::Args(format!(
                "package_facts: manager={other} is not implemented by the native engine (it has auto and apt); {}",
                super::catalog::USE_ANSIBLE
            )));
        }
        match self.strategy.as_deref() {
            None | Some("first") | Some("all") => Ok(()),
            Some(other) => Err(ModuleError::Args(format!(
                "package_facts: argument 'strategy' must be one of first, all, got {other}"
            ))),
        }
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        let out = ctx.query(PACKAGES_SCRIPT, None).await?;
        let packages = if out.rc == 0 {
            parse_packages(&out.stdout)
        } else {
            Map::new()
        };
        if packages.is_empty() {
            return Ok(Query::done(ModuleResult::fail(format!(
                "Could not detect a supported package manager from the following list: {:?}, \
                 or the required Python library is not installed. Check warnings for details.",
                ["apt"]
            ))));
        }
        let mut r = ModuleResult::ok();
        r.extra.insert(
            "ansible_facts".into(),
            json!({ "packages": Value::Object(packages) }),
        );
        Ok(Query::done(r))
    }

    async fn apply(&self, _: (), _ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysv_lines_as_ansible_reads_them() {
        let mut s = Map::new();
        parse_sysv(" [ + ]  ssh\n [ - ]  cron\n [ ? ]  odd\nnoise\n", &mut s);
        assert_eq!(
            s["ssh"],
            json!({"name": "ssh", "state": "running", "source": "sysv"})
        );
        assert_eq!(s["cron"]["state"], "stopped");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn systemd_units_then_unit_files() {
        let units = "UNIT LOAD ACTIVE SUB DESCRIPTION\n\
                     ssh.service loaded active running OpenBSD Secure Shell server\n\
                     gone.service not-found inactive dead gone.service\n";
        let files = "UNIT FILE STATE VENDOR PRESET\n\
                     ssh.service enabled enabled\n\
                     gone.service disabled enabled\n\
                     idle.service disabled enabled\n";
        let active = "idle.service ActiveState=inactive\n";
        let mut s = Map::new();
        parse_systemd(units, files, active, &mut s);
        assert_eq!(
            s["ssh.service"],
            json!({"name": "ssh.service", "state": "running", "status": "enabled", "source": "systemd"})
        );
        assert_eq!(s["gone.service"]["status"], "not-found");
        assert_eq!(s["idle.service"]["state"], "inactive");
        assert_eq!(s["idle.service"]["status"], "disabled");
    }

    #[test]
    fn packages_keyed_as_python_apt_names_them() {
        let text = "@@native amd64\n\
                    install ok installed\tbash\t5.2.15-2+b8\tamd64\tshells\n\
                    install ok installed\tlibc6\t2.36-9\ti386\tlibs\n\
                    deinstall ok config-files\told\t1.0\tamd64\tmisc\n";
        let p = parse_packages(text);
        assert_eq!(
            p["bash"],
            json!([{"name": "bash", "version": "5.2.15-2+b8", "arch": "amd64", "category": "shells", "source": "apt"}])
        );
        assert!(p.contains_key("libc6:i386"));
        assert!(!p.contains_key("old"));
    }
}
