//! Ansible YAML inventories: groups with hosts, vars and children to any depth, `group_vars/`
//! and `host_vars/` beside the file, and host patterns.

pub mod deployment;
pub mod edit;
pub mod pattern;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::compat::yaml::{self, Kind, Node, Pos};
use crate::error::{InputError, unknown_key};

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub name: String,
    pub vars: Map<String, Value>,
    /// Where each of `vars` is set (its value in the inventory or a `group_vars/` file), so a
    /// bad value can be reported at file:line:col.
    pub var_pos: VarPositions,
    /// Hosts listed directly in this group.
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub parents: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Host {
    pub name: String,
    pub vars: Map<String, Value>,
    /// Where each of `vars` is set, like [`Group::var_pos`].
    pub var_pos: VarPositions,
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    pub path: Option<PathBuf>,
}

/// Where a variable's value is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VarPos {
    /// Where the value starts.
    pub pos: Pos,
    /// Where each item starts when the value is a list (a bad item is pointed at).
    pub items: Vec<Pos>,
}

/// Where each variable is set.
pub type VarPositions = HashMap<String, VarPos>;

/// Variables with where each is set.
pub type LocatedVars = (Map<String, Value>, VarPositions);

/// Decrypts `!vault` values found while loading files.
pub type VaultFn<'a> = &'a dyn Fn(&str, &yaml::Pos) -> Result<String, yaml::YamlError>;

const GROUP_KEYS: &[&str] = &["hosts", "vars", "children"];

impl Inventory {
    pub fn load(path: &Path, vault: VaultFn<'_>) -> Result<Self, InputError> {
        let root = yaml::load_file(path)?;
        let mut inv = Inventory {
            path: Some(path.to_path_buf()),
            ..Default::default()
        };
        inv.group_mut("all");
        match &root.kind {
            Kind::Null => {}
            Kind::Map(entries) => {
                for (k, v) in entries {
                    let name = group_name(k)?;
                    inv.load_group(&name, v, None, vault)?;
                }
            }
            _ => {
                return Err(InputError::at(
                    &root.pos,
                    format!(
                        "an inventory must be a mapping of group names (usually 'all:'), not {}",
                        root.type_name()
                    ),
                ));
            }
        }
        inv.finish();
        if let Some(dir) = path.parent() {
            inv.load_vars_dirs(dir, vault)?;
        }
        Ok(inv)
    }

    /// An inventory of one local host, used when none is given.
    pub fn localhost() -> Self {
        let mut inv = Inventory::default();
        inv.group_mut("all");
        let mut vars = Map::new();
        vars.insert("ansible_connection".into(), Value::from("local"));
        inv.add_host("localhost", vars, HashMap::new(), "all");
        inv.finish();
        inv
    }

    fn group_mut(&mut self, name: &str) -> &mut Group {
        self.groups
            .entry(name.to_string())
            .or_insert_with(|| Group {
                name: name.to_string(),
                ..Default::default()
            })
    }

    fn add_host(
        &mut self,
        name: &str,
        vars: Map<String, Value>,
        var_pos: VarPositions,
        group: &str,
    ) {
        let host = self.hosts.entry(name.to_string()).or_insert_with(|| Host {
            name: name.to_string(),
            ..Default::default()
        });
        host.vars.extend(vars);
        host.var_pos.extend(var_pos);
        let g = self.group_mut(group);
        if !g.hosts.iter().any(|h| h == name) {
            g.hosts.push(name.to_string());
        }
    }

