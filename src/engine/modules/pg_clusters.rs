//! `service postgresql status` on a SysV host without its Perl (issue 19): Debian's init script
//! asks `pg_lsclusters` (postgresql-common, Perl), which costs ~0.1 s of the target's CPU per
//! check. The same answer comes from the files pg_lsclusters reads: the shell part reads them in
//! the layout Debian creates (one awk prints them all), and [`active`] decides as PgCommon.pm
//! (postgresql-common 248) does. Whatever is outside that layout — a pid file or data directory
//! elsewhere, an include the probe did not read, a line PgCommon would reject, no pid file to
//! decide by — is `None`: the caller then runs the real `service postgresql status`.
//!
//! The init script's `status` is: no cluster → exit 4; any cluster "down" → exit 3; an error of
//! pg_lsclusters → its exit status; else 0. A cluster is down unless its `external_pid_file`
//! names a process whose command line has the word `postgres` (PgCommon's `cluster_info` and
//! `check_pidfile_running`; without a pid file it probes the socket, which is left to the tool).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

/// The shell that prints what [`active`] needs, each record behind `MARK`; nothing when
/// `service` would not run Debian's init script (systemd running) or the script's helpers are
/// not where postgresql-common puts them. Runs in a subshell: its settings do not stay.
const PROBE: &str = r#"(
LC_ALL=C; export LC_ALL
m=MARK
[ ! -d /run/systemd/system ] && [ -r /usr/share/postgresql-common/init.d-functions ] &&
  [ "$(command -v pg_lsclusters)" = /usr/bin/pg_lsclusters ] || exit 0
set -- /etc/init.d/postgresql
for b in /usr/lib/postgresql/*/bin/postgres; do
  [ -x "$b" ] && { b=${b#/usr/lib/postgresql/}; echo "$m B ${b%/bin/postgres}"; }
done
for d in /etc/postgresql/*/* /etc/postgresql/*/.[!.]* /etc/postgresql/*/..?*; do
  f=$d/postgresql.conf; e=0; l=0
  [ -e "$f" ] && e=1; [ -L "$f" ] && l=1
  [ $e$l = 00 ] && continue
  vc=${d#/etc/postgresql/}; v=${vc%%/*}; c=${vc#*/}; p=/var/run/postgresql/$v-$c.pid
  echo "$m C $e$l $vc"
  set -- "$@" "$f" "/var/lib/postgresql/$vc/postgresql.auto.conf" "$p"
  if [ -d "$d/conf.d" ]; then
    echo "$m L $d/conf.d"
    for i in "$d"/conf.d/*.conf; do
      [ -e "$i" ] || [ -L "$i" ] || continue
      echo "$m I ${i##*/}"; set -- "$@" "$i"
    done
  else
    echo "$m N $d/conf.d"
  fi
  pid=; [ -r "$p" ] && [ -f "$p" ] && IFS= read -r pid <"$p"; n=${pid%%[!0-9]*}
  if [ -n "$n" ] && [ -r "/proc/$n/cmdline" ]; then
    printf '%s P %s ' "$m" "$n"; tr '\0\n' ' \001' <"/proc/$n/cmdline"; echo
  fi
done
k=$#; j=0
while [ $j -lt $k ]; do
  f=$1; shift; j=$((j + 1))
  if [ -d "$f" ]; then echo "$m S dir $f"
  elif [ ! -e "$f" ]; then echo "$m S missing $f"
  elif [ ! -r "$f" ]; then echo "$m S unreadable $f"
  elif [ ! -s "$f" ]; then echo "$m S empty $f"
  else set -- "$@" "$f"
  fi
done
[ $# -eq 0 ] || awk -v m="$m" 'FNR == 1 { print m " F " FILENAME } { print }' "$@" || exit 0
echo "$m end"
)"#;

/// The probe for one check; `mark` starts every record line (a fresh random one per check, so
/// no file content can pose as a record).
pub fn probe(mark: &str) -> String {
    PROBE.replace("MARK", mark)
}

