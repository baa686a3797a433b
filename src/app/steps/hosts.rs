//! Step 3, Hosts: the inventory's hosts by group, connection tests, host keys, and edits
//! saved back to the inventory (the host form is `host_form`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crossterm::event::{Event, KeyEvent};
use serde_json::{Map, Value};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::host_form::{host_form_key, open_host_form};
use super::review::enter_review;
use crate::app::effects::Effect;
use crate::app::form::{FieldValue, Form};
use crate::app::keymap::Intent;
use crate::app::state::{Dialog, State, Step};
use crate::inventory::Inventory;

/// One host of the inventory, as the Hosts step shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub name: String,
    /// The host's variables (connection settings), for "test connection".
    pub vars: Map<String, Value>,
    pub address: String,
    pub connection: String,
    pub user: String,
}

fn row(inv: &Inventory, h: &str) -> HostRow {
    HostRow::new(h, inv.host_vars(h))
}

impl HostRow {
    pub fn new(name: &str, vars: Map<String, Value>) -> Self {
        let mut r = HostRow {
            name: name.to_string(),
            vars,
            address: String::new(),
            connection: String::new(),
            user: String::new(),
        };
        r.refresh();
        r
    }

    /// A variable as text ("" when unset).
    pub fn var(&self, k: &str) -> String {
        self.vars
            .get(k)
            .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
            .unwrap_or_default()
    }

    /// Recomputes the shown columns from the variables.
    fn refresh(&mut self) {
        let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
        self.address = or(self.var("ansible_host"), &self.name);
        self.connection = or(self.var("ansible_connection"), "ssh");
        self.user = self.var("ansible_user");
    }
}

/// An inventory written by the Hosts step, read back.
#[derive(Debug, Clone)]
pub struct SavedInventory {
    pub view: HostsView,
    /// Where the previous version was kept.
    pub backup: Option<PathBuf>,
}

/// The host form of the Hosts step (add or edit).
#[derive(Debug, Clone)]
pub struct HostEdit {
    pub form: Form,
    /// The host being edited (None: a new host) and the group it was shown in.
    pub original: Option<(String, String)>,
    /// The form's answers when it opened: only what the operator changed is written.
    pub initial: Map<String, Value>,
}

/// The inventory of the Hosts step, with edits not saved yet.
#[derive(Debug, Clone, Default)]
pub struct HostsView {
    pub path: PathBuf,
    /// Groups with their hosts (direct and through children), in file order.
    pub groups: Vec<(String, Vec<HostRow>)>,
    pub error: Option<String>,
    pub scroll: u16,
    /// The selected host (index into `host_names()`).
    pub selected: usize,
    /// Results of "test connection" per host.
    pub tests: HashMap<String, ConnTest>,
    /// The host and SHA256 fingerprint of a key met for the first time, awaiting trust.
    pub trust_prompt: Option<(String, String)>,
    /// The ProxyJump host whose key `trust_prompt` shows, when it is not the host's own.
    pub trust_jump: Option<String>,
    /// Edits shown here but not written to the file yet, in order.
    pub pending: Vec<crate::inventory::edit::Edit>,
    /// The add/edit form, while open.
    pub edit: Option<HostEdit>,
    /// The path typed for "save as", while typing.
    pub save_as: Option<Input>,
    /// A save is being written.
    pub saving: bool,
}

/// The state of a "test connection".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnTest {
    Running,
    /// Connected: what the host said (OS, PostgreSQL client).
    Ok(String),
    Failed(String),
}

impl HostsView {
    /// The hosts the databases live on: those of the spec's groups (`slm_server`, `redis_vm`),
    /// or every host when the inventory has neither.
    pub fn database_hosts(&self) -> Vec<crate::health::host::HostTarget> {
        let spec = ["slm_server", "redis_vm"];
        let any_spec = self.groups.iter().any(|(g, _)| spec.contains(&g.as_str()));
        let mut out: Vec<crate::health::host::HostTarget> = Vec::new();
        for (g, hosts) in &self.groups {
            if any_spec && !spec.contains(&g.as_str()) {
                continue;
            }
            for h in hosts {
                if !out.iter().any(|t| t.name == h.name) {
                    out.push(crate::health::host::HostTarget {
                        name: h.name.clone(),
                        vars: h.vars.clone(),
                    });
                }
            }
        }
        out
    }

