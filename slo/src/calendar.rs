//! Calendar-aligned SLO windows: OpenSLO calendar durations (`1d`, `1w`, `1M`, `1Q`, `1Y`)
//! from a start time in an IANA time zone, with months of their real lengths and days of 23
//! or 25 hours across DST changes.

use crate::duration::{self, Span};
use crate::spec::Window;

/// `count` calendar `unit`s, as OpenSLO writes calendar durations: `1d`, `1w`, `1M`, `1Q`, `1Y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarPeriod {
    pub count: i64,
    pub unit: CalendarUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarUnit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl CalendarPeriod {
    /// Parses `<n><unit>`, unit `d`, `w`, `M`, `Q` or `Y`; `n` ≥ 1.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (count, unit) = duration::split_count(text, "d, w, M, Q, Y")?;
        if !(1..=10_000).contains(&count) {
            return Err(format!("{text:?} must be between 1 and 10000 units"));
        }
        let unit = match unit {
            "d" => CalendarUnit::Day,
            "w" => CalendarUnit::Week,
            "M" => CalendarUnit::Month,
            "Q" => CalendarUnit::Quarter,
            "Y" => CalendarUnit::Year,
            _ => {
                return Err(format!(
                    "{text:?}: a calendar window's unit is d, w, M, Q or Y"
                ));
            }
        };
        Ok(Self { count, unit })
    }

    /// `times` periods as a calendar span (days stay days across DST changes); `None` past
    /// what a span can hold.
    fn span(self, times: i64) -> Option<jiff::Span> {
        let n = self.count.checked_mul(times)?;
        let span = jiff::Span::new();
        match self.unit {
            CalendarUnit::Day => span.try_days(n),
            CalendarUnit::Week => span.try_weeks(n),
            CalendarUnit::Month => span.try_months(n),
            CalendarUnit::Quarter => span.try_months(n.checked_mul(3)?),
            CalendarUnit::Year => span.try_years(n),
        }
        .ok()
    }

    /// The mean length of one period in milliseconds (a month is a twelfth of 365.2425 days).
    fn mean_millis(self) -> i64 {
        let day = 86_400_000.0;
        let days = match self.unit {
            CalendarUnit::Day => 1.0,
            CalendarUnit::Week => 7.0,
            CalendarUnit::Month => 365.2425 / 12.0,
            CalendarUnit::Quarter => 365.2425 / 4.0,
            CalendarUnit::Year => 365.2425,
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let millis = (self.count as f64 * days * day) as i64;
        millis.max(1)
    }

    /// The length the alert thresholds are scaled to: a month counts as 30 days, a quarter
    /// as 91 and a year as 365 (a day is always 24 hours here).
    pub fn nominal(self) -> Span {
        let days = match self.unit {
            CalendarUnit::Day => 1,
            CalendarUnit::Week => 7,
            CalendarUnit::Month => 30,
            CalendarUnit::Quarter => 91,
            CalendarUnit::Year => 365,
        };
        Span(self.count * days * 86_400)
    }
}

impl std::fmt::Display for CalendarPeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.unit {
            CalendarUnit::Day => "d",
            CalendarUnit::Week => "w",
            CalendarUnit::Month => "M",
            CalendarUnit::Quarter => "Q",
            CalendarUnit::Year => "Y",
        };
        write!(f, "{}{unit}", self.count)
    }
}

