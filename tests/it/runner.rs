//! Fleets: `slm-wizard runner export|follow|worker` against the real ansible-runner from PyPI
//! (tests/run installs it into target/ansible-venv). A small playbook over the local connection in
//! temp dirs, and the project's playbook on SSH test hosts.

use crate::support::hosts;
use crate::support::tmux;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hosts::{Hosts, root_or_skip, run_with_timeout};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_slm-wizard");
const LONG: Duration = Duration::from_secs(600);

/// The venv's bin directory when ansible-runner is installed there (`SLM_ANSIBLE_VENV_BIN`, else
/// target/ansible-venv/bin); required in CI.
fn venv_bin() -> Option<PathBuf> {
    let bin = std::env::var_os("SLM_ANSIBLE_VENV_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ansible-venv/bin"),
        PathBuf::from,
    );
    if bin.join("ansible-runner").is_file() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "ansible-runner is required in CI (tests/run installs it)"
    );
    eprintln!("NOTE: ansible-runner not installed; the runner tests did not run");
    None
}

/// A shell pipeline with the venv first on PATH; its stdout, stderr and exit code.
fn sh(venv: &Path, cwd: &Path, script: &str) -> (String, String, i32) {
    let path = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-c", &format!("set -o pipefail; {script}")])
        .current_dir(cwd)
        .env("PATH", path)
        .env("SLM", BIN)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
        .env("XDG_STATE_HOME", cwd.join("xdg"))
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .stdin(Stdio::null());
    let o = run_with_timeout(cmd, LONG);
    (o.stdout, o.stderr, o.code)
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A private data dir with a playbook over the local connection that writes into `dir`.
fn local_pdd(dir: &Path, playbook: &str) -> PathBuf {
    let pdd = dir.join("pdd");
    std::fs::create_dir_all(pdd.join("project")).unwrap();
    std::fs::create_dir_all(pdd.join("inventory")).unwrap();
    std::fs::write(pdd.join("project/p.yml"), playbook).unwrap();
    std::fs::write(
        pdd.join("inventory/hosts.yml"),
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: /usr/bin/python3\n",
    )
    .unwrap();
    pdd
}

fn small_playbook(out: &Path) -> String {
    format!(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: say hi\n      command: echo hi\n    - name: write a file\n      copy:\n        content: \"x\\n\"\n        dest: {}\n",
        out.display()
    )
}

#[test]
fn ansible_runner_worker_stream_is_followed() {
    let Some(venv) = venv_bin() else { return };
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out.txt");
    local_pdd(d.path(), &small_playbook(&out));

    // --json: our events, translated from the runner's.
    let (stdout, stderr, code) = sh(
        &venv,
        d.path(),
        "ansible-runner transmit pdd -p p.yml | ansible-runner worker | \"$SLM\" runner follow - --json",
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let events = json_lines(&stdout);
    let hi = events
        .iter()
        .find(|e| e["event"] == "task_result" && e["task"] == "say hi")
        .unwrap_or_else(|| panic!("no result of 'say hi': {stdout}"));
    assert_eq!(
        (&hi["host"], &hi["status"], &hi["stdout"], &hi["rc"]),
        (
            &Value::from("localhost"),
            &Value::from("changed"),
            &Value::from("hi"),
            &Value::from(0)
        ),
        "{hi}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "task_start" && e["task"] == "write a file"),
        "{stdout}"
    );
    let stats = events
        .iter()
        .find(|e| e["event"] == "stats")
        .unwrap_or_else(|| panic!("no stats: {stdout}"));
    assert_eq!(stats["hosts"]["localhost"]["changed"], 2, "{stats}");
    assert_eq!(stats["hosts"]["localhost"]["failed"], 0, "{stats}");
    assert!(out.is_file());

    // The text view, from a saved stream; a failing task gives run's exit code 2.
    std::fs::write(
        d.path().join("pdd/project/p.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: fails\n      command: /bin/false\n",
    )
    .unwrap();
    let (stdout, stderr, code) = sh(
        &venv,
        d.path(),
        "ansible-runner transmit pdd -p p.yml | ansible-runner worker > stream.jsonl; \"$SLM\" runner follow stream.jsonl",
    );
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stdout.contains("TASK [fails]"), "{stdout}");
    assert!(stdout.contains("fatal: [localhost]: FAILED!"), "{stdout}");
    assert!(stdout.contains("PLAY RECAP"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("localhost") && l.contains("failed=1")),
        "{stdout}"
    );

    // A broken stream is bad input, said with its line.
    std::fs::write(
        d.path().join("bad.jsonl"),
        "{\"status\": \"running\"}\nnope\n",
    )
    .unwrap();
    let (_, stderr, code) = sh(&venv, d.path(), "\"$SLM\" runner follow bad.jsonl");
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("stream line 2: not JSON"), "{stderr}");
}

/// `transmit | slm-wizard runner worker | process`: the artifacts say what ansible-runner's own
/// worker would (status, rc, job_events, stdout).
/// `code` is the worker's exit code (the job's, as `ansible-runner worker` gives it).
fn process_native(
    venv: &Path,
    dir: &Path,
    pdd: &str,
    playbook: &str,
    code: i32,
) -> (String, PathBuf) {
    let (stdout, stderr, got) = sh(
        venv,
        dir,
        &format!(
            "ansible-runner transmit {pdd} -p {playbook} --ident job1 | \"$SLM\" runner worker | ansible-runner process out --ident job1"
        ),
    );
    assert_eq!(got, code, "{stdout}\n{stderr}");
    (stdout, dir.join("out/artifacts/job1"))
}

fn events_of(artifacts: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(artifacts.join("job_events"))
        .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('-').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    });
    files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn native_worker_stream_is_processed_by_ansible_runner() {
    let Some(venv) = venv_bin() else { return };
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out.txt");
    local_pdd(d.path(), &small_playbook(&out));

    let (stdout, artifacts) = process_native(&venv, d.path(), "pdd", "p.yml", 0);
    assert_eq!(read(&artifacts.join("status")), "successful");
    assert_eq!(read(&artifacts.join("rc")), "0");
    assert!(stdout.contains("TASK [say hi]"), "{stdout}");
    assert!(stdout.contains("changed: [localhost]"), "{stdout}");
    assert!(stdout.contains("PLAY RECAP"), "{stdout}");
    assert_eq!(read(&out), "x\n");
    let events = events_of(&artifacts);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"playbook_on_start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"playbook_on_stats"), "{kinds:?}");
    let hi = events
        .iter()
        .find(|e| e["event"] == "runner_on_ok" && e["event_data"]["task"] == "say hi")
        .unwrap_or_else(|| panic!("{kinds:?}"));
    assert_eq!(hi["event_data"]["host"], "localhost");
    assert_eq!(hi["event_data"]["res"]["changed"], true);
    assert_eq!(hi["event_data"]["res"]["stdout"], "hi");
    let stats = events.last().unwrap();
    assert_eq!(stats["event_data"]["changed"]["localhost"], 2, "{stats}");

    // The same stream through our own follow.
    let (text, stderr, code) = sh(
        &venv,
        d.path(),
        "ansible-runner transmit pdd -p p.yml | \"$SLM\" runner worker | \"$SLM\" runner follow - --json",
    );
    assert_eq!(code, 0, "{text}\n{stderr}");
    let stats = json_lines(&text)
        .into_iter()
        .find(|e| e["event"] == "stats")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(stats["hosts"]["localhost"]["changed"], 1, "{stats}"); // the file is there now

    // What the native engine refuses: status failed, the reason in the log, rc 5.
    std::fs::write(
        d.path().join("pdd/project/p.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: pip\n      ansible.builtin.pip:\n        name: nothing\n",
    )
    .unwrap();
    std::fs::remove_dir_all(d.path().join("out")).unwrap();
    let (stdout, artifacts) = process_native(&venv, d.path(), "pdd", "p.yml", 5);
    assert_eq!(read(&artifacts.join("status")), "failed");
    assert_eq!(read(&artifacts.join("rc")), "5");
    assert!(
        stdout
            .contains("ERROR! project/p.yml:5:7: module 'ansible.builtin.pip' is not implemented"),
        "{stdout}"
    );
}

#[test]
fn export_runs_with_ansible_runner_and_streams_through_our_worker_and_follow() {
    if !root_or_skip("export_runs_with_ansible_runner_and_streams_through_our_worker_and_follow") {
        return;
    }
    let Some(venv) = venv_bin() else { return };
    let h = Hosts::up(2, &["slm", "redis"], &["slm"]);
    let inv = h.spec_inventory("inventory.yml");
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/user-management-db.yml");
    let dir = h.dir();

    // 1. The export: passwords generated into the store, vault-encrypted in the project.
    let (stdout, stderr, code) = sh(
        &venv,
        dir,
        &format!(
            "\"$SLM\" runner export exp {} -i {} -e ansible_python_interpreter=/usr/bin/python3",
            playbook.display(),
            inv.display()
        ),
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let exp = dir.join("exp");
    let secrets = read(&exp.join("project/slm-wizard-secrets.yml"));
    assert!(
        secrets.starts_with("$ANSIBLE_VAULT;1.1;AES256"),
        "{secrets}"
    );
    assert_eq!(testhosts_mode(&exp.join("env/vault_password")), 0o600);
    let extravars = read(&exp.join("env/extravars"));
    assert!(!extravars.contains("password"), "{extravars}");
    let (shown, _, _) = sh(
        &venv,
        dir,
        &format!(
            "\"$SLM\" secrets show {} -i {} --reveal",
            playbook.display(),
            inv.display()
        ),
    );
    // The generated passwords, as the store has them: in no export file in clear.
    let stored: Vec<(String, String)> = shown
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| k.ends_with("_password"))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect();
    assert_eq!(stored.len(), 2, "{shown}");
    for (k, v) in &stored {
        assert!(v.len() >= 16, "{k}");
        for f in [
            "project/slm-wizard-secrets.yml",
            "env/extravars",
            "env/cmdline",
        ] {
            assert!(
                !read(&exp.join(f)).contains(v.as_str()),
                "{k} in clear in {f}"
            );
        }
    }
    let slm_pw = &stored
        .iter()
        .find(|(k, _)| k == "slm_db_password")
        .unwrap_or_else(|| panic!("{shown}"))
        .1;

    // 2. The real ansible-runner runs the export.
    let (stdout, stderr, code) = sh(
        &venv,
        dir,
        "ansible-runner run exp -p user-management-db.yml --ident first",
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(read(&exp.join("artifacts/first/status")), "successful");
    assert_eq!(
        h.sh(
            "slm",
            "cd / && runuser -u postgres -- psql -X -At -c \"SELECT count(*) FROM pg_database WHERE datname IN ('slm','slm_users')\""
        )
        .trim(),
        "2"
    );
    // ... with the secret that travelled vault-encrypted: the app logs in with it.
    let login = h.sh(
        "slm",
        &format!(
            "PGPASSWORD='{slm_pw}' psql -X -At -h 127.0.0.1 -U slm_app -d slm_users -c 'SELECT current_user'"
        ),
    );
    assert_eq!(login.trim(), "slm_app");

    // 3. transmit | ansible-runner worker | runner follow: the converged run, changed 0.
    let (text, stderr, code) = sh(
        &venv,
        dir,
        "ansible-runner transmit exp -p user-management-db.yml | ansible-runner worker | \"$SLM\" runner follow - --json",
    );
    assert_eq!(code, 0, "{text}\n{stderr}");
    let events = json_lines(&text);
    let stats = events
        .iter()
        .find(|e| e["event"] == "stats")
        .unwrap_or_else(|| panic!("{text}"));
    for host in ["slm", "redis"] {
        assert_eq!(stats["hosts"][host]["changed"], 0, "{stats}");
        assert!(
            stats["hosts"][host]["ok"].as_u64().unwrap_or(0) > 0,
            "{stats}"
        );
    }
    assert!(events.iter().any(|e| e["event"] == "task_result"), "{text}");

    // 4. transmit | slm-wizard runner worker | ansible-runner process: the native engine runs
    //    the export (vault file, extravars, cmdline) and agrees: nothing to change.
    let (stdout, artifacts) = process_native(&venv, dir, "exp", "user-management-db.yml", 0);
    assert_eq!(read(&artifacts.join("status")), "successful", "{stdout}");
    assert!(stdout.contains("PLAY RECAP"), "{stdout}");
    let events = events_of(&artifacts);
    let stats = &events
        .iter()
        .find(|e| e["event"] == "playbook_on_stats")
        .unwrap_or_else(|| panic!("{stdout}"))["event_data"];
    assert_eq!(stats["changed"], serde_json::json!({}), "{stats}");
    assert!(stats["ok"]["slm"].as_u64().unwrap_or(0) > 0, "{stats}");
}

fn testhosts_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn native_worker_cancels_on_sigterm_and_leaves_no_temp_dir() {
    let Some(venv) = venv_bin() else { return };
    let d = tempfile::tempdir().unwrap();
    local_pdd(
        d.path(),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: long\n      command: sleep 60\n    - name: never\n      command: echo no\n",
    );
    let (_, stderr, code) = sh(
        &venv,
        d.path(),
        "ansible-runner transmit pdd -p p.yml > job.in",
    );
    assert_eq!(code, 0, "{stderr}");
    let tmp = d.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut child = Command::new(BIN)
        .args(["runner", "worker", "--keepalive-seconds", "0.2"])
        .env("TMPDIR", &tmp)
        .stdin(std::fs::File::open(d.path().join("job.in")).unwrap())
        .stdout(std::fs::File::create(d.path().join("job.out")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(d.path().join("job.out"))
        .unwrap_or_default()
        .contains("runner_on_start")
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no task started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::read_dir(&tmp).unwrap().next().is_some(),
        "the job's temp dir"
    );
    // While the command runs silently, keepalives come.
    while !std::fs::read_to_string(d.path().join("job.out"))
        .unwrap_or_default()
        .contains("{\"event\":\"keepalive\"")
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no keepalive");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The first TERM stops new tasks, the second kills the running command.
    for _ in 0..2 {
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the worker did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(status.code(), Some(0));
    let out = std::fs::read_to_string(d.path().join("job.out")).unwrap();
    assert!(out.contains("{\"status\":\"canceled\""), "{out}");
    assert!(!out.contains("\"task\":\"never\""), "{out}");
    assert!(out.trim_end().ends_with("{\"eof\":true}"), "{out}");
    assert!(
        std::fs::read_dir(&tmp).unwrap().next().is_none(),
        "temp dirs left: {:?}",
        std::fs::read_dir(&tmp).unwrap().collect::<Vec<_>>()
    );
}

#[test]
fn follow_shows_the_stream_in_the_execute_screen_on_a_terminal() {
    let Some(venv) = venv_bin() else { return };
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out.txt");
    local_pdd(d.path(), &small_playbook(&out));
    let (_, stderr, code) = sh(
        &venv,
        d.path(),
        "ansible-runner transmit pdd -p p.yml | ansible-runner worker > stream.jsonl",
    );
    assert_eq!(code, 0, "{stderr}");
    let Some(s) = tmux::Session::start_command(
        d.path(),
        &format!(
            "env TERM=xterm NO_COLOR=1 {BIN} runner follow - < {}",
            d.path().join("stream.jsonl").display()
        ),
        "runner-follow",
    ) else {
        return;
    };
    let screen = s.wait_for(&["the stream is over"]);
    for want in [
        "Execute",
        "localhost",
        "say hi",
        "write a file",
        "changed=2",
        "failed=0",
    ] {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }
    assert!(screen.contains("TASK [say hi]"), "{screen}");
    s.keys(&["q"]);
    let screen = s.wait_for(&["WIZARD-EXITED"]);
    assert!(screen.contains("WIZARD-EXITED rc=0"), "{screen}");
    assert!(
        screen.contains("localhost : ok=2 changed=2 unreachable=0 failed=0"),
        "{screen}"
    );
}
