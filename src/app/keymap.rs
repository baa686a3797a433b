//! Which key does what: per screen, key → intent, with the labels of the key bar and the help
//! overlay. The steps act on the intent `update` looks up here and the screens draw the labels
//! from here, so a key and its hint cannot drift apart (a test checks every label names a bound
//! intent). Conditions (a run is going, nothing is selected) stay in the steps.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::{State, Step};

/// What a key asks for. One enum for all screens: the keymap of the screen says which apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    // Every screen.
    Help,
    Quit,
    /// Ctrl-C: closes a dialog, else quits (also while typing).
    Interrupt,
    // Dialogs.
    Yes,
    No,
    /// The deliberate confirmation after a failed dry run.
    RunAnyway,
    // Lists and panes.
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// The output pane follows new lines again.
    Follow,
    PrevHost,
    NextHost,
    /// Start typing a `/` filter.
    Filter,
    /// On to the next step (choose the playbook, review, health).
    Next,
    /// Back a step; also leaves a form or a filter.
    Back,
    // A text line (a filter, the save-as path).
    /// Enter: keep what was typed.
    Keep,
    // Hosts.
    Test,
    TestAll,
    AddHost,
    EditHost,
    RemoveHost,
    MoveHost,
    Save,
    SaveAs,
    // Review.
    /// Enter: confirm and start the real run.
    Run,
    Recheck,
    SwitchEngine,
    Rotate,
    // Execute.
    CancelRun,
    Retry,
    // Health.
    Detail,
    /// Probe half as often.
    Slower,
    /// Probe twice as often.
    Faster,
    Repair,
    Migrate,
    // Forms.
    NextField,
    PrevField,
    /// Ctrl-S: the form is done.
    Submit,
    /// Enter in a field: next field, or add the typed list item.
    Advance,
    Reveal,
    Generate,
    /// Ctrl-U: the text line clears it (listed for the help).
    ClearLine,
    /// Space/→: toggle a boolean, the next choice.
    ChoiceNext,
    /// ←: toggle a boolean, the previous choice.
    ChoicePrev,
    SetTrue,
    SetFalse,
    ItemPrev,
    ItemNext,
    ItemRemove,
    ItemEdit,
}

/// Which modifiers a key needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mods {
    /// Any (Shift, Ctrl or none): the keys of lists and panes.
    Any,
    Ctrl,
    /// Not with Ctrl.
    NoCtrl,
}

/// A key of a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: Mods,
}

impl Key {
    pub fn matches(&self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        key.code == self.code
            && match self.mods {
                Mods::Any => true,
                Mods::Ctrl => ctrl,
                Mods::NoCtrl => !ctrl,
            }
    }
}

const fn k(code: KeyCode) -> Key {
    Key {
        code,
        mods: Mods::Any,
    }
}

const fn c(ch: char) -> Key {
    k(KeyCode::Char(ch))
}

const fn ctrl(ch: char) -> Key {
    Key {
        code: KeyCode::Char(ch),
        mods: Mods::Ctrl,
    }
}

/// A line of the key bar or of the help: the keys as shown, what they do, and the intents they
/// stand for (checked against the bindings).
#[derive(Debug, Clone, Copy)]
pub struct Label {
    pub keys: &'static str,
    pub text: &'static str,
    pub intents: &'static [Intent],
}

const fn l(keys: &'static str, text: &'static str, intents: &'static [Intent]) -> Label {
    Label {
        keys,
        text,
        intents,
    }
}

/// The keys of one screen.
#[derive(Debug)]
pub struct Keymap {
    /// Key → intent; the first binding that matches wins.
    pub bindings: &'static [(Intent, &'static [Key])],
    /// The key bar (before help and quit).
    pub hints: &'static [Label],
    /// The help overlay of the step (before help and quit).
    pub help: &'static [Label],
}

impl Keymap {
    /// The intent of `key` on this screen, if it has one.
    pub fn intent(&self, key: &KeyEvent) -> Option<Intent> {
        self.bindings
            .iter()
            .find(|(_, keys)| keys.iter().any(|b| b.matches(key)))
            .map(|(i, _)| *i)
    }
}

use Intent::*;
use KeyCode::{
    BackTab, Down as KDown, End, Enter, Esc, F, Home, Left, PageDown as KPageDown,
    PageUp as KPageUp, Right, Tab, Up as KUp,
};

