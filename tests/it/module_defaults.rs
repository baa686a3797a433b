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
    assert_eq!(r.status("unsupported"), "failed", "{}", r.dump());
    assert!(
        r.result("unsupported")["msg"]
            .as_str()
            .is_some_and(|m| m.contains("Unsupported parameters for (file) module: nonsense")),
        "{}",
        r.dump()
    );
}
