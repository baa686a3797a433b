//! Property tests ("fuzzing" within CI's budget) of everything that reads untrusted text: the
//! YAML loader (aliases, depth), inventories, playbooks, templates, vault files and known_hosts.
//! Each property: no panic, no unbounded memory, and errors that say where.
//!
//! The budget is in cases, not time (about 20 s in a debug build for the whole file); run longer
//! locally with `PROPTEST_CASES=20000 cargo test --test it fuzz::`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use slm_wizard::compat::yaml::{self, Kind, MAX_DEPTH, MAX_NODES, Node, Pos, YamlError};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        // CI checks out a fresh tree: nothing to persist failures into.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text made of pieces that matter to a parser, so random input reaches its corners.
fn text_of(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            9 => proptest::sample::select(pieces).prop_map(str::to_string),
            1 => any::<char>().prop_map(|c| c.to_string()),
        ],
        0..max,
    )
    .prop_map(|v| v.concat())
}

const YAML_PIECES: &[&str] = &[
    "- ",
    "a: ",
    "b: ",
    "&x ",
    "&y ",
    "*x",
    "*y",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "\n",
    "  ",
    "    ",
    "<<: ",
    "!vault ",
    "!unsafe ",
    "'s'",
    "\"d\\n\"",
    "1",
    "0644",
    "yes",
    "~",
    ": ",
    "#c",
    "|\n",
    ">\n",
    "---\n",
    "...\n",
    "? ",
    "\t",
    "\"",
    "'",
    "{{ v }}",
    "%YAML 1.1\n",
    "!!str ",
    "-1.5e3",
];

fn count_nodes(n: &Node) -> usize {
    1 + match &n.kind {
        Kind::Seq(items) => items.iter().map(count_nodes).sum(),
        Kind::Map(entries) => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
        _ => 0,
    }
}

