//! `postgresql_db` `state: dump | restore`: pg_dump, pg_restore or psql on the target with the
//! command line community.postgresql builds (format from the target's extension, compression
//! through gzip/bzip2/xz, `--role` for `session_role`, `target_opts` and `dump_extra_args` as
//! written). A login password goes to a mode-0600 pgpass file read from stdin, never to argv or
//! the environment (the module exports PGPASSWORD).

use super::PostgresqlDb;
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};
use crate::transport::sh_quote;

/// The format flag and the compressor a target's last extension selects.
fn extension(target: &str) -> &str {
    let file = target.rsplit('/').next().unwrap_or(target);
    match file.rfind('.') {
        Some(i) if i > 0 => &file[i..],
        _ => "",
    }
}

/// `login_flags`: the database (`--dbname=` for restore), host, port, user.
fn login_flags(a: &PostgresqlDb, db_prefix: bool) -> String {
    let conn = a.conn(&a.name);
    let mut f = if db_prefix {
        format!(" --dbname={}", sh_quote(&a.name))
    } else {
        format!(" {}", sh_quote(&a.name))
    };
    if let Some(h) = conn.host.as_ref().or(conn.socket.as_ref()) {
        f.push_str(&format!(" --host={}", sh_quote(h)));
    }
    if let Some(p) = conn.port {
        f.push_str(&format!(" --port={p}"));
    }
    if let Some(u) = &conn.user {
        f.push_str(&format!(" --username={}", sh_quote(u)));
    }
    f
}

/// The script to run and the command line reported in `executed_commands` / `cmd`.
pub(super) fn script(a: &PostgresqlDb, _ctx: &Ctx<'_>) -> (String, String) {
    let target = PostgresqlDb::set(&a.target)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}.sql", a.name));
    let ext = extension(&target);
    let quoted = sh_quote(&target);
    let role = a
        .session_role
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(|r| format!(" --role={}", sh_quote(r)));
    let opts = |s: &Option<String>| match PostgresqlDb::set(s) {
        Some(o) => format!(" {o} "),
        None => String::new(),
    };
    let run = if a.state == super::DbState::Dump {
        let mut cmd = format!("pg_dump{}", login_flags(a, false));
        match ext {
            ".tar" => cmd.push_str(" --format=t"),
            ".pgc" => cmd.push_str(" --format=c"),
            ".dir" => cmd.push_str(" --format=d"),
            _ => {}
        }
        cmd.push_str(&role.unwrap_or_default());
        cmd.push_str(&opts(&a.dump_extra_args));
        cmd.push_str(&opts(&a.target_opts));
        let comp = match ext {
            ".gz" => Some("gzip"),
            ".bz2" => Some("bzip2"),
            ".xz" => Some("xz"),
            _ => None,
        };
        match comp {
            Some(comp) => Run::Compress { cmd, comp },
            None if ext == ".dir" => Run::Plain(format!("{cmd} -f {quoted}")),
            None => Run::Plain(format!("{cmd} > {quoted}")),
        }
    } else {
        let (prog, format) = match ext {
            ".tar" => ("pg_restore", " --format=Tar"),
            ".pgc" => ("pg_restore", " --format=Custom"),
            ".dir" => ("pg_restore", " --format=Directory"),
            _ => ("psql", ""),
        };
        let mut cmd = format!("{prog}{}{format}", login_flags(a, true));
        if ext == ".sql" {
            cmd.push_str(&format!(" --file={quoted}"));
        }
        if prog == "pg_restore" {
            cmd.push_str(&role.unwrap_or_default());
        }
        cmd.push_str(&opts(&a.target_opts));
        let cat = match ext {
            ".gz" => Some("zcat"),
            ".bz2" => Some("bzcat"),
            ".xz" => Some("xzcat"),
            _ => None,
        };
        match cat {
            Some(cat) => Run::Uncompress {
                cmd,
                cat,
                target: quoted.clone(),
            },
            None if matches!(ext, ".dir" | ".pgc") => Run::Plain(format!("{cmd} {quoted}")),
            None if ext == ".sql" => Run::Plain(cmd),
            None => Run::Plain(format!("{cmd} < {quoted}")),
        }
    };
    let conn = a.conn(&a.name);
    let mut s = String::from("unset PGPASSWORD\n");
    // As psql does: root with no login host or user runs the tools as postgres (peer auth).
    if conn.host.is_none() && conn.user.is_none() {
        s.push_str(
            "if [ \"$(id -u)\" = 0 ]; then set -- runuser -u postgres --; else set --; fi\n",
        );
    } else {
        s.push_str("set --\n");
    }
    s.push_str("tmp=$(mktemp -d) || exit 1\ntrap 'rm -rf \"$tmp\"' EXIT\n");
    if conn.password.is_some() {
        s.push_str(
            "(umask 077 && IFS= read -r line && printf '%s\\n' \"$line\" >\"$tmp/pgpass\") || exit 1\n\
             export PGPASSFILE=\"$tmp/pgpass\"\n",
        );
    }
    let shown = match &run {
        Run::Plain(cmd) => {
            s.push_str(&format!("\"$@\" {cmd}\n"));
            cmd.clone()
        }
        Run::Compress { cmd, comp } => {
            // As the module: the compressor reads a fifo pg_dump writes; its failure counts too.
            s.push_str(&format!(
                "mkfifo \"$tmp/pg_fifo\" || exit 1\n{comp} <\"$tmp/pg_fifo\" > {quoted} & c=$!\n\
                 \"$@\" {cmd} >\"$tmp/pg_fifo\"; rc=$?\nwait $c; crc=$?\n[ $rc -ne 0 ] && exit $rc\nexit $crc\n",
            ));
            format!("{comp} <pg_fifo > {quoted} & {cmd} >pg_fifo")
        }
        Run::Uncompress { cmd, cat, target } => {
            s.push_str(&format!(
                "mkfifo \"$tmp/pg_fifo\" || exit 1\n{cat} {target} >\"$tmp/pg_fifo\" & c=$!\n\
                 \"$@\" {cmd} <\"$tmp/pg_fifo\"; rc=$?\nwait $c; crc=$?\n[ $crc -ne 0 ] && exit $crc\nexit $rc\n",
            ));
            format!("{cat} {target} | {cmd}")
        }
    };
    (s, shown)
}