/// Debian's `/etc/init.d/postgresql` status action, which the decision below stands in for.
const STATUS_ACTION: &[&str] = &[
    "[ -r /usr/share/postgresql-common/init.d-functions ] || exit 0",
    "    status)",
    "\tLS=`pg_lsclusters -h`",
    "\t[ -n \"$LS\" ] || exit 4",
    "\techo \"$LS\" | awk 'BEGIN {rc=0} {if (match($4, \"down\")) rc=3; printf (\"%s/%s (port %s): %s\\n\", $1, $2, $3, $4)}; END {exit rc}'",
];

#[derive(Debug, Clone, PartialEq)]
enum File {
    Missing,
    Dir,
    Unreadable,
    Text(String),
}

/// What the probe printed.
#[derive(Default)]
struct Snapshot {
    complete: bool,
    binaries: HashSet<String>,
    /// (version/cluster, postgresql.conf exists, is a symlink)
    clusters: Vec<(String, bool, bool)>,
    files: HashMap<String, File>,
    /// include_dir candidates: the `.conf` entries in readdir order sorted, or None when the
    /// path is not a directory.
    listings: HashMap<String, Option<Vec<String>>>,
    cmdlines: HashMap<String, String>,
}

fn parse(out: &str, mark: &str) -> Snapshot {
    let mut s = Snapshot::default();
    let head = format!("{mark} ");
    let mut content: Option<(String, String)> = None;
    let mut listing: Option<String> = None;
    let flush = |s: &mut Snapshot, c: &mut Option<(String, String)>| {
        if let Some((path, text)) = c.take() {
            s.files.insert(path, File::Text(text));
        }
    };
    for line in out.split('\n') {
        let Some(rec) = line.strip_prefix(&head) else {
            if let Some((_, text)) = &mut content {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        };
        flush(&mut s, &mut content);
        let (kind, rest) = rec.split_once(' ').unwrap_or((rec, ""));
        if kind != "I" {
            listing = None;
        }
        match kind {
            "B" => {
                s.binaries.insert(rest.to_string());
            }
            "C" => {
                if let Some((flags, vc)) = rest.split_once(' ') {
                    s.clusters
                        .push((vc.to_string(), flags.starts_with('1'), flags.ends_with('1')));
                }
            }
            "L" => {
                s.listings.insert(rest.to_string(), Some(Vec::new()));
                listing = Some(rest.to_string());
            }
            "N" => {
                s.listings.insert(rest.to_string(), None);
            }
            "I" => {
                if let Some(Some(names)) = listing.as_ref().and_then(|l| s.listings.get_mut(l)) {
                    names.push(rest.to_string());
                }
            }
            "P" => {
                if let Some((pid, cmd)) = rest.split_once(' ') {
                    s.cmdlines.insert(pid.to_string(), cmd.to_string());
                }
            }
            "S" => {
                let (state, path) = rest.split_once(' ').unwrap_or((rest, ""));
                let f = match state {
                    "dir" => File::Dir,
                    "missing" => File::Missing,
                    "unreadable" => File::Unreadable,
                    _ => File::Text(String::new()),
                };
                s.files.insert(path.to_string(), f);
            }
            "F" => content = Some((rest.to_string(), String::new())),
            "end" => s.complete = true,
            _ => {}
        }
    }
    flush(&mut s, &mut content);
    // awk ends the last line of a file without one with a newline: harmless for line parsing.
    s
}

/// Whether `service postgresql status` would succeed, from the probe's output; `None` when the
/// probe could not tell (then the tool itself must be asked).
pub fn active(out: &str, mark: &str) -> Option<bool> {
    let s = parse(out, mark);
    if !s.complete {
        return None;
    }
    match s.files.get("/etc/init.d/postgresql") {
        Some(File::Text(t)) if STATUS_ACTION.iter().all(|l| t.contains(l)) => {}
        _ => return None,
    }
    // get_versions: a version directory with a cluster, or installed binaries.
    let listed = |v: &str| {
        is_version(v)
            && (s.binaries.contains(v)
                || s.clusters
                    .iter()
                    .any(|(vc, exists, _)| *exists && vc.split('/').next() == Some(v)))
    };
    let mut any = false;
    let mut unsure = false;
    for (vc, _, _) in &s.clusters {
        let (v, c) = vc.split_once('/')?;
        if !listed(v) {
            continue;
        }
        // The init script splits pg_lsclusters' columns at blanks.
        if !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-._".contains(ch))
        {
            return None;
        }
        any = true;
        match running(&s, v, c) {
            Some(false) => return Some(false),
            Some(true) => {}
            None => unsure = true,
        }
    }
    if unsure {
        return None;
    }
    Some(any)
}

/// PgCommon's version pattern `^\d+\.?\d+$`.
fn is_version(v: &str) -> bool {
    static RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^[0-9]+\.?[0-9]+$").ok());
    RE.as_ref().is_some_and(|re| re.is_match(v))
}

/// A setting's value; `None`: PgCommon may read it otherwise than this parser (a backslash).
type Conf = HashMap<String, Option<String>>;

/// `cluster_info`'s `running` for one cluster, when the pid file decides it.
fn running(s: &Snapshot, v: &str, c: &str) -> Option<bool> {
    let dir = format!("/etc/postgresql/{v}/{c}");
    let conf_path = format!("{dir}/postgresql.conf");
    // A dead symlink: PgCommon falls back to /etc/postgresql-common/postgresql.conf.
    if matches!(s.files.get(&conf_path), Some(File::Missing) | None) {
        return None;
    }
    let mut conf = read_conf(s, &conf_path, 0)?;
    let get = |conf: &Conf, k: &str| -> Option<Option<String>> {
        match conf.get(k) {
            None => Some(None),
            Some(None) => None,
            Some(Some(v)) => Some(Some(v.clone())),
        }
    };
    let version: f64 = v.parse().ok()?;
    if version >= 9.4 {
        // ALTER SYSTEM's settings; data_directory is the configured one (else PgCommon looks
        // for a pgdata symlink: left to the tool).
        let data = get(&conf, "data_directory")?.filter(|d| !d.is_empty() && d != "0")?;
        let auto = read_conf(s, &format!("{data}/postgresql.auto.conf"), 0)?;
        for (k, val) in auto {
            if k != "data_directory" {
                conf.insert(k, val);
            }
        }
    }
    if conf.is_empty() {
        return Some(false);
    }
    // get_cluster_socketdir fails (and pg_lsclusters with it) in cases decided by stat of
    // directories: only a configured socket directory is certain.
    let socket_key = if version >= 9.3 {
        "unix_socket_directories"
    } else {
        "unix_socket_directory"
    };
    let socket = get(&conf, socket_key)?.unwrap_or_default();
    let first = socket.split(',').next().unwrap_or("").trim_end();
    if first.is_empty() || first == "0" {
        return None;
    }
    if get(&conf, "port")?.is_some_and(|p| p.chars().any(char::is_whitespace)) {
        return None;
    }
    let pid_file = get(&conf, "external_pid_file")?;
    let pid_file = pid_file.filter(|p| !p.is_empty() && p != "0" && p != "(none)")?;
    match s.files.get(&pid_file)? {
        File::Missing => Some(false),
        File::Dir | File::Unreadable => None,
        File::Text(t) => {
            // read_pidfile: the first line, `^(\d+)\s*$` after chomp; else undefined.
            let line = match t.find('\n') {
                Some(at) => &t[..=at],
                None => t.as_str(),
            };
            if line.is_empty() || line == "0" {
                return None;
            }
            let line = line.strip_suffix('\n').unwrap_or(line);
            let digits = line.trim_end_matches(is_perl_space);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // /proc/PID/cmdline unreadable (no such process): PgCommon probes the socket.
            let cmd = s.cmdlines.get(digits)?;
            // Its first line (the probe turned NUL into blank and newline into \x01).
            let cmd = cmd.split('\u{1}').next().unwrap_or("");
            Some(has_word(cmd, "postgres"))
        }
    }
}

fn is_perl_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

/// Perl's `\bword\b` with ASCII word characters.
fn has_word(hay: &str, word: &str) -> bool {
    let w = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = hay.as_bytes();
    hay.match_indices(word).any(|(at, _)| {
        let end = at + word.len();
        (at == 0 || !w(bytes[at - 1])) && (end == bytes.len() || !w(bytes[end]))
    })
}

const SP: &str = r"[\t\n\x0B\x0C\r ]";

struct Lines {
    skip: Regex,
    include_dir: Regex,
    include: Regex,
    string: Regex,
    simple: Regex,
}

static LINES: LazyLock<Option<Lines>> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(&p.replace("SP", SP)).ok();
    Some(Lines {
        skip: re(r"^SP*(?:#.*)?$")?,
        include_dir: re(r"(?i)^SP*include_dirSP*=?SP*'([^']+)'SP*(?:#.*)?$")?,
        include: re(r"(?i)^SP*include(?:_if_exists)?SP*=?SP*'([^']+)'SP*(?:#.*)?$")?,
        // PgCommon: '((?:[^']|''|(?:(?<=\\)'))*)' — the same strings (a quote after a backslash).
        string: re(r"^SP*([a-zA-Z0-9_.-]+)SP*(?:=|SP)SP*'((?:[^']|''|\\')*)'SP*(?:#.*)?$")?,
        simple: re(
            r"^SP*([a-zA-Z0-9_.-]+)SP*(?:=|SP)SP*(-?[[:alnum:]][[:alnum:]._:/+-]*)SP*(?:#.*)?$",
        )?,
    })
});

