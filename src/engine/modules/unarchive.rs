//! `unarchive`: unpacks a tar (plain, gzip, bzip2, xz, zstd) or zip archive into an existing
//! directory on the target, with the target's GNU tar or unzip, as Ansible's module does. The
//! archive comes from the controller (uploaded to a private temporary directory first) or is on
//! the target (`remote_src`). Whether it is already unpacked is decided as Ansible decides it:
//! `tar --diff` for tar archives; for zip, the archive unpacked into a temporary directory and
//! compared file by file (content, mtime, mode). `creates` skips the task when a path exists.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{Payload, WriteOpts, local_source, write_remote_payload};
use super::module::{self, Module, Query};
use super::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unarchive {
    #[serde(deserialize_with = "args::string")]
    src: String,
    #[serde(deserialize_with = "args::string")]
    dest: String,
    #[serde(default, deserialize_with = "args::opt_bool")]
    remote_src: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    creates: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    list_files: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "args::opt_mode")]
    mode: Option<String>,
}

super::files::owner_group_mode!(Unarchive);

/// What `apply` unpacks, and where the uploaded copy is to be removed.
pub struct Unpack {
    archive: Archive,
    extract: bool,
    tmpdir: Option<String>,
    result: ModuleResult,
}

/// The archive on the target and how it is read.
struct Archive {
    /// The file on the target.
    path: String,
    /// `ZipArchive`, `TgzArchive`, … (Ansible's handler names, reported as `handler`).
    handler: &'static str,
    /// tar's compression flag.
    flag: &'static str,
    files: Vec<String>,
}

const TAR_HANDLERS: &[(&str, &str)] = &[
    ("TgzArchive", "-z"),
    ("TarArchive", ""),
    ("TarBzipArchive", "-j"),
    ("TarXzArchive", "-J"),
    ("TarZstdArchive", "--zstd"),
];

impl Module for Unarchive {
    const NAME: &'static str = "unarchive";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "copy",
        "decrypt",
        "exclude",
        "include",
        "extra_opts",
        "keep_newer",
        "io_buffer_size",
        "validate_certs",
        "attributes",
        "attr",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "unsafe_writes",
    ];
    type Pending = Unpack;
    const PATH_ARGS: &'static [&'static str] = &["src", "dest", "creates"];

    /// `src` is on the controller (the action plugin expands it there) unless `remote_src`.
    fn path_args(args: &Map<String, Value>) -> &'static [&'static str] {
        match args.get("remote_src").and_then(args::parse_bool) {
            Some(true) => Self::PATH_ARGS,
            _ => &["dest", "creates"],
        }
    }

    /// Ansible's unarchive action plugin hands the arguments on to `ansible.legacy.unarchive`.
    fn unsupported(_: &str, unknown: &[&str]) -> String {
        module::unsupported_msg(
            "ansible.legacy.unarchive",
            unknown,
            &module::supported::<Self>(),
        )
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Unpack>, ModuleError> {
        if let Some(c) = &self.creates {
            let out = ctx
                .query(&format!("[ -e {} ] && echo yes", sh_quote(c)), None)
                .await?;
            if out.stdout.trim() == "yes" {
                let mut r = ModuleResult::ok().with_msg(format!("skipped, since {c} exists"));
                r.skipped = true;
                return Ok(Query::done(r));
            }
        }
        let out = ctx
            .query(
                &format!("[ -d {} ] && echo yes", sh_quote(&self.dest)),
                None,
            )
            .await?;
        if out.stdout.trim() != "yes" {
            return Ok(Query::done(ModuleResult::fail(format!(
                "dest '{}' must be an existing dir",
                self.dest
            ))));
        }
        let remote = self.remote_src.unwrap_or(false);
        if self.src.contains("://") {
            return Ok(Query::done(ModuleResult::fail(format!(
                "unarchive: a URL src is not implemented by the native engine; download it with get_url first, or {}",
                super::catalog::USE_ANSIBLE
            ))));
        }
        let (path, tmpdir) = if remote {
            (self.src.clone(), None)
        } else {
            let local = local_source(ctx, "files", &self.src)?;
            let out = ctx.query("mktemp -d", None).await?;
            let dir = out.stdout.trim().to_string();
            if out.rc != 0 || dir.is_empty() {
                return Ok(Query::done(ModuleResult::fail(format!(
                    "cannot make a temporary directory on the target: {}",
                    out.stderr.trim()
                ))));
            }
            let name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "source".into());
            let path = format!("{dir}/{name}");
            let attrs = super::files::Attrs {
                owner: None,
                group: None,
                mode: Some("0600".into()),
            };
            let opts = WriteOpts {
                attrs: &attrs,
                backup: false,
                validate: None,
            };
            if let Err(e) = write_remote_payload(ctx, &path, Payload::File(&local), &opts).await {
                cleanup(ctx, Some(&dir)).await?;
                return Err(e);
            }
            (path, Some(dir))
        };
        let found = self.inspect(ctx, &path).await;
        let (archive, unarchived) = match found {
            Ok(Ok(x)) => x,
            Ok(Err(r)) => {
                cleanup(ctx, tmpdir.as_deref()).await?;
                return Ok(Query::done(r));
            }
            Err(e) => {
                cleanup(ctx, tmpdir.as_deref()).await?;
                return Err(e);
            }
        };
        let mut r = ModuleResult::ok();
        r.extra
            .insert("handler".into(), archive.handler.to_string().into());
        r.extra.insert("dest".into(), self.dest.clone().into());
        r.extra.insert("src".into(), path.clone().into());
        if self.list_files.unwrap_or(false) {
            r.extra.insert(
                "files".into(),
                Value::Array(archive.files.iter().cloned().map(Value::from).collect()),
            );
        }
        r.extra.extend(dest_info(ctx, &self.dest).await?);
        if ctx.check && archive.handler != "ZipArchive" {
            // Ansible's tar handler does not support check mode: the task is skipped.
            cleanup(ctx, tmpdir.as_deref()).await?;
            let mut s = ModuleResult::ok().with_msg(
                "remote module (ansible.legacy.unarchive) does not support check mode when using gtar",
            );
            s.skipped = true;
            return Ok(Query::done(s));
        }
        let attrs_differ = self.attrs_differ(ctx, &archive.files).await?;
        r.changed = !unarchived || attrs_differ;
        if !r.changed || ctx.check {
            cleanup(ctx, tmpdir.as_deref()).await?;
            return Ok(Query::done(r));
        }
        Ok(Query::change(
            r.clone(),
            Unpack {
                archive,
                extract: !unarchived,
                tmpdir,
                result: r,
            },
        ))
    }

    async fn apply(&self, u: Unpack, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let res = self.unpack(&u, ctx).await;
        cleanup(ctx, u.tmpdir.as_deref()).await?;
        res
    }
}

