//! Durations as SLO specs and the CLI write them: `30s`, `5m`, `1h`, `28d`, `2w`.

use std::fmt;

/// A whole number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub i64);

pub const MINUTE: Span = Span(60);
pub const HOUR: Span = Span(3_600);
pub const DAY: Span = Span(86_400);

impl Span {
    pub const fn seconds(self) -> i64 {
        self.0
    }

    pub const fn millis(self) -> i64 {
        self.0 * 1_000
    }

    /// `self / other` as a real number.
    #[allow(clippy::cast_precision_loss)]
    pub fn ratio(self, other: Span) -> f64 {
        self.0 as f64 / other.0 as f64
    }
}

/// Splits `<n><unit>` into the whole number and the unit; `units` names the units for the
/// error message.
pub fn split_count<'a>(text: &'a str, units: &str) -> Result<(i64, &'a str), String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit ({units})"))?;
    let (number, unit) = text.split_at(split);
    let n = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    Ok((n, unit))
}

/// Parses `<n><unit>` with unit `s`, `m`, `h`, `d` or `w`; `n` ≥ 1.
pub fn parse(text: &str) -> Result<Span, String> {
    let text = text.trim();
    let (n, unit) = split_count(text, "s, m, h, d, w")?;
    if n < 1 {
        return Err(format!("{text:?} must be at least 1"));
    }
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("{text:?}: unit must be s, m, h, d or w")),
    };
    n.checked_mul(unit_seconds)
        .map(Span)
        .ok_or_else(|| format!("{text:?} is too long"))
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        // Days rather than weeks: SLO windows are spoken of as 28d and 30d.
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
            if s >= size && s % size == 0 {
                return write!(f, "{}{unit}", s / size);
            }
        }
        write!(f, "{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_and_print_back() {
        for (text, seconds) in [("30s", 30), ("5m", 300), ("1h", 3600), ("28d", 2_419_200)] {
            let span = parse(text).unwrap();
            assert_eq!(span.seconds(), seconds);
            assert_eq!(span.to_string(), text);
        }
        assert_eq!(parse("2w").unwrap().to_string(), "14d");
        assert_eq!(parse("90s").unwrap().to_string(), "90s");
    }

    #[test]
    fn malformed_durations_say_why() {
        assert!(parse("30").unwrap_err().contains("no unit"));
        assert!(parse("0d").unwrap_err().contains("at least 1"));
        assert!(parse("3y").unwrap_err().contains("unit"));
        assert!(parse("d").unwrap_err().contains("whole number"));
    }
}
