//! Escalation: what a task's keywords and variables ask for, what the login makes of it, and
//! whether a play can escalate at all on a host before its first task runs.

use std::sync::Arc;

use minijinja::Value as JValue;

use super::plays::gather_task;
use super::scope::{
    Inherited, build_scope, flag, play_base, render_plain, selected_by_tags, var, var_str,
};
use super::{HostState, PlayCtx, Shared};
use crate::engine::modules::{ModuleError, parse_bool};
use crate::playbook::ansible_cfg::AnsibleCfg;
use crate::playbook::{Item, Task};
use crate::transport::{Become, BecomeMethod, Login};

/// The escalation for this task on this host. A host that cannot escalate for the play fails
/// once, at its first task, with the fix; Err is the message the task fails with.
pub(super) fn task_escalation(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &HostState,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
) -> Result<Option<Become>, String> {
    if !pc.become_checked {
        pc.become_checked = true;
        if let Some(msg) = missing_escalation(shared, pc, state) {
            return Err(msg);
        }
    }
    effective_become(
        &shared.plan.templar,
        &shared.plan.ansible_cfg,
        inh,
        task,
        scope,
        state.login.as_ref(),
    )
    .map_err(|e| e.to_string())
}

/// The escalation a task gets on this host: what its keywords ask for, adapted to who the
/// connection logged in as (see [`crate::transport::decide_become`]).
pub(super) fn effective_become(
    t: &crate::template::Templar,
    cfg: &AnsibleCfg,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
    login: Option<&Login>,
) -> Result<Option<Become>, ModuleError> {
    match requested_become(t, cfg, inh, task, scope)? {
        None => Ok(None),
        Some(want) => crate::transport::decide_become(login, want).map_err(ModuleError::Args),
    }
}

