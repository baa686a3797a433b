//! Real playbooks on the local connection: every module applied, in check mode (verified on disk
//! or in the database, not only by the reported status), with `--diff`, and run a second time
//! (nothing changes). Plus the engine's keywords: loops, conditions, blocks, handlers, tags,
//! no_log, includes, variable precedence, retries, error handling, host selection, magic vars.

use crate::support::cmd;
use crate::support::tmux;

use cmd::{PgCluster, Sandbox, mode_of, unique};
use serde_json::{Value, json};

/// A play on all hosts without fact gathering, around `tasks` (YAML list at column 0).
fn play(tasks: &str) -> String {
    format!(
        "- hosts: all\n  gather_facts: no\n  tasks:\n{}",
        indent(tasks, 4)
    )
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.trim_start_matches('\n')
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Statuses of the task's per-item results, in order.
fn statuses(run: &cmd::Run, name: &str) -> Vec<String> {
    run.results_of(name)
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// command / shell
// ---------------------------------------------------------------------------------------------

#[test]
fn command_runs_without_a_shell_and_honours_creates() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: echo
  command: echo a | cat
  register: out
  changed_when: false
- name: argv
  command:
    argv: [printf, "%s-%s", "a b", c]
  register: av
  changed_when: false
- name: make
  command: touch @D@/made
  args:
    creates: @D@/made
- name: results
  assert:
    that:
      - out.stdout == 'a | cat'
      - av.stdout == 'a b-c'
      - out.rc == 0
  when: not ansible_check_mode
"#,
    );

    // Check mode: nothing is created; `make` would run, the unguarded commands are skipped.
    let r = sb.run(&pb, &["--check"]);
    r.assert_ok();
    assert!(
        !sb.exists("made"),
        "check mode ran the command\n{}",
        r.dump()
    );
    assert_eq!(r.status("make"), "changed", "{}", r.dump());
    assert_eq!(r.status("echo"), "skipped", "{}", r.dump());

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert!(sb.exists("made"));
    assert_eq!(r.status("make"), "changed");
    assert_eq!(r.status("results"), "ok", "{}", r.dump());
    assert_eq!(r.result("echo")["stdout"], "a | cat");
    assert_eq!(r.stats("local1"), (4, 1, 0, 0, 0), "{}", r.dump());

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(
        r.changed("local1"),
        0,
        "second run changed something\n{}",
        r.dump()
    );
    assert_eq!(r.status("make"), "ok");
    assert!(
        r.result("make")["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("exists"),
        "{}",
        r.dump()
    );
}

#[test]
fn shell_chdir_creates_removes_stdin() {
    let sb = Sandbox::new();
    sb.write("gone.txt", "bye\n");
    let pb = play(
        r#"
- name: write from stdin
  shell: cat > out.txt
  args:
    chdir: @D@
    creates: @D@/out.txt
    stdin: hello
- name: where
  shell: pwd
  args:
    chdir: @D@
  register: where
  changed_when: false
- name: pipes
  shell: echo $((40 + 2)) | tr 4 X
  register: piped
  changed_when: false
- name: remove when present
  shell: rm @D@/gone.txt
  args:
    removes: @D@/gone.txt
- name: results
  assert:
    that:
      - piped.stdout == 'X2'
      - where.stdout == '@D@'
  when: not ansible_check_mode
"#,
    );

    let r = sb.run(&pb, &["--check"]);
    r.assert_ok();
    assert!(!sb.exists("out.txt"), "check mode wrote out.txt");
    assert_eq!(sb.read("gone.txt"), "bye\n", "check mode removed gone.txt");
    assert_eq!(r.status("write from stdin"), "changed");
    assert_eq!(r.status("remove when present"), "changed");

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(sb.read("out.txt"), "hello\n");
    assert!(!sb.exists("gone.txt"));
    assert_eq!(r.status("results"), "ok", "{}", r.dump());
    assert_eq!(r.changed("local1"), 2, "{}", r.dump());

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
    assert_eq!(r.status("write from stdin"), "ok");
    assert_eq!(r.status("remove when present"), "ok");
    assert_eq!(sb.read("out.txt"), "hello\n");
}

#[test]
fn failing_shell_fails_the_host_with_rc_and_stderr() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: boom
  shell: echo oops >&2; exit 3
- name: not reached
  copy: content=x dest=@D@/not-reached
"#,
        ),
        &[],
    );
    r.assert_code(2);
    let b = r.result("boom");
    assert_eq!(b["status"], "failed");
    assert_eq!(b["rc"], 3);
    assert_eq!(b["stderr"], "oops");
    assert!(!r.ran("not reached"));
    assert!(!sb.exists("not-reached"));
    assert_eq!(r.stats("local1").2, 1);
}

// ---------------------------------------------------------------------------------------------
// copy
// ---------------------------------------------------------------------------------------------

