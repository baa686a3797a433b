//! Host patterns: `all`, `*`, group, host, globs, `a:b` (union), `a:&b` (and), `a:!b` (not), `~regex`.

use super::Inventory;

impl Inventory {
    /// The hosts a pattern selects, in inventory order.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, String> {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err("empty host pattern".into());
        }
        let parts: Vec<&str> = pattern
            .split([':', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let mut chosen: Vec<bool> = vec![false; self.hosts.len()];
        // Ansible applies unions first, then intersections, then exclusions.
        let mut ands = Vec::new();
        let mut nots = Vec::new();
        for part in &parts {
            if let Some(p) = part.strip_prefix('&') {
                ands.push(self.match_one(p)?);
            } else if let Some(p) = part.strip_prefix('!') {
                nots.push(self.match_one(p)?);
            } else {
                for (i, m) in self.match_one(part)?.into_iter().enumerate() {
                    chosen[i] |= m;
                }
            }
        }
        if parts
            .iter()
            .all(|p| p.starts_with('&') || p.starts_with('!'))
        {
            chosen = vec![true; self.hosts.len()];
        }
        for a in ands {
            for (c, m) in chosen.iter_mut().zip(a) {
                *c &= m;
            }
        }
        for n in nots {
            for (c, m) in chosen.iter_mut().zip(n) {
                *c &= !m;
            }
        }
        Ok(self
            .hosts
            .keys()
            .zip(chosen)
            .filter(|(_, c)| *c)
            .map(|(h, _)| h.clone())
            .collect())
    }

    fn match_one(&self, part: &str) -> Result<Vec<bool>, String> {
        if part == "all" || part == "*" {
            return Ok(vec![true; self.hosts.len()]);
        }
        if let Some(re) = part.strip_prefix('~') {
            let re = regex::Regex::new(re)
                .map_err(|e| format!("host pattern '{part}': invalid regex: {e}"))?;
            return Ok(self.names_matching(|n| re.is_match(n)));
        }
        if let Some(group) = self.groups.get(part) {
            let members = self.groups_map();
            let list = members
                .get(&group.name)
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            return Ok(self
                .hosts
                .keys()
                .map(|h| list.iter().any(|v| v == h.as_str()))
                .collect());
        }
        if self.hosts.contains_key(part) {
            return Ok(self.hosts.keys().map(|h| h == part).collect());
        }
        if part.contains('*') || part.contains('?') {
            let re = glob_regex(part)?;
            let mut m = self.names_matching(|n| re.is_match(n));
            // A glob also selects the hosts of the groups it matches.
            for g in self.groups.keys().filter(|g| re.is_match(g)) {
                for (i, sel) in self.match_one(g)?.into_iter().enumerate() {
                    m[i] |= sel;
                }
            }
            return Ok(m);
        }
        Err(format!(
            "host pattern '{part}' matches no host or group; groups: {}; hosts: {}",
            self.groups.keys().cloned().collect::<Vec<_>>().join(", "),
            self.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    }

    fn names_matching(&self, f: impl Fn(&str) -> bool) -> Vec<bool> {
        self.hosts.keys().map(|h| f(h)).collect()
    }
}

fn glob_regex(glob: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| format!("host pattern '{glob}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn inv() -> Inventory {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("hosts.yml");
        std::fs::write(
            &p,
            "all:\n  children:\n    web:\n      hosts: {w1: , w2: }\n    db:\n      hosts: {d1: , w2: }\n",
        )
        .expect("write");
        Inventory::load(&p, &|_, pos| {
            Err(crate::compat::yaml::YamlError {
                pos: pos.clone(),
                msg: String::new(),
            })
        })
        .expect("loads")
    }

    #[test]
    fn patterns() {
        let i = inv();
        assert_eq!(i.select("all").expect("ok"), vec!["w1", "w2", "d1"]);
        assert_eq!(i.select("web:db").expect("ok"), vec!["w1", "w2", "d1"]);
        assert_eq!(i.select("web:&db").expect("ok"), vec!["w2"]);
        assert_eq!(i.select("web:!db").expect("ok"), vec!["w1"]);
        assert_eq!(i.select("w*").expect("ok"), vec!["w1", "w2"]);
        assert_eq!(i.select("~d\\d").expect("ok"), vec!["d1"]);
        assert!(
            i.select("nope")
                .expect_err("no match")
                .contains("matches no host")
        );
    }
}
