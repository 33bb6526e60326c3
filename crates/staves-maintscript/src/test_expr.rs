//! `test` / `[`: strings, integers and file tests, with `!`, `-a`, `-o` and parentheses.
//! A file test the image cannot answer makes the result unknown (`None`).

use crate::{FileTest, Image};

/// Evaluates the arguments of `test` (without the closing `]`).
pub(crate) fn evaluate(args: &[String], image: &dyn Image) -> Option<bool> {
    let mut parser = Parser { args, at: 0, image };
    let value = parser.or()?;
    (parser.at == args.len()).then_some(value)?
}

struct Parser<'a> {
    args: &'a [String],
    at: usize,
    image: &'a dyn Image,
}

impl Parser<'_> {
    fn peek(&self, offset: usize) -> Option<&str> {
        self.args.get(self.at + offset).map(String::as_str)
    }

    // Each level returns `Some(None)` for an unknown value, `None` for a syntax error.
    fn or(&mut self) -> Option<Option<bool>> {
        let mut value = self.and()?;
        while self.peek(0) == Some("-o") {
            self.at += 1;
            let right = self.and()?;
            value = match (value, right) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            };
        }
        Some(value)
    }

    fn and(&mut self) -> Option<Option<bool>> {
        let mut value = self.not()?;
        while self.peek(0) == Some("-a") {
            self.at += 1;
            let right = self.not()?;
            value = match (value, right) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
        }
        Some(value)
    }

    fn not(&mut self) -> Option<Option<bool>> {
        // `! x` negates unless `!` is itself the operand of a binary test (`[ ! = x ]`).
        if self.peek(0) == Some("!") && !is_binary(self.peek(1)) {
            self.at += 1;
            return Some(self.not()?.map(|v| !v));
        }
        self.primary()
    }

    fn primary(&mut self) -> Option<Option<bool>> {
        let first = self.peek(0)?.to_owned();
        if first == "(" && !is_binary(self.peek(1)) {
            self.at += 1;
            let value = self.or()?;
            if self.peek(0) != Some(")") {
                return None;
            }
            self.at += 1;
            return Some(value);
        }
        if let Some(op) = self.peek(1).filter(|op| is_binary(Some(op))) {
            let op = op.to_owned();
            let right = self.peek(2)?.to_owned();
            self.at += 3;
            return Some(binary(&first, &op, &right));
        }
        if first.len() == 2
            && first.starts_with('-')
            && let Some(operand) = self.peek(1)
        {
            let operand = operand.to_owned();
            self.at += 2;
            return Some(self.unary(&first, &operand));
        }
        self.at += 1;
        Some(Some(!first.is_empty()))
    }

    fn unary(&self, op: &str, operand: &str) -> Option<bool> {
        let test = match op {
            "-z" => return Some(operand.is_empty()),
            // Nothing is a terminal while an image is built.
            "-t" => return Some(false),
            "-n" => return Some(!operand.is_empty()),
            "-e" | "-a" => FileTest::Exists,
            "-f" => FileTest::File,
            "-d" => FileTest::Dir,
            "-L" | "-h" => FileTest::Symlink,
            "-x" => FileTest::Executable,
            "-s" => FileTest::NonEmpty,
            // Readable, writable: as root, whatever exists.
            "-r" | "-w" => FileTest::Exists,
            _ => return None,
        };
        self.image.test(operand, test)
    }
}

fn is_binary(op: Option<&str>) -> bool {
    matches!(
        op,
        Some("=" | "==" | "!=" | "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge" | "-nt" | "-ot")
    )
}

fn binary(left: &str, op: &str, right: &str) -> Option<bool> {
    let numbers = || {
        Some((
            left.trim().parse::<i64>().ok()?,
            right.trim().parse::<i64>().ok()?,
        ))
    };
    Some(match op {
        "=" | "==" => left == right,
        "!=" => left != right,
        "-eq" => numbers().map(|(a, b)| a == b)?,
        "-ne" => numbers().map(|(a, b)| a != b)?,
        "-lt" => numbers().map(|(a, b)| a < b)?,
        "-le" => numbers().map(|(a, b)| a <= b)?,
        "-gt" => numbers().map(|(a, b)| a > b)?,
        "-ge" => numbers().map(|(a, b)| a >= b)?,
        _ => return None,
    })
}
