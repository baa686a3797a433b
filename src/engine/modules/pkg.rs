//! Packages: `apt` (non-interactive, query dpkg first) and `package` (dispatch on the package manager).

use serde::Deserialize;
use serde_json::Value;

use super::module::{Module, Query};
use super::{Ctx, Diff, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

pub(crate) const APT_GET: &str = "DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a apt-get -y -q \
    -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

const APT_STATES: &[&str] = &[
    "present",
    "installed",
    "absent",
    "removed",
    "latest",
    "build-dep",
    "fixed",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Apt {
    /// Ansible's parameter is `package`, `name` its alias.
    #[serde(
        default,
        rename = "package",
        alias = "pkg",
        alias = "name",
        deserialize_with = "args::list"
    )]
    name: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, alias = "update-cache", deserialize_with = "args::opt_bool")]
    update_cache: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_int")]
    cache_valid_time: Option<i64>,
    #[serde(
        default,
        alias = "install-recommends",
        deserialize_with = "args::opt_bool"
    )]
    install_recommends: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    purge: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    autoremove: Option<bool>,
    #[serde(
        default,
        alias = "default-release",
        deserialize_with = "args::opt_string"
    )]
    default_release: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    #[serde(alias = "pkg", deserialize_with = "args::list")]
    name: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, rename = "use", deserialize_with = "args::opt_string")]
    use_: Option<String>,
}

/// What `apply` does: refresh the cache, then install or remove.
pub struct AptChange {
    update: bool,
    install: Option<(&'static str, Vec<String>)>,
    result: ModuleResult,
}

impl Module for Apt {
    const NAME: &'static str = "apt";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "allow_change_held_packages",
        "allow_downgrade",
        "allow-downgrade",
        "allow_downgrades",
        "allow-downgrades",
        "allow_unauthenticated",
        "allow-unauthenticated",
        "auto_install_module_deps",
        "autoclean",
        "clean",
        "deb",
        "dpkg_options",
        "fail_on_autoremove",
        "force",
        "force_apt_get",
        "lock_timeout",
        "only_upgrade",
        "policy_rc_d",
        "update_cache_retries",
        "update_cache_retry_max_delay",
        "upgrade",
    ];
    const ANSIBLE_ONLY_ALIASES: &'static [&'static str] = &[
        "allow-downgrade",
        "allow-downgrades",
        "allow_downgrades",
        "allow-unauthenticated",
    ];
    type Pending = AptChange;
    const PATH_ARGS: &'static [&'static str] = &["deb"];

    fn validate(&self) -> Result<(), ModuleError> {
        match self.state.as_deref() {
            Some(s) if !APT_STATES.contains(&s) => Err(ModuleError::Args(format!(
                "apt: argument 'state' is {s:?}; valid: {}",
                APT_STATES.join(", ")
            ))),
            _ => Ok(()),
        }
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<AptChange>, ModuleError> {
        let mut r = ModuleResult::ok();
        let mut log = Vec::new();
        let mut update = false;
        if self.update_cache.unwrap_or(false) {
            let valid = self.cache_valid_time.unwrap_or(0);
            let fresh = if valid > 0 {
                let out = ctx
                    .query(
                        "s=/var/lib/apt/periodic/update-success-stamp; [ -e $s ] || s=/var/lib/apt/lists; \
                         echo $(( $(date +%s) - $(stat -c %Y $s 2>/dev/null || echo 0) ))",
                        None,
                    )
                    .await?;
                out.stdout
                    .trim()
                    .parse::<i64>()
                    .map(|age| age < valid)
                    .unwrap_or(false)
            } else {
                false
            };
            if !fresh {
                r.changed = true;
                log.push("cache updated".to_string());
                update = true;
            }
        }
        let install = self.packages(ctx, &mut r, &mut log).await?;
        if !update && install.is_none() {
            return Ok(Query::done(r));
        }
        Ok(Query::change(
            r.clone(),
            AptChange {
                update,
                install,
                result: r,
            },
        ))
    }

    async fn apply(&self, change: AptChange, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let (mut r, install) = if change.update {
            let out = ctx.sh(&format!("{APT_GET} update && mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp"), None).await?;
            if out.rc != 0 {
                return Ok(fail_with(out, "apt-get update failed"));
            }
            // What to install is decided against the refreshed cache.
            let mut r = ModuleResult::changed(true);
            let mut log = vec!["cache updated".to_string()];
            let install = self.packages(ctx, &mut r, &mut log).await?;
            (r, install)
        } else {
            (change.result, change.install)
        };
        let Some((verb, todo)) = install else {
            return Ok(r);
        };
        let mut cmd = format!("{APT_GET} {verb}");
        if verb == "install" && !self.install_recommends.unwrap_or(true) {
            cmd.push_str(" --no-install-recommends");
        }
        if let Some(rel) = &self.default_release {
            cmd.push_str(&format!(" -t {}", sh_quote(rel)));
        }
        // Playbook values after `--`: a name is never taken for an option.
        cmd.push_str(" --");
        for n in &todo {
            cmd.push(' ');
            cmd.push_str(&sh_quote(n));
        }
        if self.autoremove.unwrap_or(false) && verb != "install" {
            cmd.push_str(&format!(" && {APT_GET} autoremove"));
        }
        let out = ctx.sh(&cmd, None).await?;
        if out.rc != 0 {
            return Ok(fail_with(out, &format!("apt-get {verb} failed")));
        }
        r.stdout = Some(out.stdout);
        Ok(r)
    }
}

