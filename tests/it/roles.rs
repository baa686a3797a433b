//! Roles in the native engine, compared with ansible-playbook on the same fixture: `roles:` with
//! parameters and `vars:`, meta dependencies run once per distinct parameters, defaults / vars /
//! templates / files / handlers, `include_tasks` relative to the role's tasks/, `import_role`
//! with `tasks_from`, `include_role` with `vars_from`, `role_path` and `ansible_role_name`, the
//! search path (`ansible.cfg` `roles_path`), and what is refused at plan time with file:line:col.

use crate::support::cmd;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::cmd::ansible_playbook;
use cmd::Sandbox;

/// Runs ansible-playbook on `pb` (local connection) and returns (changed, stdout).
fn ansible_run(sb: &Sandbox, ansible: &Path, pb: &Path, out: &str) -> (u64, String) {
    let inv = sb.write("hosts.ini", "local1 ansible_connection=local\n");
    let o = Command::new(ansible)
        .arg("-i")
        .arg(&inv)
        .arg(pb)
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .args(["-e", &format!("out={out}")])
        .current_dir(sb.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "ansible-playbook failed\n{text}");
    let changed = text
        .lines()
        .find(|l| l.starts_with("local1") && l.contains("changed="))
        .and_then(|l| l.split("changed=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no recap in\n{text}"));
    (changed, text)
}

/// The fixture: role `web` (defaults, vars, a template, a file, a handler, an include) depending
/// on `common` with a parameter; the play runs both with and without parameters, imports and
/// includes `web` with other files.
fn fixture(sb: &Sandbox) -> PathBuf {
    sb.write(
        "pb/roles/common/defaults/main.yml",
        "common_greeting: hello\nshared: from-common-default\ntag: plain\n",
    );
    sb.write(
        "pb/roles/common/tasks/main.yml",
        r#"- name: common file
  copy:
    content: "{{ common_greeting }} {{ tag }} {{ ansible_role_name }}\n"
    dest: "{{ out }}/common-{{ tag }}.txt"
"#,
    );
    sb.write(
        "pb/roles/web/meta/main.yml",
        "galaxy_info: {author: me}\ndependencies:\n  - role: common\n    tag: web\n",
    );
    sb.write(
        "pb/roles/web/defaults/main.yml",
        "http_port: 80\nwho: default\nshared: web-default\n",
    );
    sb.write(
        "pb/roles/web/vars/main.yml",
        "vhost: \"site-{{ http_port }}\"\n",
    );
    sb.write("pb/roles/web/vars/alt.yml", "vhost: alt-vhost\n");
    sb.write(
        "pb/roles/web/templates/site.conf.j2",
        "http_port={{ http_port }} vhost={{ vhost }} role={{ role_name }} greeting={{ common_greeting }} who={{ who }}\n",
    );
    sb.write("pb/roles/web/files/static.txt", "static from role\n");
    sb.write(
        "pb/roles/web/tasks/main.yml",
        r#"- name: site config
  template:
    src: site.conf.j2
    dest: "{{ out }}/site-{{ http_port }}.conf"
  notify: restart web
- name: static file
  copy:
    src: static.txt
    dest: "{{ out }}/static-{{ http_port }}.txt"
- include_tasks: extra.yml
"#,
    );
    sb.write(
        "pb/roles/web/tasks/extra.yml",
        r#"- name: extra file
  copy:
    content: "{{ role_path | basename }} {{ vhost }}\n"
    dest: "{{ out }}/extra-{{ http_port }}.txt"
"#,
    );
    sb.write(
        "pb/roles/web/handlers/main.yml",
        r#"- name: restart web
  copy:
    content: "restarted {{ http_port }}\n"
    dest: "{{ out }}/restarted-{{ http_port }}.txt"
"#,
    );
    sb.write(
        "pb/site.yml",
        r#"- hosts: all
  gather_facts: no
  roles:
    - web
    - role: web
      http_port: 8080
      vars:
        who: entry
    - role: common
      tag: top
    - common
  tasks:
    - name: play sees role exports
      copy:
        content: "{{ shared }} {{ vhost }} {{ who }}\n"
        dest: "{{ out }}/play.txt"
    - import_role:
        name: web
        tasks_from: extra
      vars:
        http_port: 9000
    - include_role:
        name: web
        vars_from: alt
      vars:
        http_port: 9100
    - name: after include
      copy:
        content: "{{ vhost }}\n"
        dest: "{{ out }}/after.txt"
"#,
    )
}

