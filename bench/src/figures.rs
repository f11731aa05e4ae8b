//! The figures of one run, the ratios the issue sets targets for, and how they are printed: one
//! line each, or one JSON document with `--json`.

use serde_json::{Value, json};

/// Everything measured in one run, by key, in the order measured.
#[derive(Debug, Default)]
pub struct Figures {
    figures: Vec<Figure>,
    notes: Vec<String>,
}

/// One measured number.
#[derive(Debug, Clone)]
pub struct Figure {
    /// A stable machine name, such as `batch_ingest_500`.
    pub key: String,
    pub label: String,
    pub value: f64,
    pub unit: &'static str,
}

/// A target: the ratio `numerator / denominator` must be at least, or at most, `bound`.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub numerator: &'static str,
    pub denominator: &'static str,
    pub bound: Bound,
}

#[derive(Debug, Clone, Copy)]
pub enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

/// A target's ratio as measured.
#[derive(Debug, Clone)]
pub struct Ratio {
    pub name: String,
    pub value: f64,
    pub bound: Bound,
}

impl Bound {
    fn met(self, value: f64) -> bool {
        match self {
            Bound::AtLeast(b) => value >= b,
            Bound::AtMost(b) => value <= b,
        }
    }

    fn show(self) -> String {
        match self {
            Bound::AtLeast(b) => format!("≥ {}", trim(b)),
            Bound::AtMost(b) => format!("≤ {}", trim(b)),
        }
    }
}

impl Figures {
    pub fn add(
        &mut self,
        key: impl Into<String>,
        label: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) {
        let figure = Figure {
            key: key.into(),
            label: label.into(),
            value,
            unit,
        };
        // Progress goes to stderr as it is measured; the summary goes to stdout at the end.
        eprintln!("  {}", show(&figure));
        self.figures.push(figure);
    }

    /// A remark printed with the figures: what was skipped and why, what limited a phase.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  note: {note}");
        self.notes.push(note);
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.figures.iter().find(|f| f.key == key).map(|f| f.value)
    }

    /// The ratios of `targets` whose two figures were both measured.
    pub fn ratios(&self, targets: &[Target]) -> Vec<Ratio> {
        targets
            .iter()
            .filter_map(|t| {
                let (n, d) = (self.get(t.numerator)?, self.get(t.denominator)?);
                (d > 0.0).then(|| Ratio {
                    name: format!(
                        "{} / {}",
                        self.label(t.numerator),
                        self.label(t.denominator)
                    ),
                    value: n / d,
                    bound: t.bound,
                })
            })
            .collect()
    }

    /// Every figure and ratio, one per line.
    pub fn text(&self, targets: &[Target]) -> String {
        let mut out = String::from("figures:\n");
        for figure in &self.figures {
            out.push_str(&format!("  {}\n", show(figure)));
        }
        out.push_str("ratios:\n");
        let ratios = self.ratios(targets);
        if ratios.is_empty() {
            out.push_str("  (none: a figure of each pair is missing)\n");
        }
        for ratio in ratios {
            out.push_str(&format!(
                "  {} = {} (target {}){}\n",
                ratio.name,
                round(ratio.value),
                ratio.bound.show(),
                if ratio.bound.met(ratio.value) {
                    ""
                } else {
                    "  MISSED"
                }
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }

    /// The same as a JSON document.
    pub fn json(&self, targets: &[Target], context: Value) -> Value {
        let figures: serde_json::Map<String, Value> = self
            .figures
            .iter()
            .map(|f| {
                (
                    f.key.clone(),
                    json!({"label": f.label, "value": f.value, "unit": f.unit}),
                )
            })
            .collect();
        let ratios: Vec<Value> = self
            .ratios(targets)
            .into_iter()
            .map(|r| {
                let (op, bound) = match r.bound {
                    Bound::AtLeast(b) => (">=", b),
                    Bound::AtMost(b) => ("<=", b),
                };
                json!({
                    "name": r.name,
                    "value": r.value,
                    "target": {"op": op, "bound": bound},
                    "met": r.bound.met(r.value),
                })
            })
            .collect();
        json!({"context": context, "figures": figures, "ratios": ratios, "notes": self.notes})
    }

    fn label(&self, key: &str) -> String {
        self.figures
            .iter()
            .find(|f| f.key == key)
            .map_or_else(|| key.to_owned(), |f| f.label.clone())
    }
}

fn show(figure: &Figure) -> String {
    format!("{}: {} {}", figure.label, round(figure.value), figure.unit)
}

/// Three significant digits at least, no more decimals than that needs.
fn round(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}
