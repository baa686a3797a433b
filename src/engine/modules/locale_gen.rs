//! `locale_gen` (community.general) with the collection's `glibc` mechanism: a locale is
//! present when `locale -a` lists it; `present`/`absent` uncomment or comment its line in
//! `/etc/locale.gen`, then run `locale-gen`. Like the module, `changed` compares "all the
//! locales present" before and after, so check mode (which changes nothing) reports
//! `changed: false`, and `absent` with only some of the locales present changes nothing.

use serde::Deserialize;
use serde_json::Value;

use super::files::write_plain;
use super::module::{Module, Query};
use super::{Ctx, ModuleError, ModuleResult, args};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleGen {
    #[serde(deserialize_with = "args::list")]
    name: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
}

const LOCALE_GEN: &str = "/etc/locale.gen";

/// `locale -a` writes some encodings in lower case (the module's LOCALE_NORMALIZATION).
fn fix_case(name: &str) -> String {
    const NORMAL: [(&str, &str); 10] = [
        (".utf8", ".UTF-8"),
        (".eucjp", ".EUC-JP"),
        (".iso885915", ".ISO-8859-15"),
        (".cp1251", ".CP1251"),
        (".koi8r", ".KOI8-R"),
        (".armscii8", ".ARMSCII-8"),
        (".euckr", ".EUC-KR"),
        (".gbk", ".GBK"),
        (".gb18030", ".GB18030"),
        (".euctw", ".EUC-TW"),
    ];
    NORMAL
        .iter()
        .fold(name.to_string(), |n, (s, r)| n.replace(s, r))
}

/// The locale of a `SUPPORTED` / `locale.gen` line: `^\s*#?\s*(\S+[\._\S]+) (\S+)\s*$`.
fn listed_locale(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let t = t.strip_prefix('#').unwrap_or(t).trim_start();
    let (locale, charset) = t.split_once(' ')?;
    let charset_ok = {
        let c = charset.trim_end();
        !c.is_empty() && !c.contains(char::is_whitespace)
    };
    (locale.chars().count() >= 2 && !locale.contains(char::is_whitespace) && charset_ok)
        .then_some(locale)
}

/// The locales of `names` that `locale -a` does not list.
fn not_present<'a>(names: &'a [String], listed: &str) -> Vec<&'a str> {
    names
        .iter()
        .filter(|n| !listed.lines().any(|l| fix_case(n) == fix_case(l)))
        .map(String::as_str)
        .collect()
}

/// `/etc/locale.gen` with each locale's line (`^#?\s*NAME (.+)`) enabled or commented out.
fn set_lines(text: &str, names: &[String], enabled: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let mut body = body.to_string();
        for name in names {
            let rest = body.strip_prefix('#').unwrap_or(&body).trim_start();
            if let Some(charset) = rest
                .strip_prefix(name.as_str())
                .and_then(|r| r.strip_prefix(' '))
                && !charset.is_empty()
            {
                body = if enabled {
                    format!("{name} {charset}")
                } else {
                    format!("# {name} {charset}")
                };
            }
        }
        out.push_str(&body);
        out.push_str(nl);
    }
    out
}

impl LocaleGen {
    fn base(&self, changed: bool) -> ModuleResult {
        let mut r = ModuleResult::changed(changed);
        r.extra.insert(
            "name".into(),
            Value::from(self.name.iter().map(String::as_str).collect::<Vec<_>>()),
        );
        r.extra.insert("mechanism".into(), "glibc".into());
        r.extra.insert("ubuntu_mode".into(), false.into());
        r
    }

    fn fail(&self, msg: impl Into<String>) -> ModuleResult {
        let mut r = self.base(false);
        r.failed = true;
        r.msg = Some(msg.into());
        r
    }

    async fn locale_a(&self, ctx: &Ctx<'_>) -> Result<Result<String, ModuleResult>, ModuleError> {
        let out = ctx.query("locale -a", None).await?;
        if out.rc != 0 {
            let mut r = self.fail(out.stderr.trim_end());
            r.rc = Some(out.rc);
            return Ok(Err(r));
        }
        Ok(Ok(out.stdout))
    }
}

/// What `apply` writes: the new `/etc/locale.gen`.
pub struct Regenerate {
    text: String,
}

impl Module for LocaleGen {
    const NAME: &'static str = "locale_gen";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = Regenerate;

