//! What runs on the targets is safe (issue 18, findings 3, 4, 5, 8, 9, 11, 17, 19): playbook values
//! never become shell code, secrets never sit in an argv, new files are never readable by others
//! while they fill, destinations that are symlinks are not followed, bytes stay bytes, a command
//! cannot fake a skip. Real playbooks on the local connection, against temp dirs only.

use crate::support::cmd;

use std::time::{Duration, Instant};

use cmd::{Sandbox, mode_of, unique};

/// A play on all hosts without fact gathering, around `tasks` (YAML list at column 0).
fn play(tasks: &str) -> String {
    let body: String = tasks
        .trim_start_matches('\n')
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_string()
            } else {
                format!("    {l}\n")
            }
        })
        .collect();
    format!("- hosts: all\n  gather_facts: no\n  tasks:\n{body}")
}

fn msg(r: &cmd::Run, task: &str) -> String {
    r.result(task)["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Finding 3: shell injection through wait_for and environment names
// ---------------------------------------------------------------------------------------------

#[test]
fn wait_for_host_is_never_shell_code() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: bad host
  wait_for:
    host: "127.0.0.1/1; touch @D@/pwned; #"
    port: 1
    timeout: 1
  ignore_errors: yes
- name: bad port
  wait_for:
    host: 127.0.0.1
    port: 70000
    timeout: 1
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    assert!(!sb.exists("pwned"), "the host ran as code\n{}", r.dump());
    assert_eq!(r.status("bad host"), "failed", "{}", r.dump());
    let m = msg(&r, "bad host");
    assert!(
        m.contains("host") && m.contains("not a host name"),
        "{m}\n{}",
        r.dump()
    );
    assert_eq!(r.status("bad port"), "failed", "{}", r.dump());
    assert!(msg(&r, "bad port").contains("1-65535"), "{}", r.dump());
}

#[test]
fn environment_names_are_never_shell_code() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: bad name
  shell: "true"
  environment:
    "{{ 'X=1; touch @D@/pwned; Y' }}": "1"
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    assert!(!sb.exists("pwned"), "the name ran as code\n{}", r.dump());
    assert_eq!(r.status("bad name"), "failed", "{}", r.dump());
    let m = msg(&r, "bad name");
    assert!(
        m.contains("environment") && m.contains("not a valid variable name"),
        "{m}\n{}",
        r.dump()
    );
}

#[test]
fn a_static_bad_environment_name_is_refused_before_the_run_at_its_position() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: fine
  command: touch @D@/ran
- name: bad name
  shell: "true"
  environment:
    OK_NAME: "1"
    "X=1; touch @D@/pwned; Y": "1"
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(5);
    assert!(!sb.exists("ran"), "the run started\n{}", r.dump());
    assert!(!sb.exists("pwned"), "{}", r.dump());
    // Line 10, column 9 of the generated playbook: the bad key.
    assert!(
        r.stderr.contains("pb-0.yml:10:9") && r.stderr.contains("not a valid variable name"),
        "{}",
        r.dump()
    );
}

#[test]
fn environment_values_arrive_exactly_and_stdin_still_works() {
    let sb = Sandbox::new();
    sb.write(
        "vars.yml",
        "tricky: \"a'b\\\"c\\n$(touch pwned2)\\n`id`\\\\x\\n\\n\"\n",
    );
    let pb = play(
        r#"
- name: env
  shell: 'printf %s "$TRICKY" > @D@/tricky.out; printf %s "$EMPTY" > @D@/empty.out; cat > @D@/stdin.out'
  args:
    stdin: from stdin
  environment:
    TRICKY: "{{ tricky }}"
    EMPTY: ""
"#,
    );
    let r = sb.run(&pb, &["-e", "@@D@/vars.yml"]);
    r.assert_ok();
    assert!(!sb.exists("pwned2"), "{}", r.dump());
    assert_eq!(
        sb.read("tricky.out"),
        "a'b\"c\n$(touch pwned2)\n`id`\\x\n\n"
    );
    assert_eq!(sb.read("empty.out"), "");
    assert_eq!(sb.read("stdin.out"), "from stdin\n");
}

