//! Issue 18 hardening: hostile input and hostile output stay within bounded memory and end in a
//! clear error (exit 5, `ERROR! file:line:col: …`), never a crash; what targets print cannot
//! drive the terminal; journals are capped and pruned.
//!
//! Memory is measured as the peak resident set size of the slm-wizard process itself, which
//! `wait4` reports once it has exited (so no sampling can miss the peak).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, Sandbox};

/// What one measured run of the binary left behind.
struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    /// Peak RSS of the process, in KiB.
    max_rss_kib: i64,
}

impl Measured {
    fn dump(&self) -> String {
        let cut = |s: &str| s.chars().take(4000).collect::<String>();
        format!(
            "exit {} rss {} KiB\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.max_rss_kib,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }
}

/// Runs the binary with `args` in the sandbox (journal there too), output to files, and reaps it
/// with `wait4` for its peak memory. `env` adds variables.
fn run_measured(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Measured {
    let out = sb.p(&format!("out-{}.txt", std::process::id()));
    let err = sb.p(&format!("err-{}.txt", std::process::id()));
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(sb.path())
        .env("XDG_STATE_HOME", sb.state_dir())
        .env("NO_COLOR", "1")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn slm-wizard");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our unreaped child; status and usage point to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child); // already reaped
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Measured {
        code,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        max_rss_kib: usage.ru_maxrss,
    }
}

fn run_playbook(sb: &Sandbox, pb: &Path, extra: &[&str]) -> Measured {
    let inv = sb.inventory();
    let mut args = vec![
        "run",
        pb.to_str().expect("utf-8 path"),
        "-i",
        inv.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    run_measured(sb, &args, &[])
}

/// Refused like any bad input: exit 5, `ERROR! <file>:<line>:<col>: …` naming `needle`.
#[track_caller]
fn assert_refused_at(m: &Measured, file: &Path, needle: &str) {
    assert_eq!(m.code, 5, "must exit 5\n{}", m.dump());
    let prefix = format!("ERROR! {}:", file.display());
    assert!(m.stderr.starts_with(&prefix), "{}", m.dump());
    let rest = &m.stderr[prefix.len()..];
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().and_then(|l| l.parse::<usize>().ok());
    let col = parts.next().and_then(|c| c.parse::<usize>().ok());
    assert!(
        line.is_some_and(|l| l > 0) && col.is_some_and(|c| c > 0),
        "no line:col\n{}",
        m.dump()
    );
    assert!(
        m.stderr.contains(needle),
        "should say {needle:?}\n{}",
        m.dump()
    );
}

const MIB: i64 = 1024;

/// The review's 478-byte bomb: 9 levels of 9 aliases, 9^9 strings when copied out.
fn alias_bomb() -> String {
    let mut s = String::from(
        "- hosts: all\n  vars:\n    a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..9 {
        let p = i - 1;
        s.push_str(&format!(
            "    a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    s.push_str("  tasks: []\n");
    s
}

#[test]
fn yaml_alias_bomb_is_refused_in_bounded_memory() {
    let sb = Sandbox::new();
    let pb = sb.write("bomb.yml", &alias_bomb());
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &pb, "alias bomb");
    assert!(m.max_rss_kib < 64 * MIB, "peak RSS too high\n{}", m.dump());
}

#[test]
fn yaml_alias_bomb_in_the_inventory_is_refused() {
    let mut inv = String::from("all:\n  vars:\n    a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..9 {
        let p = i - 1;
        inv.push_str(&format!(
            "    a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    inv.push_str("  hosts:\n    local1:\n      ansible_connection: local\n");
    let sb = Sandbox::with_inventory(&inv);
    let pb = sb.write("pb.yml", "- hosts: all\n  gather_facts: no\n  tasks: []\n");
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &sb.inventory(), "alias bomb");
    assert!(m.max_rss_kib < 64 * MIB, "peak RSS too high\n{}", m.dump());
}

#[test]
fn ten_thousand_nested_levels_are_an_error_not_an_abort() {
    let sb = Sandbox::new();
    let mut text = String::from("- hosts: all\n  vars:\n    deep:\n");
    for i in 0..10_000 {
        text.push_str(&format!("{}- \n", "  ".repeat(i + 3)));
    }
    let pb = sb.write("deep.yml", &text);
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &pb, "nested more than");
    // Flow style hits the YAML scanner's limit: still a positioned error.
    let flow = format!(
        "- hosts: all\n  vars:\n    deep: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let pb = sb.write("flow.yml", &flow);
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &pb, "");
}

#[test]
fn a_playbook_importing_itself_is_refused() {
    let sb = Sandbox::new();
    let pb = sb.write(
        "self.yml",
        "- hosts: all\n  gather_facts: no\n  tasks: []\n- import_playbook: self.yml\n",
    );
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &pb, "import_playbook cycle");
    // Two files importing each other: the error names the whole cycle.
    let a = sb.write("a.yml", "- import_playbook: b.yml\n");
    let b = sb.write("b.yml", "- import_playbook: a.yml\n");
    let m = run_playbook(&sb, &a, &[]);
    assert_refused_at(&m, &b, "import_playbook cycle");
    assert!(
        m.stderr.contains("a.yml → ") && m.stderr.contains("b.yml → "),
        "{}",
        m.dump()
    );
}

#[test]
fn an_include_cycle_is_named() {
    let sb = Sandbox::new();
    sb.write("t1.yml", "- include_tasks: t2.yml\n");
    let t2 = sb.write("t2.yml", "- include_tasks: t1.yml\n");
    let pb = sb.write(
        "pb.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - include_tasks: t1.yml\n",
    );
    let m = run_playbook(&sb, &pb, &[]);
    assert_refused_at(&m, &t2, "include cycle");
}
