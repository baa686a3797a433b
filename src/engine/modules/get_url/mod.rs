//! `get_url`: downloads a URL to a file on the target with the target's own `curl` (or `wget`),
//! as Ansible's module does there with Python. The download goes to a temporary file beside the
//! destination (or in `tmp_dest`); it replaces the destination only when its SHA-1 differs, after
//! the `checksum` was verified. A destination that exists is not downloaded again when its
//! `checksum` matches (unless `force`), and is asked for with `If-Modified-Since` otherwise.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::RemoteFile;
use super::module::{Module, Query};
use super::{Ctx, Diff, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

mod text;

use text::{
    cq, disposition_filename, is_url, mask_url, parse_digest_lines, split_checksum, url_filename,
};

const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetUrl {
    #[serde(deserialize_with = "args::string")]
    url: String,
    #[serde(deserialize_with = "args::string")]
    dest: String,
    #[serde(default, deserialize_with = "args::opt_string")]
    checksum: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    force: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    backup: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_int")]
    timeout: Option<i64>,
    #[serde(default)]
    headers: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "args::opt_string")]
    tmp_dest: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    validate_certs: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    use_proxy: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    http_agent: Option<String>,
    #[serde(default, alias = "username", deserialize_with = "args::opt_string")]
    url_username: Option<String>,
    #[serde(default, alias = "password", deserialize_with = "args::opt_string")]
    url_password: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "args::opt_mode")]
    mode: Option<String>,
}

super::files::owner_group_mode!(GetUrl);

/// The downloaded file waiting beside its destination, and what `apply` checks before the move.
pub struct Download {
    tmp: String,
    dest: String,
    /// (algorithm, expected, actual) when `checksum` was given.
    checksum: Option<(String, String, String)>,
    content_changed: bool,
    /// Ansible reports `md5sum` except when a matching checksum skipped the download.
    md5: bool,
    /// The HTTP status, reported once the file is in place.
    status: Option<i64>,
    result: ModuleResult,
}

/// How to download: `since`, a file whose mtime goes in `If-Modified-Since`; `algo`, the
/// checksum to compute too; `head`, only ask (HEAD: check mode).
struct Fetch<'a> {
    since: Option<&'a str>,
    algo: Option<&'a str>,
    head: bool,
}

/// What one download gave.
struct Fetched {
    tmp: String,
    status: i64,
    effective_url: String,
    disposition: Option<String>,
    length: Option<String>,
    sha1: String,
    digest: Option<String>,
}

