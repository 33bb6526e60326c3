//! An awk program read into rules, statements and expressions: the POSIX language less
//! what a maintainer script's awk does not use (`getline`, output redirections, user
//! functions), which makes the program unknown instead.

/// A token of the program text.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Num(f64),
    Str(String),
    Regex(String),
    Name(String),
    /// Punctuation and operators, as written.
    Op(&'static str),
    Newline,
    End,
}

const OPS: &[&str] = &[
    "&&", "||", "==", "!=", "<=", ">=", "!~", "++", "--", "+=", "-=", "*=", "/=", "%=", "^=", "{",
    "}", "(", ")", "[", "]", ";", ",", "<", ">", "!", "~", "?", ":", "+", "-", "*", "/", "%", "^",
    "=", "$",
];

/// Splits the program into tokens; `None` for text awk would refuse.
pub(super) fn tokens(text: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    // Whether a `/` here divides (after an operand) or starts a regular expression.
    let operand_before = |out: &Vec<Token>| {
        matches!(
            out.last(),
            Some(
                Token::Num(_) | Token::Str(_) | Token::Name(_) | Token::Op(")" | "]" | "++" | "--")
            )
        )
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\r' => i += 1,
            '\\' if chars.get(i + 1) == Some(&'\n') => i += 2,
            '\n' => {
                out.push(Token::Newline);
                i += 1;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i)? {
                        '"' => break,
                        '\\' => {
                            i += 1;
                            let (decoded, used) = escape(&chars[i..])?;
                            s.push_str(&decoded);
                            i += used - 1;
                        }
                        c => s.push(*c),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Token::Str(s));
            }
            '/' if !operand_before(&out) => {
                let mut s = String::new();
                i += 1;
                let mut in_bracket = false;
                loop {
                    let c = *chars.get(i)?;
                    match c {
                        '\n' => return None,
                        '/' if !in_bracket => break,
                        '[' => in_bracket = true,
                        ']' => in_bracket = false,
                        '\\' if chars.get(i + 1) == Some(&'/') => {
                            s.push('/');
                            i += 2;
                            continue;
                        }
                        _ => {}
                    }
                    if c == '\\' {
                        s.push(c);
                        i += 1;
                        s.push(*chars.get(i)?);
                    } else {
                        s.push(c);
                    }
                    i += 1;
                }
                i += 1;
                out.push(Token::Regex(s));
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Token::Num(text.parse().ok()?));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Token::Name(chars[start..i].iter().collect()));
            }
            _ => {
                let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let op = OPS.iter().find(|op| rest.starts_with(**op))?;
                i += op.chars().count();
                out.push(Token::Op(op));
            }
        }
    }
    out.push(Token::End);
    Some(out)
}

/// An escape after a backslash in a string: the text and how many characters it took.
fn escape(chars: &[char]) -> Option<(String, usize)> {
    let c = *chars.first()?;
    Some(match c {
        'n' => ("\n".into(), 1),
        't' => ("\t".into(), 1),
        'r' => ("\r".into(), 1),
        '\\' => ("\\".into(), 1),
        '"' => ("\"".into(), 1),
        '/' => ("/".into(), 1),
        'a' => ("\x07".into(), 1),
        'b' => ("\x08".into(), 1),
        'f' => ("\x0c".into(), 1),
        'v' => ("\x0b".into(), 1),
        'x' => {
            let digits: String = chars[1..]
                .iter()
                .take(2)
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            let code = u32::from_str_radix(&digits, 16).ok()?;
            (char::from_u32(code)?.to_string(), 1 + digits.len())
        }
        '0'..='7' => {
            let digits: String = chars
                .iter()
                .take(3)
                .take_while(|c| ('0'..='7').contains(c))
                .collect();
            let code = u32::from_str_radix(&digits, 8).ok()?;
            (char::from_u32(code)?.to_string(), digits.len())
        }
        // An unknown escape keeps its backslash (a regex's `\.` in a string).
        other => (format!("\\{other}"), 1),
    })
}

