//! Authentication through ssh-agent. A test binary of its own: it sets SSH_AUTH_SOCK for the
//! whole process before any thread starts.

use crate::support::sshd;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slm_wizard::transport::ssh::SshTransport;
use slm_wizard::transport::{ProcEvent, Transport, TransportError};
use sshd::{Sshd, keygen};

#[test]
fn agent_keys_are_tried_first() {
    let sshd = Sshd::start();
    let sock = sshd.path("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "ssh-agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: no other thread exists yet in this test binary (single test, runtime not built).
    unsafe { std::env::set_var("SSH_AUTH_SOCK", &sock) };
    let rt = tokio::runtime::Runtime::new().unwrap();

    rt.block_on(async {
        // Empty agent, no usable file: the agent is reported with 0 keys.
        let mut p = sshd.params();
        p.identity_files = vec![sshd.path("absent")];
        let err = SshTransport::connect(p.clone()).await.err().unwrap();
        let TransportError::AuthFailed { tried } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(tried[0], "publickey (agent: 0 keys)", "{tried:?}");

        // A wrong key and an RSA key in the agent; the RSA one is authorized.
        let wrong = sshd.path("wrong");
        keygen(&wrong, "ed25519", "");
        let rsa = sshd.path("agent_rsa");
        keygen(&rsa, "rsa", "");
        let mut auth = std::fs::read_to_string(sshd.path("authorized_keys")).unwrap();
        auth.push_str(&std::fs::read_to_string(rsa.with_extension("pub")).unwrap());
        std::fs::write(sshd.path("authorized_keys"), auth).unwrap();
        for key in [&wrong, &rsa] {
            let st = Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &sock)
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        }
        let t = SshTransport::connect(p.clone()).await.unwrap();
        let mut proc_ = t.spawn("echo via-agent").await.unwrap();
        let mut out = Vec::new();
        while let Some(ev) = proc_.events.recv().await {
            if let ProcEvent::Output(_, d) = ev {
                out.extend(d);
            }
        }
        assert_eq!(out, b"via-agent\n");
        t.close().await;
        let log = sshd.log();
        assert!(log.contains("Accepted publickey for root"), "{log}");
        assert!(log.contains("RSA SHA256:"), "{log}");

        // Agent keys that do not fit, then the identity file that does.
        let st = Command::new("ssh-add")
            .arg("-d")
            .arg(&rsa)
            .env("SSH_AUTH_SOCK", &sock)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let p = sshd.params();
        let t = SshTransport::connect(p).await.unwrap();
        t.close().await;
    });
    let _ = agent.kill();
    let _ = agent.wait();
}