impl Module for GetUrl {
    const NAME: &'static str = "get_url";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "ciphers",
        "client_cert",
        "client_key",
        "decompress",
        "force_basic_auth",
        "unredirected_headers",
        "use_gssapi",
        "use_netrc",
        "attributes",
        "attr",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "unsafe_writes",
    ];
    type Pending = Download;
    const PATH_ARGS: &'static [&'static str] = &["dest", "tmp_dest", "client_cert", "client_key"];

    fn validate(&self) -> Result<(), ModuleError> {
        if let Some(c) = &self.checksum
            && !c.is_empty()
        {
            let (algo, _) = split_checksum(c)?;
            if !ALGORITHMS.contains(&algo.as_str()) {
                return Err(ModuleError::Args(format!(
                    "get_url: checksum algorithm {algo:?} is not one of: {}",
                    ALGORITHMS.join(", ")
                )));
            }
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Download>, ModuleError> {
        let mut r = ModuleResult::ok();
        r.extra.insert("dest".into(), self.dest.clone().into());
        r.extra.insert("url".into(), mask_url(&self.url).into());
        r.extra.insert("checksum_dest".into(), Value::Null);
        r.extra.insert("checksum_src".into(), Value::Null);
        r.extra.insert("elapsed".into(), 0.into());
        let tool = self.tool(ctx).await?;
        let Some(tool) = tool else {
            return Ok(Query::done(ModuleResult {
                extra: r.extra,
                ..ModuleResult::fail(
                    "get_url: the target has neither curl nor wget; install one of them (the native engine downloads with them, not Python)",
                )
            }));
        };
        if tool == "wget"
            && (self.headers.as_ref().is_some_and(|h| !h.is_empty())
                || self.url_username.is_some()
                || self.url_password.is_some())
        {
            return Ok(Query::done(ModuleResult::fail(
                "get_url: headers and url_username/url_password need curl on the target (it has only wget, which would show them in its command line)",
            )));
        }
        let (mut algo, mut want) = (None, None);
        if let Some(c) = self.checksum.as_deref().filter(|c| !c.is_empty()) {
            let (a, value) = split_checksum(c)?;
            let value = if is_url(&value) {
                match self.checksum_from_url(ctx, &tool, &value).await? {
                    Ok(v) => v,
                    Err(msg) => return Ok(Query::done(ModuleResult::fail(msg))),
                }
            } else {
                value
            };
            let value: String = value
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
                .to_lowercase();
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(Query::done(ModuleResult {
                    extra: r.extra,
                    ..ModuleResult::fail("The checksum format is invalid")
                }));
            }
            algo = Some(a);
            want = Some(value);
        }
        let state = stat(ctx, &self.dest, algo.as_deref()).await?;
        r.extra.extend(state.info.clone());
        let mut if_modified_since = false;
        if !state.is_dir && state.file.exists {
            let force = self.force.unwrap_or(false);
            if !force && want.is_some() && state.digest == want {
                // The checksum matches: only attributes may change.
                let attrs = self.attrs();
                let changed = attrs.differ(&state.file);
                r.changed = changed;
                r.msg = Some(if changed {
                    "file already exists but file attributes changed".into()
                } else {
                    "file already exists".into()
                });
                if !changed {
                    return Ok(Query::done(r));
                }
                return Ok(Query::change(
                    r.clone(),
                    Download {
                        tmp: String::new(),
                        dest: self.dest.clone(),
                        checksum: None,
                        content_changed: false,
                        md5: false,
                        status: None,
                        result: r,
                    },
                ));
            }
            // A checksum that does not match forces the download, as in Ansible.
            if_modified_since = !force && want.is_none();
        }
        let tmp_dir = match &self.tmp_dest {
            Some(t) => t.clone(),
            None if state.is_dir => self.dest.clone(),
            None => parent(&self.dest),
        };
        let start = std::time::Instant::now();
        let fetched = match self
            .fetch(
                ctx,
                &tool,
                &self.url,
                &tmp_dir,
                Fetch {
                    since: if_modified_since.then_some(self.dest.as_str()),
                    algo: algo.as_deref(),
                    // Check mode asks with HEAD, as Ansible does: nothing is downloaded.
                    head: ctx.check,
                },
            )
            .await?
        {
            Ok(f) => f,
            Err(msg) => {
                return Ok(Query::done(ModuleResult {
                    extra: r.extra,
                    ..ModuleResult::fail(msg)
                }));
            }
        };
        r.extra
            .insert("elapsed".into(), start.elapsed().as_secs().into());
        if fetched.status == 304 {
            remove(ctx, &fetched.tmp).await?;
            r.msg = Some("HTTP Error 304: Not Modified".into());
            r.extra.insert("status_code".into(), 304.into());
            return Ok(Query::done(r));
        }
        let is_file_url = self.url.starts_with("file:/");
        if fetched.status != 200 && !is_file_url {
            remove(ctx, &fetched.tmp).await?;
            let mut f = ModuleResult::fail("Request failed");
            f.extra = r.extra;
            f.extra.insert("status_code".into(), fetched.status.into());
            f.extra.insert(
                "response".into(),
                format!("HTTP Error {}", fetched.status).into(),
            );
            return Ok(Query::done(f));
        }
        let dest = if state.is_dir {
            let name = fetched
                .disposition
                .clone()
                .unwrap_or_else(|| url_filename(&fetched.effective_url));
            format!("{}/{name}", self.dest.trim_end_matches('/'))
        } else {
            self.dest.clone()
        };
        r.extra.insert("dest".into(), dest.clone().into());
        r.extra.insert("src".into(), fetched.tmp.clone().into());
        r.extra
            .insert("checksum_src".into(), fetched.sha1.clone().into());
        let current = if state.is_dir {
            stat(ctx, &dest, None).await?
        } else {
            state
        };
        if current.is_dir {
            remove(ctx, &fetched.tmp).await?;
            return Ok(Query::done(ModuleResult {
                extra: r.extra,
                ..ModuleResult::fail(format!("Destination {dest} is a directory"))
            }));
        }
        if current.file.exists {
            r.extra
                .insert("checksum_dest".into(), current.sha1.clone().into());
            r.extra.extend(current.info.clone());
        }
        r.msg = Some(match (&fetched.length, is_file_url) {
            (_, true) => "OK".to_string(),
            (Some(n), _) => format!("OK ({n} bytes)"),
            (None, _) => "OK (unknown bytes)".to_string(),
        });
        let content_changed = !current.file.exists || current.sha1 != fetched.sha1;
        let attrs_changed = current.file.exists && self.attrs().differ(&current.file);
        r.changed = content_changed || attrs_changed;
        if content_changed && ctx.diff {
            r.diff.push(Diff {
                before_header: if current.file.exists {
                    dest.clone()
                } else {
                    "/dev/null".into()
                },
                after_header: dest.clone(),
                before: String::new(),
                after: format!("(downloaded from {}; content not shown)\n", r.extra["url"]),
            });
        }
        if !r.changed || ctx.check {
            remove(ctx, &fetched.tmp).await?;
            // Ansible's check mode returns before it computes md5sum.
            if !ctx.check {
                r.extra.insert("md5sum".into(), current.md5.clone().into());
                r.extra.insert("status_code".into(), fetched.status.into());
            }
            return Ok(Query::done(r));
        }
        if !content_changed {
            remove(ctx, &fetched.tmp).await?;
        }
        let checksum = match (algo, want) {
            (Some(a), Some(w)) => Some((a, w, fetched.digest.clone().unwrap_or_default())),
            _ => None,
        };
        Ok(Query::change(
            r.clone(),
            Download {
                tmp: fetched.tmp,
                dest,
                checksum,
                content_changed,
                md5: true,
                status: Some(fetched.status),
                result: r,
            },
        ))
    }

    async fn apply(&self, d: Download, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let mut r = d.result;
        if let Some((_, want, got)) = &d.checksum
            && want != got
        {
            remove(ctx, &d.tmp).await?;
            let mut f = ModuleResult::fail(format!(
                "The checksum for {} did not match {want}; it was {got}.",
                d.tmp
            ));
            f.extra = r.extra;
            return Ok(f);
        }
        let dest = sh_quote(&d.dest);
        let mut s = String::from("set -e\n");
        s.push_str(&format!("dest={dest}\n"));
        if d.content_changed {
            s.push_str(&format!("tmp={}\n", sh_quote(&d.tmp)));
            s.push_str("trap 'rm -f \"$tmp\"' EXIT\n");
            if self.backup.unwrap_or(false) {
                // Ansible's backup name, created exclusively (see files::write_remote).
                s.push_str(&format!(
                    "if [ -f \"$dest\" ]; then {}b=\"$dest.$slm_bp.$(date +%Y-%m-%d@%H:%M:%S)~\"; \
                     ( umask 077; set -C; : > \"$b\" ); cp -p -- \"$dest\" \"$b\"; echo \"BACKUP $b\"; fi\n",
                    super::files::BACKUP_PID
                ));
            }
            // Ansible's atomic_move: an existing file keeps its owner and mode, a new one gets
            // 0666 less the umask.
            s.push_str(
                "if [ -f \"$dest\" ]; then chown --reference=\"$dest\" \"$tmp\" 2>/dev/null || true; \
                 chmod --reference=\"$dest\" \"$tmp\"; \
                 else chmod \"$(printf %o $(( 0666 & ~$(umask) )))\" \"$tmp\"; fi\n\
                 mv -fT -- \"$tmp\" \"$dest\"\ntrap - EXIT\n",
            );
        }
        s.push_str(&self.attrs().script("\"$dest\""));
        if d.md5 {
            s.push_str("echo \"MD5 $(md5sum < \"$dest\" | cut -d' ' -f1)\"\n");
        }
        s.push_str("echo \"INFO $(stat -L -c '%a %U %G %u %g %s %h' -- \"$dest\")\"\n");
        let out = ctx.query(&s, None).await?;
        if out.rc != 0 {
            let mut f = ModuleResult::fail(format!(
                "failed to copy {} to {}: {}",
                d.tmp,
                d.dest,
                out.stderr.trim()
            ));
            f.extra = r.extra;
            return Ok(f);
        }
        if let Some(status) = d.status {
            r.extra.insert("status_code".into(), status.into());
        }
        for line in out.stdout.lines() {
            if let Some(b) = line.strip_prefix("BACKUP ") {
                r.extra.insert("backup_file".into(), b.into());
            } else if let Some(m) = line.strip_prefix("MD5 ") {
                r.extra.insert("md5sum".into(), m.into());
            } else if let Some(info) = line.strip_prefix("INFO ") {
                let mut p = info.split(' ');
                let f = RemoteFile {
                    mode: p.next().unwrap_or("").into(),
                    owner: p.next().unwrap_or("").into(),
                    group: p.next().unwrap_or("").into(),
                    ..Default::default()
                };
                r.extra.extend(path_info(&f, p));
            }
        }
        Ok(r)
    }
}

