//! `piw-monitor`: watching and steering a running master over its status and control
//! queues (piwheels.md §3.3), byte for byte as the original's monitor does.
//!
//! - [`model`]: what the monitor knows, from the status messages alone (unit-tested
//!   without sockets or a terminal);
//! - [`conn`]: the two sockets, and `HELLO` said until the master answers with its replay;
//! - [`app`]: the keys and screens; [`ui`]: drawing them with ratatui;
//! - [`run_tui`], [`once`] and [`watch`]: the full-screen monitor, one JSON snapshot, and
//!   one line per change (the last two need no terminal).

pub mod app;
pub mod conn;
pub mod model;
pub mod ui;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use chrono::Utc;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use self::app::{Action, App, Key, Outcome};
use self::conn::{Connection, MonitorError};
use self::model::Model;

/// How long `--once` waits after the last replayed message before it takes its snapshot.
pub const SETTLE: Duration = Duration::from_millis(500);

/// Takes in the master's replay and gives one snapshot of it as JSON.
///
/// # Errors
///
/// As [`Connection::settle`]: no master answered within `deadline`.
pub fn once(conn: &mut Connection, deadline: Duration) -> Result<serde_json::Value, MonitorError> {
    let mut model = Model::new();
    conn.settle(&mut model, deadline, SETTLE)?;
    Ok(model.to_json(Utc::now()))
}

/// Prints a line to `out` each time something shown changes, until `stop` says so (or for
/// ever). A write error (the reader went away) ends it.
///
/// # Errors
///
/// As [`Connection::pump`]; a write error is [`MonitorError::Socket`]-free and ends
/// quietly.
pub fn watch(
    conn: &mut Connection,
    out: &mut impl Write,
    mut stop: impl FnMut() -> bool,
) -> Result<(), MonitorError> {
    let mut model = Model::new();
    let mut printed: BTreeMap<String, String> = BTreeMap::new();
    // The replay first, so that its history does not print a line a sample.
    let mut settled = false;
    while !stop() {
        if !settled {
            match conn.settle(&mut model, Duration::from_secs(1), SETTLE) {
                Ok(()) => settled = true,
                Err(MonitorError::Silent { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        conn.pump(&mut model, Duration::from_millis(250))?;
        let now = Utc::now();
        for (key, line) in model.summaries(now) {
            if printed.get(&key) != Some(&line) {
                let stamp = now.format("%Y-%m-%dT%H:%M:%SZ");
                if writeln!(out, "{stamp} {line}")
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return Ok(());
                }
                printed.insert(key, line);
            }
        }
    }
    Ok(())
}

fn key_of(code: KeyCode) -> Option<Key> {
    Some(match code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::F(1) => Key::F1,
        _ => return None,
    })
}

/// Carries out an action: its control messages, in order; the status line says what
/// happened.
fn act(conn: &mut Connection, model: &mut Model, app: &mut App, action: Action) {
    for msg in action.messages() {
        if let Err(e) = conn.send(&msg) {
            app.message = format!("not sent: {e}");
            return;
        }
    }
    match action {
        Action::Pause => model.master.paused_by_us = Some(true),
        Action::Resume => model.master.paused_by_us = Some(false),
        _ => {}
    }
    app.message = action.done();
}

/// Runs the full-screen monitor until `q`.
///
/// # Errors
///
/// The terminal could not be set up or drawn on, or the status socket failed.
pub fn run_tui(conn: &mut Connection) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = tui_loop(conn, &mut terminal);
    ratatui::restore();
    result
}

fn tui_loop(conn: &mut Connection, terminal: &mut ratatui::DefaultTerminal) -> anyhow::Result<()> {
    let mut model = Model::new();
    let mut app = App::default();
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut dirty = true;
    loop {
        if conn.pump(&mut model, Duration::ZERO)? > 0 {
            dirty = true;
        }
        app.fix_selection(&model);
        // Times shown ("for 3m05s", "ago") move on by themselves: redraw each second.
        if dirty || last_draw.elapsed() >= Duration::from_secs(1) {
            let now = Utc::now();
            terminal.draw(|f| ui::draw(f, &model, &app, now))?;
            last_draw = Instant::now();
            dirty = false;
        }
        if !event::poll(Duration::from_millis(100))? {
            continue;
        }
        let Event::Key(k) = event::read()? else {
            dirty = true;
            continue;
        };
        if k.kind != KeyEventKind::Press {
            continue;
        }
        dirty = true;
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return Ok(());
        }
        let Some(key) = key_of(k.code) else { continue };
        match app.key(key, &model) {
            Outcome::Nothing => {}
            Outcome::Quit => return Ok(()),
            Outcome::Do(action) => act(conn, &mut model, &mut app, action),
        }
    }
}
