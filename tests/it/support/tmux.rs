//! The real binary in tmux: keys in with `send-keys`, the screen out with `capture-pane`.
// Shared by test binaries that use only part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `tmux` on the tests' own server: the tests' sessions never meet the user's (or a running
/// benchmark's) sessions and options.
pub fn tmux() -> Command {
    let mut c = Command::new("tmux");
    c.args(["-L", "slm-wizard-tests"]);
    c
}

/// The real binary in a 120×40 tmux session (killed when dropped).
pub struct Session(String, std::path::PathBuf);

impl Drop for Session {
    fn drop(&mut self) {
        // WIZARD_E2E_KEEP=1 leaves a failed session running, to inspect it.
        if std::thread::panicking() && std::env::var_os("WIZARD_E2E_KEEP").is_some() {
            return;
        }
        let _ = tmux().args(["kill-session", "-t", &self.0]).status();
    }
}

impl Session {
    /// Starts the wizard with `args` in a 120×40 tmux session in `root` (state kept in
    /// `root/state`); `None` when tmux is not installed.
    pub fn start(root: &Path, args: &str, tag: &str) -> Option<Self> {
        Self::start_with_env(root, args, tag, "")
    }

    /// Like `start`, with extra `VAR=value …` for the binary's environment.
    pub fn start_with_env(root: &Path, args: &str, tag: &str, env: &str) -> Option<Self> {
        let cmd = format!(
            "env SLM_WIZARD_LOG=debug XDG_STATE_HOME={s} HOME={r} TERM=xterm NO_COLOR=1 {env} {bin} {args}",
            s = root.join("state").display(),
            r = root.display(),
            bin = env!("CARGO_BIN_EXE_slm-wizard"),
        );
        Self::start_command(root, &cmd, tag)
    }

    /// Runs `command` (a shell command line that starts the wizard, e.g. inside a test host) in
    /// a 120×40 tmux session in `root`; `None` when tmux is not installed.
    pub fn start_command(root: &Path, command: &str, tag: &str) -> Option<Self> {
        if tmux().arg("-V").output().is_err() {
            // In CI a missing tmux is a broken setup, not a reason to pass.
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is not installed (tests/run installs it)"
            );
            eprintln!("tmux is not installed; skipping");
            return None;
        }
        let name = format!("slm-wizard-{tag}-{}", std::process::id());
        let cmd = format!("{command}; echo WIZARD-EXITED rc=$?; sleep 120");
        // A new-session that reaches the shared tmux server while it exits (another test killed
        // the last session) fails with "server exited unexpectedly": it is tried again.
        let mut last_error = String::new();
        let started = (0..5).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            let out = tmux()
                .args([
                    "new-session",
                    "-d",
                    "-s",
                    &name,
                    "-x",
                    "120",
                    "-y",
                    "40",
                    "-c",
                ])
                .arg(root)
                .arg(&cmd)
                .output()
                .unwrap();
            last_error = String::from_utf8_lossy(&out.stderr).into_owned();
            out.status.success()
        });
        assert!(started, "tmux new-session: {last_error}");
        Some(Session(name, root.to_path_buf()))
    }

    /// The tmux session's name (for other tmux commands).
    pub fn name(&self) -> &str {
        &self.0
    }

    pub fn capture(&self) -> String {
        let out = tmux()
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.0];
        args.extend_from_slice(keys);
        assert!(tmux().args(&args).status().unwrap().success());
        std::thread::sleep(Duration::from_millis(150));
    }

    pub fn text(&self, text: &str) {
        assert!(
            tmux()
                .args(["send-keys", "-t", &self.0, "-l", text])
                .status()
                .unwrap()
                .success()
        );
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits until `ok` holds for the screen (30 s at most).
    #[track_caller]
    pub fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[track_caller]
    pub fn wait_for(&self, needles: &[&str]) -> String {
        self.wait_for_within(needles, Duration::from_secs(30))
    }

    /// Like `wait_for`, for things that take longer (a package install).
    #[track_caller]
    pub fn wait_for_within(&self, needles: &[&str], limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            if start.elapsed() > limit {
                let log = std::fs::read_to_string(self.1.join("state/slm-wizard/logs/wizard.log"))
                    .unwrap_or_default();
                panic!("timed out waiting for {needles:?}; the screen:\n{screen}\nthe log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
