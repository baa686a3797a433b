//! Malformed input is refused before any host is touched: exit code 5, `ERROR! file:line:col:
//! message` on stderr naming the offending key or expression and what would be valid, and never a
//! panic. A few errors can only be found while running; they fail the task (exit 2) with a clear
//! message instead.
//!
//! Positions are 1-based and were worked out by hand from each snippet: a key's position is where
//! the key starts, a value's is where the value starts, and a task's or play's is where its first
//! key starts (after `- `).

use crate::support::cmd;

use std::path::{Path, PathBuf};

use cmd::{LOCAL_INVENTORY, Run, Sandbox};

/// Writes `playbook` as `playbook.yml` into a new sandbox and runs it.
fn run_pb(playbook: &str, args: &[&str]) -> (Sandbox, PathBuf, Run) {
    let sb = Sandbox::new();
    let pb = sb.write("playbook.yml", playbook);
    let r = sb.run_file(&pb, args);
    (sb, pb, r)
}

/// Runs a valid playbook against a bad inventory (written as `hosts.yml`).
fn run_inv(inventory: &str) -> (Sandbox, PathBuf, Run) {
    let sb = Sandbox::new();
    let pb = sb.write(
        "playbook.yml",
        "- hosts: all\n  gather_facts: no\n  tasks: []\n",
    );
    let inv = sb.write("hosts.yml", inventory);
    let r = sb.run_raw(&[
        "run".to_string(),
        pb.display().to_string(),
        "-i".to_string(),
        inv.display().to_string(),
        "--json".to_string(),
    ]);
    (sb, inv, r)
}

/// Exit 5, no panic, nothing run, and nothing but the error on stderr.
#[track_caller]
fn assert_refused(r: &Run) {
    assert!(!r.stderr.contains("panicked"), "panic!\n{}", r.dump());
    assert!(!r.stderr.contains("RUST_BACKTRACE"), "panic!\n{}", r.dump());
    assert_eq!(r.code, 5, "bad input must exit 5\n{}", r.dump());
    assert!(
        r.stderr.starts_with("ERROR! "),
        "stderr must start with 'ERROR! '\n{}",
        r.dump()
    );
    assert!(
        !r.stdout.contains("task_result") && !r.stdout.contains("task_start"),
        "a task ran despite bad input\n{}",
        r.dump()
    );
}