impl Unarchive {
    /// The archive's handler and file list, and whether it is unpacked already; Err: the
    /// failure to report.
    async fn inspect(
        &self,
        ctx: &Ctx<'_>,
        path: &str,
    ) -> Result<Result<(Archive, bool), ModuleResult>, ModuleError> {
        let src = sh_quote(path);
        let dest = sh_quote(&self.dest);
        let tries: String = TAR_HANDLERS
            .iter()
            .map(|(name, flag)| {
                format!(
                    "elif LC_ALL=C tar --list -C \"$dest\" {flag} -f \"$src\" > \"$l\" 2>/dev/null && [ -s \"$l\" ]; then echo \"H {name}\"\n"
                )
            })
            .collect();
        let script = format!(
            "src={src}; dest={dest}\n\
             [ -e \"$src\" ] || {{ echo \"Source '$src' does not exist\" >&2; exit 3; }}\n\
             [ -s \"$src\" ] || {{ echo \"Invalid archive '$src', the file is 0 bytes\" >&2; exit 3; }}\n\
             l=$(mktemp) || exit 2\n\
             if command -v unzip >/dev/null 2>&1 && unzip -Z -1 \"$src\" > \"$l\" 2>/dev/null && [ -s \"$l\" ]; then echo 'H ZipArchive'\n\
             {tries}else echo H; fi\n\
             sed 's/^/F /' \"$l\"; rm -f \"$l\""
        );
        let out = ctx.query(&script, None).await?;
        if out.rc != 0 {
            return Ok(Err(ModuleResult::fail(out.stderr.trim().to_string())));
        }
        let mut handler = "";
        let mut files = Vec::new();
        for line in out.stdout.lines() {
            if let Some(h) = line.strip_prefix("H") {
                handler = h.trim();
            } else if let Some(f) = line.strip_prefix("F ") {
                // Absolute names are unpacked below dest, as tar does.
                files.push(f.trim_start_matches('/').to_string());
            }
        }
        let Some((handler, flag)) = std::iter::once(("ZipArchive", ""))
            .chain(TAR_HANDLERS.iter().copied())
            .find(|(n, _)| *n == handler)
        else {
            return Ok(Err(ModuleResult::fail(format!(
                "Failed to find handler for \"{path}\". Make sure the required command to extract the file is installed (GNU tar, or unzip for zip files)."
            ))));
        };
        let archive = Archive {
            path: path.to_string(),
            handler,
            flag,
            files,
        };
        let unarchived = if handler == "ZipArchive" {
            self.zip_unarchived(ctx, &archive).await?
        } else {
            self.tar_unarchived(ctx, &archive).await?
        };
        Ok(Ok((archive, unarchived)))
    }

