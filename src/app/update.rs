//! The pure update function: all wizard logic, no terminal, no IO (beyond the CSPRNG of "generate").

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::action::{Action, RunKind};
use super::effects::Effect;
use super::state::{
    CheckItem, ConnTest, Dialog, Exec, FieldValue, Form, HealthView, Lane, OUTPUT_LINES_PER_HOST,
    Phase, Review, State, Step, TASK_ROWS, TaskRow,
};
use crate::engine::{RunEvent, Status};
use crate::playbook::survey::DEFAULT_GENERATED_LENGTH;

/// Applies one action to the state and returns what must happen outside. `state.dirty` says
/// whether anything changed since the last frame: an action that changes nothing (an idle tick,
/// an unbound key) never clears what earlier actions of the same batch changed.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let before = state.dirty;
    let effects = apply(state, action);
    state.dirty |= before;
    effects
}

fn apply(state: &mut State, action: Action) -> Vec<Effect> {
    state.dirty = true;
    match action {
        Action::Key(key) => on_key(state, key),
        // The wheel moves like the arrow keys, unless a dialog or the help is open.
        Action::Wheel { up } => {
            if state.dialog.is_some() || state.help {
                state.dirty = false;
                return Vec::new();
            }
            let code = if up { KeyCode::Up } else { KeyCode::Down };
            on_key(state, KeyEvent::from(code))
        }
        Action::Resize => Vec::new(),
        Action::Tick(d) => {
            if state.run_active() {
                state.exec.elapsed += d;
            } else {
                state.dirty = false;
            }
            Vec::new()
        }
        Action::Run(kind, ev) => {
            match kind {
                RunKind::Check => on_check_event(&mut state.review, ev),
                RunKind::Real => on_run_event(&mut state.exec, ev),
            }
            Vec::new()
        }
        Action::RunFailed(kind, msg) => {
            match kind {
                RunKind::Check => {
                    state.review.phase = Phase::Failed;
                    state.review.error = Some(msg);
                }
                RunKind::Real => {
                    state.exec.phase = Phase::Failed;
                    state.exec.error = Some(msg);
                }
            }
            Vec::new()
        }
        Action::RunDone {
            kind,
            summary,
            journal,
        } => {
            match kind {
                RunKind::Check => {
                    for (h, c) in &summary.hosts {
                        state.review.counts.insert(h.clone(), c.clone());
                        if !state.review.hosts.contains(h) {
                            state.review.hosts.push(h.clone());
                        }
                    }
                    state.review.phase = Phase::Done;
                }
                RunKind::Real => {
                    state.exec.phase = Phase::Done;
                    for lane in state.exec.lanes.values_mut() {
                        lane.current = None;
                    }
                    state.exec.summary = Some(summary);
                    state.exec.journal = journal;
                    if state.dialog == Some(Dialog::ConfirmCancel) {
                        state.dialog = None;
                    }
                }
            }
            Vec::new()
        }
        Action::Tested { host, result } => {
            let t = match result {
                Ok(s) => ConnTest::Ok(s),
                Err(e) => ConnTest::Failed(e),
            };
            state.hosts.tests.insert(host, t);
            Vec::new()
        }
        Action::HostKeyUnknown { host, fingerprint } => {
            // One question at a time: another host's prompt waits for its own test.
            if state.dialog.is_some() {
                state.hosts.tests.insert(
                    host,
                    ConnTest::Failed(format!(
                        "host key {fingerprint} is not known yet; test again to trust it"
                    )),
                );
                return Vec::new();
            }
            state.hosts.trust_prompt = Some((host, fingerprint));
            state.dialog = Some(Dialog::TrustHostKey);
            Vec::new()
        }
        Action::HealthSnapshot(snap) => {
            let rows = snap.rows.len() + snap.hosts.len();
            state.health.selected = state.health.selected.min(rows.saturating_sub(1));
            state.health.snapshot = Some(snap);
            // Samples only matter while the dashboard is visible.
            state.dirty = state.step == Step::Health;
            Vec::new()
        }
        Action::HealthFailed(e) => {
            state.health.phase = Phase::Failed;
            state.health.error = Some(e);
            Vec::new()
        }
        Action::Quit => quit(state),
        Action::Terminate => {
            state.quit = true;
            vec![
                Effect::Cancel(RunKind::Check),
                Effect::Cancel(RunKind::Real),
                Effect::Quit,
            ]
        }
    }
}

