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
use crate::{Image, Invocation, Note, NoteKind, Report, Status};

/// Builtins whose `NAME=VALUE` arguments brush parses as assignments, expanded as one word
/// each.
const DECLARING: [&str; 5] = ["alias", "eval", "local", "export", "readonly"];

/// Calls nested deeper than this (a function calling itself) stop the walk there.
mod builtins;

const MAX_DEPTH: usize = 64;
/// A loop whose condition stays true this long is taken as unbounded.
const MAX_ITERATIONS: usize = 1000;

/// Walks `script` as `invocation` would run it, against `image`.
pub fn run(script: &str, invocation: &Invocation, image: &mut dyn Image) -> Report {
    let options = ParserOptions {
        sh_mode: true,
        ..ParserOptions::default()
    };
    let program = match crate::parse::program(script, &options) {
        Ok(program) => program,
        Err(e) => {
            return Report {
                notes: vec![Note {
                    line: 0,
                    kind: NoteKind::Syntax,
                    text: e,
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
        aliases: HashMap::new(),
        function_input: Vec::new(),
        zero: Vec::new(),
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
    /// `alias NAME=VALUE`: the words a command name stands for (dash expands aliases in
    /// scripts too).
    aliases: HashMap<String, Vec<String>>,
    /// The standard input of the functions being run, innermost last: a command in a
    /// function body without input of its own reads the function's (`echo x | lower`
    /// where `lower() { tr A-Z a-z; }`).
    pub(crate) function_input: Vec<Option<String>>,
    /// `$0` of the shipped scripts being walked, innermost last (the script's own name
    /// otherwise).
    pub(crate) zero: Vec<String>,
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
            // The others run in subshells: `set -e` or `exit` there ends only the subshell.
            let mut input: Option<String> = None;
            let mut flow = Flow::Next;
            let mut known_input = true;
            for (i, command) in pipeline.seq.iter().enumerate() {
                let last = i + 1 == pipeline.seq.len();
                // What reads output known only at run time is not run: its own output and
                // status are unknown too (`ls -ln FILE | awk '{print $3}'`).
                if !known_input {
                    self.last = Status::Unknown;
                    if last {
                        self.emit(None);
                        if self.conditions == 0 {
                            self.note(
                                0,
                                NoteKind::UnknownWord,
                                format!("its input is known only at run time: {command}"),
                            );
                        }
                    }
                    continue;
                }
                if !last {
                    self.capture.push(Some(String::new()));
                    self.conditions += 1;
                }
                flow = self.command(command, input.as_deref().or(Some("")).filter(|_| i > 0));
                if !last {
                    self.conditions -= 1;
                    input = self.capture.pop().flatten();
                    known_input = input.is_some();
                    flow = Flow::Next;
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
        let inherited = match stdin {
            None => self.function_input.last().cloned().flatten(),
            Some(_) => None,
        };
        let stdin = stdin.or(inherited.as_deref());
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
                // `for …; done >> FILE`: the compound's output into a file.
                let into_file = redirects
                    .iter()
                    .flat_map(|r| r.0.iter())
                    .find_map(|r| match r {
                        IoRedirect::File(
                            fd,
                            kind @ (IoFileRedirectKind::Write
                            | IoFileRedirectKind::Clobber
                            | IoFileRedirectKind::Append),
                            IoFileRedirectTarget::Filename(w),
                        ) if fd.is_none_or(|fd| fd == 1) && w.value != "/dev/null" => {
                            Some((w.value.clone(), matches!(kind, IoFileRedirectKind::Append)))
                        }
                        _ => None,
                    })
                    .filter(|_| !discard);
                if into_file.is_some() {
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
                // `( while read …; done ) << DATA` (debhelper's dh_usrlocal).
                let here = redirects
                    .iter()
                    .flat_map(|r| r.0.iter())
                    .find_map(|r| match r {
                        IoRedirect::HereDocument(fd, doc) if fd.is_none_or(|fd| fd == 0) => {
                            Some(doc)
                        }
                        _ => None,
                    });
                let lines = match (from_file, here, stdin) {
                    (Some(word), _, _) => Some(
                        self.expand_single(&word)
                            .and_then(|path| self.image.read(&path)),
                    ),
                    (None, Some(doc), _) => Some(self.here_document(doc)),
                    (None, None, Some(text)) => Some(Some(text.to_owned())),
                    (None, None, None) => None,
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
                if let Some((word, append)) = into_file {
                    let text = self.capture.pop().flatten();
                    match (self.expand_single(&word), text) {
                        (Some(path), Some(text)) => {
                            let status = self.image.write(&path, &text, append);
                            if status != Status::Success {
                                self.last = status;
                            }
                        }
                        _ => self.note(
                            0,
                            NoteKind::UnknownWord,
                            format!("output of a compound command into {word}"),
                        ),
                    }
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
        let prefix = command.prefix.iter().flat_map(|p| p.0.iter());
        let suffix = command.suffix.iter().flat_map(|s| s.0.iter());
        let items = prefix.map(|i| (i, false)).chain(suffix.map(|i| (i, true)));
        if let Some(first) = &command.word_or_name {
            words.push(first.value.clone());
        }
        // After the command name, `NAME=VALUE` is an argument like any other word, except
        // to the builtins that declare variables (handled below).
        let declares = command
            .word_or_name
            .as_ref()
            .is_some_and(|w| DECLARING.contains(&w.value.as_str()));
        for (item, in_suffix) in items {
            match item {
                CommandPrefixOrSuffixItem::Word(w) => words.push(w.value.clone()),
                CommandPrefixOrSuffixItem::AssignmentWord(_, w) if in_suffix && !declares => {
                    words.push(w.value.clone());
                }
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
        // `alias NAME=VALUE`, `eval NAME=VALUE`, `local NAME=VALUE` and the like parse as
        // assignments after the command name: they are words to those builtins.
        if DECLARING.contains(&argv[0].as_str()) {
            for a in std::mem::take(&mut assignments) {
                let (ast::AssignmentName::VariableName(name), ast::AssignmentValue::Scalar(word)) =
                    (&a.name, &a.value)
                else {
                    continue;
                };
                match self.expand_single(&word.value) {
                    Some(value) => argv.push(format!("{name}={value}")),
                    None => {
                        self.note(line, NoteKind::UnknownWord, command.to_string());
                        self.last = Status::Unknown;
                        return Flow::Next;
                    }
                }
            }
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
                // `>&2`: standard output goes where errors go, which nothing reads.
                IoRedirect::File(
                    fd,
                    IoFileRedirectKind::DuplicateOutput,
                    IoFileRedirectTarget::Fd(2),
                ) if fd.is_none_or(|fd| fd == 1) => output = Output::Discard,
                IoRedirect::File(
                    fd,
                    IoFileRedirectKind::DuplicateOutput,
                    IoFileRedirectTarget::Duplicate(word),
                ) if fd.is_none_or(|fd| fd == 1) && word.value == "2" => {
                    output = Output::Discard;
                }
                IoRedirect::OutputAndError(word, append) => {
                    output = match self.expand_single(&word.value).as_deref() {
                        Some("/dev/null") => Output::Discard,
                        Some(path) => Output::File(path.to_owned(), *append),
                        None => Output::Unknown,
                    }
                }
                IoRedirect::HereDocument(_, doc) => {
                    input = self.here_document(doc);
                }
                IoRedirect::HereString(_, word) => {
                    input = self.expand_single(&word.value).map(|s| s + "\n");
                }
                _ => {}
            }
        }
        (output, input)
    }

    /// A here-document's text, expanded unless its delimiter was quoted.
    fn here_document(&mut self, doc: &ast::IoHereDocument) -> Option<String> {
        if doc.requires_expansion {
            match brush_parser::word::parse_heredoc(&doc.doc.value, &self.options) {
                Ok(_) => self.heredoc(&doc.doc.value),
                Err(_) => None,
            }
        } else {
            Some(doc.doc.value.clone())
        }
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
        let program = crate::parse::program(script, &self.options).ok()?;
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
}

fn line_of(span: Option<brush_parser::SourceSpan>) -> usize {
    span.map_or(0, |s| s.start.line)
}
