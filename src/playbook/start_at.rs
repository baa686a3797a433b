//! `--start-at-task NAME`: what ansible-core 2.19's PlayIterator does, applied to the parsed
//! playbook. It walks the tasks in order (pre_tasks, tasks, post_tasks; a block's tasks, then
//! its `always` — never its `rescue`) until one whose name, or the name as shown (`role : name`,
//! the action for an unnamed task), equals NAME or matches it as an fnmatch pattern. Everything
//! before that task is dropped; plays before its play run nothing (not even fact gathering);
//! the plays after it run whole. Handlers are untouched (only notified ones run).

use super::{Item, Playbook, Task};
use crate::compat::fnmatch::fnmatch;
use crate::error::InputError;

/// Trims `pb` so that it starts at the first task matching `name`; Err (with Ansible's message)
/// when no task matches.
pub fn apply(pb: &mut Playbook, name: &str) -> Result<(), InputError> {
    let mut found = false;
    for play in &mut pb.plays {
        if found {
            break;
        }
        for list in [&mut play.pre_tasks, &mut play.tasks, &mut play.post_tasks] {
            if found {
                break;
            }
            found = trim(list, name, None);
        }
        if !found {
            // Ansible's iterator walked this play to its end: nothing of it runs.
            play.gather_facts = false;
        }
    }
    if found {
        Ok(())
    } else {
        Err(InputError::new(format!(
            "No matching task \"{name}\" found. Note: --start-at-task can only follow static includes."
        )))
    }
}

/// Whether `task` is the one `--start-at-task name` names (`role`: the role it runs in).
pub fn matches(task: &Task, name: &str, role: Option<&str>) -> bool {
    if let Some(n) = &task.common.name
        && (n == name || fnmatch(name, n))
    {
        return true;
    }
    let shown = shown_name(task, role);
    shown == name || fnmatch(name, &shown)
}

/// The task's name as Ansible shows it (`Task.get_name()`): `role : name`, or the action as
/// written for an unnamed task.
pub fn shown_name(task: &Task, role: Option<&str>) -> String {
    let own = task.display_name();
    match role {
        Some(r) => format!("{r} : {own}"),
        None => own,
    }
}

/// Drops the items of `items` before the first match; true when one was found (else `items`
/// ends up empty).
fn trim(items: &mut Vec<Item>, name: &str, role: Option<&str>) -> bool {
    let mut i = 0;
    while i < items.len() {
        let hit = match &mut items[i] {
            Item::Task(t) => matches(t, name, role),
            Item::Block(b) => {
                let role_name = b.common.role.as_ref().map(|r| r.name.clone());
                let role = role_name.as_deref().or(role);
                if trim(&mut b.block, name, role) {
                    true
                } else {
                    // Walked past the block's tasks: its rescue never starts, its always may hold
                    // the match.
                    b.rescue.clear();
                    trim(&mut b.always, name, role)
                }
            }
        };
        if hit {
            items.drain(..i);
            return true;
        }
        i += 1;
    }
    items.clear();
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::yaml::{Pos, YamlError};

    fn load(text: &str) -> Playbook {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pb.yml");
        std::fs::write(&path, text).expect("write");
        let no_vault = |_: &str, pos: &Pos| -> Result<String, YamlError> {
            Err(YamlError {
                pos: pos.clone(),
                msg: "no vault".into(),
            })
        };
        super::super::load(&path, &no_vault).expect("parses")
    }

    fn names(items: &[Item]) -> Vec<String> {
        let mut out = Vec::new();
        for i in items {
            match i {
                Item::Task(t) => out.push(t.display_name()),
                Item::Block(b) => {
                    out.extend(names(&b.block));
                    out.extend(names(&b.rescue).into_iter().map(|n| format!("rescue:{n}")));
                    out.extend(names(&b.always).into_iter().map(|n| format!("always:{n}")));
                }
            }
        }
        out
    }

    const PB: &str = "\
- hosts: all
  tasks:
    - {name: one, debug: {msg: 1}}
- hosts: all
  tasks:
    - {name: two, debug: {msg: 2}}
    - block:
        - {name: three, debug: {msg: 3}}
        - {name: four, debug: {msg: 4}}
      rescue:
        - {name: r, debug: {msg: r}}
      always:
        - {name: a, debug: {msg: a}}
    - debug: {msg: 5}
";

    #[test]
    fn starts_inside_a_block_keeping_its_rescue_and_always() {
        let mut pb = load(PB);
        apply(&mut pb, "four").expect("found");
        assert!(names(&pb.plays[0].tasks).is_empty());
        assert!(
            !pb.plays[0].gather_facts,
            "the play before the match runs nothing"
        );
        assert!(pb.plays[1].gather_facts, "the matched play gathers facts");
        assert_eq!(
            names(&pb.plays[1].tasks),
            ["four", "rescue:r", "always:a", "debug"]
        );
    }

    #[test]
    fn a_pattern_or_an_unnamed_action_matches_and_always_is_walked_not_rescue() {
        let mut pb = load(PB);
        apply(&mut pb, "a*").expect("always matched by a pattern");
        assert_eq!(names(&pb.plays[1].tasks), ["always:a", "debug"]);
        let mut pb = load(PB);
        apply(&mut pb, "debug").expect("an unnamed task by its action");
        assert_eq!(names(&pb.plays[1].tasks), ["debug"]);
        let mut pb = load(PB);
        let err = apply(&mut pb, "r").expect_err("rescue is never walked into");
        assert_eq!(
            err.to_string(),
            "No matching task \"r\" found. Note: --start-at-task can only follow static includes."
        );
    }
}
