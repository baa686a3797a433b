//! What the native engine does with each setting of ansible's configuration.

use Rule::*;

/// What the native engine does with a setting (implemented ones are resolved by name in
/// [`super::resolve`]).
#[derive(Clone, Copy)]
pub(super) enum Rule {
    /// Read by [`super::resolve`].
    Implemented,
    /// Only Python, OpenSSH, ansible's output or its performance: no effect on what runs.
    Ignored,
    /// Fine at ansible's default (a boolean); any other value is refused.
    Bool(bool),
    /// Fine at one of these values (case-insensitive); any other value is refused.
    OneOf(&'static [&'static str]),
    /// Any value is refused.
    Refused,
}

/// Every setting of `lib/ansible/config/base.yml` that can change what a run does, with its
/// section, key and variable (none: ""); keys not listed are ignored (see [`IGNORED_SECTIONS`] and the
/// README table). Unknown keys are ignored, as ansible ignores them.
#[rustfmt::skip]
pub(super) const RULES: &[(&str, &str, &str, Rule)] = &[
    ("defaults", "inventory", "ANSIBLE_INVENTORY", Implemented),
    ("defaults", "remote_user", "ANSIBLE_REMOTE_USER", Implemented),
    ("defaults", "forks", "ANSIBLE_FORKS", Implemented),
    ("defaults", "host_key_checking", "ANSIBLE_HOST_KEY_CHECKING", Implemented),
    ("defaults", "roles_path", "ANSIBLE_ROLES_PATH", Implemented),
    ("defaults", "gathering", "ANSIBLE_GATHERING", Implemented),
    ("defaults", "strategy", "ANSIBLE_STRATEGY", Implemented),
    ("defaults", "ask_pass", "ANSIBLE_ASK_PASS", Implemented),
    ("privilege_escalation", "become", "ANSIBLE_BECOME", Implemented),
    ("privilege_escalation", "become_user", "ANSIBLE_BECOME_USER", Implemented),
    ("privilege_escalation", "become_method", "ANSIBLE_BECOME_METHOD", Implemented),
    ("privilege_escalation", "become_ask_pass", "ANSIBLE_BECOME_ASK_PASS", Implemented),
    ("privilege_escalation", "become_allow_same_user", "ANSIBLE_BECOME_ALLOW_SAME_USER", Bool(false)),
    ("privilege_escalation", "become_exe", "ANSIBLE_BECOME_EXE", Refused),
    ("privilege_escalation", "become_flags", "ANSIBLE_BECOME_FLAGS", OneOf(&[""])),
    ("privilege_escalation", "agnostic_become_prompt", "ANSIBLE_AGNOSTIC_BECOME_PROMPT", Ignored),
    ("defaults", "hash_behaviour", "ANSIBLE_HASH_BEHAVIOUR", OneOf(&["replace"])),
    ("defaults", "error_on_undefined_vars", "ANSIBLE_ERROR_ON_UNDEFINED_VARS", Bool(true)),
    ("defaults", "any_errors_fatal", "ANSIBLE_ANY_ERRORS_FATAL", Bool(false)),
    ("defaults", "force_handlers", "ANSIBLE_FORCE_HANDLERS", Bool(false)),
    ("defaults", "private_role_vars", "ANSIBLE_PRIVATE_ROLE_VARS", Bool(false)),
    ("defaults", "jinja2_native", "ANSIBLE_JINJA2_NATIVE", Bool(true)),
    ("defaults", "jinja2_extensions", "ANSIBLE_JINJA2_EXTENSIONS", OneOf(&["", "[]"])),
    ("defaults", "allow_broken_conditionals", "ANSIBLE_ALLOW_BROKEN_CONDITIONALS", Bool(false)),
    ("defaults", "allow_embedded_templates", "ANSIBLE_ALLOW_EMBEDDED_TEMPLATES", Bool(true)),
    ("defaults", "inject_facts_as_vars", "ANSIBLE_INJECT_FACT_VARS", Implemented),
    ("defaults", "error_on_missing_handler", "ANSIBLE_ERROR_ON_MISSING_HANDLER", Bool(true)),
    ("defaults", "invalid_task_attribute_failed", "ANSIBLE_INVALID_TASK_ATTRIBUTE_FAILED", Bool(true)),
    ("defaults", "no_log", "ANSIBLE_NO_LOG", Bool(false)),
    // ANSIBLE_VAULT_PASSWORD_FILE is slm-wizard's own --vault-password-file (no variable here).
    ("defaults", "vault_password_file", "", Refused),
    ("defaults", "vault_identity_list", "ANSIBLE_VAULT_IDENTITY_LIST", OneOf(&[""])),
    ("defaults", "ask_vault_pass", "ANSIBLE_ASK_VAULT_PASS", Bool(false)),
    ("defaults", "become_password_file", "ANSIBLE_BECOME_PASSWORD_FILE", Refused),
    ("defaults", "connection_password_file", "ANSIBLE_CONNECTION_PASSWORD_FILE", Refused),
    ("defaults", "private_key_file", "ANSIBLE_PRIVATE_KEY_FILE", Refused),
    ("defaults", "remote_port", "ANSIBLE_REMOTE_PORT", Refused),
    ("defaults", "transport", "ANSIBLE_TRANSPORT", OneOf(&["ssh", "smart"])),
    ("defaults", "executable", "ANSIBLE_EXECUTABLE", OneOf(&["/bin/sh"])),
    ("defaults", "task_timeout", "ANSIBLE_TASK_TIMEOUT", OneOf(&["0"])),
    ("defaults", "module_args", "ANSIBLE_MODULE_ARGS", Ignored),
    ("defaults", "precedence", "ANSIBLE_PRECEDENCE", Refused),
    ("defaults", "playbook_vars_root", "ANSIBLE_PLAYBOOK_VARS_ROOT", OneOf(&["top"])),
    ("defaults", "vars_plugins_enabled", "ANSIBLE_VARS_ENABLED", OneOf(&["host_group_vars"])),
    ("defaults", "fact_caching", "ANSIBLE_CACHE_PLUGIN", OneOf(&["memory"])),
    ("defaults", "facts_modules", "ANSIBLE_FACTS_MODULES", OneOf(&["smart", "setup", "ansible.builtin.setup"])),
    ("defaults", "duplicate_dict_key", "ANSIBLE_DUPLICATE_YAML_DICT_KEY", OneOf(&["warn"])),
    ("defaults", "null_representation", "ANSIBLE_NULL_REPRESENTATION", Refused),
    ("defaults", "force_valid_group_names", "ANSIBLE_TRANSFORM_INVALID_GROUP_CHARS", OneOf(&["never", "false"])),
    ("defaults", "keep_remote_files", "ANSIBLE_KEEP_REMOTE_FILES", Ignored),
    ("defaults", "su", "ANSIBLE_SU", Bool(false)),
    ("defaults", "enable_task_debugger", "ANSIBLE_ENABLE_TASK_DEBUGGER", Bool(false)),
    ("defaults", "use_persistent_connections", "ANSIBLE_USE_PERSISTENT_CONNECTIONS", Ignored),
    ("tags", "run", "ANSIBLE_RUN_TAGS", OneOf(&[""])),
    ("tags", "skip", "ANSIBLE_SKIP_TAGS", OneOf(&[""])),
    ("diff", "always", "ANSIBLE_DIFF_ALWAYS", Bool(false)),
    ("inventory", "host_pattern_mismatch", "ANSIBLE_HOST_PATTERN_MISMATCH", OneOf(&["warning"])),
    ("inventory", "unparsed_is_failed", "ANSIBLE_INVENTORY_UNPARSED_FAILED", Bool(false)),
    ("inventory", "any_unparsed_is_failed", "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", Bool(false)),
    ("ssh_connection", "host_key_checking", "ANSIBLE_SSH_HOST_KEY_CHECKING", Implemented),
];

/// Sections whose every key only concerns ansible's output, Python, OpenSSH's options, the
/// galaxy client or plugins the native engine does not have: accepted and ignored.
pub const IGNORED_SECTIONS: &[&str] = &[
    "colors",
    "galaxy",
    "selinux",
    "persistent_connection",
    "paramiko_connection",
    "connection",
    "jinja2",
    "netconf_connection",
    "ssh_connection",
];
