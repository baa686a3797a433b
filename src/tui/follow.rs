//! `runner follow` on a terminal: the stream in the wizard's Execute screen (lanes per host,
//! tasks, output), read-only — the run belongs to the worker, so there is nothing to cancel or
//! retry here. `q` leaves (also while the stream goes on).

use std::io::BufRead;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use tokio::sync::mpsc::unbounded_channel;

use crate::app::action::{Action, RunKind};
use crate::app::state::{HostsView, Phase, State, Step};
use crate::engine::{RunEvent, RunSummary};
use crate::runner::follow::Follower;
use crate::runner::stream::{Frame, Reader};

enum Msg {
    Event(RunEvent),
    /// The stream is over: the exit code `run` would give, and why it ended early (if so).
    End(i32, Option<String>),
}

/// Restores the terminal however the view ends.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
        let _ = crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::LeaveAlternateScreen,
            crossterm::cursor::Show
        );
    }
}

/// Reads the stream on a thread (it blocks) and sends what it means.
fn reader<R: BufRead + Send + 'static>(input: R, tx: tokio::sync::mpsc::UnboundedSender<Msg>) {
    std::thread::spawn(move || {
        let mut follower = Follower::default();
        let mut reader = Reader::new(input);
        let mut hosts: Vec<String> = Vec::new();
        let end = loop {
            match reader.next_frame() {
                Ok(Some(Frame::Json(v))) => {
                    for ev in follower.translate(&v) {
                        // Runner events name no hosts up front: a lane opens at a host's first task.
                        let host = match &ev {
                            RunEvent::TaskStart { host, .. } => Some(host.clone()),
                            RunEvent::TaskResult(t) => Some(t.host.clone()),
                            _ => None,
                        };
                        if let Some(h) = host.filter(|h| !hosts.contains(h)) {
                            hosts.push(h.clone());
                            let _ = tx.send(Msg::Event(RunEvent::PlaybookStart {
                                playbook: String::new(),
                                check: false,
                                diff: false,
                                hosts: vec![h],
                            }));
                        }
                        let _ = tx.send(Msg::Event(ev));
                    }
                    if follower.saw_eof {
                        break None;
                    }
                }
                Ok(Some(Frame::Zip(_))) => {}
                Ok(None) => {
                    break Some("the stream ended before its {\"eof\": true} line".to_string());
                }
                Err(e) => break Some(e.to_string()),
            }
        };
        let code = if end.is_some() && follower.stats.is_none() {
            1
        } else {
            follower.exit_code()
        };
        let end = end.or_else(|| {
            follower
                .status
                .clone()
                .filter(|s| s != "successful" && follower.stats.is_none())
                .map(|s| {
                    format!(
                        "the job ended with status {s}{}",
                        follower
                            .explanation
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    )
                })
        });
        let _ = tx.send(Msg::End(code, end));
    });
}

/// Keys of the Execute screen that only look (hosts, scrolling, the filter).
fn viewing_key(k: &KeyEvent) -> bool {
    matches!(
        k.code,
        KeyCode::Left
            | KeyCode::Right
            | KeyCode::Up
            | KeyCode::Down
            | KeyCode::Tab
            | KeyCode::BackTab
            | KeyCode::PageUp
            | KeyCode::PageDown
            | KeyCode::End
            | KeyCode::Char('h' | 'l' | 'j' | 'k' | 'G' | '/')
    )
}

/// How a followed stream ended, for the command to print once the terminal is restored.
#[derive(Debug)]
pub struct Followed {
    /// The exit code `run` would give.
    pub code: i32,
    /// Why the stream ended early, if it did.
    pub why: Option<String>,
    /// The recap, one line per host.
    pub recap: Vec<String>,
}

/// Shows the stream until it ends and the user presses `q`; returns how it ended (what happened
/// is to be printed again on leaving, as the terminal is restored).
pub async fn follow_in_terminal<R: BufRead + Send + 'static>(input: R) -> anyhow::Result<Followed> {
    let (tx, mut rx) = unbounded_channel::<Msg>();
    reader(input, tx);
    let mut state = State::new(Default::default(), Vec::new(), HostsView::default(), None);
    state.step = Step::Execute;
    state.exec.phase = Phase::Running;
    state.dirty = true;

    let _guard = Guard;
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
    // Keys come from the terminal (crossterm reads /dev/tty when stdin is the stream).
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut result: Option<(i32, Option<String>)> = None;
    let mut last = Instant::now();
    loop {
        if state.dirty {
            terminal.draw(|f| crate::ui::render(f, &state))?;
            state.dirty = false;
        }
        tokio::select! {
            msg = rx.recv(), if result.is_none() => match msg {
                Some(Msg::Event(ev)) => {
                    if let RunEvent::Stats { hosts, cancelled } = &ev {
                        state.exec.summary = Some(RunSummary { hosts: hosts.clone(), cancelled: *cancelled });
                    }
                    crate::app::update::update(&mut state, Action::Run(RunKind::Real, ev));
                    state.dirty = true;
                }
                Some(Msg::End(code, why)) => {
                    state.exec.phase = Phase::Done;
                    // The stream told no task counts up front: a lane's bar is full at the end.
                    for lane in state.exec.lanes.values_mut() {
                        lane.current = None;
                        lane.total = lane.total.max(lane.finished.len());
                        lane.done = lane.total;
                    }
                    state.message = Some(match &why {
                        Some(w) => format!("{w} — q to leave"),
                        None => "the stream is over — q to leave".into(),
                    });
                    result = Some((code, why));
                    state.dirty = true;
                }
                None => result = Some((1, Some("the stream reader stopped".into()))),
            },
            ev = keys.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    let quit = !state.exec.filtering
                        && (matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                            || (k.code == KeyCode::Char('c')
                                && k.modifiers.contains(KeyModifiers::CONTROL)));
                    if quit {
                        break;
                    }
                    if state.exec.filtering || viewing_key(&k) {
                        // Effects are ignored: viewing keys have none.
                        crate::app::update::update(&mut state, Action::Key(k));
                        state.dirty = true;
                    }
                }
                Some(Ok(Event::Resize(..))) => {
                    terminal.autoresize()?;
                    state.dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            _ = tick.tick() => {
                if state.exec.phase == Phase::Running {
                    state.exec.elapsed += last.elapsed();
                    state.dirty = true;
                }
                last = Instant::now();
            }
        }
    }
    drop(terminal);
    drop(_guard);
    let (code, why) = result.unwrap_or((130, Some("left before the stream ended".into())));
    let recap = state
        .exec
        .summary
        .iter()
        .flat_map(|s| &s.hosts)
        .map(|(h, c)| {
            format!(
                "{h} : ok={} changed={} unreachable={} failed={} skipped={}",
                c.ok, c.changed, c.unreachable, c.failed, c.skipped
            )
        })
        .collect();
    Ok(Followed { code, why, recap })
}