/// Refused, located in `file` at one of `at` (line, col), and the message names every `needle`.
#[track_caller]
fn assert_bad(r: &Run, file: &Path, at: &[(usize, usize)], needles: &[&str]) {
    assert_refused(r);
    let located = at.iter().any(|(l, c)| {
        r.stderr
            .starts_with(&format!("ERROR! {}:{l}:{c}: ", file.display()))
    });
    assert!(
        located,
        "expected the error at {} line:col {:?}\n{}",
        file.display(),
        at,
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

// ---------------------------------------------------------------------------------------------
// YAML
// ---------------------------------------------------------------------------------------------

#[test]
fn yaml_mapping_value_in_plain_scalar() {
    // line 3: `    - debug: msg: x` — the second ':' is column 17.
    let (_sb, pb, r) = run_pb("- hosts: all\n  tasks:\n    - debug: msg: x\n", &[]);
    assert_bad(
        &r,
        &pb,
        &[(3, 17)],
        &["YAML syntax error", "mapping values"],
    );
}

#[test]
fn yaml_unterminated_quote() {
    // line 4: `        msg: "unterminated` — the opening quote is column 14.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - debug:\n        msg: \"unterminated\n",
        &[],
    );
    assert_bad(&r, &pb, &[(4, 14)], &["YAML syntax error", "quoted scalar"]);
}

#[test]
fn yaml_merge_key_with_a_scalar() {
    // line 3: `    <<: 5` — the value is column 9.
    let (_sb, pb, r) = run_pb("- hosts: all\n  vars:\n    <<: 5\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(3, 9)], &["merge key", "mapping"]);
}

#[test]
fn yaml_alias_to_unknown_anchor() {
    // line 3: `    a: *nope` — the alias is column 8.
    let (_sb, pb, r) = run_pb("- hosts: all\n  vars:\n    a: *nope\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(3, 8)], &["anchor"]);
}

#[test]
fn yaml_vault_value_without_password() {
    // line 3: `    secret: !vault |` — the value (its tag) starts at column 13; the ciphertext at 4:7.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  vars:\n    secret: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n  tasks: []\n",
        &[],
    );
    assert_bad(
        &r,
        &pb,
        &[(3, 13), (4, 7)],
        &["vault", "--vault-password-file"],
    );
}

// ---------------------------------------------------------------------------------------------
// Playbook structure
// ---------------------------------------------------------------------------------------------

#[test]
fn playbook_is_a_mapping_not_a_list() {
    // The root mapping starts at 1:1.
    let (_sb, pb, r) = run_pb("hosts: all\ntasks: []\n", &[]);
    assert_bad(&r, &pb, &[(1, 1)], &["list of plays", "mapping"]);
}

#[test]
fn playbook_is_empty() {
    let (_sb, pb, r) = run_pb("", &[]);
    assert_bad(&r, &pb, &[(1, 1)], &["empty", "list of plays"]);
}

#[test]
fn play_without_hosts() {
    // line 1: `- name: x` — the play's first key is column 3.
    let (_sb, pb, r) = run_pb("- name: x\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(1, 3)], &["hosts"]);
}

#[test]
fn unknown_play_key_suggests_the_right_one() {
    let (_sb, pb, r) = run_pb("- hosts: all\n  taskz: []\n", &[]);
    assert_bad(&r, &pb, &[(2, 3)], &["'taskz'", "did you mean 'tasks'"]);
}

#[test]
fn misspelled_become_user() {
    let (_sb, pb, r) = run_pb("- hosts: all\n  become_usr: postgres\n  tasks: []\n", &[]);
    assert_bad(
        &r,
        &pb,
        &[(2, 3)],
        &["'become_usr'", "did you mean 'become_user'"],
    );
}

#[test]
fn tasks_is_a_string() {
    // line 2: `  tasks: foo` — the value is column 10.
    let (_sb, pb, r) = run_pb("- hosts: all\n  tasks: foo\n", &[]);
    assert_bad(&r, &pb, &[(2, 10)], &["'tasks'", "list"]);
}

#[test]
fn become_is_not_a_boolean() {
    // line 2: `  become: maybe` — the value is column 11.
    let (_sb, pb, r) = run_pb("- hosts: all\n  become: maybe\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(2, 11)], &["'become'", "maybe", "yes/no"]);
}

#[test]
fn gather_facts_is_not_a_boolean() {
    // line 2: `  gather_facts: perhaps` — the value is column 17.
    let (_sb, pb, r) = run_pb("- hosts: all\n  gather_facts: perhaps\n  tasks: []\n", &[]);
    assert_bad(
        &r,
        &pb,
        &[(2, 17)],
        &["'gather_facts'", "perhaps", "true/false"],
    );
}

#[test]
fn vars_is_a_list() {
    // line 2: `  vars: [1]` — the value is column 9.
    let (_sb, pb, r) = run_pb("- hosts: all\n  vars: [1]\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(2, 9)], &["'vars'", "mapping", "list"]);
}

#[test]
fn unsupported_become_method() {
    // line 2: `  become_method: runas` — the value is column 18.
    let (_sb, pb, r) = run_pb("- hosts: all\n  become_method: runas\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(2, 18)], &["runas", "sudo, su"]);
}

#[test]
fn unsupported_strategy() {
    // line 2: `  strategy: debug` — the value is column 13.
    let (_sb, pb, r) = run_pb("- hosts: all\n  strategy: debug\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(2, 13)], &["debug", "linear, free"]);
}

#[test]
fn max_fail_percentage_not_a_number() {
    // line 2: `  max_fail_percentage: lots` — the value is column 24.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  max_fail_percentage: lots\n  tasks: []\n",
        &[],
    );
    assert_bad(&r, &pb, &[(2, 24)], &["max_fail_percentage", "0 to 100"]);
}

#[test]
fn templated_hosts_pattern() {
    // The play starts at 1:3, its hosts value at 1:10.
    let (_sb, pb, r) = run_pb("- hosts: \"{{ target }}\"\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(1, 3), (1, 10)], &["templated", "hosts"]);
}

#[test]
fn handler_without_name() {
    // line 4: `    - command: ls` — the handler's first key is column 7.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks: []\n  handlers:\n    - command: ls\n",
        &[],
    );
    assert_bad(&r, &pb, &[(4, 7)], &["handler", "'name:'"]);
}

// ---------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_module() {
    // line 4: `      frobnicate: {}` — the key is column 7.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - name: t\n      frobnicate: {}\n",
        &[],
    );
    assert_bad(
        &r,
        &pb,
        &[(4, 7)],
        &["'frobnicate'", "lineinfile", "postgresql_db"],
    );
}

/// An argument Ansible's module does not take is no plan-time error: as in Ansible, the task
/// fails when it runs, with Ansible's message (so `ignore_errors` and `failed_when` see it), and
/// in check mode too; set to `omit` it is dropped and nothing fails. Before, the playbook was
/// refused at plan time (exit 5) — a peer test that expects the run-time failure never ran.
#[test]
fn an_argument_the_module_does_not_take_fails_the_task_at_run_time() {
    let sb = Sandbox::new();
    let pb = r#"- hosts: all
  gather_facts: no
  tasks:
    - name: shell
      shell: echo hi
      args: {expand_argument_vars: false, bogus: 1}
      register: sh
      ignore_errors: true
    - name: typo
      stat: {path: "@D@", follw: true}
      register: st
      ignore_errors: true
    - name: copy with a typo
      copy: {dest: "@D@/typo", content: a, contnt: b}
      register: cp
      ignore_errors: true
      check_mode: false
    - name: omitted
      copy: {dest: "@D@/out", content: a, contnt: "{{ omit }}"}
    - name: seen
      assert:
        that:
          - sh is failed
          - "sh.msg == 'Unsupported parameters for (shell) module: expand_argument_vars'"
          - st is failed
          - "st.msg.startswith('Unsupported parameters for (stat) module: follw. Supported parameters include: ')"
          - "', follow, ' in st.msg"
          - cp is failed
          - "cp.msg.startswith('Unsupported parameters for (ansible.legacy.copy) module: contnt. Supported parameters include: ')"
    - name: last
      command: echo hi
      args: {warn: false}
"#;
    let r = sb.run(pb, &[]);
    r.assert_code(2);
    assert_eq!(r.status("seen"), "ok", "{}", r.dump());
    assert_eq!(sb.read("out"), "a");
    assert!(!sb.exists("typo"));
    assert_eq!(
        r.result("last")["result"]["msg"],
        "Unsupported parameters for (ansible.legacy.command) module: warn. Supported parameters \
         include: _raw_params, _uses_shell, argv, chdir, cmd, creates, executable, \
         expand_argument_vars, removes, stdin, stdin_add_newline, strip_empty_ends.",
        "{}",
        r.dump()
    );
    let r = sb.run(pb, &["--check"]);
    r.assert_code(2);
    assert_eq!(r.status("seen"), "ok", "{}", r.dump());
}

/// What Ansible takes and the engine does not stays a plan-time refusal where it is written.
#[test]
fn an_argument_only_ansible_implements_is_refused_at_plan_time() {
    // line 4: `      args: {argv: [a], bogus: 1}` — `argv` is column 14.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - shell: echo hi\n      args: {argv: [a], bogus: 1}\n",
        &[],
    );
    assert_bad(
        &r,
        &pb,
        &[(4, 14)],
        &[
            "shell: argument 'argv' is not implemented",
            "--engine ansible",
        ],
    );
}

#[test]
fn module_missing_required_argument() {
    // The `copy` key is 3:7; its arguments start at 4:9.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - copy:\n        content: x\n",
        &[],
    );
    assert_bad(&r, &pb, &[(3, 7), (4, 9)], &["copy", "'dest'"]);
}

#[test]
fn free_form_text_for_a_key_value_module() {
    // line 3: `    - file: /tmp/x` — the value is column 13.
    let (_sb, pb, r) = run_pb("- hosts: all\n  tasks:\n    - file: /tmp/x\n", &[]);
    assert_bad(&r, &pb, &[(3, 13)], &["'file'", "key=value", "/tmp/x"]);
}

#[test]
fn module_arguments_as_a_list() {
    // line 3: `    - copy: [1, 2]` — the value is column 13.
    let (_sb, pb, r) = run_pb("- hosts: all\n  tasks:\n    - copy: [1, 2]\n", &[]);
    assert_bad(&r, &pb, &[(3, 13)], &["copy", "mapping", "list"]);
}

#[test]
fn two_modules_in_one_task() {
    // line 4: `      command: ls` — the second module is column 7.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - copy: {dest: /tmp/x, content: a}\n      command: ls\n",
        &[],
    );
    assert_bad(&r, &pb, &[(4, 7)], &["'copy'", "'command'", "one module"]);
}

#[test]
fn task_without_a_module() {
    // line 3: `    - name: only a name` — the task's first key is column 7.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - name: only a name\n      when: true\n",
        &[],
    );
    assert_bad(&r, &pb, &[(3, 7)], &["no module", "command", "copy"]);
}

