//! The walk: a shell's execution of the parsed script, with three-valued statuses.

use std::collections::HashMap;
use std::rc::Rc;

use brush_parser::ParserOptions;
use brush_parser::ast::SourceLocation;
use brush_parser::ast::{
    self, AndOr, Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList,
    IoFileRedirectKind, IoFileRedirectTarget, IoRedirect, Pipeline, SimpleCommand,
};

use crate::expand::Mode;
use crate::{Image, Invocation, Note, NoteKind, Ran, Report, Status};

/// Calls nested deeper than this (a function calling itself) stop the walk there.
const MAX_DEPTH: usize = 64;
/// A loop whose condition stays true this long is taken as unbounded.
const MAX_ITERATIONS: usize = 1000;

/// Walks `script` as `invocation` would run it, against `image`.
pub fn run(script: &str, invocation: &Invocation, image: &mut dyn Image) -> Report {
    let options = ParserOptions {
        sh_mode: true,
        ..ParserOptions::default()
    };
    let program =
        match brush_parser::Parser::new(std::io::BufReader::new(script.as_bytes()), &options)
            .parse_program()
        {
            Ok(program) => program,
            Err(e) => {
                return Report {
                    notes: vec![Note {
                        line: 0,
                        kind: NoteKind::Syntax,
                        text: e.to_string(),
                    }],
                    status: None,
                };
            }
        };
    let mut shell = Shell {
        image,
        options,
        invocation,
        vars: HashMap::new(),
        args: invocation.args.clone(),
        functions: HashMap::new(),
        last: Status::Success,
        errexit: false,
        conditions: 0,
        depth: 0,
        capture: Vec::new(),
        input: Vec::new(),
        noglob: false,
        read_ifs: None,
        report: Report::default(),
    };
    for list in &program.complete_commands {
        if let Flow::Exit = shell.list(list) {
            break;
        }
    }
    let mut report = shell.report;
    report.status = Some(shell.last);
    report
}

/// How a command ends the commands around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    Return,
    Exit,
    Break(u32),
    Continue(u32),
}

/// Where a command's standard output goes.
enum Output {
    Inherit,
    Discard,
    File(String, bool),
    Unknown,
}

pub(crate) struct Shell<'a> {
    pub(crate) image: &'a mut dyn Image,
    pub(crate) options: ParserOptions,
    pub(crate) invocation: &'a Invocation,
    /// Variables; `None` holds an unknown value.
    pub(crate) vars: HashMap<String, Option<String>>,
    pub(crate) args: Vec<String>,
    functions: HashMap<String, Rc<CompoundCommand>>,
    pub(crate) last: Status,
    pub(crate) errexit: bool,
    /// Inside a condition (`if`, `while`, `!`, left of `&&`/`||`): `set -e` does not apply.
    conditions: usize,
    depth: usize,
    /// Output captured by command substitutions, innermost last; `None` once unknown.
    capture: Vec<Option<String>>,
    /// Lines a compound command's input redirection gives `read`, innermost last;
    /// `None` when the file is not known.
    input: Vec<Option<std::collections::VecDeque<String>>>,
    /// `set -f`: no pathname expansion.
    pub(crate) noglob: bool,
    /// IFS given to the command being run (`IFS=# read …`).
    read_ifs: Option<String>,
    report: Report,
}

