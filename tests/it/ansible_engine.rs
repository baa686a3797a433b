//! The `ansible` engine: the real ansible-playbook (target/ansible-venv, or $ANSIBLE_PLAYBOOK)
//! behind slm-wizard's events; `auto` falling back to it; cancel; secrets never in argv,
//! environ or files left behind.

use crate::support::hosts;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::cmd::ansible_playbook;
use hosts::{BIN, Hosts, root_or_skip};
use serde_json::Value;

/// `slm-wizard ARGS` in `dir`, with its own state dir and the test's ansible-playbook.
fn wizard(dir: &Path, ansible: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("XDG_STATE_HOME", dir.join("xdg"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("ANSIBLE_PLAYBOOK", ansible)
        .env("NO_COLOR", "1")
        .env_remove("SLM_WIZARD_ENGINE")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

struct Out {
    code: i32,
    events: Vec<Value>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn dump(&self) -> String {
        format!(
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
    fn changed(&self, host: &str) -> u64 {
        let stats = self
            .events
            .iter()
            .rfind(|e| e["event"] == "stats")
            .unwrap_or_else(|| panic!("no stats\n{}", self.dump()));
        stats["hosts"][host]["changed"]
            .as_u64()
            .unwrap_or_else(|| panic!("no stats for {host}\n{}", self.dump()))
    }
    fn engine(&self) -> &Value {
        self.events
            .iter()
            .find(|e| e["event"] == "engine")
            .unwrap_or_else(|| panic!("no engine event\n{}", self.dump()))
    }
    fn started(&self, task: &str) -> bool {
        self.events
            .iter()
            .any(|e| e["event"] == "task_start" && e["task"] == task)
    }
}

/// Runs `cmd` to its end; `during` is called about every 50 ms while it runs.
fn run(mut cmd: Command, mut during: impl FnMut(u32)) -> Out {
    let mut child = cmd.spawn().expect("spawn slm-wizard");
    let pid = child.id();
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("slm-wizard did not finish in time");
        }
        during(pid);
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Out {
        code: status.code().unwrap_or(-1),
        events: stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
        stdout,
        stderr,
    }
}

/// Every process's argv and environment as seen through /proc (`prefix` is a host's root).
fn proc_texts() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        for what in ["cmdline", "environ"] {
            if let Ok(b) = std::fs::read(e.path().join(what)) {
                out.push((
                    format!("/proc/{name}/{what}"),
                    String::from_utf8_lossy(&b).replace('\0', " "),
                ));
            }
        }
    }
    out
}

/// Files under `dir` (recursively) whose content has `needle`.
fn files_with(dir: &Path, needle: &str, skip: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.starts_with(skip) {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t)
                    if t.is_file()
                        && std::fs::read(&p)
                            .is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) =>
                {
                    found.push(p);
                }
                _ => {}
            }
        }
    }
    found
}

fn playbook() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/user-management-db.yml")
}

const PY: &str = "ansible_python_interpreter=/usr/bin/python3";

