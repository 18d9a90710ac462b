//! CloudWatch metric-math expressions of metric sources (`expression` over `metrics`).
//!
//! CloudWatch evaluates the whole language. This module reads its identifiers (to check and
//! rename them) and evaluates, for EMF logs, the part an SLI count needs: numbers, metric
//! ids, `+ - * /`, parentheses and `FILL(x, number)`. As in CloudWatch, a period where a
//! metric has no datapoint has none in the expression unless `FILL` gives one, and dividing
//! by 0 gives none.

/// A token of an expression.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    /// A metric id or a function name.
    Name(String),
    Symbol(char),
}

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
        } else {
            // Everything else is a symbol to CloudWatch; only some are evaluated here.
            out.push((i, Token::Symbol(c)));
            i += 1;
        }
    }
    Ok(out)
}

/// Whether `name` at token `i` calls a function (a name followed by `(`).
fn is_call(tokens: &[(usize, Token)], i: usize) -> bool {
    matches!(tokens.get(i + 1), Some((_, Token::Symbol('('))))
}

/// The metric ids `text` reads (names that are not function calls), in order of appearance.
pub fn ids(text: &str) -> Result<Vec<String>, String> {
    let tokens = tokens(text)?;
    let mut ids: Vec<String> = Vec::new();
    for (i, (_, token)) in tokens.iter().enumerate() {
        if let Token::Name(name) = token
            && !is_call(&tokens, i)
            && !ids.contains(name)
        {
            ids.push(name.clone());
        }
    }
    Ok(ids)
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
            && !is_call(&tokens, i)
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
    let mut parser = Parser { tokens, at: 0 };
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
        Token::Symbol(c) => format!("{c:?}"),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
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
        if let Some(Token::Symbol('-')) = self.peek() {
            self.at += 1;
            return Ok(Expr::Negate(Box::new(self.unary()?)));
        }
        self.primary()
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
            Some(Token::Name(name)) => Ok(Expr::Metric(name)),
            Some(other) => Err(format!("unexpected {}", describe(&other))),
            None => Err("the expression ends too early".into()),
        }
    }
}

impl Expr {
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
        // What only CloudWatch evaluates still has its ids read.
        assert_eq!(ids("SUM(METRICS()) / m1").unwrap(), ["m1"]);
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
    }
}
