//! A recursive-descent parser for LogQL: log queries (stream selector and pipeline) and metric
//! queries (range aggregations over log queries, vector aggregations, binary operations with
//! PromQL's precedence and matching modifiers).
//!
//! Errors read `parse error at line L, col C: message`, as Loki's do.

use std::time::Duration;

use argus_model::{MatchOp, Matcher};
use regex::Regex;

use super::ast::*;
use super::lex::{Spanned, Token, tokenize};
use super::template;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {line}, col {col}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

pub fn parse(input: &str) -> Result<Query, ParseError> {
    let tokens = tokenize(input).map_err(|message| error_at(input, 0, message))?;
    let mut parser = Parser { input, tokens, pos: 0 };
    let query = if parser.peek_symbol("{") {
        let expr = parser.log_expr()?;
        if expr.stages.iter().any(|s| matches!(s, Stage::Unwrap(_))) {
            return Err(
                parser.error("unwrap is only allowed inside a range aggregation such as sum_over_time")
            );
        }
        Query::Log(expr)
    } else {
        Query::Metric(parser.metric_expr(0)?)
    };
    if !parser.at_end() {
        return Err(parser.error(&format!("unexpected {}", parser.describe())));
    }
    Ok(query)
}

fn error_at(input: &str, at: usize, message: String) -> ParseError {
    let before = &input[..at.min(input.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |nl| before[nl + 1..].chars().count()) + 1;
    ParseError { line, col, message }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Spanned>,
    pos: usize,
}

type PResult<T> = Result<T, ParseError>;

/// Binding power of binary operators, lowest first (PromQL's).
fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
        BinaryOp::Pow => 6,
    }
}

