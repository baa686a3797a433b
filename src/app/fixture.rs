//! Test fixtures shared by the update tests and the screen snapshots.

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;

use super::action::{Action, RunKind};
use super::effects::Effect;
use super::state::{HostRow, HostsView, PlaybookEntry, State};
use super::update::update;
use crate::engine::events::{Counts, TaskResult};
use crate::engine::modules::Diff;
use crate::engine::{RunEvent, RunSummary, Status};
use crate::playbook::survey;
use crate::transport::Stream;

pub const SURVEY: &str = r#"
name: Tiny test
description: Writes a greeting into a file.
spec:
  - question_name: Greeting
    question_description: What to write.
    variable: greeting
    type: text
    min: 2
    max: 20
    default: hello
    required: true
  - question_name: Repeat
    question_description: How often.
    variable: repeat
    type: integer
    min: 1
    max: 10
    default: 3
    required: true
  - question_name: Token
    question_description: A secret token.
    variable: api_token
    type: password
    generate: password
    length: 20
    secret: true
    min: 16
  - question_name: Loud
    question_description: Shout.
    variable: loud
    type: boolean
    default: false
  - question_name: Colour
    question_description: A colour.
    variable: colour
    type: multiplechoice
    choices: [red, green, blue]
    default: green
  - question_name: Clients
    question_description: Allowed networks.
    variable: clients
    type: list
    format: cidr
    default: [127.0.0.1/32]
"#;

pub const SECRET: &str = "s3cr3t-token-0123456789";

fn host(name: &str, address: &str, connection: &str) -> HostRow {
    let mut vars = serde_json::Map::new();
    vars.insert("ansible_connection".into(), connection.into());
    HostRow {
        vars,
        name: name.into(),
        address: address.into(),
        connection: connection.into(),
        user: String::new(),
    }
}

/// A wizard with two playbooks (the first with a survey) and a two-group inventory.
pub fn state() -> State {
    let survey = survey::parse(SURVEY, Path::new("playbooks/tiny.survey.yml")).expect("survey");
    let tiny = PlaybookEntry {
        path: PathBuf::from("playbooks/tiny.yml"),
        title: survey.name.clone(),
        description: survey.description.clone(),
        survey: Some(survey),
        error: None,
        deploys_databases: false,
    };
    let umdb = PlaybookEntry {
        path: PathBuf::from("playbooks/user-management-db.yml"),
        title: "User Management Database".into(),
        description: "PostgreSQL for the SLM platform.".into(),
        survey: None,
        error: None,
        deploys_databases: true,
    };
    let hosts = HostsView {
        path: PathBuf::from("playbooks/inventory/local.yml"),
        groups: vec![
            (
                "slm_server".into(),
                vec![host("localhost", "127.0.0.1", "local")],
            ),
            (
                "redis_vm".into(),
                vec![
                    host("localhost", "127.0.0.1", "local"),
                    host("redis", "172.16.168.23", "ssh"),
                ],
            ),
        ],
        ..Default::default()
    };
    State::new(PathBuf::from("playbooks"), vec![tiny, umdb], hosts, None)
}

pub fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn send(s: &mut State, a: Action) -> Vec<Effect> {
    update(s, a)
}

pub fn typ(s: &mut State, text: &str) {
    for c in text.chars() {
        update(s, key(KeyCode::Char(c)));
    }
}

pub fn result(host: &str, id: usize, task: &str, status: Status, diff: bool) -> RunEvent {
    RunEvent::TaskResult(Box::new(TaskResult {
        host: host.into(),
        delegated_to: None,
        delegated_address: None,
        task_id: id,
        task: task.into(),
        module: "copy".into(),
        status,
        item: None,
        msg: None,
        rc: None,
        stdout: None,
        stderr: None,
        diff: if diff {
            vec![Diff {
                before_header: "/dev/null".into(),
                after_header: "/tmp/out/greeting.txt".into(),
                before: String::new(),
                after: "hello x3 127.0.0.1/32\n".into(),
            }]
        } else {
            Vec::new()
        },
        ignored: false,
        duration_ms: 42,
        result: Value::Null,
    }))
}