#[test]
fn copy_content_mode_check_diff_and_idempotence() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.p("out")).expect("mkdir");
    let pb = |text: &str| {
        play(&format!(
            r#"
- name: place
  copy:
    content: "{text}"
    dest: @D@/out/app.conf
    mode: 0640
"#
        ))
    };
    let v1 = pb("hello\\nworld\\n");

    let r = sb.run(&v1, &["--check", "--diff"]);
    r.assert_ok();
    assert!(!sb.exists("out/app.conf"), "check mode wrote the file");
    let res = r.result("place");
    assert_eq!(res["status"], "changed");
    assert_eq!(res["diff"][0]["after"], "hello\nworld\n", "{}", r.dump());
    assert_eq!(res["diff"][0]["before"], "");

    let r = sb.run(&v1, &["--diff"]);
    r.assert_ok();
    assert_eq!(r.status("place"), "changed");
    assert_eq!(sb.read("out/app.conf"), "hello\nworld\n");
    assert_eq!(mode_of(&sb.p("out/app.conf")), 0o640);
    assert!(r.result("place")["diff"].is_array());

    let r = sb.run(&v1, &["--diff"]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
    assert!(
        r.result("place").get("diff").is_none(),
        "an unchanged file must not show a diff\n{}",
        r.dump()
    );

    // New content in check mode: reported with a before/after diff, file untouched.
    let v2 = pb("hello\\nmars\\n");
    let r = sb.run(&v2, &["--check", "--diff"]);
    r.assert_ok();
    let res = r.result("place");
    assert_eq!(res["status"], "changed");
    assert_eq!(res["diff"][0]["before"], "hello\nworld\n");
    assert_eq!(res["diff"][0]["after"], "hello\nmars\n");
    assert_eq!(sb.read("out/app.conf"), "hello\nworld\n");

    // Only the mode drifted: fixed, content kept.
    std::fs::set_permissions(
        sb.p("out/app.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let r = sb.run(&v1, &[]);
    r.assert_ok();
    assert_eq!(r.status("place"), "changed");
    assert_eq!(mode_of(&sb.p("out/app.conf")), 0o640);
    assert_eq!(sb.read("out/app.conf"), "hello\nworld\n");
}

#[test]
fn copy_src_from_files_dir_and_into_a_directory() {
    let sb = Sandbox::new();
    sb.write("files/app.conf", "from the files dir\n");
    std::fs::create_dir(sb.p("etc")).expect("mkdir");
    // An existing directory written without its slash is a directory too (the peer suite's
    // command_shell copies its scripts so); a binary source takes the streaming path.
    std::fs::create_dir(sb.p("opt")).expect("mkdir");
    std::fs::write(sb.p("files/blob.bin"), [0u8, 0xff, 0xfe, 7]).expect("write");
    let pb = play(
        r#"
- name: by name
  copy:
    src: app.conf
    dest: @D@/copied.conf
- name: into dir
  copy:
    src: app.conf
    dest: @D@/etc/
- name: into an existing dir
  copy:
    src: app.conf
    dest: @D@/opt
    mode: '0755'
- name: binary into an existing dir
  copy:
    src: blob.bin
    dest: @D@/opt
"#,
    );
    let r = sb.run(&pb, &["--check"]);
    r.assert_ok();
    assert!(!sb.exists("copied.conf"));
    assert!(!sb.exists("etc/app.conf"));
    assert!(!sb.exists("opt/app.conf"));
    assert_eq!(r.changed("local1"), 4);

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(sb.read("copied.conf"), "from the files dir\n");
    assert_eq!(sb.read("etc/app.conf"), "from the files dir\n");
    assert_eq!(sb.read("opt/app.conf"), "from the files dir\n");
    assert_eq!(mode_of(&sb.p("opt/app.conf")), 0o755);
    assert_eq!(
        std::fs::read(sb.p("opt/blob.bin")).expect("copied"),
        [0u8, 0xff, 0xfe, 7]
    );
    assert_eq!(r.changed("local1"), 4);

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
}

#[test]
fn copy_backup_keeps_the_old_file() {
    let sb = Sandbox::new();
    sb.write("data.txt", "old\n");
    let r = sb.run(
        &play(
            r#"
- name: replace
  copy:
    content: "new\n"
    dest: @D@/data.txt
    backup: yes
  register: c
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(sb.read("data.txt"), "new\n");
    let backup = r.result("replace")["result"]["backup_file"]
        .as_str()
        .unwrap_or_else(|| panic!("no backup_file in the result\n{}", r.dump()))
        .to_string();
    assert!(
        backup.starts_with(&format!("{}/data.txt.", sb.d())),
        "{backup}"
    );
    assert_eq!(std::fs::read_to_string(&backup).expect("backup"), "old\n");
    let backups: Vec<_> = std::fs::read_dir(sb.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with("data.txt.") && n.ends_with('~')
        })
        .collect();
    assert_eq!(backups.len(), 1);
}

#[test]
fn copy_validate_failure_leaves_the_old_file() {
    let sb = Sandbox::new();
    sb.write("conf.txt", "old good\n");
    let r = sb.run(
        &play(
            r#"
- name: bad content
  copy:
    content: "bad\n"
    dest: @D@/conf.txt
    validate: grep -q good %s
"#,
        ),
        &[],
    );
    r.assert_code(2);
    assert_eq!(r.status("bad content"), "failed");
    let msg = r.result("bad content")["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("valid"),
        "message should say validation failed: {msg}"
    );
    assert_eq!(sb.read("conf.txt"), "old good\n");
    let leftovers: Vec<String> = std::fs::read_dir(sb.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".slm-wizard"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    let r = sb.run(
        &play(
            r#"
- name: good content
  copy:
    content: "new good\n"
    dest: @D@/conf.txt
    validate: grep -q good %s
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(sb.read("conf.txt"), "new good\n");
}

#[test]
fn diff_is_printed_by_the_human_printer() {
    let sb = Sandbox::new();
    sb.write("f.txt", "one\ntwo\n");
    let pb = sb.write(
        "human.yml",
        &play(
            r#"
- name: edit
  copy:
    content: "one\nthree\n"
    dest: @D@/f.txt
"#,
        ),
    );
    let inv = sb.inventory();
    let r = sb.run_raw(&[
        "run",
        &pb.display().to_string(),
        "-i",
        &inv.display().to_string(),
        "--check",
        "--diff",
    ]);
    r.assert_ok();
    assert!(r.stdout.contains("-two"), "{}", r.dump());
    assert!(r.stdout.contains("+three"), "{}", r.dump());
    assert!(r.stdout.contains("changed: [local1]"), "{}", r.dump());
    assert_eq!(sb.read("f.txt"), "one\ntwo\n");
}

// ---------------------------------------------------------------------------------------------
// template
// ---------------------------------------------------------------------------------------------

#[test]
fn template_with_loops_conditionals_and_trailing_newline() {
    let sb = Sandbox::new();
    sb.write(
        "templates/app.conf.j2",
        "# managed for {{ inventory_hostname }}\n\
         {% for u in users %}\n\
         user={{ u }}\n\
         {% endfor %}\n\
         {% if port > 1000 %}\n\
         high_port={{ port }}\n\
         {% else %}\n\
         low_port={{ port }}\n\
         {% endif %}\n\
         # end\n",
    );
    let pb = |port: u32| {
        format!(
            "- hosts: all\n  gather_facts: no\n  vars:\n    users: [alice, bob]\n    port: {port}\n  tasks:\n{}",
            indent(
                r#"
- name: render
  template:
    src: app.conf.j2
    dest: @D@/app.conf
    mode: "0600"
"#,
                4
            )
        )
    };
    // The text after the last block tag keeps its newline (Ansible's template module does).
    let expected = "# managed for local1\nuser=alice\nuser=bob\nhigh_port=5432\n# end\n";

    let r = sb.run(&pb(5432), &["--check", "--diff"]);
    r.assert_ok();
    assert!(!sb.exists("app.conf"));
    assert_eq!(
        r.result("render")["diff"][0]["after"],
        expected,
        "{}",
        r.dump()
    );

    let r = sb.run(&pb(5432), &[]);
    r.assert_ok();
    assert_eq!(sb.read("app.conf"), expected);
    assert_eq!(mode_of(&sb.p("app.conf")), 0o600);

    let r = sb.run(&pb(5432), &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());

    let r = sb.run(&pb(80), &["--diff"]);
    r.assert_ok();
    assert_eq!(r.status("render"), "changed");
    assert_eq!(
        sb.read("app.conf"),
        "# managed for local1\nuser=alice\nuser=bob\nlow_port=80\n# end\n"
    );
    let d = &r.result("render")["diff"][0];
    assert_eq!(d["before"], expected);
}

// ---------------------------------------------------------------------------------------------
// lineinfile / blockinfile
// ---------------------------------------------------------------------------------------------

const PG_CONF: &str =
    "# config\nport = 5432\n#listen_addresses = 'localhost'\nmax_connections = 100\n";

fn lineinfile_play() -> String {
    play(
        r#"
- name: replace by regexp
  lineinfile:
    path: @D@/pg.conf
    regexp: '^#?listen_addresses'
    line: "listen_addresses = '*'"
- name: insert after
  lineinfile:
    path: @D@/pg.conf
    insertafter: '^port'
    line: ssl = on
- name: drop a line
  lineinfile:
    path: @D@/pg.conf
    regexp: '^max_connections'
    state: absent
- name: backrefs
  lineinfile:
    path: @D@/pg.conf
    regexp: '^port = (\d+)$'
    line: 'port = \1 # kept'
    backrefs: yes
- name: create
  lineinfile:
    path: @D@/created.conf
    line: created
    create: yes
"#,
    )
}

#[test]
fn lineinfile_regexp_insertafter_absent_backrefs_create() {
    let sb = Sandbox::new();
    sb.write("pg.conf", PG_CONF);
    let pb = lineinfile_play();

    let r = sb.run(&pb, &["--check", "--diff"]);
    r.assert_ok();
    assert_eq!(sb.read("pg.conf"), PG_CONF, "check mode edited the file");
    assert!(!sb.exists("created.conf"));
    assert_eq!(r.changed("local1"), 5, "{}", r.dump());
    let d = &r.result("replace by regexp")["diff"][0];
    assert_eq!(d["before"], PG_CONF);
    assert!(
        d["after"]
            .as_str()
            .unwrap_or_default()
            .contains("listen_addresses = '*'\n"),
        "{d}"
    );

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(
        sb.read("pg.conf"),
        "# config\nport = 5432 # kept\nssl = on\nlisten_addresses = '*'\n"
    );
    assert_eq!(sb.read("created.conf"), "created\n");
    assert_eq!(r.changed("local1"), 5);

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
}

#[test]
fn lineinfile_missing_file_without_create_fails() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: edit missing
  lineinfile:
    path: @D@/nope.conf
    line: x
"#,
        ),
        &[],
    );
    r.assert_code(2);
    assert!(
        r.result("edit missing")["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("does not exist"),
        "{}",
        r.dump()
    );
    assert!(!sb.exists("nope.conf"));
}

#[test]
fn blockinfile_insert_update_remove() {
    let sb = Sandbox::new();
    sb.write("hosts.txt", "a\nb\n");
    let pb = |block: &str, state: &str| {
        play(&format!(
            r##"
- name: block
  blockinfile:
    path: @D@/hosts.txt
    marker: "# {{mark}} SLM"
    insertafter: '^a$'
    block: "{block}"
    state: {state}
"##
        ))
    };
    let add = pb("x=1\\ny=2", "present");

    let r = sb.run(&add, &["--check", "--diff"]);
    r.assert_ok();
    assert_eq!(sb.read("hosts.txt"), "a\nb\n");
    assert_eq!(r.status("block"), "changed");
    assert!(r.result("block")["diff"].is_array(), "{}", r.dump());

    let r = sb.run(&add, &[]);
    r.assert_ok();
    assert_eq!(
        sb.read("hosts.txt"),
        "a\n# BEGIN SLM\nx=1\ny=2\n# END SLM\nb\n"
    );

    let r = sb.run(&add, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());

    let r = sb.run(&pb("x=3", "present"), &[]);
    r.assert_ok();
    assert_eq!(r.status("block"), "changed");
    assert_eq!(sb.read("hosts.txt"), "a\n# BEGIN SLM\nx=3\n# END SLM\nb\n");

    let r = sb.run(&pb("", "absent"), &[]);
    r.assert_ok();
    assert_eq!(r.status("block"), "changed");
    assert_eq!(sb.read("hosts.txt"), "a\nb\n");

    let r = sb.run(&pb("", "absent"), &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0);
}

// ---------------------------------------------------------------------------------------------
// file / stat
// ---------------------------------------------------------------------------------------------

#[test]
fn file_directory_link_mode_absent() {
    let sb = Sandbox::new();
    sb.write("existing", "x\n");
    std::fs::set_permissions(
        sb.p("existing"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    sb.write("todelete/inner", "x\n");
    let pb = play(
        r#"
- name: dir
  file: path=@D@/d1 state=directory mode=0750
- name: link
  file:
    path: @D@/ln
    src: @D@/d1
    state: link
- name: mode
  file:
    path: @D@/existing
    mode: "0600"
- name: gone
  file:
    path: @D@/todelete
    state: absent
"#,
    );

    let r = sb.run(&pb, &["--check", "--diff"]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 4, "{}", r.dump());
    assert!(!sb.exists("d1"));
    assert!(!sb.exists("ln"));
    assert_eq!(mode_of(&sb.p("existing")), 0o644);
    assert!(sb.exists("todelete/inner"));
    assert!(r.result("dir")["diff"].is_array(), "{}", r.dump());

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert!(sb.p("d1").is_dir());
    assert_eq!(mode_of(&sb.p("d1")), 0o750);
    assert_eq!(std::fs::read_link(sb.p("ln")).expect("symlink"), sb.p("d1"));
    assert_eq!(mode_of(&sb.p("existing")), 0o600);
    assert!(!sb.exists("todelete"));

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
}

#[test]
fn file_touch_creates_and_state_file_on_missing_fails() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: touch
  file:
    path: @D@/t
    state: touch
    mode: "0604"
"#,
        ),
        &["--check"],
    );
    r.assert_ok();
    assert!(!sb.exists("t"));
    let r = sb.run(
        &play(
            r#"
- name: touch
  file:
    path: @D@/t
    state: touch
    mode: "0604"
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert!(sb.p("t").is_file());
    assert_eq!(mode_of(&sb.p("t")), 0o604);

    let r = sb.run(
        &play("- name: missing\n  file: path=@D@/nope state=file\n"),
        &[],
    );
    r.assert_code(2);
    assert!(
        r.result("missing")["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("absent"),
        "{}",
        r.dump()
    );
}

#[test]
fn stat_result_drives_later_when() {
    let sb = Sandbox::new();
    sb.write("present.txt", "12345");
    std::fs::set_permissions(
        sb.p("present.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o604),
    )
    .expect("chmod");
    let pb = play(
        r#"
- name: stat present
  stat: path=@D@/present.txt
  register: p
- name: stat missing
  stat: path=@D@/missing.txt
  register: m
- name: stat dir
  stat: path=@D@
  register: d
- name: when exists
  debug: msg=present
  when: p.stat.exists
- name: when missing
  debug: msg=missing
  when: m.stat.exists
- name: facts
  assert:
    that:
      - p.stat.isreg
      - not p.stat.isdir
      - p.stat.size == 5
      - p.stat.mode == '0604'
      - p.stat.checksum == '8cb2237d0679ca88db6464eac60da96345513964'
      - not m.stat.exists
      - d.stat.isdir
"#,
    );
    for args in [&["--check"][..], &[][..]] {
        let r = sb.run(&pb, args);
        r.assert_ok();
        assert_eq!(r.status("when exists"), "ok", "{}", r.dump());
        assert_eq!(r.status("when missing"), "skipped");
        assert_eq!(r.status("facts"), "ok", "{}", r.dump());
        assert_eq!(r.changed("local1"), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// service / systemd / wait_for
// ---------------------------------------------------------------------------------------------

#[test]
fn service_and_systemd_report_unknown_services() {
    // This machine has no service that is safe to start or stop, so only the failure path of an
    // unknown name is exercised (in normal and in check mode).
    let sb = Sandbox::new();
    for module in ["service", "systemd", "ansible.builtin.service"] {
        let pb = play(&format!(
            "- name: svc\n  {module}:\n    name: slm-no-such-service\n    state: started\n    enabled: yes\n"
        ));
        for args in [&[][..], &["--check"][..]] {
            let r = sb.run(&pb, args);
            r.assert_code(2);
            assert_eq!(r.status("svc"), "failed");
            let msg = r.result("svc")["msg"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                msg.contains("slm-no-such-service") && msg.to_lowercase().contains("find"),
                "{module} {args:?}: {msg}"
            );
        }
    }
}

#[test]
fn wait_for_port_and_path() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    sb.write("ready.flag", "state: READY\n");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let pb = play(&format!(
        r#"
- name: pg port
  wait_for:
    host: 127.0.0.1
    port: "{{{{ pg_port }}}}"
    timeout: 10
- name: path exists
  wait_for:
    path: @D@/ready.flag
    timeout: 5
- name: path regex
  wait_for:
    path: @D@/ready.flag
    search_regex: "READY"
    timeout: 5
- name: path absent
  wait_for:
    path: @D@/never.flag
    state: absent
    timeout: 5
- name: closed port
  wait_for:
    host: 127.0.0.1
    port: {closed}
    timeout: 1
    msg: port {closed} stayed closed
  ignore_errors: yes
"#
    ));
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    for t in ["pg port", "path exists", "path regex", "path absent"] {
        assert_eq!(r.status(t), "ok", "{t}\n{}", r.dump());
    }
    let c = r.result("closed port");
    assert_eq!(c["status"], "failed", "{}", r.dump());
    assert_eq!(c["msg"], format!("port {closed} stayed closed"));
    assert_eq!(c["ignored"], true);
    assert_eq!(r.changed("local1"), 0);
}

// ---------------------------------------------------------------------------------------------
// set_fact / register / debug / assert / fail / pause
// ---------------------------------------------------------------------------------------------

#[test]
fn set_fact_register_debug_assert() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: facts
  set_fact:
    base: 40
    names: [a, b]
- name: derived
  set_fact:
    answer: "{{ base + 2 }}"
    joined: "{{ names | join(',') }}"
- name: reg
  command: echo registered
  register: out
  changed_when: false
- name: show var
  debug:
    var: answer
- name: show msg
  debug:
    msg: "{{ out.stdout }} {{ joined }}"
- name: passes
  assert:
    that:
      - answer == 42
      - answer is number
      - joined == 'a,b'
      - out.stdout_lines == ['registered']
    success_msg: all good
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.result("show var")["result"]["answer"], 42, "{}", r.dump());
    assert_eq!(r.result("show msg")["msg"], "registered a,b");
    assert_eq!(r.result("passes")["msg"], "all good");
    assert_eq!(r.result("facts")["status"], "ok");
    assert_eq!(r.stats("local1"), (6, 0, 0, 0, 0));
}

#[test]
fn failing_assert_and_fail_module() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: wrong
  assert:
    that:
      - 1 == 1
      - 2 == 3
    fail_msg: two is not three
  ignore_errors: yes
- name: explicit
  fail:
    msg: stop here
- name: not reached
  debug: msg=x
"#,
        ),
        &[],
    );
    r.assert_code(2);
    let w = r.result("wrong");
    assert_eq!(w["status"], "failed");
    assert_eq!(w["msg"], "two is not three");
    assert_eq!(w["ignored"], true);
    assert_eq!(r.result("explicit")["msg"], "stop here");
    assert!(!r.ran("not reached"));
    assert_eq!(r.stats("local1").2, 1, "only the unignored failure counts");
}

#[test]
fn pause_zero_seconds() {
    let sb = Sandbox::new();
    let start = std::time::Instant::now();
    let r = sb.run(
        &play("- name: p\n  pause:\n    seconds: 0\n- name: p2\n  pause: seconds=0\n"),
        &[],
    );
    r.assert_ok();
    assert_eq!(r.status("p"), "ok");
    assert_eq!(r.status("p2"), "ok");
    assert!(start.elapsed().as_secs() < 20);
}

// ---------------------------------------------------------------------------------------------
// apt / package (check mode only: nothing is installed or removed)
// ---------------------------------------------------------------------------------------------

fn dpkg_installed(pkg: &str) -> bool {
    let o = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", pkg])
        .output()
        .expect("dpkg-query");
    String::from_utf8_lossy(&o.stdout).trim() == "installed"
}

#[test]
fn apt_check_mode_present_and_absent() {
    assert!(dpkg_installed("coreutils"));
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: present
  apt:
    name: coreutils
    state: present
- name: absent
  ansible.builtin.apt:
    name: coreutils
    state: absent
"#,
    );
    let r = sb.run(&pb, &["--check", "--diff"]);
    r.assert_ok();
    assert_eq!(r.status("present"), "ok", "{}", r.dump());
    assert_eq!(r.status("absent"), "changed", "{}", r.dump());
    assert!(
        r.result("absent")["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("coreutils"),
        "{}",
        r.dump()
    );
    assert!(
        r.result("absent")["diff"][0]["after"]
            .as_str()
            .unwrap_or_default()
            .contains("coreutils"),
        "{}",
        r.dump()
    );
    assert!(dpkg_installed("coreutils"), "check mode removed a package!");
}

#[test]
fn package_uses_facts_and_check_mode() {
    let sb = Sandbox::new();
    let with_facts = "- hosts: all\n  gather_facts: yes\n  tasks:\n    - name: pkg\n      package:\n        name: coreutils\n        state: present\n    - name: pkg absent\n      package:\n        name: coreutils\n        state: absent\n";
    let r = sb.run(with_facts, &["--check"]);
    r.assert_ok();
    assert_eq!(r.status("pkg"), "ok", "{}", r.dump());
    assert_eq!(r.status("pkg absent"), "changed", "{}", r.dump());
    assert!(dpkg_installed("coreutils"));

    let r = sb.run(
        &play("- name: pkg\n  package: name=coreutils state=present\n"),
        &["--check"],
    );
    r.assert_code(2);
    assert!(
        r.result("pkg")["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("facts"),
        "{}",
        r.dump()
    );
}

/// A play written for several distributions plans natively: its `dnf`/`yum` tasks under a false
/// `when` are skipped and the play goes on; one that runs on this Debian machine fails with the
/// engine's package scope and the target's OS family (a later task does not run).
#[test]
fn dnf_and_yum_are_skipped_under_when_and_fail_clearly_when_run() {
    let sb = Sandbox::new();
    let pb = "- hosts: all\n  gather_facts: yes\n  tasks:\n\
              \x20   - name: rh dnf\n      dnf: {name: acl}\n      when: ansible_os_family == 'RedHat'\n\
              \x20   - name: rh yum\n      ansible.builtin.yum: name=acl state=absent\n      when: ansible_distribution in ('RedHat')\n\
              \x20   - name: after\n      debug: {msg: reached}\n\
              \x20   - name: dnf here\n      dnf: {name: acl, state: present}\n\
              \x20   - name: never\n      debug: {msg: no}\n";
    let r = sb.run(pb, &["--check"]);
    r.assert_code(2);
    assert_eq!(r.status("rh dnf"), "skipped", "{}", r.dump());
    assert_eq!(r.status("rh yum"), "skipped", "{}", r.dump());
    assert_eq!(r.status("after"), "ok", "{}", r.dump());
    assert_eq!(r.status("dnf here"), "failed", "{}", r.dump());
    let msg = r.result("dnf here")["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("Debian-family targets only") && msg.contains("OS family is Debian"),
        "{msg}"
    );
    assert!(r.results_of("never").is_empty(), "{}", r.dump());
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

/// A play whose `pgconn` anchor holds the connection arguments (merge it with `<<: *pg`).
fn pg_play(tasks: &str) -> String {
    format!(
        "- hosts: all\n  gather_facts: no\n  vars:\n    pgconn: &pg\n      port: \"{{{{ pg_port }}}}\"\n      login_unix_socket: \"{{{{ pg_sock }}}}\"\n  tasks:\n{}",
        indent(tasks, 4)
    )
}

#[test]
fn postgresql_db_create_owner_idempotent_drop() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let db = unique("it_db");
    let owner = unique("it_owner");
    pg.psql(&format!("CREATE ROLE {owner}"));
    let present = pg_play(
        &r#"
- name: create db
  community.postgresql.postgresql_db:
    <<: *pg
    name: @DB@
    owner: @OWNER@
"#
        .replace("@DB@", &db)
        .replace("@OWNER@", &owner),
    );
    let exists = || {
        pg.psql(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{db}'"
        ))
    };

    let r = sb.run(&present, &["--check", "--diff"]);
    r.assert_ok();
    assert_eq!(r.status("create db"), "changed", "{}", r.dump());
    assert_eq!(exists(), "0", "check mode created the database");
    let after = r.result("create db")["diff"][0]["after"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(after.contains("CREATE DATABASE"), "{after}");

    let r = sb.run(&present, &[]);
    r.assert_ok();
    assert_eq!(r.status("create db"), "changed", "{}", r.dump());
    assert_eq!(exists(), "1");
    assert_eq!(
        pg.psql(&format!(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'"
        )),
        owner
    );

    let r = sb.run(&present, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());

    // A new owner is applied to the existing database, once.
    let owner2 = unique("it_owner2");
    pg.psql(&format!("CREATE ROLE {owner2}"));
    let moved = present.replace(&format!("owner: {owner}"), &format!("owner: {owner2}"));
    let r = sb.run(&moved, &["--check"]);
    r.assert_ok();
    assert_eq!(r.status("create db"), "changed");
    let owner_now = || {
        pg.psql(&format!(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'"
        ))
    };
    assert_eq!(owner_now(), owner, "check mode changed the owner");
    let r = sb.run(&moved, &[]);
    r.assert_ok();
    assert_eq!(r.status("create db"), "changed");
    assert_eq!(owner_now(), owner2);
    let r = sb.run(&moved, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());

    let absent = present.replace(&format!("owner: {owner}"), "state: absent");
    let r = sb.run(&absent, &["--check"]);
    r.assert_ok();
    assert_eq!(r.status("create db"), "changed");
    assert_eq!(exists(), "1", "check mode dropped the database");

    let r = sb.run(&absent, &[]);
    r.assert_ok();
    assert_eq!(r.status("create db"), "changed");
    assert_eq!(exists(), "0");

    let r = sb.run(&absent, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0);
}

#[test]
fn postgresql_user_scram_password_flags_and_no_leak() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let role = unique("it_app");
    // A variable name that is not secret-looking, so only the engine's own care keeps it hidden.
    let pw1 = "Plain-Text-Pw-8d41c2";
    let pw2 = "Other-Plain-Pw-77ab19";
    let pb = |flags: &str| {
        pg_play(
            &r#"
- name: app role
  postgresql_user:
    <<: *pg
    name: @ROLE@
    password: "{{ app_pw }}"
    role_attr_flags: @FLAGS@
"#
            .replace("@ROLE@", &role)
            .replace("@FLAGS@", flags),
        )
    };
    let base = pb("LOGIN,NOSUPERUSER,NOCREATEDB");
    let e1 = format!("app_pw={pw1}");
    let e2 = format!("app_pw={pw2}");
    let authid = || {
        pg.psql(&format!(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, coalesce(rolpassword, '') FROM pg_authid WHERE rolname = '{role}'"
        ))
    };
    let mut outputs = String::new();

    let r = sb.run(&base, &["-e", &e1, "--check", "--diff"]);
    r.assert_ok();
    assert_eq!(r.status("app role"), "changed", "{}", r.dump());
    assert_eq!(authid(), "", "check mode created the role");
    let shown = r.result("app role")["diff"][0]["after"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(shown.contains("PASSWORD '********'"), "{shown}");
    outputs += &r.stdout;
    outputs += &r.stderr;

    let r = sb.run(&base, &["-e", &e1, "--diff"]);
    r.assert_ok();
    assert_eq!(r.status("app role"), "changed", "{}", r.dump());
    let row = authid();
    let f: Vec<&str> = row.split('|').collect();
    assert_eq!(&f[..3], &["t", "f", "f"], "{row}");
    let verifier1 = f[3].to_string();
    assert!(verifier1.starts_with("SCRAM-SHA-256$4096:"), "{verifier1}");
    assert_eq!(pg.login(&role, pw1, "postgres"), Ok(role.clone()));
    assert!(!r.stdout.contains(&verifier1), "the verifier was printed");
    outputs += &r.stdout;
    outputs += &r.stderr;

    let r = sb.run(&base, &["-e", &e1]);
    r.assert_ok();
    assert_eq!(
        r.changed("local1"),
        0,
        "same password must be ok\n{}",
        r.dump()
    );
    outputs += &r.stdout;

    let r = sb.run(&base, &["-e", &e2, "--check"]);
    r.assert_ok();
    assert_eq!(r.status("app role"), "changed");
    assert_eq!(authid().split('|').nth(3), Some(verifier1.as_str()));
    outputs += &r.stdout;

    let r = sb.run(&base, &["-e", &e2]);
    r.assert_ok();
    assert_eq!(r.status("app role"), "changed");
    assert_ne!(authid().split('|').nth(3), Some(verifier1.as_str()));
    assert_eq!(pg.login(&role, pw2, "postgres"), Ok(role.clone()));
    assert!(pg.login(&role, pw1, "postgres").is_err());
    outputs += &r.stdout;

    // A flag change alters the role without touching the password.
    let verifier2 = authid().split('|').nth(3).unwrap_or_default().to_string();
    let r = sb.run(&pb("LOGIN,NOSUPERUSER,CREATEDB"), &["-e", &e2]);
    r.assert_ok();
    assert_eq!(r.status("app role"), "changed");
    assert_eq!(authid(), format!("t|f|t|{verifier2}"));
    outputs += &r.stdout;

    let drop = pg_play(
        &r#"
- name: drop role
  postgresql_user:
    <<: *pg
    name: @ROLE@
    state: absent
"#
        .replace("@ROLE@", &role),
    );
    let r = sb.run(&drop, &["--check"]);
    r.assert_ok();
    assert_eq!(r.status("drop role"), "changed");
    assert_ne!(authid(), "", "check mode dropped the role");
    let r = sb.run(&drop, &[]);
    r.assert_ok();
    assert_eq!(r.status("drop role"), "changed");
    assert_eq!(authid(), "");
    let r = sb.run(&drop, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0);

    let journal = sb.journal();
    assert!(!journal.is_empty(), "no journal written");
    for pw in [pw1, pw2] {
        assert!(
            !outputs.contains(pw),
            "password {pw} leaked to stdout/stderr"
        );
        assert!(!journal.contains(pw), "password {pw} leaked to the journal");
    }
}

#[test]
fn postgresql_privs_database_and_schema() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let db = unique("it_privdb");
    let role = unique("it_priv_role");
    pg.psql(&format!("CREATE ROLE {role} LOGIN"));
    pg.psql(&format!("CREATE DATABASE {db}"));
    pg.psql_db(&db, "CREATE SCHEMA app");
    let grants = pg_play(
        &r#"
- name: connect grant
  postgresql_privs:
    <<: *pg
    database: @DB@
    type: database
    privs: CONNECT
    roles: @ROLE@
- name: revoke public connect
  postgresql_privs:
    <<: *pg
    database: @DB@
    type: database
    privs: CONNECT
    roles: PUBLIC
    state: absent
- name: schema privs
  postgresql_privs:
    <<: *pg
    database: @DB@
    type: schema
    objs: app
    privs: CREATE,USAGE
    roles: @ROLE@
"#
        .replace("@DB@", &db)
        .replace("@ROLE@", &role),
    );
    // Explicit ACL entries (not effective privileges, which PUBLIC would blur).
    let db_acl = |grantee: &str| {
        pg.psql(&format!(
            "SELECT count(*) FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) e \
             WHERE d.datname = '{db}' AND e.privilege_type = 'CONNECT' AND e.grantee = {grantee}"
        ))
    };
    let role_oid = format!("(SELECT oid FROM pg_roles WHERE rolname = '{role}')");
    let schema_priv = |p: &str| {
        pg.psql_db(
            &db,
            &format!("SELECT has_schema_privilege('{role}', 'app', '{p}')"),
        )
    };

    let r = sb.run(&grants, &["--check", "--diff"]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 3, "{}", r.dump());
    let shown = r.result("connect grant")["diff"][0]["after"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(shown.contains("GRANT CONNECT"), "{}", r.dump());
    assert!(shown.contains(&role), "{shown}");
    assert_eq!(db_acl(&role_oid), "0");
    assert_eq!(db_acl("0"), "1", "check mode revoked PUBLIC");
    assert_eq!(schema_priv("USAGE"), "f");

    let r = sb.run(&grants, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 3, "{}", r.dump());
    assert_eq!(db_acl(&role_oid), "1");
    assert_eq!(db_acl("0"), "0", "PUBLIC still has CONNECT");
    assert_eq!(schema_priv("USAGE"), "t");
    assert_eq!(schema_priv("CREATE"), "t");

    let r = sb.run(&grants, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());

    let revoke = pg_play(
        &r#"
- name: revoke role connect
  postgresql_privs:
    <<: *pg
    database: @DB@
    type: database
    privs: CONNECT
    roles: @ROLE@
    state: absent
"#
        .replace("@DB@", &db)
        .replace("@ROLE@", &role),
    );
    let r = sb.run(&revoke, &[]);
    r.assert_ok();
    assert_eq!(r.status("revoke role connect"), "changed");
    assert_eq!(db_acl(&role_oid), "0");
    let r = sb.run(&revoke, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0);
}

const HBA: &str = "# TYPE  DATABASE  USER      ADDRESS        METHOD\n\
local   all       postgres                 peer\n\
# keep this comment\n\
host    all       all       127.0.0.1/32   scram-sha-256\n";

#[test]
fn postgresql_pg_hba_add_idempotent_keep_remove() {
    let sb = Sandbox::new();
    sb.write("pg_hba.conf", HBA);
    let pb = |method: &str, state: &str| {
        play(&format!(
            r#"
- name: hba
  postgresql_pg_hba:
    dest: @D@/pg_hba.conf
    contype: host
    databases: slm
    users: slm_app
    source: 10.0.0.0/24
    method: {method}
    state: {state}
"#
        ))
    };
    let add = pb("scram-sha-256", "present");

    let r = sb.run(&add, &["--check", "--diff"]);
    r.assert_ok();
    assert_eq!(r.status("hba"), "changed", "{}", r.dump());
    assert_eq!(sb.read("pg_hba.conf"), HBA);
    assert!(
        r.result("hba")["diff"][0]["after"]
            .as_str()
            .unwrap_or_default()
            .contains("10.0.0.0/24"),
        "{}",
        r.dump()
    );

    let r = sb.run(&add, &[]);
    r.assert_ok();
    let text = sb.read("pg_hba.conf");
    assert!(text.starts_with(HBA), "other lines must be kept:\n{text}");
    let added: Vec<&str> = text.lines().filter(|l| l.contains("10.0.0.0/24")).collect();
    assert_eq!(added.len(), 1, "{text}");
    assert_eq!(
        added[0].split_whitespace().collect::<Vec<_>>(),
        ["host", "slm", "slm_app", "10.0.0.0/24", "scram-sha-256"]
    );

    let r = sb.run(&add, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());

    // A different method updates the same rule in place.
    let r = sb.run(&pb("md5", "present"), &[]);
    r.assert_ok();
    let text = sb.read("pg_hba.conf");
    let added: Vec<&str> = text.lines().filter(|l| l.contains("10.0.0.0/24")).collect();
    assert_eq!(added.len(), 1, "{text}");
    assert!(added[0].ends_with("md5"), "{text}");

    let r = sb.run(&pb("md5", "absent"), &[]);
    r.assert_ok();
    assert_eq!(r.status("hba"), "changed");
    assert_eq!(sb.read("pg_hba.conf"), HBA);

    let r = sb.run(&pb("md5", "absent"), &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0);
}

#[test]
fn postgresql_query_select_insert_args() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let db = unique("it_qdb");
    pg.psql(&format!("CREATE DATABASE {db}"));
    pg.psql_db(&db, "CREATE TABLE items (id int PRIMARY KEY, name text)");
    let pb = pg_play(
        &r#"
- name: insert positional
  postgresql_query:
    <<: *pg
    login_db: @DB@
    query: INSERT INTO items (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING
    positional_args: [1, "it's one"]
- name: insert named
  postgresql_query:
    <<: *pg
    login_db: @DB@
    query: INSERT INTO items (id, name) VALUES (%(id)s, %(name)s) ON CONFLICT DO NOTHING
    named_args:
      id: 2
      name: two
- name: select
  postgresql_query:
    <<: *pg
    login_db: @DB@
    query: SELECT id, name FROM items WHERE id >= %s ORDER BY id
    positional_args: [1]
  register: sel
"#
        .replace("@DB@", &db),
    );
    let count = || pg.psql_db(&db, "SELECT count(*) FROM items");

    let r = sb.run(&pb, &["--check"]);
    r.assert_ok();
    assert_eq!(r.status("insert positional"), "changed", "{}", r.dump());
    assert_eq!(count(), "0", "check mode inserted rows");
    assert_eq!(r.status("select"), "ok");

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(count(), "2");
    assert_eq!(
        pg.psql_db(&db, "SELECT name FROM items WHERE id = 1"),
        "it's one"
    );
    let ins = &r.result("insert positional")["result"];
    assert_eq!(ins["rowcount"], 1, "{}", r.dump());
    assert_eq!(r.status("insert positional"), "changed");
    assert_eq!(r.result("insert named")["result"]["rowcount"], 1);
    let sel = &r.result("select")["result"];
    assert_eq!(r.status("select"), "ok");
    assert_eq!(sel["rowcount"], 2);
    assert_eq!(
        sel["query_result"],
        json!([{"id": 1, "name": "it's one"}, {"id": 2, "name": "two"}])
    );

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
    assert_eq!(r.result("insert positional")["result"]["rowcount"], 0);
    assert_eq!(count(), "2");
}

#[test]
fn postgresql_ping_up_and_down() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let pb = pg_play(
        r#"
- name: ping
  community.postgresql.postgresql_ping:
    <<: *pg
  register: p
- name: ping wrong port
  postgresql_ping:
    port: 1
    login_unix_socket: "{{ pg_sock }}"
  register: p2
- name: checks
  assert:
    that:
      - p.is_available
      - p.server_version.major == 15
      - not p2.is_available
"#,
    );
    for args in [&["--check"][..], &[][..]] {
        let r = sb.run(&pb, args);
        r.assert_ok();
        assert_eq!(r.status("checks"), "ok", "{}", r.dump());
        assert_eq!(r.changed("local1"), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Loops and conditions
// ---------------------------------------------------------------------------------------------

#[test]
fn loops_with_items_labels_and_loop_var() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: loop labels
  debug: msg="{{ item.name }}"
  loop:
    - {name: alpha, extra: one}
    - {name: beta, extra: two}
  loop_control:
    label: "{{ item.name }}"
  register: lr
- name: with_items flat
  debug: msg="{{ item }}"
  with_items:
    - [1, 2]
    - 3
  register: wi
- name: custom loop var
  debug: msg="{{ pkg }}-{{ ansible_loop.index }}"
  loop: [x, y]
  loop_control:
    loop_var: pkg
    extended: yes
- name: files
  copy:
    content: "{{ item }}"
    dest: "@D@/{{ item }}.txt"
  loop: [f1, f2]
- name: results
  assert:
    that:
      - lr.results | length == 2
      - lr.results[1].msg == 'beta'
      - wi.results | map(attribute='item') | list == [1, 2, 3]
"#,
        ),
        &[],
    );
    r.assert_ok();
    let items: Vec<Value> = r
        .results_of("loop labels")
        .iter()
        .map(|e| e["item"].clone())
        .collect();
    assert_eq!(items, vec![json!("alpha"), json!("beta")], "label shown");
    let msgs: Vec<Value> = r
        .results_of("custom loop var")
        .iter()
        .map(|e| e["msg"].clone())
        .collect();
    assert_eq!(msgs, vec![json!("x-1"), json!("y-2")]);
    assert_eq!(r.results_of("with_items flat").len(), 3);
    assert_eq!(sb.read("f1.txt"), "f1");
    assert_eq!(sb.read("f2.txt"), "f2");
    assert_eq!(r.status("results"), "ok", "{}", r.dump());
}

#[test]
fn newline_after_a_lone_expression_is_kept() {
    // `"{{ x }}\n"` renders to the value followed by a newline, as in every Ansible version; the
    // newline must not be dropped because the rest of the string is a single expression.
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: write
  copy:
    content: "{{ word }}\n"
    dest: @D@/word.txt
  vars:
    word: f1
- name: show
  debug:
    msg: "{{ word }}\n"
  vars:
    word: f1
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(r.result("show")["msg"], "f1\n", "{}", r.dump());
    assert_eq!(sb.read("word.txt"), "f1\n");
}

#[test]
fn when_conditions_single_list_and_per_item() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: reg
  command: echo yes
  register: r
  changed_when: false
- name: runs when true
  debug: msg=a
  when: r.stdout == 'yes'
- name: skipped when false
  debug: msg=b
  when: r.stdout == 'no'
- name: list is and
  debug: msg=c
  when:
    - r.rc == 0
    - r.stdout == 'no'
- name: per item
  debug: msg="{{ item }}"
  loop: [1, 2, 3]
  when: item > 1
- name: bool filter
  debug: msg=d
  when: "'yes' | bool"
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(r.status("runs when true"), "ok");
    assert_eq!(r.status("skipped when false"), "skipped");
    assert_eq!(r.status("list is and"), "skipped");
    assert_eq!(statuses(&r, "per item"), ["skipped", "ok", "ok"]);
    assert_eq!(r.status("bool filter"), "ok");
}

// ---------------------------------------------------------------------------------------------
// Blocks, handlers, tags
// ---------------------------------------------------------------------------------------------

#[test]
fn block_rescue_always_recovers() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: guarded
  block:
    - name: boom
      command: /bin/false
    - name: not reached
      debug: msg=x
  rescue:
    - name: rescued
      debug: msg=rescued
  always:
    - name: always ran
      debug: msg=always
- name: after
  debug: msg=after
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(r.status("boom"), "failed");
    assert!(!r.ran("not reached"));
    assert_eq!(
        r.task_order(),
        ["boom", "rescued", "always ran", "after"],
        "{}",
        r.dump()
    );
    assert_eq!(r.stats("local1").2, 0, "a rescued failure is not a failure");
}

#[test]
fn block_without_rescue_runs_always_then_fails() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- block:
    - name: boom
      command: /bin/false
  always:
    - name: cleanup
      copy: content=x dest=@D@/cleanup
- name: after
  debug: msg=after
"#,
        ),
        &[],
    );
    r.assert_code(2);
    assert!(r.ran("cleanup"));
    assert!(sb.exists("cleanup"));
    assert!(!r.ran("after"));
    assert_eq!(r.stats("local1").2, 1);
}

