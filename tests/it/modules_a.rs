//! The modules of issue #17 (slurp, replace, find, tempfile, fetch, user, group) against
//! ansible-playbook 2.19 on the same input: the registered results (changed, failed, msg and
//! each module's keys) and the end state. File modules run locally in two identical sandboxes;
//! user and group inside two identical namespace test hosts (never on the machine itself).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::cmd::Sandbox;
use crate::support::cmd::ansible_playbook;
use crate::support::hosts::{self, Hosts};

/// Keys only one engine reports, or whose values cannot agree between two runs.
const NOISE: &[&str] = &[
    "invocation",
    "exception",
    "warnings",
    "deprecations",
    "_ansible_no_log",
    "diff",
    "atime",
    "mtime",
    "ctime",
    "inode",
];

/// The result with the run's directory written as `@D@` and the noise dropped.
fn normalize(v: &Value, d: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace(d, "@D@")),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize(x, d)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !NOISE.contains(&k.as_str()))
                // An action Ansible skips (fetch in check mode) has no `failed`; the native
                // engine's registered results always have it.
                .filter(|(k, x)| {
                    !(k.as_str() == "failed"
                        && *x == &Value::Bool(false)
                        && m.get("skipped") == Some(&Value::Bool(true)))
                })
                .map(|(k, x)| (k.replace(d, "@D@"), normalize(x, d)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Compares the results task by task, key by key, so a failure names the task and the key.
fn assert_same(want: &[Value], got: &[Value], names: &[&str]) {
    assert_eq!(want.len(), got.len(), "number of results");
    let mut diffs = Vec::new();
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        let name = names.get(i).copied().unwrap_or("?");
        let (Some(wm), Some(gm)) = (w.as_object(), g.as_object()) else {
            if w != g {
                diffs.push(format!("result {i} ({name})\nansible: {w}\nnative:  {g}"));
            }
            continue;
        };
        let keys: std::collections::BTreeSet<&String> = wm.keys().chain(gm.keys()).collect();
        let bad: Vec<&String> = keys
            .into_iter()
            .filter(|k| wm.get(*k) != gm.get(*k))
            .collect();
        if !bad.is_empty() {
            diffs.push(format!(
                "result {i} ({name}), keys {bad:?}\nansible: {w}\nnative:  {g}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} results differ:\n{}",
        diffs.len(),
        diffs.join("\n\n")
    );
}

fn read_results(path: &Path, d: &str) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()));
    v.as_array()
        .unwrap_or_else(|| panic!("a list: {text}"))
        .iter()
        .map(|r| normalize(r, d))
        .collect()
}

/// The tasks under test, each registered as `rN`, then every result written to `out` (in check
/// mode too). `{{ d }}` is the sandbox.
fn playbook(tasks: &[&str]) -> String {
    let mut s = String::from("- hosts: all\n  gather_facts: false\n  tasks:\n");
    for (i, t) in tasks.iter().enumerate() {
        s.push_str(&format!(
            "    - {t}\n      register: r{i}\n      ignore_errors: true\n"
        ));
    }
    let all: Vec<String> = (0..tasks.len()).map(|i| format!("r{i}")).collect();
    s.push_str(&format!(
        "    - copy:\n        dest: \"{{{{ out }}}}\"\n        content: \"{{{{ [{}] | to_json }}}}\"\n      check_mode: false\n",
        all.join(", ")
    ));
    s
}

/// The files the file modules work on, made the same way in each sandbox.
fn fixture(sb: &Sandbox) {
    sb.write("data.txt", "hello\nworld\n");
    std::fs::write(sb.p("bytes.conf"), b"\xffkey=1\r\nother = 2\r\n").expect("write");
    sb.write("r1.conf", "a = 1\nb = 2\n# end\n");
    sb.write("r2.conf", "abxd\n");
    sb.write(
        "r3.conf",
        "[one]\nport = 1\n[two]\nport = 2\n[three]\nport = 3\n",
    );
    sb.write("r4.conf", "x\n");
    sb.write("tree/a.txt", "alpha\n");
    sb.write("tree/b.log", "beta line\nneedle here\n");
    sb.write("tree/.hidden.txt", "h\n");
    sb.write("tree/sub/c.txt", "needle\n");
    sb.write("tree/sub/deeper/d.txt", "0123456789abcdef\n");
    sb.write("tree/.hdir/e.txt", "e\n");
    let d = sb.d();
    let setup = format!(
        "cd {d} && ln -s a.txt tree/link && ln -s sub tree/dirlink && chmod 0600 tree/a.txt \
         && chmod 0755 tree/sub/c.txt && touch -d '2020-01-01' tree/b.log"
    );
    let ok = Command::new("sh")
        .args(["-c", &setup])
        .status()
        .expect("run sh");
    assert!(ok.success(), "setup failed: {setup}");
}

const FILE_TASKS: &[&str] = &[
    // slurp
    "slurp: {src: \"{{ d }}/data.txt\"}",
    "slurp: {path: \"{{ d }}/bytes.conf\"}",
    "slurp: {src: \"{{ d }}/missing\"}",
    "slurp: {src: \"{{ d }}/tree\"}",
    // replace
    "replace: {path: \"{{ d }}/r1.conf\", regexp: '^(\\w+) = (\\d+)$', replace: '\\2 = \\1'}",
    "replace: {path: \"{{ d }}/r1.conf\", regexp: '^(\\w+) = (\\d+)$', replace: '\\2 = \\1'}",
    "replace: {path: \"{{ d }}/r2.conf\", regexp: 'x*', replace: '-'}",
    "replace: {path: \"{{ d }}/r3.conf\", after: '\\[two\\]', before: '\\[three\\]', regexp: '^port = .*$', replace: 'port = 22'}",
    "replace: {path: \"{{ d }}/r3.conf\", after: '\\[nine\\]', regexp: 'port', replace: 'p'}",
    "replace: {path: \"{{ d }}/r3.conf\", before: '\\[two\\]', regexp: 'port', replace: 'PORT', mode: '0640'}",
    "replace: {path: \"{{ d }}/bytes.conf\", regexp: 'other', replace: 'OTHER'}",
    "replace: {path: \"{{ d }}/r4.conf\", regexp: 'nomatch', replace: 'y', mode: '0600'}",
    "replace: {path: \"{{ d }}/missing.conf\", regexp: 'a'}",
    "replace: {path: \"{{ d }}/tree\", regexp: 'a'}",
    // find
    "find: {paths: \"{{ d }}/tree\", patterns: '*.txt'}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, hidden: true, file_type: any}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, use_regex: true, patterns: ['^[a-c]\\.'], excludes: ['^b']}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, contains: 'needle'}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, contains: 'needle', read_whole_file: true}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, depth: 1, file_type: directory}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, size: '10', age: '1d'}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, size: '-5'}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, limit: 2, hidden: true}",
    "find: {paths: [\"{{ d }}/tree\", \"{{ d }}/missing\", \"{{ d }}/data.txt\"], file_type: link}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, get_checksum: true, checksum_algorithm: sha256, mode: '0600'}",
    "find: {paths: \"{{ d }}/tree\", recurse: true, mode: '0100', exact_mode: false}",
    "find: {paths: \"{{ d }}/tree\", age: 'x'}",
    // fetch
    "fetch: {src: \"{{ d }}/data.txt\", dest: \"{{ d }}/fetched\"}",
    "fetch: {src: \"{{ d }}/data.txt\", dest: \"{{ d }}/fetched\"}",
    "fetch: {src: \"{{ d }}/bytes.conf\", dest: \"{{ d }}/flat/\", flat: true}",
    "fetch: {src: \"{{ d }}/data.txt\", dest: \"{{ d }}/flat\", flat: true}",
    "fetch: {src: \"{{ d }}/missing\", dest: \"{{ d }}/fetched\"}",
    "fetch: {src: \"{{ d }}/missing\", dest: \"{{ d }}/fetched\", fail_on_missing: false}",
    "fetch: {src: \"{{ d }}/tree\", dest: \"{{ d }}/fetched\"}",
    // tempfile: the name is random; its shape is compared below
    "tempfile: {path: \"{{ d }}\", prefix: pre., suffix: .suf}",
    "tempfile: {path: \"{{ d }}\", state: directory}",
    "tempfile: {prefix: 'a/b'}",
];

/// Runs `pb` with ansible-playbook in one sandbox and slm-wizard in another (both made by
/// `fixture`), extra args for both; returns (ansible, native) results and the two sandboxes.
fn both(pb: &str, extra: &[&str]) -> Option<(Vec<Value>, Vec<Value>, Sandbox, Sandbox)> {
    let ansible = ansible_playbook()?;
    let (sa, sn) = (Sandbox::new(), Sandbox::new());
    fixture(&sa);
    fixture(&sn);
    let pa = sa.write("pb.yml", pb);
    let out = Command::new(&ansible)
        .arg(&pa)
        .args(["-i", &sa.inventory().display().to_string()])
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .args(["-e", &format!("d={} out={}/results.json", sa.d(), sa.d())])
        .args(extra)
        .current_dir(sa.path())
        .env("ANSIBLE_LOCAL_TEMP", sa.p(".ansible-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    assert!(
        sa.p("results.json").exists(),
        "ansible-playbook wrote no results:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let pn = sn.write("pb.yml", pb);
    let mut args = vec![
        "--engine".to_string(),
        "native".into(),
        "-e".into(),
        format!("d={} out={}/results.json", sn.d(), sn.d()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = sn.run_file(&pn, &refs);
    assert!(
        sn.p("results.json").exists(),
        "native wrote no results:\n{}",
        run.dump()
    );
    let want = read_results(&sa.p("results.json"), &sa.d());
    let got = read_results(&sn.p("results.json"), &sn.d());
    Some((want, got, sa, sn))
}

/// Everything but tempfile's random names is compared as it is.
fn without_random_names(mut v: Vec<Value>) -> Vec<Value> {
    let first_tempfile = FILE_TASKS
        .iter()
        .position(|t| t.starts_with("tempfile"))
        .expect("tempfile");
    for r in v.iter_mut().skip(first_tempfile) {
        if let Some(p) = r.get_mut("path")
            && let Some(s) = p.as_str()
        {
            // `@D@/pre.XXXXXXXX.suf`: keep the shape, drop the random part.
            let name = s.rsplit('/').next().unwrap_or(s);
            let shape: String = name
                .split('.')
                .map(|part| if part.len() == 8 { "RANDOM" } else { part })
                .collect::<Vec<_>>()
                .join(".");
            let dir = s.rsplit_once('/').map_or("", |(d, _)| d);
            *p = Value::String(format!("{dir}/{shape}"));
        }
    }
    v
}

#[test]
fn file_modules_match_ansible_playbook() {
    let Some((want, got, sa, sn)) = both(&playbook(FILE_TASKS), &[]) else {
        return;
    };
    assert_same(
        &without_random_names(want),
        &without_random_names(got),
        FILE_TASKS,
    );
    // The same end state: every file the tasks wrote, byte for byte.
    for rel in [
        "r1.conf",
        "r2.conf",
        "r3.conf",
        "bytes.conf",
        "fetched/local1/DIR/data.txt",
        "flat/bytes.conf",
        "flat",
    ] {
        let a = sa.p(&rel.replace("DIR", sa.d().trim_start_matches('/')));
        let n = sn.p(&rel.replace("DIR", sn.d().trim_start_matches('/')));
        assert_eq!(
            std::fs::read(&a).ok(),
            std::fs::read(&n).ok(),
            "{rel}: contents differ"
        );
        assert_eq!(
            crate::support::cmd::mode_of(&a),
            crate::support::cmd::mode_of(&n),
            "{rel}: modes differ"
        );
    }
}

#[test]
fn file_modules_in_check_mode_match_ansible_playbook() {
    let Some((want, got, sa, sn)) = both(&playbook(FILE_TASKS), &["--check"]) else {
        return;
    };
    assert_same(&want, &got, FILE_TASKS);
    // Nothing was written.
    for sb in [&sa, &sn] {
        assert_eq!(sb.read("r1.conf"), "a = 1\nb = 2\n# end\n");
        assert!(!sb.exists("fetched") && !sb.exists("flat"));
    }
}

/// A hash of "secret" and one of "other" (sha512-crypt, fixed salts).
const HASH_1: &str = "$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.";
const HASH_2: &str = "$6$ijklmnop$kvQRl1AE8hYIsWVZQPGJyx4hNrI1GAPOw1XgEPoiKHUpH.TCC8zCoIvr8nZwGDbfj6Bsj7//zGsj8gcOc8rTL.";

fn account_tasks() -> Vec<String> {
    [
        "group: {name: devs, gid: 2345}",
        "group: {name: devs, gid: 2345}",
        "group: {name: devs, gid: 2346}",
        "group: {name: ops, system: true}",
        "group: {name: '-rf', state: absent}",
        "user: {name: alice, uid: 3001, group: devs, groups: [ops], shell: /bin/sh, comment: 'Alice A', password: 'H1'}",
        "user: {name: alice, uid: 3001, group: devs, groups: [ops], shell: /bin/sh, comment: 'Alice A', password: 'H1'}",
        "user: {name: alice, groups: [adm], append: true}",
        "user: {name: alice, groups: [adm], append: true}",
        "user: {name: alice, groups: 'adm,ops'}",
        "user: {name: alice, password: 'H2', update_password: on_create}",
        "user: {name: alice, password: 'H2'}",
        "user: {name: alice, group: nosuch}",
        "user: {name: bob, system: true, create_home: false, shell: /usr/sbin/nologin}",
        "user: {name: carol, home: /srv/people/carol}",
        "user: {name: carol, home: /srv/people/carol2, move_home: true}",
        "user: {name: dave, groups: [nosuch]}",
        "user: {name: bob, state: absent, remove: true}",
        "user: {name: bob, state: absent}",
        "user: {name: carol, groups: []}",
        "group: {name: ops, state: absent}",
        "group: {name: ops, state: absent}",
    ]
    .iter()
    .map(|t| t.replace("H1", HASH_1).replace("H2", HASH_2))
    .collect()
}

/// What the accounts look like on a host after the play (hashes compared, never printed).
fn accounts(h: &Hosts, host: &str) -> String {
    h.sh(
        host,
        "for u in alice bob carol; do getent passwd $u || echo no $u; done; \
         for g in devs ops alice carol; do getent group $g || echo no $g; done; \
         getent group adm | cut -d: -f4; getent shadow alice | cut -d: -f2 | sha256sum; \
         stat -c '%n %a %U %G' /srv/people/carol2 /srv/people/carol 2>&1 | sed 's/^stat: //'",
    )
}

#[test]
fn user_and_group_match_ansible_playbook_on_test_hosts() {
    if !hosts::root_or_skip("user_and_group_match_ansible_playbook_on_test_hosts") {
        return;
    }
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let h = Hosts::up(2, &["ua", "un"], &[]);
    let tasks = account_tasks();
    let refs: Vec<&str> = tasks.iter().map(String::as_str).collect();
    let pb = playbook(&refs);
    let inv_a = h.write("inv-a.yml", &only_host(&h, "ua"));
    let inv_n = h.write("inv-n.yml", &only_host(&h, "un"));
    let mut results = Vec::new();
    for check in [true, false] {
        let mode: &[&str] = if check { &["--check"] } else { &[] };
        let pbp = h.write("accounts.yml", &pb);
        let out = Command::new(&ansible)
            .arg("-i")
            .arg(&inv_a)
            .arg(&pbp)
            .args([
                "-e",
                "ansible_python_interpreter=/usr/bin/python3",
                "-e",
                "out=/root/results.json",
            ])
            .args(mode)
            .env("ANSIBLE_HOST_KEY_CHECKING", "True")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCAL_TEMP", h.p("ansible-tmp"))
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .expect("run ansible-playbook");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains(HASH_1) && !text.contains(HASH_2),
            "a hash in ansible's output"
        );
        let mut args = vec!["--engine", "native", "-e", "out=/root/results.json"];
        args.extend(mode);
        let run = h.run(&pb, &inv_n, &args);
        let dump = run.dump();
        assert!(
            !dump.contains(HASH_1) && !dump.contains(HASH_2),
            "a hash in the native events"
        );
        let journal = h.journal();
        assert!(
            !journal.contains(HASH_1) && !journal.contains(HASH_2),
            "a hash in the journal"
        );
        let parse = |host: &str| -> Vec<Value> {
            let text = h.sh(host, "cat /root/results.json");
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{host}: {e}: {text}\n{dump}"));
            v.as_array().cloned().unwrap_or_default()
        };
        results.push((parse("ua"), parse("un")));
        assert_eq!(
            accounts(&h, "ua"),
            accounts(&h, "un"),
            "accounts after check={check}"
        );
    }
    for (want, got) in &results {
        let want: Vec<Value> = want.iter().map(|v| normalize(v, "/nonexistent")).collect();
        let got: Vec<Value> = got.iter().map(|v| normalize(v, "/nonexistent")).collect();
        assert_same(&want, &got, &refs);
    }
}

/// An inventory with one of the harness's hosts.
fn only_host(h: &Hosts, name: &str) -> String {
    let full = h.inventory_text(|_| Vec::new());
    // inventory_text lists each host as `    NAME:` followed by its indented variables.
    let mut out = String::from("all:\n  hosts:\n");
    let mut keep = false;
    for line in full.lines().skip(2) {
        if line.starts_with("    ") && !line.starts_with("      ") {
            keep = line.trim_end_matches(':').trim() == name;
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
