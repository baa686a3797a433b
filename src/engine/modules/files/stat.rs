//! `stat`: ansible-core 2.19's full `stat` dict (type and permission bits, owners, times,
//! access for the become user, link source/target, checksum, MIME type, file attributes), read in
//! one round trip with `sh` and coreutils (`file` and `lsattr` when the target has them, as
//! Ansible uses them). Fields are NUL-separated so that any byte but NUL in a path survives.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stat {
    #[serde(alias = "dest", alias = "name", deserialize_with = "args::string")]
    path: String,
    #[serde(default, deserialize_with = "args::opt_bool")]
    follow: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    get_checksum: Option<bool>,
    #[serde(
        default,
        alias = "checksum",
        alias = "checksum_algo",
        deserialize_with = "args::opt_string"
    )]
    checksum_algorithm: Option<String>,
    #[serde(
        default,
        alias = "mime",
        alias = "mime_type",
        alias = "mime-type",
        deserialize_with = "args::opt_bool"
    )]
    get_mime: Option<bool>,
    #[serde(
        default,
        alias = "attr",
        alias = "attributes",
        deserialize_with = "args::opt_bool"
    )]
    get_attributes: Option<bool>,
}

/// `checksum_algorithm`'s choices: each is coreutils' `<name>sum`.
const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// `stat --printf` fields, in the order [`parse`] reads them: raw mode (hex), uid, gid, owner,
/// group, size, inode, device, links, atime, mtime, ctime (with nanoseconds), blocks, I/O block
/// size, device type.
const STAT_FORMAT: &str = r"%f\0%u\0%g\0%U\0%G\0%s\0%i\0%d\0%h\0%.9X\0%.9Y\0%.9Z\0%b\0%o\0%r\0";
const STAT_FIELDS: usize = 15;
/// The rc of the script when `stat` itself failed (its message is on stderr).
const STAT_FAILED: i32 = 3;

/// lsattr flag letters → Ansible's attribute names (module_utils/common/file.py).
const FILE_ATTRIBUTES: &[(char, &str)] = &[
    ('A', "noatime"),
    ('a', "append"),
    ('c', "compressed"),
    ('C', "nocow"),
    ('d', "nodump"),
    ('D', "dirsync"),
    ('e', "extents"),
    ('E', "encrypted"),
    ('h', "blocksize"),
    ('i', "immutable"),
    ('I', "indexed"),
    ('j', "journalled"),
    ('N', "inline"),
    ('s', "zero"),
    ('S', "synchronous"),
    ('t', "notail"),
    ('T', "blockroot"),
    ('u', "undelete"),
    ('X', "compressedraw"),
    ('Z', "compresseddirty"),
];

impl Stat {
    fn follow(&self) -> bool {
        self.follow.unwrap_or(false)
    }

    fn algorithm(&self) -> &str {
        self.checksum_algorithm.as_deref().unwrap_or("sha1")
    }

    /// The one script: `stat`, then access, link, checksum, MIME and attribute fields, each
    /// NUL-terminated (empty when not asked for or not applicable).
    fn script(&self) -> String {
        let p = sh_quote(&self.path);
        let follow = self.follow();
        // Ansible: os.stat with follow, else os.lstat; a link is only seen without follow.
        let (stat_flag, link) = if follow {
            ("-L ", "false")
        } else {
            ("", "[ -L \"$p\" ]")
        };
        let mut s = format!(
            "p={p}\nLC_ALL=C stat {stat_flag}--printf '{STAT_FORMAT}' -- \"$p\" || exit {STAT_FAILED}\n\
             for t in r w x; do if [ -$t \"$p\" ]; then printf '1\\0'; else printf '0\\0'; fi; done\n\
             if {link}; then readlink -zm -- \"$p\" || printf '\\0'; readlink -z -- \"$p\" || printf '\\0'; \
             else printf '\\0\\0'; fi\n"
        );
        if self.get_checksum.unwrap_or(true) {
            // Ansible sums regular files the user can read (a link's target only with follow).
            s.push_str(&format!(
                "if [ -f \"$p\" ] && ! {link} && [ -r \"$p\" ] && c=$({}sum < \"$p\"); then printf '%s' \"${{c%% *}}\"; fi\n",
                self.algorithm()
            ));
        }
        s.push_str("printf '\\0'\n");
        if self.get_mime.unwrap_or(true) {
            // Like Ansible: `file` without -L (a link reports inode/symlink even with follow).
            s.push_str(
                "command -v file >/dev/null 2>&1 && m=$(file --mime-type --mime-encoding -b -- \"$p\" 2>/dev/null) && printf '%s' \"$m\"\n",
            );
        }
        s.push_str("printf '\\0'\n");
        if self.get_attributes.unwrap_or(true) {
            s.push_str(
                "command -v lsattr >/dev/null 2>&1 && a=$(lsattr -vd -- \"$p\" 2>/dev/null) && printf '%s' \"$a\"\n",
            );
        }
        s.push_str("printf '\\0'\n");
        s
    }

