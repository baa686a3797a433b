//! The SSH transport against a real OpenSSH server (started per test on 127.0.0.1, as root).

use crate::support::sshd;

use std::sync::Arc;
use std::time::{Duration, Instant};

use slm_wizard::secrets::Secret;
use slm_wizard::transport::ssh::{SshParams, SshTransport, StrictHostKeyChecking};
use slm_wizard::transport::{
    Control, ExecRequest, ProcEvent, Stream, Transport, TransportError, exec,
};
use sshd::{Sshd, keygen, keygen_fingerprint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Run {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit: Result<i32, String>,
    /// Time from spawn to the first output chunk.
    first_output: Option<Duration>,
    total: Duration,
}

async fn run(t: &SshTransport, cmd: &str, stdin: Option<&[u8]>) -> Run {
    let started = Instant::now();
    let mut p = t.spawn(cmd).await.expect("spawn");
    let control = p.control.clone();
    let input = stdin.map(|d| d.to_vec());
    // Stdin is fed concurrently with reading, as the engine may do.
    let feeder = tokio::spawn(async move {
        if let Some(data) = input {
            for chunk in data.chunks(64 * 1024) {
                if control.send(Control::Stdin(chunk.to_vec())).await.is_err() {
                    return;
                }
            }
        }
        let _ = control.send(Control::CloseStdin).await;
    });
    let mut r = Run {
        stdout: Vec::new(),
        stderr: Vec::new(),
        exit: Err("no exit event".into()),
        first_output: None,
        total: Duration::ZERO,
    };
    while let Some(ev) = p.events.recv().await {
        match ev {
            ProcEvent::Output(s, d) => {
                r.first_output.get_or_insert_with(|| started.elapsed());
                match s {
                    Stream::Stdout => r.stdout.extend_from_slice(&d),
                    Stream::Stderr => r.stderr.extend_from_slice(&d),
                }
            }
            ProcEvent::Exit(e) => r.exit = e,
        }
    }
    r.total = started.elapsed();
    let _ = feeder.await;
    r
}

async fn connect(sshd: &Sshd) -> SshTransport {
    SshTransport::connect(sshd.params())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", sshd.log()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exec_streams_and_exit_code() {
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    assert_eq!(t.host_key_fingerprint(), Some(sshd.host_fingerprint()));
    let r = run(&t, "echo out; echo err >&2; exit 3", None).await;
    assert_eq!(String::from_utf8_lossy(&r.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "err\n");
    assert_eq!(r.exit, Ok(3));

    // The command string goes to the remote shell as-is.
    let r = run(&t, "whoami; printf '%s' \"$0\" >&2; exit 0", None).await;
    assert_eq!(String::from_utf8_lossy(&r.stdout), "root\n");
    assert_eq!(r.exit, Ok(0));

    // Killed by a signal.
    let r = run(&t, "kill -TERM $$", None).await;
    assert_eq!(r.exit, Err("signal TERM".into()));

    // Through the engine's exec().
    let mut seen = Vec::new();
    let out = exec(
        &t,
        ExecRequest {
            script: "echo hello; echo warn >&2; exit 7",
            stdin: None,
            stdin_file: None,
            escalation: None,
            timeout: Some(Duration::from_secs(10)),
        },
        &mut |s, d: &[u8]| seen.push((s, d.to_vec())),
    )
    .await
    .unwrap();
    assert_eq!(out.rc, 7);
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "warn\n");
    assert!(!seen.is_empty());
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_key_is_offered_with_no_none_request_before_it() {
    // A "none" request first costs every connection a round trip and sshd's delay of a failed
    // request; sshd logs each request's method at DEBUG1.
    let sshd = Sshd::start_with(&["LogLevel DEBUG1"]);
    let t = connect(&sshd).await;
    assert_eq!(run(&t, "true", None).await.exit, Ok(0));
    t.close().await;
    let log = sshd.log();
    let methods: Vec<&str> = log
        .lines()
        .filter_map(|l| {
            l.split_once("userauth-request for user ")?
                .1
                .split(" method ")
                .nth(1)
        })
        .map(|m| m.split_whitespace().next().unwrap_or(""))
        .collect();
    // russh (as OpenSSH) asks whether the key would do, then signs: two publickey requests.
    assert_eq!(methods, ["publickey", "publickey"], "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_is_streamed_before_the_command_ends() {
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let r = run(&t, "echo a; sleep 1; echo b", None).await;
    assert_eq!(String::from_utf8_lossy(&r.stdout), "a\nb\n");
    assert_eq!(r.exit, Ok(0));
    let first = r.first_output.unwrap();
    assert!(
        first < Duration::from_millis(700),
        "first chunk after {first:?}"
    );
    assert!(r.total >= Duration::from_secs(1), "total {:?}", r.total);
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stdin_round_trip_1mb() {
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    // Binary data, more than the SSH window (2 MB default in russh is the *receive* window;
    // OpenSSH's is 2 MB too), sent while output flows back.
    let data: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let r = run(&t, "cat", Some(&data)).await;
    assert_eq!(r.exit, Ok(0));
    assert_eq!(r.stdout.len(), data.len());
    assert!(r.stdout == data, "stdin came back altered");

    // 8 MB through `cat` both ways, to be sure window waits do not deadlock.
    let big: Vec<u8> = data.iter().cycle().take(8 * 1024 * 1024).copied().collect();
    let r = run(&t, "cat", Some(&big)).await;
    assert_eq!(r.exit, Ok(0));
    assert!(r.stdout == big);

    // Through exec(), text stdin.
    let text = "line\n".repeat(200_000);
    let out = exec(
        &t,
        ExecRequest {
            script: "wc -l",
            stdin: Some(text.as_bytes()),
            stdin_file: None,
            escalation: None,
            timeout: Some(Duration::from_secs(30)),
        },
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(out.stdout.trim(), "200000");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_channels_on_one_connection() {
    // Default OpenSSH MaxSessions is 10: the transport must queue the rest, not fail. Whether
    // channels ran side by side is read from the commands' own start/end times (the target's
    // clock), not from a wall-clock limit that a loaded machine could miss.
    let sshd = Sshd::start();
    let t = Arc::new(connect(&sshd).await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let r = run(
                &t,
                &format!("date +%s%N >&2; sleep 0.5; echo {i}; date +%s%N >&2; echo e{i} >&2"),
                None,
            )
            .await;
            (i, r)
        }));
    }
    let mut spans = Vec::new();
    for task in tasks {
        let (i, r) = task.await.unwrap();
        assert_eq!(r.exit, Ok(0), "channel {i}");
        assert_eq!(String::from_utf8_lossy(&r.stdout), format!("{i}\n"));
        // root's ~/.bashrc here (pyenv) may add its own noise when 20 shells start at once.
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(
            stderr.ends_with(&format!("e{i}\n")),
            "channel {i}: {stderr}"
        );
        spans.push(span(&stderr));
    }
    let most = max_overlap(&spans);
    assert!(
        (2..=10).contains(&most),
        "side by side, at most MaxSessions (10) at once: {most}"
    );
    // Connection count: one. sshd logs one "Accepted publickey" per connection.
    assert_eq!(sshd.log().matches("Accepted publickey").count(), 1);

    // With a higher MaxSessions, more than 10 run at once.
    let sshd = Sshd::start_with(&["MaxSessions 50"]);
    let t = Arc::new(connect(&sshd).await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            run(
                &t,
                &format!("date +%s%N >&2; sleep 2; echo {i}; date +%s%N >&2"),
                None,
            )
            .await
        }));
    }
    let mut spans = Vec::new();
    for task in tasks {
        let r = task.await.unwrap();
        assert_eq!(r.exit, Ok(0));
        spans.push(span(&String::from_utf8_lossy(&r.stderr)));
    }
    let most = max_overlap(&spans);
    assert!(
        most > 10,
        "MaxSessions 50 lets more than 10 run at once: {most}"
    );
}

