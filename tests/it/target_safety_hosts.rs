//! What runs on the targets is safe, over SSH (issue 18, findings 4 and 17): a task's
//! `environment:` secrets never appear in any process's command line on the target, with and
//! without become, and `su` takes the become user after `--`.

use crate::support::hosts;

use std::time::{Duration, Instant};

use hosts::{Hosts, root_or_skip, yq};

#[test]
fn environment_secrets_never_show_in_the_targets_process_list() {
    if !root_or_skip("environment_secrets_never_show_in_the_targets_process_list") {
        return;
    }
    let h = Hosts::up(1, &["t1"], &["t1"]);
    let pw = h.deploy_password();
    // The deploy user escalates with sudo and a password: the password and the environment share
    // stdin, in that order.
    let inv = h.write_inventory("inv.yml", |_| {
        vec![
            ("ansible_user".into(), "deploy".into()),
            ("ansible_become_password".into(), yq(&pw)),
        ]
    });
    let secret = format!("envsecret{}x{}", std::process::id(), "q7");
    let (a, b) = secret.split_at(5);
    let env = format!("PGPASSWORD: \"{{{{ '{a}' ~ '{b}' }}}}\"");
    // wait_for's loop runs in the task's own shell for 3 s (no exec), like a module running psql.
    let pb = format!(
        "- hosts: all\n  gather_facts: no\n  tasks:\n\
         \x20   - name: slow\n      wait_for:\n        timeout: 3\n      environment:\n        {env}\n\
         \x20   - name: slow as root\n      become: true\n      wait_for:\n        timeout: 3\n      environment:\n        {env}\n\
         \x20   - name: seen\n      become: true\n      shell: printf %s \"$PGPASSWORD\" > /root/seen.out\n      environment:\n        {env}\n"
    );
    let mut run = h.spawn(&pb, &inv, &[]);
    run.wait_for("the first task", Duration::from_secs(60), |e| {
        e["event"] == "task_start" && e["task"] == "slow"
    });
    let mut scans = 0;
    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_secs(7);
    while Instant::now() < until {
        let o = h.exec(
            "t1",
            &["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"],
        );
        scans += 1;
        if o.stdout.contains(&secret) {
            seen.push(o.stdout);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = run.finish(Duration::from_secs(90));
    r.assert_code(0);
    assert!(scans > 10, "only {scans} scans of the process list");
    assert!(
        seen.is_empty(),
        "the secret was in a command line on the target:\n{}",
        seen.first().map(String::as_str).unwrap_or_default()
    );
    assert_eq!(h.sh("t1", "cat /root/seen.out"), secret, "{}", r.dump());
}

#[test]
fn su_becomes_the_user_over_ssh() {
    if !root_or_skip("su_becomes_the_user_over_ssh") {
        return;
    }
    let h = Hosts::up(1, &["t1"], &["t1"]);
    let inv = h.inventory();
    let pb = "\
- hosts: all
  gather_facts: no
  become: true
  become_method: su
  become_user: nobody
  tasks:
    - name: who
      command: id -un
";
    let r = h.run(pb, &inv, &[]);
    r.assert_code(0);
    assert_eq!(r.result("t1", "who")["stdout"], "nobody", "{}", r.dump());
}

#[test]
fn su_with_a_become_password_is_refused_before_any_task() {
    if !root_or_skip("su_with_a_become_password_is_refused_before_any_task") {
        return;
    }
    let h = Hosts::up(1, &["t1"], &["t1"]);
    let pw = h.deploy_password();
    let inv = h.write_inventory("inv.yml", |_| {
        vec![
            ("ansible_user".into(), "deploy".into()),
            ("ansible_become_password".into(), yq(&pw)),
        ]
    });
    let pb = "\
- hosts: all
  gather_facts: no
  tasks:
    - name: first
      command: id -un
    - name: as root with su
      command: id -u
      become: true
      become_method: su
";
    let r = h.run(pb, &inv, &[]);
    assert_ne!(r.code, 0, "{}", r.dump());
    let results = r.results("t1");
    assert_eq!(results.len(), 1, "{}", r.dump());
    assert_eq!(results[0]["status"], "failed", "{}", r.dump());
    let msg = results[0]["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("su") && msg.contains("terminal"), "{msg}");
}
