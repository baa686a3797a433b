//! The wizard in tmux with `auto` on a playbook the native engine refuses: Review says why and
//! that ansible runs it, the dry run shows the diff, `e` switches the engine, and Execute shows
//! the results of the ansible engine.

use crate::support::hosts;
use crate::support::tmux;

use std::path::{Path, PathBuf};

use tmux::Session;

fn ansible_playbook() -> Option<PathBuf> {
    let found = [
        std::env::var_os("ANSIBLE_PLAYBOOK").map(PathBuf::from),
        Some(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ansible-venv/bin/ansible-playbook"),
        ),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "ansible-playbook is required in CI (tests/run installs it)"
        );
        eprintln!("NOTE: ansible-playbook not installed; the test was not run");
    }
    found
}

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
