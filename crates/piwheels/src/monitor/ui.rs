//! Drawing the monitor with ratatui: the master at the top, the slave table below, a
//! status line, and the details, help and question boxes over them. Everything drawn comes
//! from the [`Model`] and the [`App`]; nothing here changes them.

use chrono::{DateTime, TimeDelta, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};

use super::app::{App, KEYS, Screen};
use super::model::{Model, SlaveView};

/// A figure not there yet.
pub const NONE: &str = "–";

/// A duration as `3d04h`, `1h02m`, `3m05s` or `12s`.
pub fn duration(d: TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins, secs) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{mins:02}m")
    } else if mins > 0 {
        format!("{mins}m{secs:02}s")
    } else {
        format!("{secs}s")
    }
}

/// A size in bytes as `512B`, `1.5K`, `3.2G` (powers of 1024).
pub fn bytes(n: i64) -> String {
    let mut v = n as f64;
    for unit in ["B", "K", "M", "G", "T"] {
        if v.abs() < 1024.0 || unit == "T" {
            return if unit == "B" {
                format!("{n}B")
            } else {
                format!("{v:.1}{unit}")
            };
        }
        v /= 1024.0;
    }
    format!("{n}B")
}

/// `abi n, abi n` or `none`.
fn per_target<'a>(map: impl IntoIterator<Item = (&'a String, &'a i64)>) -> String {
    let parts: Vec<String> = map.into_iter().map(|(k, v)| format!("{k} {v}")).collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The master's lines.
pub fn master_lines(model: &Model, now: DateTime<Utc>) -> Vec<String> {
    let m = &model.master;
    let (label, uptime) = match &m.hello {
        Some(h) => (h.label.clone(), duration(now - h.started)),
        None => ("(waiting for the master)".to_owned(), NONE.to_owned()),
    };
    let mut lines = vec![format!(
        "Master {label}  state: {}  uptime: {uptime}",
        model.master_state(now)
    )];
    match &m.stats {
        Some(s) => {
            let built: i64 = s.builds_last_hour.values().sum();
            lines.push(format!(
                "Build rate: {built}/hour ({})   Queue: {}",
                per_target(&s.builds_last_hour),
                per_target(&s.builds_pending)
            ));
            lines.push(format!(
                "Disk: {} free of {}   Files: {}   Packages built: {}   New last hour: {}",
                bytes(s.disk_free),
                bytes(s.disk_size),
                s.files_count,
                s.packages_built,
                s.new_last_hour
            ));
            lines.push(format!(
                "Downloads: {} last hour, {} last month, {} in all   Load: {:.2}",
                s.downloads_last_hour, s.downloads_last_month, s.downloads_all, s.load_average
            ));
        }
        None => {
            lines.push(format!("Build rate: {NONE}   Queue: {NONE}"));
            lines.push(format!("Disk: {NONE}   Files: {NONE}"));
            lines.push(format!("Downloads: {NONE}"));
        }
    }
    lines.push(format!(
        "Bad messages: {}{}",
        model.bad_messages,
        model
            .last_bad
            .as_ref()
            .map(|b| format!(" (last: {b})"))
            .unwrap_or_default()
    ));
    lines
}

/// A slave's table row: id, label, target, state, build, for how long, last seen, OS,
/// board, Python.
pub fn slave_row(s: &SlaveView, now: DateTime<Utc>) -> [String; 10] {
    let hello = s.hello.as_ref();
    let (build, took) = match s.current_build(now) {
        Some((job, took)) => (format!("{} {}", job.package, job.version), duration(took)),
        None => (NONE.to_owned(), NONE.to_owned()),
    };
    [
        s.id.to_string(),
        s.label().to_owned(),
        s.target(),
        s.state_text(now),
        build,
        took,
        format!("{} ago", duration(now - s.last_seen)),
        hello.map_or(NONE.to_owned(), |h| {
            format!("{} {}", h.os_name, h.os_version)
        }),
        hello.map_or(NONE.to_owned(), |h| h.board_revision.clone()),
        hello.map_or(NONE.to_owned(), |h| h.py_version.clone()),
    ]
}