impl GetUrl {
    /// `curl`, else `wget`, else None.
    async fn tool(&self, ctx: &Ctx<'_>) -> Result<Option<String>, ModuleError> {
        let out = ctx
            .query(
                "if command -v curl >/dev/null 2>&1; then echo curl; \
                 elif command -v wget >/dev/null 2>&1; then echo wget; fi",
                None,
            )
            .await?;
        let t = out.stdout.trim();
        Ok((!t.is_empty()).then(|| t.to_string()))
    }

    /// The checksum for the URL's file name in a checksum file (`sha256sum` or BSD format).
    async fn checksum_from_url(
        &self,
        ctx: &Ctx<'_>,
        tool: &str,
        checksum_url: &str,
    ) -> Result<Result<String, String>, ModuleError> {
        let dir = "${TMPDIR:-/tmp}";
        let fetched = match self
            .fetch(
                ctx,
                tool,
                checksum_url,
                dir,
                Fetch {
                    since: None,
                    algo: None,
                    head: false,
                },
            )
            .await?
        {
            Ok(f) => f,
            Err(msg) => return Ok(Err(msg)),
        };
        let out = ctx
            .query(
                &format!("cat -- {0}; rm -f -- {0}", sh_quote(&fetched.tmp)),
                None,
            )
            .await?;
        let filename = url_filename(&self.url);
        let lines: Vec<&str> = out.stdout.lines().collect();
        Ok(parse_digest_lines(&filename, &lines)
            .into_iter()
            .find(|(_, f)| *f == filename)
            .map(|(s, _)| s)
            .ok_or_else(|| {
                format!(
                    "Unable to find a checksum for file '{filename}' in '{}'",
                    mask_url(checksum_url)
                )
            }))
    }