fn quit(state: &mut State) -> Vec<Effect> {
    if state.run_active() {
        state.dialog = Some(Dialog::ConfirmQuit);
        Vec::new()
    } else {
        state.quit = true;
        vec![Effect::Quit]
    }
}

fn ctrl(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL)
}

/// True when printable keys are typed into a text line on this screen.
pub fn typing(state: &State) -> bool {
    match state.step {
        Step::Playbook => state.filtering,
        Step::Execute => state.exec.filtering,
        Step::Variables => state
            .form
            .fields
            .get(state.form.focus)
            .is_some_and(|f| matches!(f.value, FieldValue::Text(_) | FieldValue::List { .. })),
        _ => false,
    }
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if key.kind == crossterm::event::KeyEventKind::Release {
        state.dirty = false;
        return Vec::new();
    }
    if ctrl(&key) && key.code == KeyCode::Char('c') {
        if state.dialog.is_some() {
            state.dialog = None;
            return Vec::new();
        }
        return quit(state);
    }
    if let Some(d) = state.dialog {
        return on_dialog(state, d, key);
    }
    if state.help {
        state.help = false;
        return Vec::new();
    }
    if key.code == KeyCode::F(1) || (key.code == KeyCode::Char('?') && !typing(state)) {
        state.help = true;
        return Vec::new();
    }
    if key.code == KeyCode::Char('q') && !typing(state) && !ctrl(&key) {
        return quit(state);
    }
    state.message = None;
    match state.step {
        Step::Playbook => playbook_key(state, key),
        Step::Variables => variables_key(state, key),
        Step::Hosts => hosts_key(state, key),
        Step::Review => review_key(state, key),
        Step::Execute => execute_key(state, key),
        Step::Health => health_key(state, key),
    }
}

fn on_dialog(state: &mut State, d: Dialog, key: KeyEvent) -> Vec<Effect> {
    let yes = matches!(
        key.code,
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
    );
    let no = matches!(
        key.code,
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc
    );
    if no {
        state.dialog = None;
        if d == Dialog::TrustHostKey
            && let Some((host, fp)) = state.hosts.trust_prompt.take()
        {
            state.hosts.tests.insert(
                host,
                ConnTest::Failed(format!("not trusted, not connected (host key {fp})")),
            );
        }
        return Vec::new();
    }
    if !yes {
        state.dirty = false;
        return Vec::new();
    }
    state.dialog = None;
    match d {
        Dialog::ConfirmRun => {
            let limit = state.limit.clone();
            start_real_run(state, limit)
        }
        Dialog::ConfirmRetry => {
            let failed = state.failed_hosts();
            start_real_run(state, Some(failed.join(",")))
        }
        Dialog::ConfirmCancel => {
            state.exec.cancel_requested = true;
            state.message = Some("cancelling: no new tasks will start".into());
            vec![Effect::Cancel(RunKind::Real)]
        }
        Dialog::ConfirmKill => {
            state.exec.kill_requested = true;
            state.message = Some("killing the running commands".into());
            vec![Effect::Kill(RunKind::Real)]
        }
        Dialog::ConfirmQuit => {
            state.quit = true;
            vec![Effect::Cancel(RunKind::Real), Effect::Quit]
        }
        Dialog::TrustHostKey => {
            let Some((host, _)) = state.hosts.trust_prompt.take() else {
                return Vec::new();
            };
            let vars = state.hosts.vars_of(&host);
            state.hosts.tests.insert(host.clone(), ConnTest::Running);
            vec![Effect::TestConnection {
                host,
                vars,
                trust_new_key: true,
            }]
        }
    }
}