#[derive(Debug, Clone)]
pub(super) enum Expr {
    Num(f64),
    Str(String),
    /// `/re/` alone: whether `$0` matches.
    Regex(String),
    Var(String),
    Index(String, Vec<Expr>),
    Field(Box<Expr>),
    Assign(Box<Expr>, &'static str, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    /// `a ~ b`, negated for `!~`.
    Match(Box<Expr>, Box<Expr>, bool),
    Cmp(&'static str, Box<Expr>, Box<Expr>),
    Concat(Box<Expr>, Box<Expr>),
    Arith(&'static str, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
    /// `(key) in array`.
    In(Vec<Expr>, String),
    /// `++x` / `--x` (true: before) and `x++` / `x--`.
    Step(Box<Expr>, f64, bool),
}

#[derive(Debug, Clone)]
pub(super) enum Stmt {
    Block(Vec<Stmt>),
    If(Expr, Box<Stmt>, Option<Box<Stmt>>),
    While(Expr, Box<Stmt>),
    For(Option<Expr>, Option<Expr>, Option<Expr>, Box<Stmt>),
    ForIn(String, String, Box<Stmt>),
    Print(Vec<Expr>),
    Printf(Vec<Expr>),
    Expr(Expr),
    Delete(String, Option<Vec<Expr>>),
    Next,
    Exit(Option<Expr>),
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(super) enum Rule {
    Begin(Vec<Stmt>),
    End(Vec<Stmt>),
    /// A pattern (none: every record) and an action (none: print the record).
    Main(Option<Expr>, Option<Vec<Stmt>>),
}

pub(super) struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Inside `print`'s list, where `>` would redirect: not a comparison.
    no_greater: bool,
}

const BUILTINS: &[&str] = &[
    "length", "substr", "index", "split", "sub", "gsub", "match", "tolower", "toupper", "sprintf",
    "int",
];

impl Parser {
    pub(super) fn new(tokens: Vec<Token>) -> Self {
        Parser {
            tokens,
            at: 0,
            no_greater: false,
        }
    }

    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.at += 1;
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Token::Op(o) if *o == op)
    }

    fn eat(&mut self, op: &str) -> bool {
        let found = self.is_op(op);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, op: &str) -> Option<()> {
        self.eat(op).then_some(())
    }

    fn newlines(&mut self) {
        while matches!(self.peek(), Token::Newline) {
            self.at += 1;
        }
    }

    fn terminators(&mut self) {
        while matches!(self.peek(), Token::Newline) || self.is_op(";") {
            self.at += 1;
        }
    }

    pub(super) fn program(&mut self) -> Option<Vec<Rule>> {
        let mut rules = Vec::new();
        self.terminators();
        while *self.peek() != Token::End {
            let rule = match self.peek() {
                Token::Name(n) if n == "BEGIN" => {
                    self.at += 1;
                    Rule::Begin(self.block()?)
                }
                Token::Name(n) if n == "END" => {
                    self.at += 1;
                    Rule::End(self.block()?)
                }
                Token::Name(n) if n == "function" => return None,
                Token::Op("{") => Rule::Main(None, Some(self.block()?)),
                _ => {
                    let pattern = self.expr()?;
                    if self.is_op(",") {
                        return None; // range patterns
                    }
                    let action = if self.is_op("{") {
                        Some(self.block()?)
                    } else {
                        None
                    };
                    Rule::Main(Some(pattern), action)
                }
            };
            rules.push(rule);
            self.terminators();
        }
        Some(rules)
    }

    fn block(&mut self) -> Option<Vec<Stmt>> {
        self.newlines();
        self.expect("{")?;
        let mut body = Vec::new();
        self.terminators();
        while !self.is_op("}") {
            if *self.peek() == Token::End {
                return None;
            }
            body.push(self.statement()?);
            self.terminators();
        }
        self.at += 1;
        Some(body)
    }

    /// A statement's end: `;`, a newline, or the `}` that closes the block (left there).
    fn end_of_statement(&mut self) -> Option<()> {
        match self.peek() {
            Token::Newline | Token::Op(";") => {
                self.at += 1;
                Some(())
            }
            Token::Op("}") | Token::End => Some(()),
            _ => None,
        }
    }

    fn simple_or_block(&mut self) -> Option<Stmt> {
        self.newlines();
        if self.is_op(";") {
            self.at += 1;
            return Some(Stmt::Block(Vec::new()));
        }
        self.statement()
    }

    fn statement(&mut self) -> Option<Stmt> {
        if self.is_op("{") {
            return Some(Stmt::Block(self.block()?));
        }
        let name = match self.peek() {
            Token::Name(n) => Some(n.clone()),
            _ => None,
        };
        let stmt = match name.as_deref() {
            Some("if") => {
                self.at += 1;
                self.expect("(")?;
                let cond = self.expr()?;
                self.expect(")")?;
                let then = self.simple_or_block()?;
                let save = self.at;
                self.terminators();
                let otherwise = if matches!(self.peek(), Token::Name(n) if n == "else") {
                    self.at += 1;
                    Some(Box::new(self.simple_or_block()?))
                } else {
                    self.at = save;
                    None
                };
                return Some(Stmt::If(cond, Box::new(then), otherwise));
            }
            Some("while") => {
                self.at += 1;
                self.expect("(")?;
                let cond = self.expr()?;
                self.expect(")")?;
                return Some(Stmt::While(cond, Box::new(self.simple_or_block()?)));
            }
            Some("for") => {
                self.at += 1;
                self.expect("(")?;
                // `for (k in a)`
                if let (Token::Name(var), Token::Name(kw), Token::Name(arr), Token::Op(")")) = (
                    self.tokens.get(self.at)?.clone(),
                    self.tokens.get(self.at + 1)?.clone(),
                    self.tokens.get(self.at + 2)?.clone(),
                    self.tokens.get(self.at + 3)?.clone(),
                ) && kw == "in"
                {
                    self.at += 4;
                    return Some(Stmt::ForIn(var, arr, Box::new(self.simple_or_block()?)));
                }
                let init = if self.is_op(";") {
                    None
                } else {
                    Some(self.expr()?)
                };
                self.expect(";")?;
                self.newlines();
                let cond = if self.is_op(";") {
                    None
                } else {
                    Some(self.expr()?)
                };
                self.expect(";")?;
                self.newlines();
                let step = if self.is_op(")") {
                    None
                } else {
                    Some(self.expr()?)
                };
                self.expect(")")?;
                return Some(Stmt::For(
                    init,
                    cond,
                    step,
                    Box::new(self.simple_or_block()?),
                ));
            }
            Some("do" | "getline" | "function" | "return" | "nextfile") => return None,
            Some("print" | "printf") => {
                self.at += 1;
                let mut args = Vec::new();
                self.no_greater = true;
                let parenthesised = self.is_op("(");
                if !matches!(
                    self.peek(),
                    Token::Newline | Token::End | Token::Op(";" | "}")
                ) {
                    args.push(self.expr()?);
                    while self.eat(",") {
                        self.newlines();
                        args.push(self.expr()?);
                    }
                }
                self.no_greater = false;
                if self.is_op(">") || self.is_op("|") {
                    return None; // output into files or commands
                }
                let _ = parenthesised;
                if name.as_deref() == Some("print") {
                    Stmt::Print(args)
                } else {
                    Stmt::Printf(args)
                }
            }
            Some("next") => {
                self.at += 1;
                Stmt::Next
            }
            Some("break") => {
                self.at += 1;
                Stmt::Break
            }
            Some("continue") => {
                self.at += 1;
                Stmt::Continue
            }
            Some("exit") => {
                self.at += 1;
                let code = if matches!(
                    self.peek(),
                    Token::Newline | Token::End | Token::Op(";" | "}")
                ) {
                    None
                } else {
                    Some(self.expr()?)
                };
                Stmt::Exit(code)
            }
            Some("delete") => {
                self.at += 1;
                let Token::Name(array) = self.next() else {
                    return None;
                };
                let keys = if self.eat("[") {
                    let keys = self.expr_list("]")?;
                    Some(keys)
                } else {
                    None
                };
                Stmt::Delete(array, keys)
            }
            _ => Stmt::Expr(self.expr()?),
        };
        self.end_of_statement()?;
        Some(stmt)
    }

    fn expr_list(&mut self, close: &str) -> Option<Vec<Expr>> {
        let mut items = vec![self.expr()?];
        while self.eat(",") {
            items.push(self.expr()?);
        }
        self.expect(close)?;
        Some(items)
    }

    pub(super) fn expr(&mut self) -> Option<Expr> {
        self.ternary()
    }

    fn ternary(&mut self) -> Option<Expr> {
        let cond = self.or()?;
        if self.eat("?") {
            self.newlines();
            let a = self.ternary()?;
            self.newlines();
            self.expect(":")?;
            self.newlines();
            let b = self.ternary()?;
            return Some(Expr::Cond(Box::new(cond), Box::new(a), Box::new(b)));
        }
        for op in ["=", "+=", "-=", "*=", "/=", "%=", "^="] {
            if self.is_op(op) {
                if !matches!(cond, Expr::Var(_) | Expr::Index(..) | Expr::Field(_)) {
                    return None;
                }
                self.at += 1;
                self.newlines();
                let value = self.ternary()?;
                let op = OPS.iter().find(|o| **o == op)?;
                return Some(Expr::Assign(Box::new(cond), op, Box::new(value)));
            }
        }
        Some(cond)
    }

    fn or(&mut self) -> Option<Expr> {
        let mut left = self.and()?;
        while self.eat("||") {
            self.newlines();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Some(left)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut left = self.in_expr()?;
        while self.eat("&&") {
            self.newlines();
            left = Expr::And(Box::new(left), Box::new(self.in_expr()?));
        }
        Some(left)
    }

    fn in_expr(&mut self) -> Option<Expr> {
        let mut left = self.matching()?;
        while matches!(self.peek(), Token::Name(n) if n == "in") {
            self.at += 1;
            let Token::Name(array) = self.next() else {
                return None;
            };
            left = Expr::In(vec![left], array);
        }
        Some(left)
    }

    fn matching(&mut self) -> Option<Expr> {
        let mut left = self.comparison()?;
        loop {
            let negate = if self.eat("~") {
                false
            } else if self.eat("!~") {
                true
            } else {
                return Some(left);
            };
            left = Expr::Match(Box::new(left), Box::new(self.comparison()?), negate);
        }
    }

    fn comparison(&mut self) -> Option<Expr> {
        let left = self.concat()?;
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if op == ">" && self.no_greater {
                continue;
            }
            if self.is_op(op) {
                self.at += 1;
                let right = self.concat()?;
                let op = OPS.iter().find(|o| **o == op)?;
                return Some(Expr::Cmp(op, Box::new(left), Box::new(right)));
            }
        }
        Some(left)
    }

    /// Whether the next token can begin an operand (so juxtaposition concatenates).
    fn starts_operand(&self) -> bool {
        match self.peek() {
            Token::Num(_) | Token::Str(_) | Token::Regex(_) => true,
            Token::Name(n) => !matches!(n.as_str(), "in" | "else"),
            Token::Op(o) => matches!(*o, "$" | "!" | "(" | "-" | "+" | "++" | "--"),
            _ => false,
        }
    }

    fn concat(&mut self) -> Option<Expr> {
        let mut left = self.additive()?;
        while self.starts_operand() && !self.is_op("-") && !self.is_op("+") && !self.is_op("!") {
            left = Expr::Concat(Box::new(left), Box::new(self.additive()?));
        }
        Some(left)
    }

    fn additive(&mut self) -> Option<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.eat("+") {
                "+"
            } else if self.eat("-") {
                "-"
            } else {
                return Some(left);
            };
            left = Expr::Arith(op, Box::new(left), Box::new(self.multiplicative()?));
        }
    }

    fn multiplicative(&mut self) -> Option<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat("*") {
                "*"
            } else if self.eat("/") {
                "/"
            } else if self.eat("%") {
                "%"
            } else {
                return Some(left);
            };
            left = Expr::Arith(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.eat("!") {
            return Some(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Some(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat("+") {
            return Some(Expr::Arith(
                "+",
                Box::new(Expr::Num(0.0)),
                Box::new(self.unary()?),
            ));
        }
        self.power()
    }

    fn power(&mut self) -> Option<Expr> {
        let base = self.postfix()?;
        if self.eat("^") {
            return Some(Expr::Arith("^", Box::new(base), Box::new(self.unary()?)));
        }
        Some(base)
    }

    fn postfix(&mut self) -> Option<Expr> {
        if self.eat("++") {
            return Some(Expr::Step(Box::new(self.primary()?), 1.0, true));
        }
        if self.eat("--") {
            return Some(Expr::Step(Box::new(self.primary()?), -1.0, true));
        }
        let e = self.primary()?;
        if matches!(e, Expr::Var(_) | Expr::Index(..) | Expr::Field(_)) {
            if self.eat("++") {
                return Some(Expr::Step(Box::new(e), 1.0, false));
            }
            if self.eat("--") {
                return Some(Expr::Step(Box::new(e), -1.0, false));
            }
        }
        Some(e)
    }

    fn primary(&mut self) -> Option<Expr> {
        match self.next() {
            Token::Num(n) => Some(Expr::Num(n)),
            Token::Str(s) => Some(Expr::Str(s)),
            Token::Regex(r) => Some(Expr::Regex(r)),
            Token::Op("$") => Some(Expr::Field(Box::new(self.primary_for_field()?))),
            Token::Op("(") => {
                let saved = self.no_greater;
                self.no_greater = false;
                let first = self.expr()?;
                if self.eat(",") {
                    // `(a, b) in array`
                    let mut keys = vec![first];
                    keys.extend(self.expr_list(")")?);
                    self.no_greater = saved;
                    let Token::Name(kw) = self.next() else {
                        return None;
                    };
                    let Token::Name(array) = self.next() else {
                        return None;
                    };
                    return (kw == "in").then_some(Expr::In(keys, array));
                }
                self.expect(")")?;
                self.no_greater = saved;
                Some(first)
            }
            Token::Name(name) => {
                if BUILTINS.contains(&name.as_str()) {
                    if name == "length" && !self.is_op("(") {
                        return Some(Expr::Call(name, Vec::new()));
                    }
                    self.expect("(")?;
                    let args = if self.eat(")") {
                        Vec::new()
                    } else {
                        self.expr_list(")")?
                    };
                    return Some(Expr::Call(name, args));
                }
                if matches!(
                    name.as_str(),
                    "getline" | "system" | "close" | "srand" | "rand"
                ) {
                    return None;
                }
                if self.eat("[") {
                    return Some(Expr::Index(name, self.expr_list("]")?));
                }
                if self.is_op("(") {
                    return None; // a user function
                }
                Some(Expr::Var(name))
            }
            _ => None,
        }
    }

    /// `$` binds tighter than anything but grouping and `++`: `$NF-1` is `($NF)-1`.
    fn primary_for_field(&mut self) -> Option<Expr> {
        if self.eat("-") {
            return Some(Expr::Neg(Box::new(self.primary()?)));
        }
        self.primary()
    }
}
