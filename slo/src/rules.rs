//! The OpenSLO v1 specification's general rules: object names, labels, annotations,
//! description lengths and the duration shorthand.

use crate::duration::Span;

/// Descriptions hold at most this many characters.
pub const MAX_DESCRIPTION: usize = 1050;

/// RFC 1123 label names, as the specification requires every implementation to accept:
/// at most 63 lowercase alphanumerics or `-`, starting and ending alphanumeric.
pub fn name(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("required".into());
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if text.len() > 63 {
        return Err(format!(
            "{text:?}: at most 63 characters (RFC 1123), not {}",
            text.len()
        ));
    }
    if !text.chars().all(|c| alnum(c) || c == '-') {
        return Err(format!(
            "{text:?}: lowercase letters, digits and '-' only (RFC 1123)"
        ));
    }
    if !text.starts_with(alnum) || !text.ends_with(alnum) {
        return Err(format!(
            "{text:?}: starts and ends with a letter or digit (RFC 1123)"
        ));
    }
    Ok(())
}

/// A label key, or the name part of an annotation key: at most 63 characters, alphanumeric at
/// both ends, `-`, `_`, `.` and alphanumerics between.
fn key_name(text: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    if text.is_empty() || text.len() > 63 {
        return Err(format!("{text:?}: 1 to 63 characters"));
    }
    if !text.starts_with(alnum) || !text.ends_with(alnum) {
        return Err(format!("{text:?}: starts and ends with a letter or digit"));
    }
    if !text
        .chars()
        .all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!("{text:?}: letters, digits, '-', '_' and '.' only"));
    }
    Ok(())
}

pub fn label_key(text: &str) -> Result<(), String> {
    key_name(text)
}

/// `[prefix/]name`: the prefix a DNS subdomain of at most 253 characters.
pub fn annotation_key(text: &str) -> Result<(), String> {
    let Some((prefix, name)) = text.rsplit_once('/') else {
        return key_name(text);
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if prefix.is_empty() || prefix.len() > 253 || !prefix.split('.').all(label_ok) {
        return Err(format!(
            "{text:?}: the prefix before '/' is a DNS subdomain (lowercase labels separated by '.', at most 253 characters)"
        ));
    }
    key_name(name).map_err(|e| format!("{text:?}: the name after '/': {e}"))
}

pub fn description(text: &str) -> Result<(), String> {
    let length = text.chars().count();
    if length > MAX_DESCRIPTION {
        return Err(format!("{length} characters: at most {MAX_DESCRIPTION}"));
    }
    Ok(())
}

/// A duration shorthand's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// `<positive integer><m|h|d|w|M|Q|Y>`, as the specification defines the duration shorthand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shorthand {
    pub count: i64,
    pub unit: Unit,
}

impl Shorthand {
    pub fn parse(text: &str) -> Result<Self, String> {
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .filter(|&i| i > 0)
            .ok_or_else(|| {
                format!("{text:?}: a duration is a positive whole number and a unit (m, h, d, w, M, Q or Y), e.g. 5m, 28d")
            })?;
        let (number, unit) = text.split_at(split);
        let count: i64 = number
            .parse()
            .map_err(|_| format!("{text:?}: {number} is too large"))?;
        if count < 1 {
            return Err(format!("{text:?}: the number must be positive"));
        }
        let unit = match unit {
            "m" => Unit::Minute,
            "h" => Unit::Hour,
            "d" => Unit::Day,
            "w" => Unit::Week,
            "M" => Unit::Month,
            "Q" => Unit::Quarter,
            "Y" => Unit::Year,
            _ => {
                return Err(format!(
                    "{text:?}: the unit is one of m, h, d, w, M, Q, Y (case-sensitive)"
                ));
            }
        };
        Ok(Self { count, unit })
    }

    /// The fixed length of minutes, hours, days and weeks; months, quarters and years have
    /// none (they only make calendar windows).
    pub fn fixed(self) -> Option<Span> {
        let seconds = match self.unit {
            Unit::Minute => 60,
            Unit::Hour => 3_600,
            Unit::Day => 86_400,
            Unit::Week => 604_800,
            Unit::Month | Unit::Quarter | Unit::Year => return None,
        };
        self.count.checked_mul(seconds).map(Span)
    }
}

/// A duration shorthand of fixed length (m, h, d or w).
pub fn fixed_duration(text: &str) -> Result<Span, String> {
    let shorthand = Shorthand::parse(text)?;
    shorthand.fixed().ok_or_else(|| {
        format!("{text:?}: months, quarters and years have no fixed length; give days or weeks")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_1123() {
        assert!(name("proxy-availability").is_ok());
        assert!(name(&"a".repeat(63)).is_ok());
        assert!(name(&"a".repeat(64)).unwrap_err().contains("63"));
        assert!(name("Proxy").unwrap_err().contains("lowercase"));
        assert!(name("-proxy").unwrap_err().contains("starts and ends"));
        assert!(name("proxy-").unwrap_err().contains("starts and ends"));
        assert!(name("a.b").unwrap_err().contains("lowercase"));
        assert_eq!(name("").unwrap_err(), "required");
    }

    #[test]
    fn label_and_annotation_keys_follow_the_specification() {
        assert!(label_key("userImpacting").is_ok());
        assert!(label_key("team_a.b-c").is_ok());
        assert!(label_key("_x").is_err());
        assert!(annotation_key("openslo.com/key1").is_ok());
        assert!(annotation_key("rationale").is_ok());
        assert!(
            annotation_key("Foo.com/key")
                .unwrap_err()
                .contains("DNS subdomain")
        );
        assert!(
            annotation_key("foo.com/-key")
                .unwrap_err()
                .contains("after '/'")
        );
    }

    #[test]
    fn duration_shorthands_take_the_seven_units_case_sensitively() {
        assert_eq!(fixed_duration("5m").unwrap(), Span(300));
        assert_eq!(fixed_duration("4w").unwrap(), Span(4 * 604_800));
        assert_eq!(
            Shorthand::parse("1M").unwrap(),
            Shorthand {
                count: 1,
                unit: Unit::Month
            }
        );
        assert!(
            fixed_duration("1M")
                .unwrap_err()
                .contains("no fixed length")
        );
        assert!(
            Shorthand::parse("30s")
                .unwrap_err()
                .contains("case-sensitive")
        );
        assert!(
            Shorthand::parse("1H")
                .unwrap_err()
                .contains("case-sensitive")
        );
        assert!(Shorthand::parse("-1h").unwrap_err().contains("positive"));
        assert!(Shorthand::parse("0d").unwrap_err().contains("positive"));
        assert!(Shorthand::parse("1 h").is_err());
    }

    #[test]
    fn descriptions_hold_at_most_1050_characters() {
        assert!(description(&"é".repeat(1050)).is_ok());
        assert!(description(&"x".repeat(1051)).unwrap_err().contains("1051"));
    }
}