    /// The `stat` dict from the script's output, as ansible-core 2.19's stat module builds it.
    fn parse(&self, stdout: &str) -> Result<Map<String, Value>, ModuleError> {
        let fields: Vec<&str> = stdout.split('\0').collect();
        let want = STAT_FIELDS + 8;
        if fields.len() < want {
            return Err(ModuleError::Args(format!(
                "stat: unexpected output from the target ({} fields, want {want}): {:?}",
                fields.len(),
                stdout.chars().take(200).collect::<String>()
            )));
        }
        let int = |i: usize| -> Value {
            fields[i]
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::Null)
        };
        let raw = u32::from_str_radix(fields[0], 16).map_err(|_| {
            ModuleError::Args(format!("stat: unexpected mode {:?} from stat", fields[0]))
        })?;
        let kind = raw & 0o170000;
        let bit = |b: u32| Value::Bool(raw & b != 0);
        let mut st = Map::new();
        st.insert("exists".into(), Value::Bool(true));
        st.insert("path".into(), Value::String(self.path.clone()));
        st.insert("mode".into(), format!("{:04o}", raw & 0o7777).into());
        for (name, k) in [
            ("isdir", 0o040000),
            ("ischr", 0o020000),
            ("isblk", 0o060000),
            ("isreg", 0o100000),
            ("isfifo", 0o010000),
            ("islnk", 0o120000),
            ("issock", 0o140000),
        ] {
            st.insert(name.into(), Value::Bool(kind == k));
        }
        st.insert("uid".into(), int(1));
        st.insert("gid".into(), int(2));
        st.insert("size".into(), int(5));
        st.insert("inode".into(), int(6));
        st.insert("dev".into(), int(7));
        st.insert("nlink".into(), int(8));
        st.insert("atime".into(), time(fields[9]));
        st.insert("mtime".into(), time(fields[10]));
        st.insert("ctime".into(), time(fields[11]));
        for (name, b) in [
            ("wusr", 0o200),
            ("rusr", 0o400),
            ("xusr", 0o100),
            ("wgrp", 0o020),
            ("rgrp", 0o040),
            ("xgrp", 0o010),
            ("woth", 0o002),
            ("roth", 0o004),
            ("xoth", 0o001),
            ("isuid", 0o4000),
            ("isgid", 0o2000),
        ] {
            st.insert(name.into(), bit(b));
        }
        st.insert("blocks".into(), int(12));
        st.insert("block_size".into(), int(13));
        st.insert("device_type".into(), int(14));
        let rest = &fields[STAT_FIELDS..];
        for (i, name) in ["readable", "writeable", "executable"].iter().enumerate() {
            st.insert((*name).into(), Value::Bool(rest[i] == "1"));
        }
        if kind == 0o120000 {
            st.insert("lnk_source".into(), rest[3].into());
            st.insert("lnk_target".into(), rest[4].into());
        }
        // stat prints UNKNOWN for an id with no name; Ansible then leaves the name out.
        if fields[3] != "UNKNOWN" {
            st.insert("pw_name".into(), fields[3].into());
        }
        if fields[4] != "UNKNOWN" {
            st.insert("gr_name".into(), fields[4].into());
        }
        if !rest[5].is_empty() {
            st.insert("checksum".into(), rest[5].into());
        }
        if self.get_mime.unwrap_or(true) {
            let (mimetype, charset) = mime(rest[6]);
            st.insert("mimetype".into(), mimetype.into());
            st.insert("charset".into(), charset.into());
        }
        if self.get_attributes.unwrap_or(true) {
            let (version, flags, names) = attributes(rest[7]);
            st.insert("version".into(), version.map_or(Value::Null, Value::from));
            st.insert("attributes".into(), names.into());
            st.insert("attr_flags".into(), flags.into());
        }
        Ok(st)
    }
}

/// `sec.nnnnnnnnn` as Python's `st_atime` float: `sec + nsec * 1e-9` in double precision.
fn time(text: &str) -> Value {
    let parsed = match text.split_once('.') {
        Some((sec, ns)) if !sec.starts_with('-') => sec
            .parse::<i64>()
            .ok()
            .zip(ns.parse::<u32>().ok())
            .map(|(s, n)| s as f64 + f64::from(n) * 1e-9),
        _ => text.parse::<f64>().ok(),
    };
    parsed.map_or(Value::Null, Value::from)
}

/// `file -b --mime-type --mime-encoding` output → (mimetype, charset); `unknown` for both when it
/// is missing or not in that shape, as Ansible does.
fn mime(out: &str) -> (String, String) {
    let unknown = || ("unknown".to_string(), "unknown".to_string());
    let parts: Vec<&str> = out.trim_end_matches('\n').split(';').collect();
    match parts.as_slice() {
        [mimetype, charset] => match charset.split('=').nth(1) {
            Some(cs) => (mimetype.trim().to_string(), cs.trim().to_string()),
            None => unknown(),
        },
        _ => unknown(),
    }
}