fn is_up(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Up | KeyCode::Char('k'))
}

fn is_down(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Down | KeyCode::Char('j'))
}

// ---- Playbook ----

fn playbook_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if state.filtering {
        match key.code {
            KeyCode::Enter => state.filtering = false,
            KeyCode::Esc => {
                state.filtering = false;
                state.filter = Input::default();
            }
            _ => {
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    state.filter.handle(req);
                }
            }
        }
        clamp_selection(state);
        return Vec::new();
    }
    let visible = state.visible_playbooks();
    let pos = visible.iter().position(|i| *i == state.selected);
    match key.code {
        KeyCode::Char('/') => state.filtering = true,
        _ if is_up(&key) || key.code == KeyCode::BackTab => {
            if let Some(p) = pos
                && p > 0
            {
                state.selected = visible[p - 1];
            }
        }
        _ if is_down(&key) => match pos {
            Some(p) if p + 1 < visible.len() => state.selected = visible[p + 1],
            None if !visible.is_empty() => state.selected = visible[0],
            _ => {}
        },
        KeyCode::Enter | KeyCode::Tab | KeyCode::Right => return choose_playbook(state),
        KeyCode::Esc if !state.filter.value().is_empty() => state.filter = Input::default(),
        _ => state.dirty = false,
    }
    Vec::new()
}

fn clamp_selection(state: &mut State) {
    let visible = state.visible_playbooks();
    if !visible.contains(&state.selected)
        && let Some(first) = visible.first()
    {
        state.selected = *first;
    }
}

fn choose_playbook(state: &mut State) -> Vec<Effect> {
    let visible = state.visible_playbooks();
    if !visible.contains(&state.selected) {
        state.message = Some("no playbook selected".into());
        return Vec::new();
    }
    let Some(entry) = state.playbooks.get(state.selected) else {
        return Vec::new();
    };
    if let Some(e) = &entry.error {
        state.message = Some(format!("cannot use this playbook: {e}"));
        return Vec::new();
    }
    if state.form.playbook.as_deref() != Some(entry.path.as_path()) {
        let empty = serde_json::Map::new();
        let answers = if state.session.playbook.as_deref() == Some(entry.path.as_path()) {
            &state.session.answers
        } else {
            &empty
        };
        state.form = Form::from_survey(entry.survey.as_ref(), &entry.path, answers);
    }
    state.chosen = Some(state.selected);
    state.step = Step::Variables;
    Vec::new()
}

// ---- Variables ----