    /// `tar --diff`, its lines filtered as Ansible filters them: differences in what the task
    /// sets anyway (owner, group, mode) do not count.
    async fn tar_unarchived(&self, ctx: &Ctx<'_>, a: &Archive) -> Result<bool, ModuleError> {
        let out = ctx
            .query(
                &format!(
                    "id -u; LC_ALL=C tar --diff -C {} {} {} -f {} 2>&1; true",
                    sh_quote(&self.dest),
                    a.flag,
                    self.owner_group_opts(),
                    sh_quote(&a.path)
                ),
                None,
            )
            .await?;
        let mut lines = out.stdout.lines();
        let root = lines.next().map(str::trim) == Some("0");
        let differs = lines.any(|line| {
            if line.ends_with(": : Warning: Cannot stat: No such file or directory") {
                return false;
            }
            (root && self.owner.is_none() && line.ends_with(": Uid differs"))
                || (root && self.group.is_none() && line.ends_with(": Gid differs"))
                || (self.mode.is_none() && line.ends_with(": Mode differs"))
                || [
                    ": Mod time differs",
                    ": Warning: Cannot stat: No such file or directory",
                    ": Symlink differs",
                    ": Contents differ",
                    ": Size differs",
                ]
                .iter()
                .any(|s| line.ends_with(s))
                || line.contains(": Invalid owner")
                || line.contains(": Invalid group")
        });
        Ok(!differs)
    }

    /// The zip unpacked into a temporary directory and compared with dest: every entry there,
    /// of the same type; files with the same content, mtime and (unless `mode` is set) mode.
    async fn zip_unarchived(&self, ctx: &Ctx<'_>, a: &Archive) -> Result<bool, ModuleError> {
        let mode_check = if self.mode.is_none() {
            "[ \"$(stat -c %a -- \"$t/$f\")\" = \"$(stat -c %a -- \"$dest/$f\")\" ] || { echo DIFF; break; }\n"
        } else {
            ""
        };
        let script = format!(
            "src={}; dest={}\nt=$(mktemp -d) || exit 2\ntrap 'rm -rf \"$t\"' EXIT\n\
             unzip -qq -o \"$src\" -d \"$t\" >/dev/null 2>&1 || {{ echo DIFF; exit 0; }}\n\
             cd \"$t\" || exit 2\n\
             find . -mindepth 1 | sed 's|^\\./||' | while IFS= read -r f; do\n\
             if [ -L \"$t/$f\" ]; then [ -L \"$dest/$f\" ] && [ \"$(readlink -- \"$t/$f\")\" = \"$(readlink -- \"$dest/$f\")\" ] || {{ echo DIFF; break; }}\n\
             elif [ -d \"$t/$f\" ]; then [ -d \"$dest/$f\" ] || {{ echo DIFF; break; }}\n\
             else [ -f \"$dest/$f\" ] && [ ! -L \"$dest/$f\" ] || {{ echo DIFF; break; }}\n\
             cmp -s -- \"$t/$f\" \"$dest/$f\" || {{ echo DIFF; break; }}\n\
             [ \"$(stat -c %Y -- \"$t/$f\")\" = \"$(stat -c %Y -- \"$dest/$f\")\" ] || {{ echo DIFF; break; }}\n\
             {mode_check}fi; done",
            sh_quote(&a.path),
            sh_quote(&self.dest),
        );
        let out = ctx.query(&script, None).await?;
        Ok(out.rc == 0 && !out.stdout.contains("DIFF"))
    }

    fn owner_group_opts(&self) -> String {
        let mut s = String::new();
        if let Some(o) = &self.owner {
            s.push_str(&sh_quote(&format!("--owner={o}")));
            s.push(' ');
        }
        if let Some(g) = &self.group {
            s.push_str(&sh_quote(&format!("--group={g}")));
        }
        s
    }