    /// The values the inventory gives `var`, each with the hosts that get it (host and group
    /// variables merged, as the run sees them).
    pub fn inventory_values(&self, var: &str) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for r in self.groups.iter().flat_map(|(_, hs)| hs.iter()) {
            if seen.contains(&r.name.as_str()) {
                continue;
            }
            seen.push(&r.name);
            let Some(v) = r.vars.get(var) else { continue };
            let text = v.to_string();
            match out.iter_mut().find(|(t, _)| *t == text) {
                Some((_, hosts)) => hosts.push(r.name.clone()),
                None => out.push((text, vec![r.name.clone()])),
            }
        }
        out
    }

    /// Applies an edit to what the step shows and queues it for the next save.
    pub fn edit(&mut self, e: crate::inventory::edit::Edit) {
        use crate::inventory::edit::Edit;
        match &e {
            Edit::Upsert { group, host, vars } => {
                if !self.groups.iter().any(|(g, _)| g == group) {
                    self.groups.push((group.clone(), Vec::new()));
                }
                // The host's variables as shown elsewhere (it may be listed in several groups).
                let known = self
                    .groups
                    .iter()
                    .flat_map(|(_, hs)| hs.iter())
                    .find(|r| &r.name == host)
                    .map(|r| r.vars.clone())
                    .unwrap_or_default();
                for (g, hosts) in &mut self.groups {
                    let listed = hosts.iter().any(|r| &r.name == host);
                    if g == group && !listed {
                        hosts.push(HostRow::new(host, known.clone()));
                    }
                    for r in hosts.iter_mut().filter(|r| &r.name == host) {
                        for (k, v) in vars {
                            match v {
                                Some(v) => {
                                    r.vars.insert(k.clone(), Value::from(v.clone()));
                                }
                                None => {
                                    r.vars.remove(k);
                                }
                            }
                        }
                        r.refresh();
                    }
                }
            }
            Edit::Remove { host } => {
                for (_, hosts) in &mut self.groups {
                    hosts.retain(|r| &r.name != host);
                }
            }
            Edit::Rename { from, to } => {
                for (_, hosts) in &mut self.groups {
                    for r in hosts.iter_mut().filter(|r| &r.name == from) {
                        r.name = to.clone();
                        r.refresh();
                    }
                }
                if let Some(t) = self.tests.remove(from) {
                    self.tests.insert(to.clone(), t);
                }
            }
            Edit::Move { host, to } => {
                let mut moved = None;
                for (_, hosts) in &mut self.groups {
                    if let Some(i) = hosts.iter().position(|r| &r.name == host) {
                        moved.get_or_insert(hosts.remove(i));
                    }
                }
                if let Some(r) = moved {
                    match self.groups.iter_mut().find(|(g, _)| g == to) {
                        Some((_, hosts)) => hosts.push(r),
                        None => self.groups.push((to.clone(), vec![r])),
                    }
                }
            }
        }
        self.pending.push(e);
        let n = self.host_names().len();
        self.selected = self.selected.min(n.saturating_sub(1));
    }

    /// The group a host is shown in first.
    pub fn group_of(&self, host: &str) -> Option<String> {
        self.groups
            .iter()
            .find(|(_, hs)| hs.iter().any(|r| r.name == host))
            .map(|(g, _)| g.clone())
    }

    /// The groups a host can be put in: the inventory's, and the spec's two.
    pub fn group_choices(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .groups
            .iter()
            .map(|(g, _)| g.clone())
            .filter(|g| g != "ungrouped")
            .collect();
        for g in ["slm_server", "redis_vm"] {
            if !out.iter().any(|o| o == g) {
                out.push(g.into());
            }
        }
        out
    }

    /// Each host once, in the order the groups show them.
    pub fn host_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, hosts) in &self.groups {
            for h in hosts {
                if !out.contains(&h.name) {
                    out.push(h.name.clone());
                }
            }
        }
        out
    }

    pub fn vars_of(&self, host: &str) -> Map<String, Value> {
        self.groups
            .iter()
            .flat_map(|(_, hs)| hs.iter())
            .find(|h| h.name == host)
            .map(|h| h.vars.clone())
            .unwrap_or_default()
    }

    pub fn from_inventory(path: &Path, inv: &Inventory) -> Self {
        let mut groups = Vec::new();
        for name in inv.groups.keys() {
            if name == "all" || name == "ungrouped" {
                continue;
            }
            let mut hosts: Vec<HostRow> = Vec::new();
            for h in inv.hosts.keys() {
                if inv.groups_of(h).iter().any(|g| g == name) {
                    hosts.push(row(inv, h));
                }
            }
            if !hosts.is_empty() || name != "ungrouped" {
                groups.push((name.clone(), hosts));
            }
        }
        let listed = |h: &str| groups.iter().any(|(_, hs)| hs.iter().any(|r| r.name == h));
        let rest: Vec<HostRow> = inv
            .hosts
            .keys()
            .filter(|h| !listed(h))
            .map(|h| row(inv, h))
            .collect();
        if !rest.is_empty() {
            groups.push(("ungrouped".into(), rest));
        }
        Self {
            path: path.to_path_buf(),
            groups,
            ..Default::default()
        }
    }

    pub fn failed(path: &Path, error: String) -> Self {
        Self {
            path: path.to_path_buf(),
            error: Some(error),
            ..Default::default()
        }
    }
}