fn variables_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let n = state.form.fields.len();
    let form = &mut state.form;
    match key.code {
        KeyCode::Esc => {
            state.step = Step::Playbook;
            return Vec::new();
        }
        KeyCode::Char('s') if ctrl(&key) => return variables_next(state),
        KeyCode::Tab | KeyCode::Down => {
            if form.focus + 1 < n {
                form.focus += 1;
            }
            return Vec::new();
        }
        KeyCode::BackTab | KeyCode::Up => {
            form.focus = form.focus.saturating_sub(1);
            return Vec::new();
        }
        _ => {}
    }
    if n == 0 {
        if key.code == KeyCode::Enter {
            return variables_next(state);
        }
        return Vec::new();
    }
    let last = form.focus + 1 >= n;
    let Some(field) = form.fields.get_mut(form.focus) else {
        return Vec::new();
    };
    let mut advance = false;
    match &mut field.value {
        FieldValue::Text(input) => match key.code {
            KeyCode::Enter => advance = true,
            KeyCode::Char('r') if ctrl(&key) && field.question.secret => {
                field.revealed = !field.revealed;
            }
            KeyCode::Char('g') if ctrl(&key) => {
                if field.question.secret || field.question.generate.is_some() {
                    let len = field
                        .question
                        .generate
                        .map(|g| g.length)
                        .unwrap_or(DEFAULT_GENERATED_LENGTH);
                    let s = crate::secrets::generate_password(len);
                    *input = Input::new(s.expose().to_string());
                    state.message = Some(format!("generated a {len}-character password"));
                } else {
                    state.message = Some("only secrets can be generated".into());
                }
            }
            _ => {
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    input.handle(req);
                }
            }
        },
        FieldValue::Bool(b) => match key.code {
            KeyCode::Char(' ')
            | KeyCode::Left
            | KeyCode::Right
            | KeyCode::Char('h')
            | KeyCode::Char('l') => *b = !*b,
            KeyCode::Char('y') | KeyCode::Char('t') => *b = true,
            KeyCode::Char('n') | KeyCode::Char('f') => *b = false,
            KeyCode::Enter => advance = true,
            _ => {}
        },
        FieldValue::Choice(c) => {
            let len = field.question.choices.len();
            match key.code {
                KeyCode::Char(' ') | KeyCode::Right | KeyCode::Char('l') if len > 0 => {
                    *c = Some(c.map(|i| (i + 1) % len).unwrap_or(0));
                }
                KeyCode::Left | KeyCode::Char('h') if len > 0 => {
                    *c = Some(c.map(|i| (i + len - 1) % len).unwrap_or(len - 1));
                }
                KeyCode::Enter => advance = true,
                _ => {}
            }
        }
        FieldValue::List {
            items,
            selected,
            input,
        } => match key.code {
            KeyCode::Enter if input.value().trim().is_empty() => advance = true,
            KeyCode::Enter => {
                let v = input.value().trim().to_string();
                items.push(v);
                *selected = items.len() - 1;
                *input = Input::default();
            }
            KeyCode::Char('d') if ctrl(&key) => {
                if *selected < items.len() {
                    items.remove(*selected);
                    *selected = (*selected).min(items.len().saturating_sub(1));
                }
            }
            KeyCode::Char('e') if ctrl(&key) => {
                if *selected < items.len() {
                    let v = items.remove(*selected);
                    *input = Input::new(v);
                    *selected = (*selected).min(items.len().saturating_sub(1));
                }
            }
            KeyCode::PageUp => *selected = selected.saturating_sub(1),
            KeyCode::PageDown => {
                if *selected + 1 < items.len() {
                    *selected += 1;
                }
            }
            _ => {
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    input.handle(req);
                }
            }
        },
    }
    field.revalidate();
    if advance {
        if last {
            return variables_next(state);
        }
        state.form.focus += 1;
    }
    Vec::new()
}

/// "Next" on the Variables step: refused with the first invalid field focused.
pub fn variables_next(state: &mut State) -> Vec<Effect> {
    for f in &mut state.form.fields {
        f.revalidate();
    }
    if let Some(i) = state.form.first_invalid() {
        state.form.focus = i;
        let f = &state.form.fields[i];
        state.message = Some(format!(
            "{}: {}",
            f.question.name,
            f.error.clone().unwrap_or_default()
        ));
        return Vec::new();
    }
    state.step = Step::Hosts;
    Vec::new()
}

// ---- Hosts ----

fn hosts_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let names = state.hosts.host_names();
    let h = &mut state.hosts;
    match key.code {
        KeyCode::Esc | KeyCode::BackTab => state.step = Step::Variables,
        KeyCode::Enter | KeyCode::Tab => {
            // From the Hosts step the run covers the whole inventory (a repair's limit ends here).
            state.limit = None;
            return enter_review(state);
        }
        KeyCode::Char('t') => {
            return names
                .get(h.selected)
                .map(|n| test_connection(state, n.clone()))
                .into_iter()
                .flatten()
                .collect();
        }
        KeyCode::Char('T') => {
            return names
                .into_iter()
                .flat_map(|n| test_connection(state, n))
                .collect();
        }
        KeyCode::PageUp => h.scroll = h.scroll.saturating_sub(10),
        KeyCode::PageDown => h.scroll = h.scroll.saturating_add(10),
        _ if is_up(&key) => h.selected = h.selected.saturating_sub(1),
        _ if is_down(&key) => {
            if h.selected + 1 < names.len() {
                h.selected += 1;
            }
        }
        _ => state.dirty = false,
    }
    Vec::new()
}

