//! `stat`: a path's attributes (and a regular file's SHA-1) as the registered `stat` result.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stat {
    #[serde(alias = "dest", alias = "name", deserialize_with = "args::string")]
    path: String,
    #[serde(default, deserialize_with = "args::opt_bool")]
    follow: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    get_checksum: Option<bool>,
}

impl Module for Stat {
    const NAME: &'static str = "stat";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "checksum_algorithm",
        "get_mime",
        "get_attributes",
        "get_selinux_context",
    ];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        let path = self.path.as_str();
        let p = sh_quote(path);
        let follow = if self.follow.unwrap_or(false) {
            "-L "
        } else {
            ""
        };
        let checksum = self.get_checksum.unwrap_or(true);
        let script = format!(
            "if [ -e {p} ] || [ -L {p} ]; then stat {follow}-c '%F|%a|%u|%g|%U|%G|%s|%Y|%i|%h' -- {p}; \
             {} [ -L {p} ] && readlink -- {p} || echo; else echo ABSENT; fi",
            if checksum {
                format!("[ -f {p} ] && [ -r {p} ] && sha1sum -- {p} | cut -d' ' -f1 || echo;")
            } else {
                "echo;".into()
            }
        );
        let out = ctx.query(&script, None).await?;
        let mut st = Map::new();
        let mut lines = out.stdout.lines();
        let first = lines.next().unwrap_or("ABSENT");
        if first == "ABSENT" {
            st.insert("exists".into(), Value::Bool(false));
        } else {
            let f: Vec<&str> = first.split('|').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("");
            let int = |i: usize| {
                get(i)
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or(Value::Null)
            };
            let kind = get(0);
            st.insert("exists".into(), Value::Bool(true));
            st.insert("path".into(), Value::String(path.to_string()));
            st.insert("isreg".into(), Value::Bool(kind.starts_with("regular")));
            st.insert("isdir".into(), Value::Bool(kind == "directory"));
            st.insert("islnk".into(), Value::Bool(kind == "symbolic link"));
            st.insert("mode".into(), Value::String(format!("{:0>4}", get(1))));
            st.insert("uid".into(), int(2));
            st.insert("gid".into(), int(3));
            st.insert("pw_name".into(), Value::String(get(4).into()));
            st.insert("gr_name".into(), Value::String(get(5).into()));
            st.insert("size".into(), int(6));
            st.insert("mtime".into(), int(7));
            st.insert("inode".into(), int(8));
            st.insert("nlink".into(), int(9));
            if let Some(sum) = lines.next().filter(|s| !s.is_empty()) {
                st.insert("checksum".into(), Value::String(sum.to_string()));
            }
            if let Some(target) = lines.next().filter(|s| !s.is_empty()) {
                st.insert("lnk_source".into(), Value::String(target.to_string()));
            }
        }
        let mut r = ModuleResult::ok();
        r.extra.insert("stat".into(), Value::Object(st));
        Ok(Query::done(r))
    }

    async fn apply(&self, _: (), _: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}
