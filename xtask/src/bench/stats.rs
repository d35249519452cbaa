//! Runs, medians with ranges, and the one printed line per workload.

use std::collections::BTreeMap;

/// The figures of one run of one workload on one server.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Figure name → value (wall_s, up_bytes, down_bytes, server_rss_mb, server_cpu_s, …).
    pub figures: BTreeMap<&'static str, f64>,
    /// Whether the run's own check passed (every document verified, nothing failed).
    pub ok: bool,
    /// What failed, when it did.
    pub error: Option<String>,
}

impl Run {
    /// Sets a figure.
    pub fn set(&mut self, name: &'static str, value: f64) {
        self.figures.insert(name, value);
    }
}

/// The runs of one workload: nimo's and, when the reference is there, the reference's.
#[derive(Debug, Default)]
pub struct Comparison {
    /// nimo's runs.
    pub nimo: Vec<Run>,
    /// The reference's runs.
    pub reference: Vec<Run>,
}

/// Median and range of a figure over runs (None when no run has it).
pub fn summary(runs: &[Run], name: &str) -> Option<(f64, f64, f64)> {
    let mut xs: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.figures.get(name).copied())
        .collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    Some((median, xs[0], xs[n - 1]))
}

fn show(x: f64) -> String {
    if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// One line: for each figure, nimo's median with its range, the reference's, and nimo / reference.
pub fn line(label: &str, comparison: &Comparison, names: &[&str]) -> String {
    let mut out = String::from(label);
    for name in names {
        out.push_str(&format!(" | {name}"));
        match summary(&comparison.nimo, name) {
            Some((m, lo, hi)) => {
                out.push_str(&format!(" nimo {} [{}..{}]", show(m), show(lo), show(hi)))
            }
            None => out.push_str(" nimo n/a"),
        }
        if comparison.reference.is_empty() {
            continue;
        }
        match summary(&comparison.reference, name) {
            Some((m, lo, hi)) => {
                out.push_str(&format!(" ref {} [{}..{}]", show(m), show(lo), show(hi)));
                if let Some((n, _, _)) = summary(&comparison.nimo, name)
                    && m != 0.0
                {
                    out.push_str(&format!(" ×{:.3}", n / m));
                }
            }
            None => out.push_str(" ref n/a"),
        }
    }
    let ok = |runs: &[Run]| format!("{}/{}", runs.iter().filter(|r| r.ok).count(), runs.len());
    out.push_str(&format!(" | ok nimo {}", ok(&comparison.nimo)));
    if !comparison.reference.is_empty() {
        out.push_str(&format!(" ref {}", ok(&comparison.reference)));
    }
    for run in comparison.nimo.iter().chain(&comparison.reference) {
        if let Some(error) = &run.error {
            out.push_str(&format!("\n    failed run: {error}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(wall: f64) -> Run {
        let mut r = Run {
            ok: true,
            ..Run::default()
        };
        r.set("wall_s", wall);
        r
    }

    #[test]
    fn the_median_of_three_is_the_middle_one() {
        let runs = [run(3.0), run(1.0), run(2.0)];
        assert_eq!(summary(&runs, "wall_s"), Some((2.0, 1.0, 3.0)));
    }

    #[test]
    fn a_line_shows_the_ratio() {
        let c = Comparison {
            nimo: vec![run(1.0)],
            reference: vec![run(4.0)],
        };
        assert!(line("W1", &c, &["wall_s"]).contains("×0.250"));
    }
}