#[test]
fn task_that_is_a_string() {
    // line 3: `    - just a string` — the item is column 7.
    let (_sb, pb, r) = run_pb("- hosts: all\n  tasks:\n    - just a string\n", &[]);
    assert_bad(&r, &pb, &[(3, 7)], &["task", "mapping", "string"]);
}

#[test]
fn unsupported_task_keyword() {
    // line 4: `      async: 10` — the key is column 7 (delegate_to is implemented now).
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - command: ls\n      async: 10\n",
        &[],
    );
    assert_bad(
        &r,
        &pb,
        &[(4, 7)],
        &["'async'", "not supported", "ansible-playbook"],
    );
}

#[test]
fn listen_on_a_plain_task() {
    // line 4: `      listen: x` — the key is column 7. `listen` is only valid on handlers.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - command: ls\n      listen: x\n",
        &[],
    );
    assert_bad(&r, &pb, &[(4, 7)], &["'listen'", "handler"]);
    assert!(
        !r.stderr.contains("did you mean 'listen'"),
        "suggesting the very key that is refused is no help\n{}",
        r.dump()
    );
}

#[test]
fn loop_and_with_items_together() {
    // line 5: `      with_items: [2]` — the second loop key is column 7.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - debug: msg={{ item }}\n      loop: [1]\n      with_items: [2]\n",
        &[],
    );
    assert_bad(&r, &pb, &[(5, 7)], &["loop", "with_items"]);
}