// ---------------------------------------------------------------------------------------------
// Finding 4: no secret in any argv on the target
// ---------------------------------------------------------------------------------------------

/// Whether any process's command line contains `needle`.
fn in_some_argv(needle: &str) -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    rd.filter_map(Result::ok).any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| c.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

#[test]
fn environment_secrets_are_not_in_any_argv() {
    let sb = Sandbox::new();
    let secret = unique("envsecret");
    // The secret is split in the playbook so the playbook's own path/args never contain it whole.
    let (a, b) = secret.split_at(4);
    // wait_for's loop runs in the task's own shell (no exec), like a module running psql.
    let pb = play(&format!(
        r#"
- name: slow
  wait_for:
    timeout: 3
  environment:
    PGPASSWORD: "{{{{ '{a}' ~ '{b}' }}}}"
- name: seen
  shell: printf %s "$PGPASSWORD" > @D@/seen.out
  environment:
    PGPASSWORD: "{{{{ '{a}' ~ '{b}' }}}}"
"#
    ));
    let seen_in_argv = std::thread::scope(|s| {
        let run = s.spawn(|| sb.run(&pb, &[]));
        let start = Instant::now();
        let mut seen = false;
        while !run.is_finished() && start.elapsed() < Duration::from_secs(60) {
            seen |= in_some_argv(&secret);
            std::thread::sleep(Duration::from_millis(50));
        }
        let r = run.join().expect("run thread");
        r.assert_ok();
        seen
    });
    assert_eq!(
        sb.read("seen.out"),
        secret,
        "the task did not get the value"
    );
    assert!(!seen_in_argv, "the secret was visible in a process's argv");
}

// ---------------------------------------------------------------------------------------------
// Finding 11: a command cannot fake the skip of creates/removes
// ---------------------------------------------------------------------------------------------

#[test]
fn a_command_printing_the_skip_marker_still_fails() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: forger
  shell: echo __SLM_SKIP__; exit 7
  ignore_errors: yes