#[test]
fn project_playbook_with_ansible_matches_native_and_leaks_no_secret() {
    if !root_or_skip("project_playbook_with_ansible_matches_native_and_leaks_no_secret") {
        return;
    }
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let pb = playbook().display().to_string();
    let native_counts = {
        let h = Hosts::up(3, &["slm", "redis", "client"], &["slm"]);
        let inv = h.spec_inventory("inv.yml").display().to_string();
        let args = [
            "run", &pb, "-i", &inv, "--json", "-e", PY, "--engine", "native",
        ];
        let first = run(wizard(h.dir(), &ansible, &args), |_| {});
        assert_eq!(first.code, 0, "{}", first.dump());
        assert_eq!(first.engine()["name"], "native", "{}", first.dump());
        let again = run(wizard(h.dir(), &ansible, &args), |_| {});
        assert_eq!(again.code, 0, "{}", again.dump());
        assert_eq!(
            again.changed("slm") + again.changed("redis"),
            0,
            "{}",
            again.dump()
        );
        (first.changed("slm"), first.changed("redis"))
    };

    let h = Hosts::up(3, &["slm", "redis", "client"], &["slm"]);
    let inv = h.spec_inventory("inv.yml").display().to_string();
    let args = [
        "run", &pb, "-i", &inv, "--json", "-e", PY, "--engine", "ansible",
    ];
    // The passwords are generated and stored before the engine starts; read them from the
    // store as soon as the run shows its engine, then watch every process until the end.
    let mut passwords: Vec<String> = Vec::new();
    let mut leaks: Vec<String> = Vec::new();
    let mut scans = 0;
    let first = run(wizard(h.dir(), &ansible, &args), |_| {
        if passwords.is_empty() {
            let o = wizard(
                h.dir(),
                &ansible,
                &["secrets", "show", &pb, "-i", &inv, "--reveal"],
            )
            .output()
            .expect("secrets show");
            passwords = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
                .filter(|v| v.len() >= 16)
                .collect();
            return;
        }
        scans += 1;
        let mut texts = proc_texts();
        if scans % 10 == 0 {
            for host in ["slm", "redis"] {
                let o = h.exec(
                    host,
                    &[
                        "sh",
                        "-c",
                        "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; tr '\\0' ' ' < $p/environ; echo; done 2>/dev/null",
                    ],
                );
                texts.push((format!("{host}:/proc"), o.stdout));
            }
        }
        for (place, text) in texts {
            for pw in &passwords {
                if text.contains(pw.as_str()) {
                    leaks.push(format!("{place}: {text}"));
                }
            }
        }
    });
    assert_eq!(first.code, 0, "{}", first.dump());
    assert_eq!(
        passwords.len(),
        2,
        "the two generated passwords: {passwords:?}"
    );
    assert!(scans > 20, "the run was watched ({scans} scans)");
    assert!(leaks.is_empty(), "a password in argv/environ: {leaks:#?}");
    assert_eq!(first.engine()["name"], "ansible", "{}", first.dump());
    assert!(
        first.events.iter().any(|e| e["event"] == "play_start")
            && first
                .events
                .iter()
                .any(|e| e["event"] == "task_result" && e["host"] == "redis"),
        "{}",
        first.dump()
    );
    assert_eq!(
        (first.changed("slm"), first.changed("redis")),
        native_counts,
        "per-host changed counts of the ansible engine vs the native one\n{}",
        first.dump()
    );
    // Nothing secret left: not in the output, not in any file but the secret store.
    let xdg = h.dir().join("xdg");
    for pw in &passwords {
        assert!(!first.stdout.contains(pw.as_str()) && !first.stderr.contains(pw.as_str()));
        let left = files_with(h.dir(), pw, &xdg.join("slm-wizard/secrets"));
        assert!(left.is_empty(), "a password in {left:?}");
        let home_tmp =
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".ansible/tmp");
        let left = files_with(&home_tmp, pw, Path::new("/nonexistent"));
        assert!(left.is_empty(), "a password in {left:?}");
    }
    let runs = xdg.join("slm-wizard/ansible-runs");
    let leftover: Vec<_> = std::fs::read_dir(&runs)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftover.is_empty(), "private run dirs left: {leftover:?}");
    for host in ["slm", "redis"] {
        for pw in &passwords {
            let o = h.exec(
                host,
                &[
                    "sh",
                    "-c",
                    &format!("grep -rl -- '{pw}' /tmp /root/.ansible /var/tmp 2>/dev/null; true"),
                ],
            );
            assert!(
                o.stdout.trim().is_empty(),
                "{host}: a password in {}",
                o.stdout
            );
        }
    }

    let again = run(wizard(h.dir(), &ansible, &args), |_| {});
    assert_eq!(again.code, 0, "{}", again.dump());
    assert_eq!(
        (again.changed("slm"), again.changed("redis")),
        (0, 0),
        "{}",
        again.dump()
    );
}

const PIP_PLAYBOOK: &str = "- name: Uses pip\n  hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: Say\n      ansible.builtin.command: echo hello\n      changed_when: false\n    - name: Tools\n      ansible.builtin.pip:\n        name: slm-wizard-no-such-package\n        state: absent\n";

