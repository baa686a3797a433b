//! Pure tests of `update` that hold on every step: quit, help, ticks, the wheel.

use crossterm::event::KeyCode;

use crate::app::action::{Action, RunKind};
use crate::app::effects::Effect;
use crate::app::fixture::*;
use crate::app::state::Dialog;

#[test]
fn the_wheel_moves_like_the_arrows() {
    let mut s = state();
    assert_eq!(s.selected, 0);
    send(&mut s, Action::Wheel { up: false });
    assert_eq!(s.selected, 1);
    send(&mut s, Action::Wheel { up: true });
    assert_eq!(s.selected, 0);
    // Not under a dialog.
    let mut s = executing();
    send(&mut s, key(KeyCode::Char('c')));
    send(&mut s, Action::Wheel { up: true });
    assert_eq!(s.exec.output_scroll, 0);
    send(&mut s, key(KeyCode::Char('n')));
    send(&mut s, Action::Wheel { up: true });
    assert_eq!(s.exec.output_scroll, 1);
}

#[test]
fn quit_asks_while_a_run_is_going() {
    let mut s = executing();
    let fx = send(&mut s, key(KeyCode::Char('q')));
    assert!(fx.is_empty());
    assert_eq!(s.dialog, Some(Dialog::ConfirmQuit));
    send(&mut s, key(KeyCode::Char('n')));
    assert!(!s.quit);
    send(&mut s, ctrl('c'));
    assert_eq!(s.dialog, Some(Dialog::ConfirmQuit));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(s.quit);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Cancel(RunKind::Real), Effect::Quit]
    ));
    // SIGTERM / SIGHUP: cancel and leave without asking.
    let mut s = executing();
    let fx = send(&mut s, Action::Terminate);
    assert!(s.quit);
    assert!(matches!(fx.last(), Some(Effect::Quit)));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Cancel(RunKind::Real)))
    );
    // Without a run, q quits at once.
    let mut s = state();
    let fx = send(&mut s, key(KeyCode::Char('q')));
    assert!(s.quit);
    assert!(matches!(fx.as_slice(), [Effect::Quit]));
}

#[test]
fn help_overlay_opens_and_closes() {
    let mut s = state();
    send(&mut s, key(KeyCode::Char('?')));
    assert!(s.help);
    send(&mut s, key(KeyCode::Char('x')));
    assert!(!s.help);
    send(&mut s, key(KeyCode::F(1)));
    assert!(s.help);
    // A key that closes help does nothing else.
    send(&mut s, key(KeyCode::Char('q')));
    assert!(!s.help && !s.quit);
}

#[test]
fn idle_ticks_do_not_redraw() {
    let mut s = state();
    s.dirty = false;
    send(&mut s, Action::Tick(std::time::Duration::from_secs(1)));
    assert!(!s.dirty);
    send(&mut s, key(KeyCode::Down));
    assert!(s.dirty);
    // An idle tick right after a change (same batch) keeps the frame due.
    send(&mut s, Action::Tick(std::time::Duration::from_secs(1)));
    assert!(s.dirty);
}
