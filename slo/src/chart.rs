//! `slo report --chart FILE.svg`: the error-budget burn-down of each SLO over its window, one
//! panel per SLO, with the even-spending line for comparison.

use std::path::Path;

use plotters::prelude::*;

use crate::backtest::Backtest;
use crate::report::Report;

#[derive(Debug, thiserror::Error)]
#[error("cannot draw {path}: {message}")]
pub struct ChartError {
    path: String,
    message: String,
}

const PANEL_HEIGHT: u32 = 260;
const WIDTH: u32 = 960;

/// Draws the burn-down panels of `report` into an SVG file at `path`.
pub fn burn_down(report: &Report, path: &Path) -> Result<(), ChartError> {
    let fail = |message: String| ChartError {
        path: path.display().to_string(),
        message,
    };
    let panels = u32::try_from(report.slos.len().max(1)).unwrap_or(1);
    let root = SVGBackend::new(path, (WIDTH, PANEL_HEIGHT * panels)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let areas = root.split_evenly((report.slos.len().max(1), 1));
    for (slo, area) in report.slos.iter().zip(areas) {
        let start = slo.window_start_ms;
        let end = report.at_ms.max(start + 1);
        #[allow(clippy::cast_precision_loss)]
        let days = |t: i64| (t - start) as f64 / 86_400_000.0;
        let lowest = slo
            .burn_down
            .iter()
            .map(|(_, remaining)| remaining * 100.0)
            .fold(0.0_f64, f64::min);
        let remaining = slo.budget.remaining.map_or_else(
            || "no data".to_owned(),
            |r| format!("{:.1} % left", r * 100.0),
        );
        let caption = format!(
            "{}: target {:.2} %, {}, budget {remaining}",
            slo.display_name,
            slo.target * 100.0,
            slo.window
        );
        let mut chart = ChartBuilder::on(&area)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..days(end), (lowest - 5.0)..105.0)
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("days into the window")
            .y_desc("budget left (%)")
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        // Spending the budget evenly over the window ends at 0 % exactly at its end.
        chart
            .draw_series(LineSeries::new(
                [(0.0, 100.0), (days(end), 0.0)],
                BLACK.mix(0.3),
            ))
            .map_err(|e| fail(e.to_string()))?;
        chart
            .draw_series(LineSeries::new(
                slo.burn_down
                    .iter()
                    .map(|(t, remaining)| (days(*t), remaining * 100.0)),
                BLUE.stroke_width(2),
            ))
            .map_err(|e| fail(e.to_string()))?;
    }
    root.present().map_err(|e| fail(e.to_string()))
}

/// `slo backtest --chart FILE.svg`: per SLO, the burn rate over the trailing hour through the
/// replayed stretch, with the stretches where a page (red) or a ticket (orange) fired.
pub fn timeline(backtest: &Backtest, path: &Path) -> Result<(), ChartError> {
    let fail = |message: String| ChartError {
        path: path.display().to_string(),
        message,
    };
    let panels = u32::try_from(backtest.slos.len().max(1)).unwrap_or(1);
    let root = SVGBackend::new(path, (WIDTH, PANEL_HEIGHT * panels)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let areas = root.split_evenly((backtest.slos.len().max(1), 1));
    let (from, to) = (backtest.from_ms, backtest.to_ms.max(backtest.from_ms + 1));
    #[allow(clippy::cast_precision_loss)]
    let days = |t: i64| (t - from) as f64 / 86_400_000.0;
    for (slo, area) in backtest.slos.iter().zip(areas) {
        let highest = slo
            .burn
            .iter()
            .map(|(_, rate)| *rate)
            .fold(2.0_f64, f64::max);
        let caption = format!(
            "{}: {} pages, {} tickets; burn rate over the trailing hour",
            slo.display_name,
            slo.pages.len(),
            slo.tickets.len()
        );
        let mut chart = ChartBuilder::on(&area)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..days(to), 0.0..highest * 1.05)
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("days into the replay")
            .y_desc("burn rate")
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        for (firings, colour) in [(&slo.tickets, RGBColor(255, 127, 14)), (&slo.pages, RED)] {
            chart
                .draw_series(firings.iter().map(|f| {
                    let end = f.end_ms.unwrap_or(to);
                    Rectangle::new(
                        [(days(f.start_ms), 0.0), (days(end), highest * 1.05)],
                        colour.mix(0.25).filled(),
                    )
                }))
                .map_err(|e| fail(e.to_string()))?;
        }
        // A burn rate of 1 spends the budget exactly over the window.
        chart
            .draw_series(LineSeries::new(
                [(0.0, 1.0), (days(to), 1.0)],
                BLACK.mix(0.3),
            ))
            .map_err(|e| fail(e.to_string()))?;
        chart
            .draw_series(LineSeries::new(
                slo.burn.iter().map(|(t, rate)| (days(*t), *rate)),
                BLUE.stroke_width(1),
            ))
            .map_err(|e| fail(e.to_string()))?;
    }
    root.present().map_err(|e| fail(e.to_string()))
}