#[test]
fn unknown_loop_control_key() {
    // line 6: `        lable: x` — the key is column 9.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - debug: msg={{ item }}\n      loop: [1]\n      loop_control:\n        lable: x\n",
        &[],
    );
    assert_bad(&r, &pb, &[(6, 9)], &["'lable'", "did you mean 'label'"]);
}

#[test]
fn invalid_register_name() {
    // line 4: `      register: my-var` — the value is column 17.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - command: ls\n      register: my-var\n",
        &[],
    );
    assert_bad(&r, &pb, &[(4, 17)], &["my-var", "variable name"]);
}

#[test]
fn ignore_errors_not_a_boolean() {
    // line 4: `      ignore_errors: sometimes` — the value is column 22.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - command: ls\n      ignore_errors: sometimes\n",
        &[],
    );
    assert_bad(
        &r,
        &pb,
        &[(4, 22)],
        &["'ignore_errors'", "sometimes", "yes/no"],
    );
}

#[test]
fn unknown_block_key() {
    // line 5: `      rescu:` — the key is column 7.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - block:\n        - debug: msg=x\n      rescu:\n        - debug: msg=y\n",
        &[],
    );
    assert_bad(&r, &pb, &[(5, 7)], &["'rescu'", "did you mean 'rescue'"]);
}

// ---------------------------------------------------------------------------------------------
// Templates and expressions (checked at plan time)
// ---------------------------------------------------------------------------------------------

const TASK_AT_4: &str =
    "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: use it\n      debug:\n";

#[test]
fn undefined_variable_in_an_argument() {
    // The task starts at 4:7; the offending value at 6:14.
    let (_sb, pb, r) = run_pb(
        &format!("{TASK_AT_4}        msg: \"{{{{ nope }}}}\"\n"),
        &[],
    );
    assert_bad(
        &r,
        &pb,
        &[(4, 7), (6, 14)],
        &["'nope' is undefined", "use it", "default"],
    );
}

#[test]
fn template_syntax_error() {
    let (_sb, pb, r) = run_pb(
        &format!("{TASK_AT_4}        msg: \"{{{{ foo( }}}}\"\n"),
        &[],
    );
    assert_bad(&r, &pb, &[(4, 7), (6, 14)], &["{{ foo( }}", "syntax error"]);
}

#[test]
fn bad_when_expression() {
    // The task starts at 5:7; the condition at 7:13.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  gather_facts: no\n  vars: {x: 1}\n  tasks:\n    - name: cond\n      debug: msg=x\n      when: \"x = = 1\"\n",
        &[],
    );
    assert_bad(&r, &pb, &[(5, 7), (7, 13)], &["x = = 1", "when"]);
}

#[test]
fn undefined_variable_in_when() {
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  gather_facts: no\n  vars: {x: 1}\n  tasks:\n    - name: cond\n      debug: msg=x\n      when: undefined_thing == 1\n",
        &[],
    );
    assert_bad(
        &r,
        &pb,
        &[(5, 7), (7, 13)],
        &["'undefined_thing' is undefined", "when"],
    );
}

// ---------------------------------------------------------------------------------------------
// Files the playbook refers to
// ---------------------------------------------------------------------------------------------

#[test]
fn vars_file_missing() {
    // line 3: `    - vars/missing.yml` — the item is column 7.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  vars_files:\n    - vars/missing.yml\n  tasks: []\n",
        &[],
    );
    assert_bad(&r, &pb, &[(3, 7)], &["vars/missing.yml", "not found"]);
}

#[test]
fn vars_file_is_not_a_mapping() {
    let sb = Sandbox::new();
    let vf = sb.write("vl.yml", "- a\n- b\n");
    let pb = sb.write(
        "playbook.yml",
        "- hosts: all\n  vars_files: [vl.yml]\n  tasks: []\n",
    );
    let r = sb.run_file(&pb, &[]);
    assert_bad(&r, &vf, &[(1, 1)], &["vars file", "mapping", "list"]);
}

