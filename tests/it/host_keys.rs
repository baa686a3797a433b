//! Host keys against real OpenSSH servers (issue 18, findings 7 and 12): the wizard's trust
//! dialog records exactly the key it showed, for the host it showed it for (the target or its
//! ProxyJump host); a `@revoked` key is refused and never learned, also with accept-new.

use crate::support::hosts;
use crate::support::sshd;

use hosts::{Hosts, root_or_skip, ssh_args, yq};
use serde_json::{Map, Value, json};
use slm_wizard::app::effects::ApprovedKey;
use slm_wizard::transport::TransportError;
use slm_wizard::transport::ssh::JUMP_HOST_SUFFIX;
use slm_wizard::tui::test_connection;

fn vars(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn approve(fingerprint: &str, jump_host: Option<&str>) -> Option<ApprovedKey> {
    Some(ApprovedKey {
        fingerprint: fingerprint.into(),
        jump_host: jump_host.map(str::to_string),
    })
}

#[test]
fn trust_records_only_the_key_that_was_shown() {
    if !root_or_skip("trust_records_only_the_key_that_was_shown") {
        return;
    }
    let h = Hosts::up(1, &[], &[]);
    let kh = h.write("kh/known_hosts", "");
    let v = vars(json!({
        "ansible_host": h.addr("h1"),
        "ansible_user": "root",
        "ansible_ssh_private_key_file": h.key().display().to_string(),
        "ansible_ssh_common_args": ssh_args(&kh, "yes"),
    }));
    let rt = hosts::runtime();

    // "test connection": the dialog is shown this key.
    let shown = match rt.block_on(test_connection("h1", v.clone(), None)) {
        Err(TransportError::HostKeyUnknown { host, fingerprint }) => {
            assert_eq!(host, h.addr("h1"));
            fingerprint
        }
        other => panic!("expected an unknown host key, got {other:?}"),
    };
    assert_eq!(shown, h.host_fingerprint("h1"));

    // The host's key changes before the operator says "trust": the key now offered is not the
    // one approved, so nothing is recorded.
    h.ctl("rekey", "h1");
    let now = h.host_fingerprint("h1");
    assert_ne!(now, shown);
    let err = rt
        .block_on(test_connection("h1", v.clone(), approve(&shown, None)))
        .expect_err("a key other than the approved one must be refused");
    let msg = err.to_string();
    assert!(
        msg.contains("not the one approved") && msg.contains(&shown) && msg.contains(&now),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        "",
        "nothing may be recorded"
    );

    // Approving the key the host really has records exactly it.
    let said = rt
        .block_on(test_connection("h1", v.clone(), approve(&now, None)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(said.contains("Linux"), "{said}");
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        format!("{} {}\n", h.addr("h1"), h.host_key("h1"))
    );
    // Strict checking is satisfied from now on.
    rt.block_on(test_connection("h1", v, None))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn revoked_host_key_is_refused_and_never_learned_even_with_accept_new() {
    if !root_or_skip("revoked_host_key_is_refused_and_never_learned_even_with_accept_new") {
        return;
    }
    let h = Hosts::up(2, &[], &[]);
    // h1's key is revoked; h2 is simply unknown.
    let text = format!("# revoked after a leak\n@revoked\t* {}\n", h.host_key("h1"));
    let kh = h.write("kh/known_hosts", &text);
    let inv = h.write_inventory("inv-revoked.yml", |_| {
        vec![("ansible_ssh_common_args".into(), yq(&ssh_args(&kh, "yes")))]
    });
    let pb = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: hello\n      command: echo hello\n";
    let run = h.run(pb, &inv, &["--accept-new-host-keys"]);
    run.assert_code(4);
    let msg = run.unreachable_msg("h1");
    assert!(
        msg.contains("REVOKED") && msg.contains(&format!("{}:2", kh.display())),
        "{msg}"
    );
    assert_eq!(run.status("h2", "hello"), "changed", "{}", run.dump());
    let after = std::fs::read_to_string(&kh).unwrap();
    assert!(
        !after
            .lines()
            .any(|l| l.starts_with(h.addr("h1")) || l.starts_with(&format!("[{}]", h.addr("h1")))),
        "the revoked key was learned:\n{after}"
    );
    assert!(
        after.ends_with(&format!("{} {}\n", h.addr("h2"), h.host_key("h2"))),
        "{after}"
    );
}

/// The unknown key met first is the jump host's: it is reported as the jump host's, and trusting
/// it records it for the jump host only; the target's key is asked about on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_jump_hosts_key_is_asked_as_the_jump_hosts_and_trusting_it_records_only_it() {
    let jump = sshd::Sshd::start();
    let target = sshd::Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, "").unwrap();
    let cfg = dir.path().join("ssh_config");
    let block = |alias: &str, s: &sshd::Sshd, extra: &str| {
        format!(
            "Host {alias}\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  \
             UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  ConnectTimeout 5\n{extra}",
            s.port,
            s.client_key.display(),
            kh.display()
        )
    };
    std::fs::write(
        &cfg,
        format!(
            "{}{}",
            block("target", &target, "  ProxyJump jump\n"),
            block("jump", &jump, "")
        ),
    )
    .unwrap();
    let v = vars(json!({
        "ansible_host": "target",
        "ansible_ssh_common_args": format!("-F {}", cfg.display()),
    }));

    let (key_host, shown) = match test_connection("db1", v.clone(), None).await {
        Err(TransportError::HostKeyUnknown { host, fingerprint }) => (host, fingerprint),
        other => panic!("expected the jump host's unknown key, got {other:?}"),
    };
    assert_eq!(
        key_host,
        format!("[127.0.0.1]:{}{JUMP_HOST_SUFFIX}", jump.port)
    );
    assert_eq!(shown, jump.host_fingerprint());

    // Trusting the jump host's key records it, and only it: the target's key, never shown, is
    // the next question.
    match test_connection("db1", v.clone(), approve(&shown, Some("jump"))).await {
        Err(TransportError::HostKeyUnknown { host, fingerprint }) => {
            assert_eq!(host, format!("[127.0.0.1]:{}", target.port));
            assert_eq!(fingerprint, target.host_fingerprint());
        }
        other => panic!("expected the target's unknown key, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        format!("{}\n", jump.known_hosts_line())
    );
    // The jump's key approved as if it were the target's is not recorded for the target.
    let err = test_connection("db1", v.clone(), approve(&shown, None))
        .await
        .expect_err("the jump's key is not the target's");
    assert!(err.to_string().contains("not the one approved"), "{err}");
    // The target's own key, approved, is recorded for it.
    test_connection("db1", v, approve(&target.host_fingerprint(), None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        format!(
            "{}\n{}\n",
            jump.known_hosts_line(),
            target.known_hosts_line()
        )
    );
}