    /// Downloads `url` into a new temporary file in `dir`. Err: the download failed (the
    /// message to report).
    async fn fetch(
        &self,
        ctx: &Ctx<'_>,
        tool: &str,
        url: &str,
        dir: &str,
        how: Fetch<'_>,
    ) -> Result<Result<Fetched, String>, ModuleError> {
        let Fetch { since, algo, head } = how;
        let timeout = self.timeout.unwrap_or(10).max(1);
        let agent = self.http_agent.as_deref().unwrap_or("ansible-httpget");
        let insecure = !self.validate_certs.unwrap_or(true);
        let no_proxy = !self.use_proxy.unwrap_or(true);
        // The URL, headers and credentials go on stdin (a config for curl, the URL list for
        // wget): never in a command line that `ps` shows.
        let (cmd, stdin) = if tool == "curl" {
            let mut cfg = format!("url = {}\nuser-agent = {}\n", cq(url), cq(agent));
            for (k, v) in self.headers.iter().flatten() {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                cfg.push_str(&format!("header = {}\n", cq(&format!("{k}: {v}"))));
            }
            if self.url_username.is_some() || self.url_password.is_some() {
                cfg.push_str(&format!(
                    "user = {}\n",
                    cq(&format!(
                        "{}:{}",
                        self.url_username.as_deref().unwrap_or(""),
                        self.url_password.as_deref().unwrap_or("")
                    ))
                ));
            }
            let mut c = format!(
                "curl -sS -L -K - --max-time {timeout} -D \"$hdr\" -w '%{{response_code}} %{{url_effective}}\\n'"
            );
            c.push_str(if head {
                " -I -o /dev/null"
            } else {
                " -o \"$tmp\""
            });
            if insecure {
                c.push_str(" -k");
            }
            if no_proxy {
                c.push_str(" --noproxy '*'");
            }
            if since.is_some() {
                c.push_str(" -z \"$since\"");
            }
            (c, cfg)
        } else {
            let mut c = format!(
                "wget -q -S -T {timeout} -U {} -O \"$tmp\" -i - 2>\"$hdr\"",
                sh_quote(agent)
            );
            if insecure {
                c.push_str(" --no-check-certificate");
            }
            if head {
                c.push_str(" --spider");
            }
            if no_proxy {
                c.push_str(" --no-proxy");
            }
            (c, format!("{url}\n"))
        };
        let sum = match algo {
            Some(a) => format!("echo \"DIGEST $({a}sum < \"$tmp\" | cut -d' ' -f1)\"\n"),
            None => String::new(),
        };
        let since_var = since
            .map(|s| format!("since={}\n", sh_quote(s)))
            .unwrap_or_default();
        let script = format!(
            "d={dir}\n{since_var}\
             [ -d \"$d\" ] || {{ echo \"Destination $d does not exist\" >&2; exit 2; }}\n\
             tmp=$(mktemp \"$d/.slm-wizard-get_url.XXXXXXXX\") || exit 2\n\
             hdr=$(mktemp) || {{ rm -f \"$tmp\"; exit 2; }}\n\
             out=$({cmd}); rc=$?\n\
             echo \"TMP $tmp\"\n\
             echo \"RC $rc\"\n\
             echo \"W $out\"\n\
             sed -e 's/^ *//' -e 's/\\r$//' \"$hdr\" | sed -n -e 's/^/H /p'\n\
             rm -f \"$hdr\"\n\
             if [ \"$rc\" = 0 ]; then echo \"SHA1 $(sha1sum < \"$tmp\" | cut -d' ' -f1)\"\n{sum}fi\n"
        );
        let out = ctx.query(&script, Some(stdin.as_bytes())).await?;
        if out.rc != 0 {
            return Ok(Err(out.stderr.trim().to_string()));
        }
        let mut f = Fetched {
            tmp: String::new(),
            status: 0,
            effective_url: url.to_string(),
            disposition: None,
            length: None,
            sha1: String::new(),
            digest: None,
        };
        let mut rc = String::new();
        let mut wget_status = None;
        for line in out.stdout.lines() {
            if let Some(v) = line.strip_prefix("TMP ") {
                f.tmp = v.to_string();
            } else if let Some(v) = line.strip_prefix("RC ") {
                rc = v.to_string();
            } else if let Some(v) = line.strip_prefix("W ") {
                if let Some((code, eff)) = v.split_once(' ') {
                    f.status = code.parse().unwrap_or(0);
                    f.effective_url = eff.to_string();
                }
            } else if let Some(h) = line.strip_prefix("H ") {
                // curl -D writes one block of headers per response (redirects too): the last wins.
                if h.starts_with("HTTP/") {
                    wget_status = h.split_whitespace().nth(1).and_then(|c| c.parse().ok());
                    f.disposition = None;
                    f.length = None;
                } else if let Some((k, v)) = h.split_once(':') {
                    let v = v.trim();
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => f.length = Some(v.to_string()),
                        "content-disposition" => f.disposition = disposition_filename(v),
                        "location" if tool == "wget" => f.effective_url = v.to_string(),
                        _ => {}
                    }
                }
            } else if let Some(v) = line.strip_prefix("SHA1 ") {
                f.sha1 = v.to_string();
            } else if let Some(v) = line.strip_prefix("DIGEST ") {
                f.digest = Some(v.to_string());
            }
        }
        if tool == "wget" {
            f.status = wget_status.unwrap_or(0);
        }
        // wget exits 8 on an HTTP error status: the status decides, as for curl.
        let http_error = tool == "wget" && rc == "8" && f.status >= 400;
        if rc != "0" && !http_error {
            remove(ctx, &f.tmp).await?;
            let err = out
                .stderr
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string();
            return Ok(Err(format!(
                "Request failed: {tool} exited with {rc}{}{err}",
                if err.is_empty() { "" } else { ": " }
            )));
        }
        Ok(Ok(f))
    }
}

