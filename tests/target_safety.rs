//! What runs on the targets is safe (issue 18, findings 3, 4, 5, 8, 9, 11, 17, 19): playbook values
//! never become shell code, secrets never sit in an argv, new files are never readable by others
//! while they fill, destinations that are symlinks are not followed, bytes stay bytes, a command
//! cannot fake a skip. Real playbooks on the local connection, against temp dirs only.

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, unique};

/// A play on all hosts without fact gathering, around `tasks` (YAML list at column 0).
fn play(tasks: &str) -> String {
    let body: String = tasks
        .trim_start_matches('\n')
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_string()
            } else {
                format!("    {l}\n")
            }
        })
        .collect();
    format!("- hosts: all\n  gather_facts: no\n  tasks:\n{body}")
}

fn msg(r: &common::Run, task: &str) -> String {
    r.result(task)["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Finding 3: shell injection through wait_for and environment names
// ---------------------------------------------------------------------------------------------

#[test]
fn wait_for_host_is_never_shell_code() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: bad host
  wait_for:
    host: "127.0.0.1/1; touch @D@/pwned; #"
    port: 1
    timeout: 1
  ignore_errors: yes
- name: bad port
  wait_for:
    host: 127.0.0.1
    port: 70000
    timeout: 1
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    assert!(!sb.exists("pwned"), "the host ran as code\n{}", r.dump());
    assert_eq!(r.status("bad host"), "failed", "{}", r.dump());
    let m = msg(&r, "bad host");
    assert!(
        m.contains("host") && m.contains("not a host name"),
        "{m}\n{}",
        r.dump()
    );
    assert_eq!(r.status("bad port"), "failed", "{}", r.dump());
    assert!(msg(&r, "bad port").contains("1-65535"), "{}", r.dump());
}

#[test]
fn environment_names_are_never_shell_code() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: bad name
  shell: "true"
  environment:
    "X=1; touch @D@/pwned; Y": "1"
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    assert!(!sb.exists("pwned"), "the name ran as code\n{}", r.dump());
    assert_eq!(r.status("bad name"), "failed", "{}", r.dump());
    let m = msg(&r, "bad name");
    assert!(
        m.contains("environment") && m.contains("not a valid variable name"),
        "{m}\n{}",
        r.dump()
    );
}

#[test]
fn environment_values_arrive_exactly_and_stdin_still_works() {
    let sb = Sandbox::new();
    sb.write(
        "vars.yml",
        "tricky: \"a'b\\\"c\\n$(touch pwned2)\\n`id`\\\\x\\n\\n\"\n",
    );
    let pb = play(
        r#"
- name: env
  shell: 'printf %s "$TRICKY" > @D@/tricky.out; printf %s "$EMPTY" > @D@/empty.out; cat > @D@/stdin.out'
  args:
    stdin: from stdin
  environment:
    TRICKY: "{{ tricky }}"
    EMPTY: ""
"#,
    );
    let r = sb.run(&pb, &["-e", "@@D@/vars.yml"]);
    r.assert_ok();
    assert!(!sb.exists("pwned2"), "{}", r.dump());
    assert_eq!(
        sb.read("tricky.out"),
        "a'b\"c\n$(touch pwned2)\n`id`\\x\n\n"
    );
    assert_eq!(sb.read("empty.out"), "");
    assert_eq!(sb.read("stdin.out"), "from stdin\n");
}

// ---------------------------------------------------------------------------------------------
// Finding 4: no secret in any argv on the target
// ---------------------------------------------------------------------------------------------

/// Whether any process's command line contains `needle`.
fn in_some_argv(needle: &str) -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    rd.filter_map(Result::ok).any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| c.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

#[test]
fn environment_secrets_are_not_in_any_argv() {
    let sb = Sandbox::new();
    let secret = unique("envsecret");
    // The secret is split in the playbook so the playbook's own path/args never contain it whole.
    let (a, b) = secret.split_at(4);
    // wait_for's loop runs in the task's own shell (no exec), like a module running psql.
    let pb = play(&format!(
        r#"
- name: slow
  wait_for:
    timeout: 3
  environment:
    PGPASSWORD: "{{{{ '{a}' ~ '{b}' }}}}"
- name: seen
  shell: printf %s "$PGPASSWORD" > @D@/seen.out
  environment:
    PGPASSWORD: "{{{{ '{a}' ~ '{b}' }}}}"
"#
    ));
    let seen_in_argv = std::thread::scope(|s| {
        let run = s.spawn(|| sb.run(&pb, &[]));
        let start = Instant::now();
        let mut seen = false;
        while !run.is_finished() && start.elapsed() < Duration::from_secs(60) {
            seen |= in_some_argv(&secret);
            std::thread::sleep(Duration::from_millis(50));
        }
        let r = run.join().expect("run thread");
        r.assert_ok();
        seen
    });
    assert_eq!(
        sb.read("seen.out"),
        secret,
        "the task did not get the value"
    );
    assert!(!seen_in_argv, "the secret was visible in a process's argv");
}

// ---------------------------------------------------------------------------------------------
// Finding 11: a command cannot fake the skip of creates/removes
// ---------------------------------------------------------------------------------------------

#[test]
fn a_command_printing_the_skip_marker_still_fails() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: forger
  shell: echo __SLM_SKIP__; exit 7
  ignore_errors: yes
- name: forger with creates
  shell: echo __SLM_SKIP__; exit 7
  args:
    creates: @D@/never-there
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    for t in ["forger", "forger with creates"] {
        let res = r.result(t);
        assert_eq!(res["status"], "failed", "{t}\n{}", r.dump());
        assert_eq!(res["rc"], 7, "{t}\n{}", r.dump());
    }
}
