//! What the native engine knows about each module, for plan time: the arguments its struct
//! accepts (aliases included), the ones Ansible documents that it does not implement, and the
//! typed check. The playbook parser records the module name, its arguments and where each key
//! is; [`check_task`] decides here, with file:line:col.

use serde_json::{Map, Value};

use super::module::{self, ArgError, Module};
use super::{
    apt_repo, command, cron, dnf, facts, files, get_url, hostname, locale_gen, misc, pkg, postgres,
    reboot, service, sysctl, timezone, ufw, unarchive, users,
};
use crate::compat::yaml::Pos;
use crate::error::{InputError, unknown_key};
use crate::playbook::{Item, Playbook, Task, split_free_form};
use crate::template::is_template;

/// [`module::check`] for one module type.
type CheckFn = fn(&Map<String, Value>, &dyn Fn(&Value) -> bool) -> Result<(), ArgError>;

/// One module as plan time sees it.
pub struct Entry {
    pub name: &'static str,
    /// Takes free-form text (`command: ls -l`).
    pub free_form: bool,
    pub kind: Kind,
}

pub enum Kind {
    /// A [`Module`] struct.
    Typed {
        accepted: fn() -> &'static [&'static str],
        ansible_only: &'static [&'static str],
        check: CheckFn,
    },
    /// Run by the engine itself, not on a host: `set_fact` (any key), `meta` (free text).
    Engine,
}

const fn typed<M: Module>(free_form: bool) -> Entry {
    Entry {
        name: M::NAME,
        free_form,
        kind: Kind::Typed {
            accepted: module::accepted_args::<M>,
            ansible_only: M::ANSIBLE_ONLY,
            check: module::check::<M>,
        },
    }
}

static CATALOG: &[Entry] = &[
    typed::<command::Command>(true),
    typed::<command::Shell>(true),
    typed::<pkg::Apt>(false),
    typed::<pkg::Package>(false),
    typed::<dnf::Dnf>(false),
    typed::<files::Copy>(false),
    typed::<files::Template>(false),
    typed::<files::LineInFile>(false),
    typed::<files::BlockInFile>(false),
    typed::<files::File>(false),
    typed::<files::Stat>(false),
    typed::<service::Service>(false),
    typed::<service::Systemd>(false),
    typed::<service::WaitFor>(false),
    Entry {
        name: "set_fact",
        free_form: false,
        kind: Kind::Engine,
    },
    typed::<misc::Debug>(false),
    typed::<misc::Assert>(false),
    typed::<misc::Fail>(false),
    typed::<misc::ValidateArgumentSpec>(false),
    typed::<misc::Pause>(false),
    typed::<misc::Ping>(false),
    Entry {
        name: "meta",
        free_form: false,
        kind: Kind::Engine,
    },
    Entry {
        name: "include_vars",
        free_form: false,
        kind: Kind::Engine,
    },
    typed::<misc::Setup>(false),
    typed::<misc::GatherFacts>(false),
    typed::<files::Slurp>(false),
    typed::<files::Replace>(false),
    typed::<files::TempFile>(false),
    typed::<files::Fetch>(false),
    typed::<files::Find>(false),
    typed::<users::User>(false),
    typed::<users::Group>(false),
    typed::<postgres::PostgresqlDb>(false),
    typed::<postgres::PostgresqlUser>(false),
    typed::<postgres::PostgresqlPrivs>(false),
    typed::<postgres::PostgresqlPgHba>(false),
    typed::<postgres::PostgresqlQuery>(false),
    typed::<postgres::PostgresqlPing>(false),
    typed::<postgres::PostgresqlSet>(false),
    typed::<postgres::PostgresqlTablespace>(false),
    typed::<postgres::PostgresqlMembership>(false),
    typed::<postgres::PostgresqlSchema>(false),
    typed::<postgres::PostgresqlTable>(false),
    typed::<get_url::GetUrl>(false),
    typed::<unarchive::Unarchive>(false),
    typed::<apt_repo::AptRepository>(false),
    typed::<apt_repo::AptKey>(false),
    typed::<sysctl::Sysctl>(false),
    typed::<cron::Cron>(false),
    typed::<hostname::Hostname>(false),
    typed::<timezone::Timezone>(false),
    typed::<locale_gen::LocaleGen>(false),
    typed::<reboot::Reboot>(false),
    typed::<ufw::Ufw>(false),
    typed::<facts::ServiceFacts>(false),
    typed::<facts::PackageFacts>(false),
];

