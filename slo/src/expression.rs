//! CloudWatch metric-math expressions of metric sources (`expression` over `metrics`).
//!
//! CloudWatch evaluates the whole language. This module reads its metric ids (names starting
//! with a lowercase letter, as CloudWatch's must, that are not called; keywords such as
//! `REPEAT` and quoted strings are not ids) to check and rename them, and evaluates, for EMF logs, the part an SLI count needs: numbers, metric
//! ids, `+ - * /`, parentheses and `FILL(x, number)`. As in CloudWatch, a period where a
//! metric has no datapoint has none in the expression unless `FILL` gives one, and dividing
//! by 0 gives none.

/// A token of an expression.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    /// A metric id (CloudWatch's start with a lowercase letter), a function name or a keyword
    /// such as `REPEAT`.
    Name(String),
    /// A quoted string (`SEARCH('…')`), whose words are not ids.
    Text,
    Symbol(char),
}

/// Deepest nesting of parentheses and signs the evaluator follows (a spec is user input).
const MAX_DEPTH: usize = 64;

fn tokens(text: &str) -> Result<Vec<(usize, Token)>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // An exponent (1e3, 2.5E-2) belongs to the number, not to an id `e3`.
            if matches!(chars.get(i), Some('e' | 'E')) {
                let digits_at = if matches!(chars.get(i + 1), Some('+' | '-')) {
                    i + 2
                } else {
                    i + 1
                };
                if chars.get(digits_at).is_some_and(char::is_ascii_digit) {
                    i = digits_at;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let number: String = chars[start..i].iter().collect();
            let value = number
                .parse()
                .map_err(|_| format!("{number:?} is not a number"))?;
            out.push((start, Token::Number(value)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((start, Token::Name(chars[start..i].iter().collect())));
        } else if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            if i == chars.len() {
                return Err(format!("a string opened at {start} is not closed"));
            }
            i += 1;
            out.push((start, Token::Text));
        } else {
            // Everything else is a symbol to CloudWatch; only some are evaluated here.
            out.push((i, Token::Symbol(c)));
            i += 1;
        }
    }
    Ok(out)
}

/// Whether the name at token `i` is a metric id: it starts with a lowercase letter, as
/// CloudWatch's ids must, and is not called as a function.
fn is_id(tokens: &[(usize, Token)], i: usize) -> bool {
    matches!(&tokens[i].1, Token::Name(name) if name.starts_with(|c: char| c.is_ascii_lowercase()))
        && !matches!(tokens.get(i + 1), Some((_, Token::Symbol('('))))
}

/// The metric ids `text` reads, in order of appearance.
pub fn ids(text: &str) -> Result<Vec<String>, String> {
    let tokens = tokens(text)?;
    let mut ids: Vec<String> = Vec::new();
    for (i, (_, token)) in tokens.iter().enumerate() {
        if let Token::Name(name) = token
            && is_id(&tokens, i)
            && !ids.contains(name)
        {
            ids.push(name.clone());
        }
    }
    Ok(ids)
}

/// Whether `text` reads metrics without naming them (`METRICS()`, `SEARCH(…)`), so that a
/// metric its ids do not name may still be read.
pub fn reads_unnamed(text: &str) -> Result<bool, String> {
    Ok(tokens(text)?
        .iter()
        .any(|(_, t)| matches!(t, Token::Name(name) if name == "METRICS" || name == "SEARCH")))
}

/// `text` with every metric id renamed by `rename` (function names and the rest kept as
/// written).
pub fn rename(text: &str, rename: impl Fn(&str) -> String) -> Result<String, String> {
    let tokens = tokens(text)?;
    let mut out = String::new();
    let mut last = 0;
    let chars: Vec<char> = text.chars().collect();
    for (i, (at, token)) in tokens.iter().enumerate() {
        if let Token::Name(name) = token
            && is_id(&tokens, i)
        {
            out.extend(&chars[last..*at]);
            out.push_str(&rename(name));
            last = at + name.chars().count();
        }
    }
    out.extend(&chars[last..]);
    Ok(out)
}

