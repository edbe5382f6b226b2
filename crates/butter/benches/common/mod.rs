//! Interleaved measurement for the benchmarks whose comparison must be paired.
//!
//! The implementations of one table run round by round in a rotating order; the table shows
//! each one's median and the median of its per-round ratios to the first (the baseline).
//! This machine's speed drifts over seconds, so a ratio taken within one round is what
//! compares fairly.

use std::time::Instant;

/// One implementation: a name and a function that runs one measurement and returns its
/// figure (higher is better when `higher_is_better`).
pub struct Cell<'a> {
    pub name: &'a str,
    pub run: Box<dyn FnMut() -> f64 + 'a>,
}

/// A command-line option `name N`, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect(name))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `cells` for `rounds` interleaved rounds after one warm-up each, and prints the table
/// titled `title` with figures in `unit`, scaled by `scale`.
pub fn table(title: &str, unit: &str, scale: f64, rounds: usize, mut cells: Vec<Cell<'_>>) {
    for c in cells.iter_mut() {
        (c.run)();
    }
    let mut figures = vec![Vec::new(); cells.len()];
    let started = Instant::now();
    for round in 0..rounds {
        for k in 0..cells.len() {
            let i = (k + round) % cells.len();
            figures[i].push((cells[i].run)());
        }
    }
    println!(
        "\n{title}; {rounds} interleaved rounds in {:.1?}",
        started.elapsed()
    );
    println!(
        "{:<32} {:>14} {:>20} {:>14}",
        "implementation",
        unit,
        "min-max",
        format!(
            "vs {}",
            cells[0].name.split(' ').next().unwrap_or("baseline")
        )
    );
    for (i, c) in cells.iter().enumerate() {
        let f = &figures[i];
        let ratios: Vec<f64> = f.iter().zip(&figures[0]).map(|(x, b)| x / b).collect();
        let (lo, hi) = f
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        println!(
            "{:<32} {:>14.3} {:>20} {:>14.3}",
            c.name,
            median(f.clone()) * scale,
            format!("{:.3}-{:.3}", lo * scale, hi * scale),
            median(ratios)
        );
    }
}
