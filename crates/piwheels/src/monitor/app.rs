//! The terminal monitor's interaction, apart from drawing: which slave is selected, which
//! screen is up (the list, a slave's details, the help, a question), and what each key
//! does. A key gives at most one [`Action`] (its control messages) to send; destructive ones are asked
//! about first (`y` sends, anything else drops them).

use piwheels_protocol::monitor::ControlMessage;

use super::model::Model;

/// A key, reduced to what the monitor tells apart (so the key table is testable without a
/// terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character key.
    Char(char),
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// F1.
    F1,
}

/// What a key asks the master to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Pause the master and every slave (`SLEEP` for all).
    Pause,
    /// Resume them (`WAKE` for all).
    Resume,
    /// Stop a slave after its build (`KILL`: it gets `DIE` at its next `IDLE`).
    Stop(Target),
    /// Kill a slave now (`KILL`, then `SKIP` its build).
    Kill(Target),
    /// Abandon a slave's build (`SKIP`).
    Skip(Target),
    /// Put a slave to sleep (`SLEEP`).
    Sleep(Target),
    /// Wake a slave (`WAKE`: also clears stop, kill and skip marks).
    Wake(Target),
    /// Stop the master (`QUIT`).
    QuitMaster,
}

/// Which slaves an action is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One slave, by id.
    One(i64),
    /// Every slave.
    All,
}

impl Target {
    fn id(self) -> Option<i64> {
        match self {
            Target::One(id) => Some(id),
            Target::All => None,
        }
    }

    fn describe(self) -> String {
        match self {
            Target::One(id) => format!("slave {id}"),
            Target::All => "EVERY slave".to_owned(),
        }
    }
}

impl Action {
    /// The control messages that carry it out.
    pub fn messages(self) -> Vec<ControlMessage> {
        match self {
            Action::Pause => vec![ControlMessage::Sleep(None)],
            Action::Resume => vec![ControlMessage::Wake(None)],
            Action::Stop(t) => vec![ControlMessage::Kill(t.id())],
            Action::Kill(t) => vec![ControlMessage::Kill(t.id()), ControlMessage::Skip(t.id())],
            Action::Skip(t) => vec![ControlMessage::Skip(t.id())],
            Action::Sleep(t) => vec![ControlMessage::Sleep(t.id())],
            Action::Wake(t) => vec![ControlMessage::Wake(t.id())],
            Action::QuitMaster => vec![ControlMessage::Quit],
        }
    }

    /// Whether it is asked about first: everything that ends or abandons work, and every
    /// action on all slaves.
    pub fn destructive(self) -> bool {
        match self {
            Action::Stop(_) | Action::Kill(_) | Action::Skip(_) | Action::QuitMaster => true,
            Action::Sleep(t) | Action::Wake(t) => t == Target::All,
            Action::Pause | Action::Resume => false,
        }
    }

    /// The question asked before a destructive action.
    pub fn question(self) -> String {
        match self {
            Action::Stop(t) => format!("Stop {} after its current build?", t.describe()),
            Action::Kill(t) => format!("Kill {} now, abandoning its build?", t.describe()),
            Action::Skip(t) => format!("Abandon the current build of {}?", t.describe()),
            Action::Sleep(t) => format!("Put {} to sleep?", t.describe()),
            Action::Wake(t) => format!("Wake {}?", t.describe()),
            Action::QuitMaster => "Stop the MASTER?".to_owned(),
            Action::Pause => "Pause the master?".to_owned(),
            Action::Resume => "Resume the master?".to_owned(),
        }
    }

    /// What the status line says once it is sent.
    pub fn done(self) -> String {
        match self {
            Action::Pause => "asked the master to pause".to_owned(),
            Action::Resume => "asked the master to resume".to_owned(),
            Action::Stop(t) => format!("asked {} to stop", t.describe()),
            Action::Kill(t) => format!("asked {} to die now", t.describe()),
            Action::Skip(t) => format!("asked {} to skip its build", t.describe()),
            Action::Sleep(t) => format!("asked {} to sleep", t.describe()),
            Action::Wake(t) => format!("asked {} to wake", t.describe()),
            Action::QuitMaster => "asked the master to stop".to_owned(),
        }
    }
}