const UP: &[Key] = &[k(KUp), c('k')];
const DOWN: &[Key] = &[k(KDown), c('j')];

/// Keys of every screen, looked at before the screen's own.
pub static GLOBAL: Keymap = Keymap {
    bindings: &[
        (Interrupt, &[ctrl('c')]),
        (Help, &[k(F(1)), c('?')]),
        (
            Quit,
            &[Key {
                code: KeyCode::Char('q'),
                mods: Mods::NoCtrl,
            }],
        ),
    ],
    hints: &[l("F1/?", "help", &[Help]), l("q", "quit", &[Quit])],
    help: &[
        l("F1, ?", "this help", &[Help]),
        l(
            "q, Ctrl-C",
            "quit (asks while a run is going)",
            &[Quit, Interrupt],
        ),
    ],
};

/// A dialog's answers (its text names them).
pub static DIALOG: Keymap = Keymap {
    bindings: &[
        (Yes, &[c('y'), c('Y'), k(Enter)]),
        (No, &[c('n'), c('N'), k(Esc)]),
        (RunAnyway, &[c('a'), c('A')]),
    ],
    hints: &[],
    help: &[],
};

pub static PLAYBOOK: Keymap = Keymap {
    bindings: &[
        (Filter, &[c('/')]),
        (Up, &[k(KUp), c('k'), k(BackTab)]),
        (Down, DOWN),
        (Next, &[k(Enter), k(Tab), k(Right)]),
        // Clears a kept filter.
        (Back, &[k(Esc)]),
    ],
    hints: &[
        l("↑↓", "move", &[Up, Down]),
        l("/", "filter", &[Filter]),
        l("Enter", "choose", &[Next]),
    ],
    help: &[
        l("↑/k ↓/j", "move the selection", &[Up, Down]),
        l(
            "/",
            "filter the list (Enter keeps, Esc clears)",
            &[Filter, Back],
        ),
        l("Enter, Tab", "use this playbook → Variables", &[Next]),
    ],
};

/// Typing a `/` filter (other keys edit it).
const FILTER_KEYS: &[(Intent, &[Key])] = &[(Keep, &[k(Enter)]), (Back, &[k(Esc)])];

pub static PLAYBOOK_FILTER: Keymap = Keymap {
    bindings: FILTER_KEYS,
    hints: &[l("Enter", "apply", &[Keep]), l("Esc", "clear", &[Back])],
    help: PLAYBOOK.help,
};

/// A survey form (the Variables step, the host form); keys not bound edit the focused field.
const FORM_KEYS: &[(Intent, &[Key])] = &[
    (Submit, &[ctrl('s')]),
    (NextField, &[k(Tab), k(KDown)]),
    (PrevField, &[k(BackTab), k(KUp)]),
    (Back, &[k(Esc)]),
    (Advance, &[k(Enter)]),
    (Reveal, &[ctrl('r')]),
    (Generate, &[ctrl('g')]),
    (ClearLine, &[ctrl('u')]),
    (ItemRemove, &[ctrl('d')]),
    (ItemEdit, &[ctrl('e')]),
    (ItemPrev, &[k(KPageUp)]),
    (ItemNext, &[k(KPageDown)]),
    (ChoiceNext, &[c(' '), k(Right), c('l')]),
    (ChoicePrev, &[k(Left), c('h')]),
    (SetTrue, &[c('y'), c('t')]),
    (SetFalse, &[c('n'), c('f')]),
];

pub static VARIABLES: Keymap = Keymap {
    bindings: FORM_KEYS,
    hints: &[
        l("Tab/↑↓", "field", &[NextField, PrevField]),
        l("Enter", "next field", &[Advance]),
        l("^S", "next step", &[Submit]),
        l("Esc", "back", &[Back]),
    ],
    help: &[
        l(
            "Tab, ↓ / Shift-Tab, ↑",
            "next / previous field",
            &[NextField, PrevField],
        ),
        l("Enter", "next field (on the last: next step)", &[Advance]),
        l(
            "Ctrl-S",
            "next step (refused while a field is invalid)",
            &[Submit],
        ),
        l(
            "Space, ←→",
            "toggle a boolean, change a choice",
            &[ChoiceNext, ChoicePrev],
        ),
        l("Ctrl-R", "reveal / mask a secret", &[Reveal]),
        l("Ctrl-G", "generate a password", &[Generate]),
        l("Ctrl-U", "clear the field", &[ClearLine]),
        l("Enter (list)", "add the typed item", &[Advance]),
        l("PgUp/PgDn (list)", "select an item", &[ItemPrev, ItemNext]),
        l(
            "Ctrl-D / Ctrl-E (list)",
            "remove / edit the selected item",
            &[ItemRemove, ItemEdit],
        ),
        l("Esc", "back to Playbook", &[Back]),
    ],
};