fn test_connection(state: &mut State, host: String) -> Vec<Effect> {
    if state.hosts.tests.get(&host) == Some(&ConnTest::Running) {
        return Vec::new();
    }
    state.hosts.tests.insert(host.clone(), ConnTest::Running);
    let vars = state.hosts.vars_of(&host);
    vec![Effect::TestConnection {
        host,
        vars,
        trust_new_key: false,
    }]
}

/// Goes to Review and starts the check-mode dry run.
pub fn enter_review(state: &mut State) -> Vec<Effect> {
    if state.hosts.error.is_some() {
        state.message = Some("the inventory could not be read; fix it first".into());
        return Vec::new();
    }
    let Some(req) = state.request(true) else {
        state.message = Some("choose a playbook first".into());
        return Vec::new();
    };
    state.step = Step::Review;
    state.review = Review {
        phase: Phase::Running,
        ..Default::default()
    };
    vec![Effect::StartRun(RunKind::Check, Box::new(req))]
}

// ---- Review ----

fn review_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let r = &mut state.review;
    match key.code {
        KeyCode::Esc | KeyCode::BackTab => {
            let running = r.phase == Phase::Running;
            state.step = Step::Hosts;
            if running {
                return vec![Effect::Cancel(RunKind::Check)];
            }
        }
        KeyCode::Enter => {
            if r.phase == Phase::Running {
                state.message = Some("the dry run is still going; wait for it".into());
            } else {
                state.dialog = Some(Dialog::ConfirmRun);
            }
        }
        KeyCode::Char('r') if r.phase != Phase::Running => return enter_review(state),
        KeyCode::Left | KeyCode::Char('h') => {
            r.selected_host = r.selected_host.saturating_sub(1);
            r.scroll = 0;
        }
        KeyCode::Right | KeyCode::Char('l') | KeyCode::Tab => {
            if r.selected_host + 1 < r.hosts.len() {
                r.selected_host += 1;
                r.scroll = 0;
            }
        }
        KeyCode::PageUp => r.scroll = r.scroll.saturating_sub(10),
        KeyCode::PageDown => r.scroll = r.scroll.saturating_add(10),
        _ if is_up(&key) => r.scroll = r.scroll.saturating_sub(1),
        _ if is_down(&key) => r.scroll = r.scroll.saturating_add(1),
        _ => state.dirty = false,
    }
    Vec::new()
}

fn start_real_run(state: &mut State, limit: Option<String>) -> Vec<Effect> {
    let Some(mut req) = state.request(false) else {
        return Vec::new();
    };
    req.limit = limit;
    state.session = state.to_session();
    state.step = Step::Execute;
    state.exec = Exec {
        phase: Phase::Running,
        ..Default::default()
    };
    vec![
        Effect::SaveSession(state.session.clone()),
        Effect::StartRun(RunKind::Real, Box::new(req)),
    ]
}

fn diff_lines(d: &crate::engine::modules::Diff) -> Vec<String> {
    crate::engine::diff::unified(&d.before, &d.after, &d.before_header, &d.after_header)
        .lines()
        .map(str::to_string)
        .collect()
}