/// PgCommon's `read_conf_file`: settings in order, includes merged where they stand; a file
/// that cannot be opened is empty. `None`: a file the probe did not read, or a line PgCommon
/// rejects (pg_lsclusters then fails: left to the tool).
fn read_conf(s: &Snapshot, path: &str, depth: usize) -> Option<Conf> {
    let lines = LINES.as_ref()?;
    if depth > 8 {
        return None;
    }
    let text = match s.files.get(path)? {
        File::Text(t) => t,
        File::Missing | File::Dir | File::Unreadable => return Some(Conf::new()),
    };
    let lower = path.ends_with(".conf");
    let mut conf = Conf::new();
    let mut body = text.as_str();
    if let Some(b) = body.strip_suffix('\n') {
        body = b;
    }
    if body.is_empty() {
        return Some(conf);
    }
    for line in body.split('\n') {
        if lines.skip.is_match(line) {
            continue;
        }
        if let Some(c) = lines.include_dir.captures(line) {
            let dir = absolute(&c[1], path);
            match s.listings.get(&dir)? {
                None => continue,
                Some(names) => {
                    for name in names {
                        conf.extend(read_conf(s, &format!("{dir}/{name}"), depth + 1)?);
                    }
                }
            }
        } else if let Some(c) = lines.include.captures(line) {
            conf.extend(read_conf(s, &absolute(&c[1], path), depth + 1)?);
        } else if let Some(c) = lines.string.captures(line) {
            let key = if lower {
                c[1].to_lowercase()
            } else {
                c[1].to_string()
            };
            let raw = &c[2];
            // Escapes: PgCommon's regex and this one may split them differently.
            let value = (!raw.contains('\\')).then(|| raw.replace("''", "'"));
            conf.insert(key, value);
        } else if let Some(c) = lines.simple.captures(line) {
            let key = if lower {
                c[1].to_lowercase()
            } else {
                c[1].to_string()
            };
            conf.insert(key, Some(c[2].to_string()));
        } else {
            return None;
        }
    }
    Some(conf)
}