impl Apt {
    /// The packages to install or remove (None: nothing to do); sets the result's message,
    /// `changed` and diff.
    async fn packages(
        &self,
        ctx: &Ctx<'_>,
        r: &mut ModuleResult,
        log: &mut Vec<String>,
    ) -> Result<Option<(&'static str, Vec<String>)>, ModuleError> {
        if self.name.is_empty() {
            r.msg = Some(log.join("; "));
            return Ok(None);
        }
        let names = &self.name;
        let versions = installed(ctx, &self.name).await?;
        let (verb, todo): (&'static str, Vec<String>) =
            match self.state.as_deref().unwrap_or("present") {
                "present" | "installed" | "fixed" | "build-dep" => (
                    "install",
                    names
                        .iter()
                        .zip(&versions)
                        .filter(|(n, v)| match (v, n.split_once('=')) {
                            (None, _) => true,
                            (Some(have), Some((_, want))) => {
                                !have.starts_with(want.trim_end_matches('*'))
                            }
                            (Some(_), None) => false,
                        })
                        .map(|(n, _)| n.clone())
                        .collect(),
                ),
                "latest" => {
                    let words: Vec<String> = self.name.iter().map(|n| sh_quote(n)).collect();
                    let out = ctx
                        .query(
                            &format!("LC_ALL=C apt-cache policy -- {}", words.join(" ")),
                            None,
                        )
                        .await?;
                    let candidates = parse_policy(&out.stdout);
                    (
                        "install",
                        names
                            .iter()
                            .zip(&versions)
                            .filter(|(n, v)| match v {
                                None => true,
                                Some(have) => candidates.iter().any(|(p, inst, cand)| {
                                    p == *n
                                        && inst.as_deref() == Some(have.as_str())
                                        && cand.as_deref() != Some(have.as_str())
                                }),
                            })
                            .map(|(n, _)| n.clone())
                            .collect(),
                    )
                }
                _ => (
                    if self.purge.unwrap_or(false) {
                        "purge"
                    } else {
                        "remove"
                    },
                    names
                        .iter()
                        .zip(&versions)
                        .filter(|(_, v)| v.is_some())
                        .map(|(n, _)| n.clone())
                        .collect(),
                ),
            };
        if todo.is_empty() {
            if log.is_empty() {
                r.msg = Some(format!(
                    "{} already {}",
                    self.name.join(", "),
                    if verb == "install" {
                        "installed"
                    } else {
                        "absent"
                    }
                ));
            } else {
                r.msg = Some(log.join("; "));
            }
            return Ok(None);
        }
        r.changed = true;
        log.push(format!("{verb} {}", todo.join(" ")));
        r.msg = Some(log.join("; "));
        if ctx.diff {
            r.diff.push(Diff {
                before_header: "packages".into(),
                after_header: "packages".into(),
                before: String::new(),
                after: format!("{verb}: {}\n", todo.join(", ")),
            });
        }
        Ok(Some((verb, todo)))
    }
}

impl Module for Package {
    const NAME: &'static str = "package";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = Option<AptChange>;

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Self::Pending>, ModuleError> {
        let mgr = match &self.use_ {
            Some(u) if u != "auto" => u.clone(),
            _ => ctx
                .facts
                .get("pkg_mgr")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        };
        match mgr.as_str() {
            "apt" => {
                let q = self.apt().query(ctx).await?;
                Ok(Query {
                    result: q.result,
                    pending: q.pending.map(Some),
                })
            }
            "" => Ok(Query::done(ModuleResult::fail(
                "package: the package manager is unknown (facts were not gathered); use the apt module or gather_facts: true",
            ))),
            other => Ok(Query::done(ModuleResult::fail(format!(
                "package: package manager '{other}' is not supported by slm-wizard yet (supported: apt)"
            )))),
        }
    }