/// `lsattr -vd` output → (version, flags without dashes, attribute names); Ansible's defaults
/// (None, "", []) when lsattr is missing or failed (tmpfs, a symlink).
fn attributes(out: &str) -> (Option<String>, String, Vec<String>) {
    let mut words = out.split_whitespace();
    match (words.next(), words.next()) {
        (Some(version), Some(flags)) => {
            let flags = flags.replace('-', "");
            let names = flags
                .chars()
                .filter_map(|c| FILE_ATTRIBUTES.iter().find(|(f, _)| *f == c))
                .map(|(_, n)| (*n).to_string())
                .collect();
            (Some(version.to_string()), flags, names)
        }
        _ => (None, String::new(), Vec::new()),
    }
}

impl Module for Stat {
    const NAME: &'static str = "stat";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();
    const PATH_ARGS: &'static [&'static str] = &["path", "dest", "name"];

    fn validate(&self) -> Result<(), ModuleError> {
        let algo = self.algorithm();
        if !ALGORITHMS.contains(&algo) {
            return Err(ModuleError::Args(format!(
                "stat: argument 'checksum_algorithm' is {algo:?}; valid: {}",
                ALGORITHMS.join(", ")
            )));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        self.validate()?;
        let out = ctx.query(&self.script(), None).await?;
        let mut r = ModuleResult::ok();
        if out.rc == STAT_FAILED {
            // `stat: cannot statx 'p': <strerror>`: Ansible reports a missing path as
            // exists=false and fails with the strerror otherwise (EACCES, ENOTDIR …).
            let err = out.stderr.trim_end();
            let reason = err.rsplit(": ").next().unwrap_or(err);
            if reason == "No such file or directory" {
                let mut st = Map::new();
                st.insert("exists".into(), Value::Bool(false));
                r.extra.insert("stat".into(), Value::Object(st));
                return Ok(Query::done(r));
            }
            return Ok(Query::done(ModuleResult::fail(reason)));
        }
        if out.rc != 0 {
            return Ok(Query::done(ModuleResult::fail(format!(
                "stat: the probe failed (rc {}): {}",
                out.rc,
                out.stderr.trim_end()
            ))));
        }
        r.extra
            .insert("stat".into(), Value::Object(self.parse(&out.stdout)?));
        Ok(Query::done(r))
    }

    async fn apply(&self, _: (), _: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(args: serde_json::Value) -> Stat {
        let Value::Object(map) = args else {
            panic!("args must be a map")
        };
        crate::engine::modules::module::parse::<Stat>(&map).expect("valid stat args")
    }

    #[test]
    fn times_are_python_floats() {
        assert_eq!(
            time("1796542602.120656005"),
            Value::from(1796542602.0 + 120656005.0 * 1e-9)
        );
        assert_eq!(time("12.000000000"), Value::from(12.0));
        assert_eq!(time("junk"), Value::Null);
    }

    #[test]
    fn mime_and_attributes_parse_like_ansible() {
        assert_eq!(
            mime("text/plain; charset=us-ascii\n"),
            ("text/plain".into(), "us-ascii".into())
        );
        assert_eq!(mime(""), ("unknown".into(), "unknown".into()));
        let (v, flags, names) = attributes("2779006446 --------------e------- /x\n");
        assert_eq!(v.as_deref(), Some("2779006446"));
        assert_eq!(flags, "e");
        assert_eq!(names, vec!["extents".to_string()]);
        assert_eq!(attributes(""), (None, String::new(), Vec::new()));
    }

    #[test]
    fn parses_a_regular_file() {
        let s = stat(serde_json::json!({"path": "/t/f", "mime": false, "attr": false}));
        let out = "81a4\x000\x000\x00root\x00root\x0011\x0042\x002049\x001\x00\
                   1.500000000\x002.000000000\x003.250000000\x008\x004096\x000\x00\
                   1\x001\x000\x00\x00\x00abc\x00\x00\x00";
        let st = s.parse(out).expect("parses");
        assert_eq!(st["mode"], "0644");
        assert_eq!(st["isreg"], true);
        assert_eq!(st["islnk"], false);
        assert_eq!(st["rusr"], true);
        assert_eq!(st["xusr"], false);
        assert_eq!(st["roth"], true);
        assert_eq!(st["size"], 11);
        assert_eq!(st["atime"], 1.5);
        assert_eq!(st["checksum"], "abc");
        assert_eq!(st["executable"], false);
        assert!(!st.contains_key("lnk_source"));
        assert!(!st.contains_key("mimetype"));
        assert!(!st.contains_key("attributes"));
        assert!(s.parse("81a4\x00").is_err());
    }

    #[test]
    fn checksum_algorithm_is_checked() {
        let parse = |v: serde_json::Value| {
            let Value::Object(map) = v else {
                panic!("args must be a map")
            };
            crate::engine::modules::module::parse::<Stat>(&map).map(|_| ())
        };
        assert!(parse(serde_json::json!({"path": "/x", "checksum_algorithm": "sha256"})).is_ok());
        let err = parse(serde_json::json!({"path": "/x", "checksum": "crc32"}))
            .expect_err("crc32 is refused");
        assert!(err.to_string().contains("sha512"), "{err}");
    }
}
