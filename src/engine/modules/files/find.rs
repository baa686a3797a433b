//! `find`: files matching patterns, age, size, content and mode under the given directories,
//! each with ansible-core's `statinfo` fields. One `find -printf` per directory lists the tree
//! (in directory order, as `os.walk` reads it); the walk, its filters and its counters
//! (`examined`, `limit`, `depth`, `hidden`) are Ansible's, replayed here. Content (`contains`)
//! and checksums are read in a second and third round trip for the candidates only.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::compat::fnmatch::fnmatch_chars;
use crate::compat::pyre;
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize, Clone, Copy, PartialEq, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    #[default]
    File,
    Directory,
    Link,
    Any,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgeStamp {
    Atime,
    #[default]
    Mtime,
    Ctime,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Find {
    #[serde(alias = "name", alias = "path", deserialize_with = "args::list")]
    paths: Vec<String>,
    #[serde(default, alias = "pattern", deserialize_with = "args::list")]
    patterns: Vec<String>,
    #[serde(default, alias = "exclude", deserialize_with = "args::list")]
    excludes: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    contains: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    read_whole_file: Option<bool>,
    #[serde(default)]
    file_type: FileType,
    #[serde(default, deserialize_with = "args::opt_string")]
    age: Option<String>,
    #[serde(default)]
    age_stamp: AgeStamp,
    #[serde(default, deserialize_with = "args::opt_string")]
    size: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    recurse: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    hidden: Option<bool>,
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
    #[serde(default, deserialize_with = "args::opt_bool")]
    use_regex: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_int")]
    depth: Option<i64>,
    #[serde(default)]
    mode: Option<Value>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    exact_mode: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_int")]
    limit: Option<i64>,
}

const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// `find -printf` fields after the `F` tag: path relative to the start, name, type (lstat),
/// type (followed), mode bits, uid, gid, size, inode, device, links, atime, mtime, ctime (each
/// `seconds.nanoseconds`), group name, user name.
const PRINTF: &str = r"F\0%P\0%f\0%y\0%Y\0%m\0%U\0%G\0%s\0%i\0%D\0%n\0%A@\0%T@\0%C@\0%g\0%u\0";
const FIELDS: usize = 16;

/// One entry of the listed tree.
struct Entry {
    rel: String,
    name: String,
    /// `d`, `f`, `l`, `p`, `s`, `c`, `b` (lstat).
    kind: char,
    /// Whether `os.walk` counts it as a directory (`is_dir()` follows links).
    walk_dir: bool,
    mode: u32,
    stat: Map<String, Value>,
    times: [f64; 3],
    size: u64,
}

/// CPython's float of a `seconds.nanoseconds` stamp (`sec + nsec * 1e-9`).
fn py_time(s: &str) -> f64 {
    let (sec, frac) = s.split_once('.').unwrap_or((s, "0"));
    let sec: f64 = sec.parse().unwrap_or(0.0);
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nsec: f64 = digits.parse().unwrap_or(0.0);
    sec + nsec * 1e-9
}

fn parse_entry(f: &[&str]) -> Option<Entry> {
    let kind = f[2].chars().next()?;
    let mode = u32::from_str_radix(f[4], 8).ok()?;
    let num = |s: &str| {
        s.parse::<u64>()
            .ok()
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    let times = [py_time(f[11]), py_time(f[12]), py_time(f[13])];
    let bit = |b: u32| Value::Bool(mode & b != 0);
    // find prints the number when there is no name; Ansible reports "".
    let name_or_empty = |name: &str, id: &str| {
        if name == id {
            String::new()
        } else {
            name.to_string()
        }
    };
    let mut st = Map::new();
    st.insert("mode".into(), format!("{:04o}", mode & 0o7777).into());
    for (key, k) in [
        ("isdir", 'd'),
        ("ischr", 'c'),
        ("isblk", 'b'),
        ("isreg", 'f'),
        ("isfifo", 'p'),
        ("islnk", 'l'),
        ("issock", 's'),
    ] {
        st.insert(key.into(), Value::Bool(kind == k));
    }
    st.insert("uid".into(), num(f[5]));
    st.insert("gid".into(), num(f[6]));
    st.insert("size".into(), num(f[7]));
    st.insert("inode".into(), num(f[8]));
    st.insert("dev".into(), num(f[9]));
    st.insert("nlink".into(), num(f[10]));
    for (key, t) in ["atime", "mtime", "ctime"].iter().zip(times) {
        st.insert(
            (*key).into(),
            serde_json::Number::from_f64(t).map_or(Value::Null, Value::Number),
        );
    }
    st.insert("gr_name".into(), name_or_empty(f[14], f[6]).into());
    st.insert("pw_name".into(), name_or_empty(f[15], f[5]).into());
    for (key, b) in [
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
        st.insert(key.into(), bit(b));
    }
    Some(Entry {
        rel: f[0].to_string(),
        name: f[1].to_string(),
        kind,
        walk_dir: f[3] == "d",
        mode,
        size: f[7].parse().unwrap_or(0),
        stat: st,
        times,
    })
}

/// `age` in seconds or `size` in bytes: Ansible's `^(-?\d+)(unit)?$`.
fn with_unit(s: &str, units: &[(char, i64)]) -> Option<i64> {
    let s = s.to_lowercase();
    let (num, mult) = match s.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let m = units.iter().find(|(u, _)| *u == c)?.1;
            (&s[..s.len() - 1], m)
        }
        _ => (s.as_str(), 1),
    };
    let digits = num.strip_prefix('-').unwrap_or(num);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<i64>().ok().map(|n| n * mult)
}