pub fn entry(name: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name)
}

/// The modules a task may name (fact gathering is the play's business).
pub fn names() -> Vec<&'static str> {
    CATALOG
        .iter()
        .map(|e| e.name)
        .filter(|n| !matches!(*n, "setup" | "gather_facts"))
        .collect()
}

/// The hint every refusal of something Ansible has carries.
pub const USE_ANSIBLE: &str = "run this playbook with --engine ansible (ansible-playbook)";

fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => is_template(s),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(m) => m.values().any(has_template),
        _ => false,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The collection a module of the catalog comes from (by its short name).
fn home_collection(module: &str) -> &'static str {
    match module {
        m if m.starts_with("postgresql_") => "community.postgresql",
        "locale_gen" | "timezone" | "ufw" => "community.general",
        "sysctl" => "ansible.posix",
        _ => "ansible.builtin",
    }
}

/// Whether a fully qualified name in collection `coll` reaches `module`: in its own collection,
/// or through ansible.builtin / ansible.legacy, whose routing (ansible-core's
/// config/ansible_builtin_runtime.yml) redirects each non-builtin short name of the catalog to
/// its collection. A play's `collections:` changes nothing for them: none of those collections
/// has another module of one of these names.
fn resolves_in(coll: &str, module: &str) -> bool {
    matches!(coll, "ansible.builtin" | "ansible.legacy") || coll == home_collection(module)
}

/// Checks a parsed task against its module (and completes its arguments: free-form text split
/// once the module is known).
pub fn check_task(t: &mut Task) -> Result<(), InputError> {
    let written = t.module_written.clone();
    if t.module.is_empty() {
        return Err(InputError::at(
            &t.pos,
            format!(
                "no module in this task; a task needs one of: {}",
                names().join(", ")
            ),
        ));
    }
    let Some(entry) = entry(&t.module) else {
        return Err(InputError::at(
            &t.args_src.module_pos,
            format!(
                "module '{written}' is not implemented by slm-wizard's engine (and is not a task keyword); \
                 {USE_ANSIBLE}, or use one of: {}",
                names().join(", ")
            ),
        )
        .not_implemented());
    };
    if let Some((coll, _)) = written.rsplit_once('.')
        && !resolves_in(coll, &t.module)
    {
        return Err(InputError::at(
            &t.args_src.module_pos,
            format!(
                "couldn't resolve module/action '{written}' (as ansible-core: {coll} has no such module; it is {}.{})",
                home_collection(&t.module),
                t.module
            ),
        ));
    }
    let args_pos = t.args_src.pos.clone();
    if let Some(text) = t.args_src.free_text.take() {
        let mut args = Map::new();
        match text {
            Value::String(s) => {
                let (free, kv) = split_free_form(&s, entry.free_form);
                if entry.free_form {
                    if !free.is_empty() {
                        args.insert("_raw_params".into(), Value::String(free));
                    }
                } else if !free.trim().is_empty() {
                    if matches!(entry.name, "meta" | "include_vars") {
                        args.insert("_raw_params".into(), Value::String(free.trim().to_string()));
                    } else {
                        return Err(InputError::at(
                            &args_pos,
                            format!(
                                "module '{written}' takes key=value arguments; cannot read {:?}",
                                free.trim()
                            ),
                        ));
                    }
                }
                args.extend(kv);
            }
            other if matches!(entry.name, "pause" | "meta") => {
                args.insert("_raw_params".into(), other);
            }
            other => {
                return Err(InputError::at(
                    &args_pos,
                    format!(
                        "arguments of '{written}' must be a mapping or key=value text, not {}",
                        type_name(&other)
                    ),
                ));
            }
        }
        // `args:` fills in what the module's own text does not give.
        for (k, v) in std::mem::take(&mut t.args) {
            args.entry(k).or_insert(v);
        }
        t.args = args;
    }
    let key_pos = |key: &str| -> Pos {
        t.args_src
            .keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| args_pos.clone())
    };
    match &entry.kind {
        Kind::Engine => {
            if entry.name == "include_vars" {
                let names = crate::engine::run::include_vars_arg_check;
                return match names(t.args.keys().map(String::as_str)) {
                    Ok(None) => Ok(()),
                    Ok(Some(msg)) => Err(InputError::at(&args_pos, msg)),
                    Err(msg) => {
                        let bad = t.args.keys().find(|k| msg.starts_with(k.as_str()));
                        Err(InputError::at(
                            &bad.map(|k| key_pos(k)).unwrap_or(args_pos.clone()),
                            msg,
                        ))
                    }
                };
            }
            if entry.name == "meta" && !t.args.contains_key("_raw_params") {
                return Err(InputError::at(
                    &args_pos,
                    "module 'meta' needs the argument '_raw_params'",
                ));
            }
            if entry.name == "meta" {
                let action = t.args.get("_raw_params").and_then(Value::as_str);
                if let Err((msg, known)) =
                    crate::engine::run::meta_action_check(action.unwrap_or_default())
                {
                    return Err(if known {
                        InputError::at(&args_pos, format!("{msg}; {USE_ANSIBLE}")).not_implemented()
                    } else {
                        InputError::at(&args_pos, msg)
                    });
                }
            }
            if entry.name == "meta"
                && let Some(k) = t.args.keys().find(|k| *k != "_raw_params")
            {
                return Err(InputError::at(
                    &key_pos(k),
                    unknown_key(k, &format!("arguments of module '{written}'"), &[]),
                ));
            }
            Ok(())
        }
        Kind::Typed {
            accepted,
            ansible_only,
            check,
        } => {
            // An argument Ansible's module does not take either is no plan-time error: Ansible
            // fails the task when it runs (module::check and module::drive).
            for key in t.args.keys() {
                if key == "_raw_params" && !accepted().contains(&"_raw_params") {
                    return Err(InputError::at(
                        &args_pos,
                        format!("module '{written}' does not take free-form text"),
                    ));
                }
                if ansible_only.contains(&key.as_str()) {
                    return Err(InputError::at(
                        &key_pos(key),
                        format!(
                            "{written}: argument '{key}' is not implemented by the native engine; {USE_ANSIBLE}"
                        ),
                    )
                    .not_implemented());
                }
            }
            check(&t.args, &has_template).map_err(|e| {
                let pos = match &e.key {
                    Some(k) => key_pos(k),
                    None => t.args_src.module_pos.clone(),
                };
                InputError::at(&pos, e.msg)
            })
        }
    }
}

