//! Before a real run sets a password it just generated: does the role exist already?
//!
//! A generated password is only safe for a role the run creates. When the role exists, its
//! password came from somewhere else (a lost or another store, a hand-made role), and the run
//! would silently replace a password something uses. So the playbook's own `postgresql_user`
//! tasks whose `password` is exactly `{{ VAR }}` of a generated VAR are run once more, read-only,
//! as `SELECT … FROM pg_roles` with the same login arguments, `become`, `when` and loop — on the
//! deployment's hosts (a `--limit` aside), through the same engine, before anything else runs. A
//! host that cannot be reached blocks the run (it may have the role); one where the query cannot
//! run (no PostgreSQL yet, a stopped server, a `when` that needs facts) counts as "no such
//! role": the real run then reports what is wrong with that host itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::engine::{self, RunEvent, RunRequest, Status};
use crate::playbook::{Item, Task};
use crate::prepare::{RoleConflict, RoleExists};

/// The existing roles the `generated` variables would get a new password for (none: empty).
/// `values` are the prepared survey values (the generated passwords included, so that every
/// template of the play resolves as in the real run).
pub async fn existing_roles(
    request: &RunRequest,
    values: &Map<String, Value>,
    generated: &[String],
) -> RoleExists {
    let mut req = request.clone();
    req.extra_values.extend(values.clone());
    req.check = false;
    // Every host of the deployment, not only a `--limit`: the password is stored for all of
    // them, and the next full run would set it where the role exists.
    req.limit = None;
    let planned = tokio::task::spawn_blocking(move || engine::plan(req)).await;
    let Ok(Ok(mut plan)) = planned else {
        // The real run plans the same request and reports why it cannot.
        return RoleExists::default();
    };
    let mut probes: BTreeMap<usize, String> = BTreeMap::new();
    for play in &mut plan.playbook.plays {
        play.gather_facts = false;
        play.handlers.clear();
        for items in [&mut play.pre_tasks, &mut play.tasks, &mut play.post_tasks] {
            *items = probe_items(items, generated, &mut probes);
        }
    }
    if probes.is_empty() {
        return RoleExists::default();
    }
    let connector = engine::connect::connector(engine::connect::ConnectOptions {
        accept_new_host_keys: request.accept_new_host_keys,
        connect_timeout: request.connect_timeout,
    });
    let (tx, mut rx) = crate::engine::event_channel();
    let handle = tokio::spawn(engine::run::run(
        Arc::new(plan),
        connector,
        tx,
        engine::Cancel::default(),
    ));
    // (variable, role) → hosts, in a stable order.
    let mut found: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut unchecked: Vec<(String, String)> = Vec::new();
    while let Some(ev) = rx.recv().await {
        let RunEvent::TaskResult(t) = ev else {
            continue;
        };
        // A host that cannot be reached may well have the role: it is not "no such role".
        if t.status == Status::Unreachable {
            if !unchecked.iter().any(|(h, _)| *h == t.host) {
                unchecked.push((t.host.clone(), t.msg.clone().unwrap_or_default()));
            }
            continue;
        }
        let Some(variable) = probes.get(&t.task_id) else {
            continue;
        };
        if t.status != Status::Ok {
            tracing::info!(host = %t.host, task = %t.task, "pre-flight role check could not run: {}", t.msg.as_deref().unwrap_or(""));
            continue;
        }
        let rows = t.result.get("query_result").and_then(Value::as_array);
        for row in rows.into_iter().flatten() {
            if let Some(role) = row.get("rolname").and_then(Value::as_str) {
                let hosts = found
                    .entry((variable.clone(), role.to_string()))
                    .or_default();
                if !hosts.contains(&t.host) {
                    hosts.push(t.host.clone());
                }
            }
        }
    }
    let _ = handle.await;
    RoleExists {
        conflicts: found
            .into_iter()
            .map(|((variable, role), hosts)| RoleConflict {
                variable,
                role,
                hosts,
            })
            .collect(),
        unchecked,
    }
}

/// The variable a `postgresql_user` task sets a generated password from, if it does.
fn generated_password_of<'a>(t: &Task, generated: &'a [String]) -> Option<&'a String> {
    if t.module != "postgresql_user" {
        return None;
    }
    let state = t
        .args
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or("present");
    let keeps_password = match t.args.get("no_password_changes") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "yes" | "true"),
        _ => false,
    };
    if state == "absent" || keeps_password {
        return None;
    }
    let pw = t.args.get("password")?.as_str()?.trim();
    let inner = pw.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    generated.iter().find(|g| g.as_str() == inner)
}

