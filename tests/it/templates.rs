//! Lookups, filters, Python methods and the template checks at plan time, on the local
//! connection. Every assertion in PLAYBOOK also passed under ansible-playbook (ansible-core
//! 2.19.14, the project's venv) on the same files, run once by hand (`NO_COLOR=1`; `TEMPL` is
//! the directory); the password and the checks at plan time are compared in their own tests.

use crate::support::cmd;

use cmd::Sandbox;

const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: no
  vars:
    v: 1
    which: v
    csv: " a,b ,c "
    d: {x: 1, y: 2}
  tasks:
    - name: file
      assert:
        that:
          - "lookup('file', 'a.txt') == 'top'"
          - "lookup('file', 'a.txt', rstrip=false) == 'top\\n'"
          - "lookup('file', 'a.txt', 'b.txt') == 'top,pb-level'"
          - "query('file', 'a.txt', 'b.txt') == ['top', 'pb-level']"
          - "lookup('file', 'a.txt', wantlist=true) == ['top']"
          - "lookup('file', 'nope.txt', errors='ignore') is none"
          - "q('file', 'nope.txt', errors='ignore') == []"
          - "lookup('ansible.builtin.file', 'a.txt') == 'top'"
    - name: template env pipe lines vars
      assert:
        that:
          - "lookup('template', 't.j2') == 'v=1 w=-\\n'"
          - "lookup('template', 't.j2', template_vars={'w': 2}) == 'v=1 w=2\\n'"
          - "lookup('env', 'NO_COLOR') == '1'"
          - "lookup('env', 'TEMPL_IT_UNSET') == ''"
          - "lookup('env', 'TEMPL_IT_UNSET', default='d') == 'd'"
          - "lookup('pipe', 'printf \"x\\n\\n\"') == 'x'"
          - "lookup('pipe', 'pwd') == playbook_dir"
          - "query('lines', 'printf \"l1\\nl2\\n\"') == ['l1', 'l2']"
          - "lookup('lines', 'printf \"l1\\nl2\\n\"') == 'l1,l2'"
          - "lookup('vars', which) == 1"
          - "lookup('vars', 'nope', default=7) == 7"
          - "lookup('items', [1, 2]) == [1, 2]"
          - "lookup('items', ['a']) == 'a'"
          - "query('first_found', ['nope.txt', 'b.txt']) | map('basename') | list == ['b.txt']"
          - "lookup('first_found', 'nope.txt', skip=true) == []"
          - "lookup('first_found', files=['nope', 'a.txt'], paths=['files']) == playbook_dir ~ '/files/a.txt'"
    - name: with_ lookups
      debug: {msg: "{{ item }}"}
      with_file: [a.txt, b.txt]
      register: wf
    - name: with_lines
      debug: {msg: "{{ item }}"}
      with_lines: printf 'l1\nl2\n'
      register: wl
    - name: loops registered
      assert:
        that:
          - "wf.results | map(attribute='item') | list == ['top', 'pb-level']"
          - "wl.results | map(attribute='item') | list == ['l1', 'l2']"
    - name: python methods
      assert:
        that:
          - "csv.strip().split(',') == ['a', 'b ', 'c']"
          - "csv.startswith(' a') and not csv.endswith('x')"
          - "d.get('x') == 1 and d.get('z', 'dz') == 'dz'"
          - "d.keys() | list == ['x', 'y']"
          - "d.values() | list == [1, 2]"
          - "d.items() | list == [('x', 1), ('y', 2)]"
          - "'{} and {}'.format('a', 'b') == 'a and b'"
          - "'x-%s-%d' % ('a', 3) == 'x-a-3'"
          - "'%s!' % 'hi' | upper == 'HI!'"
          - "'abc'.upper() == 'ABC' and 'a b'.replace(' ', '_') == 'a_b'"
    - name: filters
      assert:
        that:
          - "[1, 2, 3] | union([4, 1]) == [1, 2, 3, 4]"
          - "[1, 2, 3] | intersect([2, 3, 4]) == [2, 3]"
          - "[1, 2, 3] | difference([2]) == [1, 3]"
          - "[1, 2] | symmetric_difference([2, 3]) == [1, 3]"
          - "[1, 2, 3] | zip(['a', 'b']) | list == [(1, 'a'), (2, 'b')]"
          - "[1, 2] | product(['a', 'b']) | list == [(1, 'a'), (1, 'b'), (2, 'a'), (2, 'b')]"
          - "'hello' | comment == '#\\n# hello\\n#'"
          - "'x' | comment('c') == '//\\n// x\\n//'"
          - "'slm' | to_uuid == '17d1eedd-1ccf-5a78-bbdd-113d8fc63d26'"
          - "'abc' | hash('sha512') | length == 128"
          - "'a1b22' | regex_findall('[0-9]+') == ['1', '22']"
          - "'/a/b/c.txt' | basename == 'c.txt' and '/a/b/c.txt' | dirname == '/a/b'"
          - "[1, [2, [3]]] | flatten == [1, 2, 3]"
          - "[1, [2, [3]]] | flatten(1) == [1, 2, [3]]"
          - "[1] | ansible.builtin.to_json == '[1]'"
    - name: role
      include_role: {name: r1}
"#;

const ROLE_TASKS: &str = r#"
- name: role lookups
  assert:
    that:
      - lookup('file', 'rf.txt') == 'role file'
      - lookup('file', 'a.txt') == 'role a'
      - lookup('file', 'b.txt') == 'pb-level'
      - lookup('template', 'rt.j2') == 'role t 1\n'
      - query('fileglob', '*.txt') | map('basename') | sort == ['a.txt', 'rf.txt']