impl Parser<'_> {
    // ---- token helpers ----

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|t| &t.token)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.pos + offset).map(|t| &t.token)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn peek_symbol(&self, symbol: &str) -> bool {
        matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol)
    }

    fn peek_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(s)) if s == name)
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = self.peek_symbol(symbol);
        if found {
            self.pos += 1;
        }
        found
    }

    fn eat_ident(&mut self, name: &str) -> bool {
        let found = self.peek_ident(name);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect_symbol(&mut self, symbol: &str) -> PResult<()> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {symbol:?}, found {}", self.describe())))
        }
    }

    fn ident(&mut self) -> PResult<String> {
        self.text_token("an identifier", |t| if let Token::Ident(name) = t { Some(name) } else { None })
    }

    fn string(&mut self) -> PResult<String> {
        self.text_token("a string", |t| if let Token::String(value) = t { Some(value) } else { None })
    }

    fn word(&mut self) -> PResult<String> {
        self.text_token("a number or duration", |t| if let Token::Word(word) = t { Some(word) } else { None })
    }

    /// Takes the next token's text when `text` accepts the token, else fails saying `expected`.
    fn text_token(&mut self, expected: &str, text: impl Fn(&Token) -> Option<&String>) -> PResult<String> {
        match self.peek().and_then(text) {
            Some(value) => {
                let value = value.clone();
                self.pos += 1;
                Ok(value)
            }
            None => Err(self.error(&format!("expected {expected}, found {}", self.describe()))),
        }
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(Token::Ident(s)) => format!("identifier {s:?}"),
            Some(Token::String(s)) => format!("string {s:?}"),
            Some(Token::Word(s)) => format!("{s:?}"),
            Some(Token::Flag(s)) => format!("flag --{s}"),
            Some(Token::Symbol(s)) => format!("{s:?}"),
        }
    }

    fn error(&self, message: &str) -> ParseError {
        let at = self.tokens.get(self.pos).map_or(self.input.len(), |t| t.at);
        error_at(self.input, at, message.to_string())
    }

    // ---- log queries ----

    fn log_expr(&mut self) -> PResult<LogExpr> {
        let matchers = self.selector()?;
        let stages = self.stages()?;
        Ok(LogExpr { matchers, stages })
    }

    fn selector(&mut self) -> PResult<Vec<Matcher>> {
        self.expect_symbol("{")?;
        let mut matchers = Vec::new();
        while !self.eat_symbol("}") {
            if !matchers.is_empty() {
                self.expect_symbol(",")?;
            }
            let name = self.ident()?;
            let op = self.match_op()?;
            let value = self.string()?;
            matchers.push(Matcher::new(op, name, value).map_err(|e| self.error(&e.to_string()))?);
        }
        if !matchers.iter().any(|m| !m.matches_empty()) {
            return Err(self.error("queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"));
        }
        Ok(matchers)
    }

    fn match_op(&mut self) -> PResult<MatchOp> {
        let op = match self.peek() {
            Some(Token::Symbol("=")) => MatchOp::Equal,
            Some(Token::Symbol("!=")) => MatchOp::NotEqual,
            Some(Token::Symbol("=~")) => MatchOp::RegexMatch,
            Some(Token::Symbol("!~")) => MatchOp::RegexNoMatch,
            _ => {
                return Err(
                    self.error(&format!("expected a label matcher operator, found {}", self.describe()))
                );
            }
        };
        self.pos += 1;
        Ok(op)
    }

    fn stages(&mut self) -> PResult<Vec<Stage>> {
        let mut stages = Vec::new();
        loop {
            let line_op = match self.peek() {
                Some(Token::Symbol("|=")) => Some(LineFilterOp::Contains),
                Some(Token::Symbol("!=")) => Some(LineFilterOp::NotContains),
                Some(Token::Symbol("|~")) => Some(LineFilterOp::Matches),
                Some(Token::Symbol("!~")) => Some(LineFilterOp::NotMatches),
                _ => None,
            };
            if let Some(op) = line_op {
                self.pos += 1;
                stages.push(Stage::LineFilter(self.line_filter(op)?));
            } else if self.peek_symbol("|") {
                self.pos += 1;
                stages.push(self.stage()?);
            } else {
                return Ok(stages);
            }
        }
    }

    fn line_filter(&mut self, op: LineFilterOp) -> PResult<LineFilter> {
        let mut patterns = vec![self.line_pattern(op)?];
        while self.eat_ident("or") {
            patterns.push(self.line_pattern(op)?);
        }
        Ok(LineFilter { op, patterns })
    }

    fn line_pattern(&mut self, op: LineFilterOp) -> PResult<LinePattern> {
        let text = self.string()?;
        Ok(match op {
            LineFilterOp::Contains | LineFilterOp::NotContains => LinePattern::Text(text),
            LineFilterOp::Matches | LineFilterOp::NotMatches => LinePattern::Regex(self.regex(&text, false)?),
        })
    }

    /// Compiles a LogQL regex: RE2 syntax; anchored for label matchers, not for line filters
    /// and `regexp` stages.
    fn regex(&self, pattern: &str, anchored: bool) -> PResult<Regex> {
        let compiled =
            if anchored { argus_model::regex::compile_anchored(pattern) } else { Regex::new(pattern) };
        compiled.map_err(|e| self.error(&format!("invalid regex {pattern:?}: {e}")))
    }

    fn stage(&mut self) -> PResult<Stage> {
        // A label filter starts with a label name followed by a comparison, or a parenthesis.
        let is_filter = matches!(
            self.peek_at(1),
            Some(Token::Symbol("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "=="))
        );
        if is_filter || self.peek_symbol("(") {
            return Ok(Stage::LabelFilter(self.label_filter_or()?));
        }
        let Some(Token::Ident(name)) = self.peek().cloned() else {
            return Err(
                self.error(&format!("expected a pipeline stage after '|', found {}", self.describe()))
            );
        };
        self.pos += 1;
        Ok(match name.as_str() {
            "json" => Stage::Json(self.extractions(true)?),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while let Some(Token::Flag(flag)) = self.peek().cloned() {
                    match flag.as_str() {
                        "strict" => strict = true,
                        "keep-empty" => keep_empty = true,
                        other => return Err(self.error(&format!("unknown logfmt flag --{other}"))),
                    }
                    self.pos += 1;
                }
                Stage::Logfmt { strict, keep_empty, extractions: self.extractions(false)? }
            }
            "regexp" => {
                let pattern = self.string()?;
                let regex = self.regex(&pattern, false)?;
                if regex.capture_names().flatten().next().is_none() {
                    return Err(self.error("regexp stage needs at least one named capture group"));
                }
                Stage::Regexp(regex)
            }
            "pattern" => Stage::Pattern(self.pattern()?),
            "line_format" => Stage::LineFormat(self.template()?),
            "label_format" => Stage::LabelFormat(self.label_formats()?),
            "drop" => Stage::Drop(self.label_selections()?),
            "keep" => Stage::Keep(self.label_selections()?),
            "unwrap" => Stage::Unwrap(self.unwrap()?),
            "decolorize" => Stage::Decolorize,
            "unpack" => return Err(self.error("the unpack parser is not supported")),
            other => return Err(self.error(&format!("unknown pipeline stage {other:?}"))),
        })
    }

    /// `a="expr", b` after `json` or `logfmt`; `json_paths` reads expressions as JSON paths.
    fn extractions(&mut self, json_paths: bool) -> PResult<Vec<Extraction>> {
        let mut extractions = Vec::new();
        while matches!(self.peek(), Some(Token::Ident(_))) && !self.starts_new_clause() {
            let label = self.ident()?;
            let path = if self.eat_symbol("=") {
                let expression = self.string()?;
                if json_paths {
                    json_path(&expression).map_err(|e| self.error(&e))?
                } else {
                    vec![PathStep::Key(expression)]
                }
            } else {
                vec![PathStep::Key(label.clone())]
            };
            extractions.push(Extraction { label, path });
            if !self.eat_symbol(",") {
                break;
            }
        }
        Ok(extractions)
    }

    /// Whether the next identifier belongs to what follows a pipeline (`or`, `and`, `by`,
    /// `without`, `offset`) rather than to it.
    fn starts_new_clause(&self) -> bool {
        matches!(self.peek(), Some(Token::Ident(s)) if matches!(s.as_str(), "or" | "and" | "unless" | "by" | "without" | "offset" | "bool"))
            && !matches!(self.peek_at(1), Some(Token::Symbol("=" | ",")))
    }

    fn pattern(&mut self) -> PResult<Pattern> {
        let text = self.string()?;
        parse_pattern(&text).map_err(|e| self.error(&e))
    }

    fn template(&mut self) -> PResult<Template> {
        let source = self.string()?;
        template::parse(&source).map_err(|e| self.error(&e))
    }

    fn label_formats(&mut self) -> PResult<Vec<LabelFormat>> {
        let mut formats = Vec::new();
        loop {
            let to = self.ident()?;
            self.expect_symbol("=")?;
            formats.push(match self.peek() {
                Some(Token::Ident(_)) => LabelFormat::Rename { to, from: self.ident()? },
                _ => LabelFormat::Template { to, template: self.template()? },
            });
            if !self.eat_symbol(",") {
                return Ok(formats);
            }
        }
    }

    fn label_selections(&mut self) -> PResult<Vec<LabelSelection>> {
        let mut selections = Vec::new();
        loop {
            let name = self.ident()?;
            let matcher = if matches!(self.peek(), Some(Token::Symbol("=" | "!=" | "=~" | "!~"))) {
                let op = self.match_op()?;
                let value = self.string()?;
                Some(Matcher::new(op, name.clone(), value).map_err(|e| self.error(&e.to_string()))?)
            } else {
                None
            };
            selections.push(LabelSelection { name, matcher });
            if !self.eat_symbol(",") {
                return Ok(selections);
            }
        }
    }

    fn unwrap(&mut self) -> PResult<Unwrap> {
        let name = self.ident()?;
        let conversion = match name.as_str() {
            "duration" | "duration_seconds" => Conversion::Duration,
            "bytes" => Conversion::Bytes,
            _ => return Ok(Unwrap { label: name, conversion: Conversion::Number }),
        };
        if !self.eat_symbol("(") {
            // A label that happens to be called `bytes` or `duration`.
            return Ok(Unwrap { label: name, conversion: Conversion::Number });
        }
        let label = self.ident()?;
        self.expect_symbol(")")?;
        Ok(Unwrap { label, conversion })
    }

    fn label_filter_or(&mut self) -> PResult<LabelFilter> {
        let mut left = self.label_filter_and()?;
        while self.peek_ident("or") {
            self.pos += 1;
            let right = self.label_filter_and()?;
            left = LabelFilter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn label_filter_and(&mut self) -> PResult<LabelFilter> {
        let mut left = self.label_filter_unary()?;
        loop {
            let explicit = self.eat_ident("and") || self.eat_symbol(",");
            // Without `and` or `,`, a following `name <op>` still joins by conjunction.
            let implicit = !explicit
                && matches!(self.peek(), Some(Token::Ident(name)) if !matches!(name.as_str(), "or" | "and" | "by" | "without" | "offset" | "unless" | "bool"))
                && matches!(
                    self.peek_at(1),
                    Some(Token::Symbol("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "=="))
                );
            if !explicit && !implicit {
                return Ok(left);
            }
            let right = self.label_filter_unary()?;
            left = LabelFilter::And(Box::new(left), Box::new(right));
        }
    }

    fn label_filter_unary(&mut self) -> PResult<LabelFilter> {
        if self.eat_symbol("(") {
            let inner = self.label_filter_or()?;
            self.expect_symbol(")")?;
            return Ok(inner);
        }
        let name = self.ident()?;
        let Some(Token::Symbol(symbol)) = self.peek().cloned() else {
            return Err(self.error(&format!("expected a comparison after label {name:?}")));
        };
        self.pos += 1;
        if matches!(self.peek(), Some(Token::String(_))) {
            let op = match symbol {
                "=" | "==" => MatchOp::Equal,
                "!=" => MatchOp::NotEqual,
                "=~" => MatchOp::RegexMatch,
                "!~" => MatchOp::RegexNoMatch,
                other => return Err(self.error(&format!("operator {other:?} cannot compare with a string"))),
            };
            let value = self.string()?;
            return Ok(LabelFilter::String(
                Matcher::new(op, name, value).map_err(|e| self.error(&e.to_string()))?,
            ));
        }
        let op = match symbol {
            "=" | "==" => Comparison::Equal,
            "!=" => Comparison::NotEqual,
            ">" => Comparison::Greater,
            ">=" => Comparison::GreaterOrEqual,
            "<" => Comparison::Less,
            "<=" => Comparison::LessOrEqual,
            other => return Err(self.error(&format!("operator {other:?} needs a string"))),
        };
        let negative = self.eat_symbol("-");
        let word = self.word()?;
        let sign = if negative { -1.0 } else { 1.0 };
        if let Ok(number) = word.parse::<f64>() {
            return Ok(LabelFilter::Number { name, op, value: sign * number });
        }
        if let Some(value) = parse_go_duration(&word).filter(|_| !negative) {
            return Ok(LabelFilter::Duration { name, op, value });
        }
        if let Some(value) = parse_bytes(&word).filter(|_| !negative) {
            return Ok(LabelFilter::Bytes { name, op, value });
        }
        Err(self.error(&format!("{word:?} is not a number, a duration or a size")))
    }

    // ---- metric queries ----

    fn metric_expr(&mut self, min_precedence: u8) -> PResult<MetricExpr> {
        let mut left = self.metric_unary()?;
        while let Some(op) = self.binary_op() {
            let power = precedence(op);
            if power < min_precedence {
                break;
            }
            self.pos += 1;
            let modifiers = self.binary_modifiers()?;
            // `^` is right-associative; everything else left.
            let next = if op == BinaryOp::Pow { power } else { power + 1 };
            let right = self.metric_expr(next)?;
            left = MetricExpr::Binary { op, modifiers, left: Box::new(left), right: Box::new(right) };
        }
        Ok(left)
    }

    fn binary_op(&self) -> Option<BinaryOp> {
        Some(match self.peek()? {
            Token::Symbol("+") => BinaryOp::Add,
            Token::Symbol("-") => BinaryOp::Sub,
            Token::Symbol("*") => BinaryOp::Mul,
            Token::Symbol("/") => BinaryOp::Div,
            Token::Symbol("%") => BinaryOp::Mod,
            Token::Symbol("^") => BinaryOp::Pow,
            Token::Symbol("==") => BinaryOp::Eq,
            Token::Symbol("!=") => BinaryOp::Ne,
            Token::Symbol(">") => BinaryOp::Gt,
            Token::Symbol(">=") => BinaryOp::Ge,
            Token::Symbol("<") => BinaryOp::Lt,
            Token::Symbol("<=") => BinaryOp::Le,
            Token::Ident(s) if s == "and" => BinaryOp::And,
            Token::Ident(s) if s == "or" => BinaryOp::Or,
            Token::Ident(s) if s == "unless" => BinaryOp::Unless,
            _ => return None,
        })
    }

    fn binary_modifiers(&mut self) -> PResult<BinaryModifiers> {
        let mut modifiers = BinaryModifiers { bool_modifier: self.eat_ident("bool"), ..Default::default() };
        for (keyword, ignoring) in [("on", false), ("ignoring", true)] {
            if self.eat_ident(keyword) {
                modifiers.matching = Some((ignoring, self.label_list()?));
            }
        }
        for (keyword, right) in [("group_left", false), ("group_right", true)] {
            if self.eat_ident(keyword) {
                let labels = if self.peek_symbol("(") { self.label_list()? } else { Vec::new() };
                modifiers.group = Some((right, labels));
            }
        }
        Ok(modifiers)
    }

    fn label_list(&mut self) -> PResult<Vec<String>> {
        self.expect_symbol("(")?;
        let mut labels = Vec::new();
        while !self.eat_symbol(")") {
            if !labels.is_empty() {
                self.expect_symbol(",")?;
            }
            labels.push(self.ident()?);
        }
        Ok(labels)
    }

    fn grouping(&mut self) -> PResult<Option<Grouping>> {
        for (keyword, without) in [("by", false), ("without", true)] {
            if self.eat_ident(keyword) {
                return Ok(Some(Grouping { without, labels: self.label_list()? }));
            }
        }
        Ok(None)
    }

    fn metric_unary(&mut self) -> PResult<MetricExpr> {
        if self.eat_symbol("-") {
            let inner = self.metric_unary()?;
            return Ok(match inner {
                MetricExpr::Number(n) => MetricExpr::Number(-n),
                other => MetricExpr::Binary {
                    op: BinaryOp::Mul,
                    modifiers: BinaryModifiers::default(),
                    left: Box::new(MetricExpr::Number(-1.0)),
                    right: Box::new(other),
                },
            });
        }
        if self.eat_symbol("+") {
            return self.metric_unary();
        }
        if self.eat_symbol("(") {
            let inner = self.metric_expr(0)?;
            self.expect_symbol(")")?;
            return Ok(MetricExpr::Parens(Box::new(inner)));
        }
        match self.peek().cloned() {
            Some(Token::Word(word)) => {
                self.pos += 1;
                let number = word.parse::<f64>().map_err(|_| self.error(&format!("{word:?} is not a number")))?;
                Ok(MetricExpr::Number(number))
            }
            Some(Token::Ident(name)) => self.metric_call(&name),
            Some(Token::Symbol("{")) => Err(self.error("a log query cannot be combined with numbers; wrap it in a range aggregation such as count_over_time(...[5m])")),
            _ => Err(self.error(&format!("unexpected {}", self.describe()))),
        }
    }

    fn metric_call(&mut self, name: &str) -> PResult<MetricExpr> {
        if let Some(&(_, op)) = RangeOp::ALL.iter().find(|(n, _)| *n == name) {
            self.pos += 1;
            return self.range_aggregation(op).map(MetricExpr::Range);
        }
        if let Some(&(_, op)) = VectorOp::ALL.iter().find(|(n, _)| *n == name) {
            self.pos += 1;
            return self.vector_aggregation(op);
        }
        self.pos += 1;
        match name {
            "vector" => {
                self.expect_symbol("(")?;
                let value = self.signed_number()?;
                self.expect_symbol(")")?;
                Ok(MetricExpr::VectorLiteral(value))
            }
            "label_replace" => {
                self.expect_symbol("(")?;
                let inner = self.metric_expr(0)?;
                let mut args = Vec::new();
                for _ in 0..4 {
                    self.expect_symbol(",")?;
                    args.push(self.string()?);
                }
                self.expect_symbol(")")?;
                self.regex(&args[3], true)?;
                let [destination, replacement, source, regex] =
                    <[String; 4]>::try_from(args).expect("four arguments");
                Ok(MetricExpr::LabelReplace {
                    inner: Box::new(inner),
                    destination,
                    replacement,
                    source,
                    regex,
                })
            }
            other => {
                self.pos -= 1;
                Err(self.error(&format!("unknown function {other:?}")))
            }
        }
    }

    fn signed_number(&mut self) -> PResult<f64> {
        let sign = if self.eat_symbol("-") { -1.0 } else { 1.0 };
        let word = self.word()?;
        word.parse::<f64>().map(|n| sign * n).map_err(|_| self.error(&format!("{word:?} is not a number")))
    }

    fn range_aggregation(&mut self, op: RangeOp) -> PResult<RangeAggregation> {
        self.expect_symbol("(")?;
        let parameter = if op == RangeOp::QuantileOverTime {
            let phi = self.signed_number()?;
            self.expect_symbol(",")?;
            Some(phi)
        } else {
            None
        };
        let parenthesized = self.peek_symbol("(");
        if parenthesized {
            self.pos += 1;
        }
        let matchers = self.selector()?;
        // The range may come right after the selector, before the pipeline.
        let mut range = if self.peek_symbol("[") { Some(self.range()?) } else { None };
        let stages = self.stages()?;
        if parenthesized {
            self.expect_symbol(")")?;
        }
        if range.is_none() {
            range = Some(self.range()?);
        }
        let offset = if self.eat_ident("offset") { self.duration()? } else { Duration::ZERO };
        self.expect_symbol(")")?;
        let grouping = self.grouping()?;
        let log = LogExpr { matchers, stages };
        let unwrapped = log.stages.iter().any(|s| matches!(s, Stage::Unwrap(_)));
        let name = RangeOp::ALL.iter().find(|(_, o)| *o == op).map(|(n, _)| *n).expect("listed");
        if op.needs_unwrap() && !unwrapped {
            return Err(
                self.error(&format!("{name} needs an unwrapped label: add | unwrap <label> to its pipeline"))
            );
        }
        if !op.needs_unwrap() && unwrapped {
            return Err(self.error(&format!("{name} counts lines and cannot take | unwrap")));
        }
        if grouping.is_some() && !op.needs_unwrap() {
            return Err(self.error(&format!(
                "{name} cannot be grouped with by/without; wrap it in sum by (...) instead"
            )));
        }
        Ok(RangeAggregation { op, log, range: range.expect("set above"), offset, parameter, grouping })
    }

    fn range(&mut self) -> PResult<Duration> {
        self.expect_symbol("[")?;
        let range = self.duration()?;
        self.expect_symbol("]")?;
        if range.is_zero() {
            return Err(self.error("range must be greater than zero"));
        }
        Ok(range)
    }

    fn duration(&mut self) -> PResult<Duration> {
        let word = self.word()?;
        argus_model::time::parse_duration(&word)
            .ok()
            .or_else(|| parse_go_duration(&word))
            .ok_or_else(|| self.error(&format!("{word:?} is not a duration")))
    }

    fn vector_aggregation(&mut self, op: VectorOp) -> PResult<MetricExpr> {
        let mut grouping = self.grouping()?;
        self.expect_symbol("(")?;
        let parameter = if matches!(op, VectorOp::Topk | VectorOp::Bottomk) {
            let k = self.signed_number()?;
            self.expect_symbol(",")?;
            Some(k)
        } else {
            None
        };
        let inner = self.metric_expr(0)?;
        self.expect_symbol(")")?;
        if let Some(after) = self.grouping()? {
            if grouping.is_some() {
                return Err(self.error("grouping given twice"));
            }
            grouping = Some(after);
        }
        if matches!(op, VectorOp::Sort | VectorOp::SortDesc) && grouping.is_some() {
            return Err(self.error(&format!("{} takes no grouping", op.name())));
        }
        Ok(MetricExpr::Vector { op, grouping, parameter, inner: Box::new(inner) })
    }
}

/// A JSON path as `| json` takes it: `a.b[0]["c d"]`.
fn json_path(expression: &str) -> Result<Vec<PathStep>, String> {
    let mut steps = Vec::new();
    let mut rest = expression;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').ok_or_else(|| format!("unclosed '[' in JSON path {expression:?}"))?;
            let index = inner[..end].trim();
            if let Some(quoted) = index.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                steps.push(PathStep::Key(quoted.to_string()));
            } else {
                let index = index
                    .parse()
                    .map_err(|_| format!("invalid index {index:?} in JSON path {expression:?}"))?;
                steps.push(PathStep::Index(index));
            }
            rest = &inner[end + 1..];
        } else {
            rest = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return Err(format!("empty key in JSON path {expression:?}"));
            }
            steps.push(PathStep::Key(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    if steps.is_empty() {
        return Err("empty JSON path".to_string());
    }
    Ok(steps)
}

/// A `pattern` expression: `<name>` captures, `<_>` skips, everything else literal. Two
/// captures may not touch.
fn parse_pattern(text: &str) -> Result<Pattern, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let capture = rest.strip_prefix('<').and_then(|inner| {
            let end = inner.find('>')?;
            let name = &inner[..end];
            let valid = name == "_" || argus_model::labels::is_valid_label_name(name);
            valid.then_some((name, end + 2))
        });
        match capture {
            Some((name, len)) => {
                if matches!(parts.last(), Some(PatternPart::Capture(_))) {
                    return Err(format!("pattern {text:?} has two captures in a row"));
                }
                parts.push(PatternPart::Capture((name != "_").then(|| name.to_string())));
                rest = &rest[len..];
            }
            None => {
                let c = rest.chars().next().expect("not empty");
                match parts.last_mut() {
                    Some(PatternPart::Literal(literal)) => literal.push(c),
                    _ => parts.push(PatternPart::Literal(c.to_string())),
                }
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !parts.iter().any(|p| matches!(p, PatternPart::Capture(Some(_)))) {
        return Err(format!("pattern {text:?} has no named capture"));
    }
    Ok(Pattern { parts })
}

/// A Go duration (`1.5s`, `250ms`, `1h30m`, `2us`, `100ns`).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, f64); 8] = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
        ("d", 86_400.0),
    ];
    let mut rest = text;
    let mut seconds = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let (unit, scale) =
            UNITS.iter().filter(|(unit, _)| rest.starts_with(unit)).max_by_key(|(unit, _)| unit.len())?;
        seconds += number * scale;
        rest = &rest[unit.len()..];
    }
    Duration::try_from_secs_f64(seconds).ok()
}

/// A size as Loki reads it (`20MB`, `1.5KiB`, `42b`): SI and binary units, any case.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let number_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let number: f64 = text[..number_len].parse().ok()?;
    let unit = text[number_len..].trim().to_ascii_lowercase();
    let multiplier: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let bytes = number * multiplier;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Fragments of LogQL, so random sequences reach deep into the parser.
    const FRAGMENTS: [&str; 40] = [
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ",",
        "|",
        "|=",
        "!=",
        "|~",
        "!~",
        "=",
        "=~",
        ">",
        ">=",
        "<",
        "==",
        "app",
        "\"api\"",
        "`r`",
        "5m",
        "1.5s",
        "20MB",
        "-",
        "+",
        "*",
        "/",
        "^",
        "json",
        "logfmt",
        "regexp \"(?P<a>x)\"",
        "pattern \"<a> <_>\"",
        "line_format \"{{.a}}\"",
        "unwrap",
        "sum",
        "count_over_time",
        "by",
        "or",
        "and",
    ];

    proptest! {
        #[test]
        fn arbitrary_queries_never_panic(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..24), noise in ".{0,12}") {
            let query: Vec<&str> = parts.iter().map(|&i| FRAGMENTS[i]).collect();
            let _ = parse(&query.join(" "));
            let _ = parse(&format!("{}{noise}", query.join("")));
        }
    }

    #[test]
    fn go_durations_and_sizes() {
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("2us"), Some(Duration::from_micros(2)));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_bytes("20MB"), Some(20_000_000));
        assert_eq!(parse_bytes("1.5KiB"), Some(1536));
        assert_eq!(parse_bytes("42b"), Some(42));
        assert_eq!(parse_bytes("3 parsecs"), None);
    }
}