    fn load_group(
        &mut self,
        name: &str,
        node: &Node,
        parent: Option<&str>,
        vault: VaultFn<'_>,
    ) -> Result<(), InputError> {
        self.group_mut(name);
        if let Some(parent) = parent {
            let p = self.group_mut(parent);
            if !p.children.iter().any(|c| c == name) {
                p.children.push(name.to_string());
            }
        }
        let entries = match &node.kind {
            Kind::Null => return Ok(()),
            Kind::Map(e) => e,
            _ => {
                return Err(InputError::at(
                    &node.pos,
                    format!(
                        "group '{name}' must be a mapping with hosts, vars or children, not {}",
                        node.type_name()
                    ),
                ));
            }
        };
        for (k, v) in entries {
            let key = k.key_string();
            match key.as_str() {
                "hosts" => match &v.kind {
                    Kind::Null => {}
                    Kind::Map(hosts) => {
                        for (hk, hv) in hosts {
                            let host = group_name(hk)?;
                            let vars = match &hv.kind {
                                Kind::Null => Map::new(),
                                Kind::Map(_) => as_object(hv.to_json(vault)?),
                                _ => {
                                    return Err(InputError::at(
                                        &hv.pos,
                                        format!(
                                            "host '{host}' must map to its variables (a mapping) or nothing, not {}",
                                            hv.type_name()
                                        ),
                                    ));
                                }
                            };
                            let var_pos = value_positions(hv);
                            for expanded in
                                expand_host_range(&host).map_err(|m| InputError::at(&hk.pos, m))?
                            {
                                self.add_host(&expanded, vars.clone(), var_pos.clone(), name);
                            }
                        }
                    }
                    _ => {
                        return Err(InputError::at(
                            &v.pos,
                            format!(
                                "'hosts' of group '{name}' must be a mapping of host names, not {} \
                                 (write 'hosts:' then one 'name:' per line)",
                                v.type_name()
                            ),
                        ));
                    }
                },
                "vars" => match &v.kind {
                    Kind::Null => {}
                    Kind::Map(_) => {
                        let vars = as_object(v.to_json(vault)?);
                        let group = self.group_mut(name);
                        group.vars.extend(vars);
                        group.var_pos.extend(value_positions(v));
                    }
                    _ => {
                        return Err(InputError::at(
                            &v.pos,
                            format!(
                                "'vars' of group '{name}' must be a mapping, not {}",
                                v.type_name()
                            ),
                        ));
                    }
                },
                "children" => match &v.kind {
                    Kind::Null => {}
                    Kind::Map(children) => {
                        for (ck, cv) in children {
                            let child = group_name(ck)?;
                            if child == name {
                                return Err(InputError::at(
                                    &ck.pos,
                                    format!("group '{name}' lists itself as a child"),
                                ));
                            }
                            self.load_group(&child, cv, Some(name), vault)?;
                        }
                    }
                    _ => {
                        return Err(InputError::at(
                            &v.pos,
                            format!(
                                "'children' of group '{name}' must be a mapping of group names, not {}",
                                v.type_name()
                            ),
                        ));
                    }
                },
                other => {
                    return Err(InputError::at(
                        &k.pos,
                        unknown_key(other, &format!("group '{name}'"), GROUP_KEYS),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Links parents, puts top-level groups under `all` and hostless-group hosts into `ungrouped`.
    fn finish(&mut self) {
        let names: Vec<String> = self.groups.keys().cloned().collect();
        for g in &names {
            let children = self.groups[g].children.clone();
            for c in children {
                let child = self.group_mut(&c);
                if !child.parents.contains(g) {
                    child.parents.push(g.clone());
                }
            }
        }
        for g in &names {
            if g != "all" && self.groups[g].parents.is_empty() {
                let all = self.group_mut("all");
                if !all.children.contains(g) {
                    all.children.push(g.clone());
                }
                self.group_mut(g).parents.push("all".into());
            }
        }
        let ungrouped: Vec<String> = self
            .hosts
            .keys()
            .filter(|h| {
                !self
                    .groups
                    .iter()
                    .any(|(n, g)| n != "all" && n != "ungrouped" && g.hosts.contains(h))
            })
            .cloned()
            .collect();
        if !ungrouped.is_empty() || self.groups.contains_key("ungrouped") {
            let all_direct = std::mem::take(&mut self.group_mut("all").hosts);
            self.group_mut("ungrouped");
            for h in all_direct.into_iter().chain(ungrouped) {
                let g = self.group_mut("ungrouped");
                if !g.hosts.contains(&h) {
                    g.hosts.push(h);
                }
            }
            if !self.groups["ungrouped"]
                .parents
                .contains(&"all".to_string())
            {
                self.group_mut("ungrouped").parents.push("all".into());
                self.group_mut("all").children.push("ungrouped".into());
            }
        }
    }

    fn load_vars_dirs(&mut self, dir: &Path, vault: VaultFn<'_>) -> Result<(), InputError> {
        let group_names: Vec<String> = self.groups.keys().cloned().collect();
        for g in group_names {
            let (vars, var_pos) = load_vars_path(&dir.join("group_vars"), &g, vault)?;
            let group = self.group_mut(&g);
            group.vars.extend(vars);
            group.var_pos.extend(var_pos);
        }
        let host_names: Vec<String> = self.hosts.keys().cloned().collect();
        for h in host_names {
            let (vars, var_pos) = load_vars_path(&dir.join("host_vars"), &h, vault)?;
            if let Some(host) = self.hosts.get_mut(&h) {
                host.vars.extend(vars);
                host.var_pos.extend(var_pos);
            }
        }
        Ok(())
    }

    /// Every group a host is in, directly or through children, `all` included.
    pub fn groups_of(&self, host: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut todo: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.hosts.iter().any(|h| h == host))
            .map(|g| g.name.clone())
            .collect();
        while let Some(g) = todo.pop() {
            if out.contains(&g) {
                continue;
            }
            if let Some(group) = self.groups.get(&g) {
                todo.extend(group.parents.iter().cloned());
            }
            out.push(g);
        }
        if self.hosts.contains_key(host) && !out.iter().any(|g| g == "all") {
            out.push("all".into());
        }
        out
    }

    fn depth(&self, group: &str) -> usize {
        let mut depth = 0;
        let mut frontier = vec![group.to_string()];
        let mut guard = 0;
        while let Some(g) = frontier.pop() {
            guard += 1;
            if guard > 10_000 {
                break;
            }
            if let Some(grp) = self.groups.get(&g)
                && let Some(p) = grp.parents.first()
            {
                depth += 1;
                frontier.push(p.clone());
            }
        }
        depth
    }

    /// The variables of a host from the inventory: groups from `all` down to the deepest, then the host.
    pub fn host_vars(&self, host: &str) -> Map<String, Value> {
        let mut groups = self.groups_of(host);
        groups.sort_by(|a, b| self.depth(a).cmp(&self.depth(b)).then(a.cmp(b)));
        let mut vars = Map::new();
        for g in &groups {
            if let Some(group) = self.groups.get(g) {
                merge_into(&mut vars, &group.vars);
            }
        }
        if let Some(h) = self.hosts.get(host) {
            merge_into(&mut vars, &h.vars);
        }
        vars
    }

    /// `groups` magic variable: group name -> hosts in it (transitively).
    pub fn groups_map(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for name in self.groups.keys() {
            let hosts: Vec<Value> = self
                .hosts
                .keys()
                .filter(|h| self.groups_of(h).contains(name))
                .map(|h| Value::from(h.as_str()))
                .collect();
            out.insert(name.clone(), Value::Array(hosts));
        }
        out
    }

    /// The JSON `ansible-inventory --list` prints.
    pub fn to_list_json(&self) -> Value {
        let mut out = Map::new();
        let mut hostvars = Map::new();
        for h in self.hosts.keys() {
            hostvars.insert(h.clone(), Value::Object(self.host_vars(h)));
        }
        let mut meta = Map::new();
        meta.insert("hostvars".into(), Value::Object(hostvars));
        out.insert("_meta".into(), Value::Object(meta));
        for (name, g) in &self.groups {
            let mut entry = Map::new();
            if !g.hosts.is_empty() {
                entry.insert("hosts".into(), Value::from(g.hosts.clone()));
            }
            if !g.children.is_empty() {
                entry.insert("children".into(), Value::from(g.children.clone()));
            }
            out.insert(name.clone(), Value::Object(entry));
        }
        Value::Object(out)
    }
}

/// Shallow merge, as Ansible's default `hash_behaviour=replace`.
pub fn merge_into(dst: &mut Map<String, Value>, src: &Map<String, Value>) {
    for (k, v) in src {
        dst.insert(k.clone(), v.clone());
    }
}

/// Where each entry of a vars mapping is set: the position of its value (and of its items).
pub fn value_positions(node: &Node) -> VarPositions {
    node.as_map()
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| {
            let items = v
                .as_seq()
                .unwrap_or_default()
                .iter()
                .map(|i| i.pos.clone())
                .collect();
            let at = VarPos {
                pos: v.pos.clone(),
                items,
            };
            (k.key_string(), at)
        })
        .collect()
}

fn as_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn group_name(node: &Node) -> Result<String, InputError> {
    match &node.kind {
        Kind::Str(s) if !s.trim().is_empty() => Ok(s.clone()),
        Kind::Int(_) | Kind::Float(_) => Ok(node.key_string()),
        _ => Err(InputError::at(
            &node.pos,
            format!("expected a group or host name, found {}", node.type_name()),
        )),
    }
}

/// `db[01:03].example` → db01, db02, db03 (Ansible's numeric host ranges).
fn expand_host_range(name: &str) -> Result<Vec<String>, String> {
    let (Some(open), Some(close)) = (name.find('['), name.find(']')) else {
        return Ok(vec![name.to_string()]);
    };
    if close < open {
        return Ok(vec![name.to_string()]);
    }
    let inner = &name[open + 1..close];
    let Some((lo, hi)) = inner.split_once(':') else {
        return Err(format!("host range '{name}' must look like name[01:10]"));
    };
    let width = lo.len();
    let (a, b) = match (
        lo.parse::<u32>(),
        hi.split(':').next().unwrap_or("").parse::<u32>(),
    ) {
        (Ok(a), Ok(b)) if a <= b => (a, b),
        _ => {
            return Err(format!(
                "host range '{name}' must have numeric bounds, low <= high"
            ));
        }
    };
    Ok((a..=b)
        .map(|i| format!("{}{:0width$}{}", &name[..open], i, &name[close + 1..]))
        .collect())
}

/// group_vars/NAME(.yml|.yaml|.json|) or group_vars/NAME/*.yml, merged in file-name order, with
/// where each variable is set.
fn load_vars_path(base: &Path, name: &str, vault: VaultFn<'_>) -> Result<LocatedVars, InputError> {
    let mut files = Vec::new();
    for ext in ["", ".yml", ".yaml", ".json"] {
        let p = base.join(format!("{name}{ext}"));
        if p.is_file() {
            files.push(p);
        } else if p.is_dir() && ext.is_empty() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)
                .map_err(|e| InputError::new(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("yml" | "yaml" | "json") | None
                        )
                })
                .collect();
            entries.sort();
            files.extend(entries);
        }
    }
    let mut vars = Map::new();
    let mut var_pos = HashMap::new();
    for f in files {
        let node = yaml::load_file(&f)?;
        match &node.kind {
            Kind::Null => {}
            Kind::Map(_) => {
                vars.extend(as_object(node.to_json(vault)?));
                var_pos.extend(value_positions(&node));
            }
            _ => {
                return Err(InputError::at(
                    &node.pos,
                    format!(
                        "a vars file must be a mapping of variables, not {}",
                        node.type_name()
                    ),
                ));
            }
        }
    }
    Ok((vars, var_pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_vault(_: &str, p: &yaml::Pos) -> Result<String, yaml::YamlError> {
        Err(yaml::YamlError {
            pos: p.clone(),
            msg: "no vault".into(),
        })
    }

    fn inv(text: &str) -> Result<Inventory, InputError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("hosts.yml");
        std::fs::write(&p, text).expect("write");
        Inventory::load(&p, &no_vault)
    }

    #[test]
    fn nested_groups_and_precedence() {
        let i = inv(
            "all:\n  vars: {a: all, b: all}\n  children:\n    db:\n      vars: {b: db, c: db}\n      children:\n        slm_server:\n          hosts:\n            s1: {c: host}\n          vars: {b: slm}\n    redis_vm:\n      hosts: {r1: }\n",
        )
        .expect("loads");
        let v = i.host_vars("s1");
        assert_eq!(v["a"], "all");
        assert_eq!(v["b"], "slm");
        assert_eq!(v["c"], "host");
        let mut g = i.groups_of("s1");
        g.sort();
        assert_eq!(g, vec!["all", "db", "slm_server"]);
        assert_eq!(i.groups_map()["db"], serde_json::json!(["s1"]));
        assert_eq!(i.host_vars("r1")["b"], "all");
    }

    #[test]
    fn unknown_group_key_is_located() {
        let e = inv("all:\n  host:\n    a: {}\n").expect_err("bad key");
        assert!(e.to_string().contains(":2:3: unknown key 'host'"), "{e}");
        assert!(e.to_string().contains("did you mean 'hosts'"), "{e}");
    }

    #[test]
    fn host_ranges() {
        assert_eq!(
            expand_host_range("db[01:03]").expect("ok"),
            vec!["db01", "db02", "db03"]
        );
        assert!(expand_host_range("db[a:b]").is_err());
    }
}
