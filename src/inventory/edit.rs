//! Edits of an inventory file from the wizard's Hosts step: hosts added, changed, removed and
//! moved between groups, applied to the file's YAML document so group variables, children and
//! other hosts stay as they were (comments and anchors do not survive a rewrite; a backup does).

use serde_yaml::{Mapping, Value};

/// One change to the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Adds `host` to `group` (created under `all.children` when missing) or, when the host is
    /// already listed there, changes it. Variables set to `None` are removed from the host.
    Upsert {
        group: String,
        host: String,
        vars: Vec<(String, Option<String>)>,
    },
    /// Removes the host from every group.
    Remove { host: String },
    /// Renames a host everywhere it is listed.
    Rename { from: String, to: String },
    /// Moves the host (with its own variables) from every group it is in to `to`.
    Move { host: String, to: String },
}

/// Applies `edits` in order to the inventory document.
pub fn apply(doc: &mut Value, edits: &[Edit]) -> Result<(), String> {
    if doc.is_null() {
        *doc = Value::Mapping(Mapping::new());
    }
    if !doc.is_mapping() {
        return Err("the inventory is not a mapping of groups".into());
    }
    for e in edits {
        match e {
            Edit::Upsert { group, host, vars } => {
                let g = group_mut(doc, group)?;
                let hosts = child_map(g, "hosts")?;
                let entry = hosts
                    .entry(Value::String(host.clone()))
                    .or_insert(Value::Null);
                if entry.is_null() {
                    *entry = Value::Mapping(Mapping::new());
                }
                let Value::Mapping(hv) = entry else {
                    return Err(format!("host '{host}' in group '{group}' is not a mapping"));
                };
                for (k, v) in vars {
                    match v {
                        Some(v) => {
                            hv.insert(Value::String(k.clone()), scalar(v));
                        }
                        None => {
                            hv.remove(k.as_str());
                        }
                    }
                }
            }
            Edit::Remove { host } => {
                for_each_group(doc, &mut |g| {
                    if let Some(Value::Mapping(h)) = g.get_mut("hosts") {
                        h.remove(host.as_str());
                    }
                });
            }
            Edit::Rename { from, to } => {
                for_each_group(doc, &mut |g| {
                    if let Some(Value::Mapping(h)) = g.get_mut("hosts")
                        && let Some(v) = h.remove(from.as_str())
                    {
                        h.insert(Value::String(to.clone()), v);
                    }
                });
            }
            Edit::Move { host, to } => {
                let mut own: Option<Value> = None;
                for_each_group(doc, &mut |g| {
                    if let Some(Value::Mapping(h)) = g.get_mut("hosts")
                        && let Some(v) = h.remove(host.as_str())
                        && own.as_ref().is_none_or(Value::is_null)
                    {
                        own = Some(v);
                    }
                });
                let g = group_mut(doc, to)?;
                child_map(g, "hosts")?
                    .insert(Value::String(host.clone()), own.unwrap_or(Value::Null));
            }
        }
    }
    Ok(())
}

/// Numbers and booleans the form produced stay typed in the YAML (`ansible_port: 2222`).
fn scalar(v: &str) -> Value {
    if let Ok(n) = v.parse::<u64>() {
        return Value::Number(n.into());
    }
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(v.to_string()),
    }
}

/// The `key:` mapping of a group, created when missing (a `null` value counts as missing).
fn child_map<'a>(group: &'a mut Mapping, key: &str) -> Result<&'a mut Mapping, String> {
    let v = group
        .entry(Value::String(key.into()))
        .or_insert(Value::Null);
    if v.is_null() {
        *v = Value::Mapping(Mapping::new());
    }
    match v {
        Value::Mapping(m) => Ok(m),
        _ => Err(format!("'{key}' of a group is not a mapping")),
    }
}

/// The mapping of group `name` wherever it is defined (top level or any `children`), or a new
/// one under `all.children`.
fn group_mut<'a>(doc: &'a mut Value, name: &str) -> Result<&'a mut Mapping, String> {
    if find_group(doc, name).is_none() {
        let Value::Mapping(top) = doc else {
            return Err("the inventory is not a mapping of groups".into());
        };
        let all = top
            .entry(Value::String("all".into()))
            .or_insert(Value::Null);
        if all.is_null() {
            *all = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(all) = all else {
            return Err("'all' is not a mapping".into());
        };
        child_map(all, "children")?
            .insert(Value::String(name.into()), Value::Mapping(Mapping::new()));
    }
    let path = find_group(doc, name).ok_or_else(|| format!("group '{name}' not found"))?;
    let mut cur = doc;
    for key in &path {
        cur = cur
            .get_mut(key.as_str())
            .ok_or_else(|| format!("group '{name}' not found"))?;
    }
    if cur.is_null() {
        *cur = Value::Mapping(Mapping::new());
    }
    match cur {
        Value::Mapping(m) => Ok(m),
        _ => Err(format!("group '{name}' is not a mapping")),
    }
}

