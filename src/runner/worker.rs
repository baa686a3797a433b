//! `slm-wizard runner worker`: the worker side of ansible-runner's streaming protocol, with the
//! native engine. Reads what `ansible-runner transmit` sends (a `kwargs` line, the zipped private
//! data dir, `eof`), runs the playbook, and writes what `ansible-runner worker` would: status
//! lines, events, the zipped artifacts and `eof`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::emit::Emitter;
use super::stream::{Frame, Reader, unzip_to, uuid4, write_json, write_zip, zip_dir};
use crate::engine;
use crate::error::InputError;

/// A private directory removed when dropped (also on errors).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("{prefix}-{}", &uuid4()[..18]));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub connect_timeout: Duration,
    /// Send `{"event": "keepalive"}` after this long without output (`--keepalive-seconds`).
    pub keepalive: Option<Duration>,
}

/// What the job asks for, from the kwargs and the private data dir.
#[derive(Debug, Default, PartialEq)]
pub struct Job {
    pub ident: String,
    pub playbook: PathBuf,
    pub inventory: Option<PathBuf>,
    pub extra_vars: Vec<String>,
    pub vault_password_file: Option<PathBuf>,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub check: bool,
    pub diff: bool,
    pub forks: Option<usize>,
}

fn kw<'a>(kwargs: &'a Value, key: &str) -> Option<&'a str> {
    kwargs
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The job of a received private data dir. Errors name what the native engine cannot do.
pub fn job(kwargs: &Value, pdd: &Path) -> Result<Job, InputError> {
    for key in ["module", "role", "binary", "container_image"] {
        if let Some(v) = kw(kwargs, key) {
            return Err(InputError::new(format!(
                "kwargs.{key}: '{v}' — slm-wizard's worker runs playbooks with its native engine only \
                 (give -p PLAYBOOK, no -m/-r/--binary/container)"
            )));
        }
    }
    if kwargs.get("process_isolation").and_then(Value::as_bool) == Some(true) {
        return Err(InputError::new(
            "kwargs.process_isolation: not supported by slm-wizard's worker",
        ));
    }
    let project = pdd.join("project");
    let playbook = kw(kwargs, "playbook")
        .ok_or_else(|| InputError::new("kwargs.playbook: missing (transmit with -p PLAYBOOK)"))?;
    let mut job = Job {
        ident: kw(kwargs, "ident").map_or_else(uuid4, str::to_string),
        playbook: project.join(playbook),
        limit: kw(kwargs, "limit").map(str::to_string),
        forks: kwargs
            .get("forks")
            .and_then(Value::as_u64)
            .map(|f| f as usize),
        ..Default::default()
    };
    if !job.playbook.is_file() {
        return Err(InputError::new(format!(
            "kwargs.playbook: '{playbook}' is not a file of the private data dir's project/"
        )));
    }
    // transmit makes -i absolute on its own machine; here only the received copy exists.
    let inventory = match kw(kwargs, "inventory") {
        Some(i) if Path::new(i).is_relative() && pdd.join(i).exists() => pdd.join(i),
        _ => pdd.join("inventory"),
    };
    job.inventory = inventory_file(&inventory)?;
    let extravars = pdd.join("env/extravars");
    if extravars.is_file() {
        job.extra_vars
            .push(format!("@{}", extravars.to_string_lossy()));
    }
    // The Python API's `extravars=` travels in the kwargs (above env/extravars, as in runner).
    if let Some(v @ Value::Object(_)) = kwargs.get("extravars") {
        job.extra_vars.push(v.to_string());
    }
    let cmdline = match kw(kwargs, "cmdline") {
        Some(c) => Some(c.to_string()),
        None => std::fs::read_to_string(pdd.join("env/cmdline"))
            .ok()
            .map(|c| c.trim().to_string()),
    };
    if let Some(c) = cmdline {
        apply_cmdline(&mut job, &c, &project)?;
    }
    Ok(job)
}