    fn validate(&self) -> Result<(), ModuleError> {
        args::choice(
            "locale_gen",
            "state",
            self.state.as_deref(),
            &["present", "absent"],
        )?;
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Regenerate>, ModuleError> {
        let out = ctx
            .query(
                "if [ -e /etc/locale.gen ]; then echo G; elif [ -e /var/lib/locales/supported.d ]; then echo U; fi\n\
                 [ -f /usr/share/i18n/SUPPORTED ] && sed 's/^/S /' /usr/share/i18n/SUPPORTED\n\
                 [ -f /etc/locale.gen ] && sed 's/^/L /' /etc/locale.gen; true",
                None,
            )
            .await?;
        let mut lines = out.stdout.lines();
        match lines.next() {
            Some("G") => {}
            Some("U") => {
                return Ok(Query::done(ModuleResult::fail(format!(
                    "locale_gen: this host uses the deprecated ubuntu_legacy mechanism \
                     (/var/lib/locales/supported.d, no /etc/locale.gen), which the native engine does not implement; {}",
                    super::catalog::USE_ANSIBLE
                ))));
            }
            _ => {
                return Ok(Query::done(self.fail(
                    "/var/lib/locales/supported.d and /etc/locale.gen are missing. Is the package \"locales\" installed?",
                )));
            }
        }
        let mut supported = Vec::new();
        let mut current = String::new();
        for l in lines {
            if let Some(s) = l.strip_prefix("S ") {
                supported.extend(listed_locale(s).map(str::to_string));
            } else if let Some(s) = l.strip_prefix("L ") {
                current.push_str(s);
                current.push('\n');
            }
        }
        let listed = match self.locale_a(ctx).await? {
            Ok(l) => l,
            Err(r) => return Ok(Query::done(r)),
        };
        let unknown: Vec<String> = self
            .name
            .iter()
            .filter(|n| !supported.contains(n))
            .cloned()
            .collect();
        let missing = not_present(&unknown, &listed);
        if !missing.is_empty() {
            return Ok(Query::done(self.fail(format!(
                "The following locales you have entered are not available on your system: {}",
                missing.join(", ")
            ))));
        }
        let present = not_present(&self.name, &listed).is_empty();
        let want_present = self.state.as_deref() != Some("absent");
        if present == want_present {
            return Ok(Query::done(self.base(false)));
        }
        // The module's check mode skips the change and finds the same state after it.
        Ok(Query::change(
            self.base(false),
            Regenerate {
                text: set_lines(&current, &self.name, want_present),
            },
        ))
    }

    async fn apply(&self, p: Regenerate, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        write_plain(ctx, LOCALE_GEN, p.text.as_bytes()).await?;
        let out = ctx.sh("locale-gen", None).await?;
        if out.rc != 0 {
            let mut r = self.fail(out.stderr.trim_end());
            r.rc = Some(out.rc);
            r.stdout = Some(out.stdout);
            r.stderr = Some(out.stderr);
            return Ok(r);
        }
        let listed = match self.locale_a(ctx).await? {
            Ok(l) => l,
            Err(r) => return Ok(r),
        };
        let present = not_present(&self.name, &listed).is_empty();
        let was_present = self.state.as_deref() == Some("absent");
        Ok(self.base(present != was_present))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_as_the_module_checks_them() {
        let parse = |v: serde_json::Value| {
            let serde_json::Value::Object(m) = v else {
                panic!("a mapping")
            };
            crate::engine::modules::module::parse::<LocaleGen>(&m)
        };
        let ok = parse(serde_json::json!({"name": "de_CH.UTF-8, fr_FR.UTF-8"})).expect("valid");
        assert_eq!(ok.name, ["de_CH.UTF-8", "fr_FR.UTF-8"]);
        let Err(e) = parse(serde_json::json!({"name": "x", "state": "gone"})) else {
            panic!("refused")
        };
        assert_eq!(
            e.to_string(),
            "locale_gen: argument 'state' is \"gone\"; valid: present, absent"
        );
    }

    #[test]
    fn lines_and_names_as_the_module_reads_them() {
        assert_eq!(listed_locale("# de_CH.UTF-8 UTF-8"), Some("de_CH.UTF-8"));
        assert_eq!(listed_locale("en_US ISO-8859-1  "), Some("en_US"));
        assert_eq!(listed_locale("# This file lists locales"), None);
        let names = vec!["de_CH.UTF-8".to_string()];
        let text = "# de_CH ISO-8859-1\n#  de_CH.UTF-8 UTF-8\nen_US.UTF-8 UTF-8";
        let on = set_lines(text, &names, true);
        assert_eq!(
            on,
            "# de_CH ISO-8859-1\nde_CH.UTF-8 UTF-8\nen_US.UTF-8 UTF-8"
        );
        assert_eq!(set_lines(&on, &names, false), text.replace("#  de", "# de"));
        assert!(not_present(&names, "C\nde_CH.utf8\n").is_empty());
        assert_eq!(not_present(&names, "C.utf8\n"), ["de_CH.UTF-8"]);
    }
}