#[test]
fn handlers_notify_flush_and_listen() {
    let sb = Sandbox::new();
    let pb = r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: change one
      copy: content=a dest=@D@/h1.txt
      notify: write marker
    - name: change two
      copy: content=b dest=@D@/h2.txt
      notify: [write marker, topic]
    - name: flush
      meta: flush_handlers
    - name: after flush
      stat: path=@D@/marker
      register: m
    - name: marker exists after flush
      assert:
        that: m.stat.exists
    - name: unchanged
      command: echo x
      changed_when: false
      notify: never runs
  handlers:
    - name: write marker
      shell: echo run >> @D@/marker
    - name: by topic
      shell: echo topic >> @D@/topic
      listen: topic
    - name: never runs
      shell: touch @D@/never
"#;
    let r = sb.run(pb, &[]);
    r.assert_ok();
    assert_eq!(sb.read("marker"), "run\n", "handler must run once");
    assert_eq!(sb.read("topic"), "topic\n");
    assert!(!sb.exists("never"));
    let order = r.task_order();
    let pos = |n: &str| order.iter().position(|t| t == n).unwrap_or(usize::MAX);
    assert!(pos("write marker") < pos("after flush"), "{order:?}");
    assert!(
        r.events.iter().any(|e| e["event"] == "task_start"
            && e["task"] == "write marker"
            && e["handler"] == true),
        "handler start event not marked as handler"
    );

    let r = sb.run(pb, &[]);
    r.assert_ok();
    assert!(!r.ran("write marker"), "nothing changed, no handler");
    assert_eq!(sb.read("marker"), "run\n");
}