#[test]
fn auto_runs_what_the_native_engine_refuses_through_ansible() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pip.yml"), PIP_PLAYBOOK).unwrap();
    let out = run(
        wizard(d.path(), &ansible, &["run", "pip.yml", "--json"]),
        |_| {},
    );
    assert_eq!(out.code, 0, "{}", out.dump());
    // Right after playbook_start (the journal and --json begin with it).
    assert_eq!(out.events[0]["event"], "playbook_start", "{}", out.dump());
    let engine = &out.events[1];
    assert_eq!(engine["event"], "engine", "{}", out.dump());
    assert_eq!(engine["name"], "ansible");
    let reason = engine["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("pip.yml:9:7:") && reason.contains("ansible.builtin.pip"),
        "{reason}"
    );
    let pip = out
        .events
        .iter()
        .find(|e| e["event"] == "task_result" && e["task"] == "Tools")
        .unwrap_or_else(|| panic!("{}", out.dump()));
    assert_eq!(
        (pip["status"].as_str(), pip["module"].as_str()),
        (Some("ok"), Some("pip"))
    );
    let say = out
        .events
        .iter()
        .find(|e| e["event"] == "task_result" && e["task"] == "Say")
        .unwrap_or_else(|| panic!("{}", out.dump()));
    assert_eq!(say["stdout"], "hello");

    // `native` refuses it as before; the config file can choose it too, and flags win.
    let out = run(
        wizard(
            d.path(),
            &ansible,
            &["run", "pip.yml", "--engine", "native"],
        ),
        |_| {},
    );
    assert_eq!(out.code, 5, "{}", out.dump());
    assert!(out.stderr.contains("pip.yml:9:7:"), "{}", out.dump());
    std::fs::create_dir_all(d.path().join("config/slm-wizard")).unwrap();
    std::fs::write(
        d.path().join("config/slm-wizard/config.toml"),
        "engine = \"native\"\n",
    )
    .unwrap();
    let out = run(wizard(d.path(), &ansible, &["run", "pip.yml"]), |_| {});
    assert_eq!(out.code, 5, "{}", out.dump());
    let out = run(
        wizard(d.path(), &ansible, &["run", "pip.yml", "--engine", "auto"]),
        |_| {},
    );
    assert_eq!(out.code, 0, "{}", out.dump());
    std::fs::write(
        d.path().join("config/slm-wizard/config.toml"),
        "engine = \"native\"\nengines = 1\n",
    )
    .unwrap();
    let out = run(wizard(d.path(), &ansible, &["run", "pip.yml"]), |_| {});
    assert_eq!(out.code, 5, "{}", out.dump());
    assert!(
        out.stderr.contains("config.toml:2:1:") && out.stderr.contains("playbook_dirs"),
        "{}",
        out.dump()
    );

    std::fs::remove_file(d.path().join("config/slm-wizard/config.toml")).unwrap();

    // Without ansible-playbook anywhere, auto says why native refused and how to get ansible.
    let mut cmd = wizard(d.path(), &ansible, &["run", "pip.yml"]);
    cmd.env("ANSIBLE_PLAYBOOK", "").env("PATH", "/usr/bin:/bin");
    let out = run(cmd, |_| {});
    assert_eq!(out.code, 5, "{}", out.dump());
    assert!(
        out.stderr.contains("pip.yml:9:7:") && out.stderr.contains("slm-wizard ansible install"),
        "{}",
        out.dump()
    );

    // A playbook ansible itself cannot parse is bad input (5) with its message.
    std::fs::write(
        d.path().join("bad.yml"),
        "- hosts: localhost\n  tasks:\n    - ansible.builtin.pip: {name: x}\n      bogus_keyword: 1\n",
    )
    .unwrap();
    let out = run(
        wizard(
            d.path(),
            &ansible,
            &["run", "bad.yml", "--engine", "ansible"],
        ),
        |_| {},
    );
    assert_eq!(out.code, 5, "{}", out.dump());
    assert!(out.stderr.contains("bogus_keyword"), "{}", out.dump());
}