/// The role checks replacing `items` (blocks kept for their `become`/`when`).
fn probe_items(
    items: &[Item],
    generated: &[String],
    probes: &mut BTreeMap<usize, String>,
) -> Vec<Item> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Task(t) => {
                let Some(var) = generated_password_of(t, generated) else {
                    continue;
                };
                let mut args = Map::new();
                for k in [
                    "login_host",
                    "login_port",
                    "login_unix_socket",
                    "login_user",
                    "login_password",
                    "port",
                ] {
                    if let Some(v) = t.args.get(k) {
                        args.insert(k.into(), v.clone());
                    }
                }
                args.insert(
                    "query".into(),
                    "SELECT rolname FROM pg_roles WHERE rolname = %s".into(),
                );
                args.insert(
                    "positional_args".into(),
                    Value::Array(vec![t.args.get("name").cloned().unwrap_or(Value::Null)]),
                );
                let mut p = (**t).clone();
                p.module = "postgresql_query".into();
                p.module_written = "postgresql_query".into();
                p.args = args;
                p.common.name = Some(format!("pre-flight: does the role of {var} exist?"));
                p.common.ignore_errors = Some(true.into());
                p.common.no_log = None;
                p.common.check_mode = None;
                p.register = None;
                p.notify.clear();
                p.changed_when = None;
                p.failed_when = None;
                p.until = None;
                p.retries = None;
                p.delay = None;
                probes.insert(p.id, var.clone());
                out.push(Item::Task(Box::new(p)));
            }
            Item::Block(b) => {
                let mut nb = (**b).clone();
                nb.block = probe_items(&b.block, generated, probes);
                nb.rescue = probe_items(&b.rescue, generated, probes);
                nb.always = probe_items(&b.always, generated, probes);
                if !(nb.block.is_empty() && nb.rescue.is_empty() && nb.always.is_empty()) {
                    out.push(Item::Block(Box::new(nb)));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::yaml::{Pos, YamlError};

    #[test]
    fn only_tasks_that_set_a_generated_password_become_role_queries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pb = dir.path().join("pb.yml");
        std::fs::write(
            &pb,
            r#"- hosts: all
  tasks:
    - name: install
      apt: {name: postgresql}
    - name: app
      postgresql_user:
        name: "{{ app_user }}"
        password: "{{ app_pw }}"
        login_port: 5433
        role_attr_flags: LOGIN
      become_user: postgres
      no_log: true
      register: created
    - name: given
      postgresql_user: {name: other, password: "{{ other_pw }}"}
    - name: gone
      postgresql_user: {name: x, password: "{{ app_pw }}", state: absent}
    - name: kept
      postgresql_user: {name: y, password: "{{ app_pw }}", no_password_changes: true}
    - block:
        - name: in a block
          postgresql_user: {name: z, password: "{{app_pw}}"}
      when: true
"#,
        )
        .expect("write");
        let no_vault = |_: &str, pos: &Pos| -> Result<String, YamlError> {
            Err(YamlError {
                pos: pos.clone(),
                msg: "no vault".into(),
            })
        };
        let book = crate::playbook::load(&pb, &no_vault).expect("loads");
        let mut probes = BTreeMap::new();
        let items = probe_items(&book.plays[0].tasks, &["app_pw".to_string()], &mut probes);
        assert_eq!(items.len(), 2, "{items:?}");
        let Item::Task(t) = &items[0] else {
            panic!("a task first")
        };
        assert_eq!(t.module, "postgresql_query");
        assert_eq!(
            t.args["positional_args"],
            serde_json::json!(["{{ app_user }}"])
        );
        assert_eq!(t.args["login_port"], serde_json::json!(5433));
        assert!(!t.args.contains_key("password"));
        assert!(!t.args.contains_key("role_attr_flags"));
        assert_eq!(t.common.become_user.as_deref(), Some("postgres"));
        assert_eq!(t.common.ignore_errors, Some(serde_json::Value::Bool(true)));
        assert!(t.register.is_none() && t.common.no_log.is_none());
        let Item::Block(b) = &items[1] else {
            panic!("then the block")
        };
        assert_eq!(b.block.len(), 1);
        assert_eq!(probes.len(), 2);
        assert!(probes.values().all(|v| v == "app_pw"));
    }
}