/// A parsed expression that this module can evaluate.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Metric(String),
    Negate(Box<Expr>),
    Binary(char, Box<Expr>, Box<Expr>),
    Fill(Box<Expr>, f64),
}

/// Parses `text`, or says what of it is not evaluated here (CloudWatch still evaluates it).
pub fn parse(text: &str) -> Result<Expr, String> {
    let tokens: Vec<Token> = tokens(text)?.into_iter().map(|(_, t)| t).collect();
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let expr = parser.sum()?;
    match parser.tokens.get(parser.at) {
        None => Ok(expr),
        Some(token) => Err(format!("unexpected {}", describe(token))),
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Number(n) => format!("number {n}"),
        Token::Name(name) => format!("{name:?}"),
        Token::Text => "a string".to_owned(),
        Token::Symbol(c) => format!("{c:?}"),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect(&mut self, symbol: char) -> Result<(), String> {
        match self.next() {
            Some(Token::Symbol(c)) if c == symbol => Ok(()),
            Some(other) => Err(format!("expected {symbol:?}, found {}", describe(&other))),
            None => Err(format!("expected {symbol:?} at the end")),
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut left = self.product()?;
        while let Some(Token::Symbol(op @ ('+' | '-'))) = self.peek().cloned() {
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(Token::Symbol(op @ ('*' | '/'))) = self.peek().cloned() {
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        let expr = if let Some(Token::Symbol('-')) = self.peek() {
            self.at += 1;
            self.unary().map(|inner| Expr::Negate(Box::new(inner)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        expr
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Number(n)) => Ok(Expr::Number(n)),
            Some(Token::Symbol('(')) => {
                let inner = self.sum()?;
                self.expect(')')?;
                Ok(inner)
            }
            Some(Token::Name(name)) if matches!(self.peek(), Some(Token::Symbol('('))) => {
                if name != "FILL" {
                    return Err(format!(
                        "{name}(): only FILL(x, number) of CloudWatch's functions is evaluated outside CloudWatch"
                    ));
                }
                self.expect('(')?;
                let inner = self.sum()?;
                self.expect(',')?;
                let value = match self.next() {
                    Some(Token::Number(n)) => n,
                    Some(Token::Symbol('-')) => match self.next() {
                        Some(Token::Number(n)) => -n,
                        _ => return Err("FILL takes a number here".into()),
                    },
                    _ => {
                        return Err(
                            "FILL(x, REPEAT | LINEAR) is evaluated by CloudWatch only; give a number"
                                .into(),
                        );
                    }
                };
                self.expect(')')?;
                Ok(Expr::Fill(Box::new(inner), value))
            }
            Some(Token::Name(name)) if name.starts_with(|c: char| c.is_ascii_lowercase()) => {
                Ok(Expr::Metric(name))
            }
            Some(other) => Err(format!("unexpected {}", describe(&other))),
            None => Err("the expression ends too early".into()),
        }
    }
}

impl Expr {
    /// Whether the expression is a sum of its metrics each times a constant (`FILL(x, 0)`
    /// counting as `x`): then its value over a long period is the sum of its values over the
    /// shorter ones, as a count's is.
    pub fn is_linear(&self) -> bool {
        match self {
            Self::Metric(_) => true,
            Self::Number(_) => false,
            Self::Negate(inner) => inner.is_linear(),
            Self::Fill(inner, fill) => *fill == 0.0 && inner.is_linear(),
            Self::Binary('+' | '-', left, right) => left.is_linear() && right.is_linear(),
            Self::Binary('*', left, right) => match (&**left, &**right) {
                (Self::Number(_), other) | (other, Self::Number(_)) => other.is_linear(),
                _ => false,
            },
            Self::Binary('/', left, right) => {
                matches!(&**right, Self::Number(n) if *n != 0.0) && left.is_linear()
            }
            Self::Binary(..) => false,
        }
    }

    /// The metric ids outside every `FILL`: in a period where one has no datapoint, neither
    /// has the expression.
    pub fn unfilled(&self) -> Vec<&str> {
        match self {
            Self::Metric(id) => vec![id.as_str()],
            Self::Number(_) | Self::Fill(..) => Vec::new(),
            Self::Negate(inner) => inner.unfilled(),
            Self::Binary(_, left, right) => {
                let mut ids = left.unfilled();
                ids.extend(right.unfilled());
                ids
            }
        }
    }

    /// The value in one period, given each metric's value there (`None`: no datapoint).
    pub fn value(&self, metric: &dyn Fn(&str) -> Option<f64>) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Metric(id) => metric(id),
            Self::Negate(inner) => inner.value(metric).map(|v| -v),
            Self::Fill(inner, fill) => Some(inner.value(metric).unwrap_or(*fill)),
            Self::Binary(op, left, right) => {
                let (a, b) = (left.value(metric)?, right.value(metric)?);
                match op {
                    '+' => Some(a + b),
                    '-' => Some(a - b),
                    '*' => Some(a * b),
                    _ => (b != 0.0).then(|| a / b),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_names_that_are_not_function_calls() {
        assert_eq!(
            ids("FILL(errors, 0) - throttles + errors * 2").unwrap(),
            ["errors", "throttles"]
        );
        assert_eq!(
            rename("FILL(errors, 0) - throttles", |id| format!("q0_{id}")).unwrap(),
            "FILL(q0_errors, 0) - q0_throttles"
        );
        // What only CloudWatch evaluates still has its ids read; keywords, strings and
        // exponents are not ids.
        assert_eq!(ids("SUM(METRICS()) / m1").unwrap(), ["m1"]);
        assert_eq!(ids("FILL(m1, REPEAT) * 1e3").unwrap(), ["m1"]);
        assert_eq!(
            ids("SUM(SEARCH('{AWS/Lambda} errors', 'Sum')) + m2").unwrap(),
            ["m2"]
        );
        assert!(reads_unnamed("SUM(METRICS())").unwrap());
        assert!(!reads_unnamed("m1 + m2").unwrap());
        assert_eq!(
            rename("FILL(m1, REPEAT) + 2.5E-2", |id| format!("x_{id}")).unwrap(),
            "FILL(x_m1, REPEAT) + 2.5E-2"
        );
        assert!(ids("m1 + 'open").unwrap_err().contains("not closed"));
    }

    #[test]
    fn only_sums_of_metrics_times_constants_move_between_periods_like_counts() {
        let linear = |text: &str| parse(text).unwrap().is_linear();
        assert!(linear("a - FILL(b, 0) * 2 + -c / 4"));
        assert!(!linear("a / b"));
        assert!(!linear("a * b"));
        assert!(!linear("a + 1"));
        assert!(!linear("FILL(a, 1)"));
        assert_eq!(
            parse("requests - FILL(server, 0) + -x").unwrap().unfilled(),
            ["requests", "x"]
        );
    }

    #[test]
    fn arithmetic_follows_precedence_and_missing_data_as_cloudwatch_does() {
        let values = |id: &str| match id {
            "a" => Some(10.0),
            "b" => Some(4.0),
            _ => None,
        };
        let eval = |text: &str| parse(text).unwrap().value(&values);
        assert_eq!(eval("a - b * 2"), Some(2.0));
        assert_eq!(eval("(a - b) * 2"), Some(12.0));
        assert_eq!(eval("-a + 1"), Some(-9.0));
        assert_eq!(eval("a / (b - 4)"), None);
        assert_eq!(eval("a - missing"), None);
        assert_eq!(eval("a - FILL(missing, 0)"), Some(10.0));
        assert_eq!(eval("FILL(missing, -1)"), Some(-1.0));
    }

    #[test]
    fn what_only_cloudwatch_evaluates_is_named() {
        assert!(parse("SUM(METRICS())").unwrap_err().contains("SUM()"));
        assert!(parse("FILL(m1, REPEAT)").unwrap_err().contains("REPEAT"));
        assert!(parse("m1 +").unwrap_err().contains("ends too early"));
        assert!(parse("m1 m2").unwrap_err().contains("unexpected \"m2\""));
        assert!(parse("FILL(m1, REPEAT)").unwrap_err().contains("REPEAT"));
        let deep = format!("{}m1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().contains("nested deeper"));
        assert!(
            parse(&"-".repeat(1000))
                .unwrap_err()
                .contains("nested deeper")
        );
    }
}
