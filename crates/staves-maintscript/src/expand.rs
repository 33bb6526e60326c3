//! Word expansion: parameters, command substitution, quoting, field splitting and
//! pathname expansion against the image. A value that depends on the machine the script
//! would run on is `None` ("unknown") and makes the whole word unknown.

use brush_parser::word::{
    self, Parameter, ParameterExpr, ParameterTestType, SpecialParameter, WordPiece,
    WordPieceWithSource,
};

use crate::pattern;
use crate::run::Shell;

/// How a word is expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Command words: field splitting and pathname expansion.
    Fields,
    /// Assignments, `case` words, redirection targets: one string, no splitting.
    Single,
    /// `case` patterns: one string, quoted characters escaped so they match literally.
    Pattern,
}

/// Fields being built: the current one, and whether it holds an unquoted glob character.
#[derive(Default)]
struct Fields {
    done: Vec<(String, bool)>,
    current: String,
    started: bool,
    glob: bool,
    /// The field separators.
    ifs: String,
}

impl Fields {
    fn push_quoted(&mut self, text: &str) {
        self.current.push_str(text);
        self.started = true;
    }

    fn push_literal(&mut self, text: &str) {
        if text.contains(['*', '?', '[']) {
            self.glob = true;
        }
        self.push_quoted(text);
    }

    /// An unquoted expansion result: split on the characters of IFS (blanks by default;
    /// other characters delimit exactly, and one at the end makes no empty field).
    fn push_split(&mut self, text: &str) {
        let ifs = self.ifs.clone();
        if !ifs.chars().all(char::is_whitespace) {
            let text = text.strip_suffix(|c| ifs.contains(c)).unwrap_or(text);
            let mut parts = text.split(|c| ifs.contains(c)).peekable();
            while let Some(part) = parts.next() {
                self.push_literal(part);
                if parts.peek().is_some() {
                    self.end();
                }
            }
            return;
        }
        let mut parts = text.split([' ', '\t', '\n']).peekable();
        let leading_blank = text.starts_with([' ', '\t', '\n']);
        if leading_blank {
            self.end();
        }
        while let Some(part) = parts.next() {
            if !part.is_empty() {
                self.push_literal(part);
            }
            if parts.peek().is_some() {
                self.end();
            }
        }
    }

    fn end(&mut self) {
        if self.started {
            self.done
                .push((std::mem::take(&mut self.current), self.glob));
        }
        self.started = false;
        self.glob = false;
    }
}