/// The (start, end) nanoseconds a command printed with `date +%s%N` (the last two numbers on
/// its stderr).
fn span(stderr: &str) -> (u128, u128) {
    let stamps: Vec<u128> = stderr
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    match stamps[..] {
        [.., start, end] => (start, end),
        _ => panic!("no start/end stamps in {stderr:?}"),
    }
}

/// The largest number of spans running at the same instant.
fn max_overlap(spans: &[(u128, u128)]) -> usize {
    spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_host_key_is_refused_in_strict_mode() {
    let sshd = Sshd::start();
    let mut p = sshd.params();
    let kh = sshd.path("empty_known_hosts");
    std::fs::write(&kh, "").unwrap();
    p.known_hosts = Some(kh.clone());
    let err = SshTransport::connect(p.clone())
        .await
        .err()
        .expect("must fail");
    match &err {
        TransportError::HostKeyUnknown { host, fingerprint } => {
            assert_eq!(host, &format!("[127.0.0.1]:{}", sshd.port));
            assert_eq!(fingerprint, &sshd.host_fingerprint());
        }
        other => panic!("expected HostKeyUnknown, got {other:?}"),
    }
    assert!(err.is_unreachable());
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), "");
    // A file that does not exist is the same.
    p.known_hosts = Some(sshd.path("missing/known_hosts"));
    let err = SshTransport::connect(p).await.err().unwrap();
    assert!(
        matches!(err, TransportError::HostKeyUnknown { .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accept_new_records_the_key() {
    use std::os::unix::fs::PermissionsExt;
    let sshd = Sshd::start();
    let mut p = sshd.params();
    let kh = sshd.path("new_dir/sub/known_hosts");
    p.known_hosts = Some(kh.clone());
    p.strict = StrictHostKeyChecking::AcceptNew;
    let t = SshTransport::connect(p.clone()).await.unwrap();
    t.close().await;
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(text.trim(), sshd.known_hosts_line());
    let mode = std::fs::metadata(&kh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(kh.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);

    // Known now: strict mode works, and accept-new does not add a second line.
    p.strict = StrictHostKeyChecking::Yes;
    let t = SshTransport::connect(p.clone()).await.unwrap();
    assert_eq!(run(&t, "true", None).await.exit, Ok(0));
    t.close().await;
    p.strict = StrictHostKeyChecking::AcceptNew;
    SshTransport::connect(p).await.unwrap().close().await;
    assert_eq!(std::fs::read_to_string(&kh).unwrap().lines().count(), 1);

    // An existing file without a trailing newline keeps its content.
    let kh2 = sshd.path("kh2");
    std::fs::write(&kh2, "otherhost ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ").unwrap();
    let mut p = sshd.params();
    p.known_hosts = Some(kh2.clone());
    p.strict = StrictHostKeyChecking::AcceptNew;
    SshTransport::connect(p).await.unwrap().close().await;
    let text = std::fs::read_to_string(&kh2).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().nth(1).unwrap() == sshd.known_hosts_line());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strict_no_accepts_without_recording() {
    let sshd = Sshd::start();
    let mut p = sshd.params();
    let kh = sshd.path("never/known_hosts");
    p.known_hosts = Some(kh.clone());
    p.strict = StrictHostKeyChecking::No;
    let t = SshTransport::connect(p).await.unwrap();
    assert_eq!(run(&t, "true", None).await.exit, Ok(0));
    assert_eq!(t.host_key_fingerprint(), Some(sshd.host_fingerprint()));
    t.close().await;
    assert!(!kh.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changed_host_key_is_a_mismatch() {
    let sshd = Sshd::start();
    let other = sshd.path("other_host_key");
    keygen(&other, "ed25519", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_pub: Vec<&str> = other_pub.split_whitespace().collect();
    let kh = sshd.path("changed_known_hosts");
    // Comment lines before the entry: the reported line must be the one an editor shows.
    std::fs::write(
        &kh,
        format!(
            "# comment\n\
             unrelated.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\n\
             # another comment\n\
             [127.0.0.1]:{} {} {}\n",
            sshd.port, other_pub[0], other_pub[1]
        ),
    )
    .unwrap();
    for strict in [StrictHostKeyChecking::Yes, StrictHostKeyChecking::AcceptNew] {
        let mut p = sshd.params();
        p.known_hosts = Some(kh.clone());
        p.strict = strict;
        let err = SshTransport::connect(p).await.err().expect("must fail");
        match &err {
            TransportError::HostKeyMismatch {
                host,
                path,
                line,
                expected,
                offered,
            } => {
                assert_eq!(host, &format!("[127.0.0.1]:{}", sshd.port));
                assert_eq!(path, &kh.display().to_string());
                assert_eq!(*line, 4);
                assert_eq!(expected, &keygen_fingerprint(&other.with_extension("pub")));
                assert_eq!(offered, &sshd.host_fingerprint());
            }
            other => panic!("expected HostKeyMismatch, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("HOST KEY CHANGED"), "{msg}");
    }
    // accept-new must not have "fixed" the file.
    assert_eq!(std::fs::read_to_string(&kh).unwrap().lines().count(), 4);

    // A second, correct line for the host is accepted (like OpenSSH).
    let mut text = std::fs::read_to_string(&kh).unwrap();
    text.push_str(&format!("{}\n", sshd.known_hosts_line()));
    std::fs::write(&kh, text).unwrap();
    let mut p = sshd.params();
    p.known_hosts = Some(kh.clone());
    SshTransport::connect(p).await.unwrap().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hashed_known_hosts_entries_work() {
    let sshd = Sshd::start();
    let p = sshd.params();
    let kh = p.known_hosts.clone().unwrap();
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&kh)
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    let t = SshTransport::connect(p).await.unwrap();
    assert_eq!(run(&t, "true", None).await.exit, Ok(0));
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_key_fails_listing_what_was_tried() {
    let sshd = Sshd::start();
    let wrong = sshd.path("wrong_key");
    keygen(&wrong, "ed25519", "");
    let locked = sshd.path("locked_key");
    keygen(&locked, "ed25519", "secret-pass");
    let missing = sshd.path("no_such_key");
    let mut p = sshd.params();
    p.identity_files = vec![wrong.clone(), locked.clone(), missing.clone()];
    p.password = Some(Secret::new("hunter2-not-used"));
    let err = SshTransport::connect(p).await.err().expect("must fail");
    let TransportError::AuthFailed { tried } = &err else {
        panic!("expected AuthFailed, got {err:?}");
    };
    let joined = tried.join(" | ");
    println!("tried: {joined}");
    assert!(
        tried.iter().any(|t| t.starts_with("publickey (agent")),
        "{joined}"
    );
    assert!(
        tried.contains(&format!("publickey {}", wrong.display())),
        "{joined}"
    );
    assert!(
        tried.iter().any(
            |t| t.starts_with(&format!("publickey {}", locked.display()))
                && t.contains("encrypted")
        ),
        "{joined}"
    );
    assert!(
        tried.iter().any(
            |t| t.starts_with(&format!("publickey {}", missing.display())) && t.contains("skipped")
        ),
        "{joined}"
    );
    // The server does not accept passwords; that is said, and the password is never shown.
    assert!(
        tried.iter().any(|t| t.contains("password (not accepted")),
        "{joined}"
    );
    let msg = err.to_string();
    assert!(msg.starts_with("authentication failed (tried: "), "{msg}");
    assert!(!msg.contains("hunter2"));
    assert!(err.is_unreachable());
}

/// The keys go first with no "none" request to learn the server's methods: on a server that
/// takes only passwords, its first refusal lists them, and the error says keys are not taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_without_publickey_is_named_as_refusing_keys() {
    let sshd = Sshd::start_with(&["PubkeyAuthentication no", "PasswordAuthentication yes"]);
    let other = sshd.path("other_key");
    keygen(&other, "ed25519", "");
    let mut p = sshd.params();
    p.identity_files.push(other.clone());
    let err = SshTransport::connect(p).await.err().expect("must fail");
    let TransportError::AuthFailed { tried } = &err else {
        panic!("expected AuthFailed, got {err:?}");
    };
    let joined = tried.join(" | ");
    assert!(
        tried
            .iter()
            .any(|t| t == "publickey (not accepted by the server)"),
        "{joined}"
    );
    // The first refusal listed the methods: the second key was not offered.
    assert!(
        !tried.contains(&format!("publickey {}", other.display())),
        "{joined}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn encrypted_and_rsa_keys_log_in() {
    let sshd = Sshd::start();
    let locked = sshd.path("locked_key");
    keygen(&locked, "ed25519", "secret-pass");
    let rsa = sshd.path("rsa_key");
    keygen(&rsa, "rsa", "");
    let mut auth = std::fs::read_to_string(sshd.path("authorized_keys")).unwrap();
    auth.push_str(&std::fs::read_to_string(locked.with_extension("pub")).unwrap());
    auth.push_str(&std::fs::read_to_string(rsa.with_extension("pub")).unwrap());
    std::fs::write(sshd.path("authorized_keys"), auth).unwrap();

    let mut p = sshd.params();
    p.identity_files = vec![locked.clone()];
    p.key_passphrase = Some(Secret::new("secret-pass"));
    let t = SshTransport::connect(p).await.unwrap();
    assert_eq!(run(&t, "true", None).await.exit, Ok(0));
    t.close().await;

    let mut p = sshd.params();
    p.identity_files = vec![rsa.clone()];
    let t = SshTransport::connect(p).await.unwrap();
    assert_eq!(run(&t, "true", None).await.exit, Ok(0));
    t.close().await;
    // rsa-sha2-512 (not the SHA-1 "ssh-rsa") was used.
    assert!(sshd.log().contains("RSA SHA256:"), "{}", sshd.log());

    // Wrong passphrase: reported, not fatal for the other keys.
    let mut p = sshd.params();
    p.identity_files = vec![locked.clone(), sshd.client_key.clone()];
    p.key_passphrase = Some(Secret::new("wrong"));
    let t = SshTransport::connect(p).await.unwrap();
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_port_forwarding() {
    let sshd = Sshd::start();
    // A TCP echo server on the "target" (here the same machine).
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = echo.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let t = connect(&sshd).await;
    let (addr, guard) = t.forward_local("127.0.0.1", echo_port).await.unwrap();
    assert!(addr.ip().is_loopback());
    // Several connections, concurrently, with more data than one window.
    let mut tasks = Vec::new();
    for i in 0..5u8 {
        tasks.push(tokio::spawn(async move {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            let payload: Vec<u8> = (0..3_000_000u32).map(|x| (x as u8) ^ i).collect();
            let (mut r, mut w) = c.split();
            let send = async {
                w.write_all(&payload).await.unwrap();
                w.shutdown().await.unwrap();
            };
            let mut back = Vec::new();
            let recv = r.read_to_end(&mut back);
            let (_, n) = tokio::join!(send, recv);
            n.unwrap();
            assert!(back == payload, "connection {i}: echo differs");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Commands still work on the same connection.
    assert_eq!(run(&t, "echo ok", None).await.stdout, b"ok\n");

    // A forward to a closed port: the local connection is just closed.
    let (addr2, _g2) = t
        .forward_local("127.0.0.1", sshd::free_port())
        .await
        .unwrap();
    let mut c = tokio::net::TcpStream::connect(addr2).await.unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(n.map(|n| n == 0).unwrap_or(true));

    // Dropping the guard stops the listener.
    drop(guard);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // Closing the transport stops the others.
    t.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr2).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_sshd_mid_command_is_a_lost_connection() {
    let mut sshd = Sshd::start();
    let t = connect(&sshd).await;
    let mut p = t.spawn("echo started; sleep 61").await.unwrap();
    match p.events.recv().await {
        Some(ProcEvent::Output(Stream::Stdout, d)) => assert_eq!(d, b"started\n"),
        other => panic!("{other:?}"),
    }
    let killed_at = Instant::now();
    sshd.kill_all();
    let ev = tokio::time::timeout(Duration::from_secs(5), p.events.recv())
        .await
        .expect("no exit event within 5 s");
    match ev {
        Some(ProcEvent::Exit(Err(e))) => assert_eq!(e, "connection lost"),
        other => panic!("expected Exit(Err), got {other:?}"),
    }
    println!("detected after {:?}", killed_at.elapsed());
    assert!(t.is_closed());
    assert!(t.disconnect_reason().is_some());
    match t.spawn("true").await {
        Err(TransportError::ConnectionLost { reason }) => println!("spawn: {reason}"),
        Err(e) => panic!("expected ConnectionLost, got {e:?}"),
        Ok(_) => panic!("spawn on a dead connection succeeded"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frozen_server_is_detected_by_keepalive() {
    let sshd = Sshd::start();
    let mut p = sshd.params();
    p.keepalive = Duration::from_secs(1);
    let t = SshTransport::connect(p).await.unwrap();
    let mut proc_ = t.spawn("echo started; sleep 62").await.unwrap();
    assert!(matches!(
        proc_.events.recv().await,
        Some(ProcEvent::Output(..))
    ));
    // The TCP connection stays up but nobody answers (like dropped packets).
    sshd.signal_sessions("STOP");
    let stopped_at = Instant::now();
    let ev = tokio::time::timeout(Duration::from_secs(10), proc_.events.recv())
        .await
        .expect("keepalive did not notice within 10 s");
    assert!(matches!(ev, Some(ProcEvent::Exit(Err(_)))), "{ev:?}");
    let after = stopped_at.elapsed();
    println!("detected after {after:?}: {:?}", t.disconnect_reason());
    assert!(after >= Duration::from_secs(2), "too early: {after:?}");
    assert!(t.is_closed());
    assert!(matches!(
        t.spawn("true").await.err(),
        Some(TransportError::ConnectionLost { .. })
    ));
    // Kill while still stopped (resumed, the session would exit and orphan the `sleep`).
    let mut sshd = sshd;
    sshd.kill_all();
}

async fn kill_and_wait(t: &SshTransport, marker: &str) -> (Result<i32, String>, Duration) {
    let mut p = t
        .spawn(&format!("echo started; {marker}; echo after"))
        .await
        .unwrap();
    assert!(matches!(p.events.recv().await, Some(ProcEvent::Output(..))));
    let at = Instant::now();
    p.control.send(Control::Kill).await.unwrap();
    let mut exit = None;
    let mut after = Vec::new();
    while let Some(ev) = p.events.recv().await {
        match ev {
            ProcEvent::Exit(e) => exit = Some(e),
            ProcEvent::Output(_, d) => after.extend(d),
        }
    }
    assert!(after.is_empty(), "output after kill: {after:?}");
    (exit.expect("no exit event"), at.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_stops_the_remote_command() {
    // Not root: OpenSSH delivers the signal to the session's process group.
    let Some(user) = sshd::login_user() else {
        println!("SKIPPED: no non-root account with a shell");
        return;
    };
    let sshd = Sshd::start_with(&["#pam"]);
    let mut p = sshd.params();
    p.user = user.clone();
    let t = SshTransport::connect(p).await.unwrap();
    assert_eq!(
        run(&t, "id -un", None).await.stdout,
        format!("{user}\n").as_bytes()
    );
    let marker = format!("sleep 12{}", std::process::id() % 1000);
    let (exit, took) = kill_and_wait(&t, &marker).await;
    assert_eq!(exit, Err("signal KILL".into()));
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The whole process group is gone, the `sleep` too.
    // `slee[p]` so that pgrep does not find the shell running pgrep.
    let pattern = marker.replacen("sleep", "slee[p]", 1);
    let r = run(&t, &format!("pgrep -f '{pattern}' || echo none"), None).await;
    assert_eq!(String::from_utf8_lossy(&r.stdout), "none\n");

    // The engine's timeout uses Kill.
    let at = Instant::now();
    let err = exec(
        &t,
        ExecRequest {
            script: "sleep 30",
            stdin: None,
            stdin_file: None,
            escalation: None,
            timeout: Some(Duration::from_secs(1)),
        },
        &mut |_, _| {},
    )
    .await
    .err();
    assert!(
        matches!(err, Some(TransportError::CommandTimeout(_))),
        "{err:?}"
    );
    assert!(at.elapsed() < Duration::from_secs(2));
    // The connection is fine afterwards.
    assert_eq!(run(&t, "echo ok", None).await.stdout, b"ok\n");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_as_root_is_not_confirmed_by_openssh() {
    // OpenSSH refuses `signal` requests for root logins ("session signalling requires
    // privilege separation"); the channel is closed and Exit comes after a bounded wait.
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let marker = format!("sleep 13{}", std::process::id() % 1000);
    let (exit, took) = kill_and_wait(&t, &marker).await;
    assert_eq!(
        exit,
        Err("signal KILL (not confirmed by the server)".into())
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        sshd.log()
            .contains("session signalling requires privilege separation")
    );
    // The limitation, documented: the remote command is still running.
    let pattern = marker.replacen("sleep", "slee[p]", 1);
    let r = run(
        &t,
        &format!("pgrep -f '{pattern}' >/dev/null && echo running"),
        None,
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&r.stdout), "running\n");
    run(&t, &format!("pkill -f '{pattern}'"), None).await;
    assert_eq!(run(&t, "echo ok", None).await.stdout, b"ok\n");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_then_spawn_fails() {
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    let mut running = t.spawn("sleep 30").await.unwrap();
    t.close().await;
    assert!(t.is_closed());
    assert!(matches!(
        t.spawn("true").await.err(),
        Some(TransportError::ConnectionLost { .. })
    ));
    // A command running when the transport closes ends too.
    let ev = tokio::time::timeout(Duration::from_secs(5), running.events.recv())
        .await
        .unwrap();
    assert!(matches!(ev, Some(ProcEvent::Exit(Err(_)))), "{ev:?}");
    assert!(t.forward_local("127.0.0.1", 1).await.is_err());
    // close twice is fine.
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreachable_hosts() {
    // Refused.
    let port = sshd::free_port();
    let mut p = SshParams::new("127.0.0.1", port, "root");
    p.connect_timeout = Duration::from_secs(3);
    match SshTransport::connect(p).await.err() {
        Some(TransportError::Unreachable { reason }) => {
            assert!(reason.contains("refused"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // DNS.
    let mut p = SshParams::new("no-such-host.invalid", 22, "root");
    p.connect_timeout = Duration::from_secs(5);
    match SshTransport::connect(p).await.err() {
        Some(TransportError::Unreachable { reason }) => {
            assert!(reason.contains("resolve"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Something listening that never speaks SSH: handshake timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let mut p = SshParams::new("127.0.0.1", silent_port, "root");
    p.connect_timeout = Duration::from_secs(1);
    let at = Instant::now();
    match SshTransport::connect(p).await.err() {
        Some(TransportError::Unreachable { reason }) => {
            assert!(reason.contains("timed out"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(at.elapsed() < Duration::from_secs(3));
    // Not an SSH server at all.
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = http.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = http.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let p = SshParams::new("127.0.0.1", http_port, "root");
    match SshTransport::connect(p).await.err() {
        Some(TransportError::Unreachable { reason }) => println!("not ssh: {reason}"),
        other => panic!("{other:?}"),
    }
    // TCP connect timeout (a blackholed address; may also fail fast with "unreachable").
    let mut p = SshParams::new("10.255.255.1", 22, "root");
    p.connect_timeout = Duration::from_secs(1);
    let at = Instant::now();
    match SshTransport::connect(p).await.err() {
        Some(TransportError::Unreachable { reason }) => println!("blackhole: {reason}"),
        other => panic!("{other:?}"),
    }
    assert!(at.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ssh_args_from_the_inventory_apply() {
    let sshd = Sshd::start();
    let mut p = SshParams::new("127.0.0.1", 22, "root");
    let kh = sshd.path("from_args_known_hosts");
    p.from_ssh_args(&format!(
        "-o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new -i {} -p {} -o ControlMaster=auto",
        kh.display(),
        sshd.client_key.display(),
        sshd.port
    ))
    .unwrap();
    let t = SshTransport::connect(p).await.unwrap();
    assert_eq!(run(&t, "echo hi", None).await.stdout, b"hi\n");
    t.close().await;
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap().trim(),
        sshd.known_hosts_line()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_reader_does_not_stall_other_channels() {
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    // 20 MB of output nobody reads for a while...
    let mut big = t.spawn("head -c 20000000 /dev/zero").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // ...must not hold up another command on the same connection.
    let at = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), run(&t, "echo hi", None))
        .await
        .expect("second channel stalled");
    assert_eq!(r.stdout, b"hi\n");
    println!("second command took {:?}", at.elapsed());
    let mut n = 0;
    let mut exit = None;
    while let Some(ev) = big.events.recv().await {
        match ev {
            ProcEvent::Output(_, d) => n += d.len(),
            ProcEvent::Exit(e) => exit = Some(e),
        }
    }
    assert_eq!(n, 20_000_000);
    assert_eq!(exit, Some(Ok(0)));
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn engine_style_connect() {
    // What src/engine/connect.rs does with the transport.
    let sshd = Sshd::start();
    let known = sshd.params().known_hosts.unwrap();
    let (address, port, user) = ("127.0.0.1".to_string(), sshd.port, "root".to_string());
    let mut params = SshParams::new(address, port, user);
    params
        .identity_files
        .insert(0, sshd.client_key.display().to_string().into());
    params.password = Some(Secret::new("unused"));
    params.connect_timeout = Duration::from_secs(5);
    params
        .from_ssh_args(&format!("-o UserKnownHostsFile={}", known.display()))
        .unwrap();
    if params.strict == StrictHostKeyChecking::Yes {
        params.strict = StrictHostKeyChecking::AcceptNew;
    }
    let t: Arc<dyn Transport> = Arc::new(SshTransport::connect(params).await.unwrap());
    let out = exec(
        t.as_ref(),
        ExecRequest {
            script: "echo via-dyn",
            stdin: None,
            stdin_file: None,
            escalation: None,
            timeout: None,
        },
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, "via-dyn\n");
    t.close().await;
}

/// Commands without a time limit run one after another on the connection's persistent shell:
/// every request must come back whole and in sync, whatever the command does with its stdin.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn persistent_shell_keeps_commands_apart() {
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    async fn sh(
        t: &SshTransport,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> slm_wizard::transport::Output {
        exec(
            t,
            ExecRequest {
                script,
                stdin,
                stdin_file: None,
                escalation: None,
                timeout: None,
            },
            &mut |_, _| {},
        )
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
    }
    // The same parent process (the shell) runs both commands: one channel, not one per command.
    let a = sh(&t, "echo $PPID", None).await;
    let b = sh(&t, "echo $PPID", None).await;
    assert_eq!(a.stdout, b.stdout);
    assert!(!a.stdout.trim().is_empty());

    let binary: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for round in 0..5 {
        // Stdin the command never reads must not leak into the next request.
        let out = sh(&t, "true", Some(b"ignored input\nexit 9\n")).await;
        assert_eq!((out.rc, out.stdout.as_str()), (0, ""));
        // Partly read stdin.
        let out = sh(&t, "head -c 3", Some(b"abcdef")).await;
        assert_eq!(out.stdout, "abc");
        // Binary stdin comes back byte for byte (checksummed remotely).
        let out = sh(&t, "od -An -tx1 -v | tr -d ' \\n' | wc -c", Some(&binary)).await;
        assert_eq!(out.stdout.trim(), (binary.len() * 2).to_string());
        // No final newline, stderr, exit codes, and text that looks like protocol.
        let out = sh(
            &t,
            "printf 'no newline'; printf 'e1\\ne2' >&2; exit 5",
            None,
        )
        .await;
        assert_eq!(
            (out.rc, out.stdout.as_str(), out.stderr.as_str()),
            (5, "no newline", "e1\ne2")
        );
        let out = sh(&t, "echo 'SLM0 1 2'; echo; echo", None).await;
        assert_eq!(out.stdout, "SLM0 1 2\n\n\n");
        // Directory, variables and `set` stay inside each command; backslashes and indentation survive.
        let out = sh(&t, "cd /tmp && x=1 && set -e && exit 0", None).await;
        assert_eq!(out.rc, 0);
        let out = sh(
            &t,
            "pwd; echo \"[${x:-unset}]\"\n  printf '%s\\n' 'a\\b'",
            None,
        )
        .await;
        assert_eq!(out.stdout, "/root\n[unset]\na\\b\n", "round {round}");
    }
    t.close().await;
}

/// Peak resident set size of this process so far, in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Streams `total` bytes of a repeating pattern to stdin in 256 KiB chunks (never more than
/// one chunk made at a time), then closes stdin. Returns how many bytes were taken.
fn upload(
    control: slm_wizard::transport::ControlSender,
    total: usize,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let chunk: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < total {
            let n = chunk.len().min(total - sent);
            if control
                .send(Control::Stdin(chunk[..n].to_vec()))
                .await
                .is_err()
            {
                return sent;
            }
            sent += n;
        }
        let _ = control.send(Control::CloseStdin).await;
        sent
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_upload_is_streamed_with_bounded_memory() {
    const TOTAL: usize = 200 * 1024 * 1024;
    let sshd = Sshd::start();
    let t = connect(&sshd).await;
    // Resets VmHWM to the current RSS (Linux >= 4.0), so earlier work does not hide the peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss_kib();
    let started = Instant::now();
    let mut p = t.spawn("wc -c").await.unwrap();
    let feeder = upload(p.control.clone(), TOTAL);
    let mut stdout = Vec::new();
    let mut exit = None;
    while let Some(ev) = p.events.recv().await {
        match ev {
            ProcEvent::Output(_, d) => stdout.extend(d),
            ProcEvent::Exit(e) => exit = Some(e),
        }
    }
    assert_eq!(feeder.await.unwrap(), TOTAL);
    let took = started.elapsed();
    let after = peak_rss_kib();
    assert_eq!(exit, Some(Ok(0)));
    assert_eq!(String::from_utf8_lossy(&stdout).trim(), TOTAL.to_string());
    let growth_mib = after.saturating_sub(before) / 1024;
    println!(
        "200 MiB upload: VmHWM {before} kB -> {after} kB (+{growth_mib} MiB) in {took:?} \
         ({:.0} MiB/s)",
        200.0 / took.as_secs_f64()
    );
    // Unbounded, the whole upload would queue up in front of the SSH window.
    assert!(growth_mib < 100, "peak RSS grew by {growth_mib} MiB");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_is_not_queued_behind_blocked_stdin() {
    // A non-root login gets the signal delivered (see kill_stops_the_remote_command); as root
    // OpenSSH refuses it and the channel is closed after a bounded wait. Either ends it.
    let user = sshd::login_user();
    let sshd = Sshd::start_with(&["#pam"]);
    let mut params = sshd.params();
    if let Some(u) = &user {
        params.user = u.clone();
    }
    let t = SshTransport::connect(params).await.unwrap();
    let marker = format!("sleep 14{}", std::process::id() % 1000);
    // The command never reads stdin: the SSH window fills, the stdin writer blocks, the
    // stdin queue fills and the uploader waits.
    let mut p = t
        .spawn(&format!("echo started; {marker}; echo after"))
        .await
        .unwrap();
    assert!(matches!(p.events.recv().await, Some(ProcEvent::Output(..))));
    let feeder = upload(p.control.clone(), 200 * 1024 * 1024);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!feeder.is_finished(), "the upload should be blocked");
    let at = Instant::now();
    // What KillOnDrop does: no waiting, and it must get through a full stdin queue.
    p.control.try_send(Control::Kill).expect("kill refused");
    let mut exit = None;
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(ev) = p.events.recv().await {
            if let ProcEvent::Exit(e) = ev {
                exit = Some(e);
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the command did not end after the kill");
    let exit = exit.expect("no exit event");
    assert!(
        exit.as_ref().is_err_and(|e| e.starts_with("signal KILL")),
        "{exit:?}"
    );
    // The blocked uploader is released (its sends fail) instead of waiting forever.
    let sent = tokio::time::timeout(Duration::from_secs(30), feeder)
        .await
        .expect("uploader still blocked")
        .unwrap();
    println!(
        "kill with the stdin queue full: exit {exit:?} after {:?}; {} KiB had been taken",
        at.elapsed(),
        sent / 1024
    );
    assert!(sent < 200 * 1024 * 1024);
    if user.is_none() {
        let pattern = marker.replacen("sleep", "slee[p]", 1);
        run(&t, &format!("pkill -f '{pattern}'"), None).await;
    }
    t.close().await;
}