#[test]
fn handlers_run_at_end_of_play_without_flush() {
    let sb = Sandbox::new();
    let r = sb.run(
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: change
      copy: content=a dest=@D@/c.txt
      notify: later
    - name: last task
      debug: msg=last
  handlers:
    - name: later
      debug: msg=handler
"#,
        &[],
    );
    r.assert_ok();
    assert_eq!(r.task_order(), ["change", "last task", "later"]);
}

#[test]
fn tags_and_skip_tags() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: t_a
  debug: msg=a
  tags: [a]
- name: t_b
  debug: msg=b
  tags: b
- name: t_always
  debug: msg=always
  tags: [always]
- name: t_never
  debug: msg=never
  tags: [never, debugonly]
- name: t_none
  debug: msg=none
- block:
    - name: t_in_block
      debug: msg=inblock
  tags: [blk]
"#,
    );
    let ran = |args: &[&str]| {
        let r = sb.run(&pb, args);
        r.assert_ok();
        r.task_order()
    };
    assert_eq!(ran(&[]), ["t_a", "t_b", "t_always", "t_none", "t_in_block"]);
    assert_eq!(ran(&["--tags", "a"]), ["t_a", "t_always"]);
    assert_eq!(ran(&["--tags", "a,b"]), ["t_a", "t_b", "t_always"]);
    assert_eq!(ran(&["--tags", "blk"]), ["t_always", "t_in_block"]);
    assert_eq!(ran(&["--tags", "debugonly"]), ["t_always", "t_never"]);
    assert_eq!(
        ran(&["--skip-tags", "a"]),
        ["t_b", "t_always", "t_none", "t_in_block"]
    );
    assert_eq!(
        ran(&["--skip-tags", "always,blk"]),
        ["t_a", "t_b", "t_none"]
    );
}