impl Shell<'_> {
    /// Expands `text` (one word as written) into fields; `None` when unknown.
    pub(crate) fn expand(&mut self, text: &str, mode: Mode) -> Option<Vec<String>> {
        let pieces = word::parse(text, &self.options).ok()?;
        let mut fields = Fields {
            ifs: self
                .lookup_named("IFS")
                .flatten()
                .unwrap_or_else(|| " \t\n".into()),
            ..Fields::default()
        };
        for piece in &pieces {
            self.piece(&piece.piece, false, mode, &mut fields)?;
        }
        fields.end();
        if mode != Mode::Fields {
            let joined = fields
                .done
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
                .join(" ");
            return Some(vec![joined]);
        }
        let mut out = Vec::new();
        for (field, glob) in fields.done {
            if glob && !self.noglob && field.starts_with('/') {
                match self.image.glob(&field) {
                    Some(found) if !found.is_empty() => out.extend(found),
                    Some(_) => out.push(field),
                    None => return None,
                }
            } else {
                out.push(field);
            }
        }
        Some(out)
    }

    /// Expands `text` into one string (no splitting); `None` when unknown.
    pub(crate) fn expand_single(&mut self, text: &str) -> Option<String> {
        self.expand(text, Mode::Single)
            .map(|mut v| v.pop().unwrap_or_default())
    }

    fn piece(
        &mut self,
        piece: &WordPiece,
        quoted: bool,
        mode: Mode,
        fields: &mut Fields,
    ) -> Option<()> {
        let literal = |fields: &mut Fields, text: &str, is_quoted: bool| {
            if mode == Mode::Pattern && is_quoted {
                let escaped: String = text
                    .chars()
                    .flat_map(|c| {
                        if "*?[]\\".contains(c) {
                            vec!['\\', c]
                        } else {
                            vec![c]
                        }
                    })
                    .collect();
                fields.push_quoted(&escaped);
            } else if is_quoted {
                fields.push_quoted(text);
            } else {
                fields.push_literal(text);
            }
        };
        match piece {
            WordPiece::Text(text) => literal(fields, text, quoted),
            WordPiece::SingleQuotedText(text) | WordPiece::AnsiCQuotedText(text) => {
                literal(fields, text, true)
            }
            WordPiece::EscapeSequence(seq) => {
                let rest = seq.strip_prefix('\\').unwrap_or(seq);
                if quoted && !rest.starts_with(['$', '`', '"', '\\', '\n']) {
                    literal(fields, seq, true);
                } else if rest != "\n" {
                    literal(fields, rest, true);
                }
            }
            WordPiece::DoubleQuotedSequence(inner)
            | WordPiece::GettextDoubleQuotedSequence(inner) => {
                fields.started = true;
                if let [only] = inner.as_slice()
                    && is_all_positional(&only.piece)
                {
                    // "$@": one field per argument, none without arguments.
                    fields.started = false;
                    for arg in self.args.clone() {
                        fields.push_quoted(&arg);
                        fields.end();
                    }
                    return Some(());
                }
                for WordPieceWithSource { piece, .. } in inner {
                    self.piece(piece, true, mode, fields)?;
                }
            }
            WordPiece::TildeExpansion(_) => literal(fields, "/root", true),
            WordPiece::ParameterExpansion(expr) => {
                let value = self.parameter(expr)?;
                if quoted || mode != Mode::Fields {
                    literal(fields, &value, quoted);
                } else {
                    fields.push_split(&value);
                }
            }
            WordPiece::CommandSubstitution(script)
            | WordPiece::BackquotedCommandSubstitution(script) => {
                let out = self.substitute(script)?;
                let out = out.trim_end_matches('\n');
                if quoted || mode != Mode::Fields {
                    literal(fields, out, quoted);
                } else {
                    fields.push_split(out);
                }
            }
            WordPiece::ArithmeticExpression(expr) => {
                let value = self.arithmetic(&expr.value)?;
                literal(fields, &value.to_string(), true);
            }
        }
        Some(())
    }

    /// `$((…))` of integers and variables holding integers, `+ - * / %`, left to right.
    fn arithmetic(&mut self, expr: &str) -> Option<i64> {
        let mut total: i64 = 0;
        let mut op = '+';
        for token in expr.split_whitespace() {
            if let ["+" | "-" | "*" | "/" | "%"] = [token] {
                op = token.chars().next()?;
                continue;
            }
            let name = token.trim_start_matches('$');
            let value: i64 = match name.parse() {
                Ok(n) => n,
                Err(_) => self.lookup_named(name)?.unwrap_or_default().parse().ok()?,
            };
            total = match op {
                '+' => total.checked_add(value)?,
                '-' => total.checked_sub(value)?,
                '*' => total.checked_mul(value)?,
                '/' => total.checked_div(value)?,
                _ => total.checked_rem(value)?,
            };
        }
        Some(total)
    }

    /// `$0`: the shipped script being walked, or the maintainer script's name.
    fn script_name(&self) -> String {
        self.zero
            .last()
            .cloned()
            .unwrap_or_else(|| self.invocation.script.clone())
    }

    /// A parameter's value: `Some(None)` unset, `None` unknown.
    fn lookup(&self, parameter: &Parameter) -> Option<Option<String>> {
        match parameter {
            Parameter::Positional(0) => Some(Some(self.script_name())),
            Parameter::Positional(n) => Some(self.args.get(*n as usize - 1).cloned()),
            Parameter::Special(special) => match special {
                SpecialParameter::AllPositionalParameters { .. } => Some(Some(self.args.join(" "))),
                SpecialParameter::PositionalParameterCount => {
                    Some(Some(self.args.len().to_string()))
                }
                SpecialParameter::LastExitStatus => match self.last {
                    crate::Status::Success => Some(Some("0".into())),
                    crate::Status::Failure(n) => Some(Some(n.to_string())),
                    crate::Status::Unknown => None,
                },
                SpecialParameter::CurrentOptionFlags => {
                    Some(Some(if self.errexit { "e" } else { "" }.into()))
                }
                SpecialParameter::ShellName => Some(Some(self.script_name())),
                _ => None,
            },
            Parameter::Named(name) => self.lookup_named(name),
            _ => None,
        }
    }

    pub(crate) fn lookup_named(&self, name: &str) -> Option<Option<String>> {
        if let Some(value) = self.vars.get(name) {
            return value.clone().map(Some);
        }
        Some(match name {
            "DPKG_ROOT" => Some(String::new()),
            "DPKG_MAINTSCRIPT_PACKAGE" => Some(self.invocation.package.clone()),
            "DPKG_MAINTSCRIPT_NAME" => Some(self.invocation.script.clone()),
            "DPKG_MAINTSCRIPT_ARCH" => Some(self.invocation.arch.clone()),
            "PATH" => Some("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()),
            "HOME" => Some("/root".into()),
            "IFS" => Some(" \t\n".into()),
            // Set by dpkg for the script; its value depends on the dpkg that runs it.
            "DPKG_ADMINDIR" => Some("/var/lib/dpkg".into()),
            "DPKG_RUNNING_VERSION" => return None,
            _ => None,
        })
    }

    fn parameter(&mut self, expr: &ParameterExpr) -> Option<String> {
        let is_null = |v: &Option<String>, t: &ParameterTestType| match t {
            ParameterTestType::UnsetOrNull => v.as_deref().is_none_or(str::is_empty),
            ParameterTestType::Unset => v.is_none(),
        };
        match expr {
            ParameterExpr::Parameter {
                parameter,
                indirect: false,
            } => Some(self.lookup(parameter)?.unwrap_or_default()),
            ParameterExpr::UseDefaultValues {
                parameter,
                indirect: false,
                test_type,
                default_value,
            } => {
                let value = self.lookup(parameter)?;
                if is_null(&value, test_type) {
                    self.expand_single(default_value.as_deref().unwrap_or_default())
                } else {
                    value
                }
            }
            ParameterExpr::AssignDefaultValues {
                parameter: Parameter::Named(name),
                indirect: false,
                test_type,
                default_value,
            } => {
                let value = self.lookup_named(name)?;
                if is_null(&value, test_type) {
                    let new = self.expand_single(default_value.as_deref().unwrap_or_default());
                    self.vars.insert(name.clone(), new.clone());
                    new
                } else {
                    value
                }
            }
            ParameterExpr::UseAlternativeValue {
                parameter,
                indirect: false,
                test_type,
                alternative_value,
            } => {
                let value = self.lookup(parameter)?;
                if is_null(&value, test_type) {
                    Some(String::new())
                } else {
                    self.expand_single(alternative_value.as_deref().unwrap_or_default())
                }
            }
            ParameterExpr::IndicateErrorIfNullOrUnset {
                parameter,
                indirect: false,
                test_type,
                ..
            } => {
                let value = self.lookup(parameter)?;
                if is_null(&value, test_type) {
                    None
                } else {
                    value
                }
            }
            ParameterExpr::ParameterLength {
                parameter,
                indirect: false,
            } => Some(
                self.lookup(parameter)?
                    .unwrap_or_default()
                    .chars()
                    .count()
                    .to_string(),
            ),
            ParameterExpr::RemoveSmallestSuffixPattern {
                parameter,
                indirect: false,
                pattern,
            }
            | ParameterExpr::RemoveLargestSuffixPattern {
                parameter,
                indirect: false,
                pattern,
            }
            | ParameterExpr::RemoveSmallestPrefixPattern {
                parameter,
                indirect: false,
                pattern,
            }
            | ParameterExpr::RemoveLargestPrefixPattern {
                parameter,
                indirect: false,
                pattern,
            } => {
                let value = self.lookup(parameter)?.unwrap_or_default();
                let pattern = self
                    .expand(pattern.as_deref().unwrap_or_default(), Mode::Pattern)?
                    .pop()
                    .unwrap_or_default();
                let (suffix, longest) = match expr {
                    ParameterExpr::RemoveSmallestSuffixPattern { .. } => (true, false),
                    ParameterExpr::RemoveLargestSuffixPattern { .. } => (true, true),
                    ParameterExpr::RemoveSmallestPrefixPattern { .. } => (false, false),
                    _ => (false, true),
                };
                Some(pattern::remove(&value, &pattern, suffix, longest))
            }
            _ => None,
        }
    }
}

fn is_all_positional(piece: &WordPiece) -> bool {
    matches!(
        piece,
        WordPiece::ParameterExpansion(ParameterExpr::Parameter {
            parameter: Parameter::Special(SpecialParameter::AllPositionalParameters {
                concatenate: false
            }),
            ..
        })
    )
}