pub fn start(host: &str, id: usize, task: &str) -> RunEvent {
    RunEvent::TaskStart {
        host: host.into(),
        task_id: id,
        task: task.into(),
        module: "copy".into(),
        handler: false,
    }
}

/// Playbook → Variables (secret set to SECRET) → Hosts → Review.
pub fn at_review() -> State {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Tab));
    send(&mut s, key(KeyCode::Tab));
    typ(&mut s, SECRET);
    send(&mut s, ctrl('s'));
    send(&mut s, key(KeyCode::Enter));
    s
}

/// Review with a finished dry run.
pub fn reviewed() -> State {
    reviewed_with(result("localhost", 1, "Say it", Status::Skipped, false))
}

/// Review whose dry run failed on the last task, after a task check mode could not apply.
pub fn reviewed_failing() -> State {
    let RunEvent::TaskResult(mut failed) = result("localhost", 1, "Say it", Status::Failed, false)
    else {
        unreachable!("result() builds a TaskResult")
    };
    failed.msg = Some("greeting.txt: No such file or directory".into());
    reviewed_with(RunEvent::TaskResult(failed))
}

/// Review after a dry run whose first task would change the greeting and whose second
/// reported `last`.
fn reviewed_with(last: RunEvent) -> State {
    let mut s = at_review();
    let ev = |e| Action::Run(RunKind::Check, e);
    send(
        &mut s,
        ev(RunEvent::PlaybookStart {
            playbook: "playbooks/tiny.yml".into(),
            check: true,
            diff: true,
            hosts: vec!["localhost".into()],
        }),
    );
    send(
        &mut s,
        ev(result(
            "localhost",
            0,
            "Write the greeting",
            Status::Changed,
            true,
        )),
    );
    send(&mut s, ev(last));
    send(&mut s, done(RunKind::Check, false));
    s
}

pub fn done(kind: RunKind, cancelled: bool) -> Action {
    let mut hosts = indexmap::IndexMap::new();
    hosts.insert(
        "localhost".to_string(),
        Counts {
            ok: 2,
            changed: 1,
            ..Default::default()
        },
    );
    Action::RunDone {
        kind,
        summary: RunSummary { hosts, cancelled },
        journal: (kind == RunKind::Real)
            .then(|| PathBuf::from("/var/lib/slm-wizard/runs/20260101T000000Z-tiny.jsonl")),
    }
}

/// Execute, mid-run: one task done, one running with output.
pub fn executing() -> State {
    let mut s = reviewed();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Char('y')));
    let ev = |e| Action::Run(RunKind::Real, e);
    for e in [
        RunEvent::PlaybookStart {
            playbook: "playbooks/tiny.yml".into(),
            check: false,
            diff: true,
            hosts: vec!["localhost".into()],
        },
        RunEvent::PlayStart {
            play: "Tiny".into(),
            hosts: vec!["localhost".into()],
            tasks: 2,
        },
        start("localhost", 0, "Write the greeting"),
        result("localhost", 0, "Write the greeting", Status::Changed, true),
        start("localhost", 1, "Say it"),
        RunEvent::Output {
            host: "localhost".into(),
            task_id: 1,
            stream: Stream::Stdout,
            data: "hello\n".into(),
        },
    ] {
        send(&mut s, ev(e));
    }
    send(&mut s, Action::Tick(std::time::Duration::from_secs(3)));
    s
}

