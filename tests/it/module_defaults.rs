//! `module_defaults` (issue 17) at play, block and task level, by short name and FQCN, with
//! templated values: an inner entry for a module replaces the outer one whole, task arguments
//! override defaults, and an argument the module does not take fails the task as in Ansible.

use crate::support::cmd::Sandbox;

const LOCAL: &str = "all:\n  hosts:\n    h1:\n      ansible_connection: local\n";

const DEFAULTS: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    m: "0600"
  module_defaults:
    file:
      mode: "{{ m }}"
      state: touch
  tasks:
    - file: path=@D@/a
    - block:
        - ansible.builtin.file: path=@D@/b
        - file: path=@D@/c mode=0644
        - name: the task's entry replaces the block's whole
          file: path=@D@/d
          module_defaults:
            ansible.builtin.file:
              state: touch
      module_defaults:
        ansible.builtin.file:
          mode: "0640"
          state: touch
    - stat: path=@D@/{{ item }}
      loop: [a, b, c, d]
      register: st
    - name: modes
      debug:
        msg: "{{ st.results | map(attribute='stat.mode') | join(' ') }}"
    - name: unsupported
      file: path=@D@/e
      module_defaults:
        file:
          nonsense: 1
"#;

#[test]
fn module_defaults_merge_as_ansible_does() {
    let sb = Sandbox::with_inventory(LOCAL);
    let pb = DEFAULTS.replace("@D@", &sb.path().display().to_string());
    let r = sb.run(&pb, &[]);
    r.assert_code(2);
    // d: touched with the umask's mode — the task's entry has no mode (as ansible-playbook).
    let umask_mode = "0644";
    assert_eq!(
        r.result("modes")["msg"],
        format!("0600 0640 0644 {umask_mode}"),
        "{}",
        r.dump()
    );
    // ansible-playbook on the same playbook, in a fresh directory: the same modes.
    if let Some(ansible) = crate::support::cmd::ansible_playbook() {
        let sb2 = Sandbox::with_inventory(LOCAL);
        let file = sb2.write(
            "md.yml",
            &DEFAULTS.replace("@D@", &sb2.path().display().to_string()),
        );
        let out = sb2.ansible_stdout(&ansible, &file);
        assert!(
            out.contains(&format!("\"msg\": \"0600 0640 0644 {umask_mode}\"")),
            "{out}"
        );
        assert!(
            out.contains("Unsupported parameters for (file) module: nonsense"),
            "{out}"
        );
    }
    assert_eq!(r.status("unsupported"), "failed", "{}", r.dump());
    assert!(
        r.result("unsupported")["msg"]
            .as_str()
            .is_some_and(|m| m.contains("Unsupported parameters for (file) module: nonsense")),
        "{}",
        r.dump()
    );
}

const ROLES: &str = r#"
- hosts: all
  gather_facts: false
  module_defaults:
    file: {state: touch, mode: "0600"}
  roles:
    - role: r1
      tag: roles
      module_defaults:
        file: {state: touch, mode: "0604"}
  tasks:
    - import_role: {name: r1}
      vars: {tag: import}
      module_defaults:
        file: {state: touch, mode: "0640"}
    - block:
        - include_role: {name: r1}
          vars: {tag: blockinc}
      module_defaults:
        file: {state: touch, mode: "0660"}
    - include_role: {name: r1}
      vars: {tag: include}
"#;

#[test]
fn module_defaults_on_roles_and_the_blocks_around_them() {
    let sb = Sandbox::with_inventory(LOCAL);
    sb.write(
        "roles/r1/tasks/main.yml",
        "- file: path=@D@/r-{{ tag }}\n- stat: path=@D@/r-{{ tag }}\n  register: st\n\
         - name: mode\n  debug: msg=\"{{ tag }} {{ st.stat.mode }}\"\n",
    );
    let r = sb.run(ROLES, &[]);
    r.assert_code(0);
    let modes: Vec<&str> = r
        .task_results()
        .into_iter()
        .filter(|e| e["task"] == "r1 : mode")
        .filter_map(|e| e["msg"].as_str())
        .collect();
    // As ansible-playbook 2.19 gives them.
    assert_eq!(
        modes,
        ["roles 0604", "import 0640", "blockinc 0660", "include 0600"],
        "{}",
        r.dump()
    );
}

#[test]
fn an_unknown_action_group_is_refused_with_its_place() {
    let sb = Sandbox::with_inventory(LOCAL);
    let pb = "- hosts: all\n  gather_facts: false\n  module_defaults:\n    group/nosuch:\n      path: /x\n  tasks:\n    - ping:\n";
    let r = sb.run(pb, &[]);
    r.assert_code(5);
    assert!(
        r.stderr.contains(":4:5:")
            && r.stderr
                .contains("could not resolve the module_defaults group nosuch"),
        "{}",
        r.dump()
    );
}
