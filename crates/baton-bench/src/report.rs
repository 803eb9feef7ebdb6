//! The results table: one row per figure, with its spread, its target and how it compares.

use crate::stats::Samples;

/// What a figure should reach.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
}

/// One line of the table.
pub struct Row {
    pub figure: String,
    pub unit: &'static str,
    pub samples: Samples,
    /// Print p50/p90/p99 (meaningful for distributions, not for a single total).
    pub spread: bool,
    pub target: Option<Target>,
    /// Overrides the ratio column (say, Baton ÷ Temporal).
    pub ratio: Option<String>,
}

impl Row {
    pub fn new(figure: impl Into<String>, unit: &'static str, samples: Samples) -> Self {
        Row {
            figure: figure.into(),
            unit,
            samples,
            spread: true,
            target: None,
            ratio: None,
        }
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub fn no_spread(mut self) -> Self {
        self.spread = false;
        self
    }

    pub fn ratio(mut self, text: String) -> Self {
        self.ratio = Some(text);
        self
    }

    fn cells(&self) -> [String; 8] {
        let number = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), format_number);
        let spread = |p: f64| {
            if self.spread {
                number(self.samples.percentile(p))
            } else {
                String::new()
            }
        };
        let median = self.samples.median();
        let target = match self.target {
            Some(Target::AtMost(limit)) => format!("≤ {}", format_number(limit)),
            Some(Target::AtLeast(floor)) => format!("≥ {}", format_number(floor)),
            None => String::new(),
        };
        let ratio = self
            .ratio
            .clone()
            .unwrap_or_else(|| match (self.target, median) {
                (Some(Target::AtMost(limit)), Some(value)) => {
                    verdict(value / limit, value <= limit)
                }
                (Some(Target::AtLeast(floor)), Some(value)) => {
                    verdict(value / floor, value >= floor)
                }
                _ => String::new(),
            });
        [
            self.figure.clone(),
            self.unit.to_owned(),
            self.samples.count().to_string(),
            number(median),
            spread(50.0),
            spread(90.0),
            spread(99.0),
            format!("{target:<9} {ratio}").trim_end().to_owned(),
        ]
    }
}

fn verdict(ratio: f64, met: bool) -> String {
    format!("{ratio:.2}× target, {}", if met { "met" } else { "MISSED" })
}

/// Three significant figures, no exponent.
fn format_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// Prints the rows as an aligned table, with the notes under it.
pub fn print(title: &str, rows: &[Row], notes: &[String]) {
    let header = [
        "figure",
        "unit",
        "n",
        "median",
        "p50",
        "p90",
        "p99",
        "target, ratio",
    ];
    let cells: Vec<[String; 8]> = rows.iter().map(Row::cells).collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            let pad = width.saturating_sub(cell.chars().count());
            // Text columns left, numbers right.
            if matches!(i, 0 | 1 | 7) {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
            out.push_str("  ");
        }
        out.trim_end().to_owned()
    };
    println!("\n{title}");
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let head = line(&header);
    println!("{head}");
    println!("{}", "-".repeat(head.chars().count()));
    for row in &cells {
        println!("{}", line(row));
    }
    for note in notes {
        println!("  * {note}");
    }
}