pub(crate) fn hosts_key(state: &mut State, key: KeyEvent, intent: Option<Intent>) -> Vec<Effect> {
    if state.hosts.edit.is_some() {
        return host_form_key(state, key, intent);
    }
    if state.hosts.save_as.is_some() {
        return save_as_key(state, key, intent);
    }
    let names = state.hosts.host_names();
    let h = &mut state.hosts;
    match intent {
        Some(Intent::Back) => state.step = Step::Variables,
        Some(Intent::Next) => {
            if !h.pending.is_empty() {
                state.message = Some(
                    "the inventory has unsaved changes: s saves them (w: save as a new file)"
                        .into(),
                );
                return Vec::new();
            }
            // From the Hosts step the run covers the whole inventory (a repair's limit ends here).
            state.limit = None;
            return enter_review(state);
        }
        Some(Intent::AddHost) if h.error.is_none() => open_host_form(state, None),
        Some(Intent::EditHost) => match names.get(h.selected) {
            Some(n) => open_host_form(state, Some(n.clone())),
            None => state.message = Some("no host selected".into()),
        },
        Some(Intent::RemoveHost) if names.get(h.selected).is_some() => {
            state.dialog = Some(Dialog::ConfirmRemoveHost);
        }
        Some(Intent::MoveHost) => {
            let Some(host) = names.get(h.selected).cloned() else {
                return Vec::new();
            };
            let choices = h.group_choices();
            let current = h.group_of(&host).unwrap_or_default();
            let next = choices
                .iter()
                .position(|g| *g == current)
                .map_or(0, |i| (i + 1) % choices.len());
            let to = choices[next].clone();
            h.edit(crate::inventory::edit::Edit::Move {
                host: host.clone(),
                to: to.clone(),
            });
            h.selected = h.host_names().iter().position(|n| *n == host).unwrap_or(0);
            state.message = Some(format!("{host} moved to {to} (not saved yet)"));
        }
        Some(Intent::Save) if !h.pending.is_empty() => state.dialog = Some(Dialog::ConfirmSave),
        Some(Intent::Save) => state.message = Some("nothing to save".into()),
        Some(Intent::SaveAs) if h.error.is_none() => {
            h.save_as = Some(Input::new(format!("{}.new.yml", h.path.display())));
        }
        Some(Intent::Test) => {
            return names
                .get(h.selected)
                .map(|n| test_connection(state, n.clone()))
                .into_iter()
                .flatten()
                .collect();
        }
        Some(Intent::TestAll) => {
            return names
                .into_iter()
                .flat_map(|n| test_connection(state, n))
                .collect();
        }
        Some(Intent::PageUp) => h.scroll = h.scroll.saturating_sub(10),
        Some(Intent::PageDown) => h.scroll = h.scroll.saturating_add(10),
        Some(Intent::Up) => h.selected = h.selected.saturating_sub(1),
        Some(Intent::Down) => {
            if h.selected + 1 < names.len() {
                h.selected += 1;
            }
        }
        _ => state.dirty = false,
    }
    Vec::new()
}

fn test_connection(state: &mut State, host: String) -> Vec<Effect> {
    if state.hosts.tests.get(&host) == Some(&ConnTest::Running) {
        return Vec::new();
    }
    state.hosts.tests.insert(host.clone(), ConnTest::Running);
    let vars = state.hosts.vars_of(&host);
    vec![Effect::TestConnection {
        host,
        vars,
        trust_new_key: false,
        approved: None,
    }]
}