/// The keys, as the help screen lists them.
pub const KEYS: &[(&str, &str)] = &[
    ("Up/Down, j/k", "select a slave"),
    ("Enter", "show or hide the selected slave's details"),
    (
        "p / r",
        "pause / resume the master (sleep / wake every slave)",
    ),
    ("z / w", "put the selected slave to sleep / wake it"),
    (
        "t / T",
        "stop the selected slave / every slave after the build (asks)",
    ),
    ("x / X", "kill the selected slave / every slave now (asks)"),
    (
        "s / S",
        "skip the selected slave's / every slave's build (asks)",
    ),
    ("W", "wake every slave (asks)"),
    ("Q", "stop the master (asks)"),
    ("? / F1", "this help"),
    ("q", "quit the monitor (the farm runs on)"),
];

/// Which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The master and the slave table.
    List,
    /// The selected slave's details.
    Details,
    /// The key list.
    Help,
    /// A question about an action (y/n).
    Confirm(Action),
}

/// What a key leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing for the master.
    Nothing,
    /// Carry out the action.
    Do(Action),
    /// Quit the monitor.
    Quit,
}

/// The interaction state (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The screen up.
    pub screen: Screen,
    /// The selected slave's id.
    pub selected: Option<i64>,
    /// The status line (what was last done, or why not).
    pub message: String,
}

impl Default for App {
    fn default() -> Self {
        App {
            screen: Screen::List,
            selected: None,
            message: "press ? for help".to_owned(),
        }
    }
}

impl App {
    /// Keeps the selection on a slave that exists (the first, if it went away).
    pub fn fix_selection(&mut self, model: &Model) {
        if self
            .selected
            .is_none_or(|id| !model.slaves.contains_key(&id))
        {
            self.selected = model.slaves.keys().next().copied();
        }
    }

    fn move_selection(&mut self, model: &Model, down: bool) {
        let ids: Vec<i64> = model.slaves.keys().copied().collect();
        let Some(pos) = self
            .selected
            .and_then(|id| ids.iter().position(|&i| i == id))
        else {
            self.selected = ids.first().copied();
            return;
        };
        let next = if down {
            (pos + 1).min(ids.len() - 1)
        } else {
            pos.saturating_sub(1)
        };
        self.selected = Some(ids[next]);
    }

    /// Handles one key.
    pub fn key(&mut self, key: Key, model: &Model) -> Outcome {
        self.fix_selection(model);
        match self.screen {
            Screen::Confirm(action) => {
                self.screen = Screen::List;
                if key == Key::Char('y') || key == Key::Char('Y') {
                    return Outcome::Do(action);
                }
                self.message = "cancelled: nothing sent".to_owned();
                return Outcome::Nothing;
            }
            Screen::Help => {
                self.screen = Screen::List;
                return if key == Key::Char('q') {
                    Outcome::Quit
                } else {
                    Outcome::Nothing
                };
            }
            Screen::List | Screen::Details => {}
        }
        let one = |f: fn(Target) -> Action| self.selected.map(|id| f(Target::One(id)));
        let action = match key {
            Key::Char('q') => return Outcome::Quit,
            Key::Char('?') | Key::F1 => {
                self.screen = Screen::Help;
                return Outcome::Nothing;
            }
            Key::Esc => {
                self.screen = Screen::List;
                return Outcome::Nothing;
            }
            Key::Up | Key::Char('k') => {
                self.move_selection(model, false);
                return Outcome::Nothing;
            }
            Key::Down | Key::Char('j') => {
                self.move_selection(model, true);
                return Outcome::Nothing;
            }
            Key::Enter => {
                self.screen = match self.screen {
                    Screen::Details => Screen::List,
                    _ if self.selected.is_some() => Screen::Details,
                    other => other,
                };
                return Outcome::Nothing;
            }
            Key::Char('p') => Some(Action::Pause),
            Key::Char('r') => Some(Action::Resume),
            Key::Char('z') => one(Action::Sleep),
            Key::Char('w') => one(Action::Wake),
            Key::Char('t') => one(Action::Stop),
            Key::Char('x') => one(Action::Kill),
            Key::Char('s') => one(Action::Skip),
            Key::Char('T') => Some(Action::Stop(Target::All)),
            Key::Char('X') => Some(Action::Kill(Target::All)),
            Key::Char('S') => Some(Action::Skip(Target::All)),
            Key::Char('W') => Some(Action::Wake(Target::All)),
            Key::Char('Q') => Some(Action::QuitMaster),
            _ => return Outcome::Nothing,
        };
        match action {
            None => {
                self.message = "no slave selected".to_owned();
                Outcome::Nothing
            }
            Some(action) if action.destructive() => {
                self.screen = Screen::Confirm(action);
                Outcome::Nothing
            }
            Some(action) => Outcome::Do(action),
        }
    }
}
