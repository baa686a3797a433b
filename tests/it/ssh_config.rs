//! OpenSSH client config and ProxyJump support of the SSH transport, against real OpenSSH
//! servers on 127.0.0.1 (started per test, as root).

use crate::support::sshd;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};
use slm_wizard::engine::connect::{ConnectOptions, connector};
use slm_wizard::transport::ssh::{SshParams, SshTransport};
use slm_wizard::transport::{ExecRequest, Transport, TransportError, exec};
use sshd::Sshd;

async fn sh(t: &dyn Transport, script: &str) -> String {
    let out = exec(
        t,
        ExecRequest {
            script,
            stdin: None,
            stdin_file: None,
            escalation: None,
            timeout: Some(Duration::from_secs(20)),
        },
        &mut |_, _| {},
    )
    .await
    .expect("exec");
    assert_eq!(out.rc, 0, "{script}: {}", out.stderr);
    out.stdout
}

/// A `Host` block for a fixture server, with its key and a known_hosts file that knows it.
fn host_block(alias: &str, sshd: &Sshd, extra: &str) -> String {
    let kh = sshd.path("known_hosts");
    std::fs::write(&kh, format!("{}\n", sshd.known_hosts_line())).unwrap();
    format!(
        "Host {alias}\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  \
         UserKnownHostsFile {}\n  ConnectTimeout 5\n{extra}",
        sshd.port,
        sshd.client_key.display(),
        kh.display()
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("ssh_config");
    std::fs::write(&path, text).unwrap();
    path
}

fn params_for(alias: &str, config: &Path) -> SshParams {
    let mut p = SshParams::new(alias, 22, "");
    p.config_file = Some(config.to_path_buf());
    p.apply_ssh_config(alias).unwrap();
    p
}

/// The jump server logs the direct-tcpip requests it serves (at debug level).
fn jump_server() -> Sshd {
    Sshd::start_with(&["LogLevel DEBUG1"])
}

fn forwarded_to(jump: &Sshd, target: &Sshd) -> bool {
    jump.log()
        .contains(&format!("target 127.0.0.1 port {}", target.port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_file_gives_address_user_key_and_known_hosts() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "Host other\n  Port 1\n{}Host *\n  User nobody\n  Port 2\n",
            host_block("target !nope", &sshd, "")
        ),
    );
    let p = params_for("target", &cfg);
    assert_eq!(
        (p.host.as_str(), p.port, p.user.as_str()),
        ("127.0.0.1", sshd.port, "root")
    );
    let t = SshTransport::connect(p)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    assert_eq!(sh(&t, "whoami").await, "root\n");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_jump_from_the_config() {
    let jump = jump_server();
    let target = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "{}{}",
            host_block("target", &target, "  ProxyJump jump\n"),
            host_block("jump", &jump, "")
        ),
    );
    let p = params_for("target", &cfg);
    assert_eq!(p.proxy_jump.as_ref().unwrap().port, jump.port);
    let t = SshTransport::connect(p)
        .await
        .unwrap_or_else(|e| panic!("{e}\n--- jump\n{}", jump.log()));
    assert_eq!(t.host_key_fingerprint(), Some(target.host_fingerprint()));
    assert_eq!(sh(&t, "echo through; whoami").await, "through\nroot\n");
    assert!(forwarded_to(&jump, &target), "{}", jump.log());
    // Several sessions over the tunnelled connection.
    let (a, b) = tokio::join!(sh(&t, "echo a"), sh(&t, "echo b"));
    assert_eq!((a.as_str(), b.as_str()), ("a\n", "b\n"));
    t.close().await;
    assert!(t.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_jump_given_as_params_and_as_dash_j() {
    let jump = jump_server();
    let target = Sshd::start();
    // Explicit jump parameters (no config file at all).
    let mut p = target.params();
    p.config_file = Some(PathBuf::from("none"));
    p.proxy_jump = Some(Box::new(jump.params()));
    let t = SshTransport::connect(p).await.unwrap();
    assert_eq!(sh(&t, "echo one").await, "one\n");
    t.close().await;

    // -J in the ssh arguments, the jump host's details from the config.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &host_block("bastion", &jump, ""));
    let mut p = target.params();
    p.config_file = Some(cfg.clone());
    p.from_ssh_args("-J root@bastion -C").unwrap();
    let t = SshTransport::connect(p).await.unwrap();
    assert_eq!(sh(&t, "echo two").await, "two\n");
    t.close().await;
    assert!(forwarded_to(&jump, &target));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn engine_connect_reads_the_config_and_jumps() {
    let jump = jump_server();
    let target = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "Host db1\n  Port 1\n{}{}",
            host_block("db1", &target, "  ProxyJump jump\n"),
            host_block("jump", &jump, "")
        ),
    );
    let connect = connector(ConnectOptions {
        accept_new_host_keys: false,
        connect_timeout: Duration::from_secs(5),
    });
    // Inventory name `db1`, no ansible_host: the config is looked up by the inventory name;
    // ansible_port beats the config's Port.
    let mut vars: Map<String, Value> = Map::new();
    vars.insert("ansible_port".into(), json!(target.port));
    vars.insert(
        "ansible_ssh_common_args".into(),
        json!(format!("-F {}", cfg.display())),
    );
    let t = connect("db1".into(), vars.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sh(t.as_ref(), "echo engine").await, "engine\n");
    t.close().await;
    assert!(forwarded_to(&jump, &target));

    // ansible_host names the config entry instead of the inventory name.
    vars.insert("ansible_host".into(), json!("db1"));
    let t = connect("something-else".into(), vars.clone())
        .await
        .unwrap();
    assert_eq!(sh(t.as_ref(), "echo again").await, "again\n");
    t.close().await;

    // ProxyCommand is still refused, clearly.
    vars.insert(
        "ansible_ssh_extra_args".into(),
        json!("-o ProxyCommand='ssh -W %h:%p jump'"),
    );
    match connect("db1".into(), vars).await.err() {
        Some(TransportError::Unreachable { reason }) => {
            assert!(reason.contains("ProxyCommand"), "{reason}")
        }
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_target_key_through_the_jump_names_the_target() {
    let jump = jump_server();
    let target = Sshd::start();
    let mut p = target.params();
    p.config_file = Some(PathBuf::from("none"));
    // The target's known_hosts entry holds the jump's key.
    std::fs::write(
        p.known_hosts.as_ref().unwrap(),
        format!("[127.0.0.1]:{} {}\n", target.port, jump.host_pub),
    )
    .unwrap();
    p.proxy_jump = Some(Box::new(jump.params()));
    match SshTransport::connect(p).await.err() {
        Some(TransportError::HostKeyMismatch { host, offered, .. }) => {
            assert_eq!(host, format!("[127.0.0.1]:{}", target.port));
            assert_eq!(offered, target.host_fingerprint());
        }
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }

    // A wrong key on the jump host is the jump's mismatch.
    let mut p = target.params();
    let mut j = jump.params();
    std::fs::write(
        j.known_hosts.as_ref().unwrap(),
        format!("[127.0.0.1]:{} {}\n", jump.port, target.host_pub),
    )
    .unwrap();
    j.config_file = Some(PathBuf::from("none"));
    p.proxy_jump = Some(Box::new(j));
    match SshTransport::connect(p).await.err() {
        Some(TransportError::HostKeyMismatch { host, .. }) => {
            assert_eq!(host, format!("[127.0.0.1]:{} (ProxyJump host)", jump.port));
        }
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jump_host_down_or_refusing_names_the_jump() {
    let target = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let down_port = sshd::free_port();
    let cfg = write_config(
        dir.path(),
        &format!(
            "{}Host jump\n  HostName 127.0.0.1\n  Port {down_port}\n  ConnectTimeout 3\n",
            host_block("target", &target, "  ProxyJump jump\n")
        ),
    );
    match SshTransport::connect(params_for("target", &cfg))
        .await
        .err()
    {
        Some(TransportError::Unreachable { reason }) => {
            assert!(
                reason.starts_with(&format!("ProxyJump host jump ([127.0.0.1]:{down_port}):"))
                    && reason.contains("refused"),
                "{reason}"
            );
        }
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }

    // The jump host up, but the target behind it down.
    let jump = jump_server();
    let target_port = target.port;
    drop(target);
    let mut p = SshParams::new("127.0.0.1", target_port, "root");
    p.connect_timeout = Duration::from_secs(3);
    p.proxy_jump = Some(Box::new(jump.params()));
    match SshTransport::connect(p).await.err() {
        Some(TransportError::Unreachable { reason }) => {
            assert!(
                reason.contains(&format!("[127.0.0.1]:{}", jump.port))
                    && reason.contains(&format!("[127.0.0.1]:{target_port}")),
                "{reason}"
            );
        }
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }

    // Login refused on the jump host.
    let target = Sshd::start();
    let mut j = jump.params();
    j.identity_files = vec![target.client_key.clone()];
    let mut p = target.params();
    p.proxy_jump = Some(Box::new(j));
    match SshTransport::connect(p).await.err() {
        Some(TransportError::Unreachable { reason }) => {
            assert!(
                reason.starts_with(&format!("ProxyJump host [127.0.0.1]:{}", jump.port))
                    && reason.contains("authentication failed"),
                "{reason}"
            );
        }
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_jump_host_loses_the_connection() {
    let mut jump = jump_server();
    let target = Sshd::start();
    let mut p = target.params();
    p.keepalive = Duration::from_secs(1);
    let mut j = jump.params();
    j.keepalive = Duration::from_secs(1);
    p.proxy_jump = Some(Box::new(j));
    let t = SshTransport::connect(p).await.unwrap();
    assert_eq!(sh(&t, "echo up").await, "up\n");
    jump.kill_all();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !t.is_closed() {
        assert!(std::time::Instant::now() < deadline, "not detected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let why = t.disconnect_reason().unwrap();
    println!("{why}");
    assert!(t.spawn("true").await.is_err());
}