/// `auto` hands ansible only what the native engine lacks: input that is wrong for Ansible too
/// is bad input (5) at its file:line:col, whether ansible-playbook is there or not.
#[test]
fn auto_reports_bad_input_instead_of_falling_back() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("typo.yml"),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.file: {path: /tmp/x, state: sideways}\n",
    )
    .unwrap();
    for no_ansible in [false, true] {
        let mut cmd = wizard(d.path(), &ansible, &["run", "typo.yml", "--json"]);
        if no_ansible {
            cmd.env("ANSIBLE_PLAYBOOK", "").env("PATH", "/usr/bin:/bin");
        }
        let out = run(cmd, |_| {});
        assert_eq!(out.code, 5, "{}", out.dump());
        assert!(
            out.stderr.contains("typo.yml:4:") && out.stderr.contains("sideways"),
            "{}",
            out.dump()
        );
        assert!(
            !out.stderr.contains("ansible engine could") && out.events.is_empty(),
            "{}",
            out.dump()
        );
    }
}

/// The ansible engine's events carry what the native engine's carry, no more: output per task
/// and host up to 1 MiB, stdout/stderr head and tail, diffs of big files by size only; the
/// refusal that made `auto` choose ansible is masked like ansible's output.
#[test]
fn ansible_events_are_bounded_and_the_engine_reason_is_masked() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let secret = "hunter2-long-secret";
    std::fs::write(
        d.path().join("big.yml"),
        format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n\
             \x20   - name: Big\n      ansible.builtin.shell: head -c 400000 /dev/zero | tr '\\0' y\n\
             \x20   - name: Many\n      ansible.builtin.shell: head -c 100000 /dev/zero | tr '\\0' w\n      loop: \"{{{{ range(12) | list }}}}\"\n\
             \x20   - name: File\n      ansible.builtin.copy:\n        content: \"{{{{ 'z' * 300000 }}}}\"\n        dest: \"{{{{ playbook_dir }}}}/big.txt\"\n\
             \x20   - name: Never\n      ansible.builtin.include_tasks: \"more-{secret}-{{{{ x }}}}.yml\"\n      when: false\n"
        ),
    )
    .unwrap();
    let pw = format!("db_password={secret}");
    let mut cmd = wizard(
        d.path(),
        &ansible,
        &["run", "big.yml", "--json", "--diff", "-e", &pw],
    );
    // ansible's own limit (100 KiB) would leave nothing for ours to bound.
    cmd.env("ANSIBLE_MAX_DIFF_SIZE", "10000000");
    let out = run(cmd, |_| {});
    assert_eq!(out.code, 0, "{}", out.dump());
    assert!(!out.stdout.contains(secret), "{}", out.dump());
    let reason = out.engine()["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("big.yml:") && reason.contains("more-********-"),
        "{reason}"
    );
    let output = |task: &str| -> String {
        let ids: Vec<&Value> = out
            .events
            .iter()
            .filter(|e| e["event"] == "task_start" && e["task"] == task)
            .map(|e| &e["task_id"])
            .collect();
        out.events
            .iter()
            .filter(|e| e["event"] == "output" && ids.contains(&&e["task_id"]))
            .filter_map(|e| e["data"].as_str())
            .collect()
    };
    let result = |task: &str| {
        out.events
            .iter()
            .find(|e| e["event"] == "task_result" && e["task"] == task)
            .unwrap_or_else(|| panic!("no result of {task}\n{}", out.dump()))
    };
    let big = output("Big");
    assert!(
        big.len() < 140_000 && big.contains("bytes omitted"),
        "{}",
        big.len()
    );
    let stdout = result("Big")["stdout"].as_str().unwrap_or_default();
    assert!(stdout.len() < 140_000 && stdout.contains("bytes omitted"));
    let many = output("Many");
    assert!(
        (1 << 20..(1 << 20) + 210_000).contains(&many.len()),
        "{}",
        many.len()
    );
    assert!(
        out.events.iter().any(|e| e["event"] == "warning"
            && e["msg"]
                .as_str()
                .unwrap_or_default()
                .contains("Many: output beyond 1 MiB")),
        "{}",
        out.dump()
    );
    let file = result("File");
    let after = file["diff"][0]["after"].as_str().unwrap_or_default();
    assert!(after.starts_with("(not shown: 300000 bytes"), "{file}");
    assert!(!out.stdout.contains(&"z".repeat(1000)));
}