impl Window {
    /// The calendar window `[start, end)` (epoch ms) holding `at_ms`; before the first window
    /// starts, the first window.
    pub fn calendar_bounds(period: CalendarPeriod, start: &jiff::Zoned, at_ms: i64) -> (i64, i64) {
        let ms = |z: &jiff::Zoned| z.timestamp().as_millisecond();
        let start_ms = ms(start);
        let boundary = |n: i64| period.span(n).and_then(|span| start.checked_add(span).ok());
        // The last boundary at or before `at`, by bisection (boundaries only grow with n;
        // those past what jiff can represent count as after `at`). Boundary n lies within a
        // few days of n mean lengths from the start, so the estimate bounds the search.
        let after = |n: i64| boundary(n).is_none_or(|b| ms(&b) > at_ms);
        let estimate = (at_ms.saturating_sub(start_ms) / period.mean_millis()).max(0);
        let (mut n, mut beyond) = (0, estimate.saturating_add(2));
        while !after(beyond) {
            beyond = beyond.saturating_mul(2);
        }
        while beyond - n > 1 {
            let mid = n + (beyond - n) / 2;
            if after(mid) {
                beyond = mid;
            } else {
                n = mid;
            }
        }
        let window_start = boundary(n).map_or(start_ms, |b| ms(&b));
        let window_end = boundary(n + 1).map_or(i64::MAX, |b| ms(&b));
        (window_start, window_end)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `YYYY-MM-DD HH:MM:SS` in `zone` (shared with the report's tests).
    pub(crate) fn zoned(text: &str, zone: &str) -> jiff::Zoned {
        text.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
            .unwrap()
    }

    fn ms(text: &str, zone: &str) -> i64 {
        zoned(text, zone).timestamp().as_millisecond()
    }

    fn bounds(period: &str, start: &str, zone: &str, at: &str) -> (i64, i64) {
        let period = CalendarPeriod::parse(period).unwrap();
        Window::calendar_bounds(period, &zoned(start, zone), ms(at, zone))
    }

    #[test]
    fn calendar_months_have_their_real_lengths_in_their_time_zone() {
        let paris = "Europe/Paris";
        // March in Paris: 31 days less the hour DST takes on the 29th.
        let (start, end) = bounds("1M", "2026-01-01 00:00:00", paris, "2026-03-15 12:00:00");
        assert_eq!(start, ms("2026-03-01 00:00:00", paris));
        assert_eq!(end, ms("2026-04-01 00:00:00", paris));
        assert_eq!((end - start) / 3_600_000, 31 * 24 - 1);
        // February, and the very first instant of a month belongs to it.
        let (start, end) = bounds("1M", "2026-01-01 00:00:00", paris, "2026-02-01 00:00:00");
        assert_eq!(
            (start, end),
            (
                ms("2026-02-01 00:00:00", paris),
                ms("2026-03-01 00:00:00", paris)
            )
        );
        // Quarters and years count from the start too, many of them on.
        let (start, end) = bounds("1Q", "2020-01-01 00:00:00", paris, "2026-08-20 00:00:00");
        assert_eq!(
            (start, end),
            (
                ms("2026-07-01 00:00:00", paris),
                ms("2026-10-01 00:00:00", paris)
            )
        );
        let (start, _) = bounds("1Y", "2000-01-01 00:00:00", "UTC", "2026-12-31 23:59:59");
        assert_eq!(start, ms("2026-01-01 00:00:00", "UTC"));
    }

    #[test]
    fn calendar_weeks_and_days_follow_local_midnight_across_dst() {
        let ny = "America/New_York";
        // Weeks from a Monday; the one holding the DST change (Sunday 1 November 2026) is
        // 169 hours long.
        let (start, end) = bounds("1w", "2026-01-05 00:00:00", ny, "2026-10-28 09:00:00");
        assert_eq!(start, ms("2026-10-26 00:00:00", ny));
        assert_eq!(end, ms("2026-11-02 00:00:00", ny));
        assert_eq!(end - start, 169 * 3_600_000);
        // Day windows stay on local midnight, also the 23-hour day in March.
        let (start, end) = bounds("1d", "2026-01-01 00:00:00", ny, "2026-03-08 20:00:00");
        assert_eq!(
            (start, end),
            (ms("2026-03-08 00:00:00", ny), ms("2026-03-09 00:00:00", ny))
        );
        assert_eq!(end - start, 23 * 3_600_000);
        // Before the first window starts: the first window.
        let (start, _) = bounds("1d", "2026-01-01 00:00:00", ny, "2025-12-01 00:00:00");
        assert_eq!(start, ms("2026-01-01 00:00:00", ny));
    }

    #[test]
    fn calendar_bounds_hold_at_the_ends_of_time() {
        let period = CalendarPeriod::parse("1d").unwrap();
        let start = zoned("2000-01-01 00:00:00", "UTC");
        for at in [i64::MIN, -1, 0, i64::MAX] {
            let (window_start, window_end) = Window::calendar_bounds(period, &start, at);
            assert!(window_start < window_end, "{at}");
        }
        // Past jiff's last representable day the last window stays open.
        let (_, end) = Window::calendar_bounds(period, &start, i64::MAX);
        assert_eq!(end, i64::MAX);
    }

    #[test]
    fn calendar_durations_parse_and_print_back() {
        for text in ["1d", "1w", "1M", "2Q", "1Y"] {
            assert_eq!(CalendarPeriod::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            CalendarPeriod::parse("1M").unwrap().nominal(),
            Span(30 * 86_400)
        );
        assert!(
            CalendarPeriod::parse("1h")
                .unwrap_err()
                .contains("d, w, M, Q or Y")
        );
        assert!(
            CalendarPeriod::parse("0M")
                .unwrap_err()
                .contains("between 1")
        );
        assert!(
            CalendarPeriod::parse("M")
                .unwrap_err()
                .contains("whole number")
        );
    }
}