- name: forger with creates
  shell: echo __SLM_SKIP__; exit 7
  args:
    creates: @D@/never-there
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    for t in ["forger", "forger with creates"] {
        let res = r.result(t);
        assert_eq!(res["status"], "failed", "{t}\n{}", r.dump());
        assert_eq!(res["rc"], 7, "{t}\n{}", r.dump());
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 5: a new file is never readable by others while it has content
// ---------------------------------------------------------------------------------------------

/// Writes an executable shim `bin/NAME` into the sandbox.
fn shim(sb: &Sandbox, name: &str, script: &str) {
    let path = sb.write(&format!("bin/{name}"), &sb.subst(script));
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod shim");
}

#[test]
fn a_new_private_file_is_never_readable_by_others_with_content() {
    use std::os::unix::fs::MetadataExt;
    let sb = Sandbox::new();
    std::fs::create_dir(sb.p("out")).expect("mkdir");
    // A slow chmod widens any window between two mode changes to 300 ms.
    shim(
        &sb,
        "chmod",
        "#!/bin/sh\nsleep 0.3\nexec /bin/chmod \"$@\"\n",
    );
    let pb = play(
        r#"
- name: private
  copy:
    content: "TOPSECRET\n"
    dest: @D@/out/private.conf
    mode: "0600"
  environment:
    PATH: "@D@/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"#,
    );
    let out_dir = sb.p("out");
    let (r, exposed) = std::thread::scope(|s| {
        let run = s.spawn(|| sb.run(&pb, &[]));
        let mut exposed = Vec::new();
        while !run.is_finished() {
            for e in std::fs::read_dir(&out_dir).into_iter().flatten().flatten() {
                if let Ok(m) = e.metadata()
                    && m.len() > 0
                    && m.mode() & 0o077 != 0
                {
                    exposed.push(format!("{:?} {:o}", e.file_name(), m.mode() & 0o7777));
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (run.join().expect("run thread"), exposed)
    });
    r.assert_ok();
    assert_eq!(sb.read("out/private.conf"), "TOPSECRET\n");
    assert_eq!(mode_of(&sb.p("out/private.conf")), 0o600);
    assert!(
        exposed.is_empty(),
        "content readable by others while being written: {exposed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 8: symlinked destinations, backups under a predictable name
// ---------------------------------------------------------------------------------------------

#[test]
fn a_symlinked_destination_is_replaced_not_read_or_written_through() {
    let sb = Sandbox::new();
    let secret = sb.write("secret.txt", "TOPSECRET\n");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    std::os::unix::fs::symlink(&secret, sb.p("planted.conf")).expect("symlink");
    std::os::unix::fs::symlink(&secret, sb.p("planted2.conf")).expect("symlink");
    sb.write("real.txt", "old\n");
    std::os::unix::fs::symlink(sb.p("real.txt"), sb.p("followed.conf")).expect("symlink");
    let pb = play(
        r#"
- name: over a link
  copy:
    content: "new\n"
    dest: @D@/planted.conf
    mode: "0640"
- name: over a link, no mode
  copy:
    content: "new\n"
    dest: @D@/planted2.conf
- name: followed
  copy:
    content: "new\n"
    dest: @D@/followed.conf
    follow: true
"#,
    );
    let r = sb.run(&pb, &["--check", "--diff"]);
    r.assert_ok();
    assert!(
        !r.stdout.contains("TOPSECRET"),
        "the link's target was read\n{}",
        r.dump()
    );
    assert_eq!(r.status("over a link"), "changed", "{}", r.dump());

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(
        sb.read("secret.txt"),
        "TOPSECRET\n",
        "written through the link"
    );
    assert_eq!(mode_of(&secret), 0o600);
    for (link, mode) in [("planted.conf", 0o640), ("planted2.conf", 0o644)] {
        let meta = std::fs::symlink_metadata(sb.p(link)).expect("stat");
        assert!(meta.file_type().is_file(), "{link} is still a link");
        assert_eq!(sb.read(link), "new\n");
        // Not the mode of the file the link pointed at.
        assert_eq!(mode_of(&sb.p(link)), mode, "{link}");
    }
    // follow: true writes to the target and keeps the link.
    let meta = std::fs::symlink_metadata(sb.p("followed.conf")).expect("stat");
    assert!(
        meta.file_type().is_symlink(),
        "the followed link was replaced"
    );
    assert_eq!(sb.read("real.txt"), "new\n");

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
}

#[test]
fn lineinfile_edits_what_a_link_points_at_and_keeps_the_link() {
    let sb = Sandbox::new();
    sb.write("real.conf", "a=1\n");
    std::os::unix::fs::symlink(sb.p("real.conf"), sb.p("link.conf")).expect("symlink");
    std::os::unix::fs::symlink(sb.p("missing/x.conf"), sb.p("dangling.conf")).expect("symlink");
    let pb = play(
        r#"
- name: edit
  lineinfile:
    path: @D@/link.conf
    line: b=2
- name: dangling
  lineinfile:
    path: @D@/dangling.conf
    line: b=2
    create: true
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    assert_eq!(r.status("edit"), "changed", "{}", r.dump());
    assert_eq!(sb.read("real.conf"), "a=1\nb=2\n");
    let meta = std::fs::symlink_metadata(sb.p("link.conf")).expect("stat");
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert_eq!(r.status("dangling"), "failed", "{}", r.dump());
    assert!(
        msg(&r, "dangling").contains("cannot be resolved"),
        "{}",
        r.dump()
    );
}

#[test]
fn a_backup_is_never_written_through_a_planted_link() {
    let sb = Sandbox::new();
    sb.write("data.txt", "old\n");
    sb.write("victim.txt", "victim\n");
    // `date` answers a fixed time and plants a link under the backup name the shell would use
    // ($$ is date's parent, or its grandparent when the command substitution forks twice).
    shim(
        &sb,
        "date",
        "#!/bin/sh\nfor p in $PPID $(cut -d' ' -f4 /proc/$PPID/stat); do \
         ln -sf @D@/victim.txt \"@D@/data.txt.$p.2020-01-01@00:00:00~\"; done\n\
         echo 2020-01-01@00:00:00\n",
    );
    let pb = play(
        r#"
- name: replace
  copy:
    content: "new\n"
    dest: @D@/data.txt
    backup: yes
  environment:
    PATH: "@D@/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    assert_eq!(sb.read("victim.txt"), "victim\n", "{}", r.dump());
    assert_eq!(r.status("replace"), "failed", "{}", r.dump());
    assert!(msg(&r, "replace").contains("backup"), "{}", r.dump());
    assert_eq!(sb.read("data.txt"), "old\n");
}

// ---------------------------------------------------------------------------------------------
// Finding 9: bytes stay bytes, line endings stay
// ---------------------------------------------------------------------------------------------

#[test]
fn remote_src_copy_keeps_binary_bytes() {
    let sb = Sandbox::new();
    let bytes: Vec<u8> = (0..=255u8)
        .chain([0xff, 0xfe, b'\r', b'\n', 0xc3])
        .collect();
    std::fs::write(sb.p("src.bin"), &bytes).expect("write");
    let pb = play(
        r#"
- name: copy bin
  copy:
    src: @D@/src.bin
    dest: @D@/dst.bin
    remote_src: true
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(std::fs::read(sb.p("dst.bin")).expect("read"), bytes);
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
}

#[test]
fn lineinfile_keeps_latin1_bytes_and_crlf() {
    let sb = Sandbox::new();
    let before = b"caf\xe9=1\r\nkey=old\r\nna\xefve\r\n";
    std::fs::write(sb.p("win.ini"), before).expect("write");
    let pb = play(
        r#"
- name: edit
  lineinfile:
    path: @D@/win.ini
    regexp: "^key="
    line: key=new
- name: add
  lineinfile:
    path: @D@/win.ini
    line: added=1
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(
        std::fs::read(sb.p("win.ini")).expect("read"),
        // the lines written end in \n, as ansible-core's lineinfile writes them (os.linesep);
        // the others keep their bytes and their \r\n
        b"caf\xe9=1\r\nkey=new\nna\xefve\r\nadded=1\n"
    );
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
}

// ---------------------------------------------------------------------------------------------
// Finding 17: playbook values after `--`; no line breaks in pg_hba fields
// ---------------------------------------------------------------------------------------------

/// A shim that records its name and arguments, one per line, in `argv.log`, and succeeds.
fn recorder(sb: &Sandbox, name: &str) {
    shim(
        sb,
        name,
        "#!/bin/sh\n{ echo \"== $(basename \"$0\")\"; printf '%s\\n' \"$@\"; } >> @D@/argv.log\n",
    );
}

#[test]
fn an_owner_is_never_taken_for_an_option() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: owner
  file:
    path: @D@/f.txt
    state: touch
    owner: "--version"
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    // `chown --version …` prints its version and succeeds: a false "changed".
    assert_eq!(r.status("owner"), "failed", "{}", r.dump());
}

#[test]
fn apt_names_and_psql_databases_are_never_options_or_conninfo() {
    let sb = Sandbox::new();
    for name in ["apt-get", "dpkg-query", "psql"] {
        recorder(&sb, name);
    }
    let pb = play(
        r#"
- name: apt
  apt:
    name: ["-oDebug::pkgProblemResolver=1", "pkg-a"]
  environment:
    PATH: "@D@/bin:/usr/sbin:/usr/bin:/sbin:/bin"
- name: ping
  postgresql_ping:
    db: "app host=/elsewhere user=postgres"
    login_host: 127.0.0.1
    login_user: app
  environment:
    PATH: "@D@/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    let log = sb.read("argv.log");
    let calls: Vec<Vec<&str>> = log
        .split("== ")
        .filter(|c| !c.is_empty())
        .map(|c| c.lines().collect())
        .collect();
    let apt = calls
        .iter()
        .find(|c| c.first() == Some(&"apt-get") && c.contains(&"install"))
        .unwrap_or_else(|| panic!("no apt-get install\n{log}"));
    let dashdash = apt.iter().position(|a| *a == "--");
    let name = apt.iter().position(|a| a.starts_with("-oDebug"));
    assert!(
        dashdash.is_some() && dashdash < name,
        "apt-get: names not after --\n{log}"
    );
    let query = calls
        .iter()
        .find(|c| c.first() == Some(&"dpkg-query"))
        .unwrap_or_else(|| panic!("no dpkg-query\n{log}"));
    assert!(
        query.contains(&"--"),
        "dpkg-query: names not after --\n{log}"
    );
    let psql = calls
        .iter()
        .find(|c| c.first() == Some(&"psql"))
        .unwrap_or_else(|| panic!("no psql\n{log}"));
    let d = psql.iter().position(|a| *a == "-d").expect("-d");
    assert_eq!(
        psql.get(d + 1),
        Some(&"dbname='app host=/elsewhere user=postgres'"),
        "the database name can act as a connection string\n{log}"
    );
}

#[test]
fn become_user_is_never_taken_for_an_option() {
    let sb = Sandbox::new();
    shim(&sb, "evil.sh", "#!/bin/sh\ntouch @D@/pwned\n");
    let pb = format!(
        "- hosts: all\n  gather_facts: no\n  become: yes\n  become_method: su\n  \
         become_user: \"--shell={}/bin/evil.sh\"\n  tasks:\n    - name: as\n      command: \"true\"\n",
        sb.d()
    );
    let r = sb.run(&pb, &[]);
    assert!(
        !sb.exists("pwned"),
        "su took the user for an option\n{}",
        r.dump()
    );
    assert_ne!(r.code, 0, "{}", r.dump());
}

#[test]
fn pg_hba_fields_with_line_breaks_are_refused() {
    // Templated, as values from variables are: a literal line break is refused at plan time.
    let sb = Sandbox::new();
    let hba = "local   all             postgres                                peer\n";
    sb.write("pg_hba.conf", hba);
    let pb = play(
        r#"
- name: hba
  postgresql_pg_hba:
    dest: @D@/pg_hba.conf
    contype: host
    databases: app
    users: "{{ 'app\nhost all all 0.0.0.0/0 trust' }}"
    source: 10.0.0.0/8
    method: scram-sha-256
  ignore_errors: yes
- name: hba options
  postgresql_pg_hba:
    dest: @D@/pg_hba.conf
    contype: host
    databases: app
    users: app
    source: 10.0.0.0/8
    method: scram-sha-256
    options: "{{ 'a=b\rhost all all 0.0.0.0/0 trust' }}"
  ignore_errors: yes
"#,
    );
    let r = sb.run(&pb, &[]);
    assert_eq!(sb.read("pg_hba.conf"), hba, "{}", r.dump());
    for (t, key) in [("hba", "users"), ("hba options", "options")] {
        assert_eq!(r.status(t), "failed", "{}", r.dump());
        let m = msg(&r, t);
        assert!(m.contains(key) && m.contains("line break"), "{m}");
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 19: a become prompt nobody answers ends with a clear error
// ---------------------------------------------------------------------------------------------

#[test]
fn an_unknown_sudo_prompt_times_out_with_a_clear_error() {
    let sb = Sandbox::new();
    // A sudo that asks in its own words (not slm-wizard's prompt) and waits.
    shim(
        &sb,
        "sudo",
        "#!/bin/sh\nprintf 'Password for alice: ' >&2\nexec sleep 120\n",
    );
    let pb = sb.write(
        "pb.yml",
        "- hosts: all\n  gather_facts: no\n  become: yes\n  become_user: nobody\n  tasks:\n    \
         - name: as nobody\n      command: \"true\"\n",
    );
    let mut cmd = std::process::Command::new(cmd::BIN);
    cmd.arg("run")
        .arg(&pb)
        .arg("-i")
        .arg(sb.inventory())
        .arg("--json")
        .current_dir(sb.path())
        .env("XDG_STATE_HOME", sb.state_dir())
        .env(
            "PATH",
            format!("{}/bin:/usr/sbin:/usr/bin:/sbin:/bin", sb.d()),
        )
        .env("SLM_WIZARD_BECOME_TIMEOUT", "2")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let start = Instant::now();
    let out = cmd::run_with_timeout(cmd, Duration::from_secs(60));
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "took {took:?}\n{}",
        out.stdout
    );
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("did not finish within 2s")
            && out.stdout.contains("Password for alice"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}