"#;

/// The files the lookups read: beside the playbook, under `files/` and `templates/`, and in a
/// role (whose own files come first, then the playbook's).
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("files/a.txt", "top\n");
    sb.write("b.txt", "pb-level\n");
    sb.write("templates/t.j2", "v={{ v }} w={{ w | default(\"-\") }}\n");
    sb.write("roles/r1/files/rf.txt", "role file\n");
    sb.write("roles/r1/files/a.txt", "role a\n");
    sb.write("roles/r1/templates/rt.j2", "role t {{ v }}\n");
    sb.write("roles/r1/tasks/main.yml", ROLE_TASKS);
    sb
}

#[test]
fn lookups_filters_and_python_methods_give_what_ansible_gives() {
    let sb = sandbox();
    let r = sb.run(PLAYBOOK, &[]);
    r.assert_ok();
    for task in [
        "file",
        "template env pipe lines vars",
        "loops registered",
        "python methods",
        "filters",
        "r1 : role lookups",
    ] {
        assert_eq!(r.status(task), "ok", "{task}\n{}", r.dump());
    }
}

#[test]
fn password_lookup_creates_the_file_then_reuses_it_and_masks_the_value() {
    let sb = Sandbox::new();
    let pb = r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: show
      debug:
        msg: "pw={{ lookup('password', 'creds/db length=24 chars=ascii_letters,digits') }}"
    - name: same
      assert:
        that:
          - lookup('password', 'creds/db') == lookup('password', 'creds/db length=8')
          - lookup('password', '/dev/null length=5') | length == 5
          - lookup('password', '/dev/null chars=digits') is match('^[0-9]{20}$')
          - lookup('password', 'creds/hashed encrypt=sha512_crypt') is match('^[$]6[$]')
"#;
    let r = sb.run(pb, &[]);
    r.assert_ok();
    let pw = sb.read("creds/db");
    let pw = pw.trim_end();
    assert_eq!(pw.len(), 24, "{pw:?}");
    assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()), "{pw:?}");
    assert_eq!(cmd::mode_of(&sb.p("creds/db")) & 0o777, 0o600);
    assert_eq!(cmd::mode_of(&sb.p("creds")) & 0o777, 0o700);
    // As ansible-core 2.19: with encrypt, the file keeps the password and its salt.
    assert!(sb.read("creds/hashed").contains(" salt="));
    assert!(
        !r.stdout.contains(pw) && !r.stderr.contains(pw),
        "the generated password must be masked\n{}",
        r.dump()
    );
    assert!(r.stdout.contains("pw=********"), "{}", r.dump());
    // A second run reuses the stored password.
    sb.run(pb, &[]).assert_ok();
    assert_eq!(sb.read("creds/db").trim_end(), pw);
}

/// Refused before anything runs (exit 5), at the task, naming where in the template.
#[track_caller]
fn assert_refused(pb: &str, line: usize, col: usize, needles: &[&str]) {
    let sb = Sandbox::new();
    let r = sb.run(pb, &["--engine", "native"]);
    assert_eq!(r.code, 5, "bad input must exit 5\n{}", r.dump());
    assert!(!r.stdout.contains("task_start"), "a task ran\n{}", r.dump());
    let file = sb.p("pb-0.yml");
    assert!(
        r.stderr
            .starts_with(&format!("ERROR! {}:{line}:{col}: ", file.display())),
        "expected the error at {line}:{col}\n{}",
        r.dump()
    );
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "stderr should mention {n:?}\n{}",
            r.dump()
        );
    }
}

#[test]
fn unknown_filters_tests_and_lookups_are_refused_at_plan_time() {
    // ansible-playbook fails these when the task runs ("No filter named 'nosuchfilter'.",
    // "No test named ...", "lookup plugin ... not found"); the engine refuses them before any
    // task, like an unknown module.
    let play = |task: &str| {
        format!("- hosts: all\n  gather_facts: no\n  tasks:\n    - debug: {{msg: ok}}\n{task}")
    };
    assert_refused(
        &play("    - debug:\n        msg: \"{{ 'x' | nosuchfilter }}\"\n"),
        5,
        7,
        &[
            "filter 'nosuchfilter'",
            "line 1, column 10",
            "ansible-playbook",
        ],
    );
    assert_refused(
        &play("    - debug: {msg: hi}\n      when: x is nosuchtest\n"),
        5,
        7,
        &["test 'nosuchtest'"],
    );
    assert_refused(
        &play("    - debug:\n        msg: \"{{ lookup('nosuchlookup', 'a') }}\"\n"),
        5,
        7,
        &["lookup 'nosuchlookup'"],
    );
}

#[test]
fn an_unquoted_template_value_is_a_yaml_error_at_its_brace() {
    // ansible-playbook: "YAML parsing failed: This may be an issue with missing quotes around a
    // template block." at 4:14, the first brace.
    let sb = Sandbox::new();
    let r = sb.run(
        "- hosts: all\n  tasks:\n    - debug:\n        msg: {{ x }}\n",
        &[],
    );
    assert_eq!(r.code, 5, "{}", r.dump());
    let file = sb.p("pb-0.yml");
    assert!(
        r.stderr
            .starts_with(&format!("ERROR! {}:4:14: ", file.display())),
        "{}",
        r.dump()
    );
    assert!(r.stderr.contains("missing quotes"), "{}", r.dump());
}
