//! `ansible.cfg` (issue #17): one reader for both engines. The playbook's directory is the
//! working directory ansible-playbook is given (a decoy ansible.cfg in the real working directory
//! is never read); the native engine, the ansible engine and ansible-playbook run by hand in the
//! playbook's directory agree on the inventory, forks, gathering, become and remote_user; the
//! environment beats the file; a run-changing key is refused with file:line:col; and
//! host_key_checking = False accepts an unknown host key loudly.
//!
//! Hermetic: HOME is the sandbox (no ~/.ansible.cfg of the machine) and every `ANSIBLE_*`
//! variable of the test's environment is removed.

use crate::support::cmd;
use crate::support::hosts;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::cmd::ansible_playbook;
use cmd::{Run, Sandbox};
use hosts::{Hosts, root_or_skip, yq};

/// A command with HOME = `home` and no `ANSIBLE_*` variable but `env`.
fn hermetic(program: &Path, cwd: &Path, home: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(program);
    c.current_dir(cwd)
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("xdg"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("NO_COLOR", "1")
        .env_remove("SLM_WIZARD_ENGINE")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("ANSIBLE_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// `slm-wizard run PB --json --engine ENGINE ARGS` from `cwd`.
fn slm(
    cwd: &Path,
    home: &Path,
    pb: &Path,
    engine: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let ansible = ansible_playbook().unwrap_or_default();
    let mut full: Vec<String> = vec![
        "run".into(),
        pb.display().to_string(),
        "--json".into(),
        "--engine".into(),
        engine.into(),
    ];
    full.extend(args.iter().map(|a| a.to_string()));
    let mut c = hermetic(Path::new(cmd::BIN), cwd, home, env);
    c.env("ANSIBLE_PLAYBOOK", ansible).args(&full);
    Run::from_output(full, cmd::run_with_timeout(c, Duration::from_secs(120)))
}

/// ansible-playbook by hand in the playbook's directory: (host, ok, changed, failed) of its recap.
fn ansible_by_hand(
    dir: &Path,
    home: &Path,
    pb: &str,
    env: &[(&str, &str)],
) -> Vec<(String, u64, u64, u64)> {
    let ansible = ansible_playbook().expect("ansible-playbook");
    let mut c = hermetic(&ansible, dir, home, env);
    c.arg(pb);
    let out = cmd::run_with_timeout(c, Duration::from_secs(120));
    let mut rows = Vec::new();
    let mut in_recap = false;
    for line in out.stdout.lines() {
        if line.starts_with("PLAY RECAP") {
            in_recap = true;
            continue;
        }
        let Some((host, rest)) = line.split_once(" : ").filter(|_| in_recap) else {
            continue;
        };
        let n = |k: &str| {
            rest.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(u64::MAX)
        };
        rows.push((host.trim().to_string(), n("ok"), n("changed"), n("failed")));
    }
    assert!(
        !rows.is_empty(),
        "no recap from ansible-playbook\n{}\n{}",
        out.stdout,
        out.stderr
    );
    rows
}

fn recap(r: &Run, hosts: &[&str]) -> Vec<(String, u64, u64, u64)> {
    hosts
        .iter()
        .map(|h| {
            let (ok, changed, failed, _, _) = r.stats(h);
            (h.to_string(), ok, changed, failed)
        })
        .collect()
}

fn stdouts(r: &Run, task: &str) -> Vec<String> {
    r.results_of(task)
        .iter()
        .map(|e| {
            e["result"]["stdout"]
                .as_str()
                .or(e["stdout"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

const INVENTORY: &str = "\
all:
  hosts:
    a: {ansible_connection: local, ansible_python_interpreter: /usr/bin/python3}
    b: {ansible_connection: local, ansible_python_interpreter: /usr/bin/python3}
    c: {ansible_connection: local, ansible_python_interpreter: /usr/bin/python3}
";

/// `alone` fails on a host that runs it while another does (a shared lock directory): with one
/// fork nothing fails, with three some host does.
fn project(sb: &Sandbox) -> PathBuf {
    sb.write("proj/inv/hosts.yml", INVENTORY);
    sb.write(
        "proj/ansible.cfg",
        "# the project's settings\n[defaults]\ninventory = inv/hosts.yml   ; relative to this file\n\
         forks = 1\ngathering = explicit\n\n[privilege_escalation]\nbecome = yes\nbecome_user = nobody\n",
    );
    // Read only if the engines took the working directory's file: it names no inventory that exists.
    sb.write(
        "ansible.cfg",
        "[defaults]\ninventory = decoy.yml\nforks = 3\n",
    );
    sb.write(
        "proj/site.yml",
        &sb.subst(
            "\
- hosts: all
  tasks:
    - name: who
      command: id -un
      changed_when: false
    - name: alone
      shell: mkdir @D@/lock && sleep 0.5 && rmdir @D@/lock
      become: false
",
        ),
    )
}

#[test]
fn inventory_forks_gathering_and_become_agree_with_ansible_playbook() {
    if ansible_playbook().is_none() || !root_or_skip("ansible_cfg inventory_forks_gathering") {
        return;
    }
    let sb = Sandbox::new();
    let pb = project(&sb);
    let hosts = ["a", "b", "c"];
    // forks = 1: one host at a time, so nothing fails; explicit gathering: no facts task
    // (ok = 2 per host); become as nobody; the inventory of the file (no -i).
    let by_hand = ansible_by_hand(&sb.p("proj"), sb.path(), "site.yml", &[]);
    let want: Vec<(String, u64, u64, u64)> =
        hosts.iter().map(|h| (h.to_string(), 2, 1, 0)).collect();
    assert_eq!(by_hand, want, "ansible-playbook by hand");
    for engine in ["native", "ansible"] {
        let r = slm(sb.path(), sb.path(), &pb, engine, &[], &[]);
        r.assert_ok();
        assert_eq!(recap(&r, &hosts), want, "{engine}\n{}", r.dump());
        assert_eq!(
            stdouts(&r, "who"),
            vec!["nobody"; 3],
            "{engine}\n{}",
            r.dump()
        );
    }
    // The environment beats the file: three forks, so some host finds the lock taken.
    for engine in ["native", "ansible"] {
        let _ = std::fs::remove_dir(sb.p("lock"));
        let r = slm(
            sb.path(),
            sb.path(),
            &pb,
            engine,
            &[],
            &[("ANSIBLE_FORKS", "3")],
        );
        let failed: u64 = hosts.iter().map(|h| r.stats(h).2).sum();
        assert!(
            failed >= 1,
            "{engine}: ANSIBLE_FORKS=3 must run hosts together\n{}",
            r.dump()
        );
    }
    // -f beats both.
    for engine in ["native", "ansible"] {
        let _ = std::fs::remove_dir(sb.p("lock"));
        let r = slm(
            sb.path(),
            sb.path(),
            &pb,
            engine,
            &["-f", "1"],
            &[("ANSIBLE_FORKS", "3")],
        );
        assert_eq!(recap(&r, &hosts), want, "{engine}\n{}", r.dump());
    }
    // ANSIBLE_BECOME_USER beats become_user; ANSIBLE_GATHERING=implicit brings the facts task.
    for engine in ["native", "ansible"] {
        let _ = std::fs::remove_dir(sb.p("lock"));
        let r = slm(
            sb.path(),
            sb.path(),
            &pb,
            engine,
            &[],
            &[
                ("ANSIBLE_BECOME_USER", "root"),
                ("ANSIBLE_GATHERING", "implicit"),
            ],
        );
        r.assert_ok();
        assert_eq!(
            stdouts(&r, "who"),
            vec!["root"; 3],
            "{engine}\n{}",
            r.dump()
        );
        assert_eq!(r.stats("a").0, 3, "{engine}: facts + 2 tasks\n{}", r.dump());
    }
}

#[test]
fn gathering_smart_and_implicit_count_as_ansible_over_two_plays() {
    let Some(_) = ansible_playbook() else { return };
    let sb = Sandbox::new();
    sb.write("p/inv.yml", INVENTORY);
    let pb = sb.write(
        "p/two.yml",
        "- hosts: a\n  tasks: [{name: one, debug: {msg: x}}]\n- hosts: a\n  tasks: [{name: two, debug: {msg: y}}]\n",
    );
    // implicit (the default) gathers in each play; smart once per host.
    for (gathering, ok) in [("implicit", 4), ("smart", 3), ("explicit", 2)] {
        sb.write(
            "p/ansible.cfg",
            &format!("[defaults]\ninventory = inv.yml\ngathering = {gathering}\n"),
        );
        let by_hand = ansible_by_hand(&sb.p("p"), sb.path(), "two.yml", &[]);
        assert_eq!(
            by_hand[0].1, ok,
            "ansible-playbook, gathering = {gathering}"
        );
        let r = slm(sb.path(), sb.path(), &pb, "native", &[], &[]);
        r.assert_ok();
        assert_eq!(
            r.stats("a").0,
            ok,
            "native, gathering = {gathering}\n{}",
            r.dump()
        );
    }
}

#[test]
fn a_run_changing_key_is_refused_at_its_position_and_ansible_runs_it() {
    let sb = Sandbox::new();
    sb.write("p/inv.yml", INVENTORY);
    sb.write(
        "p/ansible.cfg",
        "[defaults]\ninventory = inv.yml\nstdout_callback = yaml\nretry_files_enabled = False\n\
         no_such_key = 1\n\n[other]\nhash_behaviour = merge\n[defaults2]\n[ssh_connection]\npipelining = True\n",
    );
    // hash_behaviour of [other] is no setting; the one of [defaults] is.
    let pb = sb.write(
        "p/pb.yml",
        "- hosts: a\n  gather_facts: false\n  tasks: [{debug: {msg: x}}]\n",
    );
    let r = slm(sb.path(), sb.path(), &pb, "native", &[], &[]);
    r.assert_ok();
    let cfg = sb.p("p/ansible.cfg");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "no_such_key = 1\n",
            "no_such_key = 1\nhash_behaviour = merge\n",
        ),
    )
    .unwrap();
    let r = slm(sb.path(), sb.path(), &pb, "native", &[], &[]);
    r.assert_code(5);
    let at = format!("{}:6:1", cfg.display());
    assert!(
        r.stderr.contains(&at) && r.stderr.contains("hash_behaviour"),
        "the refusal names {at} and the key\n{}",
        r.dump()
    );
    // The environment too.
    std::fs::write(&cfg, text).unwrap();
    let r = slm(
        sb.path(),
        sb.path(),
        &pb,
        "native",
        &[],
        &[("ANSIBLE_HASH_BEHAVIOUR", "merge")],
    );
    r.assert_code(5);
    assert!(r.stderr.contains("ANSIBLE_HASH_BEHAVIOUR"), "{}", r.dump());
    if ansible_playbook().is_some() {
        let r = slm(
            sb.path(),
            sb.path(),
            &pb,
            "ansible",
            &[],
            &[("ANSIBLE_HASH_BEHAVIOUR", "merge")],
        );
        r.assert_ok();
        let r = slm(
            sb.path(),
            sb.path(),
            &pb,
            "auto",
            &[],
            &[("ANSIBLE_HASH_BEHAVIOUR", "merge")],
        );
        r.assert_ok();
        assert!(
            r.events
                .iter()
                .any(|e| e["event"] == "engine" && e["name"] == "ansible"),
            "auto hands a refused configuration to ansible\n{}",
            r.dump()
        );
    }
}

#[test]
fn ini_syntax_errors_name_the_line() {
    let sb = Sandbox::new();
    sb.write("p/ansible.cfg", "forks = 2\n");
    let pb = sb.write(
        "p/pb.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks: []\n",
    );
    let r = slm(sb.path(), sb.path(), &pb, "native", &[], &[]);
    r.assert_code(5);
    assert!(r.stderr.contains("ansible.cfg:1:1"), "{}", r.dump());
}

#[test]
fn no_configuration_keeps_the_localhost_default() {
    // The working directory's ansible.cfg is not the playbook's: without one beside the
    // playbook (and none in HOME) the run is the usual implicit localhost.
    let sb = Sandbox::new();
    sb.write("ansible.cfg", "[defaults]\ninventory = decoy.yml\n");
    let pb = sb.write(
        "p/pb.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks: [{name: t, debug: {msg: x}}]\n",
    );
    let r = slm(sb.path(), sb.path(), &pb, "native", &[], &[]);
    r.assert_ok();
    assert!(r.ran("t"), "{}", r.dump());
    if ansible_playbook().is_some() {
        slm(sb.path(), sb.path(), &pb, "ansible", &[], &[]).assert_ok();
    }
}

/// remote_user, become and host_key_checking over SSH, on a host whose key is unknown.
#[test]
fn remote_user_become_and_host_key_checking_on_a_test_host() {
    if ansible_playbook().is_none() || !root_or_skip("ansible_cfg remote_user_become_host_keys") {
        return;
    }
    let h = Hosts::up(1, &[], &[]);
    let pw = h.deploy_password();
    // No ControlPersist master: each run of ansible exchanges keys anew.
    let env = [("ANSIBLE_SSH_ARGS", "-o ControlMaster=no")];
    for engine in ["native", "ansible"] {
        let kh = h.write(&format!("kh-{engine}"), "");
        // No ansible_user: the configuration's remote_user logs in.
        let inv = h.inventory_text(|_| {
            vec![
                ("ansible_become_password".into(), yq(&pw)),
                (
                    "ansible_ssh_common_args".into(),
                    yq(&hosts::ssh_args(&kh, "yes")),
                ),
            ]
        });
        let inv = inv.replace("      ansible_user: root\n", "");
        h.write(&format!("{engine}/inv.yml"), &inv);
        let pb = h.write(
            &format!("{engine}/pb.yml"),
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: login\n      command: id -un\n      become: false\n    - name: escalated\n      command: id -un\n",
        );
        let cfg = "[defaults]\ninventory = inv.yml\nremote_user = deploy\n[privilege_escalation]\nbecome = true\n";
        // host keys checked (the default): the unknown key makes the host unreachable.
        h.write(&format!("{engine}/ansible.cfg"), cfg);
        let r = slm(h.dir(), h.dir(), &pb, engine, &[], &env);
        assert_eq!(
            r.stats("h1").4,
            1,
            "{engine}: unknown key refused\n{}",
            r.dump()
        );
        assert_eq!(
            std::fs::read_to_string(&kh).unwrap(),
            "",
            "{engine}: nothing recorded"
        );
        // host_key_checking = False: accepted, recorded, and said so.
        let off = cfg.replace(
            "[privilege_escalation]",
            "host_key_checking = False\n[privilege_escalation]",
        );
        h.write(&format!("{engine}/ansible.cfg"), &off);
        let r = slm(h.dir(), h.dir(), &pb, engine, &[], &env);
        r.assert_ok();
        assert_eq!(
            stdouts(&r, "login"),
            vec!["deploy"],
            "{engine}\n{}",
            r.dump()
        );
        assert_eq!(
            stdouts(&r, "escalated"),
            vec!["root"],
            "{engine}\n{}",
            r.dump()
        );
        assert!(
            r.events.iter().any(|e| e["event"] == "warning"
                && e["msg"]
                    .as_str()
                    .is_some_and(|m| m.contains("host_key_checking"))),
            "{engine}: the run warns\n{}",
            r.dump()
        );
        assert!(
            std::fs::read_to_string(&kh)
                .unwrap()
                .contains(&h.host_key("h1")),
            "{engine}: the key is recorded"
        );
        // A changed key is still refused.
        h.ctl("rekey", "h1");
        let r = slm(h.dir(), h.dir(), &pb, engine, &[], &env);
        assert_eq!(
            r.stats("h1").4,
            1,
            "{engine}: a changed key is refused\n{}",
            r.dump()
        );
    }
}

/// inject_facts_as_vars = False: facts only under `ansible_facts`, as in ansible-playbook.
#[test]
fn inject_facts_as_vars_false_hides_the_aliases_as_ansible_does() {
    let Some(_) = ansible_playbook() else { return };
    let sb = Sandbox::new();
    sb.write("p/inv.yml", INVENTORY);
    sb.write(
        "p/ansible.cfg",
        "[defaults]\ninventory = inv.yml\ninject_facts_as_vars = False\n",
    );
    let pb = sb.write(
        "p/pb.yml",
        "- hosts: a\n  tasks:\n    - name: t\n      debug:\n        msg: \"{{ ansible_os_family is defined }} {{ ansible_facts.os_family is defined }}\"\n",
    );
    for (engine, env) in [
        ("native", "False"),
        ("ansible", "False"),
        ("native", "True"),
    ] {
        let r = slm(
            sb.path(),
            sb.path(),
            &pb,
            engine,
            &[],
            &[("ANSIBLE_INJECT_FACT_VARS", env)],
        );
        r.assert_ok();
        let want = if env == "True" {
            "True True"
        } else {
            "False True"
        };
        assert_eq!(r.result("t")["msg"], want, "{engine} {env}\n{}", r.dump());
    }
}
