//! `slo report` and `slo backtest` output: a text table for terminals, Markdown for pull
//! requests and chat, JSON for machines.

use std::fmt::Write;

use crate::backtest::{Backtest, Firing, SloReplay};
use crate::duration::Span;
use crate::report::{ColdStartReport, EdgeComparison, Report, SloReport, Status};

fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{:.3}%", v * 100.0))
}

fn num(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"))
}

fn status(report: &SloReport) -> &'static str {
    match report.status {
        Status::Met => "met",
        Status::Breached => "BREACHED",
        Status::TooFewEvents => "too few events",
        Status::NoData => "no data",
    }
}

fn timestamp(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// Rows of (label, value) for one SLO, shared by the text and Markdown renderings.
fn rows(r: &SloReport) -> Vec<(String, String)> {
    let rows: Vec<(&str, String)> = vec![
        ("target", pct(Some(r.target))),
        (
            "window",
            format!("{} from {}", r.window, timestamp(r.window_start_ms)),
        ),
        (
            "SLI",
            match &r.no_data_reason {
                Some(reason) => format!("{} ({}: {reason})", pct(r.sli), status(r)),
                None => format!("{} ({})", pct(r.sli), status(r)),
            },
        ),
        (
            "events good / total",
            format!("{} / {}", num(r.events.good), num(r.events.total)),
        ),
        (
            "budget in events (allowed / spent / left)",
            format!(
                "{} / {} / {}",
                num(r.budget.allowed_bad),
                num(r.budget.bad),
                num(r.budget.remaining_bad)
            ),
        ),
        (
            "budget consumed / remaining",
            format!("{} / {}", pct(r.budget.consumed), pct(r.budget.remaining)),
        ),
        (
            "burn rates",
            r.burn_rates
                .iter()
                .map(|b| format!("{} {}", b.lookback, rate(b.rate)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "alert firing now",
            r.firing
                .map_or_else(|| "none".into(), |t| format!("{t:?}").to_lowercase()),
        ),
        (
            "budget exhausted in (1h rate)",
            r.time_to_exhaustion.clone().unwrap_or_else(|| "-".into()),
        ),
        ("projected budget left", pct(r.projected_remaining)),
    ];
    let mut rows: Vec<(String, String)> =
        rows.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    // A composite's components, so the one spending the budget shows.
    for c in &r.components {
        let one_hour = c
            .report
            .burn_rates
            .iter()
            .find(|b| b.lookback == crate::duration::HOUR.to_string());
        rows.push((
            format!(
                "component {} (weight {})",
                c.report.name,
                rate(Some(c.weight))
            ),
            format!(
                "SLI {} ({}) against {}, budget consumed {}, 1h burn rate {}",
                pct(c.report.sli),
                status(&c.report),
                pct(Some(c.report.target)),
                pct(c.report.budget.consumed),
                rate(one_hour.and_then(|b| b.rate))
            ),
        ));
    }
    rows
}

/// Rows of an edge SLO beside its proxy view.
fn edge_rows(c: &EdgeComparison) -> Vec<(String, String)> {
    let events = |e: &crate::math::Events| format!("{} / {}", num(e.good), num(e.total));
    let mut rows = vec![(
        "SLI at the edge / at the proxy".to_owned(),
        format!("{} / {}", pct(c.edge_sli), pct(c.proxy_sli)),
    )];
    if let Some(reason) = &c.no_data_reason {
        rows.push(("difference".to_owned(), format!("- (no data: {reason})")));
        return rows;
    }
    rows.push((
        "difference (edge - proxy)".to_owned(),
        c.difference
            .map_or_else(|| "-".into(), |d| format!("{:+.3} points", d * 100.0)),
    ));
    rows.push((
        "events good / total at the edge".to_owned(),
        events(&c.edge_events),
    ));
    rows.push((
        "events good / total at the proxy".to_owned(),
        events(&c.proxy_events),
    ));
    if let (Some(outside), Some(busy)) = (c.failures_outside_proxy, c.proxy_busy) {
        rows.push((
            "failures outside the proxy".to_owned(),
            format!(
                "{} (edge bad {} - proxy bad {} - proxy 503 busy {})",
                num(outside),
                num(c.edge_events.bad()),
                num(c.proxy_events.bad()),
                num(busy)
            ),
        ));
    }
    rows
}

fn cold_rows(c: &ColdStartReport) -> Vec<(String, String)> {
    let mut rows = vec![
        ("endpoint".to_owned(), c.endpoint.clone()),
        (
            "cold starts / requests".to_owned(),
            format!(
                "{} / {} ({})",
                num(c.cold_starts),
                num(c.requests),
                pct(c.rate)
            ),
        ),
        (
            "cold-start latency p50 / p90 / p99".to_owned(),
            format!("{} / {} / {}", ms(c.p50_ms), ms(c.p90_ms), ms(c.p99_ms)),
        ),
    ];
    for part in &c.components {
        rows.push((
            format!("  {} p50 / p99", part.metric),
            format!("{} / {}", ms(part.p50_ms), ms(part.p99_ms)),
        ));
    }
    rows
}

pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "SLO report at {}", timestamp(report.at_ms));
    let section = |out: &mut String, title: &str, rows: Vec<(String, String)>| {
        let _ = writeln!(out, "\n{title}");
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in rows {
            let _ = writeln!(out, "  {key:<width$}  {value}");
        }
    };
    for slo in &report.slos {
        section(
            &mut out,
            &format!("{} ({})", slo.display_name, slo.name),
            rows(slo),
        );
    }
    for comparison in &report.edge {
        section(
            &mut out,
            &format!(
                "At the edge vs at the proxy ({} vs {})",
                comparison.edge, comparison.proxy
            ),
            edge_rows(comparison),
        );
    }
    if let Some(cold) = &report.cold_start {
        section(&mut out, "Cold starts", cold_rows(cold));
    }
    if let Some(reason) = &report.cold_start_unavailable {
        let _ = writeln!(out, "\nCold starts: unavailable ({reason})");
    }
    out
}

pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# SLO report at {}\n", timestamp(report.at_ms));
    let _ = writeln!(out, "| SLO | target | SLI | status | budget left | alert |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for slo in &report.slos {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            slo.display_name,
            pct(Some(slo.target)),
            pct(slo.sli),
            status(slo),
            pct(slo.budget.remaining),
            slo.firing
                .map_or_else(|| "none".into(), |t| format!("{t:?}").to_lowercase())
        );
    }
    let section = |out: &mut String, title: &str, rows: Vec<(String, String)>| {
        let _ = writeln!(out, "\n## {title}\n\n| | |\n|---|---|");
        for (key, value) in rows {
            let _ = writeln!(out, "| {key} | {value} |");
        }
    };
    for slo in &report.slos {
        section(&mut out, &slo.display_name, rows(slo));
    }
    for comparison in &report.edge {
        section(
            &mut out,
            &format!(
                "At the edge vs at the proxy ({} vs {})",
                comparison.edge, comparison.proxy
            ),
            edge_rows(comparison),
        );
    }
    if let Some(cold) = &report.cold_start {
        section(&mut out, "Cold starts", cold_rows(cold));
    }
    if let Some(reason) = &report.cold_start_unavailable {
        let _ = writeln!(out, "\n## Cold starts\n\nUnavailable: {reason}");
    }
    out
}

