//! The fact modules of issue #17 (service_facts, package_facts) on a test host, run by
//! ansible-playbook and by the native engine on the same host, and what they leave in the
//! host's facts (any module's `ansible_facts` become host facts, merged, as Ansible does).

use crate::modules_b::{both, setup};

use serde_json::Value;

const FACTS_PB: &str = r#"- hosts: h1
  gather_facts: true
  tasks:
    - service_facts:
      register: s
    - package_facts:
      register: p
    - name: facts a later module returns are merged, not replacing the others
      hostname: {name: web02.example.org}
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ {'services': ansible_facts.services, 'packages': ansible_facts.packages,
          'registered': s.ansible_facts.services | length, 'reg_packages': p.ansible_facts.packages | length,
          'short': ansible_hostname, 'node': ansible_facts.nodename,
          'kept': ansible_facts.os_family is defined and ansible_facts.services is defined,
          'changed': [s.changed, p.changed]} | to_json }}"
"#;

/// Every package's entries without `origin` and `category` (python-apt takes them from the
/// archive's index, where the section can differ from the one dpkg installed; dpkg knows no
/// origin).
fn without_origin(packages: &Value) -> Value {
    let mut p = packages.clone();
    if let Some(m) = p.as_object_mut() {
        for list in m.values_mut() {
            for e in list.as_array_mut().into_iter().flatten() {
                if let Some(e) = e.as_object_mut() {
                    e.remove("origin");
                    e.remove("category");
                }
            }
        }
    }
    p
}

/// service_facts and package_facts give the same facts as under ansible-playbook (sysv services
/// on a host without systemd; dpkg's packages), they reach `ansible_facts`, and a later module's
/// facts (`hostname`) are merged over them.
#[test]
fn service_and_package_facts_match_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_c::service_and_package_facts_match_ansible_playbook")
    else {
        return;
    };
    let (want, got) = both(&h, &ansible, FACTS_PB, &[]);
    assert_eq!(want["services"], got["services"], "services differ");
    assert!(
        got["services"].as_object().is_some_and(|m| !m.is_empty()),
        "{got:#}"
    );
    let (wp, gp) = (
        without_origin(&want["packages"]),
        without_origin(&got["packages"]),
    );
    let names = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(names(&wp), names(&gp), "package names differ");
    for name in names(&wp) {
        assert_eq!(wp[&name], gp[&name], "package {name}");
    }
    for k in [
        "registered",
        "reg_packages",
        "short",
        "node",
        "kept",
        "changed",
    ] {
        assert_eq!(want[k], got[k], "{k}");
    }
    assert_eq!(got["short"], "web02", "{got:#}");
    assert_eq!(got["kept"], true, "{got:#}");
}
