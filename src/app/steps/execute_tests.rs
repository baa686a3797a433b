//! Pure tests of the Execute step: progress, output, cancel, retry.

use crossterm::event::KeyCode;
use serde_json::json;

use crate::app::action::{Action, RunKind};
use crate::app::effects::Effect;
use crate::app::fixture::*;
use crate::app::state::{Dialog, OUTPUT_LINES_PER_HOST, Phase, Step};
use crate::engine::{RunEvent, Status};

#[test]
fn execute_tracks_progress_tasks_and_output() {
    let mut s = executing();
    let lane = &s.exec.lanes["localhost"];
    assert_eq!((lane.done, lane.total), (1, 2));
    assert_eq!(lane.current.as_deref(), Some("Say it"));
    assert_eq!(lane.counts.changed, 1);
    assert_eq!(s.exec.tasks.len(), 2);
    assert_eq!(s.exec.tasks[0].status, Some(Status::Changed));
    assert_eq!(s.exec.tasks[1].status, None);
    assert!(lane.output.iter().any(|l| l == "hello"));
    assert_eq!(s.exec.elapsed.as_secs(), 3);
    // The output of a chatty host stays bounded.
    for i in 0..(OUTPUT_LINES_PER_HOST + 500) {
        send(
            &mut s,
            Action::Run(
                RunKind::Real,
                RunEvent::Output {
                    host: "localhost".into(),
                    task_id: 1,
                    stream: crate::transport::Stream::Stdout,
                    data: format!("line {i}\n"),
                },
            ),
        );
    }
    let out = &s.exec.lanes["localhost"].output;
    assert_eq!(out.len(), OUTPUT_LINES_PER_HOST);
    assert_eq!(
        out.back().unwrap(),
        &format!("line {}", OUTPUT_LINES_PER_HOST + 499)
    );
    // Scrolling up stops following; End follows again.
    send(&mut s, key(KeyCode::PageUp));
    assert_eq!(s.exec.output_scroll, 10);
    send(&mut s, key(KeyCode::End));
    assert_eq!(s.exec.output_scroll, 0);
}

#[test]
fn cancel_asks_first_then_cancels_the_engine() {
    let mut s = executing();
    let fx = send(&mut s, key(KeyCode::Char('c')));
    assert!(fx.is_empty());
    assert_eq!(s.dialog, Some(Dialog::ConfirmCancel));
    let fx = send(&mut s, key(KeyCode::Esc));
    assert!(fx.is_empty());
    assert_eq!(s.dialog, None);
    assert!(!s.exec.cancel_requested);
    send(&mut s, key(KeyCode::Char('c')));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(matches!(fx.as_slice(), [Effect::Cancel(RunKind::Real)]));
    assert!(s.exec.cancel_requested);
    // A second `c` offers to kill what still runs; n leaves them running.
    send(&mut s, key(KeyCode::Char('c')));
    assert_eq!(s.dialog, Some(Dialog::ConfirmKill));
    let fx = send(&mut s, key(KeyCode::Char('n')));
    assert!(fx.is_empty());
    assert!(!s.exec.kill_requested);
    send(&mut s, key(KeyCode::Char('c')));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(matches!(fx.as_slice(), [Effect::Kill(RunKind::Real)]));
    assert!(s.exec.kill_requested);
    // Nothing more to ask.
    let fx = send(&mut s, key(KeyCode::Char('c')));
    assert!(fx.is_empty());
    assert_eq!(s.dialog, None);
    send(&mut s, done(RunKind::Real, true));
    assert_eq!(s.exec.phase, Phase::Done);
    assert!(s.exec.summary.as_ref().unwrap().cancelled);
}

#[test]
fn output_filter_keeps_matching_lines_and_takes_typed_keys() {
    let mut s = executing();
    send(&mut s, key(KeyCode::Char('/')));
    assert!(s.exec.filtering);
    // While typing, q and ? are text, not quit and help.
    typ(&mut s, "q?");
    assert!(!s.quit && !s.help);
    assert_eq!(s.exec.filter.value(), "q?");
    send(&mut s, ctrl('u'));
    typ(&mut s, "HEL");
    send(&mut s, key(KeyCode::Enter));
    assert!(!s.exec.filtering);
    assert_eq!(s.exec.filter.value(), "HEL");
    // Esc clears a kept filter first, and only then leaves the step (after the run).
    send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.exec.filter.value(), "");
    assert_eq!(s.step, Step::Execute);
}