enum Run {
    Plain(String),
    Compress {
        cmd: String,
        comp: &'static str,
    },
    Uncompress {
        cmd: String,
        cat: &'static str,
        target: String,
    },
}

/// pgpass quoting: `\` and `:` escaped.
fn pgpass_line(pw: &str) -> String {
    format!("*:*:*:*:{}\n", pw.replace('\\', "\\\\").replace(':', "\\:"))
}

/// Runs the script: `changed` with the module's `msg` (stdout), `stderr`, `rc`, `cmd` and
/// `executed_commands`, or a failure with stderr as the message.
pub(super) async fn run(
    a: &PostgresqlDb,
    ctx: &Ctx<'_>,
    script: &str,
    cmd: &str,
) -> Result<ModuleResult, ModuleError> {
    let conn = a.conn(&a.name);
    let input = conn.password.as_deref().map(pgpass_line);
    let out = ctx
        .sh(script, Some(input.as_deref().unwrap_or("").as_bytes()))
        .await?;
    let stderr = super::super::mask_psql_stderr(out.stderr.trim_end());
    let mut r = if out.rc == 0 {
        let mut r = ModuleResult::changed(true).with_msg(out.stdout.clone());
        r.extra.insert(
            "executed_commands".into(),
            serde_json::Value::from(vec![cmd.to_string()]),
        );
        r
    } else {
        let mut r = ModuleResult::fail(stderr.clone());
        r.extra.insert("stdout".into(), out.stdout.clone().into());
        r
    };
    r.rc = Some(out.rc);
    r.extra.insert("stderr".into(), stderr.into());
    r.extra.insert("cmd".into(), cmd.into());
    r.extra.insert("db".into(), a.name.clone().into());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_pgpass() {
        assert_eq!(extension("/tmp/x/dbdata.tar.gz"), ".gz");
        assert_eq!(extension("/tmp/x.y/dbdata"), "");
        assert_eq!(extension("dbdata.pgc"), ".pgc");
        assert_eq!(pgpass_line("a:b\\c"), "*:*:*:*:a\\:b\\\\c\n");
    }
}