fn on_check_event(r: &mut Review, ev: RunEvent) {
    match ev {
        RunEvent::PlaybookStart { hosts, .. } => {
            for h in hosts {
                if !r.hosts.contains(&h) {
                    r.hosts.push(h);
                }
            }
        }
        RunEvent::TaskResult(t) => {
            let c = r.counts.entry(t.host.clone()).or_default();
            bump(c, t.status);
            if !r.hosts.contains(&t.host) {
                r.hosts.push(t.host.clone());
            }
            if matches!(
                t.status,
                Status::Changed | Status::Failed | Status::Unreachable
            ) {
                r.per_host
                    .entry(t.host.clone())
                    .or_default()
                    .push(CheckItem {
                        task: t.task.clone(),
                        status: t.status,
                        msg: t.msg.clone(),
                        diff: t.diff.iter().flat_map(diff_lines).collect(),
                    });
            }
        }
        RunEvent::HostStopped { host, reason } => {
            r.per_host.entry(host).or_default().push(CheckItem {
                task: "(host stopped)".into(),
                status: Status::Failed,
                msg: Some(reason),
                diff: Vec::new(),
            });
        }
        _ => {}
    }
}

fn bump(c: &mut crate::engine::events::Counts, s: Status) {
    match s {
        Status::Ok => c.ok += 1,
        Status::Changed => {
            // As ansible's recap: `ok` counts changed results too.
            c.ok += 1;
            c.changed += 1;
        }
        Status::Failed => c.failed += 1,
        Status::Skipped => c.skipped += 1,
        Status::Unreachable => c.unreachable += 1,
    }
}

fn push_output(lane: &mut Lane, text: &str) {
    for line in text.lines() {
        if lane.output.len() >= OUTPUT_LINES_PER_HOST {
            lane.output.pop_front();
        }
        lane.output.push_back(line.to_string());
    }
}

fn on_run_event(x: &mut Exec, ev: RunEvent) {
    match ev {
        RunEvent::PlaybookStart { hosts, .. } => {
            for h in hosts {
                x.lanes.entry(h.clone()).or_default();
                if !x.hosts.contains(&h) {
                    x.hosts.push(h);
                }
            }
        }
        RunEvent::PlayStart { hosts, tasks, .. } => {
            for h in hosts {
                x.lanes.entry(h.clone()).or_default().total += tasks;
                if !x.hosts.contains(&h) {
                    x.hosts.push(h);
                }
            }
        }
        RunEvent::TaskStart {
            host,
            task_id,
            task,
            handler,
            ..
        } => {
            if handler && !x.handler_ids.contains(&task_id) {
                x.handler_ids.push(task_id);
            }
            let lane = x.lanes.entry(host.clone()).or_default();
            lane.current = Some(task.clone());
            push_output(lane, &format!("TASK [{task}]"));
            if x.tasks.len() >= TASK_ROWS {
                x.tasks.pop_front();
            }
            x.tasks.push_back(TaskRow {
                task,
                host,
                status: None,
                duration_ms: 0,
                task_id,
            });
        }
        RunEvent::Output { host, data, .. } => {
            push_output(x.lanes.entry(host).or_default(), &data);
        }
        RunEvent::TaskResult(t) => {
            let handler = x.handler_ids.contains(&t.task_id);
            if let Some(row) = x
                .tasks
                .iter_mut()
                .rev()
                .find(|r| r.host == t.host && r.task_id == t.task_id)
            {
                row.status = Some(worst(row.status, t.status));
                row.duration_ms += t.duration_ms;
            }
            let lane = x.lanes.entry(t.host.clone()).or_default();
            bump(&mut lane.counts, t.status);
            if !handler && t.item.is_none() && lane.done < lane.total {
                lane.done += 1;
            }
            lane.current = None;
            let mut line = format!("{}: {}", t.status.label(), t.task);
            if let Some(m) = &t.msg {
                line.push_str(&format!(" — {m}"));
            }
            push_output(lane, &line);
        }
        RunEvent::HostStopped { host, reason } => {
            let lane = x.lanes.entry(host).or_default();
            push_output(lane, &format!("stopped: {reason}"));
            lane.stopped = Some(reason);
        }
        RunEvent::Warning { msg } => x.warnings.push(msg),
        RunEvent::Stats { .. } => {}
    }
}

