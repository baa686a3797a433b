//! `apt_repository` and `apt_key`, as Ansible's modules do them on Debian-family targets:
//! apt_repository reads `sources.list` and `sources.list.d/*.list`, adds a one-line source to
//! its own file (or enables it where it is commented out) or removes it everywhere, writes
//! the files that changed and refreshes the cache (putting the files back when that fails);
//! apt_key lists the keys with `apt-key` and adds (file, data, URL, keyserver) or deletes one.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::files::{Attrs, WriteOpts, write_remote};
use super::module::{Module, Query};
use super::pkg::APT_GET;
use super::{Ctx, Diff, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

const SOURCE_TYPES: &[&str] = &["deb", "deb-src"];
const SOURCES_LIST: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptRepository {
    #[serde(deserialize_with = "args::string")]
    repo: String,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_mode")]
    mode: Option<String>,
    #[serde(default, alias = "update-cache", deserialize_with = "args::opt_bool")]
    update_cache: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_int")]
    update_cache_retries: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_string")]
    filename: Option<String>,
}

/// One line of a sources file as Ansible's `SourcesList` keeps it.
#[derive(Clone, PartialEq, Debug)]
struct Line {
    valid: bool,
    enabled: bool,
    source: String,
    comment: String,
}

/// The files to write (None: remove), their content before, and the result.
pub struct RepoChange {
    writes: Vec<(String, Option<String>, bool)>,
    before: BTreeMap<String, String>,
    result: ModuleResult,
}

impl Module for AptRepository {
    const NAME: &'static str = "apt_repository";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "codename",
        "install_python_apt",
        "update_cache_retry_max_delay",
        "validate_certs",
    ];
    type Pending = RepoChange;

    fn validate(&self) -> Result<(), ModuleError> {
        super::args::choice(
            "apt_repository",
            "state",
            self.state.as_deref(),
            &["present", "absent"],
        )?;
        if self.repo.trim().is_empty() {
            return Err(ModuleError::Args(
                "Please set argument 'repo' to a non-empty value".into(),
            ));
        }
        if self.repo.starts_with("ppa:") {
            return Err(ModuleError::Args(format!(
                "apt_repository: PPAs (Launchpad, over the network) are not implemented by the native engine; {}",
                super::catalog::USE_ANSIBLE
            )));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<RepoChange>, ModuleError> {
        let state = self.state.as_deref().unwrap_or("present");
        let out = ctx
            .query(
                &format!(
                    "for f in {SOURCES_LIST} {SOURCES_DIR}/*.list; do [ -f \"$f\" ] || continue; \
                     printf 'FILE %s\\n' \"$f\"; sed 's/^/L /' \"$f\"; done"
                ),
                None,
            )
            .await?;
        let mut files: BTreeMap<String, Vec<Line>> = BTreeMap::new();
        let mut cur: Option<String> = None;
        for l in out.stdout.lines() {
            if let Some(f) = l.strip_prefix("FILE ") {
                files.insert(f.to_string(), Vec::new());
                cur = Some(f.to_string());
            } else if let (Some(text), Some(f)) = (l.strip_prefix("L "), &cur)
                && let Some(v) = files.get_mut(f)
            {
                v.push(parse(text));
            } else if let (Some(f), true) = (&cur, l == "L")
                && let Some(v) = files.get_mut(f)
            {
                v.push(parse(""));
            }
        }
        let before = dump(&files);
        let mut after_files = files.clone();
        let line = parse(&self.repo);
        if !line.valid || !line.enabled {
            return Ok(Query::done(ModuleResult::fail(format!(
                "Invalid repository string: {}",
                self.repo
            ))));
        }
        let mut new_file = None;
        if state == "present" {
            let mut found = false;
            for lines in after_files.values_mut() {
                for l in lines
                    .iter_mut()
                    .filter(|l| l.valid && l.source == line.source)
                {
                    l.enabled = true;
                    found = true;
                }
            }
            if !found {
                let file = self.file_for(&line.source);
                after_files.entry(file.clone()).or_default().push(Line {
                    comment: String::new(),
                    ..line.clone()
                });
                new_file = Some(file);
            }
        } else {
            for lines in after_files.values_mut() {
                lines.retain(|l| !(l.valid && l.enabled && l.source == line.source));
            }
        }
        let after = dump(&after_files);
        let mut r = ModuleResult::changed(before != after);
        let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
        let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
        r.extra.insert("repo".into(), self.repo.clone().into());
        r.extra.insert("state".into(), state.into());
        r.extra
            .insert("sources_added".into(), serde_json::json!(added));
        r.extra
            .insert("sources_removed".into(), serde_json::json!(removed));
        if r.changed && ctx.diff {
            for f in added.iter().chain(&removed) {
                r.diff.push(Diff {
                    before_header: if before.contains_key(*f) {
                        f.to_string()
                    } else {
                        "/dev/null".into()
                    },
                    after_header: if after.contains_key(*f) {
                        f.to_string()
                    } else {
                        "/dev/null".into()
                    },
                    before: before.get(*f).cloned().unwrap_or_default(),
                    after: after.get(*f).cloned().unwrap_or_default(),
                });
            }
        }
        if !r.changed {
            return Ok(Query::done(r));
        }
        // Every file is saved as Ansible saves them: changed text written, emptied files removed.
        let mut writes = Vec::new();
        for f in after_files.keys() {
            match after.get(f) {
                Some(text) if before.get(f) != Some(text) => writes.push((
                    f.clone(),
                    Some(text.clone()),
                    new_file.as_deref() == Some(f),
                )),
                Some(_) => {}
                None => writes.push((f.clone(), None, false)),
            }
        }
        Ok(Query::change(
            r.clone(),
            RepoChange {
                writes,
                before,
                result: r,
            },
        ))
    }

    async fn apply(&self, c: RepoChange, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        self.save(ctx, &c.writes).await?;
        if self.update_cache.unwrap_or(true) {
            let retries = self.update_cache_retries.unwrap_or(5).max(1);
            let out = ctx
                .sh(
                    &format!(
                        "i=0; while [ $i -lt {retries} ]; do {APT_GET} update && exit 0; i=$((i+1)); \
                         [ $i -lt {retries} ] && sleep $((1 << i > 12 ? 12 : 1 << i)); done; exit 1"
                    ),
                    None,
                )
                .await?;
            if out.rc != 0 {
                // Put the files back as they were.
                let revert: Vec<(String, Option<String>, bool)> = c
                    .writes
                    .iter()
                    .map(|(f, _, _)| (f.clone(), c.before.get(f).cloned(), false))
                    .collect();
                self.save(ctx, &revert).await?;
                let err = out
                    .stderr
                    .lines()
                    .rfind(|l| !l.trim().is_empty())
                    .unwrap_or("unknown reason");
                return Ok(ModuleResult::fail(format!(
                    "Failed to update apt cache after {retries} retries: {err}"
                )));
            }
        }
        Ok(c.result)
    }
}

impl AptRepository {
    /// `filename` (`.list` added, in sources.list.d unless it has a `/`), or one made from the
    /// source's URI as Ansible's `_suggest_filename` makes it.
    fn file_for(&self, source: &str) -> String {
        let name = match &self.filename {
            Some(f) => format!("{f}.list"),
            None => {
                let mut s = String::new();
                let mut in_opts = false;
                for c in source.chars() {
                    match c {
                        '[' => in_opts = true,
                        ']' if in_opts => in_opts = false,
                        _ if !in_opts => s.push(c),
                        _ => {}
                    }
                }
                let first = s
                    .split_whitespace()
                    .find(|p| !SOURCE_TYPES.contains(p))
                    .unwrap_or("");
                let first = first.split_once("://").map(|(_, r)| r).unwrap_or(first);
                let first = first.split_once('@').map(|(_, r)| r).unwrap_or(first);
                let cleaned: String = first
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
                    .collect();
                format!(
                    "{}.list",
                    cleaned.split_whitespace().collect::<Vec<_>>().join("_")
                )
            }
        };
        if name.contains('/') {
            name
        } else {
            format!("{SOURCES_DIR}/{name}")
        }
    }

    async fn save(
        &self,
        ctx: &Ctx<'_>,
        writes: &[(String, Option<String>, bool)],
    ) -> Result<(), ModuleError> {
        for (file, text, new) in writes {
            match text {
                Some(t) => {
                    let attrs = Attrs {
                        owner: None,
                        group: None,
                        mode: new.then(|| self.mode.clone().unwrap_or_else(|| "0644".into())),
                    };
                    let dir = file.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
                    ctx.query(&format!("mkdir -p -- {}", sh_quote(dir)), None)
                        .await?;
                    let opts = WriteOpts {
                        attrs: &attrs,
                        backup: false,
                        validate: None,
                    };
                    write_remote(ctx, file, t.as_bytes(), &opts).await?;
                }
                None => {
                    ctx.query(&format!("rm -f -- {}", sh_quote(file)), None)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// Ansible's `SourcesList._parse`.
fn parse(text: &str) -> Line {
    let mut line = text.trim();
    let mut enabled = true;
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest;
    }
    let mut comment = String::new();
    if let Some(i) = line.find('#')
        && i > 0
    {
        comment = line[i + 1..].trim().to_string();
        line = &line[..i];
    }
    let mut source = line.trim().to_string();
    let mut valid = false;
    let chunks: Vec<&str> = source.split_whitespace().collect();
    if chunks.first().is_some_and(|c| SOURCE_TYPES.contains(c)) {
        valid = true;
        source = chunks.join(" ");
    }
    Line {
        valid,
        enabled,
        source,
        comment,
    }
}

/// Ansible's `SourcesList.dump`: each file with sources as it would be saved.
fn dump(files: &BTreeMap<String, Vec<Line>>) -> BTreeMap<String, String> {
    files
        .iter()
        .filter(|(_, lines)| !lines.is_empty())
        .map(|(f, lines)| {
            let text: String = lines
                .iter()
                .map(|l| {
                    let mut s = String::new();
                    if !l.enabled {
                        s.push_str("# ");
                    }
                    s.push_str(&l.source);
                    if !l.comment.is_empty() {
                        s.push_str(" # ");
                        s.push_str(&l.comment);
                    }
                    s.push('\n');
                    s
                })
                .collect();
            (f.clone(), text)
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptKey {
    #[serde(default, deserialize_with = "args::opt_string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    url: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    data: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    file: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    keyring: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    keyserver: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
}

/// The key's data (from `data` or `url`) when it is to be added from stdin.
pub struct KeyChange {
    data: Option<Vec<u8>>,
    short: String,
    fingerprint: String,
    result: ModuleResult,
}

impl Module for AptKey {
    const NAME: &'static str = "apt_key";
    const ANSIBLE_ONLY: &'static [&'static str] = &["validate_certs"];
    type Pending = KeyChange;
    const PATH_ARGS: &'static [&'static str] = &["file", "keyring"];

    fn validate(&self) -> Result<(), ModuleError> {
        let given = [&self.data, &self.file, &self.keyserver, &self.url]
            .iter()
            .filter(|v| v.is_some())
            .count();
        if given > 1 {
            return Err(ModuleError::Args(
                "apt_key: parameters are mutually exclusive: data|file|keyserver|url".into(),
            ));
        }
        super::args::choice(
            "apt_key",
            "state",
            self.state.as_deref(),
            &["present", "absent"],
        )?;
        // These go to apt-key, which has no `--`: an option-like value is refused.
        for (name, v) in [
            ("file", &self.file),
            ("keyring", &self.keyring),
            ("keyserver", &self.keyserver),
        ] {
            if v.as_deref().is_some_and(|s| s.starts_with('-')) {
                return Err(ModuleError::Args(format!(
                    "apt_key: argument '{name}' may not start with '-'"
                )));
            }
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<KeyChange>, ModuleError> {
        let out = ctx
            .query(
                "command -v apt-key >/dev/null && command -v gpg >/dev/null && echo ok",
                None,
            )
            .await?;
        if out.stdout.trim() != "ok" {
            return Ok(Query::done(ModuleResult::fail(
                "apt_key needs apt-key and gpg on the target. Apt-key has been deprecated. See the deb822_repository as an alternative.",
            )));
        }
        let mut r = ModuleResult::ok();
        let mut data = self.data.clone().map(String::into_bytes);
        let mut key_id = self.id.clone();
        if key_id.is_none() {
            if self.keyserver.is_some() {
                return Ok(Query::done(ModuleResult::fail(
                    "Missing key_id, required with keyserver.",
                )));
            }
            if let Some(url) = &self.url {
                match download(ctx, url).await? {
                    Ok(d) => data = Some(d),
                    Err(msg) => return Ok(Query::done(ModuleResult::fail(msg))),
                }
            }
            let (src, stdin, what) = match (&self.file, &data) {
                (Some(f), _) => (sh_quote(f), None, f.clone()),
                (None, Some(d)) => ("-".to_string(), Some(d.as_slice()), "inline data".into()),
                (None, None) => ("".into(), None, String::new()),
            };
            if !src.is_empty() {
                let out = ctx
                    .query(&format!("LC_ALL=C gpg --with-colons {src}"), stdin)
                    .await?;
                if out.rc != 0 {
                    return Ok(Query::done(ModuleResult::fail(format!(
                        "Unable to extract key from '{what}'"
                    ))));
                }
                key_id = keys_in(&out.stdout).into_iter().next();
            }
        }
        r.extra.insert(
            "id".into(),
            key_id.clone().map(Value::from).unwrap_or(Value::Null),
        );
        let Some((short, fingerprint, long)) = key_id.as_deref().and_then(parse_key_id) else {
            let mut f = ModuleResult::fail("Invalid key_id");
            f.extra = r.extra;
            return Ok(Query::done(f));
        };
        r.extra.insert("short_id".into(), short.clone().into());
        r.extra.insert("fp".into(), fingerprint.clone().into());
        r.extra.insert("key_id".into(), long.clone().into());
        let short_format = long.len() == 8;
        let keys = self.all_keys(ctx, short_format).await?;
        r.extra.insert("before".into(), serde_json::json!(keys));
        let want = if short_format { &short } else { &fingerprint };
        let present = keys.contains(want);
        let state = self.state.as_deref().unwrap_or("present");
        r.changed = if state == "present" {
            !present
        } else {
            keys.contains(&fingerprint)
        };
        if !r.changed {
            return Ok(Query::done(r));
        }
        Ok(Query::change(
            r.clone(),
            KeyChange {
                data,
                short,
                fingerprint,
                result: r,
            },
        ))
    }

    async fn apply(&self, c: KeyChange, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let r = c.result.clone();
        let apt_key = match &self.keyring {
            Some(k) => format!("apt-key --keyring {}", sh_quote(k)),
            None => "apt-key".into(),
        };
        let short_format = r.extra.get("key_id").and_then(Value::as_str).map(str::len) == Some(8);
        let (cmd, stdin, what): (String, Option<&[u8]>, String) =
            if self.state.as_deref() == Some("absent") {
                (
                    format!("{apt_key} del {}", sh_quote(&c.short)),
                    None,
                    format!("Unable to remove a key with id {}", c.short),
                )
            } else if let Some(f) = &self.file {
                (
                    format!("{apt_key} add {}", sh_quote(f)),
                    None,
                    format!("Unable to add a key from file {f}"),
                )
            } else if let Some(ks) = &self.keyserver {
                let id = r.extra.get("key_id").and_then(Value::as_str).unwrap_or("");
                (
                    format!(
                        "{apt_key} adv --no-tty --keyserver {} --recv {}",
                        sh_quote(ks),
                        sh_quote(id)
                    ),
                    None,
                    format!("Error fetching key {id} from keyserver: {ks}"),
                )
            } else {
                let data = match (&c.data, &self.url) {
                    (Some(d), _) => d.clone(),
                    (None, Some(url)) => match download(ctx, url).await? {
                        Ok(d) => d,
                        Err(msg) => return Ok(ModuleResult::fail(msg)),
                    },
                    (None, None) => return Ok(ModuleResult::fail("No key to add")),
                };
                return self
                    .run_checked(
                        ctx,
                        &format!("{apt_key} add -"),
                        Some(&data),
                        "Unable to add a key from binary data",
                        &c,
                        short_format,
                        r,
                    )
                    .await;
            };
        self.run_checked(ctx, &cmd, stdin, &what, &c, short_format, r)
            .await
    }
}

impl AptKey {
    async fn all_keys(
        &self,
        ctx: &Ctx<'_>,
        short_format: bool,
    ) -> Result<Vec<String>, ModuleError> {
        let keyring = self
            .keyring
            .as_ref()
            .map(|k| format!(" --keyring {}", sh_quote(k)))
            .unwrap_or_default();
        let out = ctx
            .query(
                &format!("LC_ALL=C apt-key{keyring} adv --list-public-keys --keyid-format=long 2>/dev/null"),
                None,
            )
            .await?;
        let keys = keys_in(&out.stdout);
        Ok(if short_format {
            keys.iter()
                .map(|k| k[k.len().saturating_sub(8)..].to_string())
                .collect()
        } else {
            keys
        })
    }

    /// Runs the apt-key change, then checks the key list as Ansible does.
    #[allow(clippy::too_many_arguments)]
    async fn run_checked(
        &self,
        ctx: &Ctx<'_>,
        cmd: &str,
        stdin: Option<&[u8]>,
        what: &str,
        c: &KeyChange,
        short_format: bool,
        mut r: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let out = ctx.query(&format!("LC_ALL=C {cmd}"), stdin).await?;
        if out.rc != 0 {
            let mut f = ModuleResult::fail(what);
            f.rc = Some(out.rc);
            f.stdout = Some(out.stdout);
            f.stderr = Some(out.stderr);
            f.extra = r.extra;
            return Ok(f);
        }
        let after = self.all_keys(ctx, short_format).await?;
        let absent = self.state.as_deref() == Some("absent");
        let want = if short_format && !absent {
            &c.short
        } else {
            &c.fingerprint
        };
        let there = after.contains(want);
        r.extra.insert("after".into(), serde_json::json!(after));
        if there == absent {
            let mut f = ModuleResult::fail(format!(
                "apt-key did not return an error, but {} (check that the id is correct and *not* a subkey)",
                if absent {
                    "the key was not removed"
                } else {
                    "failed to add the key"
                }
            ));
            f.extra = r.extra;
            return Ok(f);
        }
        Ok(r)
    }
}

/// A key file fetched with the target's curl or wget.
async fn download(ctx: &Ctx<'_>, url: &str) -> Result<Result<Vec<u8>, String>, ModuleError> {
    // The URL goes on stdin: curl reads it from a config, wget from its URL list.
    let cfg = format!(
        "url = \"{}\"\n",
        url.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let out = ctx
        .query(
            "if command -v curl >/dev/null 2>&1; then curl -fsSL -K -; \
             elif command -v wget >/dev/null 2>&1; then sed -n 's/^url = \"\\(.*\\)\"$/\\1/p' | wget -q -O - -i -; \
             else echo 'the target has neither curl nor wget' >&2; exit 127; fi",
            Some(cfg.as_bytes()),
        )
        .await?;
    if out.rc != 0 {
        return Ok(Err(format!(
            "Failed to download key at {url}: {}",
            out.stderr.trim()
        )));
    }
    Ok(Ok(out.stdout_bytes))
}

/// Key ids of `pub`/`sub` lines (apt-key's `pub rsa4096/ID …` or gpg's colon format), expired
/// ones left out: Ansible's `parse_output_for_keys`.
fn keys_in(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| (l.starts_with("pub") || l.starts_with("sub")) && !l.contains("expired"))
        .filter_map(|l| {
            let apt = l
                .split_whitespace()
                .nth(1)
                .and_then(|code| code.split_once('/'))
                .map(|(_, id)| id.to_string());
            apt.or_else(|| l.split(':').nth(4).map(str::to_string))
        })
        .collect()
}

/// (short id, fingerprint as listed, the id) of a hex key id: Ansible's `parse_key_id`.
fn parse_key_id(id: &str) -> Option<(String, String, String)> {
    let mut k = id.trim().to_uppercase();
    if let Some(rest) = k.strip_prefix("0X") {
        k = rest.to_string();
    }
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if k.len() != 8 && k.len() != 16 && k.len() <= 16 {
        return None;
    }
    let short = k[k.len() - 8..].to_string();
    let fp = if k.len() > 16 {
        k[k.len() - 16..].to_string()
    } else {
        k.clone()
    };
    Some((short, fp, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_lines_and_file_names_as_ansible() {
        let l = parse("#  deb  [trusted=yes]   file:///srv/repo ./  # local");
        assert!(l.valid && !l.enabled);
        assert_eq!(l.source, "deb [trusted=yes] file:///srv/repo ./");
        assert_eq!(l.comment, "local");
        let m = AptRepository {
            repo: String::new(),
            state: None,
            mode: None,
            update_cache: None,
            update_cache_retries: None,
            filename: None,
        };
        assert_eq!(
            m.file_for("deb [trusted=yes] http://user:pw@deb.example.org/debian bookworm main"),
            "/etc/apt/sources.list.d/deb_example_org_debian.list"
        );
        assert_eq!(
            m.file_for("deb file:///srv/repo ./"),
            "/etc/apt/sources.list.d/srv_repo.list"
        );
    }

    #[test]
    fn key_ids() {
        assert_eq!(
            parse_key_id("0x0123456789ABCDEF"),
            Some((
                "89ABCDEF".into(),
                "0123456789ABCDEF".into(),
                "0123456789ABCDEF".into()
            ))
        );
        assert_eq!(parse_key_id("12345"), None);
        assert_eq!(
            keys_in(
                "pub   rsa3072/0123456789ABCDEF 2020-01-01 [SC]\nsub:-:1:1:FEDCBA9876543210:\n"
            ),
            ["0123456789ABCDEF", "FEDCBA9876543210"]
        );
    }
}
