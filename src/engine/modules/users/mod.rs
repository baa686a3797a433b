//! Local accounts: `user` and `group`, with the shadow tools (useradd/usermod/userdel,
//! groupadd/groupmod/groupdel) and `getent`, as ansible-core's Linux classes run them. Every
//! value from the playbook reaches the target as one quoted word after `--`-safe option
//! letters; a password hash only on stdin (`chpasswd -e`), never in a script or argv.

mod group;
mod user;

pub use group::Group;
pub use user::User;

use super::{Ctx, ModuleError};
use crate::transport::sh_quote;

/// One `/etc/group` entry as `getent group` prints it.
#[derive(Debug, Clone)]
pub(crate) struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// One `/etc/passwd` entry.
#[derive(Debug, Clone)]
pub(crate) struct PasswdEntry {
    pub uid: u32,
    pub gid: u32,
    pub comment: String,
    pub home: String,
    pub shell: String,
}

pub(crate) fn parse_group(line: &str) -> Option<GroupEntry> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 4 {
        return None;
    }
    Some(GroupEntry {
        name: f[0].to_string(),
        gid: f[2].parse().ok()?,
        members: f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

pub(crate) fn parse_passwd(line: &str) -> Option<PasswdEntry> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 {
        return None;
    }
    Some(PasswdEntry {
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        comment: f[4].to_string(),
        home: f[5].to_string(),
        shell: f[6].to_string(),
    })
}

/// The account database as the target sees it: the user's passwd entry and shadow hash (when
/// `user` is given and readable), and every group. One round trip.
pub(crate) struct Accounts {
    pub passwd: Option<PasswdEntry>,
    /// The shadow password field (`!`-prefixed when locked); empty when unreadable.
    pub shadow: String,
    pub groups: Vec<GroupEntry>,
}

impl Accounts {
    pub async fn read(ctx: &Ctx<'_>, user: Option<&str>) -> Result<Accounts, ModuleError> {
        let mut script = String::from("set -u\n");
        if let Some(u) = user {
            script.push_str(&format!(
                "n={}\nprintf 'P%s\\n' \"$(getent passwd -- \"$n\")\"\n\
                 printf 'S%s\\n' \"$(getent shadow -- \"$n\" 2>/dev/null | cut -d: -f2)\"\n",
                sh_quote(u)
            ));
        }
        script.push_str("getent group | sed 's/^/G/'\n");
        let out = ctx.query(&script, None).await?;
        if out.rc != 0 {
            return Err(ModuleError::Args(format!(
                "reading the account database failed: {}",
                out.stderr.trim()
            )));
        }
        let mut a = Accounts {
            passwd: None,
            shadow: String::new(),
            groups: Vec::new(),
        };
        for line in out.stdout.lines() {
            if let Some(p) = line.strip_prefix('P') {
                a.passwd = parse_passwd(p);
            } else if let Some(s) = line.strip_prefix('S') {
                a.shadow = s.to_string();
            } else if let Some(g) = line.strip_prefix('G') {
                a.groups.extend(parse_group(g));
            }
        }
        Ok(a)
    }

    /// A group by gid first, then by name (Ansible's `group_exists` order).
    pub fn group(&self, name_or_gid: &str) -> Option<&GroupEntry> {
        name_or_gid
            .parse::<u32>()
            .ok()
            .and_then(|gid| self.groups.iter().find(|g| g.gid == gid))
            .or_else(|| self.groups.iter().find(|g| g.name == name_or_gid))
    }
}

/// Runs `argv` (a program and its words, each quoted) on the target; stdin for secrets.
pub(crate) async fn run_argv(
    ctx: &Ctx<'_>,
    argv: &[String],
    extra: &str,
    stdin: Option<&[u8]>,
) -> Result<crate::transport::Output, ModuleError> {
    let cmd: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
    let script = format!("{}{extra}", cmd.join(" "));
    Ok(ctx.query(&script, stdin).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse() {
        let g = parse_group("adm:x:4:syslog,bob").expect("group");
        assert_eq!((g.name.as_str(), g.gid), ("adm", 4));
        assert_eq!(g.members, ["syslog", "bob"]);
        assert!(parse_group("adm:x:4:").expect("group").members.is_empty());
        let p = parse_passwd("bob:x:1001:1002:Bob B,,,:/home/bob:/bin/bash").expect("passwd");
        assert_eq!((p.uid, p.gid), (1001, 1002));
        assert_eq!(p.comment, "Bob B,,,");
        assert!(parse_passwd("").is_none());
    }
}
