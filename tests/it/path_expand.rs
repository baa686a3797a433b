//! Path-typed module arguments (`type='path'` in Ansible's argument specs) are expanded on the
//! target as AnsibleModule expands them: `$VAR`, then `~`, `~/x`, `~user` — as the module's user
//! (after become). The same playbook runs natively and under ansible-playbook; both must report
//! the same expanded paths. It writes one dot-file in the running user's home (removed again), as
//! the upstream lineinfile test does, so it runs only as root with HOME at root's passwd home
//! (Ansible's copy action expands `~` from passwd, the modules from HOME) and a `postgres` user
//! to become.

use std::process::{Command, Stdio};

use crate::support::cmd::{Sandbox, run_with_timeout};

const PLAYBOOK: &str = r#"- hosts: all
  gather_facts: no
  tasks:
    - block:
        - name: copy to a tilde dest
          copy:
            content: "A\n"
            dest: "~/{{ n }}"
          register: c
        - name: lineinfile on a tilde path
          lineinfile:
            path: "~/{{ n }}"
            line: B
        - name: stat another user's home
          stat:
            path: "~root"
          register: r
        - name: stat through a variable
          stat:
            path: "${HOME}/{{ n }}"
          register: v
        - name: stat the become user's home
          stat:
            path: "~"
          become: true
          become_user: postgres
          register: b
        - name: an unknown user and an unset variable stay as written
          file:
            path: "{{ item }}"
            state: absent
          loop: ["~slm_no_such_user/x", "$SLM_NO_SUCH_VAR/x"]
          register: u
        - name: find under a tilde in a comma-separated list
          find:
            paths: "/nonexistent-slm-dir,~"
            patterns: "{{ n }}"
            hidden: true
          register: f
        - name: slurp from a tilde path
          slurp:
            src: "~/{{ n }}"
          register: s
        - name: report
          copy:
            dest: "{{ out }}"
            content: |
              {{ c.dest }}
              {{ r.stat.path }} {{ r.stat.isdir }}
              {{ v.stat.path }} {{ v.stat.exists }}
              {{ b.stat.path }}
              {{ u.results | map(attribute='path') | join(' ') }}
              {{ f.files | map(attribute='path') | join(' ') }}
              {{ s.content | b64decode | trim }}
      always:
        - name: clean up
          file:
            path: "~/{{ n }}"
            state: absent
"#;

/// The report ansible-core 2.19 writes (checked with ansible-playbook when this was written).
fn want(name: &str) -> String {
    format!(
        "/root/{name}\n/root True\n/root/{name} True\n/var/lib/postgresql\n\
         ~slm_no_such_user/x $SLM_NO_SUCH_VAR/x\n/root/{name}\nA\nB\n"
    )
}

fn runnable() -> bool {
    let passwd = |user: &str| {
        Command::new("getent")
            .args(["passwd", user])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let root = passwd("root").split(':').nth(5) == Some("/root");
    let home = std::env::var("HOME").is_ok_and(|h| h == "/root");
    let uid0 = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let ok = root && home && uid0 && passwd("postgres").contains(":/var/lib/postgresql:");
    if !ok {
        eprintln!("NOTE: path expansion test needs root with HOME=/root and a postgres user");
    }
    ok
}

#[test]
fn path_arguments_expand_tilde_and_vars_like_ansible() {
    if !runnable() {
        return;
    }
    let sb = Sandbox::new();
    let tag = sb
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pb = sb.write("tilde.yml", PLAYBOOK);

    let name = format!(".{tag}-native");
    let out = sb.p("native.txt");
    let r = sb.run_file(
        &pb,
        &[
            "--engine",
            "native",
            "-e",
            &format!("n={name}"),
            "-e",
            &format!("out={}", out.display()),
        ],
    );
    r.assert_ok();
    assert_eq!(sb.read("native.txt"), want(&name), "{}", r.dump());
    assert!(!std::path::Path::new("/root").join(&name).exists());

    let Some(ansible) = crate::support::cmd::ansible_playbook() else {
        return;
    };
    let name = format!(".{tag}-ansible");
    let out = sb.p("ansible.txt");
    let mut cmd = Command::new(ansible);
    cmd.arg(&pb)
        .args(["-i", "localhost,", "-c", "local"])
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .arg("-e")
        .arg(format!("n={name}"))
        .arg("-e")
        .arg(format!("out={}", out.display()))
        .current_dir(sb.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = run_with_timeout(cmd, std::time::Duration::from_secs(300));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(sb.read("ansible.txt"), want(&name), "{}", run.stdout);
}