// ---------------------------------------------------------------------------------------------
// no_log, includes
// ---------------------------------------------------------------------------------------------

#[test]
fn no_log_hides_values_from_output_and_journal() {
    let sb = Sandbox::new();
    let secret = "Marker-9f3a-Zq7";
    let r = sb.run(
        &format!(
            "- hosts: all\n  gather_facts: no\n  vars:\n    hidden_val: {secret}\n  tasks:\n{}",
            indent(
                r#"
- name: secret debug
  debug:
    msg: "value is {{ hidden_val }}"
  no_log: true
- name: secret shell
  shell: echo "{{ hidden_val }}"; echo "{{ hidden_val }}" >&2
  no_log: yes
  register: sh
- name: secret loop
  debug: msg="{{ item }}"
  loop: ["{{ hidden_val }}"]
  no_log: true
- name: secret failure
  fail:
    msg: "failed with {{ hidden_val }}"
  no_log: true
  ignore_errors: yes
- name: visible
  debug: msg=visible
"#,
                4
            )
        ),
        &["-v"],
    );
    r.assert_ok();
    assert!(
        !r.stdout.contains(secret),
        "secret in stdout:\n{}",
        r.stdout
    );
    assert!(!r.stderr.contains(secret), "secret in stderr");
    let journal = sb.journal();
    assert!(journal.contains("secret debug"), "journal incomplete");
    assert!(!journal.contains(secret), "secret in the journal");
    for t in ["secret debug", "secret shell", "secret failure"] {
        let msg = r.result(t)["msg"].as_str().unwrap_or_default().to_string();
        assert!(
            msg.contains("no_log"),
            "{t}: censored marker expected, got {msg:?}"
        );
    }
    assert_eq!(r.status("secret failure"), "failed");
    assert_eq!(r.result("visible")["msg"], "visible");
}

#[test]
fn include_and_import_tasks() {
    let sb = Sandbox::new();
    sb.write(
        "tasks/inc.yml",
        r#"
- name: included one
  debug: msg="from include {{ inc_var }}"
- name: included two
  copy: content=x dest=@D@/from_include
"#,
    );
    sb.write(
        "tasks/imp.yml",
        "- name: imported\n  copy: content=x dest=@D@/from_import\n",
    );
    let r = sb.run(
        &play(
            r#"
- name: inc
  include_tasks: tasks/inc.yml
  vars:
    inc_var: hello
- import_tasks: tasks/imp.yml
  when: false
- ansible.builtin.import_tasks:
    file: tasks/imp.yml
  tags: [imp]
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(r.result("included one")["msg"], "from include hello");
    assert!(sb.exists("from_include"));
    assert_eq!(
        statuses(&r, "imported"),
        ["skipped", "changed"],
        "{}",
        r.dump()
    );
    assert!(sb.exists("from_import"));
}

// ---------------------------------------------------------------------------------------------
// Variables
// ---------------------------------------------------------------------------------------------

#[test]
fn vars_precedence_inventory_play_files_setfact_extra() {
    let sb = Sandbox::with_inventory(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n      a: inv\n      b: inv\n      c: inv\n      d: inv\n      e: inv\n",
    );
    sb.write("vars/common.yml", "c: vf\nd: vf\ne: vf\n");
    let pb = format!(
        "- hosts: all\n  gather_facts: no\n  vars:\n    b: play\n    c: play\n    d: play\n    e: play\n  vars_files:\n    - vars/common.yml\n  tasks:\n{}",
        indent(
            r#"
- name: before set_fact
  assert:
    that:
      - a == 'inv'
      - b == 'play'
      - c == 'vf'
      - d == 'vf'
      - e == 'extra'
- name: block and task vars
  block:
    - name: in block
      assert:
        that:
          - b == 'block'
          - c == 'task'
      vars:
        c: task
  vars:
    b: block
- name: set facts
  set_fact:
    d: sf
    e: sf
- name: after set_fact
  assert:
    that:
      - d == 'sf'
      - e == 'extra'
- name: task vars lose to set_fact
  assert:
    that: d == 'sf'
  vars:
    d: taskvar
"#,
            4
        )
    );
    let r = sb.run(&pb, &["-e", "e=extra"]);
    r.assert_ok();
    for t in [
        "before set_fact",
        "in block",
        "after set_fact",
        "task vars lose to set_fact",
    ] {
        assert_eq!(r.status(t), "ok", "{t}\n{}", r.dump());
    }
}

#[test]
fn extra_vars_from_file_inline_and_kv() {
    let sb = Sandbox::new();
    sb.write("extra.yml", "e: from_file\nlisty: [1, 2]\nnested: {k: v}\n");
    let r = sb.run(
        &play(
            r#"
- name: check
  assert:
    that:
      - e == 'cli'
      - listy | length == 2
      - nested.k == 'v'
      - num == '5'
      - num is string
      - obj.k == 1
"#,
        ),
        &[
            "-e",
            "@@D@/extra.yml",
            "-e",
            "e=cli num=5",
            "-e",
            r#"{"obj": {"k": 1}}"#,
        ],
    );
    r.assert_ok();
    assert_eq!(r.status("check"), "ok", "{}", r.dump());
}

#[test]
fn magic_variables_hostvars_groups() {
    let sb = Sandbox::with_inventory(
        r#"all:
  vars:
    common: everyone
  children:
    dbservers:
      hosts:
        h1:
          ansible_connection: local
          role_name: primary
    web:
      hosts:
        h2:
          ansible_connection: local
          role_name: frontend
"#,
    );
    let pb = play(
        r#"
- name: magic
  assert:
    that:
      - inventory_hostname in ['h1', 'h2']
      - group_names == (['dbservers'] if inventory_hostname == 'h1' else ['web'])
      - groups['dbservers'] == ['h1']
      - groups['web'] == ['h2']
      - groups['all'] | sort == ['h1', 'h2']
      - hostvars['h2'].role_name == 'frontend'
      - hostvars['h1']['role_name'] == 'primary'
      - hostvars[inventory_hostname].role_name == role_name
      - common == 'everyone'
      - ansible_play_hosts | sort == ['h1', 'h2']
      - playbook_dir == '@D@'
- name: who
  debug: msg="{{ inventory_hostname }}"
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.results_of("magic").len(), 2, "{}", r.dump());
    assert!(
        statuses(&r, "magic").iter().all(|s| s == "ok"),
        "{}",
        r.dump()
    );

    let r = sb.run(
        &pb.replace("ansible_play_hosts | sort == ['h1', 'h2']", "true"),
        &["--limit", "h2"],
    );
    r.assert_ok();
    assert!(r.has_stats_for("h2"));
    assert!(!r.has_stats_for("h1"), "--limit h2 ran h1\n{}", r.dump());
    let who: Vec<Value> = r
        .results_of("who")
        .iter()
        .map(|e| e["host"].clone())
        .collect();
    assert_eq!(who, vec![json!("h2")]);

    let r = sb.run(
        &pb.replace("ansible_play_hosts | sort == ['h1', 'h2']", "true"),
        &["--limit", "dbservers"],
    );
    r.assert_ok();
    let who: Vec<Value> = r
        .results_of("who")
        .iter()
        .map(|e| e["host"].clone())
        .collect();
    assert_eq!(who, vec![json!("h1")]);
}

// ---------------------------------------------------------------------------------------------
// Retries, errors, changed_when/failed_when, check_mode keyword
// ---------------------------------------------------------------------------------------------

#[test]
fn until_retries_delay() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: count up
  shell: n=$(cat @D@/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > @D@/n; echo $n
  register: c
  until: c.stdout == '3'
  retries: 5
  delay: 0
- name: attempts
  assert:
    that: c.attempts == 3
- name: never true
  shell: echo 1
  register: d
  until: d.stdout == '2'
  retries: 2
  delay: 0
  ignore_errors: yes
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(sb.read("n"), "3\n");
    assert_eq!(r.status("attempts"), "ok", "{}", r.dump());
    let n = r.result("never true");
    assert_eq!(n["status"], "failed");
    assert_eq!(n["result"]["attempts"], 3, "{}", r.dump());
    assert!(
        n["msg"].as_str().unwrap_or_default().contains("Retried"),
        "{}",
        r.dump()
    );
}

#[test]
fn ignore_errors_changed_when_failed_when() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play(
            r#"
- name: ignored
  command: /bin/false
  ignore_errors: yes
- name: cw false
  command: echo boom
  register: o
  changed_when: false
- name: fw on output
  command: echo boom
  register: o2
  failed_when: "'boom' in o2.stdout"
  ignore_errors: true
- name: fw false on rc 1
  command: /bin/false
  failed_when: false
- name: cw on rc
  shell: exit 0
  register: o3
  changed_when: o3.rc == 0
- name: last
  debug: msg=reached
"#,
        ),
        &[],
    );
    r.assert_ok();
    let i = r.result("ignored");
    assert_eq!(i["status"], "failed");
    assert_eq!(i["ignored"], true);
    assert_eq!(r.status("cw false"), "ok");
    assert_eq!(r.status("fw on output"), "failed");
    // command always reports a change; failed_when: false only clears the failure (as Ansible).
    assert_eq!(r.status("fw false on rc 1"), "changed");
    assert_eq!(r.result("fw false on rc 1")["rc"], 1);
    assert_eq!(r.status("cw on rc"), "changed");
    assert!(r.ran("last"));
    // ansible-playbook 2.19 on this playbook: changed=4 — the two ignored failures changed
    // something (a command always does), and 2.19's strategy counts that as changed too.
    let (_, changed, failed, _, _) = r.stats("local1");
    assert_eq!((changed, failed), (4, 0), "{}", r.dump());
}