pub fn json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    text
}

fn firing_text(f: &Firing) -> String {
    match f.end_ms {
        Some(end) => format!(
            "{} for {}",
            timestamp(f.start_ms),
            Span((end - f.start_ms) / 1_000)
        ),
        None => format!("{} (still firing)", timestamp(f.start_ms)),
    }
}

/// At most this many firings are listed per line; the count says how many there were.
const LISTED: usize = 5;

fn firings_text(list: &[Firing]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    let mut text: Vec<String> = list.iter().take(LISTED).map(firing_text).collect();
    if list.len() > LISTED {
        text.push(format!("… {} more", list.len() - LISTED));
    }
    format!("{}: {}", list.len(), text.join("; "))
}

/// Rows of (label, value) for one replayed SLO, shared by the text and Markdown renderings.
fn backtest_rows(s: &SloReplay) -> Vec<(String, String)> {
    let mut rows = vec![
        ("target".to_owned(), pct(Some(s.target))),
        ("window".to_owned(), s.window.clone()),
    ];
    if let Some(reason) = &s.no_data_reason {
        rows.push(("replayed".into(), format!("no data: {reason}")));
        return rows;
    }
    rows.push((
        "events good / total".into(),
        format!("{} / {}", num(s.events.good), num(s.events.total)),
    ));
    rows.push((
        "pages".into(),
        format!(
            "{} ({:.1} per week)",
            firings_text(&s.pages),
            s.pages_per_week
        ),
    ));
    rows.push((
        "tickets".into(),
        format!(
            "{} ({:.1} per week)",
            firings_text(&s.tickets),
            s.tickets_per_week
        ),
    ));
    for c in &s.conditions {
        rows.push((
            format!(
                "{} ({} {}/{} > {})",
                c.policy, c.severity, c.lookback, c.short_window, c.threshold
            ),
            format!("fired {}; flaps {}", firings_text(&c.firings), c.flaps),
        ));
    }
    for (i, incident) in s.incidents.iter().enumerate() {
        let page = match (incident.minutes_to_page, incident.budget_spent_before_page) {
            (Some(minutes), Some(spent)) => format!(
                "paged after {minutes:.0} min, {:.2} % of the budget spent by then",
                spent * 100.0
            ),
            _ => "no page".into(),
        };
        rows.push((
            format!("incident {}", i + 1),
            format!(
                "{} to {}, spent {:.2} % of the budget; {page}",
                timestamp(incident.start_ms),
                timestamp(incident.end_ms),
                incident.budget_spent * 100.0
            ),
        ));
    }
    if !s.never_fired.is_empty() {
        rows.push(("never fired".into(), s.never_fired.join(", ")));
    }
    if !s.flapping.is_empty() {
        rows.push(("flapping".into(), s.flapping.join(", ")));
    }
    rows
}

