//! Charts drawn on the server as SVG: the geometry is computed here, the template only places it.

use chrono::{Datelike, NaiveDate};

use crate::domain::ticket::Severity;

/// One horizontal bar of the severity chart.
pub struct SeverityBar {
    pub label: &'static str,
    pub slug: &'static str,
    pub count: i64,
    pub y: u32,
    pub width: u32,
    pub text_x: u32,
}

pub struct SeverityChart {
    pub width: u32,
    pub height: u32,
    pub bar_height: u32,
    pub label_width: u32,
    pub bars: Vec<SeverityBar>,
    pub description: String,
}

const SEVERITY_WIDTH: u32 = 520;
const SEVERITY_LABEL: u32 = 80;
const SEVERITY_BAR: u32 = 26;
const SEVERITY_GAP: u32 = 12;

/// Open incidents by severity, most severe on top.
pub fn severity_chart(counts: &[(Severity, i64)]) -> SeverityChart {
    let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let room = SEVERITY_WIDTH - SEVERITY_LABEL - 50;
    let bars: Vec<SeverityBar> = counts
        .iter()
        .enumerate()
        .map(|(i, (severity, count))| {
            let width = ((*count as f64 / max as f64) * f64::from(room)).round() as u32;
            SeverityBar {
                label: severity.name(),
                slug: severity.slug(),
                count: *count,
                y: i as u32 * (SEVERITY_BAR + SEVERITY_GAP),
                width,
                text_x: SEVERITY_LABEL + width + 6,
            }
        })
        .collect();
    let description = counts.iter().map(|(s, n)| format!("{s}: {n}")).collect::<Vec<_>>().join(", ");
    SeverityChart {
        width: SEVERITY_WIDTH,
        height: counts.len() as u32 * (SEVERITY_BAR + SEVERITY_GAP),
        bar_height: SEVERITY_BAR,
        label_width: SEVERITY_LABEL,
        bars,
        description: format!("Open incidents by severity. {description}."),
    }
}

/// One day of the activity chart: a bar for incidents opened and one for incidents closed.
pub struct ActivityDay {
    pub date: String,
    pub opened: i64,
    pub closed: i64,
    pub x_opened: u32,
    pub x_closed: u32,
    pub y_opened: u32,
    pub y_closed: u32,
    pub h_opened: u32,
    pub h_closed: u32,
    /// A date label under every fifth day.
    pub label: Option<String>,
    pub label_x: u32,
}

pub struct GridLine {
    pub y: u32,
    pub value: i64,
}

pub struct ActivityChart {
    pub width: u32,
    pub height: u32,
    pub plot_top: u32,
    pub plot_bottom: u32,
    pub plot_left: u32,
    pub bar_width: u32,
    pub days: Vec<ActivityDay>,
    pub grid: Vec<GridLine>,
    pub total_opened: i64,
    pub total_closed: i64,
    pub description: String,
}

const ACTIVITY_WIDTH: u32 = 640;
const ACTIVITY_HEIGHT: u32 = 220;
const PLOT_LEFT: u32 = 36;
const PLOT_TOP: u32 = 10;
const PLOT_BOTTOM: u32 = 190;

/// Incidents opened and closed per day over the last 30 days, from the totals of each day.
pub fn activity_chart(days: &[NaiveDate], totals: &[(i64, i64)]) -> ActivityChart {
    let opened: Vec<i64> = totals.iter().map(|t| t.0).collect();
    let closed: Vec<i64> = totals.iter().map(|t| t.1).collect();
    let max = opened.iter().chain(&closed).copied().max().unwrap_or(0).max(1);
    // A round top for the scale: 1, 2, 5, 10, 20, 50…
    let top =
        [1, 2, 5].iter().flat_map(|m| (0..7).map(move |e| m * 10i64.pow(e))).filter(|v| *v >= max).min().unwrap_or(max);
    let plot_height = PLOT_BOTTOM - PLOT_TOP;
    let scale = |v: i64| ((v as f64 / top as f64) * f64::from(plot_height)).round() as u32;
    let count = days.len().max(1) as u32;
    let slot = (ACTIVITY_WIDTH - PLOT_LEFT - 4) / count;
    let bar_width = (slot.saturating_sub(4) / 2).max(1);
    let chart_days = days
        .iter()
        .enumerate()
        .map(|(i, date)| {
            let x = PLOT_LEFT + 2 + i as u32 * slot;
            let (o, c) = (opened.get(i).copied().unwrap_or(0), closed.get(i).copied().unwrap_or(0));
            let (h_opened, h_closed) = (scale(o), scale(c));
            ActivityDay {
                date: date.to_string(),
                opened: o,
                closed: c,
                x_opened: x,
                x_closed: x + bar_width,
                y_opened: PLOT_BOTTOM - h_opened,
                y_closed: PLOT_BOTTOM - h_closed,
                h_opened,
                h_closed,
                label: (i % 5 == 0 || i + 1 == days.len()).then(|| format!("{:02}-{:02}", date.month(), date.day())),
                label_x: x + bar_width,
            }
        })
        .collect();
    let mut marks = vec![0, top / 2, top];
    marks.dedup();
    let grid = marks.into_iter().map(|value| GridLine { y: PLOT_BOTTOM - scale(value), value }).collect();
    let total_opened: i64 = opened.iter().sum();
    let total_closed: i64 = closed.iter().sum();
    let (first, last) = (days.first().copied().unwrap_or_default(), days.last().copied().unwrap_or_default());
    ActivityChart {
        width: ACTIVITY_WIDTH,
        height: ACTIVITY_HEIGHT,
        plot_top: PLOT_TOP,
        plot_bottom: PLOT_BOTTOM,
        plot_left: PLOT_LEFT,
        bar_width,
        days: chart_days,
        grid,
        total_opened,
        total_closed,
        description: format!(
            "Incidents opened and closed per day from {first} to {last}: {total_opened} opened and {total_closed} closed in all."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn the_chart_shows_each_days_totals() {
        let now = Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap();
        let days = crate::domain::activity::ActivityWindow::ending(now, chrono_tz::UTC).days;
        let mut totals = vec![(0, 0); 30];
        totals[29] = (3, 1);
        let chart = activity_chart(&days, &totals);
        assert_eq!((chart.total_opened, chart.total_closed), (3, 1));
        assert_eq!(chart.days[29].opened, 3);
        assert!(chart.days[29].h_opened > chart.days[29].h_closed);
    }

    #[test]
    fn bars_scale_to_the_largest_count() {
        let chart =
            severity_chart(&[(Severity::Critical, 5), (Severity::High, 10), (Severity::Medium, 0), (Severity::Low, 1)]);
        assert!(chart.bars[1].width > chart.bars[0].width && chart.bars[0].width > chart.bars[3].width);
        assert_eq!(chart.bars[2].width, 0);
        assert!(chart.description.contains("Critical: 5"));
    }
}