#[test]
fn include_tasks_of_a_missing_file() {
    // line 3: `    - include_tasks: missing-tasks.yml` — the key is column 7, the file name 22.
    // The error belongs to the playbook that names the file (the missing file has no lines).
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - include_tasks: missing-tasks.yml\n",
        &[],
    );
    assert_bad(&r, &pb, &[(3, 7), (3, 22)], &["missing-tasks.yml"]);
}

#[test]
fn import_playbook_of_a_missing_file() {
    // line 1: `- import_playbook: other.yml` — the key is column 3, the file name 20.
    let (_sb, pb, r) = run_pb("- import_playbook: other.yml\n", &[]);
    assert_bad(&r, &pb, &[(1, 3), (1, 20)], &["other.yml"]);
}

#[test]
fn loop_over_import_tasks() {
    // include_tasks loops (keywords.rs); import_tasks is inlined when read and cannot.
    let (sb, pb, r) = run_pb(
        "- hosts: all\n  tasks:\n    - import_tasks: x.yml\n      loop: [1]\n",
        &[],
    );
    let _ = sb;
    assert_bad(
        &r,
        &pb,
        &[(4, 7)],
        &["import_tasks cannot loop", "include_tasks"],
    );
}

#[test]
fn error_inside_an_included_file_points_into_it() {
    let sb = Sandbox::new();
    // line 3 of the included file: `  regster: x` — the key is column 3.
    let inc = sb.write(
        "tasks/inc.yml",
        "- name: inner\n  stat: {path: /tmp}\n  regster: x\n",
    );
    let pb = sb.write(
        "playbook.yml",
        "- hosts: all\n  tasks:\n    - include_tasks: tasks/inc.yml\n",
    );
    let r = sb.run_file(&pb, &[]);
    assert_bad(
        &r,
        &inc,
        &[(3, 3)],
        &["'regster'", "did you mean 'register'"],
    );
}