fn backtest_title(b: &Backtest) -> String {
    format!(
        "Backtest from {} to {}",
        timestamp(b.from_ms),
        timestamp(b.to_ms)
    )
}

pub fn backtest_table(b: &Backtest) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", backtest_title(b));
    for slo in &b.slos {
        let rows = backtest_rows(slo);
        let _ = writeln!(out, "\n{} ({})", slo.display_name, slo.name);
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (key, value) in rows {
            let _ = writeln!(out, "  {key:<width$}  {value}");
        }
    }
    out
}

pub fn backtest_markdown(b: &Backtest) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", backtest_title(b));
    let _ = writeln!(
        out,
        "| SLO | pages | tickets | incidents | incidents without a page |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for slo in &b.slos {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            slo.display_name,
            slo.pages.len(),
            slo.tickets.len(),
            slo.incidents.len(),
            slo.incidents
                .iter()
                .filter(|i| i.first_page_ms.is_none())
                .count()
        );
    }
    for slo in &b.slos {
        let _ = writeln!(out, "\n## {}\n\n| | |\n|---|---|", slo.display_name);
        for (key, value) in backtest_rows(slo) {
            let _ = writeln!(out, "| {key} | {value} |");
        }
    }
    out
}

pub fn backtest_json(b: &Backtest) -> String {
    let mut text = serde_json::to_string_pretty(b).unwrap_or_default();
    text.push('\n');
    text
}