    /// The archive's paths and their top directories, quoted for the shell.
    fn targets(&self, files: &[String]) -> Vec<String> {
        let mut paths: Vec<String> = files
            .iter()
            .map(|f| f.trim_end_matches('/').to_string())
            .collect();
        for f in files {
            if let Some((top, _)) = f.split_once('/')
                && !paths.iter().any(|p| p == top)
            {
                paths.push(top.to_string());
            }
        }
        paths
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| sh_quote(&format!("{}/{p}", self.dest.trim_end_matches('/'))))
            .collect()
    }

    /// Whether any unpacked path lacks the requested owner, group or mode.
    async fn attrs_differ(&self, ctx: &Ctx<'_>, files: &[String]) -> Result<bool, ModuleError> {
        if self.owner.is_none() && self.group.is_none() && self.mode.is_none() {
            return Ok(false);
        }
        let targets = self.targets(files);
        if targets.is_empty() {
            return Ok(false);
        }
        let out = ctx
            .query(
                &format!(
                    "for p in {}; do [ -e \"$p\" ] || [ -L \"$p\" ] || {{ echo A; continue; }}; stat -c '%a %U %G' -- \"$p\"; done",
                    targets.join(" ")
                ),
                None,
            )
            .await?;
        let attrs = self.attrs();
        Ok(out.stdout.lines().any(|l| {
            let mut p = l.split(' ');
            let f = super::files::RemoteFile {
                exists: true,
                mode: p.next().unwrap_or("").into(),
                owner: p.next().unwrap_or("").into(),
                group: p.next().unwrap_or("").into(),
                ..Default::default()
            };
            l == "A" || attrs.differ(&f)
        }))
    }

    async fn unpack(&self, u: &Unpack, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let mut r = u.result.clone();
        let a = &u.archive;
        if u.extract {
            let (shown, cmd) = if a.handler == "ZipArchive" {
                (
                    format!("unzip -o {} -d {}", a.path, self.dest),
                    format!("unzip -o {} -d {}", sh_quote(&a.path), sh_quote(&self.dest)),
                )
            } else {
                let opts = self.owner_group_opts();
                (
                    format!(
                        "tar --extract -C {} {} {opts} -f {}",
                        self.dest, a.flag, a.path
                    ),
                    format!(
                        "LC_ALL=C tar --extract -C {} {} {opts} -f {}",
                        sh_quote(&self.dest),
                        a.flag,
                        sh_quote(&a.path)
                    ),
                )
            };
            let out = ctx.sh(&cmd, None).await?;
            let mut er = Map::new();
            er.insert("cmd".into(), shown.into());
            er.insert("rc".into(), out.rc.into());
            er.insert("out".into(), out.stdout.clone().into());
            er.insert("err".into(), out.stderr.clone().into());
            r.extra.insert("extract_results".into(), Value::Object(er));
            if out.rc != 0 {
                let mut f =
                    ModuleResult::fail(format!("failed to unpack {} to {}", a.path, self.dest));
                f.extra = r.extra;
                return Ok(f);
            }
        }
        let targets = self.targets(&a.files);
        let script = self.attrs().script("\"$p\"");
        if !script.is_empty() && !targets.is_empty() {
            let out = ctx
                .query(
                    &format!("set -e\nfor p in {}; do\n{script}done", targets.join(" ")),
                    None,
                )
                .await?;
            if out.rc != 0 {
                let mut f = ModuleResult::fail(format!(
                    "setting attributes of the unpacked files: {}",
                    out.stderr.trim()
                ));
                f.extra = r.extra;
                return Ok(f);
            }
        }
        r.extra.extend(dest_info(ctx, &self.dest).await?);
        Ok(r)
    }
}

/// Ansible's `add_path_info` for the destination directory.
async fn dest_info(ctx: &Ctx<'_>, dest: &str) -> Result<Map<String, Value>, ModuleError> {
    let out = ctx
        .query(
            &format!("stat -c '%u %g %U %G %a %s' -- {}", sh_quote(dest)),
            None,
        )
        .await?;
    let mut m = Map::new();
    let f: Vec<&str> = out.stdout.split_whitespace().collect();
    if let [uid, gid, owner, group, mode, size] = f.as_slice() {
        let num = |s: &str| s.parse::<u64>().map(Value::from).unwrap_or(Value::Null);
        m.insert("uid".into(), num(uid));
        m.insert("gid".into(), num(gid));
        m.insert("owner".into(), (*owner).into());
        m.insert("group".into(), (*group).into());
        let mode = u32::from_str_radix(mode, 8).unwrap_or(0);
        m.insert("mode".into(), format!("{mode:04o}").into());
        m.insert("state".into(), "directory".into());
        m.insert("size".into(), num(size));
    }
    Ok(m)
}

async fn cleanup(ctx: &Ctx<'_>, tmpdir: Option<&str>) -> Result<(), ModuleError> {
    if let Some(d) = tmpdir {
        ctx.query(&format!("rm -rf -- {}", sh_quote(d)), None)
            .await?;
    }
    Ok(())
}