/// PgCommon's `get_absolute_path`.
fn absolute(path: &str, parent: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    let dir = match parent.rfind('/') {
        Some(at) => &parent[..at],
        None => parent,
    };
    format!("{dir}/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "SLMPGC0";

    const INIT: &str = "#!/bin/sh\nset -e\n[ -r /usr/share/postgresql-common/init.d-functions ] || exit 0\n\
        case \"$1\" in\n    status)\n\tLS=`pg_lsclusters -h`\n\t# no clusters -> unknown status\n\t[ -n \"$LS\" ] || exit 4\n\
        \techo \"$LS\" | awk 'BEGIN {rc=0} {if (match($4, \"down\")) rc=3; printf (\"%s/%s (port %s): %s\\n\", $1, $2, $3, $4)}; END {exit rc}'\n\t;;\nesac\n";

    const CONF: &str = "# comment\n\ndata_directory = '/var/lib/postgresql/15/main'\t\t# x\n\
        external_pid_file = '/var/run/postgresql/15-main.pid'\nport = 5432\t\t\t\t# (change requires restart)\n\
        unix_socket_directories = '/var/run/postgresql'\t# comma-separated\ninclude_dir = 'conf.d'\n";

    /// A probe output of a Debian host with one cluster 15/main, pid file `pid` (None: missing)
    /// and the process `cmd` behind it.
    fn out(conf: &str, pid: Option<&str>, cmd: Option<&str>) -> String {
        let mut o = format!("{M} B 15\n{M} C 10 15/main\n{M} L /etc/postgresql/15/main/conf.d\n");
        o += &format!("{M} I 50-slm.conf\n");
        if let Some(c) = cmd {
            o += &format!("{M} P 4242 {c}\n");
        }
        o += &format!("{M} S missing /var/lib/postgresql/15/main/postgresql.auto.conf\n");
        if pid.is_none() {
            o += &format!("{M} S missing /var/run/postgresql/15-main.pid\n");
        }
        o += &format!("{M} F /etc/init.d/postgresql\n{INIT}");
        o += &format!("{M} F /etc/postgresql/15/main/postgresql.conf\n{conf}");
        if let Some(p) = pid {
            o += &format!("{M} F /var/run/postgresql/15-main.pid\n{p}");
        }
        o += &format!("{M} F /etc/postgresql/15/main/conf.d/50-slm.conf\nport = 5432\nssl = off\n");
        o += &format!("{M} end\n");
        o
    }

    const PG: &str = "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf ";

    #[test]
    fn a_running_cluster_is_active_and_a_stopped_one_is_not() {
        assert_eq!(active(&out(CONF, Some("4242\n"), Some(PG)), M), Some(true));
        // No pid file: down (the server removes it when it stops).
        assert_eq!(active(&out(CONF, None, None), M), Some(false));
        // A pid that is some other program now.
        assert_eq!(
            active(&out(CONF, Some("4242\n"), Some("/usr/sbin/sshd -D ")), M),
            Some(false)
        );
        // `postgresql` is not the word `postgres`.
        assert_eq!(
            active(
                &out(CONF, Some("4242\n"), Some("/usr/bin/postgresql-x ")),
                M
            ),
            Some(false)
        );
    }

    #[test]
    fn what_the_files_do_not_decide_is_left_to_the_tool() {
        // A stale pid file (no such process): PgCommon probes the socket.
        assert_eq!(active(&out(CONF, Some("4242\n"), None), M), None);
        // Not a pid.
        assert_eq!(active(&out(CONF, Some("42x\n"), Some(PG)), M), None);
        // A pid file elsewhere (not read by the probe).
        let moved = CONF.replace("15-main.pid", "other.pid");
        assert_eq!(active(&out(&moved, Some("4242\n"), Some(PG)), M), None);
        // No external_pid_file: the socket decides.
        let none = CONF.replace("external_pid_file = '/var/run/postgresql/15-main.pid'", "");
        assert_eq!(active(&out(&none, Some("4242\n"), Some(PG)), M), None);
        // A line PgCommon rejects makes pg_lsclusters fail.
        let bad = format!("{CONF}work_mem = 4 MB\n");
        assert_eq!(active(&out(&bad, Some("4242\n"), Some(PG)), M), None);
        // An include the probe did not read.
        let inc = format!("{CONF}include 'extra.conf'\n");
        assert_eq!(active(&out(&inc, Some("4242\n"), Some(PG)), M), None);
        // The probe did not finish, or another init script.
        let o = out(CONF, Some("4242\n"), Some(PG));
        assert_eq!(active(&o.replace(&format!("{M} end\n"), ""), M), None);
        assert_eq!(active(&o.replace("LS=`pg_lsclusters -h`", "LS=x"), M), None);
    }

    #[test]
    fn settings_follow_includes_in_order_and_auto_conf() {
        // conf.d overrides the pid file after include_dir; a later line overrides conf.d.
        let o = out(CONF, Some("4242\n"), Some(PG)).replace(
            "port = 5432\nssl = off\n",
            "external_pid_file = '/nowhere.pid'\n",
        );
        assert_eq!(active(&o, M), None, "conf.d moved the pid file");
        let back = format!("{CONF}external_pid_file = '/var/run/postgresql/15-main.pid'\n");
        let o = out(&back, Some("4242\n"), Some(PG)).replace(
            "port = 5432\nssl = off\n",
            "external_pid_file = '/nowhere.pid'\n",
        );
        assert_eq!(active(&o, M), Some(true), "the main file's later line wins");
        // ALTER SYSTEM's file beats both.
        let o = out(CONF, Some("4242\n"), Some(PG)).replace(
            &format!("{M} S missing /var/lib/postgresql/15/main/postgresql.auto.conf\n"),
            &format!(
                "{M} F /var/lib/postgresql/15/main/postgresql.auto.conf\nexternal_pid_file = 'x'\n"
            ),
        );
        assert_eq!(active(&o, M), None);
    }

    #[test]
    fn no_cluster_is_not_active() {
        let o = format!("{M} B 15\n{M} F /etc/init.d/postgresql\n{INIT}{M} end\n");
        assert_eq!(active(&o, M), Some(false));
        // A version directory that is not a version is not listed.
        let o = format!("{M} C 10 x/main\n{M} F /etc/init.d/postgresql\n{INIT}{M} end\n");
        assert_eq!(active(&o, M), Some(false));
    }

    #[test]
    fn config_lines_parse_as_pgcommon_reads_them() {
        let s = Snapshot {
            files: HashMap::from([(
                "/a/b.conf".to_string(),
                File::Text(
                    "Port 5433\nx = 'it''s'\ny='a' # c\nz = -1.5\n  # only\nw = 'a\\'b'\n".into(),
                ),
            )]),
            ..Default::default()
        };
        let c = read_conf(&s, "/a/b.conf", 0).expect("parses");
        assert_eq!(c["port"], Some("5433".into()));
        assert_eq!(c["x"], Some("it's".into()));
        assert_eq!(c["y"], Some("a".into()));
        assert_eq!(c["z"], Some("-1.5".into()));
        assert_eq!(c["w"], None, "escapes are left to the tool");
        assert_eq!(
            absolute("conf.d", "/etc/postgresql/15/main/postgresql.conf"),
            "/etc/postgresql/15/main/conf.d"
        );
        assert_eq!(absolute("/x", "/etc/a.conf"), "/x");
        assert!(has_word(
            "/usr/lib/postgresql/15/bin/postgres -D",
            "postgres"
        ));
        assert!(!has_word("postgres_x postgresql", "postgres"));
        assert!(is_version("15") && is_version("9.6") && !is_version("9") && !is_version("x15"));
    }
}