/// The one inventory file of `inventory/` (the native engine reads one YAML inventory).
fn inventory_file(path: &Path) -> Result<Option<PathBuf>, InputError> {
    if path.is_file() {
        return Ok(Some(path.to_path_buf()));
    }
    if !path.is_dir() {
        return Ok(None);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| InputError::new(format!("{}: {e}", path.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    match files.len() {
        0 => Ok(None),
        1 => Ok(files.pop()),
        _ => Err(InputError::new(format!(
            "inventory/: {} files ({}); the native engine reads one inventory file",
            files.len(),
            files
                .iter()
                .filter_map(|f| f.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The ansible-playbook options of `env/cmdline` the native engine knows; paths are relative to
/// the project directory, where ansible-runner starts ansible-playbook.
fn apply_cmdline(job: &mut Job, cmdline: &str, project: &Path) -> Result<(), InputError> {
    let words = crate::transport::ssh::split_shell_words(cmdline)
        .map_err(|e| InputError::new(format!("env/cmdline: {e}")))?;
    let mut it = words.into_iter();
    let path = |p: &str| {
        if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            project.join(p)
        }
    };
    while let Some(w) = it.next() {
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (w.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| InputError::new(format!("env/cmdline: {name} needs a value")))
        };
        match flag.as_str() {
            "-e" | "--extra-vars" => {
                let v = value(&flag)?;
                job.extra_vars.push(match v.strip_prefix('@') {
                    Some(f) => format!("@{}", path(f).to_string_lossy()),
                    None => v,
                });
            }
            "--vault-password-file" | "--vault-pass-file" => {
                job.vault_password_file = Some(path(&value(&flag)?));
            }
            "-l" | "--limit" => job.limit = Some(value(&flag)?),
            "-t" | "--tags" => job
                .tags
                .extend(value(&flag)?.split(',').map(str::to_string)),
            "--skip-tags" => job
                .skip_tags
                .extend(value(&flag)?.split(',').map(str::to_string)),
            "-f" | "--forks" => {
                let v = value(&flag)?;
                job.forks = Some(v.parse().map_err(|_| {
                    InputError::new(format!("env/cmdline: {flag} '{v}' is not a number"))
                })?);
            }
            "-C" | "--check" => job.check = true,
            "-D" | "--diff" => job.diff = true,
            "-v" | "-vv" | "-vvv" | "-vvvv" => {}
            other => {
                return Err(InputError::new(format!(
                    "env/cmdline: '{other}' is not supported by the native engine (valid: -e, \
                     --vault-password-file, -l, -t, --skip-tags, -f, -C, -D, -v)"
                )));
            }
        }
    }
    Ok(())
}

/// Writes the worker's side of the stream; a closed output is noted and writing stops.
struct Out<W: Write> {
    w: W,
    closed: bool,
}

impl<W: Write> Out<W> {
    fn json(&mut self, v: &Value) {
        if !self.closed && write_json(&mut self.w, v).is_err() {
            self.closed = true;
        }
    }
}

/// Runs the worker: reads the job from `input`, writes the stream to `output`. Returns the
/// job's exit code (as `slm-wizard run` gives it; 5 when the native engine refuses the job).
pub async fn run_worker<R: BufRead, W: Write>(input: R, output: W, opts: WorkerOptions) -> i32 {
    let mut out = Out {
        w: output,
        closed: false,
    };
    let pdd = match TempDir::new("slm-wizard-worker") {
        Ok(d) => d,
        Err(e) => {
            return fail_early(&mut out, &format!("cannot make a temp dir: {e}"));
        }
    };
    let mut reader = Reader::new(input);
    let mut kwargs = None;
    loop {
        match reader.next_frame() {
            Ok(Some(Frame::Json(v))) if v.get("eof").is_some() => break,
            Ok(Some(Frame::Json(v))) => {
                if let Some(k) = v.get("kwargs") {
                    kwargs = Some(k.clone());
                }
            }
            Ok(Some(Frame::Zip(z))) => {
                if let Err(e) = unzip_to(&z, &pdd.0) {
                    return fail_early(
                        &mut out,
                        &format!("Failed to extract private data directory on worker: {e}"),
                    );
                }
            }
            Ok(None) => {
                return fail_early(
                    &mut out,
                    "the transmit stream ended before its {\"eof\": true} line",
                );
            }
            Err(e) => return fail_early(&mut out, &format!("transmit stream: {e}")),
        }
    }
    let kwargs = kwargs.unwrap_or(Value::Null);
    let ident = kw(&kwargs, "ident").map_or_else(uuid4, str::to_string);
    let playbook_name = kw(&kwargs, "playbook").unwrap_or("").to_string();
    let mut emitter = Emitter::new(&ident, &playbook_name);
    out.json(&json!({
        "status": "starting", "runner_ident": ident,
        "command": ["slm-wizard", "runner", "worker", playbook_name],
        "cwd": pdd.0.join("project"), "env": {},
    }));
    out.json(&json!({"status": "running", "runner_ident": ident}));
    let prepared = job(&kwargs, &pdd.0).and_then(|job| {
        let vault_password = match &job.vault_password_file {
            Some(p) => Some(crate::secrets::Secret::new(
                String::from_utf8_lossy(&crate::secrets::vault::read_password_file(p).map_err(
                    |e| InputError::new(format!("--vault-password-file {}: {e}", p.display())),
                )?)
                .into_owned(),
            )),
            None => None,
        };
        let request = engine::RunRequest {
            playbook: job.playbook.clone(),
            inventory: job.inventory.clone(),
            extra_vars: job.extra_vars.clone(),
            limit: job.limit.clone(),
            tags: job.tags.clone(),
            skip_tags: job.skip_tags.clone(),
            check: job.check,
            diff: job.diff,
            forks: job.forks,
            vault_password,
            connect_timeout: opts.connect_timeout,
            ..Default::default()
        };
        engine::plan(request)
    });
    let plan = match prepared {
        Ok(p) => Arc::new(p),
        Err(e) => {
            // Places relative to the private data dir: the temp dir means nothing to the reader.
            let msg = format!("ERROR! {e}").replace(&format!("{}/", pdd.0.display()), "");
            let ev = emitter.verbose(&msg);
            out.json(&ev);
            out.json(&json!({"status": "failed", "runner_ident": ident, "job_explanation": msg}));
            return finish(&mut out, &emitter, "failed", 5);
        }
    };
    let connector = engine::connect::connector(engine::connect::ConnectOptions {
        accept_new_host_keys: false,
        connect_timeout: opts.connect_timeout,
    });
    let (tx, mut rx) = crate::engine::event_channel();
    let cancel = engine::Cancel::default();
    // SIGINT/SIGTERM (a fleet cancelling the job): no new tasks, a second one kills the running
    // commands; the job still ends with its stream and the temp dir (secrets) is removed.
    let signals = cancel.clone();
    let stop = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        for _ in 0..2 {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if signals.is_cancelled() {
                signals.kill();
            } else {
                signals.cancel();
            }
        }
    });
    let handle = tokio::spawn(engine::run::run(plan, connector, tx, cancel.clone()));
    // Keepalives as ansible-runner's worker sends them: a silent long task must not look like a
    // dead worker to receptor/AWX.
    let keepalive = opts
        .keepalive
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(u64::MAX / 4));
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = tokio::time::sleep(keepalive) => {
                out.json(&json!({"event": "keepalive", "counter": 0, "uuid": 0}));
                continue;
            }
        };
        let Some(ev) = ev else { break };
        for v in emitter.translate(&ev) {
            out.json(&v);
        }
        if out.closed {
            // Nobody reads the events any more: stop as `run` does on a closed pipe.
            cancel.cancel();
        }
    }
    let result = handle.await;
    stop.abort();
    let code = match result {
        Ok(s) if s.cancelled => {
            out.json(&json!({"status": "canceled", "runner_ident": ident}));
            return finish(&mut out, &emitter, "canceled", s.exit_code());
        }
        Ok(s) => s.exit_code(),
        Err(e) => {
            let ev = emitter.verbose(&format!("ERROR! the run stopped unexpectedly: {e}"));
            out.json(&ev);
            1
        }
    };
    let status = if code == 0 { "successful" } else { "failed" };
    out.json(&json!({"status": status, "runner_ident": ident}));
    finish(&mut out, &emitter, status, code)
}

/// A stream that could not even be read: an `error` status and `eof`, as ansible-runner does.
fn fail_early<W: Write>(out: &mut Out<W>, explanation: &str) -> i32 {
    out.json(&json!({"status": "error", "job_explanation": explanation}));
    out.json(&json!({"eof": true}));
    1
}

/// The artifacts block (`rc`, `status`, `stdout`, `command`, `job_events/`) and `eof`.
fn finish<W: Write>(out: &mut Out<W>, emitter: &Emitter, status: &str, code: i32) -> i32 {
    let zipped = TempDir::new("slm-wizard-artifacts").and_then(|dir| {
        std::fs::create_dir(dir.0.join("job_events"))?;
        std::fs::write(dir.0.join("rc"), code.to_string())?;
        std::fs::write(dir.0.join("status"), status)?;
        std::fs::write(dir.0.join("stdout"), &emitter.stdout)?;
        std::fs::write(
            dir.0.join("command"),
            r#"{"command": ["slm-wizard", "runner", "worker"]}"#,
        )?;
        zip_dir(&dir.0)
    });
    match zipped {
        Ok(z) => {
            if !out.closed && write_zip(&mut out.w, &z).is_err() {
                out.closed = true;
            }
        }
        Err(e) => {
            out.json(&json!({"status": "error", "job_explanation": format!("cannot zip the artifacts: {e}")}))
        }
    }
    out.json(&json!({"eof": true}));
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_and_kwargs_make_the_job() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("project")).unwrap();
        std::fs::create_dir_all(d.path().join("inventory")).unwrap();
        std::fs::create_dir_all(d.path().join("env")).unwrap();
        std::fs::write(d.path().join("project/p.yml"), "- hosts: all\n").unwrap();
        std::fs::write(d.path().join("inventory/hosts.yml"), "all: {}\n").unwrap();
        std::fs::write(
            d.path().join("env/cmdline"),
            "--vault-password-file ../env/vault_password -e @secrets.yml --limit db1 -D\n",
        )
        .unwrap();
        let j = job(
            &json!({"playbook": "p.yml", "inventory": "/elsewhere/inventory", "ident": "x"}),
            d.path(),
        )
        .unwrap();
        assert_eq!(j.inventory, Some(d.path().join("inventory/hosts.yml")));
        assert_eq!(
            j.vault_password_file,
            Some(d.path().join("project/../env/vault_password"))
        );
        assert_eq!(
            j.extra_vars,
            vec![format!(
                "@{}",
                d.path().join("project/secrets.yml").to_string_lossy()
            )]
        );
        assert_eq!((j.limit.as_deref(), j.diff), (Some("db1"), true));
        let e = job(&json!({"playbook": "p.yml", "module": "ping"}), d.path()).unwrap_err();
        assert!(e.to_string().contains("kwargs.module"), "{e}");
        std::fs::write(d.path().join("env/cmdline"), "--become-method su").unwrap();
        let e = job(&json!({"playbook": "p.yml"}), d.path()).unwrap_err();
        assert!(e.to_string().contains("'--become-method'"), "{e}");
    }
}