#[test]
fn check_mode_keyword_overrides_the_run_mode() {
    let sb = Sandbox::new();
    let pb = play(
        r#"
- name: forced
  copy: content=real dest=@D@/forced.txt
  check_mode: false
- name: dry
  copy: content=dry dest=@D@/dry.txt
- name: always dry
  copy: content=x dest=@D@/always-dry.txt
  check_mode: yes
"#,
    );
    let r = sb.run(&pb, &["--check"]);
    r.assert_ok();
    assert_eq!(sb.read("forced.txt"), "real");
    assert!(!sb.exists("dry.txt"));
    assert!(!sb.exists("always-dry.txt"));

    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert!(sb.exists("dry.txt"));
    assert!(
        !sb.exists("always-dry.txt"),
        "check_mode: yes wrote the file"
    );
    assert_eq!(r.status("always dry"), "changed");
}

// ---------------------------------------------------------------------------------------------
// YAML 1.1, FQCN, become
// ---------------------------------------------------------------------------------------------

#[test]
fn yaml11_fqcn_and_become() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    std::fs::create_dir(sb.p("pgown")).expect("mkdir");
    let o = std::process::Command::new("chown")
        .args(["postgres:postgres", &sb.p("pgown").display().to_string()])
        .output()
        .expect("chown");
    assert!(o.status.success());
    // The sandbox is 0700 root: let postgres traverse it.
    std::fs::set_permissions(
        sb.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let pb = r#"
- hosts: all
  gather_facts: no
  become: yes
  tasks:
    - name: fq copy
      ansible.builtin.copy:
        content: "x\n"
        dest: @D@/fq.txt
        mode: 0604
        force: no
    - name: fq lineinfile
      ansible.builtin.lineinfile:
        path: @D@/fq.txt
        line: "y"
    - name: as postgres
      ansible.builtin.command: id -un
      become_user: postgres
      register: who
      changed_when: no
    - name: write as postgres
      ansible.builtin.copy:
        content: "pg\n"
        dest: @D@/pgown/owned.txt
      become_user: postgres
    - name: fq pg
      community.postgresql.postgresql_ping:
        port: "{{ pg_port }}"
        login_unix_socket: "{{ pg_sock }}"
      register: ping
    - name: check
      ansible.builtin.assert:
        that:
          - who.stdout == 'postgres'
          - ping.is_available
"#;
    let r = sb.run(pb, &[]);
    r.assert_ok();
    assert_eq!(sb.read("fq.txt"), "x\ny\n");
    assert_eq!(mode_of(&sb.p("fq.txt")), 0o604);
    assert_eq!(r.status("check"), "ok", "{}", r.dump());
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(sb.p("pgown/owned.txt")).expect("owned.txt");
    let pg_uid = String::from_utf8_lossy(
        &std::process::Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .expect("id")
            .stdout,
    )
    .trim()
    .parse::<u32>()
    .expect("uid");
    assert_eq!(meta.uid(), pg_uid, "file not written as postgres");

    let r = sb.run(pb, &[]);
    r.assert_ok();
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
}

#[test]
fn journal_is_written_private_and_complete() {
    let sb = Sandbox::new();
    let r = sb.run(&play("- name: one\n  debug: msg=hi\n"), &[]);
    r.assert_ok();
    let files = sb.journal_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode_of(&files[0]), 0o600);
    let lines: Vec<Value> = sb
        .journal()
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal line is JSON"))
        .collect();
    assert_eq!(
        lines.first().map(|e| e["event"].clone()),
        Some(json!("playbook_start"))
    );
    assert_eq!(
        lines.last().map(|e| e["event"].clone()),
        Some(json!("stats"))
    );
    assert_eq!(lines.len(), r.events.len(), "journal and --json differ");
    let stats = r.stats_event().expect("stats");
    assert_eq!(stats["cancelled"], false);
    assert_eq!(
        stats["hosts"]["local1"],
        json!({"ok": 1, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0})
    );
}

#[test]
fn copy_of_a_large_file_streams_and_is_idempotent() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.p("files")).expect("mkdir");
    std::fs::create_dir(sb.p("out")).expect("mkdir");
    // 110 MB with a varying pattern, so a truncated or reordered upload cannot match.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(sb.p("files/big.bin")).expect("create");
        let block: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        for n in 0..110u8 {
            let mut b = block.clone();
            b[0] = n;
            f.write_all(&b).expect("write");
        }
    }
    let pb = play(
        r#"
- name: upload
  copy:
    src: big.bin
    dest: @D@/out/big.bin
    mode: "0600"
"#,
    );
    let r = sb.run(&pb, &["--check", "--diff"]);
    r.assert_ok();
    assert!(!sb.exists("out/big.bin"), "check mode wrote the file");
    assert_eq!(r.status("upload"), "changed");
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.status("upload"), "changed");
    let a = std::fs::read(sb.p("files/big.bin")).expect("read src");
    let b = std::fs::read(sb.p("out/big.bin")).expect("read dest");
    assert_eq!(a.len(), b.len());
    assert!(a == b, "uploaded content differs");
    assert_eq!(mode_of(&sb.p("out/big.bin")), 0o600);
    let r = sb.run(&pb, &[]);
    r.assert_ok();
    assert_eq!(r.status("upload"), "ok", "{}", r.dump());
}

#[test]
fn postgresql_privs_default_privileges() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let db = unique("it_defpriv");
    let role = unique("it_defpriv_role");
    pg.psql(&format!("CREATE ROLE {role} LOGIN"));
    pg.psql(&format!("CREATE DATABASE {db}"));
    let play_text = |state: &str| {
        pg_play(
            &r#"
- name: default privs
  postgresql_privs:
    <<: *pg
    database: @DB@
    type: default_privs
    objs: TABLES
    privs: SELECT,INSERT
    roles: @ROLE@
    state: @STATE@
"#
            .replace("@DB@", &db)
            .replace("@ROLE@", &role)
            .replace("@STATE@", state),
        )
    };
    let count = || {
        pg.psql_db(
            &db,
            &format!(
                "SELECT count(*) FROM pg_default_acl d, aclexplode(d.defaclacl) e \
                 WHERE d.defaclobjtype = 'r' AND e.grantee = (SELECT oid FROM pg_roles WHERE rolname = '{role}')"
            ),
        )
    };
    let present = play_text("present");
    let r = sb.run(&present, &["--check"]);
    r.assert_ok();
    assert_eq!(r.status("default privs"), "changed");
    assert_eq!(count().trim(), "0", "check mode granted");
    let r = sb.run(&present, &[]);
    r.assert_ok();
    assert_eq!(r.status("default privs"), "changed");
    assert_eq!(count().trim(), "2");
    // A table created afterwards by the owner gets the privileges.
    pg.psql_db(&db, "CREATE TABLE later (id int)");
    let has = pg.psql_db(
        &db,
        &format!("SELECT has_table_privilege('{role}', 'later', 'SELECT')"),
    );
    assert_eq!(has.trim(), "t");
    let r = sb.run(&present, &[]);
    r.assert_ok();
    assert_eq!(r.status("default privs"), "ok", "{}", r.dump());
    let r = sb.run(&play_text("absent"), &[]);
    r.assert_ok();
    assert_eq!(r.status("default privs"), "changed");
    assert_eq!(count().trim(), "0");
}

#[test]
fn playbook_dir_is_absolute_for_a_relative_playbook_path() {
    let sb = Sandbox::new();
    sb.write(
        "rel.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: where\n      copy:\n        content: \"{{ playbook_dir }}\\n\"\n        dest: \"{{ playbook_dir }}/where.txt\"\n",
    );
    let inv = sb.inventory().display().to_string();
    let r = sb.run_raw(&["run", "rel.yml", "-i", &inv, "--json"]);
    r.assert_ok();
    let canonical = std::fs::canonicalize(sb.path()).expect("canonical");
    let written = sb.read("where.txt");
    assert_eq!(
        std::fs::canonicalize(written.trim()).expect("written path exists"),
        canonical,
        "{}",
        r.dump()
    );
}

#[test]
fn become_with_su_still_switches_user_after_facts_gathered_through_su() {
    let sb = Sandbox::new();
    let pb = "- hosts: all
  become: true
  become_method: su
  become_user: postgres
  gather_facts: true
  tasks:
    - name: who
      command: id -un
";
    let r = sb.run(pb, &[]);
    r.assert_ok();
    assert_eq!(r.result("who")["stdout"], "postgres", "{}", r.dump());
}

