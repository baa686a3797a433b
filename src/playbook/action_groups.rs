//! The action groups `module_defaults` can name (`group/NAME`), resolved as ansible-core 2.19's
//! `_resolve_group` does: a name that is not fully qualified is ansible.builtin's; an unknown
//! group is an error when the playbook is loaded.

/// community.postgresql's `all` group (its meta/runtime.yml, 4.2.0).
const POSTGRESQL_ALL: &[&str] = &[
    "postgresql_copy",
    "postgresql_db",
    "postgresql_ext",
    "postgresql_idx",
    "postgresql_info",
    "postgresql_membership",
    "postgresql_owner",
    "postgresql_pg_hba",
    "postgresql_ping",
    "postgresql_privs",
    "postgresql_publication",
    "postgresql_query",
    "postgresql_schema",
    "postgresql_script",
    "postgresql_sequence",
    "postgresql_set",
    "postgresql_slot",
    "postgresql_subscription",
    "postgresql_table",
    "postgresql_tablespace",
    "postgresql_user",
    "postgresql_user_obj_stat_info",
];

/// ansible.builtin's groups (config/ansible_builtin_runtime.yml): all but `testgroup` only
/// extend groups of collections whose modules this engine does not run.
const BUILTIN: &[&str] = &[
    "acme",
    "aws",
    "azure",
    "cpm",
    "docker",
    "gcp",
    "k8s",
    "os",
    "ovirt",
    "testgroup",
    "testlegacy",
    "vmware",
];

/// The modules (canonical names) of the group `name` as written after `group/`; None when
/// Ansible could not resolve it.
pub fn members(name: &str) -> Option<&'static [&'static str]> {
    let fq = if name.split('.').count() >= 3 {
        name.to_string()
    } else {
        format!("ansible.builtin.{name}")
    };
    match fq.as_str() {
        "community.postgresql.all" => Some(POSTGRESQL_ALL),
        "ansible.builtin.testgroup" => Some(&["ping"]),
        other => other
            .strip_prefix("ansible.builtin.")
            .filter(|g| BUILTIN.contains(g))
            .map(|_| &[][..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_resolve_as_ansible_does() {
        assert!(members("community.postgresql.all").is_some_and(|m| m.contains(&"postgresql_db")));
        assert_eq!(members("aws"), Some(&[][..]));
        assert_eq!(members("ansible.builtin.aws"), Some(&[][..]));
        assert_eq!(members("all"), None);
        assert_eq!(members("ansible.builtin.nosuch"), None);
        assert_eq!(members("community.postgresql.nosuch"), None);
    }
}
