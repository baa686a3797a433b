//! `run --syntax-check`, `--list-hosts`, `--list-tasks`, `--list-tags`: what ansible-core 2.19's
//! `ansible-playbook` prints for them (cli/playbook.py), from a checked plan. Differences: the
//! play's tags and hosts are listed in the order written (Ansible prints Python sets, in no
//! fixed order).

use super::Plan;
use crate::playbook::{Common, Item, Play};

/// Which listings to print (any combination, as ansible-playbook allows).
#[derive(Debug, Clone, Copy, Default)]
pub struct Listing {
    pub hosts: bool,
    pub tasks: bool,
    pub tags: bool,
}

/// The text ansible-playbook prints: `\nplaybook: PATH\n`, then per play its header and the
/// listings asked for. With no listing (`--syntax-check`) only the playbook line.
pub fn render(plan: &Plan, what: Listing) -> String {
    let mut out = format!("\nplaybook: {}\n", plan.request.playbook.display());
    if !(what.hosts || what.tasks || what.tags) {
        return out;
    }
    for (idx, play) in plan.playbook.plays.iter().enumerate() {
        let name = play
            .common
            .name
            .clone()
            .unwrap_or_else(|| play.hosts.clone());
        out.push_str(&format!(
            "\n  play #{} ({}): {name}\tTAGS: [{}]\n",
            idx + 1,
            play.hosts,
            play.common.tags.join(",")
        ));
        if what.hosts {
            let hosts = plan.play_hosts.get(idx).map(Vec::as_slice).unwrap_or(&[]);
            out.push_str(&format!(
                "    pattern: ['{}']\n    hosts ({}):\n",
                play.hosts.replace('\'', "\\'"),
                hosts.len()
            ));
            for h in hosts {
                out.push_str(&format!("      {h}\n"));
            }
        }
        if what.tasks || what.tags {
            render_tasks(plan, play, what, &mut out);
        }
    }
    out
}

/// One task as listed: its name as shown and every tag it carries (its own and its blocks').
struct Listed {
    name: String,
    tags: Vec<String>,
}

fn render_tasks(plan: &Plan, play: &Play, what: Listing, out: &mut String) {
    let mut tasks = Vec::new();
    for items in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
        collect(items, &play.common.tags, None, &mut tasks);
    }
    tasks.retain(|t| super::run::selected_by_tags(&plan.request, &t.tags));
    if what.tasks {
        out.push_str("    tasks:\n");
        for t in &tasks {
            let mut tags = t.tags.clone();
            tags.sort();
            tags.dedup();
            out.push_str(&format!("      {}\tTAGS: [{}]\n", t.name, tags.join(", ")));
        }
    }
    if what.tags {
        let mut all: Vec<String> = play.common.tags.clone();
        all.extend(tasks.iter().flat_map(|t| t.tags.iter().cloned()));
        all.sort();
        all.dedup();
        out.push_str(&format!("      TASK TAGS: [{}]\n", all.join(", ")));
    }
}

fn collect(items: &[Item], inherited: &[String], role: Option<&str>, out: &mut Vec<Listed>) {
    let with = |c: &Common| -> Vec<String> {
        let mut tags = inherited.to_vec();
        tags.extend(c.tags.iter().cloned());
        tags
    };
    for item in items {
        match item {
            Item::Task(t) => {
                // Ansible lists an unnamed task by its action, without the role prefix.
                let name = if t.common.name.is_some() {
                    crate::playbook::start_at::shown_name(t, role)
                } else {
                    t.module_written.clone()
                };
                out.push(Listed {
                    name,
                    tags: with(&t.common),
                });
            }
            // A dynamic include is listed as itself: ansible-playbook does not know what it
            // includes until it runs (an unnamed include_role by its action, too).
            Item::Block(b) if b.include.is_some() => {
                let Some(t) = &b.include else { continue };
                let role = ["name", "role"]
                    .iter()
                    .find_map(|k| t.args.get(*k).and_then(serde_json::Value::as_str));
                let synthesized = role.map(|r| format!("{} : {r}", t.module_written));
                let name = match &t.common.name {
                    Some(n) if Some(n) != synthesized.as_ref() => n.clone(),
                    _ => t.module_written.clone(),
                };
                out.push(Listed {
                    name,
                    tags: with(&t.common),
                });
            }
            Item::Block(b) => {
                let tags = with(&b.common);
                let role_name = b.common.role.as_ref().map(|r| r.name.clone());
                let role = role_name.as_deref().or(role);
                // ansible-playbook lists a block's own tasks only, not its rescue or always.
                collect(&b.block, &tags, role, out);
            }
        }
    }
}