/// The escalation a task's keywords and variables ask for; ansible's configuration gives the
/// defaults (below the keywords and the `ansible_become*` variables, as in ansible).
pub(super) fn requested_become(
    t: &crate::template::Templar,
    cfg: &AnsibleCfg,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
) -> Result<Option<Become>, ModuleError> {
    let enabled = flag(t, "become", &task.common.r#become, &inh.r#become, scope)
        .map_err(ModuleError::Args)?
        .or_else(|| var(scope, "ansible_become").as_ref().and_then(parse_bool))
        .unwrap_or(cfg.r#become);
    if !enabled {
        return Ok(None);
    }
    let user = task
        .common
        .become_user
        .clone()
        .or(inh.become_user.clone())
        .or_else(|| var_str(scope, &["ansible_become_user"]))
        .or_else(|| cfg.become_user.clone())
        .unwrap_or_else(|| "root".into());
    let user = render_plain(t, scope, &user)?;
    let method = task
        .common
        .become_method
        .clone()
        .or(inh.become_method.clone())
        .or_else(|| var_str(scope, &["ansible_become_method"]))
        .or_else(|| cfg.become_method.clone())
        .unwrap_or_else(|| "sudo".into());
    let method = render_plain(t, scope, &method)?;
    let method = match method.as_str() {
        "sudo" => BecomeMethod::Sudo,
        "su" => BecomeMethod::Su,
        other => {
            return Err(ModuleError::Args(format!(
                "become_method '{other}' is not supported; valid: sudo, su"
            )));
        }
    };
    let password = var_str(
        scope,
        &[
            "ansible_become_password",
            "ansible_become_pass",
            "ansible_sudo_pass",
        ],
    )
    .map(crate::secrets::Secret::new);
    Ok(Some(Become {
        method,
        user,
        password,
    }))
}

/// Why the play cannot run on this host when one of its tasks (fact gathering and handlers
/// included) would need an escalation tool the host lacks; None when all it asks for is possible
/// or cannot be known before the task runs (a become_user from a loop variable).
fn missing_escalation(shared: &Arc<Shared>, pc: &PlayCtx<'_>, state: &HostState) -> Option<String> {
    let login = state.login.as_ref()?;
    // Root can always escalate (a login with both tools is still checked: su with a password
    // cannot work and is refused here, before any task).
    if login.is_root() {
        return None;
    }
    let play = pc.play;
    let base = play_base(play);
    let check = |task: &Task, inh: &Inherited| -> Option<String> {
        // Tasks the run's --tags/--skip-tags leave out need nothing.
        let mut tags = inh.tags.clone();
        tags.extend(task.common.tags.iter().cloned());
        if task.id != crate::engine::events::FACTS_TASK_ID
            && !selected_by_tags(&shared.plan.request, &tags)
        {
            return None;
        }
        // A conditional task may never run on this host (e.g. `'redis_vm' in group_names`):
        // if it does, it fails on its own with the same message.
        if !inh.when.is_empty() || task.common.when.is_some() {
            return None;
        }
        let scope = build_scope(shared, pc, state, inh, task, None);
        let want = requested_become(
            &shared.plan.templar,
            &shared.plan.ansible_cfg,
            inh,
            task,
            &scope,
        )
        .ok()??;
        crate::transport::decide_become(Some(login), want).err()
    };
    if play.gather_facts
        && let Some(msg) = check(&gather_task(), &base)
    {
        return Some(msg);
    }
    fn walk(
        items: &[Item],
        inh: &Inherited,
        check: &dyn Fn(&Task, &Inherited) -> Option<String>,
    ) -> Option<String> {
        items.iter().find_map(|item| match item {
            Item::Task(t) if t.module == "meta" || t.module == "set_fact" => None,
            Item::Task(t) => check(t, inh),
            Item::Block(b) => {
                let inner = inh.with(&b.common);
                walk(&b.block, &inner, check)
                    .or_else(|| walk(&b.rescue, &inner, check))
                    .or_else(|| walk(&b.always, &inner, check))
            }
        })
    }
    [
        &play.pre_tasks,
        &play.tasks,
        &play.post_tasks,
        &play.handlers,
    ]
    .into_iter()
    .find_map(|items| walk(items, &base, &check))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{scope, task};
    use super::*;
    use crate::template::Templar;

    fn want(inh: &Inherited, task: &Task, vars: serde_json::Value) -> Option<Become> {
        match requested_become(
            &Templar::new(),
            &AnsibleCfg::default(),
            inh,
            task,
            &scope(vars),
        ) {
            Ok(b) => b,
            Err(e) => panic!("requested_become: {e}"),
        }
    }

    #[test]
    fn no_become_asked_means_no_escalation() {
        assert!(want(&Inherited::default(), &task("command"), json!({})).is_none());
        let off = Inherited {
            r#become: Some(json!(false)),
            ..Default::default()
        };
        // The keyword says no even though the inventory says yes.
        assert!(want(&off, &task("command"), json!({"ansible_become": true})).is_none());
    }

    #[test]
    fn inherited_become_defaults_to_sudo_as_root() {
        let inh = Inherited {
            r#become: Some(json!(true)),
            ..Default::default()
        };
        let b = want(&inh, &task("command"), json!({})).expect("escalation");
        assert_eq!(b.method, BecomeMethod::Sudo);
        assert_eq!(b.user, "root");
        assert!(b.password.is_none());
    }

    #[test]
    fn task_keywords_beat_inherited_ones_which_beat_variables() {
        let inh = Inherited {
            r#become: Some(json!(true)),
            become_user: Some("app".into()),
            ..Default::default()
        };
        let vars = json!({"ansible_become_user": "nobody", "ansible_become_method": "su",
                          "ansible_become_pass": "s3cret"});
        let b = want(&inh, &task("command"), vars.clone()).expect("escalation");
        assert_eq!(b.user, "app");
        assert_eq!(b.method, BecomeMethod::Su, "method from the variable");
        assert_eq!(b.password.as_ref().map(|p| p.expose()), Some("s3cret"));
        let mut t = task("command");
        t.common.become_user = Some("{{ db_owner }}".into());
        let mut vars = vars;
        vars["db_owner"] = json!("postgres");
        assert_eq!(want(&inh, &t, vars).expect("escalation").user, "postgres");
    }

    #[test]
    fn become_from_inventory_variables_alone() {
        let b = want(
            &Inherited::default(),
            &task("command"),
            json!({"ansible_become": "yes", "ansible_become_user": "postgres"}),
        )
        .expect("escalation");
        assert_eq!(b.user, "postgres");
    }

    #[test]
    fn unsupported_method_is_refused_with_the_valid_ones() {
        let inh = Inherited {
            r#become: Some(json!(true)),
            become_method: Some("doas".into()),
            ..Default::default()
        };
        let err = requested_become(
            &Templar::new(),
            &AnsibleCfg::default(),
            &inh,
            &task("command"),
            &scope(json!({})),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("'doas'") && err.contains("sudo, su"), "{err}");
    }
}