/// What ansible-core 2.19 leaves in the output directory for the fixture (checked by running it).
const EXPECTED: &[(&str, &str)] = &[
    ("after.txt", "site-80\n"),
    ("common-plain.txt", "hello plain common\n"),
    ("common-top.txt", "hello top common\n"),
    // `common` with tag=web is web's dependency twice (web, web:8080): it runs once.
    ("common-web.txt", "hello web common\n"),
    ("extra-80.txt", "web site-80\n"),
    ("extra-8080.txt", "web site-8080\n"),
    ("extra-9000.txt", "web site-9000\n"),
    ("extra-9100.txt", "web alt-vhost\n"),
    // The last static role's defaults win play-wide; include_role's vars stay its own.
    ("play.txt", "web-default site-80 default\n"),
    // Of the handlers named `restart web` (one per web invocation) only the last defined runs.
    ("restarted-9100.txt", "restarted 9100\n"),
    (
        "site-80.conf",
        "http_port=80 vhost=site-80 role=web greeting=hello who=default\n",
    ),
    (
        "site-8080.conf",
        "http_port=8080 vhost=site-8080 role=web greeting=hello who=entry\n",
    ),
    (
        "site-9100.conf",
        "http_port=9100 vhost=alt-vhost role=web greeting=hello who=default\n",
    ),
    ("static-80.txt", "static from role\n"),
    ("static-8080.txt", "static from role\n"),
    ("static-9100.txt", "static from role\n"),
];

fn listing(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("read out dir")
        .map(|e| {
            let e = e.expect("dir entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).expect("read output"),
            )
        })
        .collect();
    out.sort();
    out
}

