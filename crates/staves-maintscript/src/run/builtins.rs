//! Commands the shell runs itself: the builtins (`set`, `read`, `getopts`, `cd`, `.`…), the
//! text utilities on known text, scripts a package ships (walked as child shells), and the
//! rest handed to the image's model.

use brush_parser::ast::SimpleCommand;

use super::{Flow, MAX_DEPTH, Shell};
use crate::{NoteKind, Ran, Status};

impl Shell<'_> {
    /// Runs a function, builtin or external command.
    pub(super) fn call(
        &mut self,
        argv: &[String],
        stdin: Option<&str>,
        line: usize,
        command: &SimpleCommand,
    ) -> (Flow, Option<String>) {
        let name = argv[0].as_str();
        if let Some(words) = self.aliases.get(name).cloned() {
            let expanded: Vec<String> = words.into_iter().chain(argv[1..].to_vec()).collect();
            // An alias standing for itself (`alias ls='ls -F'`) is expanded once.
            let saved = self.aliases.remove(name);
            let ran = self.call(&expanded, stdin, line, command);
            if let Some(words) = saved {
                self.aliases.insert(name.to_owned(), words);
            }
            return ran;
        }
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
            let input = match stdin {
                Some(text) => Some(text.to_owned()),
                None => self.function_input.last().cloned().flatten(),
            };
            self.function_input.push(input);
            let flow = self.compound(&body);
            self.function_input.pop();
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
                    Some(text) => self.source(&text),
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
            "db_set" => {
                // `db_set QUESTION VALUE…`: the value is the rest of the line.
                match args.split_first() {
                    Some((question, value)) => {
                        self.image.debconf_set(question, &value.join(" "));
                        self.done(Status::Success)
                    }
                    None => self.done(Status::Failure(10)),
                }
            }
            // A question's flags (`seen`, or a package's own, as exim4's `mailname`) live
            // beside its answer under `QUESTION\0FLAG`, a key no question can have; unset
            // flags are false.
            "db_fset" => match args {
                [question, flag, value] => {
                    self.image
                        .debconf_set(&format!("{question}\0{flag}"), value);
                    self.done(Status::Success)
                }
                _ => self.done(Status::Failure(10)),
            },
            "db_fget" => match args {
                [question, flag] => {
                    let value = self
                        .image
                        .debconf(&format!("{question}\0{flag}"))
                        .unwrap_or_else(|| "false".into());
                    self.vars.insert("RET".into(), Some(value));
                    self.done(Status::Success)
                }
                _ => self.done(Status::Failure(10)),
            },
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
            "alias" => {
                for definition in args {
                    let words = definition
                        .split_once('=')
                        .and_then(|(name, value)| Some((name, alias_words(value)?)));
                    match words {
                        Some((name, words)) if !words.is_empty() => {
                            self.aliases.insert(name.to_owned(), words);
                        }
                        _ => {
                            self.note(line, NoteKind::Unsupported, command.to_string());
                            return self.done(Status::Unknown);
                        }
                    }
                }
                self.done(Status::Success)
            }
            // The words, every one known, joined and run here as a script of their own.
            "eval" => self.source(&args.join(" ")),
            "awk" | "mawk" | "gawk" | "original-awk" => {
                // The program sees the shell's variables in ENVIRON: the exported ones, and
                // (the walk does not tell them apart) the others known.
                let env: std::collections::HashMap<String, String> = self
                    .vars
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                    .collect();
                match crate::awk::awk(args, stdin, &env, &*self.image) {
                    Some(ran) => {
                        self.last = ran.status;
                        (Flow::Next, ran.stdout)
                    }
                    None => {
                        self.image.unmodelled(argv);
                        self.last = Status::Unknown;
                        (Flow::Next, None)
                    }
                }
            }
            _ => {
                let ran = match crate::utils::run(argv, stdin, &mut *self.image) {
                    Some(ran) => ran,
                    None => match self.image.run(argv, stdin) {
                        Some(ran) => ran,
                        None => match self.shipped_script(name) {
                            Some(text) => {
                                let path = self.which(name).flatten().unwrap_or(name.to_owned());
                                self.zero.push(path);
                                let ran = self.call_script(&text, argv);
                                self.zero.pop();
                                return ran;
                            }
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
    pub(super) fn shipped_script(&self, name: &str) -> Option<String> {
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
    pub(super) fn call_script(&mut self, text: &str, argv: &[String]) -> (Flow, Option<String>) {
        if self.depth >= MAX_DEPTH {
            return self.done(Status::Unknown);
        }
        let Ok(program) = crate::parse::program(text, &self.options) else {
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

    /// Runs `text` in this shell, as `.` and `eval` do: its variables and functions stay.
    fn source(&mut self, text: &str) -> (Flow, Option<String>) {
        let Ok(program) = crate::parse::program(text, &self.options) else {
            return self.done(Status::Unknown);
        };
        self.last = Status::Success;
        for list in &program.complete_commands {
            let flow = self.list(list);
            if flow != Flow::Next {
                return (flow, Some(String::new()));
            }
        }
        (Flow::Next, Some(String::new()))
    }

    /// A builtin's end: its status, no output.
    pub(super) fn done(&mut self, status: Status) -> (Flow, Option<String>) {
        self.last = status;
        (Flow::Next, Some(String::new()))
    }

    /// `command -v NAME`: its path in the image (`Some(None)`: absent; `None`: unknown).
    pub(super) fn which(&self, name: &str) -> Option<Option<String>> {
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

/// The words of an alias's value, split as the shell would: plain words and quoted ones
/// (single quotes as written, double quotes without expansions). `None` for values that
/// would expand something or carry operators, which are not followed.
fn alias_words(value: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' | '\\' => return None,
                        c => w.push(c),
                    }
                }
            }
            '$' | '`' | '\\' | ';' | '|' | '&' | '<' | '>' | '(' | ')' => return None,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

pub(super) fn is_builtin(name: &str) -> bool {
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
            | "alias"
    )
}

/// `printf FORMAT ARG…` for `%s`, `%d`, `%%` and the usual escapes; `None` for other formats.
pub(super) fn printf(args: &[String]) -> Option<String> {
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