/// The selected slave's details.
pub fn slave_details(s: &SlaveView, now: DateTime<Utc>) -> Vec<String> {
    let row = slave_row(s, now);
    let mut lines = vec![
        format!("Slave {}  {}", s.id, row[1]),
        format!("State: {}", row[3]),
        format!("Build: {}  for {}", row[4], row[5]),
        format!("Last seen: {}", row[6]),
        format!(
            "First seen: {}",
            s.first_seen.map_or(NONE.to_owned(), |t| format!(
                "{} ({} ago)",
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                duration(now - t)
            ))
        ),
    ];
    if let Some(file) = &s.sending {
        lines.push(format!("Sending: {file}"));
    }
    match &s.hello {
        Some(h) => {
            lines.push(format!(
                "Python: {}  ABI: {}  Platform: {}",
                h.py_version, h.abi, h.platform
            ));
            lines.push(format!("OS: {} {}", h.os_name, h.os_version));
            lines.push(format!(
                "Board: revision {}, serial {}",
                h.board_revision, h.board_serial
            ));
            lines.push(format!(
                "Timeouts: build {}, busy {}",
                duration(h.build_timeout),
                duration(h.busy_timeout)
            ));
        }
        None => lines.push(format!("Machine: {NONE} (its HELLO was not heard)")),
    }
    match &s.stats {
        Some(st) => {
            lines.push(format!(
                "Disk: {} free of {}   Memory: {} free of {}   Swap: {} free of {}",
                bytes(st.disk_free),
                bytes(st.disk_size),
                bytes(st.mem_free),
                bytes(st.mem_size),
                bytes(st.swap_free),
                bytes(st.swap_size)
            ));
            lines.push(format!(
                "Load: {:.2}   Temperature: {:.1}°C",
                st.load_average, st.cpu_temp
            ));
        }
        None => lines.push(format!("Resources: {NONE}")),
    }
    lines
}

const HEADER: [&str; 10] = [
    "#",
    "Label",
    "Target",
    "State",
    "Build",
    "For",
    "Last seen",
    "OS",
    "Board",
    "Python",
];

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, model: &Model, app: &App, now: DateTime<Utc>) {
    let master = master_lines(model, now);
    let [top, table, status] = Layout::vertical([
        Constraint::Length(master.len() as u16 + 2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let master: Vec<Line> = master.into_iter().map(Line::from).collect();
    frame.render_widget(
        Paragraph::new(master).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" piw-monitor "),
        ),
        top,
    );

    let selected = Style::default().add_modifier(Modifier::REVERSED);
    let rows: Vec<Row> = model
        .slave_list()
        .into_iter()
        .map(|s| {
            let row = Row::new(slave_row(s, now));
            if app.selected == Some(s.id) {
                row.style(selected)
            } else {
                row
            }
        })
        .collect();
    let widths = [
        Constraint::Length(4),
        Constraint::Min(10),
        Constraint::Min(10),
        Constraint::Length(11),
        Constraint::Min(12),
        Constraint::Length(7),
        Constraint::Length(10),
        Constraint::Min(8),
        Constraint::Length(8),
        Constraint::Length(6),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(HEADER).style(Style::default().add_modifier(Modifier::BOLD)))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" Slaves ({}) ", model.slaves.len())),
            ),
        table,
    );
    frame.render_widget(
        Paragraph::new(format!("{}   [? help, q quit]", app.message)),
        status,
    );

    match app.screen {
        Screen::List => {}
        Screen::Details => {
            if let Some(s) = app.selected.and_then(|id| model.slaves.get(&id)) {
                popup(
                    frame,
                    " Slave details (Enter closes) ",
                    slave_details(s, now),
                );
            }
        }
        Screen::Help => {
            let mut lines = vec!["Keys:".to_owned(), String::new()];
            lines.extend(KEYS.iter().map(|(k, what)| format!("  {k:<14} {what}")));
            lines.push(String::new());
            lines.push("Any key closes this help.".to_owned());
            popup(frame, " Help ", lines);
        }
        Screen::Confirm(action) => {
            popup(
                frame,
                " Confirm ",
                vec![
                    action.question(),
                    String::new(),
                    "y: yes   n: no".to_owned(),
                ],
            );
        }
    }
}

fn popup(frame: &mut Frame, title: &str, lines: Vec<String>) {
    let area = frame.area();
    let width =
        (lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 4).min(area.width);
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line> = lines.into_iter().map(Line::from).collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(title.to_owned()),
        ),
        rect,
    );
}