#[test]
fn cancel_stops_the_ansible_engine_after_the_running_task() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("slow.yml"),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: First\n      ansible.builtin.shell: touch first-started; sleep 2\n    - name: Second\n      ansible.builtin.command: sleep 2\n",
    )
    .unwrap();
    // Cancelled (SIGINT, as Ctrl-C) once the first task runs on the host.
    let marker = d.path().join("first-started");
    let mut sent = false;
    let out = run(
        wizard(
            d.path(),
            &ansible,
            &["run", "slow.yml", "--json", "--engine", "ansible"],
        ),
        |pid| {
            if !sent && marker.exists() {
                sent = true;
                // SAFETY: a signal to our own child.
                unsafe {
                    libc::kill(pid as i32, libc::SIGINT);
                }
            }
        },
    );
    assert!(sent, "{}", out.dump());
    assert_eq!(out.code, 2, "{}", out.dump());
    let first = out
        .events
        .iter()
        .find(|e| e["event"] == "task_result" && e["task"] == "First")
        .unwrap_or_else(|| panic!("the running task finished\n{}", out.dump()));
    assert_eq!(first["status"], "changed");
    assert!(!out.started("Second"), "{}", out.dump());
    let stats = out.events.last().expect("events");
    assert_eq!(stats["event"], "stats", "{}", out.dump());
    assert_eq!(stats["cancelled"], true);
    assert!(
        std::fs::read_dir(d.path().join("xdg/slm-wizard/ansible-runs"))
            .map(|rd| rd.count() == 0)
            .unwrap_or(true),
        "the private run dir was removed"
    );
}

#[test]
fn no_log_and_ignored_results_of_the_ansible_engine() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("pb.yml"),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: Fails but ignored\n      ansible.builtin.command: /bin/false\n      ignore_errors: true\n    - name: Secret loop\n      ansible.builtin.debug: {msg: \"{{ item }}\"}\n      loop: [item-secret-0123]\n      no_log: true\n    - name: Echo\n      ansible.builtin.command: echo {{ api_token }}\n      changed_when: false\n",
    )
    .unwrap();
    let out = run(
        wizard(
            d.path(),
            &ansible,
            &[
                "run",
                "pb.yml",
                "--json",
                "--engine",
                "ansible",
                "-e",
                "api_token=tok-0123456789",
            ],
        ),
        |_| {},
    );
    assert_eq!(out.code, 0, "{}", out.dump());
    let results: Vec<&Value> = out
        .events
        .iter()
        .filter(|e| e["event"] == "task_result")
        .collect();
    assert_eq!(
        results.len(),
        3,
        "one result per task (the loop's item only)\n{}",
        out.dump()
    );
    assert_eq!(
        (
            results[0]["status"].as_str(),
            results[0]["ignored"].as_bool()
        ),
        (Some("failed"), Some(true))
    );
    assert_eq!(results[1]["item"], "(hidden)");
    assert!(
        results[1]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("no_log")
    );
    assert_eq!(results[2]["stdout"], "********", "{}", out.dump());
    assert!(!out.stdout.contains("item-secret-0123") && !out.stdout.contains("tok-0123456789"));
}

/// ansible's stderr is kept as head and tail plus its size: an ansible that prints 60 MB of
/// errors (one line without an end among them) costs neither memory nor a 60 MB message.
#[test]
fn ansible_stderr_is_bounded_head_tail_and_size() {
    let d = tempfile::tempdir().unwrap();
    let fake = d.path().join("ansible-playbook");
    std::fs::write(
        &fake,
        "#!/bin/sh\nexec >&2\necho 'ERROR! the first line'\n\
         head -c 30000000 /dev/zero | tr '\\0' n | fold -w 100\n\
         head -c 30000000 /dev/zero | tr '\\0' m\necho\necho 'the last line'\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        d.path().join("p.yml"),
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.pip:\n        name: x\n",
    )
    .unwrap();
    let mut peak_kb = 0u64;
    let out = run(
        wizard(d.path(), &fake, &["run", "p.yml", "--engine", "ansible"]),
        |pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        },
    );
    assert_eq!(out.code, 5, "{}", &out.dump()[..out.dump().len().min(4000)]);
    assert!(
        out.stderr.len() < 100_000,
        "the error is {} bytes",
        out.stderr.len()
    );
    assert!(
        out.stderr.contains("the first line") && out.stderr.contains("the last line"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("bytes omitted"), "{}", out.stderr);
    assert!(peak_kb < 60_000, "peak RSS {peak_kb} kB");
}
