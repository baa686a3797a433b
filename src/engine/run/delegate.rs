//! `delegate_to`: a task of one host run on another, as ansible-core does it. The task (its
//! arguments, `when`, `delegate_to` itself) is templated with the original host's variables; the
//! connection and escalation come from the delegated host's variables (its inventory vars, facts,
//! and the play's and task's vars, `inventory_hostname` being the delegated host), so
//! `ansible_host`, `ansible_user`, `ansible_port`, `ansible_become_*` are the delegated host's. A
//! host that is not in the inventory is reached by its name; `localhost`, `127.0.0.1` and `::1`
//! outside the inventory are the implicit localhost (a local connection). Results are the
//! original host's (registered, counted, shown as `web1 -> db1`), unless `delegate_facts` sends
//! the facts a task gathers or sets to the delegated host.

use std::sync::Arc;

use minijinja::Value as JValue;
use serde_json::{Map, Value, json};

use super::scope::{Inherited, build_scope, flag, render_plain, var_str};
use super::{HostState, PlayCtx, Shared};
use crate::engine::modules::ModuleResult;
use crate::playbook::Task;
use crate::transport::{Login, Transport, TransportError};

/// A delegated host's connection, opened by the first task delegated to it.
pub(super) type Slot = Arc<tokio::sync::Mutex<Option<(Arc<dyn Transport>, Option<Login>)>>>;

/// The key under which a result carries its delegation to the event stream; it is not part of
/// the registered result (Ansible's `_ansible_delegated_vars`).
pub(super) const DELEGATED_KEY: &str = "_ansible_delegated_vars";

/// The names ansible-core treats as the implicit localhost when the inventory lacks them.
pub const LOCALHOST_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

pub(super) struct Delegation {
    pub(super) name: String,
    /// The delegated host's `ansible_host` when it is not its name (shown `db1(10.0.0.5)`).
    pub(super) address: Option<String>,
    /// The delegated host's variables, for its connection and escalation.
    pub(super) scope: JValue,
    /// `delegate_facts`: facts go to the delegated host.
    pub(super) facts: bool,
}

/// The task's delegation for this host (and item: `scope` has the loop variables); None when it
/// is not delegated; Err(message) when `delegate_to` or `delegate_facts` does not render.
pub(super) fn resolve(
    shared: &Arc<Shared>,
    pc: &PlayCtx<'_>,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
) -> Result<Option<Delegation>, String> {
    let Some(expr) = task
        .common
        .delegate_to
        .as_ref()
        .or(inh.delegate_to.as_ref())
    else {
        return Ok(None);
    };
    let templar = &shared.plan.templar;
    let name = render_plain(templar, scope, expr)
        .map_err(|e| format!("delegate_to: {e}"))?
        .trim()
        .to_string();
    if name.is_empty() {
        return Err(format!(
            "delegate_to: {expr:?} renders to an empty host name"
        ));
    }
    let facts = flag(
        templar,
        "delegate_facts",
        &task.common.delegate_facts,
        &inh.delegate_facts,
        scope,
    )?
    .unwrap_or(false);
    let target = target_state(shared, &name);
    let dscope = build_scope(shared, pc, &target, inh, task, None);
    let address = var_str(&dscope, &["ansible_host", "ansible_ssh_host"]).filter(|a| *a != name);
    Ok(Some(Delegation {
        name,
        address,
        scope: dscope,
        facts,
    }))
}

/// A host's inventory variables: for a localhost name the inventory lacks, the implicit
/// localhost's (the `all` group's vars, as Ansible gives it, and a local connection); none for
/// another host outside the inventory.
pub(super) fn host_vars(inventory: &crate::inventory::Inventory, name: &str) -> Map<String, Value> {
    if inventory.hosts.contains_key(name) {
        inventory.host_vars(name)
    } else if LOCALHOST_NAMES.contains(&name) {
        let mut m = inventory
            .groups
            .get("all")
            .map(|g| g.vars.clone())
            .unwrap_or_default();
        m.insert("ansible_connection".into(), "local".into());
        m
    } else {
        Map::new()
    }
}

/// The delegated host as a task would see it: its inventory vars (the implicit localhost's, or
/// none for a host outside the inventory) and what it has gathered and set so far.
fn target_state(shared: &Shared, name: &str) -> HostState {
    let inventory_vars = host_vars(&shared.plan.inventory, name);
    let published = shared
        .published
        .read()
        .ok()
        .and_then(|p| p.get(name).cloned())
        .unwrap_or_default();
    HostState {
        name: name.to_string(),
        inventory_vars: Arc::new(inventory_vars),
        facts: published.facts,
        facts_gathered: false,
        runtime: published.runtime,
        included: published.included,
        counts: Default::default(),
        stopped: false,
        conn: None,
        login: None,
        early_facts: None,
        roles_done: Default::default(),
        marked_rescued: false,
    }
}

/// The delegated host's connection (one per host for the run, shared by every host delegating
/// to it) and who it logged in as.
pub(super) async fn connect(
    shared: &Arc<Shared>,
    d: &Delegation,
) -> Result<(Arc<dyn Transport>, Option<Login>), TransportError> {
    let slot = shared
        .delegated
        .lock()
        .await
        .entry(d.name.clone())
        .or_default()
        .clone();
    // Held while connecting: hosts delegating to the same host at once open one connection.
    let mut slot = slot.lock().await;
    if let Some((c, login)) = slot.as_ref() {
        return Ok((c.clone(), login.clone()));
    }
    let (c, login) = super::connect::open(shared, &d.name, &d.scope).await?;
    *slot = Some((c.clone(), login.clone()));
    Ok((c, login))
}

/// Marks a result as delegated, for the event stream.
pub(super) fn mark(mut r: ModuleResult, d: Option<&Delegation>) -> ModuleResult {
    if let Some(d) = d {
        r.extra.insert(
            DELEGATED_KEY.into(),
            json!({"ansible_delegated_host": d.name, "ansible_host": d.address}),
        );
    }
    r
}

/// The delegated host's name and address a result carries (see [`mark`]).
pub(super) fn of_result(extra: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let Some(d) = extra.get(DELEGATED_KEY) else {
        return (None, None);
    };
    let s = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_string);
    (s("ansible_delegated_host"), s("ansible_host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_result_names_the_delegated_host_and_its_address() {
        let r = mark(
            ModuleResult::ok(),
            Some(&Delegation {
                name: "db1".into(),
                address: Some("10.0.0.5".into()),
                scope: JValue::UNDEFINED,
                facts: false,
            }),
        );
        assert_eq!(
            of_result(&r.extra),
            (Some("db1".into()), Some("10.0.0.5".into()))
        );
        assert_eq!(of_result(&ModuleResult::ok().extra), (None, None));
        let r = mark(ModuleResult::ok(), None);
        assert!(!r.extra.contains_key(DELEGATED_KEY));
    }
}
