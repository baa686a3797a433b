//! The wizard in tmux with `auto` on a playbook the native engine refuses: Review says why and
//! that ansible runs it, the dry run shows the diff, `e` switches the engine, and Execute shows
//! the results of the ansible engine.

use crate::support::hosts;
use crate::support::tmux;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::cmd::ansible_playbook;
use tmux::Session;

#[test]
fn auto_shows_the_native_refusal_on_review_and_runs_with_ansible() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = root.join("out.txt");
    std::fs::create_dir_all(root.join("playbooks/inventory")).unwrap();
    // The controller's python for the local connection: the pip module runs there.
    std::fs::write(
        root.join("playbooks/inventory/local.yml"),
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("playbooks/tools.yml"),
        format!(
            "- name: Tools\n  hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - name: Write the note\n      ansible.builtin.copy:\n        dest: {}\n        content: \"from ansible\\n\"\n\
             \x20   - name: No stray package\n      ansible.builtin.pip:\n        name: slm-wizard-no-such-package\n        state: absent\n",
            out.display()
        ),
    )
    .unwrap();
    let env = format!("ANSIBLE_PLAYBOOK={}", ansible.display());
    let Some(s) = Session::start_with_env(root, "-p playbooks/tools.yml", "ansible-auto", &env)
    else {
        return;
    };
    s.wait_for(&["› tools.yml"]);
    s.keys(&["Enter"]);
    s.wait_for(&["has no survey"]);
    s.keys(&["Enter"]);
    s.wait_for(&["▾ ungrouped (1 host)"]);
    s.keys(&["Enter"]);
    let review = s.wait_for_within(
        &[
            "dry run finished",
            "auto → ansible",
            "native engine refused",
        ],
        std::time::Duration::from_secs(90),
    );
    assert!(review.contains("pip"), "{review}");
    assert!(
        review.contains("from ansible"),
        "the dry run's diff: {review}"
    );
    assert!(!out.exists(), "the dry run changed nothing");
    // `e`: native refuses it (the dry run fails with the reason), then ansible by choice, then
    // back to auto.
    s.keys(&["e"]);
    s.wait_for(&["engine native", "dry run failed"]);
    s.keys(&["e"]);
    s.wait_for_within(
        &["engine ansible → ansible", "dry run finished"],
        std::time::Duration::from_secs(90),
    );
    s.keys(&["e"]);
    s.wait_for_within(
        &["auto → ansible", "dry run finished"],
        std::time::Duration::from_secs(90),
    );
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);
    let exec = s.wait_for_within(
        &["finished", "journal:"],
        std::time::Duration::from_secs(90),
    );
    assert!(exec.contains("changed: Write the note"), "{exec}");
    assert!(exec.contains("ok: No stray package"), "{exec}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap_or_default(),
        "from ansible\n"
    );
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}

/// ansible's ssh checks host keys strictly, so a host the wizard has not seen yet goes through
/// the trust dialog before ansible starts; once trusted, the dry run and the run go through.
#[test]
fn ansible_engine_asks_to_trust_a_new_host_key_first() {
    if !hosts::root_or_skip("ansible_engine_asks_to_trust_a_new_host_key_first") {
        return;
    }
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let h = hosts::Hosts::up(1, &["web1"], &["web1"]);
    let known_hosts = h.p("wizard_known_hosts");
    std::fs::write(&known_hosts, "").unwrap();
    h.write_inventory("inv.yml", |_| {
        vec![
            (
                "ansible_ssh_common_args".into(),
                hosts::yq(&hosts::ssh_args(&known_hosts, "yes")),
            ),
            (
                "ansible_python_interpreter".into(),
                "/usr/bin/python3".into(),
            ),
        ]
    });
    h.write(
        "playbooks/hello.yml",
        "- name: Hello\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: Leave a note\n      ansible.builtin.copy:\n        dest: /root/ansible-hello.txt\n        content: \"hello\\n\"\n",
    );
    let env = format!("ANSIBLE_PLAYBOOK={}", ansible.display());
    let Some(s) = Session::start_with_env(
        h.dir(),
        "-p playbooks/hello.yml -i inv.yml --engine ansible",
        "ansible-trust",
        &env,
    ) else {
        return;
    };
    s.wait_for(&["› hello.yml"]);
    s.keys(&["Enter"]);
    s.wait_for(&["has no survey"]);
    s.keys(&["Enter"]);
    s.wait_for(&["web1"]);
    s.keys(&["Enter"]);
    // Review: nothing ran; the key dialog shows the host's fingerprint.
    let screen = s.wait_for(&["New host key", "web1 is not in known_hosts yet"]);
    let fp = h.host_fingerprint("web1");
    assert!(screen.contains(&fp), "{fp}:\n{screen}");
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), "");
    s.keys(&["y"]);
    s.wait_for(&["dry run failed", "not known yet"]);
    s.wait_until("the key recorded", |_| {
        std::fs::read_to_string(&known_hosts).is_ok_and(|k| k.contains(h.addr("web1")))
    });
    s.keys(&["r"]);
    s.wait_for_within(
        &[
            "engine ansible → ansible",
            "dry run finished",
            "Leave a note",
        ],
        std::time::Duration::from_secs(90),
    );
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);
    let screen = s.wait_for_within(&["journal:"], std::time::Duration::from_secs(90));
    assert!(screen.contains("changed: Leave a note"), "{screen}");
    assert_eq!(h.sh("web1", "cat /root/ansible-hello.txt"), "hello\n");
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}