fn worst(a: Option<Status>, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Skipped => 0,
        Status::Ok => 1,
        Status::Changed => 2,
        Status::Failed => 3,
        Status::Unreachable => 4,
    };
    match a {
        Some(a) if rank(a) > rank(b) => a,
        _ => b,
    }
}

// ---- Execute ----

fn execute_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let x = &mut state.exec;
    if x.filtering {
        match key.code {
            KeyCode::Enter => x.filtering = false,
            KeyCode::Esc => {
                x.filtering = false;
                x.filter = Input::default();
            }
            _ => {
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    x.filter.handle(req);
                }
            }
        }
        x.output_scroll = 0;
        return Vec::new();
    }
    match key.code {
        KeyCode::Char('/') => {
            x.filtering = true;
            x.output_scroll = 0;
        }
        KeyCode::Esc if !x.filter.value().is_empty() => x.filter = Input::default(),
        KeyCode::Char('c') if x.phase == Phase::Running => {
            if x.kill_requested {
                state.message = Some("already killing the running commands".into());
            } else if x.cancel_requested {
                state.dialog = Some(Dialog::ConfirmKill);
            } else {
                state.dialog = Some(Dialog::ConfirmCancel);
            }
        }
        KeyCode::Enter if x.phase != Phase::Running => return enter_health(state),
        KeyCode::Char('r') if x.phase == Phase::Done => {
            if state.failed_hosts().is_empty() {
                state.message = Some("no host failed: nothing to retry".into());
            } else {
                state.dialog = Some(Dialog::ConfirmRetry);
            }
        }
        KeyCode::Esc if x.phase != Phase::Running => state.step = Step::Review,
        KeyCode::Left | KeyCode::Char('h') | KeyCode::BackTab => {
            x.selected_host = x.selected_host.saturating_sub(1);
            x.output_scroll = 0;
        }
        KeyCode::Right | KeyCode::Char('l') | KeyCode::Tab => {
            if x.selected_host + 1 < x.hosts.len() {
                x.selected_host += 1;
                x.output_scroll = 0;
            }
        }
        KeyCode::PageUp => x.output_scroll = x.output_scroll.saturating_add(10),
        KeyCode::PageDown => x.output_scroll = x.output_scroll.saturating_sub(10),
        KeyCode::End | KeyCode::Char('G') => x.output_scroll = 0,
        _ if is_up(&key) => x.output_scroll = x.output_scroll.saturating_add(1),
        _ if is_down(&key) => x.output_scroll = x.output_scroll.saturating_sub(1),
        _ => state.dirty = false,
    }
    Vec::new()
}

// ---- Health ----

/// Goes to Health and starts the live probes (they stop when the step is left).
pub fn enter_health(state: &mut State) -> Vec<Effect> {
    state.step = Step::Health;
    if state.health.phase == Phase::Running {
        return Vec::new();
    }
    state.health.phase = Phase::Running;
    state.health.error = None;
    vec![Effect::StartHealth {
        interval: state.health.interval,
        hosts: state.hosts.database_hosts(),
    }]
}

/// Leaves Health for `step`, stopping the probes.
fn leave_health(state: &mut State, step: Step) -> Vec<Effect> {
    state.step = step;
    state.health.phase = Phase::Idle;
    vec![Effect::StopHealth]
}