fn depth_of(n: &Node) -> usize {
    match &n.kind {
        Kind::Seq(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Kind::Map(entries) => 1 + entries.iter().map(|(_, v)| depth_of(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// An error says where: the file and a 1-based line and column.
fn located(e: &YamlError, file: &str) -> bool {
    e.pos.file.as_path() == Path::new(file) && e.pos.line >= 1 && e.pos.col >= 1
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn yaml_any_text_parses_or_says_where(text in text_of(YAML_PIECES, 60)) {
        match yaml::parse(&text, Path::new("f.yml")) {
            Ok(node) => {
                prop_assert!(count_nodes(&node) <= MAX_NODES + 1);
                prop_assert!(depth_of(&node) <= MAX_DEPTH);
                let _ = node.to_json_plain();
            }
            Err(e) => prop_assert!(located(&e, "f.yml"), "{}", e),
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Aliases of aliases, any fan-out and depth: either the copies fit the budget or the file is
    /// refused, positioned, before the copies are made.
    #[test]
    fn yaml_alias_chains_stay_within_budget(
        levels in 1usize..14,
        fanout in 1usize..14,
        leaf_len in 0usize..3000,
    ) {
        let mut text = format!("a0: &a0 \"{}\"\n", "x".repeat(leaf_len));
        for i in 1..levels {
            let refs = vec![format!("*a{}", i - 1); fanout].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        match yaml::parse(&text, Path::new("b.yml")) {
            Ok(node) => prop_assert!(count_nodes(&node) <= MAX_NODES + 1),
            Err(e) => {
                prop_assert!(located(&e, "b.yml"), "{}", e);
                prop_assert!(e.msg.contains("alias bomb"), "{}", e);
            }
        }
    }

    #[test]
    fn yaml_nesting_any_depth_and_style(depth in 1usize..3000, style in 0u8..3) {
        let text = match style {
            0 => format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
            1 => format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)),
            _ => (0..depth).map(|i| format!("{}- \n", " ".repeat(2 * i))).collect(),
        };
        match yaml::parse(&text, Path::new("d.yml")) {
            Ok(node) => {
                prop_assert!(depth <= MAX_DEPTH, "{} levels accepted", depth);
                prop_assert!(depth_of(&node) <= MAX_DEPTH);
            }
            Err(e) => {
                prop_assert!(located(&e, "d.yml"), "{}", e);
                prop_assert!(depth > MAX_DEPTH / 2, "{} levels refused: {}", depth, e);
            }
        }
    }
}

/// A directory with files for the inventory and playbook properties.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("slm-fuzz-")
        .tempdir()
        .expect("temp dir")
}

fn no_vault(_: &str, pos: &Pos) -> Result<String, YamlError> {
    Err(YamlError {
        pos: pos.clone(),
        msg: "no vault password".into(),
    })
}

const NAMES: &[&str] = &[
    "all",
    "db",
    "web",
    "g1",
    "g2",
    "ungrouped",
    "h1",
    "h2",
    "localhost",
];

/// Inventories built from groups, hosts, vars and children (cycles included), sometimes broken.
fn inventory_text() -> impl Strategy<Value = String> {
    let group = (
        proptest::sample::select(NAMES),
        proptest::collection::vec(proptest::sample::select(NAMES), 0..3),
        proptest::collection::vec(proptest::sample::select(NAMES), 0..3),
        proptest::collection::vec(
            (
                proptest::sample::select(
                    &["x", "ansible_host", "ansible_port", "{{ v }}", "p"][..],
                ),
                proptest::sample::select(
                    &["1", "a", "[1, 2]", "{k: v}", "'{{ x }}'", "~", "[", "*u"][..],
                ),
            ),
            0..3,
        ),
    );
    (
        proptest::collection::vec(group, 0..5),
        text_of(YAML_PIECES, 8),
    )
        .prop_map(|(groups, junk)| {
            let mut s = String::new();
            for (name, hosts, children, vars) in groups {
                s.push_str(&format!("{name}:\n"));
                if !hosts.is_empty() {
                    s.push_str("  hosts:\n");
                    for h in hosts {
                        s.push_str(&format!("    {h}:\n"));
                    }
                }
                if !children.is_empty() {
                    s.push_str("  children:\n");
                    for c in children {
                        s.push_str(&format!("    {c}:\n"));
                    }
                }
                if !vars.is_empty() {
                    s.push_str("  vars:\n");
                    for (k, v) in vars {
                        s.push_str(&format!("    {k}: {v}\n"));
                    }
                }
            }
            s.push_str(&junk);
            s
        })
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn inventories_load_or_say_where(text in inventory_text()) {
        let dir = scratch();
        let path = dir.path().join("hosts.yml");
        std::fs::write(&path, &text).expect("write");
        match slm_wizard::inventory::Inventory::load(&path, &no_vault) {
            Ok(inv) => {
                // Every query terminates, whatever cycles the children form.
                for h in ["h1", "h2", "localhost", "db"] {
                    let _ = inv.groups_of(h);
                    let _ = inv.host_vars(h);
                }
                let _ = inv.to_list_json();
            }
            Err(e) => {
                let pos = e.pos.as_ref();
                prop_assert!(pos.is_some_and(|p| p.line >= 1), "no position: {}", e.msg);
            }
        }
    }
}

const TASK_PIECES: &[&str] = &[
    "- name: t\n  debug: {msg: hi}\n",
    "- block:\n    - debug: {msg: a}\n  rescue:\n    - debug: {msg: b}\n",
    "- include_tasks: t1.yml\n",
    "- include_tasks: t2.yml\n",
    "- import_tasks: t1.yml\n",
    "- command: echo {{ x }}\n  when: y\n",
    "- shell: 'true'\n  loop: [1, 2]\n",
    "- unknown_module: {}\n",
    "- debug:\n  bogus_key: 1\n",
    "- name: [\n",
    "- set_fact: {a: '{{ b | default(1) }}'}\n",
    "-\n",
];

fn tasks_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TASK_PIECES), 0..5).prop_map(|v| v.concat())
}

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(by)))
        .collect()
}

proptest! {
    #![proptest_config(config(300))]

    /// Playbooks whose task files include each other (cycles too) and import playbooks (themselves
    /// too): each loads or is refused with a position.
    #[test]
    fn playbooks_load_or_say_where(
        main_tasks in tasks_text(),
        t1 in tasks_text(),
        t2 in tasks_text(),
        import in proptest::sample::select(&["", "- import_playbook: pb.yml\n", "- import_playbook: other.yml\n", "- import_playbook: missing.yml\n"][..]),
        other_imports_back in any::<bool>(),
    ) {
        let dir = scratch();
        let d = dir.path();
        let write = |name: &str, text: &str| -> PathBuf {
            let p = d.join(name);
            std::fs::write(&p, text).expect("write");
            p
        };
        write("t1.yml", &t1);
        write("t2.yml", &t2);
        let other = if other_imports_back {
            "- import_playbook: pb.yml\n".to_string()
        } else {
            format!("- hosts: all\n  tasks:\n{}", indent(&t2, 4))
        };
        write("other.yml", &other);
        let pb = write(
            "pb.yml",
            &format!("- hosts: all\n  gather_facts: no\n  tasks:\n{}{import}", indent(&main_tasks, 4)),
        );
        match slm_wizard::playbook::load(&pb, &no_vault) {
            Ok(_) => {}
            Err(e) => {
                let pos = e.pos.as_ref();
                prop_assert!(pos.is_some_and(|p| p.line >= 1), "no position: {}", e.msg);
            }
        }
    }
}

