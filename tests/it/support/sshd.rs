//! A throwaway OpenSSH server on 127.0.0.1 for the SSH transport tests (needs root).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slm_wizard::transport::ssh::{SshParams, StrictHostKeyChecking};

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    /// `ssh-ed25519 AAAA…` of the host key.
    pub host_pub: String,
    /// Client key in authorized_keys.
    pub client_key: PathBuf,
}

pub fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", "test", "-f"])
        .arg(path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let st = cmd.status().expect("ssh-keygen");
    assert!(st.success(), "ssh-keygen failed");
}

/// `SHA256:…` as printed by ssh-keygen.
pub fn keygen_fingerprint(pub_path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(pub_path)
        .output()
        .expect("ssh-keygen -l");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap().to_string()
}

fn pub_key_text(pub_path: &Path) -> String {
    let text = std::fs::read_to_string(pub_path).unwrap();
    let mut f = text.split_whitespace();
    format!("{} {}", f.next().unwrap(), f.next().unwrap())
}

/// An existing non-root account with a login shell (none is created).
pub fn login_user() -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let uid: u32 = f.get(2)?.parse().ok()?;
        let shell = f.get(6)?;
        ((1000..60000).contains(&uid) && (shell.ends_with("/bash") || shell.ends_with("/sh")))
            .then(|| f[0].to_string())
    })
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Sshd {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra_config: &[&str]) -> Self {
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_ed25519"), "ed25519", "");
        keygen(&d.join("id_ed25519"), "ed25519", "");
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        // sshd reads authorized_keys as the user logging in; let non-root users read it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(
            d.join("authorized_keys"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let port = free_port();
        // sshd keeps the first value it reads for an option: extra lines go first.
        let mut config = String::new();
        for line in extra_config {
            config.push_str(line);
            config.push('\n');
        }
        config += &format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {d}/host_ed25519\n\
             PidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             UsePAM {pam}\n\
             PermitRootLogin prohibit-password\n\
             StrictModes no\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             AllowTcpForwarding yes\n\
             LogLevel VERBOSE\n",
            d = d.display(),
            // Locked accounts (`!` in shadow) may log in with a key only through PAM.
            pam = if extra_config.contains(&"#pam") {
                "yes"
            } else {
                "no"
            },
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not come up: {}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let host_pub = pub_key_text(&d.join("host_ed25519.pub"));
        Sshd {
            port,
            child: Some(child),
            host_pub,
            client_key: d.join("id_ed25519"),
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_pub)
    }

    /// Parameters that log in as root with the client key and a known_hosts file that knows
    /// the host.
    pub fn params(&self) -> SshParams {
        let kh = self.path("known_hosts");
        std::fs::write(&kh, format!("{}\n", self.known_hosts_line())).unwrap();
        let mut p = SshParams::new("127.0.0.1", self.port, "root");
        p.identity_files = vec![self.client_key.clone()];
        p.known_hosts = Some(kh);
        p.strict = StrictHostKeyChecking::Yes;
        p.connect_timeout = Duration::from_secs(5);
        p
    }

    pub fn host_fingerprint(&self) -> String {
        keygen_fingerprint(&self.path("host_ed25519.pub"))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// sshd's per-connection processes and everything below them.
    pub fn descendants(&self) -> Vec<u32> {
        let Some(root) = self.pid() else {
            return Vec::new();
        };
        let mut parent_of = HashMap::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let ppid: u32 = after
                .split_whitespace()
                .nth(1)
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            parent_of.insert(pid, ppid);
        }
        let mut out = Vec::new();
        let mut frontier = vec![root];
        while let Some(p) = frontier.pop() {
            for (&child, &pp) in &parent_of {
                if pp == p && !out.contains(&child) {
                    out.push(child);
                    frontier.push(child);
                }
            }
        }
        out
    }

    pub fn signal_sessions(&self, sig: &str) {
        for pid in self.descendants() {
            let _ = Command::new("kill")
                .args([&format!("-{sig}"), &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// SIGKILL sshd and all its session processes.
    pub fn kill_all(&mut self) {
        let kids = self.descendants();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in kids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_all();
    }
}