/// Python's `os.path.normpath` on a path string.
fn normpath(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            ".." if abs => {}
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// What one directory's walk found.
struct Walk {
    /// Entries that passed every filter but `contains` (when set, decided by `content`).
    matched: Vec<usize>,
    looked: usize,
    limit_reached: bool,
    /// An encoding error in `contains` ends this path's walk, as Ansible's exception does.
    error: Option<String>,
}

impl Find {
    fn filters(&self) -> Result<Filters, String> {
        let age = match &self.age {
            None => None,
            Some(a) => Some(
                with_unit(
                    a,
                    &[
                        ('s', 1),
                        ('m', 60),
                        ('h', 3600),
                        ('d', 86400),
                        ('w', 604800),
                    ],
                )
                .ok_or("failed to process age")?,
            ),
        };
        let size = match &self.size {
            None => None,
            Some(s) => Some(
                with_unit(
                    s,
                    &[
                        ('b', 1),
                        ('k', 1 << 10),
                        ('m', 1 << 20),
                        ('g', 1 << 30),
                        ('t', 1 << 40),
                    ],
                )
                .ok_or("failed to process size")?,
            ),
        };
        let use_regex = self.use_regex.unwrap_or(false);
        let patterns = if self.patterns.is_empty() {
            vec![if use_regex {
                ".*".to_string()
            } else {
                "*".to_string()
            }]
        } else {
            self.patterns.clone()
        };
        let compile = |p: &String| pyre::compile(p, pyre::Flags::default());
        let (pat_re, exc_re) = if use_regex {
            (
                patterns
                    .iter()
                    .map(compile)
                    .collect::<Result<Vec<_>, _>>()?,
                self.excludes
                    .iter()
                    .map(compile)
                    .collect::<Result<Vec<_>, _>>()?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let mode = match &self.mode {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(
                u32::from_str_radix(s.trim_start_matches("0o"), 8)
                    .map_err(|_| format!("find: mode {s:?} is not an octal mode"))?
                    & 0o7777,
            ),
            Some(other) => {
                let kind = match other {
                    Value::Number(n) if n.is_i64() || n.is_u64() => "int",
                    Value::Number(_) => "float",
                    Value::Bool(_) => "bool",
                    Value::Array(_) => "list",
                    _ => "dict",
                };
                return Err(format!(
                    "argument 'mode' is not a string and conversion is not allowed, value is of type {kind}"
                ));
            }
        };
        let contains = match &self.contains {
            Some(c) => Some(pyre::compile(c, pyre::Flags::default())?),
            None => None,
        };
        Ok(Filters {
            age,
            size,
            use_regex,
            patterns,
            excludes: self.excludes.clone(),
            pat_re,
            exc_re,
            mode,
            contains,
        })
    }

    /// `find`'s depth bound for what Ansible's walk looks at.
    fn maxdepth(&self) -> Option<i64> {
        if !self.recurse.unwrap_or(false) {
            Some(1)
        } else {
            self.depth.filter(|d| *d != 0).map(|d| d.max(0) + 1)
        }
    }

    /// Replays `os.walk(top)` over the listed entries with Ansible's loop body.
    fn walk(
        &self,
        f: &Filters,
        top: &str,
        entries: &[Entry],
        now: f64,
        content: &HashMap<usize, Result<bool, String>>,
        budget: &mut Budget,
    ) -> Walk {
        let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let parent = e.rel.rsplit_once('/').map_or("", |(p, _)| p);
            children.entry(parent).or_default().push(i);
        }
        let mut w = Walk {
            matched: Vec::new(),
            looked: 0,
            limit_reached: false,
            error: None,
        };
        let wdepth = top.trim_end_matches('/').matches('/').count() + 1;
        let mut stack: Vec<&str> = vec![""];
        while let Some(root) = stack.pop() {
            let kids = children.get(root).cloned().unwrap_or_default();
            let (dirs, files): (Vec<usize>, Vec<usize>) =
                kids.iter().partition(|&&i| entries[i].walk_dir);
            w.looked += kids.len();
            let mut descend = dirs.clone();
            let mut stop = false;
            for &i in files.iter().chain(&dirs) {
                let e = &entries[i];
                if let Some(d) = self.depth.filter(|d| *d != 0) {
                    let fsname = normpath(&format!("{top}/{}", e.rel));
                    let depth = fsname.matches('/').count() as i64 - wdepth as i64 + 1;
                    if depth > d {
                        descend.clear();
                        continue;
                    }
                }
                if e.name.starts_with('.') && !self.hidden.unwrap_or(false) {
                    continue;
                }
                let names = match f.names(&e.name) {
                    Ok(hit) => hit,
                    Err(msg) => {
                        w.error = Some(msg);
                        return w;
                    }
                };
                let common = names
                    && f.age_ok(e, now, self.age_stamp)
                    && f.mode_ok(e, self.exact_mode.unwrap_or(true));
                let take = match self.file_type {
                    FileType::Any => common && (e.kind != 'f' || f.size_ok(e)),
                    FileType::Directory => e.kind == 'd' && common,
                    FileType::Link => e.kind == 'l' && common,
                    FileType::File => {
                        e.kind == 'f'
                            && common
                            && f.size_ok(e)
                            && match (&f.contains, content.get(&i)) {
                                (None, _) => true,
                                (Some(_), Some(Ok(hit))) => *hit,
                                (Some(_), Some(Err(msg))) => {
                                    w.error = Some(msg.clone());
                                    return w;
                                }
                                // Not read yet: a candidate for the content pass.
                                (Some(_), None) => true,
                            }
                    }
                };
                if take {
                    w.matched.push(i);
                    budget.total += 1;
                }
                if Some(budget.total) == budget.limit {
                    w.limit_reached = true;
                    stop = true;
                    break;
                }
            }
            if stop || !self.recurse.unwrap_or(false) {
                break;
            }
            // Depth first, in listing order; links to directories are not followed.
            for &d in descend.iter().rev() {
                if entries[d].kind == 'd' {
                    stack.push(entries[d].rel.as_str());
                }
            }
        }
        w
    }
}

/// Matches so far over all paths, and `limit` (Ansible compares them after every entry).
struct Budget {
    total: usize,
    limit: Option<usize>,
}

struct Filters {
    age: Option<i64>,
    size: Option<i64>,
    use_regex: bool,
    patterns: Vec<String>,
    excludes: Vec<String>,
    pat_re: Vec<pyre::Regex>,
    exc_re: Vec<pyre::Regex>,
    mode: Option<u32>,
    contains: Option<pyre::Regex>,
}

/// Python's `re.match`: a match that starts at 0.
fn re_match(r: &pyre::Regex, s: &str) -> Result<bool, String> {
    r.is_match_at_start(s)
}

impl Filters {
    /// Ansible's `pfilter`.
    fn names(&self, name: &str) -> Result<bool, String> {
        let chars: Vec<char> = name.chars().collect();
        let glob = |p: &String| fnmatch_chars(&p.chars().collect::<Vec<_>>(), &chars);
        if self.use_regex {
            let any = |res: &[pyre::Regex]| -> Result<bool, String> {
                for r in res {
                    if re_match(r, name)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            };
            Ok(any(&self.pat_re)? && !any(&self.exc_re)?)
        } else {
            Ok(self.patterns.iter().any(glob) && !self.excludes.iter().any(glob))
        }
    }

    fn age_ok(&self, e: &Entry, now: f64, stamp: AgeStamp) -> bool {
        let Some(age) = self.age else { return true };
        let t = e.times[match stamp {
            AgeStamp::Atime => 0,
            AgeStamp::Mtime => 1,
            AgeStamp::Ctime => 2,
        }];
        let a = (age as f64).abs();
        if age >= 0 { now - t >= a } else { now - t <= a }
    }

    fn size_ok(&self, e: &Entry) -> bool {
        let Some(size) = self.size else { return true };
        let a = size.unsigned_abs();
        if size >= 0 { e.size >= a } else { e.size <= a }
    }

    fn mode_ok(&self, e: &Entry, exact: bool) -> bool {
        let Some(m) = self.mode else { return true };
        let have = e.mode & 0o7777;
        if exact { have == m } else { have & m != 0 }
    }
}

/// One directory of `paths` as listed on the target.
struct Listed {
    top: String,
    /// None: not a directory.
    entries: Option<Vec<Entry>>,
}

fn parse_listing(out: &str, tops: &[String]) -> Result<(f64, Vec<Listed>), String> {
    let mut tokens = out.split('\0');
    let now = tokens
        .next()
        .and_then(|t| t.strip_prefix('T'))
        .map(py_time)
        .ok_or("find: no time from the target")?;
    let mut listed = Vec::new();
    for top in tops {
        let entries = match tokens.next() {
            Some("N") => None,
            Some("D") => {
                let mut v = Vec::new();
                loop {
                    match tokens.next() {
                        Some("E") => break,
                        Some("F") => {
                            let f: Vec<&str> = tokens.by_ref().take(FIELDS).collect();
                            if f.len() < FIELDS {
                                return Err("find: truncated listing from the target".into());
                            }
                            v.extend(parse_entry(&f));
                        }
                        other => return Err(format!("find: unexpected listing token {other:?}")),
                    }
                }
                Some(v)
            }
            other => return Err(format!("find: unexpected listing token {other:?}")),
        };
        if entries.is_none() && tokens.next() != Some("E") {
            return Err("find: unexpected listing from the target".into());
        }
        listed.push(Listed {
            top: top.clone(),
            entries,
        });
    }
    Ok((now, listed))
}

/// Python's `contentfilter` on a file's bytes (text mode: UTF-8, universal newlines).
fn content_hit(re: &pyre::Regex, bytes: &[u8], whole: bool, path: &str) -> Result<bool, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        format!(
            "Failed to read the file {path} due to an encoding error. current encoding: \
             None (default determined by the Python built-in function \"open\")"
        )
    })?;
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    if whole {
        return re.is_match(&text);
    }
    for l in text.split_inclusive('\n') {
        if re_match(re, l)? {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Module for Find {
    const NAME: &'static str = "find";
    const ANSIBLE_ONLY: &'static [&'static str] = &["encoding"];
    type Pending = ();
    const PATH_ARGS: &'static [&'static str] = &["paths", "name", "path"];
    const PATH_LISTS: &'static [&'static str] = &["paths", "name", "path"];

    fn validate(&self) -> Result<(), ModuleError> {
        if let Some(a) = &self.checksum_algorithm
            && !ALGORITHMS.contains(&a.as_str())
        {
            return Err(ModuleError::Args(format!(
                "find: argument 'checksum_algorithm' is {a:?}; valid: {}",
                ALGORITHMS.join(", ")
            )));
        }
        if self.follow == Some(true) {
            return Err(ModuleError::Args(
                "find: follow: true (walking into linked directories) is not implemented by the native engine; \
                 run this playbook with --engine ansible (ansible-playbook)"
                    .into(),
            ));
        }
        if let Some(Value::String(m)) = &self.mode
            && !m.is_empty()
            && u32::from_str_radix(m.trim_start_matches("0o"), 8).is_err()
        {
            return Err(ModuleError::Args(format!(
                "find: mode {m:?}: only octal modes are implemented by the native engine (symbolic ones: --engine ansible)"
            )));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        let f = match self.filters() {
            Ok(f) => f,
            Err(msg) => {
                let mut r = ModuleResult::fail(msg.clone());
                // Ansible names the value it could not read.
                if msg == "failed to process age" {
                    r.extra.insert("age".into(), self.age.clone().into());
                } else if msg == "failed to process size" {
                    r.extra.insert("size".into(), self.size.clone().into());
                }
                return Ok(Query::done(r));
            }
        };
        if let Some(l) = self.limit.filter(|l| *l <= 0) {
            return Ok(Query::done(ModuleResult::fail(format!(
                "limit cannot be {l} (use None for unlimited)"
            ))));
        }
        let depth = self
            .maxdepth()
            .map(|d| format!("-maxdepth {d} "))
            .unwrap_or_default();
        let mut script = String::from("printf 'T%s\\0' \"$(date +%s.%N)\"\n");
        for p in &self.paths {
            // os.path.isdir follows links; find -H does the same for the starting point only.
            script.push_str(&format!(
                "p={}\nif [ -d \"$p\" ]; then printf 'D\\0'; find -H \"$p\" -mindepth 1 {depth}-printf '{PRINTF}' 2>/dev/null; \
                 else printf 'N\\0'; fi; printf 'E\\0'\n",
                sh_quote(p)
            ));
        }
        let out = ctx.query(&script, None).await?;
        let (now, listed) = parse_listing(&out.stdout, &self.paths).map_err(ModuleError::Args)?;

        // `contains`: read the candidates (every filter passed but content), then walk again.
        let mut content: Vec<HashMap<usize, Result<bool, String>>> =
            listed.iter().map(|_| HashMap::new()).collect();
        if let (Some(re), FileType::File) = (&f.contains, self.file_type) {
            let mut wanted: Vec<(usize, usize, String)> = Vec::new();
            for (li, l) in listed.iter().enumerate() {
                if let Some(entries) = &l.entries {
                    let mut all = Budget {
                        total: 0,
                        limit: None,
                    };
                    let w = self.walk(&f, &l.top, entries, now, &content[li], &mut all);
                    for i in w.matched {
                        wanted.push((li, i, normpath(&format!("{}/{}", l.top, entries[i].rel))));
                    }
                }
            }
            if !wanted.is_empty() {
                let mut s = String::from("for f in");
                for (_, _, p) in &wanted {
                    s.push(' ');
                    s.push_str(&sh_quote(p));
                }
                s.push_str(
                    "; do if [ -r \"$f\" ] && c=$(wc -c < \"$f\"); then printf '%s\\n' \"$c\"; cat -- \"$f\"; \
                     else printf -- '-1\\n'; fi; done",
                );
                let out = ctx.query(&s, None).await?;
                let mut rest = out.stdout_bytes.as_slice();
                for (li, i, path) in &wanted {
                    let nl = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                    let n: i64 = String::from_utf8_lossy(&rest[..nl])
                        .trim()
                        .parse()
                        .unwrap_or(-1);
                    rest = rest.get(nl + 1..).unwrap_or_default();
                    let hit = if n < 0 {
                        Ok(false)
                    } else {
                        let n = (n as usize).min(rest.len());
                        let body = &rest[..n];
                        rest = &rest[n..];
                        content_hit(re, body, self.read_whole_file.unwrap_or(false), path)
                    };
                    content[*li].insert(*i, hit);
                }
            }
        }

        let mut files: Vec<Value> = Vec::new();
        let mut skipped = Map::new();
        let mut looked = 0;
        let mut budget = Budget {
            total: 0,
            limit: self.limit.map(|l| l as usize),
        };
        let mut msg = "All paths examined";
        let mut warned = false;
        let mut sums: Vec<(usize, String)> = Vec::new();
        for (li, l) in listed.iter().enumerate() {
            let Some(entries) = &l.entries else {
                skipped.insert(
                    l.top.clone(),
                    format!("'{}' is not a directory", l.top).into(),
                );
                warned = true;
                continue;
            };
            let w = self.walk(&f, &l.top, entries, now, &content[li], &mut budget);
            looked += w.looked;
            for i in w.matched {
                let e = &entries[i];
                let path = normpath(&format!("{}/{}", l.top, e.rel));
                let mut r = Map::new();
                r.insert("path".into(), path.clone().into());
                r.extend(e.stat.clone());
                if self.get_checksum.unwrap_or(false) && e.kind == 'f' {
                    sums.push((files.len(), path));
                }
                files.push(Value::Object(r));
            }
            if w.limit_reached {
                msg = "Limit of matches reached";
            }
            if let Some(e) = w.error {
                skipped.insert(l.top.clone(), e.into());
                warned = true;
            }
        }
        if !sums.is_empty() {
            let algo = self.checksum_algorithm.as_deref().unwrap_or("sha1");
            let mut s = String::from("for f in");
            for (_, p) in &sums {
                s.push(' ');
                s.push_str(&sh_quote(p));
            }
            s.push_str(&format!(
                "; do c=$({algo}sum < \"$f\" 2>/dev/null) || c=; printf '%s\\n' \"${{c%% *}}\"; done"
            ));
            let out = ctx.query(&s, None).await?;
            for ((idx, _), sum) in sums.iter().zip(out.stdout.lines()) {
                if let Some(Value::Object(m)) = files.get_mut(*idx) {
                    m.insert("checksum".into(), sum.to_string().into());
                }
            }
        }
        if warned {
            msg = "Not all paths examined, check warnings for details";
        }
        let mut r = ModuleResult::ok().with_msg(msg);
        r.extra.insert("matched".into(), files.len().into());
        r.extra.insert("files".into(), Value::Array(files));
        r.extra.insert("examined".into(), looked.into());
        r.extra
            .insert("skipped_paths".into(), Value::Object(skipped));
        Ok(Query::done(r))
    }

    async fn apply(&self, _: (), _: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_paths_as_python() {
        let age = [
            ('s', 1),
            ('m', 60),
            ('h', 3600),
            ('d', 86400),
            ('w', 604800),
        ];
        assert_eq!(with_unit("2d", &age), Some(172800));
        assert_eq!(with_unit("-3M", &age), Some(-180));
        assert_eq!(with_unit("10", &age), Some(10));
        assert_eq!(with_unit("x", &age), None);
        assert_eq!(with_unit("1y", &age), None);
        assert_eq!(normpath("/tmp/x//a/./b"), "/tmp/x/a/b");
        assert_eq!(normpath("rel/../x"), "x");
        assert_eq!(py_time("1700000000.5000000000"), 1_700_000_000.5);
    }

    #[test]
    fn content_is_matched_per_line_from_the_start() {
        let re = pyre::compile("b+", pyre::Flags::default()).expect("re");
        assert!(content_hit(&re, b"a\nbb\n", false, "/f").expect("utf-8"));
        assert!(!content_hit(&re, b"ab\n", false, "/f").expect("utf-8"));
        assert!(content_hit(&re, b"ab\n", true, "/f").expect("utf-8"));
        assert!(content_hit(&re, b"\xff", false, "/f").is_err());
    }
}