/// The keys leading from the document to group `name`.
fn find_group(doc: &Value, name: &str) -> Option<Vec<String>> {
    fn walk(groups: &Mapping, name: &str, path: &mut Vec<String>) -> bool {
        for (k, v) in groups {
            let Some(k) = k.as_str() else { continue };
            path.push(k.to_string());
            if k == name {
                return true;
            }
            if let Some(Value::Mapping(children)) = v.get("children") {
                path.push("children".into());
                if walk(children, name, path) {
                    return true;
                }
                path.pop();
            }
            path.pop();
        }
        false
    }
    let Value::Mapping(top) = doc else {
        return None;
    };
    let mut path = Vec::new();
    walk(top, name, &mut path).then_some(path)
}

fn for_each_group(doc: &mut Value, f: &mut dyn FnMut(&mut Mapping)) {
    fn walk(groups: &mut Mapping, f: &mut dyn FnMut(&mut Mapping)) {
        for (_, v) in groups.iter_mut() {
            if let Value::Mapping(g) = v {
                f(g);
                if let Some(Value::Mapping(children)) = g.get_mut("children") {
                    walk(children, f);
                }
            }
        }
    }
    if let Value::Mapping(top) = doc {
        walk(top, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = "\
all:
  vars:
    ansible_user: deploy
  children:
    slm_server:
      hosts:
        slm: {ansible_host: 10.0.0.1}
    redis_vm:
      vars:
        postgresql_allowed_clients: [10.0.0.1/32]
      hosts:
        redis:
          ansible_host: 10.0.0.2
          ansible_port: 2222
";

    fn doc() -> Value {
        serde_yaml::from_str(INV).unwrap()
    }

    #[test]
    fn upsert_remove_rename_move_keep_the_rest() {
        let mut d = doc();
        apply(
            &mut d,
            &[
                Edit::Upsert {
                    group: "redis_vm".into(),
                    host: "redis2".into(),
                    vars: vec![
                        ("ansible_host".into(), Some("10.0.0.3".into())),
                        ("ansible_port".into(), Some("22".into())),
                        ("ansible_become".into(), Some("true".into())),
                    ],
                },
                Edit::Upsert {
                    group: "redis_vm".into(),
                    host: "redis".into(),
                    vars: vec![("ansible_port".into(), None)],
                },
                Edit::Rename {
                    from: "slm".into(),
                    to: "slm1".into(),
                },
                Edit::Move {
                    host: "redis".into(),
                    to: "slm_server".into(),
                },
                Edit::Upsert {
                    group: "monitoring".into(),
                    host: "mon".into(),
                    vars: vec![],
                },
            ],
        )
        .unwrap();
        let text = serde_yaml::to_string(&d).unwrap();
        let back: Value = serde_yaml::from_str(&text).unwrap();
        let slm = &back["all"]["children"]["slm_server"]["hosts"];
        assert_eq!(slm["slm1"]["ansible_host"], "10.0.0.1");
        assert!(slm.get("slm").is_none());
        // Moved with its own variables (the removed port stays removed).
        assert_eq!(slm["redis"]["ansible_host"], "10.0.0.2");
        assert!(slm["redis"].get("ansible_port").is_none());
        let redis = &back["all"]["children"]["redis_vm"];
        assert!(redis["hosts"].get("redis").is_none());
        assert_eq!(redis["hosts"]["redis2"]["ansible_port"], 22);
        assert_eq!(redis["hosts"]["redis2"]["ansible_become"], true);
        // Group variables untouched; a new group lands under all.children.
        assert_eq!(
            redis["vars"]["postgresql_allowed_clients"][0],
            "10.0.0.1/32"
        );
        assert_eq!(back["all"]["vars"]["ansible_user"], "deploy");
        assert!(
            back["all"]["children"]["monitoring"]["hosts"]
                .get("mon")
                .is_some()
        );

        let mut d = doc();
        apply(
            &mut d,
            &[Edit::Remove {
                host: "redis".into(),
            }],
        )
        .unwrap();
        assert!(
            d["all"]["children"]["redis_vm"]["hosts"]
                .get("redis")
                .is_none()
        );
    }

    #[test]
    fn empty_and_top_level_groups() {
        let mut d = Value::Null;
        apply(
            &mut d,
            &[Edit::Upsert {
                group: "web".into(),
                host: "w1".into(),
                vars: vec![("ansible_host".into(), Some("w1.example".into()))],
            }],
        )
        .unwrap();
        assert_eq!(
            d["all"]["children"]["web"]["hosts"]["w1"]["ansible_host"],
            "w1.example"
        );
        // A group defined at the top level is found there, not duplicated.
        let mut d: Value = serde_yaml::from_str("db:\n  hosts:\n    d1:\n").unwrap();
        apply(
            &mut d,
            &[Edit::Upsert {
                group: "db".into(),
                host: "d2".into(),
                vars: vec![],
            }],
        )
        .unwrap();
        assert!(d["db"]["hosts"].get("d1").is_some() && d["db"]["hosts"].get("d2").is_some());
        assert!(d.get("all").is_none());
        let mut bad: Value = serde_yaml::from_str("[1, 2]").unwrap();
        assert!(apply(&mut bad, &[]).is_err());
    }
}