    async fn apply(
        &self,
        change: Self::Pending,
        ctx: &Ctx<'_>,
    ) -> Result<ModuleResult, ModuleError> {
        match change {
            Some(c) => self.apt().apply(c, ctx).await,
            None => Ok(ModuleResult::ok()),
        }
    }
}

impl Package {
    /// `package` on apt is `apt` with the same name and state.
    fn apt(&self) -> Apt {
        Apt {
            name: self.name.clone(),
            state: self.state.clone(),
            update_cache: None,
            cache_valid_time: None,
            install_recommends: None,
            purge: None,
            autoremove: None,
            default_release: None,
        }
    }
}

/// Installed version per package (None = not installed), in one round trip.
///
/// `dpkg-query` parses all of dpkg's database (~25 ms of the host's CPU, the costliest program
/// of a converged apt task: issue 19); one `sed` prints just the named packages' `Package`,
/// `Status` and `Version` lines of `/var/lib/dpkg/status` (~3 ms; in the C locale, as a UTF-8 one
/// makes its regex a third slower and the matched lines are ASCII). dpkg-query still answers when
/// that file alone is not the database: an interrupted dpkg's journal in `updates/`, no status
/// file, or a name that is not a plain Debian package name (an architecture qualifier, a
/// pattern), which the sed expression could not match exactly.
async fn installed(ctx: &Ctx<'_>, names: &[String]) -> Result<Vec<Option<String>>, ModuleError> {
    let bare: Vec<String> = names
        .iter()
        .map(|n| n.split('=').next().unwrap_or(n).to_string())
        .collect();
    let words: Vec<String> = bare.iter().map(|n| sh_quote(n)).collect();
    let dpkg_query = format!(
        "dpkg-query -W -f='${{Package}}\\t${{db:Status-Status}}\\t${{Version}}\\n' -- {} 2>/dev/null; true",
        words.join(" ")
    );
    let script = if bare.iter().all(|n| plain_package_name(n)) {
        // In a BRE `.` is the only special character a package name may hold.
        let alternatives: Vec<String> = bare.iter().map(|n| n.replace('.', "\\.")).collect();
        format!(
            "slm_j=\nfor slm_f in /var/lib/dpkg/updates/[0-9]*; do [ -e \"$slm_f\" ] && slm_j=1; break; done\n\
             if [ -z \"$slm_j\" ] && [ -f /var/lib/dpkg/status ] && [ -r /var/lib/dpkg/status ]; then\n\
             echo {STATUS_MARK}; LC_ALL=C sed -n '/^Package: \\({}\\)$/,/^$/{{/^\\(Package\\|Status\\|Version\\):/p}}' /var/lib/dpkg/status\n\
             else {dpkg_query}; fi",
            alternatives.join("\\|")
        )
    } else {
        dpkg_query
    };
    let out = ctx.query(&script, None).await?;
    let rows = match out
        .stdout
        .strip_prefix(STATUS_MARK)
        .and_then(|r| r.strip_prefix('\n'))
    {
        Some(rest) => status_rows(rest),
        None => out
            .stdout
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let (pkg, status, version) = (f.next()?, f.next()?, f.next()?);
                let pkg = pkg.split(':').next().unwrap_or(pkg);
                Some((pkg.to_string(), status.to_string(), version.to_string()))
            })
            .collect(),
    };
    Ok(bare
        .iter()
        .map(|n| {
            rows.iter()
                .find(|(pkg, status, _)| pkg == n && status == "installed")
                .map(|(_, _, version)| version.clone())
        })
        .collect())
}