/// `run … | head -1`: the reader goes away after one line. The run stops as on Ctrl-C (no new
/// task starts) and exits quietly with 141, the status a shell shows for a CLI ended by SIGPIPE,
/// instead of panicking (101) or running on unseen.
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::io::{BufRead, Read};
    use std::process::{Command, Stdio};
    for json in [false, true] {
        let sb = Sandbox::new();
        let pb = sb.write(
            "pb.yml",
            &play(
                "- debug: msg=one\n- command: sleep 1\n- command: sleep 1\n- file: path=@D@/late state=touch\n",
            ),
        );
        let mut cmd = Command::new(cmd::BIN);
        cmd.arg("run")
            .arg(&pb)
            .arg("-i")
            .arg(sb.inventory())
            .env("XDG_STATE_HOME", sb.state_dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd.spawn().expect("spawn slm-wizard");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read the first line");
        // The BufReader (and with it the pipe's read end) is dropped here, as `head -1` exits.
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("read stderr");
        let status = child.wait().expect("wait");
        let what = format!("json={json}: first line {first:?}, stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{what}");
        assert!(!stderr.contains("Broken pipe"), "{what}");
        assert_eq!(status.code(), Some(141), "{what}");
        assert!(
            !sb.exists("late"),
            "tasks kept starting after stdout closed; {what}"
        );
    }
}