#[test]
fn the_last_run_per_host_is_remembered_and_shown_next_time() {
    use crate::app::state::LastRun;
    let mut s = executing();
    let fx = send(&mut s, done(RunKind::Real, false));
    let [Effect::SaveSession(session)] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(session.last_run.get("localhost"), Some(&LastRun::Changed));
    // The next session starts with it (the Hosts step marks the host).
    let mut next = state();
    next.resume(session.clone(), false);
    assert_eq!(
        next.session.last_run.get("localhost"),
        Some(&LastRun::Changed)
    );
    assert_eq!(next.to_session().last_run, session.last_run);
    let mut c = crate::engine::events::Counts::default();
    assert_eq!(LastRun::of(&c), LastRun::Ok);
    c.failed = 1;
    assert_eq!(LastRun::of(&c), LastRun::Failed);
    c.unreachable = 1;
    assert_eq!(LastRun::of(&c), LastRun::Unreachable);
}

#[test]
fn retry_runs_again_on_the_failed_hosts_only() {
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    // Nothing failed: nothing to retry.
    send(&mut s, key(KeyCode::Char('r')));
    assert_eq!(s.dialog, None);
    let summary = s.exec.summary.as_mut().unwrap();
    summary.hosts.insert(
        "db2".into(),
        crate::engine::events::Counts {
            failed: 1,
            ..Default::default()
        },
    );
    summary.hosts.insert(
        "db3".into(),
        crate::engine::events::Counts {
            unreachable: 1,
            ..Default::default()
        },
    );
    send(&mut s, key(KeyCode::Char('r')));
    assert_eq!(s.dialog, Some(Dialog::ConfirmRetry));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    let [Effect::SaveSession(_), Effect::StartRun(RunKind::Real, req)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(req.limit.as_deref(), Some("db2,db3"));
    assert_eq!(s.exec.phase, Phase::Running);
    assert!(s.exec.summary.is_none());
}

#[test]
fn retry_after_a_cancel_takes_the_hosts_that_did_not_finish() {
    let mut s = executing();
    send(&mut s, done(RunKind::Real, true));
    // localhost was in its second task of two when the run was cancelled.
    assert_eq!(s.failed_hosts(), ["localhost"]);
    send(&mut s, key(KeyCode::Char('r')));
    assert_eq!(s.dialog, Some(Dialog::ConfirmRetry));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    let [Effect::SaveSession(_), Effect::StartRun(RunKind::Real, req)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(req.limit.as_deref(), Some("localhost"));
}

#[test]
fn a_run_that_cannot_start_is_reported() {
    let mut s = reviewed();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Char('y')));
    send(
        &mut s,
        Action::RunFailed(RunKind::Real, "store locked".into()),
    );
    assert_eq!(s.exec.phase, Phase::Failed);
    assert!(!s.run_active());
    send(&mut s, key(KeyCode::Char('q')));
    assert!(s.quit);
}

#[test]
fn progress_counts_skipped_tasks_and_loops_and_ends_full_on_success() {
    let mut s = executing();
    // Task 1 runs as a loop whose items are skipped: one task done, not one per item.
    for _ in 0..3 {
        let RunEvent::TaskResult(mut r) = result("localhost", 1, "Say it", Status::Skipped, false)
        else {
            unreachable!()
        };
        r.item = Some(json!("x"));
        send(&mut s, Action::Run(RunKind::Real, RunEvent::TaskResult(r)));
    }
    let lane = &s.exec.lanes["localhost"];
    assert_eq!((lane.done, lane.total), (2, 2));
    // A clean run ends at total even when a task never reported (tags, a skipped block).
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    let lane = &s.exec.lanes["localhost"];
    assert_eq!((lane.done, lane.total), (2, 2));
    // So does a host no task result counted for (no recap row, as in ansible-playbook).
    let mut s = executing();
    let Action::RunDone {
        kind,
        mut summary,
        journal,
    } = done(RunKind::Real, false)
    else {
        unreachable!()
    };
    summary.hosts.clear();
    send(
        &mut s,
        Action::RunDone {
            kind,
            summary,
            journal,
        },
    );
    let lane = &s.exec.lanes["localhost"];
    assert_eq!((lane.done, lane.total), (2, 2));
    // A cancelled one does not.
    let mut s = executing();
    send(&mut s, done(RunKind::Real, true));
    assert_eq!(s.exec.lanes["localhost"].done, 1);
}
