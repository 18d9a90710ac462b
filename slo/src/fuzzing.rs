//! Body of the EMF-parser `cargo fuzz` target in `fuzz/`, here so that
//! `tests/integration/fuzz_corpus.rs` replays the committed corpus through the same checks on
//! stable.

use crate::duration::MINUTE;
use crate::source::{EmfLogs, Source};
use crate::spec::{Query, Stat};

/// Reads arbitrary text as EMF log lines, then asks every series it found for per-minute
/// statistics over the hour after the first record: nothing panics, every line is counted
/// once, per-minute counts and sums add up to the values recorded in that hour, and every
/// minute's minimum ≤ p99 ≤ maximum and `TC` ≤ count.
pub fn emf_lines(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut logs = EmfLogs::default();
    let mut candidates = 0;
    for line in text.lines() {
        if telemetry::emf::is_record(line) {
            candidates += 1;
            logs.add_line(line);
        }
    }
    assert_eq!(
        logs.records + logs.invalid,
        candidates,
        "every EMF line is counted once"
    );
    let Some(start) = logs.first_ms else {
        assert_eq!(logs.records, 0);
        return;
    };
    let end = start.saturating_add(3_600_000);
    let keys: Vec<_> = logs.series_keys();
    for (namespace, metric, dimensions) in keys {
        let query = |stat| Query {
            namespace: namespace.clone(),
            metric: metric.clone(),
            dimensions: dimensions.clone(),
            stat,
            math: None,
        };
        let queries = [
            query(Stat::SampleCount),
            query(Stat::Sum),
            query(Stat::Percentile(99.0)),
            query(Stat::Minimum),
            query(Stat::Maximum),
            query(Stat::CountAtMost(100.0)),
        ];
        let Ok(answers) = logs.fetch(&queries, start, end, MINUTE) else {
            continue;
        };
        let raw = logs.values_between(&query(Stat::SampleCount), start, end);
        #[allow(clippy::cast_precision_loss)]
        let raw_count = raw.len() as f64;
        let counted: f64 = answers[0].iter().flatten().sum();
        assert!(
            (counted - raw_count).abs() < 0.5,
            "per-minute sample counts add up to the values of the hour"
        );
        let raw_sum: f64 = raw.iter().sum();
        let summed: f64 = answers[1].iter().flatten().sum();
        if raw_sum.is_finite() && summed.is_finite() {
            let tolerance = 1e-9 * raw.iter().map(|v| v.abs()).sum::<f64>().max(1.0);
            assert!(
                (summed - raw_sum).abs() <= tolerance,
                "per-minute sums add up to the sum of the values"
            );
        }
        for (period, p99) in answers[2].iter().enumerate() {
            if let (Some(min), Some(max)) = (answers[3][period], answers[4][period]) {
                assert!(min <= max, "the minimum is not above the maximum");
                if let Some(p99) = p99 {
                    assert!(
                        min <= *p99 && *p99 <= max,
                        "a percentile lies within the values"
                    );
                }
            }
            if let (Some(at_most), Some(count)) = (answers[5][period], answers[0][period]) {
                assert!(at_most <= count, "TC counts at most every value");
            }
        }
    }
}