#[test]
fn nonexistent_playbook() {
    let sb = Sandbox::new();
    let missing = sb.p("does-not-exist.yml");
    let r = sb.run_file(&missing, &[]);
    assert_refused(&r);
    assert!(
        r.stderr.contains(&missing.display().to_string()),
        "{}",
        r.dump()
    );
    assert!(r.stderr.contains("cannot read"), "{}", r.dump());
    assert!(
        !r.stderr.contains(":0:0:"),
        "a file that cannot be read has no line 0 column 0 to point at\n{}",
        r.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------------

#[test]
fn inventory_unknown_key() {
    let (_sb, inv, r) = run_inv("all:\n  host:\n    a: {}\n");
    assert_bad(&r, &inv, &[(2, 3)], &["'host'", "did you mean 'hosts'"]);
}

#[test]
fn inventory_hosts_as_a_list() {
    // line 3: `    - a` — the list starts at column 5.
    let (_sb, inv, r) = run_inv("all:\n  hosts:\n    - a\n    - b\n");
    assert_bad(
        &r,
        &inv,
        &[(3, 5)],
        &["'hosts'", "mapping of host names", "list"],
    );
}

#[test]
fn inventory_not_a_mapping() {
    let (_sb, inv, r) = run_inv("- a\n- b\n");
    assert_bad(&r, &inv, &[(1, 1)], &["inventory", "mapping", "all:"]);
}

#[test]
fn inventory_host_value_is_a_scalar() {
    // line 3: `    a: 5` — the value is column 8.
    let (_sb, inv, r) = run_inv("all:\n  hosts:\n    a: 5\n");
    assert_bad(&r, &inv, &[(3, 8)], &["host 'a'", "mapping"]);
}

#[test]
fn inventory_bad_host_range() {
    // line 3: `    db[a:b]:` — the key is column 5.
    let (_sb, inv, r) = run_inv("all:\n  hosts:\n    db[a:b]:\n");
    assert_bad(&r, &inv, &[(3, 5)], &["db[a:b]", "numeric"]);
}

#[test]
fn inventory_group_is_its_own_child() {
    // line 5: `        web:` — the key is column 9.
    let (_sb, inv, r) = run_inv("all:\n  children:\n    web:\n      children:\n        web:\n");
    assert_bad(&r, &inv, &[(5, 9)], &["'web'", "itself"]);
}

// ---------------------------------------------------------------------------------------------
// Survey variables set outside -e: checked like -e answers, at the value's file:line:col
// ---------------------------------------------------------------------------------------------

/// The questions of the survey tests: a port, a list of CIDRs, a boolean and a secret.
const SURVEY: &str = "name: t\nspec:\n  - {variable: port, type: integer, format: port, default: 5432}\n  - {variable: clients, type: list, format: cidr}\n  - {variable: ssl, type: boolean, default: false}\n  - {variable: db_password, type: password, min: 16, secret: true}\n";

/// Runs `--check` of a playbook that has [`SURVEY`] against `inventory`, after writing `files`
/// (relative to the sandbox, beside the inventory) and with `vars_files` in the play.
fn run_survey(inventory: &str, files: &[(&str, &str)], vars_files: &[&str]) -> (Sandbox, Run) {
    let sb = Sandbox::with_inventory(inventory);
    for (rel, text) in files {
        sb.write(rel, text);
    }
    let vf = if vars_files.is_empty() {
        String::new()
    } else {
        format!("  vars_files: [{}]\n", vars_files.join(", "))
    };
    let pb = sb.write(
        "playbook.yml",
        &format!(
            "- hosts: all\n  gather_facts: no\n{vf}  tasks:\n    - debug: msg={{{{ port }}}}\n"
        ),
    );
    sb.write("playbook.survey.yml", SURVEY);
    let r = sb.run_file(&pb, &["--check"]);
    (sb, r)
}

#[test]
fn survey_port_out_of_range_as_an_inventory_host_var() {
    // line 5: `      port: 99999` — the value is column 13.
    let (sb, r) = run_survey(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n      port: 99999\n",
        &[],
        &[],
    );
    assert_bad(
        &r,
        &sb.inventory(),
        &[(5, 13)],
        &[
            "port: 99999 is not a port number",
            "1-65535",
            "survey question 'port' at ",
        ],
    );
}

#[test]
fn survey_bad_cidr_in_an_inventory_group_var() {
    // line 10: `        clients: [10.0.0.0/8, 10.0.0.1]` — the bad second item is column 31.
    let (sb, r) = run_survey(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n  children:\n    db:\n      hosts:\n        local1:\n      vars:\n        clients: [10.0.0.0/8, 10.0.0.1]\n",
        &[],
        &[],
    );
    assert_bad(
        &r,
        &sb.inventory(),
        &[(10, 31)],
        &[
            "clients: item 2 (\"10.0.0.1\")",
            "CIDR notation",
            "172.16.168.0/24",
        ],
    );
}

#[test]
fn survey_list_given_as_text_in_the_inventory() {
    // line 10: `        clients: 10.0.0.0/8` — a text where the playbook loops over a list.
    let (sb, r) = run_survey(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n  children:\n    db:\n      hosts:\n        local1:\n      vars:\n        clients: 10.0.0.0/8\n",
        &[],
        &[],
    );
    assert_bad(
        &r,
        &sb.inventory(),
        &[(10, 18)],
        &["clients: a text, not a YAML list", "[10.0.0.5/32]"],
    );
}

#[test]
fn survey_bad_values_in_group_vars_and_host_vars_files() {
    // group_vars/all.yml line 2: `port: 0` — the value is column 7.
    let (sb, r) = run_survey(
        LOCAL_INVENTORY,
        &[("group_vars/all.yml", "ssl: false\nport: 0\n")],
        &[],
    );
    assert_bad(
        &r,
        &sb.p("group_vars/all.yml"),
        &[(2, 7)],
        &["port: 0 is not a port number", "1-65535"],
    );
    // host_vars/local1/net.yml line 3: `  - 300.1.1.1/8` — the bad item is column 5.
    let (sb, r) = run_survey(
        LOCAL_INVENTORY,
        &[(
            "host_vars/local1/net.yml",
            "clients:\n  - 10.0.0.0/8\n  - 300.1.1.1/8\n",
        )],
        &[],
    );
    assert_bad(
        &r,
        &sb.p("host_vars/local1/net.yml"),
        &[(3, 5)],
        &["clients:", "300.1.1.1/8", "CIDR notation"],
    );
    // group_vars/all.yml line 1: `ssl: maybe` — the value is column 6.
    let (sb, r) = run_survey(
        LOCAL_INVENTORY,
        &[("group_vars/all.yml", "ssl: maybe\n")],
        &[],
    );
    assert_bad(
        &r,
        &sb.p("group_vars/all.yml"),
        &[(1, 6)],
        &["ssl: \"maybe\" is not a boolean", "true/false"],
    );
}

#[test]
fn survey_bad_value_in_a_vars_file() {
    // vars/net.yml line 2: `port: "70000"` — the value is column 7.
    let (sb, r) = run_survey(
        LOCAL_INVENTORY,
        &[("vars/net.yml", "ssl: true\nport: \"70000\"\n")],
        &["vars/net.yml"],
    );
    assert_bad(
        &r,
        &sb.p("vars/net.yml"),
        &[(2, 7)],
        &["port:", "70000", "1-65535"],
    );
}

#[test]
fn survey_bad_value_in_play_vars() {
    // line 4: `    ssl: sometimes` — the value is column 10.
    let sb = Sandbox::new();
    let pb = sb.write(
        "playbook.yml",
        "- hosts: all\n  gather_facts: no\n  vars:\n    ssl: sometimes\n  tasks: []\n",
    );
    sb.write("playbook.survey.yml", SURVEY);
    let r = sb.run_file(&pb, &["--check"]);
    assert_bad(
        &r,
        &pb,
        &[(4, 10)],
        &["ssl: \"sometimes\" is not a boolean"],
    );
}

#[test]
fn survey_secret_from_the_inventory_is_checked_but_never_shown() {
    // line 5: `      db_password: short-secret` — the value is column 20.
    let (sb, r) = run_survey(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n      db_password: short-secret\n",
        &[],
        &[],
    );
    assert_bad(
        &r,
        &sb.inventory(),
        &[(5, 20)],
        &["db_password:", "minimum 16"],
    );
    assert!(!r.stderr.contains("short-secret"), "{}", r.dump());
}

#[test]
fn survey_templates_and_valid_values_outside_e_pass() {
    // Templates are resolved on the host, so they are not checked at plan time.
    let (_sb, r) = run_survey(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n      port: \"{{ 5000 + 1 }}\"\n      clients: [\"{{ '10.0.0.0/8' }}\", 10.1.0.0/16]\n",
        &[(
            "group_vars/all.yml",
            "ssl: yes\ndb_password: a-long-enough-password\n",
        )],
        &[],
    );
    r.assert_ok();
}

// ---------------------------------------------------------------------------------------------
// Host patterns and the command line
// ---------------------------------------------------------------------------------------------

#[test]
fn host_pattern_with_a_bad_regex() {
    // The play starts at 1:3; the pattern value at 1:10.
    let (_sb, pb, r) = run_pb("- hosts: \"~[unclosed\"\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(1, 3), (1, 10)], &["~[unclosed", "regex"]);
}

#[test]
fn host_pattern_matching_nothing() {
    let (_sb, pb, r) = run_pb("- hosts: nosuchgroup\n  tasks: []\n", &[]);
    assert_bad(&r, &pb, &[(1, 3), (1, 10)], &["nosuchgroup", "local1"]);
}

#[test]
fn limit_matching_nothing() {
    let (_sb, _pb, r) = run_pb(
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - debug: msg=x\n",
        &["--limit", "nosuchhost"],
    );
    assert_refused(&r);
    for n in ["--limit", "nosuchhost", "local1"] {
        assert!(
            r.stderr.contains(n),
            "stderr should mention {n:?}\n{}",
            r.dump()
        );
    }
}

#[test]
fn extra_vars_garbage() {
    let (_sb, _pb, r) = run_pb("- hosts: all\n  tasks: []\n", &["-e", "just words"]);
    assert_refused(&r);
    for n in ["-e", "just words", "key=value", "@file"] {
        assert!(
            r.stderr.contains(n),
            "stderr should mention {n:?}\n{}",
            r.dump()
        );
    }
}

#[test]
fn extra_vars_inline_yaml_syntax_error() {
    let (_sb, _pb, r) = run_pb("- hosts: all\n  tasks: []\n", &["-e", "{a: [1"]);
    assert_refused(&r);
    assert!(r.stderr.contains("-e"), "{}", r.dump());
    assert!(r.stderr.contains("YAML"), "{}", r.dump());
}

#[test]
fn extra_vars_missing_file() {
    let (sb, _pb, r) = run_pb("- hosts: all\n  tasks: []\n", &["-e", "@@D@/nope.yml"]);
    assert_refused(&r);
    assert!(
        r.stderr.contains(&sb.p("nope.yml").display().to_string()),
        "{}",
        r.dump()
    );
    assert!(r.stderr.contains("cannot read"), "{}", r.dump());
}

// ---------------------------------------------------------------------------------------------
// Errors found only while running: the task fails (exit 2) with a clear message, no panic.
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_task_failed(r: &Run, task: &str, needles: &[&str]) {
    assert!(!r.stderr.contains("panicked"), "panic!\n{}", r.dump());
    assert_eq!(r.code, 2, "a failed task exits 2\n{}", r.dump());
    let res = r.result(task);
    assert_eq!(res["status"], "failed", "{}", r.dump());
    let msg = res["msg"].as_str().unwrap_or_default();
    for n in needles {
        assert!(msg.contains(n), "message should mention {n:?}: {msg}");
    }
}

#[test]
fn runtime_copy_src_missing() {
    let (sb, _pb, r) = run_pb(
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: cp\n      copy:\n        src: missing-file\n        dest: @D@/out\n",
        &[],
    );
    let looked = sb.p("files/missing-file").display().to_string();
    assert_task_failed(&r, "cp", &["missing-file", "not found", &looked]);
    assert!(!sb.exists("out"));
}

/// The mode is templated: a literal bad mode is refused at plan time (exit 5, file:line:col);
/// this one is only known when the task runs.
#[test]
fn runtime_bad_mode() {
    let (sb, _pb, r) = run_pb(
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: cp\n      copy:\n        content: x\n        dest: @D@/out\n        mode: \"{{ 'abc' }}\"\n",
        &[],
    );
    assert_task_failed(&r, "cp", &["mode", "abc", "0644"]);
    assert!(!sb.exists("out"), "a file was written despite the bad mode");
}

#[test]
fn runtime_bad_regexp() {
    let (sb, _pb, r) = run_pb(
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: edit\n      lineinfile:\n        path: @D@/f\n        regexp: '(unclosed'\n        line: x\n        create: yes\n",
        &[],
    );
    assert_task_failed(&r, "edit", &["regexp", "regular expression"]);
    assert!(!sb.exists("f"));
}

#[test]
fn runtime_missing_attribute() {
    let (_sb, _pb, r) = run_pb(
        "- hosts: all\n  gather_facts: no\n  vars:\n    d: {a: 1}\n  tasks:\n    - name: show\n      debug:\n        msg: \"{{ d.nope }}\"\n",
        &[],
    );
    assert_task_failed(&r, "show", &["nope"]);
}

// ---------------------------------------------------------------------------------------------
// Database URLs (issue 18, finding 14)
// ---------------------------------------------------------------------------------------------

#[test]
fn db_url_with_a_password_in_its_query_string_is_refused_without_showing_it() {
    let sb = Sandbox::new();
    let env = sb.write(
        "db.env",
        "SLM_DATABASE_URL=\"postgres://slm_app@127.0.0.1:1/slm?password=QrySecret77&sslmode=bogus\"\n\
         SLM_USERS_DATABASE_URL=\"postgres://a@127.0.0.1:1/u\"\n\
         AUTOBOT_USERS_DATABASE_URL=\"postgres://a@127.0.0.1:1/u\"\n",
    );
    let r = sb.run_raw(&[
        "migrate",
        "--database",
        "slm",
        "--env-file",
        &env.display().to_string(),
        "--connect-timeout",
        "1",
    ]);
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(
        r.stderr.contains("SLM_DATABASE_URL") && r.stderr.contains("bogus"),
        "the error names the variable and the bad value\n{}",
        r.dump()
    );
    assert!(r.stderr.contains("password=***"), "{}", r.dump());
    assert!(
        !r.stderr.contains("QrySecret77") && !r.stdout.contains("QrySecret77"),
        "password shown\n{}",
        r.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// Variable specs derived from playbooks without a survey (vars_prompt, argument_specs, defaults)
// ---------------------------------------------------------------------------------------------

#[test]
fn e_against_a_roles_argument_spec() {
    let sb = Sandbox::new();
    // line 4: `      web_mode:` — the option starts at column 7.
    let spec = sb.write(
        "roles/web/meta/argument_specs.yml",
        "argument_specs:\n  main:\n    options:\n      web_mode:\n        type: str\n        choices: [dev, prod]\n",
    );
    let pb = sb.write(
        "playbook.yml",
        "- hosts: all\n  gather_facts: no\n  roles:\n    - web\n",
    );
    let r = sb.run_file(&pb, &["-e", "web_mode=test"]);
    assert_refused(&r);
    for needle in [
        "-e web_mode: \"test\" is not one of the choices",
        "one of dev, prod",
        &format!("at {}:4:7", spec.display()),
    ] {
        assert!(r.stderr.contains(needle), "{needle:?}\n{}", r.dump());
    }
}

#[test]
fn e_against_a_play_var_typed_by_its_value() {
    // line 4: `    retries: 3` — the variable starts at column 5.
    let (_sb, pb, r) = run_pb(
        "- hosts: all\n  gather_facts: no\n  vars:\n    retries: 3\n  tasks:\n    - debug: msg={{ retries }}\n",
        &["-e", "retries=many"],
    );
    assert_refused(&r);
    for needle in [
        "-e retries: \"many\" is not an integer",
        &format!("at {}:4:5", pb.display()),
    ] {
        assert!(r.stderr.contains(needle), "{needle:?}\n{}", r.dump());
    }
}

#[test]
fn inventory_value_against_a_derived_spec() {
    // hosts.yml line 5: `      retries: many` — the value is column 16.
    let sb = Sandbox::with_inventory(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n      retries: many\n",
    );
    let pb = sb.write(
        "playbook.yml",
        "- hosts: all\n  gather_facts: no\n  vars:\n    retries: 3\n  tasks:\n    - debug: msg={{ retries }}\n",
    );
    let r = sb.run_file(&pb, &["--check"]);
    assert_bad(
        &r,
        &sb.inventory(),
        &[(5, 16)],
        &["retries: \"many\" is not an integer", "playbook.yml:4:5"],
    );
}