pub static HOSTS: Keymap = Keymap {
    bindings: &[
        (Back, &[k(Esc), k(BackTab)]),
        (Next, &[k(Enter), k(Tab)]),
        (AddHost, &[c('a')]),
        (EditHost, &[c('e')]),
        (RemoveHost, &[c('d')]),
        (MoveHost, &[c('m')]),
        (Save, &[c('s')]),
        (SaveAs, &[c('w')]),
        (Test, &[c('t')]),
        (TestAll, &[c('T')]),
        (PageUp, &[k(KPageUp)]),
        (PageDown, &[k(KPageDown)]),
        (Up, UP),
        (Down, DOWN),
    ],
    hints: &[
        l("↑↓", "host", &[Up, Down]),
        l("t/T", "test", &[Test, TestAll]),
        l(
            "a/e/d/m",
            "edit",
            &[AddHost, EditHost, RemoveHost, MoveHost],
        ),
        l("s", "save", &[Save]),
        l("Enter", "review", &[Next]),
    ],
    help: &[
        l("↑/k ↓/j", "select a host", &[Up, Down]),
        l("PgUp/PgDn", "scroll", &[PageUp, PageDown]),
        l(
            "t / T",
            "test the connection of the selected host / of all hosts",
            &[Test, TestAll],
        ),
        l(
            "a",
            "add a host (a form: name, group, address, port, user, key, become)",
            &[AddHost],
        ),
        l("e", "edit the selected host (same form)", &[EditHost]),
        l("d", "remove the selected host (asks first)", &[RemoveHost]),
        l("m", "move the selected host to the next group", &[MoveHost]),
        l(
            "s",
            "save the changes to the inventory file (asks; keeps a .bak copy)",
            &[Save],
        ),
        l(
            "w",
            "save the inventory with the changes as a new file",
            &[SaveAs],
        ),
        l(
            "Enter, Tab",
            "Review (starts the dry run; saved changes only)",
            &[Next],
        ),
        l("Esc", "back to Variables", &[Back]),
    ],
};

pub static HOST_FORM: Keymap = Keymap {
    bindings: FORM_KEYS,
    hints: &[
        l("Tab/↑↓", "field", &[NextField, PrevField]),
        l("^S", "apply", &[Submit]),
        l("Esc", "cancel", &[Back]),
    ],
    help: HOSTS.help,
};

/// Typing the path of "save as" (other keys edit it).
pub static SAVE_AS: Keymap = Keymap {
    bindings: &[(Keep, &[k(Enter)]), (Back, &[k(Esc)])],
    hints: &[l("Enter", "save", &[Keep]), l("Esc", "cancel", &[Back])],
    help: HOSTS.help,
};

pub static REVIEW: Keymap = Keymap {
    bindings: &[
        (Back, &[k(Esc), k(BackTab)]),
        (Run, &[k(Enter)]),
        (Recheck, &[c('r')]),
        (SwitchEngine, &[c('e')]),
        (Rotate, &[c('R')]),
        (PrevHost, &[k(Left), c('h')]),
        (NextHost, &[k(Right), c('l'), k(Tab)]),
        (PageUp, &[k(KPageUp)]),
        (PageDown, &[k(KPageDown)]),
        (Up, UP),
        (Down, DOWN),
    ],
    hints: &[
        l("←→", "host", &[PrevHost, NextHost]),
        l("↑↓", "scroll", &[Up, Down]),
        l("Enter", "run…", &[Run]),
        l("r", "re-check", &[Recheck]),
        l("Esc", "back", &[Back]),
    ],
    help: &[
        l("←/h →/l", "previous / next host", &[PrevHost, NextHost]),
        l(
            "↑↓ PgUp PgDn",
            "scroll the dry run",
            &[Up, Down, PageUp, PageDown],
        ),
        l("r", "run the dry run again", &[Recheck]),
        l(
            "e",
            "another engine (auto → native → ansible), and the dry run again",
            &[SwitchEngine],
        ),
        l(
            "R",
            "rotate the generated passwords (a real run that sets new ones; asks first)",
            &[Rotate],
        ),
        l(
            "Enter",
            "confirm and start the real run (after a failed dry run: a runs anyway)",
            &[Run],
        ),
        l("Esc", "back to Hosts", &[Back]),
    ],
};