/// Copies the role-based fixture playbook (tests/fixtures/ansible-role) to `dest`.
fn copy_role_fixture(dest: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ansible-role");
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(dest)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// Whether `sleep N` runs on `host`.
fn napping(h: &hosts::Hosts, host: &str, secs: &str) -> bool {
    h.exec(host, &["pgrep", "-f", &format!("^sleep {secs}$")])
        .ok()
}

/// The wizard's journals (newest last) and `slm-wizard runs …` in the session's state.
fn runs_cmd(root: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_slm-wizard"))
        .args(args)
        .env("XDG_STATE_HOME", root.join("state"))
        .env("HOME", root)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Issue #16: a role-based playbook (defaults, tasks, handlers, templates) with a module the
/// native engine refuses for good (`ansible.builtin.pip`), on two SSH test hosts with `auto`:
/// Review says the native engine refused it and why, the dry run shows the template's diff per
/// host, Execute shows both lanes live; the first `c` lets the running task finish and starts
/// no new one, the second kills it, the summary says what ran; `r` runs again on the failed and
/// the cancelled hosts, and `runs show` replays both journals.
#[test]
fn role_playbook_runs_with_auto_through_the_wizard_cancel_retry_replay() {
    if !hosts::root_or_skip("role_playbook_runs_with_auto_through_the_wizard_cancel_retry_replay") {
        return;
    }
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let h = hosts::Hosts::up(2, &["web1", "web2"], &["web1", "web2"]);
    std::fs::create_dir_all(h.p("playbooks")).unwrap();
    copy_role_fixture(&h.p("playbooks"));
    h.write_inventory("inv.yml", |_| {
        vec![(
            "ansible_python_interpreter".into(),
            "/usr/bin/python3".into(),
        )]
    });
    // web2 fails its check on the first run.
    h.sh("web2", "touch /root/slm-notes-fail");
    // A distinctive nap to find the process by.
    let nap = format!("{}", 20 + std::process::id() % 17);
    let env = format!("ANSIBLE_PLAYBOOK={}", ansible.display());
    let Some(s) = Session::start_with_env(
        h.dir(),
        "-p playbooks/site.yml -i inv.yml --engine auto",
        "ansible-role",
        &env,
    ) else {
        return;
    };
    s.wait_for(&["› site.yml"]);
    s.keys(&["Enter"]);
    // The role's defaults are the form: a changed greeting and a nap reach ansible.
    s.wait_for(&["Variables — site.yml", "notes_greeting", "notes_nap"]);
    s.keys(&["Tab"]);
    s.keys(&["C-u"]);
    s.text("hi");
    s.keys(&["Tab"]);
    s.keys(&["C-u"]);
    s.text(&nap);
    s.keys(&["C-s"]);
    s.wait_for(&["web1", "web2"]);
    s.keys(&["Enter"]);
    let long = std::time::Duration::from_secs(120);
    let review = s.wait_for_within(
        &[
            "dry run finished",
            "auto → ansible",
            "native engine refused",
        ],
        long,
    );
    assert!(review.contains("pip"), "the reason: {review}");
    // The diff of each host, in its pane (←→ switches).
    let shown = if review.contains("hi from web1") {
        "web1"
    } else {
        "web2"
    };
    assert!(
        review.contains(&format!("hi from {shown}")),
        "the template's diff: {review}"
    );
    let other = if shown == "web1" { "web2" } else { "web1" };
    s.keys(&["Right"]);
    s.wait_for(&[&format!("hi from {other}"), "+++ /root/slm-notes-done"]);
    assert!(
        h.exec("web1", &["test", "-e", "/root/slm-note.txt"]).code != 0,
        "the dry run changed nothing"
    );
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);

    // Live lanes: web2 stopped at its check, web1 in the slow step.
    let live = s.wait_for_within(&["running", "Slow step", "web2"], long);
    let lanes: Vec<&str> = live
        .lines()
        .filter(|l| l.contains("███") || l.contains("░░"))
        .collect();
    assert!(
        lanes.iter().any(|l| l.contains("web1")) && lanes.iter().any(|l| l.contains("web2")),
        "a lane per host: {live}"
    );
    let t0 = Instant::now();
    while !napping(&h, "web1", &nap) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the nap never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // First c: no new task; the running one goes on.
    s.keys(&["c"]);
    s.wait_for(&["Cancel the run?"]);
    s.keys(&["y"]);
    s.wait_for(&["cancelling"]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        napping(&h, "web1", &nap),
        "a plain cancel lets the running task finish"
    );
    // Second c: the running task is killed.
    s.keys(&["c"]);
    s.wait_for(&["Kill the running commands?"]);
    s.keys(&["y"]);
    let done = s.wait_for_within(&["cancelled", "journal:", "── summary ──"], long);
    assert!(
        done.contains("killed"),
        "the killed task is reported: {done}"
    );
    assert!(done.contains("web1: ok="), "the summary: {done}");
    assert!(done.contains("web2: ok="), "the summary: {done}");
    let t0 = Instant::now();
    while napping(&h, "web1", &nap) {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "sleep {nap} still runs on web1 after the kill"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for host in ["web1", "web2"] {
        assert!(
            h.exec(host, &["test", "-e", "/root/slm-notes-done"]).code != 0,
            "{host}: a task started after the cancel"
        );
    }
    assert_eq!(h.sh("web1", "cat /root/slm-note.txt"), "hi from web1\n");

    // r: again on web2 (failed) and web1 (cancelled), with the cause gone.
    h.sh("web2", "rm /root/slm-notes-fail");
    s.keys(&["r"]);
    s.wait_for(&["Run the playbook again"]);
    s.keys(&["y"]);
    let retried = s.wait_for_within(&["finished", "journal:", "── summary ──"], long);
    assert!(!retried.contains("cancelled"), "{retried}");
    for host in ["web1", "web2"] {
        assert_eq!(h.sh(host, "cat /root/slm-notes-done"), "done\n", "{host}");
        assert_eq!(
            h.sh(host, "cat /root/slm-note.txt"),
            format!("hi from {host}\n")
        );
    }
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);

    // The journals replay: the cancelled run, then the retry.
    let list = runs_cmd(h.dir(), &["runs", "--json"]);
    let runs: Vec<serde_json::Value> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|r: &serde_json::Value| r["check"] != true)
        .collect();
    assert_eq!(runs.len(), 2, "{list:?}");
    // Newest first.
    let (retry, first) = (&runs[0], &runs[1]);
    assert_eq!(first["engine"], "ansible", "{first}");
    let show = |id: &serde_json::Value| {
        let out = runs_cmd(h.dir(), &["runs", "show", id.as_str().unwrap()]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (_, text) = show(&first["id"]);
    assert!(
        text.contains("Slow step") && text.contains("Check the host"),
        "{text}"
    );
    assert!(!text.contains("Mark done"), "{text}");
    assert!(text.contains("killed"), "{text}");
    let (code, text) = show(&retry["id"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("Mark done"), "{text}");
}