/// A dashboard snapshot at a fixed instant: `slm` healthy with a latency history, `slm_users`
/// degraded by a pending migration, `autobot_users` on the Redis VM timing out.
pub fn health_snapshot() -> crate::health::dashboard::Snapshot {
    use crate::health::dashboard::{HostRow, Row, Snapshot};
    use crate::health::{Details, MigrationInfo, Status as H};
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-28T08:30:05Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let row = |key: &str, server: &str, status: H, reason: &str, ms: Option<f64>| Row {
        key: key.into(),
        server: server.into(),
        status: Some(status),
        reason: reason.into(),
        latency_ms: (0..30)
            .map(|i| ms.map(|m| m + f64::from(i % 7) * 0.3))
            .collect(),
        connections: ms.map(|_| (7, 100)),
        size_bytes: ms.map(|_| 7_654_321),
        migrations: ms.map(|_| MigrationInfo {
            applied: 1,
            pending: usize::from(key == "slm_users"),
            latest: Some("0001_user_management".into()),
            drift: 0,
            pending_names: if key == "slm_users" {
                vec!["0002_sessions".into()]
            } else {
                Vec::new()
            },
        }),
        last_error: (status == H::Unhealthy).then(|| (at, reason.to_string())),
        details: Some(Details {
            target: format!("{key}_app@{server}/{key}"),
            reachable: ms.is_some(),
            connected: ms.is_some(),
            connect_ms: ms.map(|m| m * 3.0),
            select1_ms: ms,
            server_version: ms.map(|_| "15.10".into()),
            uptime_seconds: ms.map(|_| 86_400),
            pool: ms.map(|_| crate::health::PoolUse {
                size: 20,
                max_overflow: 10,
                recycle_seconds: Some(3600),
                open: 1,
                reused: true,
                pools_on_server: 2,
            }),
            sampled_at: at,
            probe_ms: 12.0,
            ..Default::default()
        }),
        samples: 30,
    };
    let cluster = |state: &str, pct| crate::health::host::Cluster {
        version: "15".into(),
        name: "main".into(),
        port: "5432".into(),
        state: state.into(),
        data_dir: "/var/lib/postgresql/15/main".into(),
        disk_used_pct: Some(pct),
    };
    let host = |name: &str, status: H, reason: &str, c| HostRow {
        host: name.into(),
        status: Some(status),
        reason: reason.into(),
        disk_used_pct: Some(42),
        clusters: vec![c],
        last_error: (status == H::Unhealthy).then(|| (at, reason.to_string())),
        sampled_at: Some(at),
        probe_ms: Some(4.0),
    };
    Snapshot {
        backend: Some(crate::health::api::ApiSample {
            url: "http://127.0.0.1:8000".into(),
            status: H::Healthy,
            reasons: Vec::new(),
            version: Some("2.0.1".into()),
            uptime_seconds: Some(7200),
            database: Some("healthy".into()),
            nodes_online: Some(2),
            nodes_total: Some(2),
            latency_ms: 6.0,
        }),
        hosts: vec![
            host("localhost", H::Healthy, "ok", cluster("online", 42)),
            host(
                "redis",
                H::Unhealthy,
                "cluster 15/main (port 5432) is down",
                cluster("down", 42),
            ),
        ],
        rows: vec![
            row("slm", "127.0.0.1:5432", H::Healthy, "ok", Some(0.4)),
            row(
                "slm_users",
                "127.0.0.1:5432",
                H::Degraded,
                "1 pending migration(s)",
                Some(0.5),
            ),
            row(
                "autobot_users",
                "172.16.168.23:5432",
                H::Unhealthy,
                "timed out",
                None,
            ),
        ],
        status: H::Unhealthy,
        nodes_online: 1,
        nodes_total: 2,
        taken_at: at,
    }
}

/// A playbook directory with a role whose `meta/argument_specs.yml` describes its options, a
/// non-playbook YAML file, and the role's own tasks (not playbooks).
pub fn derived_state(root: &std::path::Path) -> State {
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    write(
        "web/roles/web/meta/argument_specs.yml",
        "argument_specs:\n  main:\n    options:\n      web_mode:\n        type: str\n        choices: [dev, prod]\n        default: dev\n        description: How the site runs.\n      web_port:\n        type: int\n        default: 8080\n        description: The port it listens on.\n      web_users:\n        type: list\n        elements: str\n        choices: [alice, bob]\n        description: Who may log in.\n",
    );
    write("web/roles/web/tasks/main.yml", "- debug: msg=hi\n");
    write(
        "web/site.yml",
        "- name: Web servers\n  hosts: all\n  roles:\n    - web\n",
    );
    write("web/vars/extra.yml", "web_port: 1\n");
    let base = state();
    State::new(
        root.to_path_buf(),
        PlaybookEntry::scan(root),
        base.hosts.clone(),
        None,
    )
}