/// What `stat` found at the destination.
struct DestState {
    is_dir: bool,
    file: RemoteFile,
    sha1: String,
    md5: String,
    digest: Option<String>,
    /// Ansible's `add_path_info` keys of an existing file.
    info: Map<String, Value>,
}

/// `uid`, `gid`, `owner`, `group`, `mode`, `state` and `size` of a file, as every Ansible
/// result with a `dest` has them, from `%a %U %G` (parsed already) and then `%u %g %s %h`.
fn path_info<'a>(f: &RemoteFile, mut rest: impl Iterator<Item = &'a str>) -> Map<String, Value> {
    let mut m = Map::new();
    let mut num = |k: &str| {
        let v: Option<u64> = rest.next().and_then(|n| n.parse().ok());
        (k.to_string(), v.map(Value::from).unwrap_or(Value::Null))
    };
    let (uid, gid, size, links) = (num("uid"), num("gid"), num("size"), num("nlink"));
    m.extend([uid, gid, size]);
    m.insert("owner".into(), f.owner.clone().into());
    m.insert("group".into(), f.group.clone().into());
    let mode = u32::from_str_radix(&f.mode, 8).unwrap_or(0);
    m.insert("mode".into(), format!("{mode:04o}").into());
    let hard = links.1.as_u64().is_some_and(|n| n > 1);
    m.insert("state".into(), if hard { "hard" } else { "file" }.into());
    m
}

