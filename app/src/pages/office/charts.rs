//! SVG charts for the office: plain bars with their numbers written beside them, dark on white,
//! so they stay readable on a black-and-white printout. The geometry is pure and tested.

use leptos::prelude::*;

/// Width of the bar area, in SVG units.
const BAR_AREA: f64 = 360.0;
/// The width one label character takes at the labels' font size (a full-width character).
const LABEL_CHAR_WIDTH: f64 = 13.0;
const ROW_HEIGHT: f64 = 24.0;

/// The length of a bar for `value` when `max` fills the area (0 for an empty chart).
pub fn bar_length(value: f64, max: f64) -> f64 {
    if max <= 0.0 || value <= 0.0 {
        0.0
    } else {
        (value / max).min(1.0) * BAR_AREA
    }
}

/// One horizontal bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Its label (a district, an indicator).
    pub label: String,
    /// Its value.
    pub value: f64,
    /// The text written after the bar (the value, or "12 / 100人").
    pub caption: String,
}

/// Horizontal bars, with an optional marker line at `marker` (a target) on the same scale.
#[component]
pub fn HorizontalBars(
    title: String,
    bars: Vec<Bar>,
    #[prop(default = None)] marker: Option<(f64, String)>,
) -> impl IntoView {
    let max = bars
        .iter()
        .map(|b| b.value)
        .chain(marker.iter().map(|(m, _)| *m))
        .fold(0.0, f64::max);
    let height = ROW_HEIGHT * (bars.len() as f64) + 30.0;
    // As wide as the longest label, so none is cut at the left edge.
    let longest = bars.iter().map(|b| b.label.chars().count()).max();
    let label_width = longest.unwrap_or(0) as f64 * LABEL_CHAR_WIDTH + 12.0;
    let width = label_width + BAR_AREA + 190.0;
    let rows = bars
        .into_iter()
        .enumerate()
        .map(|(i, bar)| {
            let y = 20.0 + ROW_HEIGHT * i as f64;
            let length = bar_length(bar.value, max);
            view! {
                <g>
                    <text x=label_width - 6.0 y=y + 15.0 text-anchor="end" font-size="13" fill="#111">{bar.label}</text>
                    <rect x=label_width y=y + 3.0 width=length height=ROW_HEIGHT - 8.0 fill="#2f5d8a"></rect>
                    <text x=label_width + length + 6.0 y=y + 15.0 font-size="12" fill="#111">{bar.caption}</text>
                </g>
            }
        })
        .collect_view();
    let marker_view = marker.map(|(value, label)| {
        let x = label_width + bar_length(value, max);
        view! {
            <g>
                <line x1=x y1="14" x2=x y2=height - 8.0 stroke="#b3261e" stroke-width="2" stroke-dasharray="5 3"></line>
                <text x=x y="11" text-anchor="middle" font-size="11" fill="#b3261e">{label}</text>
            </g>
        }
    });
    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {width} {height}")
                width="100%"
                role="img"
                aria-label=title.clone()
                xmlns="http://www.w3.org/2000/svg"
            >
                <rect x="0" y="0" width=width height=height fill="#fff"></rect>
                {rows}
                {marker_view}
            </svg>
            <figcaption>{title}</figcaption>
        </figure>
    }
}

/// One column of a column chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its label (a month).
    pub label: String,
    /// Its value.
    pub value: f64,
    /// Written above the column.
    pub caption: String,
}

/// Vertical columns (trainings per month).
#[component]
pub fn Columns(title: String, columns: Vec<Column>) -> impl IntoView {
    const PLOT_HEIGHT: f64 = 160.0;
    const STEP: f64 = 44.0;
    let max = columns.iter().map(|c| c.value).fold(0.0, f64::max);
    let width = STEP * columns.len() as f64 + 20.0;
    let height = PLOT_HEIGHT + 50.0;
    let bars = columns
        .into_iter()
        .enumerate()
        .map(|(i, column)| {
            let x = 10.0 + STEP * i as f64;
            let h = bar_length(column.value, max) / BAR_AREA * PLOT_HEIGHT;
            let top = 20.0 + PLOT_HEIGHT - h;
            view! {
                <g>
                    <rect x=x + 6.0 y=top width=STEP - 12.0 height=h fill="#2f5d8a"></rect>
                    <text x=x + STEP / 2.0 y=top - 4.0 text-anchor="middle" font-size="12" fill="#111">{column.caption}</text>
                    <text x=x + STEP / 2.0 y=PLOT_HEIGHT + 38.0 text-anchor="middle" font-size="12" fill="#111">{column.label}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {width} {height}")
                width="100%"
                role="img"
                aria-label=title.clone()
                xmlns="http://www.w3.org/2000/svg"
            >
                <rect x="0" y="0" width=width height=height fill="#fff"></rect>
                <line x1="10" y1=PLOT_HEIGHT + 20.0 x2=width - 10.0 y2=PLOT_HEIGHT + 20.0 stroke="#111"></line>
                {bars}
            </svg>
            <figcaption>{title}</figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_never_overflow() {
        assert_eq!(bar_length(173.0, 173.0), BAR_AREA);
        assert_eq!(bar_length(0.0, 173.0), 0.0);
        assert_eq!(bar_length(5.0, 0.0), 0.0);
        assert_eq!(bar_length(400.0, 100.0), BAR_AREA);
        assert!((bar_length(50.0, 100.0) - BAR_AREA / 2.0).abs() < 1e-9);
    }
}