const STATUS_MARK: &str = "SLM-DPKG-STATUS";

/// Debian policy's package name: lower-case letters, digits, `+`, `-` and `.`, two or more
/// characters, starting with a letter or digit.
fn plain_package_name(n: &str) -> bool {
    n.len() >= 2
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
}

/// (package, db:Status-Status, version) of each stanza in `Package`/`Status`/`Version` lines as
/// dpkg writes them (the status field is `want flag status`), as dpkg-query would print them.
fn status_rows(text: &str) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("Package:") {
            rows.push((p.trim().to_string(), String::new(), String::new()));
        } else if let Some(row) = rows.last_mut() {
            if let Some(st) = line.strip_prefix("Status:") {
                row.1 = st.split_whitespace().nth(2).unwrap_or("").to_string();
            } else if let Some(v) = line.strip_prefix("Version:") {
                row.2 = v.trim().to_string();
            }
        }
    }
    rows
}

fn fail_with(out: crate::transport::Output, what: &str) -> ModuleResult {
    let mut r = ModuleResult::fail(format!("{what}: {}", last_lines(&out.stderr, 5)));
    r.rc = Some(out.rc);
    r.stdout = Some(out.stdout);
    r.stderr = Some(out.stderr);
    r
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// (package, installed, candidate) from `apt-cache policy` output.
fn parse_policy(text: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, Option<String>, Option<String>)> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            if let Some(c) = cur.take() {
                out.push(c);
            }
            cur = Some((line.trim_end_matches(':').to_string(), None, None));
        } else if let Some(c) = cur.as_mut() {
            let t = line.trim();
            let val = |s: &str| {
                let v = s.trim();
                (v != "(none)").then(|| v.to_string())
            };
            if let Some(v) = t.strip_prefix("Installed:") {
                c.1 = val(v);
            } else if let Some(v) = t.strip_prefix("Candidate:") {
                c.2 = val(v);
            }
        }
    }
    if let Some(c) = cur {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_file_rows_as_dpkg_query_prints_them() {
        let text = "Package: postgresql-15\nStatus: install ok installed\nVersion: 15.18-0+deb12u1\n\
                    Package: libfoo1\nStatus: deinstall ok config-files\nVersion: 1.0\n\
                    Package: bar\nStatus: install ok half-configured\n";
        assert_eq!(
            status_rows(text),
            vec![
                (
                    "postgresql-15".into(),
                    "installed".into(),
                    "15.18-0+deb12u1".into()
                ),
                ("libfoo1".into(), "config-files".into(), "1.0".into()),
                ("bar".into(), "half-configured".into(), String::new()),
            ]
        );
    }

    #[test]
    fn only_plain_package_names_go_to_sed() {
        assert!(plain_package_name("postgresql-15"));
        assert!(plain_package_name("libstdc++6"));
        assert!(plain_package_name("python3.11"));
        assert!(!plain_package_name("foo:amd64"));
        assert!(!plain_package_name("postgresql*"));
        assert!(!plain_package_name("Foo"));
        assert!(!plain_package_name("a"));
        assert!(!plain_package_name("-x"));
    }

    #[test]
    fn policy_parsing() {
        let p = parse_policy(
            "postgresql-15:\n  Installed: 15.1\n  Candidate: 15.2\n  Version table:\nfoo:\n  Installed: (none)\n  Candidate: 1\n",
        );
        assert_eq!(
            p[0],
            (
                "postgresql-15".into(),
                Some("15.1".into()),
                Some("15.2".into())
            )
        );
        assert_eq!(p[1].1, None);
    }
}