/// [`check_task`] for every task of the playbook (handlers included), in file order.
pub fn check_playbook(pb: &mut Playbook) -> Result<(), InputError> {
    fn items(list: &mut [Item]) -> Result<(), InputError> {
        for item in list {
            match item {
                Item::Task(t) => check_task(t)?,
                Item::Block(b) => {
                    items(&mut b.block)?;
                    items(&mut b.rescue)?;
                    items(&mut b.always)?;
                }
            }
        }
        Ok(())
    }
    for play in &mut pb.plays {
        items(&mut play.pre_tasks)?;
        items(&mut play.tasks)?;
        items(&mut play.post_tasks)?;
        items(&mut play.handlers)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::yaml::YamlError;

    /// The plan-time error for one task (the task's lines, indented under `tasks:`), with the
    /// playbook's path.
    fn refusal(task: &str) -> (String, String) {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pb.yml");
        std::fs::write(&path, format!("- hosts: all\n  tasks:\n{task}")).expect("write");
        let no_vault = |_: &str, pos: &Pos| -> Result<String, YamlError> {
            Err(YamlError {
                pos: pos.clone(),
                msg: "no vault".into(),
            })
        };
        let mut pb = crate::playbook::load(&path, &no_vault).expect("parses");
        let err = check_playbook(&mut pb).expect_err("refused at plan time");
        (err.to_string(), path.display().to_string())
    }

    /// A module the engine lacks is the module, not a misspelled keyword (`zypper` is close to no
    /// keyword; `dnf`, close to `diff`, is a module now), and its refusal lets `--engine auto` hand the playbook to ansible.
    #[test]
    fn a_module_the_engine_lacks_is_not_implemented_not_a_typo() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pb.yml");
        std::fs::write(
            &path,
            "- hosts: all\n  tasks:\n    - zypper:\n        name: x\n",
        )
        .expect("write");
        let no_vault = |_: &str, pos: &Pos| -> Result<String, YamlError> {
            Err(YamlError {
                pos: pos.clone(),
                msg: "no vault".into(),
            })
        };
        let mut pb = crate::playbook::load(&path, &no_vault).expect("a lone module key parses");
        let err = check_playbook(&mut pb).expect_err("zypper is not implemented");
        assert!(err.is_not_implemented(), "{err}");
        assert!(!err.to_string().contains("did you mean"), "{err}");
    }

    /// `dnf` is a module one edit from `diff`: with a misspelled keyword beside it, the keyword
    /// is blamed, not the module.
    #[test]
    fn a_keyword_like_module_beside_a_typo_blames_the_typo() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pb.yml");
        std::fs::write(
            &path,
            "- hosts: all\n  tasks:\n    - dnf: {name: x}\n      registr: r\n",
        )
        .expect("write");
        let no_vault = |_: &str, pos: &Pos| -> Result<String, YamlError> {
            Err(YamlError {
                pos: pos.clone(),
                msg: "no vault".into(),
            })
        };
        let err = crate::playbook::load(&path, &no_vault).expect_err("a typo");
        assert!(
            err.to_string()
                .ends_with(":4:7: unknown key 'registr' in task; did you mean 'register'?"),
            "{err}"
        );
    }

    fn typed_entries() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
        CATALOG.iter().filter_map(|e| match &e.kind {
            Kind::Typed { ansible_only, .. } => Some((e.name, *ansible_only)),
            _ => None,
        })
    }

    /// Every argument Ansible documents that a module does not implement is refused where it is
    /// written, with the way to run it anyway; every typed module is covered.
    #[test]
    fn ansible_only_arguments_are_refused_with_position_and_hint() {
        let mut modules = 0;
        for (name, only) in typed_entries() {
            modules += 1;
            for arg in only {
                // line 4 is the argument: `        <arg>: x` — column 9.
                let (err, file) = refusal(&format!("    - {name}:\n        {arg}: x\n"));
                let want = format!(
                    "{file}:4:9: {name}: argument '{arg}' is not implemented by the native engine; \
                     run this playbook with --engine ansible (ansible-playbook)"
                );
                assert_eq!(err, want);
            }
        }
        assert_eq!(
            modules,
            CATALOG
                .iter()
                .filter(|e| !matches!(e.kind, Kind::Engine))
                .count(),
            "every module but the engine's own (set_fact, meta, include_vars) is typed"
        );
        // What Ansible's module does not take either waits for the run (Ansible fails the task
        // then, module::drive does here): refused at plan time is only what Ansible reports
        // before it (here: an argument the module requires).
        for (name, _) in typed_entries() {
            let mut pb = planned(&format!("    - {name}:\n        bogus_arg: 1\n"));
            if let Err(e) = check_playbook(&mut pb) {
                let e = e.to_string();
                assert!(!e.contains("bogus_arg"), "{name}: {e}");
            }
        }
    }

    fn planned(task: &str) -> Playbook {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pb.yml");
        std::fs::write(&path, format!("- hosts: all\n  tasks:\n{task}")).expect("write");
        let no_vault = |_: &str, pos: &Pos| -> Result<String, YamlError> {
            Err(YamlError {
                pos: pos.clone(),
                msg: "no vault".into(),
            })
        };
        crate::playbook::load(&path, &no_vault).expect("parses")
    }

    #[test]
    fn an_argument_ansible_does_not_take_is_no_plan_time_error() {
        for task in [
            "    - copy: {dest: /tmp/x, content: a, contnt: b}\n",
            "    - shell: echo hi\n      args: {expand_argument_vars: false}\n",
            // shell's action plugin refuses it before the module checks anything.
            "    - shell: echo hi\n      args: {expand_argument_vars: false, chdir: [a]}\n",
            "    - command: echo hi\n      args: {warn: false}\n",
            "    - fail: {msg: x, bogus: 1}\n",
        ] {
            check_playbook(&mut planned(task)).unwrap_or_else(|e| panic!("{task}: {e}"));
        }
        // What Ansible reports before it (a missing or mistyped argument) is still found here.
        let (err, file) = refusal("    - copy: {dst: /tmp/x, content: a}\n");
        assert_eq!(
            err,
            format!("{file}:3:7: module 'copy' needs the argument 'dest'")
        );
        let (err, file) =
            refusal("    - copy: {dest: /tmp/x, content: a, contnt: b, force: maybe}\n");
        assert!(
            err.starts_with(&format!(
                "{file}:3:51: copy: argument 'force' must be a boolean"
            )),
            "{err}"
        );
        // One Ansible takes and the engine does not is still refused where it is written.
        let (err, file) = refusal("    - shell: echo hi\n      args: {argv: [a], bogus: 1}\n");
        assert_eq!(
            err,
            format!(
                "{file}:4:14: shell: argument 'argv' is not implemented by the native engine; {USE_ANSIBLE}"
            )
        );
    }

    #[test]
    fn apt_upgrade_and_deb_are_refused() {
        for arg in ["upgrade: dist", "deb: /tmp/x.deb"] {
            let (err, _) = refusal(&format!("    - apt:\n        {arg}\n"));
            assert!(err.contains("--engine ansible"), "{err}");
        }
    }

    #[test]
    fn wrong_types_are_refused_at_plan_time_unless_templated() {
        let (err, file) = refusal(
            "    - copy:\n        dest: /tmp/x\n        content: a\n        force: maybe\n",
        );
        assert_eq!(
            err,
            format!(
                "{file}:6:9: copy: argument 'force' must be a boolean (yes/no, true/false), got \"maybe\""
            )
        );
        let (err, file) = refusal("    - copy:\n        content: x\n");
        assert_eq!(
            err,
            format!("{file}:3:7: module 'copy' needs the argument 'dest'")
        );
        let (err, file) = refusal("    - file: {path: /x, state: gone}\n");
        assert!(
            err.starts_with(&format!("{file}:3:7: file: argument 'state' is \"gone\"")),
            "{err}"
        );
        // A template is only known per host: its type waits for the run.
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pb.yml");
        std::fs::write(
            &path,
            "- hosts: all\n  tasks:\n    - copy: {dest: \"{{ d }}\", content: a, force: \"{{ f }}\"}\n    - command: ls -l creates=/x\n",
        )
        .expect("write");
        let no_vault = |_: &str, pos: &Pos| -> Result<String, YamlError> {
            Err(YamlError {
                pos: pos.clone(),
                msg: "no vault".into(),
            })
        };
        let mut pb = crate::playbook::load(&path, &no_vault).expect("parses");
        check_playbook(&mut pb).expect("templated arguments pass");
        let Item::Task(cmd) = &pb.plays[0].tasks[1] else {
            panic!("a task")
        };
        assert_eq!(cmd.args["_raw_params"], "ls -l");
        assert_eq!(cmd.args["creates"], "/x");
    }

    /// Issue #17's file and account modules check their arguments at plan time.
    #[test]
    fn file_and_account_module_arguments_are_checked_at_plan_time() {
        let (err, file) = refusal("    - replace: {path: /x}\n");
        assert_eq!(
            err,
            format!("{file}:3:7: module 'replace' needs the argument 'regexp'")
        );
        let (err, _) = refusal("    - user: {name: bob, password_lock: true}\n");
        assert!(
            err.contains("not implemented by the native engine"),
            "{err}"
        );
        let (err, _) = refusal("    - user: {name: bob, update_password: sometimes}\n");
        assert!(err.contains("update_password"), "{err}");
        let (err, _) = refusal("    - group: {name: g, non_unique: true}\n");
        assert!(err.contains("gid"), "{err}");
        let (err, _) = refusal("    - find: {paths: /x, follow: true}\n");
        assert!(err.contains("--engine ansible"), "{err}");
        let (err, _) = refusal("    - find: {paths: /x, file_type: socket}\n");
        assert!(err.contains("file_type"), "{err}");
        let (err, _) = refusal("    - tempfile: {state: link}\n");
        assert!(err.contains("state"), "{err}");
        let (err, _) = refusal("    - fetch: {src: /x}\n");
        assert!(err.contains("'dest'"), "{err}");
        let (err, _) = refusal("    - slurp: {}\n");
        assert!(err.contains("'src'"), "{err}");
        let (err, _) = refusal("    - user: {name: 'a:b'}\n");
        assert!(err.contains("not a valid user name"), "{err}");
    }

    /// The playbook we ship runs on the native engine: nothing in it is refused.
    #[test]
    fn the_shipped_playbook_passes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks/user-management-db.yml");
        let no_vault = |_: &str, pos: &Pos| -> Result<String, YamlError> {
            Err(YamlError {
                pos: pos.clone(),
                msg: "no vault".into(),
            })
        };
        let mut pb = crate::playbook::load(&path, &no_vault).expect("parses");
        check_playbook(&mut pb).expect("plans natively");
    }

    /// The parser takes a key close to a task keyword for a misspelled keyword: no module the
    /// engine implements may look like one.
    #[test]
    fn no_module_name_looks_like_a_task_keyword() {
        // Those that do are listed for the parser, which then blames the other key.
        for e in CATALOG {
            if crate::playbook::KEYWORD_LIKE_MODULES.contains(&e.name) {
                continue;
            }
            assert_eq!(
                crate::error::suggest(e.name, crate::playbook::TASK_KEYS.iter().copied()),
                None,
                "{}",
                e.name
            );
        }
    }
}