fn expected() -> Vec<(String, String)> {
    EXPECTED
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn role_fixture_gives_ansibles_end_state_and_counts_then_nothing_changes() {
    let sb = Sandbox::new();
    let pb = fixture(&sb);
    std::fs::create_dir_all(sb.p("outN")).expect("out dir");
    let r = sb.run_file(&pb, &["-e", "out=@D@/outN"]);
    r.assert_ok();
    assert_eq!(listing(&sb.p("outN")), expected(), "{}", r.dump());
    assert_eq!(r.changed("local1"), 16, "{}", r.dump());
    // Tasks in a role are shown as `role : name`; the dependency ran once with tag=web.
    assert_eq!(
        r.results_of("common : common file").len(),
        3,
        "{}",
        r.dump()
    );
    assert_eq!(r.status("web : restart web"), "changed", "{}", r.dump());

    let again = sb.run_file(&pb, &["-e", "out=@D@/outN"]);
    again.assert_ok();
    assert_eq!(again.changed("local1"), 0, "{}", again.dump());

    let Some(ansible) = ansible_playbook() else {
        return;
    };
    // ansible-playbook on our end state changes nothing, and from scratch it gets ours.
    let (changed, text) = ansible_run(&sb, &ansible, &pb, &sb.p("outN").display().to_string());
    assert_eq!(changed, 0, "{text}");
    std::fs::create_dir_all(sb.p("outA")).expect("out dir");
    let (changed, text) = ansible_run(&sb, &ansible, &pb, &sb.p("outA").display().to_string());
    assert_eq!(changed, 16, "{text}");
    assert_eq!(listing(&sb.p("outA")), expected(), "{text}");
}

#[test]
fn role_when_tags_and_dependencies_skipped_with_their_parent_run_later() {
    let sb = Sandbox::new();
    sb.write(
        "pb/roles/dep/tasks/main.yml",
        "- name: dep task\n  command: echo dep\n",
    );
    sb.write("pb/roles/a/meta/main.yml", "dependencies: [dep]\n");
    sb.write(
        "pb/roles/a/tasks/main.yml",
        "- name: a task\n  command: echo a\n",
    );
    sb.write("pb/roles/b/meta/main.yml", "dependencies:\n  - role: dep\n");
    sb.write(
        "pb/roles/b/tasks/main.yml",
        "- name: b task\n  command: echo b\n",
    );
    let pb = sb.write(
        "pb/site.yml",
        "- hosts: all\n  gather_facts: no\n  roles:\n    - role: a\n      when: false\n    - role: b\n      tags: [btag]\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_ok();
    // `dep` was skipped under `a` (its condition is a's), so it runs under `b`, as in Ansible.
    let dep: Vec<String> = r
        .results_of("dep : dep task")
        .iter()
        .map(|v| v["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(dep, ["skipped", "changed"], "{}", r.dump());
    assert_eq!(r.status("a : a task"), "skipped", "{}", r.dump());
    assert_eq!(r.status("b : b task"), "changed", "{}", r.dump());

    // The role's tags reach its tasks and its dependencies.
    let r = sb.run_file(&pb, &["--tags", "btag"]);
    r.assert_ok();
    assert!(r.ran("b : b task"), "{}", r.dump());
    assert!(!r.ran("a : a task"), "{}", r.dump());
    assert_eq!(r.results_of("dep : dep task").len(), 1, "{}", r.dump());
}

#[test]
fn roles_path_of_the_ansible_cfg_beside_the_playbook_is_searched() {
    let sb = Sandbox::new();
    sb.write(
        "pb/ansible.cfg",
        "[defaults]\nroles_path = ../shared:other\n",
    );
    sb.write(
        "shared/far/tasks/main.yml",
        "- name: far task\n  debug:\n    msg: \"{{ role_path }}\"\n",
    );
    let pb = sb.write(
        "pb/site.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - include_role:\n        name: far\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_ok();
    let msg = r.result("far : far task")["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.ends_with("/shared/far"), "{msg}\n{}", r.dump());
}

/// What is not implemented is refused before any host is touched, at its position.
#[test]
fn unsupported_role_features_are_refused_at_plan_time_with_position() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "- hosts: all\n  roles:\n    - nosuch\n",
            "site.yml:3:7:",
            "role 'nosuch' not found",
        ),
        (
            "- hosts: all\n  tasks:\n    - import_role:\n        name: r\n        apply:\n          tags: [x]\n",
            "site.yml:6:11:",
            "Invalid options for import_role: apply",
        ),
        (
            "- hosts: all\n  tasks:\n    - include_role:\n        name: r\n        apply: {block: []}\n",
            "site.yml:5:17:",
            "unknown key 'block' in apply",
        ),
        (
            "- hosts: all\n  tasks:\n    - import_role:\n        name: r\n      loop: [1, 2]\n",
            "site.yml:5:7:",
            "You cannot use loops on 'import_role' statements",
        ),
        (
            "- hosts: all\n  tasks:\n    - include_tasks:\n        file: t.yml\n        applyy: {}\n",
            "site.yml:5:9:",
            "applyy",
        ),
        (
            "- hosts: all\n  roles:\n    - role: r\n      delegate_to: x\n",
            "site.yml:4:7:",
            "'delegate_to' on a role is not supported",
        ),
        (
            "- hosts: all\n  tasks:\n    - import_role:\n        name: r\n        tasks_from: nope\n",
            "site.yml:4:15:",
            "tasks file 'nope' not found",
        ),
    ];
    for (playbook, at, msg) in cases {
        let sb = Sandbox::new();
        sb.write("pb/roles/r/tasks/main.yml", "- debug: msg=r\n");
        sb.write("pb/roles/specs/tasks/main.yml", "- debug: msg=s\n");
        sb.write(
            "pb/roles/specs/meta/argument_specs.yml",
            "argument_specs:\n  main:\n    options: {}\n",
        );
        let pb = sb.write("pb/site.yml", playbook);
        let r = sb.run_file(&pb, &[]);
        r.assert_code(5);
        assert!(
            r.stderr.contains(at) && r.stderr.contains(msg),
            "want {at} {msg}\n{}",
            r.dump()
        );
    }
}

/// `include_role`'s `when` is evaluated once and its tags select the include, not its tasks
/// (Ansible's dynamic include; `import_role` passes both down instead).
#[test]
fn include_role_when_is_evaluated_once_and_its_tags_are_not_inherited() {
    let sb = Sandbox::new();
    sb.write(
        "pb/roles/r/tasks/main.yml",
        "- name: inner\n  debug: msg=inner\n- name: inner tagged\n  debug: msg=it\n  tags: [foo]\n\
         - name: set\n  set_fact: flag=false\n- name: after set\n  debug: msg=after\n",
    );
    let pb = sb.write(
        "pb/site.yml",
        "- hosts: all\n  gather_facts: no\n  vars: {flag: true}\n  tasks:\n\
         \x20   - include_role: {name: r}\n      tags: [foo]\n      when: flag\n\
         \x20   - include_role: {name: r}\n",
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_ok();
    // Both includes run all four tasks: `flag` turning false inside does not stop the first.
    assert_eq!(r.results_of("r : after set").len(), 2, "{}", r.dump());
    assert_eq!(r.status("r : after set"), "ok", "{}", r.dump());

    let r = sb.run_file(&pb, &["--tags", "foo"]);
    r.assert_ok();
    // The include selected by its tag is a result of its own, as in ansible-playbook.
    assert_eq!(
        r.task_order(),
        ["include_role : r", "r : inner tagged"],
        "{}",
        r.dump()
    );
}