const TEMPLATE_PIECES: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    " x ",
    " y ",
    "|",
    "default(",
    ")",
    "'a'",
    " if ",
    " else ",
    "endif",
    " for ",
    " in ",
    "range(3)",
    "endfor",
    "~",
    "+",
    "1",
    "[",
    "]",
    ".",
    "length",
    "upper",
    "to_json",
    "from_json",
    "b64decode",
    "regex_replace('a','b')",
    "lookup('env','HOME')",
    "(",
    ",",
    " and ",
    " not ",
    "is defined",
    "%",
    "*",
    "-",
    "/",
    "0",
    "set",
    "=",
    "\n",
    "text",
];

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn templates_render_or_fail_cleanly(text in text_of(TEMPLATE_PIECES, 25)) {
        let t = slm_wizard::template::Templar::new();
        let scope = minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
            "x": "abc", "y": [1, 2, 3], "v": {"k": "v"}
        })));
        match t.render_str(&text, &scope) {
            Ok(v) => prop_assert!(v.to_string().len() < 1 << 20),
            Err(e) => prop_assert!(!e.msg.is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(config(400))]

    /// Vault text as written, then damaged anywhere: decrypts to the original or is an error.
    #[test]
    fn vault_damage_is_an_error_not_a_panic(
        plain in proptest::collection::vec(any::<u8>(), 0..200),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let good = slm_wizard::secrets::vault::encrypt(&plain, b"pw", None);
        let mut bytes = good.clone().into_bytes();
        for (at, b) in &flips {
            let i = at % bytes.len();
            bytes[i] = *b;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(out) = slm_wizard::secrets::vault::decrypt(&text, b"pw") {
            // The HMAC makes any accepted text the original (or a no-op edit such as a newline).
            prop_assert_eq!(out, plain.clone());
        }
        prop_assert!(slm_wizard::secrets::vault::decrypt(&good, b"wrong").is_err());
        prop_assert_eq!(slm_wizard::secrets::vault::decrypt(&good, b"pw").ok(), Some(plain));
    }

    #[test]
    fn vault_any_text_is_an_error_not_a_panic(text in text_of(&[
        "$ANSIBLE_VAULT;1.1;AES256\n", "$ANSIBLE_VAULT;1.2;AES256;id\n", "6162", "0a", "\n", "zz",
        "3132333435363738393031323334353637383930313233343536373839303132",
    ], 12)) {
        let _ = slm_wizard::secrets::vault::decrypt(&text, b"pw");
    }
}

const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";

proptest! {
    #![proptest_config(config(300))]

    /// known_hosts files as people and tools write them, damaged: looking a host up never panics.
    #[test]
    fn known_hosts_lookups_never_panic(text in text_of(&[
        "host", "[host]:2222", "|1|c2FsdA==|aGFzaA==", "@revoked ", "@cert-authority ", "*", ",",
        " ", "\t", "ssh-ed25519 ", KEY, "ssh-rsa ", "AAAA", "#", "\n", "=", "!",
    ], 30), port in proptest::sample::select(&[22u16, 2222][..])) {
        let dir = scratch();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, &text).expect("write");
        let _ = russh::keys::known_hosts::known_host_keys_path("host", port, &path);
    }
}

const SSH_CONFIG_PIECES: &[&str] = &[
    "Host ",
    "Match ",
    "host ",
    "all",
    "*",
    "db?",
    "!web",
    "\n",
    "  ",
    "\t",
    "=",
    "\"",
    "HostName ",
    "Port ",
    "22",
    "70000",
    "User ",
    "IdentityFile ",
    "~/.ssh/id",
    "ProxyJump ",
    "jump,",
    "none",
    "Include ",
    "config",
    "StrictHostKeyChecking ",
    "accept-new",
    "UserKnownHostsFile ",
    "ProxyCommand ",
    "ConnectTimeout ",
    "-1",
    "%h",
    "%p",
    "#",
    "ServerAliveInterval ",
    "\nInclude @SELF@\n",
    "\nHost db1\nInclude @SELF@\n",
];

proptest! {
    #![proptest_config(config(300))]

    /// ssh_config files (including ones that include themselves) and `ansible_ssh_args`: read or
    /// refused with a message, never a panic or endless recursion.
    #[test]
    fn ssh_config_and_args_never_panic(
        text in text_of(SSH_CONFIG_PIECES, 40),
        args in text_of(&["-o ", "Port=", "22", "-p ", "-J ", "j", "-i ", "k", " ", "'", "\"", "-F ", "x", "-o=", "ProxyJump "], 12),
    ) {
        let dir = scratch();
        let path = dir.path().join("config");
        std::fs::write(&path, text.replace("@SELF@", &path.display().to_string())).expect("write");
        let _ = slm_wizard::transport::ssh::read_ssh_config(&path, "db1");
        let mut p = slm_wizard::transport::ssh::SshParams::new("db1", 22, "root");
        let _ = p.from_ssh_args(&args);
    }
}
