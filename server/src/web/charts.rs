//! Charts as inline SVG drawn by the server: no script, no library, legible in print. A chart is a handful of
//! numbers the templates place into `<svg>` elements; nothing in it comes from a node as text.

use std::fmt::Write;

/// A daily score series: one value per day, `None` where nothing was measured.
pub type Series = Vec<Option<f64>>;

/// A small trend line for a table row.
#[derive(Debug, Clone)]
pub struct Sparkline {
    pub width: u32,
    pub height: u32,
    /// `x,y x,y ...` for a polyline; empty when no day had a score.
    pub points: String,
    /// A short description for screen readers and print.
    pub label: String,
}

/// A score chart with a 0–100 % axis and the first and last day.
#[derive(Debug, Clone)]
pub struct ScoreChart {
    pub width: u32,
    pub height: u32,
    pub left: u32,
    pub bottom: u32,
    pub points: String,
    /// Each gridline: its y and its label.
    pub gridlines: Vec<(u32, String)>,
    pub first_day: String,
    pub last_day: String,
    pub label: String,
}

/// The box a series is drawn in, and the score range its height spans.
#[derive(Debug, Clone, Copy)]
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    low: f64,
    high: f64,
}

fn frame(left: u32, top: u32, width: u32, height: u32) -> Frame {
    Frame {
        left: f64::from(left),
        top: f64::from(top),
        width: f64::from(width),
        height: f64::from(height),
        low: 0.0,
        high: 1.0,
    }
}

/// Polyline points for `series` in `frame`; missing days are skipped, so a gap is bridged by a straight line.
fn polyline(series: &[Option<f64>], frame: Frame) -> String {
    let mut points = String::new();
    let steps = series.len().saturating_sub(1).max(1) as f64;
    let span = (frame.high - frame.low).max(f64::EPSILON);
    for (index, value) in series.iter().enumerate() {
        let Some(value) = value else { continue };
        let share = ((value.clamp(0.0, 1.0) - frame.low) / span).clamp(0.0, 1.0);
        let x = frame.left + index as f64 / steps * frame.width;
        let y = frame.top + (1.0 - share) * frame.height;
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    points.trim_end().to_owned()
}

fn describe(series: &[Option<f64>]) -> String {
    let known: Vec<f64> = series.iter().flatten().copied().collect();
    match (known.first(), known.last()) {
        (Some(first), Some(last)) => format!(
            "score from {:.1}% to {:.1}% over {} days",
            first * 100.0,
            last * 100.0,
            series.len()
        ),
        _ => "no score in this period".to_owned(),
    }
}

/// A sparkline spans its own range (with a margin), so a move of a point or two shows; the label gives the
/// numbers.
pub fn sparkline(series: &[Option<f64>]) -> Sparkline {
    let (width, height) = (120, 24);
    let known = series.iter().flatten().copied();
    let low = known.clone().fold(f64::INFINITY, f64::min);
    let high = known.fold(f64::NEG_INFINITY, f64::max);
    let mut area = frame(0, 2, width, height - 4);
    if low.is_finite() && high.is_finite() {
        let margin = ((high - low) * 0.1).max(0.005);
        area.low = (low - margin).max(0.0);
        area.high = (high + margin).min(1.0);
    }
    Sparkline {
        width,
        height,
        points: polyline(series, area),
        label: describe(series),
    }
}

pub fn score_chart(series: &[Option<f64>], first_day: String, last_day: String) -> ScoreChart {
    let (width, height, left, bottom, top) = (640, 190, 40, 20, 10);
    let plot_height = height - bottom - top;
    ScoreChart {
        width,
        height,
        left,
        bottom,
        points: polyline(series, frame(left, top, width - left - 4, plot_height)),
        gridlines: [
            (top, "100%"),
            (top + plot_height / 2, "50%"),
            (top + plot_height, "0%"),
        ]
        .into_iter()
        .map(|(y, label)| (y, label.to_owned()))
        .collect(),
        first_day,
        last_day,
        label: describe(series),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_maps_its_extremes_to_the_edges_and_skips_gaps() {
        let line = polyline(&[Some(1.0), None, Some(0.0)], frame(0, 0, 100, 10));
        assert_eq!(line, "0.0,0.0 100.0,10.0");
        assert_eq!(polyline(&[None, None], frame(0, 0, 100, 10)), "");
        // Out-of-range values are held to the box, never drawn outside it.
        assert_eq!(polyline(&[Some(7.0)], frame(5, 3, 100, 10)), "5.0,3.0");
    }

    #[test]
    fn a_sparkline_spans_its_own_range() {
        let spark = sparkline(&[Some(0.90), Some(0.92)]);
        // 0.90 sits near the bottom and 0.92 near the top, not both squeezed near the top.
        let ys: Vec<f64> = spark
            .points
            .split(' ')
            .filter_map(|point| point.split(',').nth(1)?.parse().ok())
            .collect();
        assert_eq!(ys.len(), 2, "{}", spark.points);
        assert!(ys[0] - ys[1] > 8.0, "{}", spark.points);
    }

    #[test]
    fn the_label_says_where_the_score_went() {
        assert_eq!(
            describe(&[Some(0.5), None, Some(0.75)]),
            "score from 50.0% to 75.0% over 3 days"
        );
        assert_eq!(describe(&[None]), "no score in this period");
    }
}