/// Commands that print to stdout, started with a pipe whose reader is already gone: exit 141
/// without a word on stderr (`secrets path` panicked with 101; `run` ran on unseen; `health`
/// ended as if all was read).
#[test]
fn commands_writing_into_a_closed_pipe_exit_quietly() {
    use std::process::{Command, Stdio};
    let sb = Sandbox::new();
    let pb = sb.write("pb.yml", &play("- debug: msg=one\n"));
    // Nothing listens on port 1: health reports the database down, on stdout.
    let env = sb.write(
        "db.env",
        "SLM_DATABASE_URL=postgresql://u:p@127.0.0.1:1/slm\n",
    );
    let pb = pb.display().to_string();
    let inv = sb.inventory().display().to_string();
    let env = env.display().to_string();
    let commands: [&[&str]; 5] = [
        &["run", &pb, "-i", &inv],
        &["run", &pb, "-i", &inv, "--json"],
        &["inventory", "-i", &inv, "--list"],
        &["secrets", "path", &pb, "-i", &inv],
        &["health", "--json", "--env-file", &env, "--timeout", "1"],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(cmd::BIN)
            .args(args)
            .env("XDG_STATE_HOME", sb.state_dir())
            .env("NO_COLOR", "1")
            .env_remove("SLM_DATABASE_URL")
            .env_remove("SLM_USERS_DATABASE_URL")
            .env_remove("AUTOBOT_USERS_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run slm-wizard");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}\n{stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

/// Fact gathering is no task of the playbook: its `--json` events carry no `task_id` (they carried
/// the engine's internal u64::MAX), while the playbook's tasks keep theirs, counted from 0.
#[test]
fn fact_gathering_events_carry_no_task_id() {
    let sb = Sandbox::new();
    let r = sb.run(
        "- hosts: all\n  gather_facts: yes\n  tasks:\n    - debug: msg=one\n    - debug: msg=two\n- hosts: all\n  tasks:\n    - debug: msg=three\n",
        &[],
    );
    r.assert_ok();
    let events_of = |name: &str| -> Vec<&Value> {
        r.events
            .iter()
            .filter(|e| {
                (e["event"] == "task_start" || e["event"] == "task_result") && e["task"] == name
            })
            .collect()
    };
    let facts = events_of("Gathering Facts");
    // Each play gathers (ansible's default `gathering = implicit`): a start and a result each.
    assert_eq!(
        facts.len(),
        4,
        "one start, one result per play\n{}",
        r.dump()
    );
    for e in facts {
        assert_eq!(e.get("task_id"), None, "{e}");
        assert_eq!(e["module"], "setup", "{e}");
    }
    let mut ids: Vec<u64> = events_of("debug")
        .iter()
        .map(|e| e["task_id"].as_u64().unwrap_or(u64::MAX))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids, vec![0, 1, 2], "{}", r.dump());
}

// ---------------------------------------------------------------------------------------------
// secrets never leak (issue 18: findings 1, 2)
// ---------------------------------------------------------------------------------------------

/// Runs `playbook` (`--json`, sandbox inventory) with extra environment variables.
fn run_with_env(sb: &Sandbox, playbook: &str, args: &[&str], env: &[(&str, &str)]) -> cmd::Run {
    let pb = sb.write("env-pb.yml", playbook);
    let inv = sb.inventory();
    let mut cmd = std::process::Command::new(cmd::BIN);
    cmd.arg("run")
        .arg(&pb)
        .arg("-i")
        .arg(&inv)
        .arg("--json")
        .args(args)
        .current_dir(sb.path())
        .env("XDG_STATE_HOME", sb.state_dir())
        .env("NO_COLOR", "1")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = cmd::run_with_timeout(cmd, std::time::Duration::from_secs(90));
    cmd::Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: out.code,
        events: out
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect(),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

#[test]
fn controller_environment_reaches_neither_json_nor_journal() {
    let sb = Sandbox::new();
    let r = run_with_env(
        &sb,
        r#"
- hosts: all
  tasks:
    - name: home from facts
      debug:
        msg: "home={{ ansible_env.HOME }}"
    - name: explicit facts
      setup:
"#,
        &[],
        &[
            (
                "SLM_DATABASE_URL",
                "postgresql+asyncpg://slm_app:SECRETXYZ@h/db",
            ),
            ("PGPASSWORD", "SECRETPGX"),
        ],
    );
    r.assert_ok();
    let journal = sb.journal();
    assert!(journal.contains("explicit facts"), "journal incomplete");
    for secret in ["SECRETXYZ", "SECRETPGX"] {
        assert!(
            !r.stdout.contains(secret),
            "{secret} in stdout:\n{}",
            r.stdout
        );
        assert!(!journal.contains(secret), "{secret} in the journal");
    }
    // Facts still work, implicit gathering stays out of the event stream, `setup` shows facts.
    let home = std::env::var("HOME").unwrap_or_default();
    assert_eq!(r.result("home from facts")["msg"], format!("home={home}"));
    assert_eq!(
        r.result("Gathering Facts")["result"].get("ansible_facts"),
        None,
        "{}",
        r.dump()
    );
    assert_eq!(
        r.result("explicit facts")["result"]["ansible_facts"]["env"]["HOME"],
        home.as_str(),
        "{}",
        r.dump()
    );
}

#[test]
fn secrets_are_masked_in_names_templates_nesting_vault_encodings_and_split_output() {
    let sb = Sandbox::new();
    sb.write("pw.txt", "LookupPw-4242\n");
    sb.write("vault-pass", "vault-pass-for-test\n");
    let vault_text = slm_wizard::secrets::vault::encrypt(
        b"api_key: VaultVal-808\nplain_name: VaultOther-909\nport_number: 7341\n",
        b"vault-pass-for-test",
        None,
    );
    sb.write("vault.yml", &vault_text);
    let pb = r#"
- hosts: all
  gather_facts: no
  vars_files: [vault.yml]
  vars:
    db_password: NamePw-5150
    a: Tmpl
    b: Glued-61
    x_password: "{{ a ~ b }}"
    pin_password: 31337
    users:
      - name: bob
        password: NestedPw-77
    file_password: "{{ lookup('file', '@D@/pw.txt') }}"
    split_secret: SPLIT-SECRET-99
    short_token: q7
  tasks:
    - name: "login with {{ db_password }}"
      debug:
        msg: ok
    - name: set
      set_fact:
        fact_token: "{{ 'Fact' ~ 'Tok-123' }}"
    - name: show
      debug:
        msg: >-
          {{ x_password }} {{ pin_password }} {{ users[0].password }} {{ fact_token }}
          {{ file_password }} {{ (x_password ~ '/x y') | urlencode }} {{ x_password | b64encode }}
          {{ api_key }} {{ plain_name }} {{ port_number }} [{{ short_token }}] aq7b
    - name: split
      shell: "printf 'SPLIT-'; sleep 0.5; printf 'SECRET-99 done\\n'"
"#;
    let r = sb.run(
        pb,
        &[
            "-v",
            "--vault-password-file",
            &sb.p("vault-pass").display().to_string(),
        ],
    );
    r.assert_ok();
    let journal = sb.journal();
    assert!(journal.contains("\"split\""), "journal incomplete");
    let split_output: String = r
        .events
        .iter()
        .filter(|e| e["event"] == "output")
        .map(|e| e["data"].as_str().unwrap_or_default())
        .collect();
    for secret in [
        "NamePw-5150",
        "TmplGlued-61",
        "31337",
        "NestedPw-77",
        "FactTok-123",
        "LookupPw-4242",
        "TmplGlued-61%2Fx%20y",
        "VG1wbEdsdWVkLTYx",
        "VaultVal-808",
        "VaultOther-909",
        "7341",
        "[q7]",
    ] {
        assert!(
            !r.stdout.contains(secret),
            "{secret} in stdout:\n{}",
            r.stdout
        );
        assert!(!journal.contains(secret), "{secret} in the journal");
    }
    assert!(
        !split_output.contains("SPLIT-SECRET-99"),
        "secret split across output chunks shown: {split_output:?}"
    );
    assert!(split_output.contains("******** done"), "{split_output:?}");
    let shown = r.result("show")["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        shown.contains("[********] aq7b"),
        "short secrets: whole tokens only: {shown}"
    );
    assert!(r.ran("login with ********"), "{}", r.dump());
}

#[test]
fn controller_writes_privately_cannot_dump_core_and_targets_keep_their_umask() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    // A journal directory left world-readable (older versions, another umask) is made private.
    let runs = sb.state_dir().join("slm-wizard").join("runs");
    std::fs::create_dir_all(&runs).expect("runs dir");
    std::fs::set_permissions(&runs, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let r = sb.run(
        &play(
            r#"
- name: controller
  # The engine's process: the first ancestor that is not a shell.
  shell: >-
    p=$PPID;
    while [ "$(cat /proc/$p/comm)" = sh ]; do p=$(cut -d' ' -f4 /proc/$p/stat); done;
    cat /proc/$p/comm; grep Umask /proc/$p/status; grep 'core file' /proc/$p/limits
  changed_when: false
- name: target file
  copy:
    content: x
    dest: "@D@/plain"
"#,
        ),
        &[],
    );
    r.assert_ok();
    let out = r.result("controller")["stdout"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(out.starts_with("slm-wizard\n"), "{out}");
    assert!(out.contains("Umask:\t0077"), "controller umask: {out}");
    assert!(
        out.split_whitespace()
            .collect::<Vec<_>>()
            .windows(3)
            .any(|w| w == ["size", "0", "0"]),
        "core dumps: {out}"
    );
    assert_eq!(mode_of(&runs), 0o700);
    for f in sb.journal_files() {
        assert_eq!(mode_of(&f), 0o600, "{}", f.display());
    }
    // The target's own umask (the test's) still applies to what a task creates.
    let umask = std::process::Command::new("sh")
        .args(["-c", "umask"])
        .output()
        .expect("sh umask");
    let umask = u32::from_str_radix(String::from_utf8_lossy(&umask.stdout).trim(), 8)
        .expect("umask is octal");
    assert_eq!(mode_of(&sb.p("plain")), 0o666 & !umask);
}

#[test]
fn wizard_log_is_private_even_when_left_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let logs = root.join("state/slm-wizard/logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    std::fs::write(logs.join("wizard.log"), "old\n").expect("old log");
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(
        logs.join("wizard.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let Some(s) = tmux::Session::start(root, "", "h6-logperm") else {
        return;
    };
    s.wait_for(&["1. Playbook"]);
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED"]);
    assert_eq!(mode_of(&logs), 0o700);
    assert_eq!(mode_of(&logs.join("wizard.log")), 0o600);
}

/// `lineinfile`'s `regexp` is a Python pattern like the regex filters' (both compile through
/// `compat::pyre`), searched in each line with its newline as ansible-core's `readlines()`
/// gives it: `\Z` (the very end) never matches before a line's `\n`, so nothing matches and the
/// line is added.
#[test]
fn lineinfile_regexp_is_python_re() {
    let sb = Sandbox::new();
    sb.write("z.conf", "max = x\nxa\n");
    let r = sb.run(
        &play(
            r#"
- name: end anchor
  lineinfile:
    path: @D@/z.conf
    regexp: 'x\Z'
    line: max = y
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(sb.read("z.conf"), "max = x\nxa\nmax = y\n", "{}", r.dump());
}

/// With `backrefs`, Ansible replaces the whole matching line with `match.expand(line)`; a
/// pattern that matches part of the line does not keep the rest (`re.sub` would).
#[test]
fn lineinfile_backrefs_replace_the_whole_line() {
    let sb = Sandbox::new();
    sb.write("j.conf", "opts = -Xms512m -server\n");
    let r = sb.run(
        &play(
            r#"
- name: backrefs
  lineinfile:
    path: @D@/j.conf
    regexp: '-Xms(\d+)m'
    line: 'heap=\1'
    backrefs: true
"#,
        ),
        &[],
    );
    r.assert_ok();
    assert_eq!(sb.read("j.conf"), "heap=512\n", "{}", r.dump());
}

// ---------------------------------------------------------------------------------------------
// include_vars
// ---------------------------------------------------------------------------------------------

/// The include_vars fixture: a vars file, a directory (nested, with a file of another extension),
/// a file beside an included task file, a merge file and a vault-encrypted file.
fn include_vars_fixture(sb: &Sandbox) -> std::path::PathBuf {
    sb.write(
        "pb/vars/one.yml",
        "x: from_file\nh: {a: 1, b: {c: 1}}\ntpl: \"{{ inventory_hostname }}-t\"\n",
    );
    sb.write("pb/vars/merge.yml", "h: {b: {d: 2}}\n");
    sb.write("pb/vars/d/a.yml", "d1: 1\n");
    sb.write("pb/vars/d/b.yaml", "d2: 2\n");
    sb.write("pb/vars/d/c.json", "{\"d3\": 3}\n");
    sb.write("pb/vars/d/z.txt", "junk\n");
    sb.write("pb/vars/d/sub/deep.yml", "d4: 4\n");
    sb.write("pb/vars/d/sub/e.yml", "d1: over\n");
    sb.write("pb/tasks/local.yml", "inc: in_tasks_dir\n");
    sb.write("pb/tasks/t.yml", "- include_vars: local.yml\n");
    sb.write("vault-pass", "iv-vault-pass\n");
    sb.write(
        "pb/vars/secret.yml",
        &slm_wizard::secrets::vault::encrypt(b"vaulted: VaultedIV-4711\n", b"iv-vault-pass", None),
    );
    sb.write(
        "pb/site.yml",
        r#"- hosts: all
  gather_facts: no
  vars: {x: play}
  tasks:
    - set_fact: {x: sf}
      when: inventory_hostname == 'b'
    - include_vars: one.yml
      register: r
    - include_vars: {file: one.yml, name: nm}
    - include_vars: {dir: vars/d, ignore_unknown_extensions: true}
      register: d
    - include_vars:
        dir: vars/d
        depth: 1
        files_matching: '^[ab]'
        ignore_files: [b.yaml]
      register: d_one
    - include_vars: {dir: vars/d}
      ignore_errors: true
      register: bad
    - include_vars: {file: merge.yml, hash_behaviour: merge}
    - include_tasks: tasks/t.yml
    - include_vars: vars/secret.yml
    - set_fact: {ro: "{{ inventory_hostname }}"}
      run_once: true
    - include_vars: {file: one.yml, name: ro_inc}
      run_once: true
    - copy:
        dest: "{{ out }}/{{ inventory_hostname }}.txt"
        content: |
          x={{ x }} tpl={{ tpl }} nm={{ nm.x }} files={{ r.ansible_included_var_files | map('basename') | join(',') }}
          dir={{ d1 }},{{ d2 }},{{ d3 }},{{ d4 }} {{ d.ansible_included_var_files | map('basename') | join(',') }}
          depth={{ d_one.ansible_included_var_files | map('basename') | join(',') }}
          bad={{ bad.failed }} {{ bad.message | basename }}
          merged={{ h.a }},{{ h.b.c }},{{ h.b.d }} inc={{ inc }} vaulted={{ vaulted | length }}
          ro={{ ro }} ro_inc={{ ro_inc.x }} taskvar={{ tv }}
      vars: {x: taskvar, tv: "{{ x }}"}
- hosts: a
  gather_facts: no
  tasks:
    - copy:
        dest: "{{ out }}/next-play.txt"
        content: "{{ x }} {{ nm.x }}\n"
"#,
    )
}

#[test]
fn include_vars_file_dir_name_merge_vault_and_precedence_as_ansible() {
    let sb = Sandbox::with_inventory(
        "all:\n  hosts:\n    a: {ansible_connection: local}\n    b: {ansible_connection: local}\n",
    );
    let pb = include_vars_fixture(&sb);
    let vault = sb.p("vault-pass").display().to_string();
    let out = sb.p("out-native");
    std::fs::create_dir_all(&out).expect("out");
    let r = sb.run_file(
        &pb,
        &[
            "-e",
            &format!("out={}", out.display()),
            "--vault-password-file",
            &vault,
        ],
    );
    r.assert_ok();
    let read =
        |dir: &std::path::Path, f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let a = read(&out, "a.txt");
    // include_vars beats play and task vars, set_fact beats include_vars (b); run_once gives
    // the first host's set_fact and include_vars to every host; the vault file's value is secret.
    assert!(
        a.starts_with("x=from_file tpl=a-t nm=from_file files=one.yml\n"),
        "{a}"
    );
    assert!(
        a.contains("dir=1,2,3,4 a.yml,b.yaml,c.json,deep.yml,e.yml\n"),
        "{a}"
    );
    assert!(a.contains("depth=a.yml\n"), "{a}");
    assert!(
        a.contains("bad=True z.txt does not have a valid extension: yaml, yml, json\n"),
        "{a}"
    );
    assert!(
        a.contains("merged=1,1,2 inc=in_tasks_dir vaulted=14\n"),
        "{a}"
    );
    assert!(
        a.contains("ro=a ro_inc=from_file taskvar=from_file\n"),
        "{a}"
    );
    assert!(
        read(&out, "b.txt").starts_with("x=sf tpl=b-t"),
        "{}",
        read(&out, "b.txt")
    );
    assert_eq!(read(&out, "next-play.txt"), "from_file from_file\n");
    assert!(
        !r.dump().contains("VaultedIV-4711"),
        "the vaulted value is masked"
    );

    let Some(ansible) = crate::support::cmd::ansible_playbook() else {
        eprintln!("ansible-playbook not found: comparison skipped");
        return;
    };
    let theirs = sb.p("out-ansible");
    std::fs::create_dir_all(&theirs).expect("out");
    let o = std::process::Command::new(ansible)
        .arg("-i")
        .arg(sb.inventory())
        .arg(&pb)
        .args(["-e", &format!("out={}", theirs.display())])
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .args(["--vault-password-file", &vault])
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    assert!(
        o.status.success(),
        "ansible-playbook failed\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    for f in ["a.txt", "b.txt", "next-play.txt"] {
        assert_eq!(
            read(&out, f),
            read(&theirs, f),
            "{f} as ansible-playbook writes it"
        );
    }
}

#[test]
fn include_vars_arguments_are_checked_at_plan_time() {
    let sb = Sandbox::new();
    let r = sb.run(
        &play("- include_vars:\n    file: x.yml\n    depth: 1\n"),
        &[],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains(":5:9:") && r.stderr.contains("mixing file only and dir only"),
        "{}",
        r.dump()
    );
    let r = sb.run(&play("- include_vars:\n    files: x.yml\n"), &[]);
    assert!(
        r.stderr.contains(":5:9:")
            && r.stderr
                .contains("files is not a valid option in include_vars"),
        "{}",
        r.dump()
    );
    // What the engine does not implement is refused with its position.
    let r = sb.run(&play("- local_action: command true\n"), &[]);
    assert!(
        r.stderr.contains(":4:7:") && r.stderr.contains("'local_action' is not supported"),
        "{}",
        r.dump()
    );
}

/// Runs `pb` with ansible-playbook on the sandbox's inventory (None when it is not installed);
/// returns its stdout.
fn ansible_stdout(sb: &Sandbox, pb: &std::path::Path, extra: &[&str]) -> Option<String> {
    let Some(ansible) = crate::support::cmd::ansible_playbook() else {
        eprintln!("ansible-playbook not found: comparison skipped");
        return None;
    };
    let o = std::process::Command::new(ansible)
        .arg("-i")
        .arg(sb.inventory())
        .arg(pb)
        .args(extra)
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "ansible-playbook failed\n{out}");
    Some(out)
}

#[test]
fn debug_msg_keeps_lists_and_null_and_a_variable_formats_with_percent() {
    let sb = Sandbox::new();
    let tasks = r#"
- name: list
  debug: {msg: "{{ [1, 'a', {'k': 'v'}] }}"}
  register: r1
- name: literal list
  debug: {msg: [x, 2]}
  register: r2
- name: null msg
  debug: {msg: null}
  register: r3
- name: no msg
  debug:
  register: r4
- name: formatted
  debug: {msg: "{{ fmt % 'x' }} {{ fmt % ('y',) }}"}
  vars: {fmt: "<%s>"}
  register: r5
- name: write
  copy:
    content: "{{ [r1.msg, r2.msg, r3.msg, r4.msg, r5.msg] | to_json }}"
    dest: "{{ out }}/msgs.json"
"#;
    let pb = sb.write("debug.yml", &play(tasks));
    let ours = sb.p("ours");
    std::fs::create_dir_all(&ours).expect("out");
    let r = sb.run_file(&pb, &["-e", &format!("out={}", ours.display())]);
    r.assert_ok();
    let expected = json!([
        [1, "a", {"k": "v"}],
        ["x", 2],
        null,
        "Hello world!",
        "<x> <y>"
    ]);
    let read = |dir: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("msgs.json")).expect("msgs"))
            .expect("json")
    };
    assert_eq!(read(&ours), expected, "{}", r.dump());
    // The --json event carries the value itself, not its JSON text.
    assert_eq!(
        r.result("list")["result"]["msg"],
        json!([1, "a", {"k": "v"}])
    );
    assert_eq!(r.result("null msg")["result"]["msg"], Value::Null);
    // Its one-line form (what the wizard shows) is the JSON text.
    assert_eq!(r.result("list")["msg"], r#"[1,"a",{"k":"v"}]"#);

    let theirs = sb.p("theirs");
    std::fs::create_dir_all(&theirs).expect("out");
    let out_arg = format!("out={}", theirs.display());
    if ansible_stdout(&sb, &pb, &["-e", &out_arg]).is_some() {
        assert_eq!(
            read(&theirs),
            expected,
            "as ansible-playbook registers them"
        );
    }
}