fn health_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let h = &mut state.health;
    let rows = h
        .snapshot
        .as_ref()
        .map_or(0, |s| s.rows.len() + s.hosts.len());
    match key.code {
        KeyCode::Esc | KeyCode::BackTab if h.detail => h.detail = false,
        KeyCode::Esc | KeyCode::BackTab => return leave_health(state, Step::Execute),
        KeyCode::Enter | KeyCode::Char('d') => h.detail = !h.detail,
        KeyCode::Char('+') | KeyCode::Char('-') => {
            let next = if key.code == KeyCode::Char('+') {
                h.interval.saturating_mul(2)
            } else {
                h.interval / 2
            };
            h.interval = next.clamp(HealthView::MIN_INTERVAL, HealthView::MAX_INTERVAL);
            state.message = Some(format!(
                "probing every {} s",
                state.health.interval.as_secs()
            ));
            return vec![Effect::SetHealthInterval(state.health.interval)];
        }
        KeyCode::Char('r') => return repair(state),
        KeyCode::Home | KeyCode::Char('g') => h.selected = 0,
        KeyCode::End | KeyCode::Char('G') => h.selected = rows.saturating_sub(1),
        _ if is_up(&key) => h.selected = h.selected.saturating_sub(1),
        _ if is_down(&key) => h.selected = (h.selected + 1).min(rows.saturating_sub(1)),
        _ => state.dirty = false,
    }
    Vec::new()
}

/// The inventory hosts that serve a database: the spec's group for it (`slm_server` for `slm`
/// and `slm_users`, `redis_vm` for `autobot_users`), narrowed to the host whose address is the
/// database server's when the group has several.
pub fn hosts_serving(state: &State, db: &str, server: &str) -> Vec<String> {
    let group = if db == "autobot_users" {
        "redis_vm"
    } else {
        "slm_server"
    };
    let Some((_, hosts)) = state.hosts.groups.iter().find(|(g, _)| g == group) else {
        return Vec::new();
    };
    if hosts.len() <= 1 {
        return hosts.iter().map(|h| h.name.clone()).collect();
    }
    let addr = server
        .split(" via ")
        .next()
        .unwrap_or(server)
        .rsplit_once(':')
        .map_or(server, |(h, _)| h)
        .trim_matches(['[', ']']);
    let matching: Vec<String> = hosts
        .iter()
        .filter(|h| h.address == addr || h.name == addr)
        .map(|h| h.name.clone())
        .collect();
    if matching.is_empty() {
        hosts.iter().map(|h| h.name.clone()).collect()
    } else {
        matching
    }
}

/// The playbook that deploys the databases the dashboard watches.
const REPAIR_PLAYBOOK: &str = "user-management-db.yml";

/// `r`: re-run the playbook on the selected database's host only, through Review (dry run
/// first, then the usual confirmation).
fn repair(state: &mut State) -> Vec<Effect> {
    let Some(snap) = state.health.snapshot.as_ref() else {
        state.message = Some("nothing probed yet".into());
        return Vec::new();
    };
    let sel = state.health.selected;
    // What is repaired, its state, and the hosts to run on.
    let (what, status, hosts) = if let Some(row) = snap.rows.get(sel) {
        let hosts = hosts_serving(state, &row.key, &row.server);
        (row.key.clone(), row.status, hosts)
    } else if let Some(h) = snap.hosts.get(sel - snap.rows.len()) {
        (h.host.clone(), h.status, vec![h.host.clone()])
    } else {
        state.message = Some("nothing selected".into());
        return Vec::new();
    };
    if status == Some(crate::health::Status::Healthy) {
        state.message = Some(format!("{what} is healthy: nothing to repair"));
        return Vec::new();
    }
    if state.chosen.is_none() {
        // Opened as `health --watch`: the databases come from the user-management playbook.
        let Some(i) = state
            .playbooks
            .iter()
            .position(|p| p.path.file_name().is_some_and(|n| n == REPAIR_PLAYBOOK))
        else {
            state.message = Some("choose the playbook to repair with first (step 1)".into());
            return Vec::new();
        };
        state.selected = i;
        choose_playbook(state);
        if state.chosen.is_none() {
            return Vec::new();
        }
    }
    if hosts.is_empty() {
        state.message = Some(format!(
            "no inventory host serves {what} (groups slm_server / redis_vm in {})",
            state.hosts.path.display()
        ));
        return Vec::new();
    }
    state.limit = Some(hosts.join(","));
    let mut fx = leave_health(state, Step::Review);
    fx.extend(enter_review(state));
    fx
}