pub static EXECUTE: Keymap = Keymap {
    bindings: &[
        (Filter, &[c('/')]),
        // Clears a kept filter; once the run is over, back to Review.
        (Back, &[k(Esc)]),
        (CancelRun, &[c('c')]),
        (Next, &[k(Enter)]),
        (Retry, &[c('r')]),
        (PrevHost, &[k(Left), c('h'), k(BackTab)]),
        (NextHost, &[k(Right), c('l'), k(Tab)]),
        (PageUp, &[k(KPageUp)]),
        (PageDown, &[k(KPageDown)]),
        (Follow, &[k(End), c('G')]),
        (Up, UP),
        (Down, DOWN),
    ],
    hints: &[
        l("←→", "host", &[PrevHost, NextHost]),
        l("↑↓", "scroll", &[Up, Down]),
        l("/", "filter", &[Filter]),
        l("c", "cancel", &[CancelRun]),
        l("Enter", "health", &[Next]),
    ],
    help: &[
        l(
            "←/h →/l",
            "select the host whose output is shown",
            &[PrevHost, NextHost],
        ),
        l(
            "↑↓ PgUp PgDn",
            "scroll the output (End: follow)",
            &[Up, Down, PageUp, PageDown, Follow],
        ),
        l(
            "/",
            "filter the output (Enter keeps, Esc clears)",
            &[Filter],
        ),
        l(
            "c",
            "cancel the run (asks first); again: kill running commands",
            &[CancelRun],
        ),
        l("Enter", "Health (when the run is over)", &[Next]),
        l("Esc", "back to Review (when the run is over)", &[Back]),
        l(
            "r",
            "retry the failed or cancelled hosts (when the run is over)",
            &[Retry],
        ),
    ],
};

pub static EXECUTE_FILTER: Keymap = Keymap {
    bindings: FILTER_KEYS,
    hints: &[
        l("Enter", "keep filter", &[Keep]),
        l("Esc", "clear", &[Back]),
    ],
    help: EXECUTE.help,
};

const HEALTH_KEYS: &[(Intent, &[Key])] = &[
    (Back, &[k(Esc), k(BackTab)]),
    (Detail, &[k(Enter), c('d')]),
    (Slower, &[c('+')]),
    (Faster, &[c('-')]),
    (Repair, &[c('r')]),
    (Migrate, &[c('m')]),
    (Top, &[k(Home), c('g')]),
    (Bottom, &[k(End), c('G')]),
    (Up, UP),
    (Down, DOWN),
];

pub static HEALTH: Keymap = Keymap {
    bindings: HEALTH_KEYS,
    hints: &[
        l("Enter", "detail", &[Detail]),
        l("+/-", "interval", &[Slower, Faster]),
        l("r", "repair", &[Repair]),
        l("m", "migrate", &[Migrate]),
        l("Esc", "back", &[Back]),
    ],
    help: &[
        l("↑/k ↓/j", "select a database", &[Up, Down]),
        l("g / G", "the first / last row", &[Top, Bottom]),
        l("Enter, d", "open / close its detail view", &[Detail]),
        l(
            "+ / -",
            "probe half / twice as often (1 s … 300 s)",
            &[Slower, Faster],
        ),
        l(
            "r",
            "repair: re-run the playbook on that database's host only (via Review)",
            &[Repair],
        ),
        l(
            "m",
            "apply the selected database's pending migrations (lists them, asks first)",
            &[Migrate],
        ),
        l(
            "Esc",
            "close the detail view, else back to Execute (health --watch: quit)",
            &[Back],
        ),
    ],
};

/// `health --watch`: no wizard behind the dashboard, Esc quits.
pub static HEALTH_WATCH: Keymap = Keymap {
    bindings: HEALTH_KEYS,
    hints: &[
        l("Enter", "detail", &[Detail]),
        l("+/-", "interval", &[Slower, Faster]),
        l("r", "repair", &[Repair]),
        l("m", "migrate", &[Migrate]),
        l("Esc", "quit", &[Back]),
    ],
    help: HEALTH.help,
};