impl Shell<'_> {
    fn note(&mut self, line: usize, kind: NoteKind, text: impl Into<String>) {
        let text = text.into();
        let text = text
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(160)
            .collect();
        self.report.notes.push(Note { line, kind, text });
    }

    fn list(&mut self, list: &CompoundList) -> Flow {
        for item in &list.0 {
            let flow = self.and_or(&item.0);
            if flow != Flow::Next {
                return flow;
            }
        }
        Flow::Next
    }

    fn and_or(&mut self, list: &ast::AndOrList) -> Flow {
        let last_index = list.additional.len();
        let flow = self.pipeline(&list.first, last_index > 0);
        if flow != Flow::Next {
            return flow;
        }
        for (i, next) in list.additional.iter().enumerate() {
            let (run, pipeline) = match (next, self.last) {
                (AndOr::And(p), Status::Success) | (AndOr::Or(p), Status::Failure(_)) => (true, p),
                (AndOr::And(p), Status::Failure(_)) | (AndOr::Or(p), Status::Success) => (false, p),
                (AndOr::And(p) | AndOr::Or(p), Status::Unknown) => {
                    let line = line_of(p.location());
                    self.note(line, NoteKind::Undecided, p.to_string());
                    (true, p)
                }
            };
            if run {
                let flow = self.pipeline(pipeline, i + 1 < last_index);
                if flow != Flow::Next {
                    return flow;
                }
            }
        }
        Flow::Next
    }

    fn pipeline(&mut self, pipeline: &Pipeline, condition: bool) -> Flow {
        let condition = condition || pipeline.bang;
        if condition {
            self.conditions += 1;
        }
        let flow = if let [only] = pipeline.seq.as_slice() {
            self.command(only, None)
        } else {
            // Each command's output is the next one's input; the last one's status counts.
            let mut input: Option<String> = None;
            let mut flow = Flow::Next;
            for (i, command) in pipeline.seq.iter().enumerate() {
                let last = i + 1 == pipeline.seq.len();
                if !last {
                    self.capture.push(Some(String::new()));
                }
                flow = self.command(command, input.as_deref().or(Some("")).filter(|_| i > 0));
                if !last {
                    input = self.capture.pop().flatten();
                    if input.is_none() {
                        input = None;
                    }
                }
                if flow == Flow::Exit {
                    break;
                }
            }
            flow
        };
        if condition {
            self.conditions -= 1;
        }
        if pipeline.bang {
            self.last = self.last.negate();
        }
        // A compound command's status is its last command's, whose own failure was
        // already judged where it ran (or exempt there, as in `a && b`).
        let compound = matches!(
            pipeline.seq.as_slice(),
            [Command::Compound(c, _)] if !matches!(c, CompoundCommand::Subshell(_))
        );
        if flow == Flow::Next
            && self.errexit
            && !condition
            && !compound
            && self.conditions == 0
            && matches!(self.last, Status::Failure(_))
        {
            let line = line_of(pipeline.location());
            self.note(line, NoteKind::Failed, pipeline.to_string());
            return Flow::Exit;
        }
        flow
    }

    fn command(&mut self, command: &Command, stdin: Option<&str>) -> Flow {
        match command {
            Command::Simple(simple) => self.simple(simple, stdin),
            Command::Compound(compound, redirects) => {
                let discard = redirects.as_ref().is_some_and(|r| {
                    r.0.iter().all(|r| matches!(r, IoRedirect::File(_, _, IoFileRedirectTarget::Filename(w)) if w.value == "/dev/null")
                        || matches!(r, IoRedirect::File(_, IoFileRedirectKind::DuplicateOutput, _)))
                });
                if discard {
                    self.capture.push(Some(String::new()));
                }
                // `while read …; done < FILE`, or a pipe into the loop.
                let from_file = redirects
                    .iter()
                    .flat_map(|r| r.0.iter())
                    .find_map(|r| match r {
                        IoRedirect::File(
                            fd,
                            IoFileRedirectKind::Read,
                            IoFileRedirectTarget::Filename(w),
                        ) if fd.is_none_or(|fd| fd == 0) => Some(w.value.clone()),
                        _ => None,
                    });
                let lines = match (from_file, stdin) {
                    (Some(word), _) => Some(
                        self.expand_single(&word)
                            .and_then(|path| self.image.read(&path)),
                    ),
                    (None, Some(text)) => Some(Some(text.to_owned())),
                    (None, None) => None,
                };
                let pushed = lines.is_some();
                if let Some(text) = lines {
                    self.input
                        .push(text.map(|t| t.lines().map(str::to_owned).collect()));
                }
                let flow = self.compound(compound);
                if pushed {
                    self.input.pop();
                }
                if discard {
                    self.capture.pop();
                }
                flow
            }
            Command::Function(def) => {
                self.functions
                    .insert(def.fname.value.clone(), Rc::new(def.body.0.clone()));
                self.last = Status::Success;
                Flow::Next
            }
            Command::ExtendedTest(..) => {
                self.note(0, NoteKind::Unsupported, "[[ … ]]");
                self.last = Status::Unknown;
                Flow::Next
            }
        }
    }

    fn compound(&mut self, compound: &CompoundCommand) -> Flow {
        match compound {
            CompoundCommand::BraceGroup(group) => self.list(&group.list),
            CompoundCommand::Subshell(sub) => {
                let saved = (self.vars.clone(), self.args.clone(), self.errexit);
                let flow = self.list(&sub.list);
                (self.vars, self.args, self.errexit) = saved;
                if flow == Flow::Exit { Flow::Next } else { flow }
            }
            CompoundCommand::IfClause(clause) => self.if_clause(clause),
            CompoundCommand::ForClause(clause) => {
                let line = line_of(Some(clause.loc.clone()));
                let values = match &clause.values {
                    None => Some(self.args.clone()),
                    Some(words) => {
                        let mut all = Some(Vec::new());
                        for word in words {
                            match (self.expand(&word.value, Mode::Fields), all.as_mut()) {
                                (Some(fields), Some(all)) => all.extend(fields),
                                _ => all = None,
                            }
                        }
                        all
                    }
                };
                let Some(values) = values else {
                    self.note(
                        line,
                        NoteKind::UnknownWord,
                        format!("for {} in …", clause.variable_name),
                    );
                    self.last = Status::Unknown;
                    return Flow::Next;
                };
                self.last = Status::Success;
                for value in values {
                    self.vars.insert(clause.variable_name.clone(), Some(value));
                    match self.list(&clause.body.list) {
                        Flow::Next | Flow::Continue(1) => {}
                        Flow::Break(1) => break,
                        Flow::Break(n) => return Flow::Break(n - 1),
                        Flow::Continue(n) => return Flow::Continue(n - 1),
                        flow => return flow,
                    }
                }
                Flow::Next
            }
            CompoundCommand::CaseClause(clause) => {
                let line = line_of(Some(clause.loc.clone()));
                let Some(value) = self.expand_single(&clause.value.value) else {
                    self.note(
                        line,
                        NoteKind::Undecided,
                        format!("case {} in", clause.value.value),
                    );
                    self.last = Status::Unknown;
                    return Flow::Next;
                };
                self.last = Status::Success;
                for item in &clause.cases {
                    let mut hit = false;
                    for pattern in &item.patterns {
                        match self.expand(&pattern.value, Mode::Pattern) {
                            Some(p)
                                if crate::pattern::matches(
                                    p.first().map_or("", String::as_str),
                                    &value,
                                ) =>
                            {
                                hit = true;
                                break;
                            }
                            Some(_) => {}
                            None => {
                                self.note(
                                    line,
                                    NoteKind::Undecided,
                                    format!("case pattern {}", pattern.value),
                                );
                            }
                        }
                    }
                    if hit {
                        return match &item.cmd {
                            Some(list) => self.list(list),
                            None => Flow::Next,
                        };
                    }
                }
                Flow::Next
            }
            CompoundCommand::WhileClause(clause) | CompoundCommand::UntilClause(clause) => {
                let until = matches!(compound, CompoundCommand::UntilClause(_));
                let line = line_of(Some(clause.2.clone()));
                for _ in 0..MAX_ITERATIONS {
                    self.conditions += 1;
                    let flow = self.list(&clause.0);
                    self.conditions -= 1;
                    if flow != Flow::Next {
                        return flow;
                    }
                    let go = match self.last {
                        Status::Success => !until,
                        Status::Failure(_) => until,
                        Status::Unknown => {
                            self.note(
                                line,
                                NoteKind::Unsupported,
                                "a loop on a condition known only at run time",
                            );
                            self.last = Status::Unknown;
                            return Flow::Next;
                        }
                    };
                    if !go {
                        self.last = Status::Success;
                        return Flow::Next;
                    }
                    match self.list(&clause.1.list) {
                        Flow::Next | Flow::Continue(1) => {}
                        Flow::Break(1) => return Flow::Next,
                        Flow::Break(n) => return Flow::Break(n - 1),
                        Flow::Continue(n) => return Flow::Continue(n - 1),
                        flow => return flow,
                    }
                }
                self.note(line, NoteKind::Unsupported, "a loop that does not end");
                self.last = Status::Unknown;
                Flow::Next
            }
            CompoundCommand::Arithmetic(_)
            | CompoundCommand::ArithmeticForClause(_)
            | CompoundCommand::Coprocess(_) => {
                self.note(
                    line_of(compound.location()),
                    NoteKind::Unsupported,
                    "arithmetic or coprocess command",
                );
                self.last = Status::Unknown;
                Flow::Next
            }
        }
    }

    fn if_clause(&mut self, clause: &ast::IfClauseCommand) -> Flow {
        let mut branches: Vec<(Option<&CompoundList>, &CompoundList)> =
            vec![(Some(&clause.condition), &clause.then)];
        for e in clause.elses.iter().flatten() {
            branches.push((e.condition.as_ref(), &e.body));
        }
        for (condition, body) in branches {
            let Some(condition) = condition else {
                return self.list(body);
            };
            self.conditions += 1;
            let flow = self.list(condition);
            self.conditions -= 1;
            if flow != Flow::Next {
                return flow;
            }
            match self.last {
                Status::Success => return self.list(body),
                Status::Failure(_) => {}
                Status::Unknown => {
                    let line = line_of(condition.location());
                    self.note(line, NoteKind::Undecided, format!("if {condition}"));
                    return self.list(body);
                }
            }
        }
        self.last = Status::Success;
        Flow::Next
    }

    fn simple(&mut self, command: &SimpleCommand, stdin: Option<&str>) -> Flow {
        let line = line_of(command.location());
        let mut assignments = Vec::new();
        let mut words = Vec::new();
        let mut redirects = Vec::new();
        let items = command
            .prefix
            .iter()
            .flat_map(|p| p.0.iter())
            .chain(command.suffix.iter().flat_map(|s| s.0.iter()));
        if let Some(first) = &command.word_or_name {
            words.push(first.value.clone());
        }
        for item in items {
            match item {
                CommandPrefixOrSuffixItem::Word(w) => words.push(w.value.clone()),
                CommandPrefixOrSuffixItem::AssignmentWord(a, _) => assignments.push(a),
                CommandPrefixOrSuffixItem::IoRedirect(r) => redirects.push(r),
                CommandPrefixOrSuffixItem::ProcessSubstitution(..) => {
                    self.note(line, NoteKind::Unsupported, command.to_string());
                    self.last = Status::Unknown;
                    return Flow::Next;
                }
            }
        }
        // Words before the command name in `word_or_name` order: the prefix comes first.
        if command.word_or_name.is_some() && command.prefix.is_some() {
            let name = words.remove(0);
            let prefix_words = command
                .prefix
                .iter()
                .flat_map(|p| p.0.iter())
                .filter(|i| matches!(i, CommandPrefixOrSuffixItem::Word(_)))
                .count();
            words.insert(prefix_words, name);
        }
        let mut argv = Vec::new();
        for word in &words {
            match self.expand(word, Mode::Fields) {
                Some(fields) => argv.extend(fields),
                None => {
                    // In a condition, the undecided branch is what gets reported.
                    if self.conditions == 0 {
                        self.note(line, NoteKind::UnknownWord, command.to_string());
                    }
                    self.last = Status::Unknown;
                    return Flow::Next;
                }
            }
        }
        if argv.is_empty() {
            for a in assignments {
                self.assign(a);
            }
            if words.is_empty() || self.last != Status::Unknown {
                self.last = Status::Success;
            }
            return Flow::Next;
        }
        let (output, input) = self.redirections(&redirects, stdin);
        self.read_ifs = None;
        for a in &assignments {
            if let ast::AssignmentName::VariableName(name) = &a.name
                && name == "IFS"
                && let ast::AssignmentValue::Scalar(word) = &a.value
            {
                self.read_ifs = self.expand_single(&word.value);
            }
        }
        let (flow, out) = self.call(&argv, input.as_deref(), line, command);
        match (output, out) {
            (Output::Discard, _) => {}
            (Output::Inherit, out) => self.emit(out),
            (Output::File(path, append), Some(text)) => {
                let status = self.image.write(&path, &text, append);
                if status != Status::Success {
                    self.last = status;
                }
            }
            (Output::File(path, _), None) => {
                self.note(
                    line,
                    NoteKind::UnknownWord,
                    format!("output of `{}` into {path}", argv.join(" ")),
                );
            }
            (Output::Unknown, _) => self.note(line, NoteKind::UnknownWord, command.to_string()),
        }
        flow
    }

    fn assign(&mut self, a: &ast::Assignment) {
        let ast::AssignmentName::VariableName(name) = &a.name else {
            return;
        };
        let value = match &a.value {
            ast::AssignmentValue::Scalar(word) => self.expand_single(&word.value),
            ast::AssignmentValue::Array(_) => None,
        };
        let value = if a.append {
            match (self.lookup_named(name).flatten(), value) {
                (prefix, Some(v)) => Some(format!("{}{v}", prefix.unwrap_or_default())),
                _ => None,
            }
        } else {
            value
        };
        self.vars.insert(name.clone(), value);
    }

    /// Where output goes and what input comes from.
    fn redirections(
        &mut self,
        redirects: &[&IoRedirect],
        stdin: Option<&str>,
    ) -> (Output, Option<String>) {
        let mut output = Output::Inherit;
        let mut input = stdin.map(str::to_owned);
        for r in redirects {
            match r {
                IoRedirect::File(fd, kind, IoFileRedirectTarget::Filename(word)) => {
                    let target = self.expand_single(&word.value);
                    match kind {
                        IoFileRedirectKind::Write
                        | IoFileRedirectKind::Clobber
                        | IoFileRedirectKind::Append
                            if fd.is_none_or(|fd| fd == 1) =>
                        {
                            output = match target.as_deref() {
                                Some("/dev/null") => Output::Discard,
                                Some(path) => Output::File(
                                    path.to_owned(),
                                    matches!(kind, IoFileRedirectKind::Append),
                                ),
                                None => Output::Unknown,
                            }
                        }
                        IoFileRedirectKind::Read if fd.is_none_or(|fd| fd == 0) => {
                            input = target.and_then(|p| self.image.read(&p));
                        }
                        _ => {}
                    }
                }
                IoRedirect::OutputAndError(word, append) => {
                    output = match self.expand_single(&word.value).as_deref() {
                        Some("/dev/null") => Output::Discard,
                        Some(path) => Output::File(path.to_owned(), *append),
                        None => Output::Unknown,
                    }
                }
                IoRedirect::HereDocument(_, doc) => {
                    let text = if doc.requires_expansion {
                        match brush_parser::word::parse_heredoc(&doc.doc.value, &self.options) {
                            Ok(_) => self.heredoc(&doc.doc.value),
                            Err(_) => None,
                        }
                    } else {
                        Some(doc.doc.value.clone())
                    };
                    input = text;
                }
                IoRedirect::HereString(_, word) => {
                    input = self.expand_single(&word.value).map(|s| s + "\n");
                }
                _ => {}
            }
        }
        (output, input)
    }

    /// A here-document's text with parameters and command substitutions expanded.
    fn heredoc(&mut self, text: &str) -> Option<String> {
        let pieces = brush_parser::word::parse_heredoc(text, &self.options).ok()?;
        let mut out = String::new();
        for piece in pieces {
            let as_text = match piece.piece {
                brush_parser::word::WordPiece::Text(t) => t,
                brush_parser::word::WordPiece::EscapeSequence(s) => {
                    s.trim_start_matches('\\').to_owned()
                }
                _ => self.expand_single(&text[piece.start_index..piece.end_index])?,
            };
            out.push_str(&as_text);
        }
        Some(out)
    }

    fn emit(&mut self, out: Option<String>) {
        if let Some(capture) = self.capture.last_mut() {
            match (capture.as_mut(), out) {
                (Some(c), Some(text)) => c.push_str(&text),
                _ => *capture = None,
            }
        }
    }

    /// A command substitution's output; `None` when unknown.
    pub(crate) fn substitute(&mut self, script: &str) -> Option<String> {
        let program =
            brush_parser::Parser::new(std::io::BufReader::new(script.as_bytes()), &self.options)
                .parse_program()
                .ok()?;
        let saved = (
            self.vars.clone(),
            self.args.clone(),
            self.errexit,
            self.last,
        );
        self.capture.push(Some(String::new()));
        for list in &program.complete_commands {
            if self.list(list) != Flow::Next {
                break;
            }
        }
        let out = self.capture.pop().flatten();
        let status = self.last;
        (self.vars, self.args, self.errexit, _) = saved;
        self.last = status;
        out
    }

    /// Runs a function, builtin or external command.
    fn call(
        &mut self,
        argv: &[String],
        stdin: Option<&str>,
        line: usize,
        command: &SimpleCommand,
    ) -> (Flow, Option<String>) {
        let name = argv[0].as_str();
        if let Some(body) = self.functions.get(name).cloned() {
            if self.depth >= MAX_DEPTH {
                self.note(
                    line,
                    NoteKind::Unsupported,
                    format!("{name}: calls nested too deep"),
                );
                self.last = Status::Unknown;
                return (Flow::Next, None);
            }
            self.depth += 1;
            let saved = std::mem::replace(&mut self.args, argv[1..].to_vec());
            self.capture.push(Some(String::new()));
            let flow = self.compound(&body);
            let out = self.capture.pop().flatten();
            self.args = saved;
            self.depth -= 1;
            let flow = match flow {
                Flow::Return | Flow::Next => Flow::Next,
                other => other,
            };
            return (flow, out);
        }
        let args = &argv[1..];
        match name {
            ":" | "true" | "trap" | "wait" | "hash" | "ulimit" => self.done(Status::Success),
            "false" => self.done(Status::Failure(1)),
            "echo" => {
                let (newline, words) = match args.first().map(String::as_str) {
                    Some("-n") => (false, &args[1..]),
                    _ => (true, args),
                };
                self.last = Status::Success;
                let mut text = words.join(" ");
                if newline {
                    text.push('\n');
                }
                (Flow::Next, Some(text))
            }
            "printf" => {
                self.last = Status::Success;
                (Flow::Next, printf(args))
            }
            "cat" if args.is_empty() || args == ["-"] => {
                self.last = Status::Success;
                (Flow::Next, stdin.map(str::to_owned))
            }
            "cat" if args.iter().all(|a| !a.starts_with('-')) => {
                let mut text = Some(String::new());
                for a in args {
                    match (text.as_mut(), self.image.read(a)) {
                        (Some(t), Some(content)) => t.push_str(&content),
                        _ => text = None,
                    }
                }
                self.last = if text.is_some() {
                    Status::Success
                } else {
                    Status::Unknown
                };
                (Flow::Next, text)
            }
            "test" | "[" => {
                let args = if name == "[" {
                    match args.split_last() {
                        Some((close, rest)) if close == "]" => rest,
                        _ => return self.done(Status::Failure(2)),
                    }
                } else {
                    args
                };
                let status = match crate::test_expr::evaluate(args, &*self.image) {
                    Some(v) => Status::from_bool(v),
                    None => Status::Unknown,
                };
                self.done(status)
            }
            "set" => {
                for a in args {
                    match a.as_str() {
                        "-e" => self.errexit = true,
                        "+e" => self.errexit = false,
                        "-f" => self.noglob = true,
                        "+f" => self.noglob = false,
                        "--" => {
                            let at = args.iter().position(|x| x == "--").unwrap_or(0);
                            self.args = args[at + 1..].to_vec();
                            break;
                        }
                        _ if a.starts_with('-') && a.contains('e') => self.errexit = true,
                        _ => {}
                    }
                }
                self.done(Status::Success)
            }
            "shift" => {
                let n = args.first().and_then(|n| n.parse().ok()).unwrap_or(1usize);
                if n > self.args.len() {
                    return self.done(Status::Failure(1));
                }
                self.args.drain(..n);
                self.done(Status::Success)
            }
            "exit" | "return" => {
                let status = match args.first().map(|s| s.parse::<u8>()) {
                    None => self.last,
                    Some(Ok(0)) => Status::Success,
                    Some(Ok(n)) => Status::Failure(n),
                    Some(Err(_)) => Status::Unknown,
                };
                self.last = status;
                let flow = if name == "exit" {
                    Flow::Exit
                } else {
                    Flow::Return
                };
                (flow, Some(String::new()))
            }
            "break" | "continue" => {
                let n = args
                    .first()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1u32)
                    .max(1);
                self.last = Status::Success;
                let flow = if name == "break" {
                    Flow::Break(n)
                } else {
                    Flow::Continue(n)
                };
                (flow, Some(String::new()))
            }
            "export" | "local" | "readonly" | "unset" => {
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    match a.split_once('=') {
                        Some((var, value)) => {
                            self.vars.insert(var.to_owned(), Some(value.to_owned()));
                        }
                        None if name == "unset" => {
                            self.vars.remove(a);
                        }
                        None if name == "local" => {
                            self.vars.insert(a.clone(), Some(String::new()));
                        }
                        None => {}
                    }
                }
                self.done(Status::Success)
            }
            "command" if args.first().is_some_and(|a| a == "-v") => {
                let found = args.get(1).map(|p| self.which(p));
                match found {
                    Some(Some(Some(path))) => {
                        self.last = Status::Success;
                        (Flow::Next, Some(format!("{path}\n")))
                    }
                    Some(Some(None)) => self.done(Status::Failure(1)),
                    _ => self.done(Status::Unknown),
                }
            }
            "which" => match args.first().map(|p| self.which(p)) {
                Some(Some(Some(path))) => {
                    self.last = Status::Success;
                    (Flow::Next, Some(format!("{path}\n")))
                }
                Some(Some(None)) => self.done(Status::Failure(1)),
                _ => self.done(Status::Unknown),
            },
            "command" | "exec" if !args.is_empty() => self.call(args, stdin, line, command),
            "." | "source" => {
                // debconf's confmodule re-runs the script under a frontend; its questions
                // are answered by their defaults, which `db_get` does not know.
                if args
                    .first()
                    .is_some_and(|a| a.starts_with("/usr/share/debconf/"))
                {
                    return self.done(Status::Success);
                }
                let text = args.first().and_then(|p| self.image.read(p));
                match text {
                    Some(text) => {
                        let program = brush_parser::Parser::new(
                            std::io::BufReader::new(text.as_bytes()),
                            &self.options,
                        )
                        .parse_program();
                        match program {
                            Ok(program) => {
                                for list in &program.complete_commands {
                                    let flow = self.list(list);
                                    if flow != Flow::Next {
                                        return (flow, Some(String::new()));
                                    }
                                }
                                (Flow::Next, Some(String::new()))
                            }
                            Err(_) => self.done(Status::Unknown),
                        }
                    }
                    None => {
                        self.note(line, NoteKind::Unsupported, command.to_string());
                        self.done(Status::Unknown)
                    }
                }
            }
            "db_get" => {
                let answer = args.first().and_then(|q| self.image.debconf(q));
                let status = if answer.is_some() {
                    Status::Success
                } else {
                    Status::Failure(10)
                };
                self.vars.insert("RET".into(), answer);
                self.done(status)
            }
            "db_metaget" => {
                self.vars.insert("RET".into(), None);
                self.done(Status::Success)
            }
            n if n.starts_with("db_") => self.done(Status::Success),
            "read" => {
                let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
                let line_read = match (stdin, self.input.last_mut()) {
                    (Some(text), _) => Some(text.lines().next().map(str::to_owned)),
                    (None, Some(Some(lines))) => Some(lines.pop_front()),
                    _ => None,
                };
                match line_read {
                    Some(Some(text)) => {
                        let ifs = self
                            .read_ifs
                            .clone()
                            .or_else(|| self.lookup_named("IFS").flatten());
                        let ifs = ifs.unwrap_or_else(|| " \t\n".into());
                        let mut rest =
                            text.trim_matches(|c: char| c.is_whitespace() && ifs.contains(c));
                        for (i, name) in names.iter().enumerate() {
                            let value = if i + 1 == names.len() {
                                std::mem::take(&mut rest).to_owned()
                            } else {
                                match rest.find(|c| ifs.contains(c)) {
                                    Some(at) => {
                                        let v = rest[..at].to_owned();
                                        rest = &rest[at + 1..];
                                        v
                                    }
                                    None => std::mem::take(&mut rest).to_owned(),
                                }
                            };
                            self.vars.insert((*name).clone(), Some(value));
                        }
                        self.done(Status::Success)
                    }
                    Some(None) => self.done(Status::Failure(1)),
                    None => {
                        for a in &names {
                            self.vars.insert((*a).clone(), None);
                        }
                        self.note(line, NoteKind::Unsupported, command.to_string());
                        self.done(Status::Unknown)
                    }
                }
            }
            "getopts" => {
                let (Some(spec), Some(var)) = (args.first(), args.get(1)) else {
                    return self.done(Status::Failure(2));
                };
                let list: Vec<String> = if args.len() > 2 {
                    args[2..].to_vec()
                } else {
                    self.args.clone()
                };
                let index: usize = self
                    .lookup_named("OPTIND")
                    .flatten()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let current = list.get(index.saturating_sub(1)).cloned();
                match current {
                    Some(arg) if arg == "--" => {
                        self.vars
                            .insert("OPTIND".into(), Some((index + 1).to_string()));
                        self.vars.insert(var.clone(), Some("?".into()));
                        self.done(Status::Failure(1))
                    }
                    Some(arg) if arg.starts_with('-') && arg.len() > 1 => {
                        let option = arg[1..].chars().next().unwrap_or('?');
                        let at = spec.find(option);
                        let takes_value =
                            at.is_some_and(|i| spec[i + option.len_utf8()..].starts_with(':'));
                        let mut next = index + 1;
                        if takes_value {
                            let value = if arg.len() > 2 {
                                Some(arg[2..].to_owned())
                            } else {
                                next += 1;
                                list.get(index).cloned()
                            };
                            self.vars.insert("OPTARG".into(), value);
                        }
                        let name = if at.is_some() {
                            option.to_string()
                        } else {
                            "?".into()
                        };
                        self.vars.insert(var.clone(), Some(name));
                        self.vars.insert("OPTIND".into(), Some(next.to_string()));
                        self.done(Status::Success)
                    }
                    _ => {
                        self.vars.insert(var.clone(), Some("?".into()));
                        self.done(Status::Failure(1))
                    }
                }
            }
            "eval" => {
                self.note(line, NoteKind::Unsupported, command.to_string());
                self.done(Status::Unknown)
            }
            _ => {
                let ran = match crate::utils::run(argv, stdin, &mut *self.image) {
                    Some(ran) => ran,
                    None => match self.image.run(argv, stdin) {
                        Some(ran) => ran,
                        None => match self.shipped_script(name) {
                            Some(text) => return self.call_script(&text, argv),
                            None => {
                                self.image.unmodelled(argv);
                                Ran::unknown()
                            }
                        },
                    },
                };
                self.last = ran.status;
                (Flow::Next, ran.stdout)
            }
        }
    }

    /// The text of a command the image ships as a POSIX shell script.
    fn shipped_script(&self, name: &str) -> Option<String> {
        let path = self.which(name)??;
        let text = self.image.read(&path)?;
        let first = text.lines().next()?;
        let interpreter = first.strip_prefix("#!")?.trim();
        matches!(
            interpreter,
            "/bin/sh" | "/bin/sh -e" | "/usr/bin/sh" | "/bin/dash"
        )
        .then_some(text)
    }

    /// Walks a shipped script as a child shell: its own variables, arguments and `exit`.
    fn call_script(&mut self, text: &str, argv: &[String]) -> (Flow, Option<String>) {
        if self.depth >= MAX_DEPTH {
            return self.done(Status::Unknown);
        }
        let Ok(program) =
            brush_parser::Parser::new(std::io::BufReader::new(text.as_bytes()), &self.options)
                .parse_program()
        else {
            self.image.unmodelled(argv);
            return self.done(Status::Unknown);
        };
        self.depth += 1;
        let saved = (
            std::mem::take(&mut self.vars),
            std::mem::replace(&mut self.args, argv[1..].to_vec()),
            std::mem::replace(
                &mut self.errexit,
                text.lines().next().is_some_and(|l| l.ends_with("-e")),
            ),
            std::mem::take(&mut self.functions),
        );
        self.capture.push(Some(String::new()));
        for list in &program.complete_commands {
            if self.list(list) != Flow::Next {
                break;
            }
        }
        let out = self.capture.pop().flatten();
        (self.vars, self.args, self.errexit, self.functions) = saved;
        self.depth -= 1;
        (Flow::Next, out)
    }

    /// A builtin's end: its status, no output.
    fn done(&mut self, status: Status) -> (Flow, Option<String>) {
        self.last = status;
        (Flow::Next, Some(String::new()))
    }

    /// `command -v NAME`: its path in the image (`Some(None)`: absent; `None`: unknown).
    fn which(&self, name: &str) -> Option<Option<String>> {
        if self.functions.contains_key(name) || is_builtin(name) {
            return Some(Some(name.to_owned()));
        }
        if name.contains('/') {
            return self
                .image
                .test(name, crate::FileTest::Executable)
                .map(|found| found.then(|| name.to_owned()));
        }
        let mut unknown = false;
        for dir in [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ] {
            let path = format!("{dir}/{name}");
            match self.image.test(&path, crate::FileTest::Executable) {
                Some(true) => return Some(Some(path)),
                Some(false) => {}
                None => unknown = true,
            }
        }
        (!unknown).then_some(None)
    }
}

fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        ":" | "true"
            | "false"
            | "echo"
            | "printf"
            | "test"
            | "["
            | "set"
            | "shift"
            | "exit"
            | "return"
            | "export"
            | "local"
            | "unset"
            | "command"
            | "."
            | "cd"
            | "trap"
            | "umask"
            | "read"
            | "eval"
    )
}

/// `printf FORMAT ARG…` for `%s`, `%d`, `%%` and the usual escapes; `None` for other formats.
fn printf(args: &[String]) -> Option<String> {
    let (format, mut rest) = args.split_first()?;
    let mut out = String::new();
    loop {
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('\\') => out.push('\\'),
                    Some(other) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => out.push('\\'),
                },
                '%' => match chars.next() {
                    Some('%') => out.push('%'),
                    Some('s' | 'd') => {
                        if let Some((arg, more)) = rest.split_first() {
                            out.push_str(arg);
                            rest = more;
                        }
                    }
                    _ => return None,
                },
                c => out.push(c),
            }
        }
        if rest.is_empty() || !format.contains('%') {
            return Some(out);
        }
    }
}

fn line_of(span: Option<brush_parser::SourceSpan>) -> usize {
    span.map_or(0, |s| s.start.line)
}