fn save_as_key(state: &mut State, key: KeyEvent, intent: Option<Intent>) -> Vec<Effect> {
    let Some(input) = state.hosts.save_as.as_mut() else {
        return Vec::new();
    };
    match intent {
        Some(Intent::Back) => state.hosts.save_as = None,
        Some(Intent::Keep) => {
            let path = PathBuf::from(input.value().trim());
            if path.as_os_str().is_empty() {
                state.message = Some("type the path of the new inventory file".into());
                return Vec::new();
            }
            state.hosts.save_as = None;
            return save_inventory(state, path);
        }
        _ => {
            if let Some(req) = to_input_request(&Event::Key(key)) {
                input.handle(req);
            }
        }
    }
    Vec::new()
}

/// Writes the pending edits: to the inventory itself (after its confirmation, with a backup)
/// or to a new file.
fn save_inventory(state: &mut State, to: PathBuf) -> Vec<Effect> {
    state.hosts.saving = true;
    state.message = Some(format!("saving {}…", to.display()));
    vec![Effect::SaveInventory {
        source: state.hosts.path.clone(),
        to,
        edits: state.hosts.pending.clone(),
    }]
}

/// True when printable keys are typed into a text line (the save-as path, a form field).
pub(crate) fn typing(h: &HostsView) -> bool {
    h.save_as.is_some()
        || h.edit.as_ref().is_some_and(|e| {
            e.form
                .fields
                .get(e.form.focus)
                .is_some_and(|f| matches!(f.value, FieldValue::Text(_) | FieldValue::List { .. }))
        })
}

/// The answer of a "test connection".
pub(crate) fn on_tested(state: &mut State, host: String, result: Result<String, String>) {
    let t = match result {
        Ok(s) => ConnTest::Ok(s),
        Err(e) => ConnTest::Failed(e),
    };
    state.hosts.tests.insert(host, t);
}

/// The inventory was written and read back (the view is replaced, tests and selection kept).
pub(crate) fn on_saved(state: &mut State, result: Result<Box<SavedInventory>, String>) {
    state.hosts.saving = false;
    match result {
        Ok(saved) => {
            let tests = std::mem::take(&mut state.hosts.tests);
            let selected = state.hosts.selected;
            state.message = Some(match &saved.backup {
                Some(b) => format!(
                    "saved {} (the previous version: {})",
                    saved.view.path.display(),
                    b.display()
                ),
                None => format!("saved {}", saved.view.path.display()),
            });
            state.hosts = saved.view;
            state.hosts.tests = tests;
            state.hosts.selected = selected;
        }
        Err(e) => state.message = Some(format!("not saved: {e}")),
    }
}

/// A connection test met a host key not known yet: ask to trust it.
pub(crate) fn on_host_key_unknown(
    state: &mut State,
    host: String,
    fingerprint: String,
    jump_host: Option<String>,
) {
    // One question at a time: another host's prompt waits for its own test.
    if state.dialog.is_some() {
        state.hosts.tests.insert(
            host,
            ConnTest::Failed(format!(
                "host key {fingerprint} is not known yet; test again to trust it"
            )),
        );
        return;
    }
    state.hosts.trust_prompt = Some((host, fingerprint));
    state.hosts.trust_jump = jump_host;
    state.dialog = Some(Dialog::TrustHostKey);
}

/// The host key was not trusted: the test fails.
pub(crate) fn decline_trust(state: &mut State) {
    if let Some((host, fp)) = state.hosts.trust_prompt.take() {
        state.hosts.trust_jump = None;
        state.hosts.tests.insert(
            host,
            ConnTest::Failed(format!("not trusted, not connected (host key {fp})")),
        );
    }
}

/// A confirmed dialog of this step.
pub(crate) fn confirm(state: &mut State, d: Dialog) -> Vec<Effect> {
    match d {
        Dialog::ConfirmSave => {
            let to = state.hosts.path.clone();
            save_inventory(state, to)
        }
        Dialog::ConfirmRemoveHost => {
            let names = state.hosts.host_names();
            if let Some(host) = names.get(state.hosts.selected).cloned() {
                state
                    .hosts
                    .edit(crate::inventory::edit::Edit::Remove { host: host.clone() });
                state.message = Some(format!("{host} removed (not saved yet: s saves)"));
            }
            Vec::new()
        }
        Dialog::TrustHostKey => {
            let Some((host, fingerprint)) = state.hosts.trust_prompt.take() else {
                return Vec::new();
            };
            let vars = state.hosts.vars_of(&host);
            state.hosts.tests.insert(host.clone(), ConnTest::Running);
            vec![Effect::TestConnection {
                host,
                vars,
                trust_new_key: true,
                approved: Some(crate::app::effects::ApprovedKey {
                    fingerprint,
                    jump_host: state.hosts.trust_jump.take(),
                }),
            }]
        }
        _ => Vec::new(),
    }
}
