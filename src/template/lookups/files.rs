//! `with_fileglob` and `with_first_found`: files on the controller, searched like Ansible's
//! `find_file_in_search_path` (each search-path directory's `<subdir>/` then itself, then the
//! playbook directory's).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Context, py_type};

/// DataLoader.path_dwim_relative_stack: the first candidate that exists, made absolute.
pub fn find_in_search_path(ctx: &Context, subdir: &str, source: &str) -> Option<PathBuf> {
    if let Some(home_rel) = source.strip_prefix('~') {
        let home = std::env::var_os("HOME").map(PathBuf::from)?;
        let p = home.join(home_rel.trim_start_matches('/'));
        return p
            .symlink_metadata()
            .is_ok()
            .then(|| crate::fsutil::unfrack(&p));
    }
    if source.starts_with('/') {
        let p = PathBuf::from(source);
        return p
            .symlink_metadata()
            .is_ok()
            .then(|| crate::fsutil::unfrack(&p));
    }
    // "Don't add the subdir when the source already starts with it." (None: no subdir.)
    let with_subdir = !subdir.is_empty() && source.split('/').next() != Some(subdir);
    let mut candidates = Vec::new();
    for dir in ctx.search_path.iter().chain(std::iter::once(&ctx.basedir)) {
        if with_subdir {
            candidates.push(dir.join(subdir).join(source));
        }
        candidates.push(dir.join(source));
    }
    candidates
        .into_iter()
        .find(|c| c.exists())
        .map(|c| crate::fsutil::unfrack(&c))
}

fn term_str<'v>(term: &'v Value, lookup: &str) -> Result<&'v str, String> {
    term.as_str().ok_or_else(|| {
        format!(
            "{lookup} expects file names (strings), not {}",
            py_type(term)
        )
    })
}

/// `with_fileglob`: per pattern, the regular files matching its last component in the first
/// directory with a match (sorted; Python's glob gives directory order).
pub(super) fn fileglob(terms: &[Value], ctx: &Context) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for term in terms {
        let term = term_str(term, "fileglob")?;
        let (dir, pattern) = match term.rsplit_once('/') {
            Some((d, f)) => (Some(if d.is_empty() { "/" } else { d }), f),
            None => (None, term),
        };
        let dirs: Vec<PathBuf> = match dir {
            Some(d) => find_in_search_path(ctx, "files", d).into_iter().collect(),
            None => ctx
                .search_path
                .iter()
                .flat_map(|p| [p.join("files"), p.clone()])
                .collect(),
        };
        for d in dirs {
            let found = glob_dir(&d, pattern);
            if !found.is_empty() {
                out.extend(
                    found
                        .into_iter()
                        .map(|p| Value::String(p.display().to_string())),
                );
                break;
            }
        }
    }
    Ok(out)
}

/// Regular files in `dir` whose name matches `pattern` (`*`, `?`, `[…]`; a leading dot only
/// matched by a pattern that starts with one, as in Python's glob).
fn glob_dir(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?', '[']) {
        let p = dir.join(pattern);
        return if p.is_file() { vec![p] } else { Vec::new() };
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let pat: Vec<char> = pattern.chars().collect();
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (!name.starts_with('.') || pattern.starts_with('.'))
                && crate::compat::fnmatch::fnmatch_chars(&pat, &name.chars().collect::<Vec<_>>())
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// `first_found`: the first of the files (or `files` × `paths` of a mapping term or of the
/// keyword options) found. As `with_first_found` it searches under `templates/`, `vars/` or
/// `files/` by the task's module; called as `lookup()` it searches the search path's
/// directories themselves, as 2.19 does. None found is an error unless `skip: true`.
pub(super) fn first_found(
    terms: &[Value],
    ctx: &Context,
    as_with: bool,
    kwargs: &Map<String, Value>,
) -> Result<Vec<Value>, String> {
    let subdir = if as_with {
        let s = ["template", "var", "file"]
            .into_iter()
            .find(|s| ctx.module.contains(s))
            .unwrap_or("file");
        format!("{s}s")
    } else {
        String::new()
    };
    // Options set by a mapping term stay for the terms after it, as the plugin's do.
    let (kw_files, mut opts) = options(kwargs)?;
    let kw_terms: Vec<Value>;
    let terms = if terms.is_empty() {
        kw_terms = kw_files.into_iter().map(Value::String).collect();
        &kw_terms
    } else {
        terms
    };
    let mut search = Vec::new();
    candidates(terms, &mut opts, &mut search)?;
    for fname in &search {
        if let Some(p) = find_in_search_path(ctx, &subdir, fname) {
            return Ok(vec![Value::String(p.display().to_string())]);
        }
    }
    if opts.skip {
        return Ok(Vec::new());
    }
    Err("No file was found when using first_found.".into())
}

#[derive(Default)]
struct Options {
    paths: Vec<String>,
    skip: bool,
}

/// A mapping of first_found options: its `files`, and its `paths` and `skip`.
fn options(m: &Map<String, Value>) -> Result<(Vec<String>, Options), String> {
    let mut opts = Options::default();
    let mut files = Vec::new();
    for (k, v) in m {
        match k.as_str() {
            "files" => files = split_on(v, ",;", "files")?,
            "paths" => opts.paths = split_on(v, ",:;", "paths")?,
            "skip" => opts.skip = super::truthy(v),
            other => {
                return Err(format!(
                    "unknown option '{other}' for first_found (valid: files, paths, skip)"
                ));
            }
        }
    }
    Ok((files, opts))
}

fn candidates(terms: &[Value], opts: &mut Options, out: &mut Vec<String>) -> Result<(), String> {
    for term in terms {
        let files = match term {
            Value::Object(m) => {
                let (files, o) = options(m)?;
                *opts = o;
                files
            }
            Value::String(s) => split_on(term, ",;", "files").unwrap_or_else(|_| vec![s.clone()]),
            Value::Array(a) => {
                candidates(a, opts, out)?;
                continue;
            }
            other => {
                return Err(format!(
                    "Invalid term supplied. A string, dict or list is required, not '{}').",
                    py_type(other)
                ));
            }
        };
        if opts.paths.is_empty() {
            out.extend(files);
        } else {
            for p in &opts.paths {
                for f in &files {
                    // os.path.join: an absolute file name replaces the path.
                    out.push(if f.starts_with('/') {
                        f.clone()
                    } else {
                        format!("{}/{f}", p.trim_end_matches('/'))
                    });
                }
            }
        }
    }
    Ok(())
}

/// A `files`/`paths` option: a list of names, or text split on the separators (deprecated in
/// Ansible, still done).
fn split_on(v: &Value, seps: &str, what: &str) -> Result<Vec<String>, String> {
    let split =
        |s: &str| -> Vec<String> { s.split(|c| seps.contains(c)).map(str::to_string).collect() };
    match v {
        Value::String(s) => Ok(split(s)),
        Value::Array(a) => {
            let mut out = Vec::new();
            for x in a {
                match x {
                    Value::String(s) => out.extend(split(s)),
                    other => {
                        return Err(format!(
                            "first_found's '{what}' must hold strings, not {}",
                            py_type(other)
                        ));
                    }
                }
            }
            Ok(out)
        }
        Value::Null => Ok(Vec::new()),
        other => Err(format!(
            "first_found's '{what}' must be a list of strings, not {}",
            py_type(other)
        )),
    }
}