async fn stat(ctx: &Ctx<'_>, path: &str, algo: Option<&str>) -> Result<DestState, ModuleError> {
    let digest = algo
        .map(|a| format!("; echo \"DIGEST $({a}sum < \"$p\" | cut -d' ' -f1)\""))
        .unwrap_or_default();
    let out = ctx
        .query(
            &format!(
                "p={}\nif [ -d \"$p\" ]; then echo D; elif [ -e \"$p\" ]; then \
                 stat -L -c 'F %a %U %G %u %g %s %h' -- \"$p\"; echo \"SHA1 $(sha1sum < \"$p\" | cut -d' ' -f1)\"; \
                 echo \"MD5 $(md5sum < \"$p\" | cut -d' ' -f1)\"{digest}; \
                 else echo A; fi",
                sh_quote(path)
            ),
            None,
        )
        .await?;
    let mut st = DestState {
        is_dir: false,
        file: RemoteFile::default(),
        sha1: String::new(),
        md5: String::new(),
        digest: None,
        info: Map::new(),
    };
    for line in out.stdout.lines() {
        if line == "D" {
            st.is_dir = true;
        } else if let Some(rest) = line.strip_prefix("F ") {
            let mut p = rest.split(' ');
            st.file.exists = true;
            st.file.is_file = true;
            st.file.mode = p.next().unwrap_or("").to_string();
            st.file.owner = p.next().unwrap_or("").to_string();
            st.file.group = p.next().unwrap_or("").to_string();
            st.info = path_info(&st.file, p);
        } else if let Some(v) = line.strip_prefix("SHA1 ") {
            st.sha1 = v.to_string();
        } else if let Some(v) = line.strip_prefix("MD5 ") {
            st.md5 = v.to_string();
        } else if let Some(v) = line.strip_prefix("DIGEST ") {
            st.digest = Some(v.to_string());
        }
    }
    Ok(st)
}

async fn remove(ctx: &Ctx<'_>, tmp: &str) -> Result<(), ModuleError> {
    if !tmp.is_empty() {
        ctx.query(&format!("rm -f -- {}", sh_quote(tmp)), None)
            .await?;
    }
    Ok(())
}

fn parent(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((dir, _)) => dir.into(),
        None => ".".into(),
    }
}
