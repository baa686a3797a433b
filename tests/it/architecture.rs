//! The architecture, checked: dependencies point one way down the layers (README "Architecture"),
//! no source file grows past 800 lines of code (the lines before its first `#[cfg(test)]`;
//! a file compiled only for tests does not count), and only the command layer (and the TUI, which
//! owns the terminal) prints or ends the process. All read `src/` as text.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top to bottom; a module may use its own layer and those below it.
const LAYERS: &[&[&str]] = &[
    &["main", "cli", "cmd"],
    &["tui"],
    &["app", "ui"],
    // Run preparation sits with the engine: Health's repair and `runner export` prepare runs too.
    &["health", "engine", "runner", "prepare"],
    &[
        "playbook",
        "inventory",
        "template",
        "transport",
        "db",
        "lock",
    ],
    &[
        "secrets", "compat", "paths", "fsutil", "config", "error", "process",
    ],
];

const MAX_CODE_LINES: usize = 800;

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

fn src_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file: everything before its first `#[cfg(test)]`.
fn code_of(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// `src/engine/run/task.rs` → `engine`; `src/main.rs` → `main`.
fn top_module(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().to_string());
    first
        .unwrap_or_default()
        .trim_end_matches(".rs")
        .to_string()
}

/// `crate::x` names used by some code (comments included: a doc link pointing up is a dependency
/// of the reader too).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `other_crate::x` is not ours; `$crate::` in macros is the crate root too.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            refs.insert(name);
        }
    }
    refs
}

/// Files declared as `#[cfg(test)] mod name;`: test code as a whole.
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let Some(name) = pair[1]
                .strip_prefix("mod ")
                .or_else(|| pair[1].strip_prefix("pub mod "))
                .and_then(|r| r.strip_suffix(';'))
            else {
                continue;
            };
            if pair[0] != "#[cfg(test)]" {
                continue;
            }
            let dir = match file.file_name().and_then(|n| n.to_str()) {
                Some("mod.rs" | "lib.rs" | "main.rs") => file.parent().map(Path::to_path_buf),
                _ => Some(file.with_extension("")),
            };
            if let Some(dir) = dir {
                out.insert(dir.join(format!("{name}.rs")));
                out.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    out
}

#[test]
fn imports_point_down_the_layers() {
    let root = src_root();
    let mut files = Vec::new();
    source_files(&root, &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let top = top_module(&root, file);
        if top == "lib" {
            continue;
        }
        let Some(own) = layer_of(&top) else {
            problems.push(format!(
                "{}: module `{top}` is in no layer; add it to LAYERS in tests/it/architecture.rs \
                 and to README's Architecture section",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for used in crate_refs(code_of(&text)) {
            match layer_of(&used) {
                Some(l) if l < own => problems.push(format!(
                    "{}: `{top}` (layer {own}) uses `crate::{used}` (layer {l}, above it)",
                    file.strip_prefix(&root).unwrap_or(file).display()
                )),
                Some(_) => {}
                None => problems.push(format!(
                    "{}: uses `crate::{used}`, a module in no layer",
                    file.strip_prefix(&root).unwrap_or(file).display()
                )),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports that point up the layers:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_source_file_has_more_than_800_lines_of_code() {
    let root = src_root();
    let mut files = Vec::new();
    source_files(&root, &mut files);
    let tests_only = test_only_files(&files);
    let mut long = Vec::new();
    for file in &files {
        if tests_only.contains(file) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines = code_of(&text).lines().count();
        if lines > MAX_CODE_LINES {
            long.push(format!(
                "{}: {lines} lines before #[cfg(test)]",
                file.strip_prefix(&root).unwrap_or(file).display()
            ));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_CODE_LINES} lines of code (split them by concept):\n{}",
        long.join("\n")
    );
}

/// Where printing and exit codes belong: the command layer, `main`, and the TUI (it owns the
/// terminal). Paths relative to `src/`.
const MAY_PRINT: &[&str] = &["cmd/", "main.rs", "tui/"];

/// What prints to the process's stdout/stderr or picks its exit code (the streams themselves
/// too: `writeln!(std::io::stderr(), …)` prints as much as `eprintln!`).
const PRINTS_OR_EXITS: &[&str] = &[
    "println!",
    "eprintln!",
    "print!",
    "eprint!",
    "io::stdout",
    "io::stderr",
    "process::exit",
    "ExitCode",
];

/// The print and exit calls in some code, as `line: what` (comments skipped: they may name them).
fn print_calls(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for word in PRINTS_OR_EXITS {
            let hit = line.match_indices(word).any(|(at, _)| {
                // `eprintln!` is not also a `println!`, nor `MyExitCode` an `ExitCode`.
                let before = line[..at].chars().next_back();
                let after = line[at + word.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if hit {
                found.push(format!("{}: {word}", n + 1));
            }
        }
    }
    found
}

#[test]
fn only_the_command_layer_prints_or_exits() {
    let root = src_root();
    let mut files = Vec::new();
    source_files(&root, &mut files);
    let tests_only = test_only_files(&files);
    let mut problems = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap_or(file);
        let rel_text = rel.to_string_lossy();
        if tests_only.contains(file) || MAY_PRINT.iter().any(|p| rel_text.starts_with(p)) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for call in print_calls(code_of(&text)) {
            problems.push(format!("src/{rel_text}:{call}"));
        }
    }
    assert!(
        problems.is_empty(),
        "printing or exiting outside src/cmd/ (return a typed result that a command renders, \
         with the codes of src/cmd/exit.rs):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // The scanners themselves: an upward reference and a test-only file are recognised.
    assert_eq!(
        crate_refs("use crate::engine::plan; my_crate::no; $crate::paths::x"),
        BTreeSet::from(["engine".to_string(), "paths".to_string()])
    );
    assert_eq!(code_of("a\n#[cfg(test)]\nmod tests;"), "a\n");
    let dir = std::env::temp_dir().join(format!("arch-check-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("app")).unwrap_or_else(|e| panic!("{e}"));
    let parent = dir.join("app").join("mod.rs");
    std::fs::write(&parent, "#[cfg(test)]\nmod tests;\n").unwrap_or_else(|e| panic!("{e}"));
    let found = test_only_files(&[parent]);
    assert!(
        found.contains(&dir.join("app").join("tests.rs")),
        "{found:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(layer_of("cmd") < layer_of("engine") && layer_of("engine") < layer_of("paths"));
    assert_eq!(
        print_calls(
            "/// println! is fine in a comment\n    eprintln!(\"x\");\nstd::process::exit(1)\n\
             fn f() -> ExitCode {}\nwriteln!(out)?; MyExitCode; sprint!()\n\
             let _ = std::io::stderr().flush();"
        ),
        [
            "2: eprintln!",
            "3: process::exit",
            "4: ExitCode",
            "6: io::stderr"
        ]
    );
}