/// The keymap of a step's main screen (its help overlay).
pub fn of_step(step: Step) -> &'static Keymap {
    match step {
        Step::Playbook => &PLAYBOOK,
        Step::Variables => &VARIABLES,
        Step::Hosts => &HOSTS,
        Step::Review => &REVIEW,
        Step::Execute => &EXECUTE,
        Step::Health => &HEALTH,
    }
}

/// The keymap of what the screen shows now (a filter being typed, a form open): the keys the
/// step acts on and the key bar.
pub fn current(state: &State) -> &'static Keymap {
    match state.step {
        Step::Playbook if state.filtering => &PLAYBOOK_FILTER,
        Step::Hosts if state.hosts.edit.is_some() => &HOST_FORM,
        Step::Hosts if state.hosts.save_as.is_some() => &SAVE_AS,
        Step::Execute if state.exec.filtering => &EXECUTE_FILTER,
        Step::Health if state.health.standalone => &HEALTH_WATCH,
        step => of_step(step),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&Keymap] = &[
        &GLOBAL,
        &DIALOG,
        &PLAYBOOK,
        &PLAYBOOK_FILTER,
        &VARIABLES,
        &HOSTS,
        &HOST_FORM,
        &SAVE_AS,
        &REVIEW,
        &EXECUTE,
        &EXECUTE_FILTER,
        &HEALTH,
        &HEALTH_WATCH,
    ];

    /// The help overlays: each step's, and the lines every screen adds.
    const HELP: &[&Keymap] = &[
        &GLOBAL, &PLAYBOOK, &VARIABLES, &HOSTS, &REVIEW, &EXECUTE, &HEALTH,
    ];

    /// A hint or help line for a key that does nothing on its screen would lie. (A sub-screen
    /// such as a filter or a form shows its step's help, checked with the step.)
    #[test]
    fn every_label_names_intents_its_screen_binds() {
        for map in ALL {
            let bound = |i: &Intent| map.bindings.iter().any(|(b, _)| b == i);
            for label in map.hints {
                for i in label.intents {
                    assert!(bound(i), "hint {:?} names unbound {i:?}", label.keys);
                }
            }
        }
        for map in HELP {
            let bound = |i: &Intent| map.bindings.iter().any(|(b, _)| b == i);
            for label in map.help {
                for i in label.intents {
                    assert!(bound(i), "help {:?} names unbound {i:?}", label.keys);
                }
            }
        }
    }

    /// Every key a step's screen acts on is in its help (the overlay is where keys are found).
    /// The forms' letter shortcuts for booleans and choices (y/t/n/f, h/l) are the exception.
    #[test]
    fn every_bound_key_is_in_the_help() {
        let exceptions = [SetTrue, SetFalse];
        for map in HELP {
            for (i, _) in map.bindings {
                assert!(
                    exceptions.contains(i) || map.help.iter().any(|l| l.intents.contains(i)),
                    "{i:?} is bound but not in the help"
                );
            }
        }
    }

    /// While a save-as path is typed, letters are text: the key bar shows Enter and Esc, not the
    /// Hosts letters (it used to).
    #[test]
    fn the_key_bar_follows_what_the_screen_takes() {
        let mut s = crate::app::fixture::state();
        s.step = Step::Hosts;
        assert!(std::ptr::eq(current(&s), &HOSTS));
        s.hosts.save_as = Some(tui_input::Input::default());
        assert!(std::ptr::eq(current(&s), &SAVE_AS));
        let keys: Vec<&str> = current(&s).hints.iter().map(|l| l.keys).collect();
        assert_eq!(keys, ["Enter", "Esc"]);
        s.step = Step::Health;
        s.health.standalone = true;
        assert!(std::ptr::eq(current(&s), &HEALTH_WATCH));
    }

    #[test]
    fn keys_match_with_the_modifiers_they_need() {
        let ev = |code, mods| KeyEvent::new(code, mods);
        assert_eq!(
            VARIABLES.intent(&ev(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Some(Submit)
        );
        assert_eq!(
            VARIABLES.intent(&ev(KeyCode::Char('s'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(
            GLOBAL.intent(&ev(KeyCode::Char('q'), KeyModifiers::CONTROL)),
            None
        );
        assert_eq!(
            HOSTS.intent(&ev(KeyCode::Char('T'), KeyModifiers::SHIFT)),
            Some(TestAll)
        );
    }
}
