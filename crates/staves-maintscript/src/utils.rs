//! Text utilities scripts pipe through — `grep`, `sed`, `cut`, `tr`, `basename`,
//! `dirname`, `head`, `sort` — run on text the walk knows (standard input, or files the
//! image can read). `sed -i` edits a file through the image. Anything these models do not
//! cover is `None`: unknown, and the image is asked instead.

use crate::{Image, Ran, Status};

/// Runs `argv` if it is a text utility modelled here.
pub(crate) fn run(argv: &[String], stdin: Option<&str>, image: &mut dyn Image) -> Option<Ran> {
    let name = argv[0].rsplit('/').next().unwrap_or_default();
    let args = &argv[1..];
    let out = |text: String| Ran {
        status: Status::Success,
        stdout: Some(text),
    };
    match name {
        "grep" | "egrep" | "fgrep" => grep(name, args, stdin, image),
        "sed" => sed(args, stdin, image),
        // `fold -s -w N` of text whose lines are no longer than N: the same text.
        "fold" => {
            let width: usize = match args {
                [s, w, n] if s == "-s" && w == "-w" => n.parse().ok()?,
                _ => return None,
            };
            let text = stdin?;
            text.lines()
                .all(|l| l.chars().count() <= width)
                .then(|| out(text.to_owned()))
        }
        "getopt" => crate::getopt::getopt(args),
        "basename" => {
            let path = args.first()?.trim_end_matches('/');
            let mut base = path.rsplit('/').next().unwrap_or(path).to_owned();
            if let Some(suffix) = args.get(1) {
                base = base
                    .strip_suffix(suffix.as_str())
                    .unwrap_or(&base)
                    .to_owned();
            }
            Some(out(format!("{base}\n")))
        }
        "dirname" => {
            let path = args.first()?.trim_end_matches('/');
            let dir = match path.rsplit_once('/') {
                Some(("", _)) => "/",
                Some((dir, _)) => dir,
                None => ".",
            };
            Some(out(format!("{dir}\n")))
        }
        "cut" => {
            let mut delim = '\t';
            // What is cut: fields (`-f`) or characters (`-b`, `-c`), by a list of ranges.
            let mut list: Option<(bool, Vec<(usize, usize)>)> = None;
            let mut i = 0;
            while i < args.len() {
                let a = args[i].as_str();
                let value = |i: &mut usize| -> Option<String> {
                    if a.len() > 2 {
                        Some(a[2..].to_owned())
                    } else {
                        *i += 1;
                        args.get(*i).cloned()
                    }
                };
                if a.starts_with("-d") {
                    delim = value(&mut i)?.chars().next()?;
                } else if a.starts_with("-f") {
                    list = Some((true, cut_ranges(&value(&mut i)?)?));
                } else if a.starts_with("-b") || a.starts_with("-c") {
                    list = Some((false, cut_ranges(&value(&mut i)?)?));
                } else {
                    return None;
                }
                i += 1;
            }
            let (fields, ranges) = list?;
            let wanted = |n: usize| ranges.iter().any(|&(from, to)| from <= n && n <= to);
            let text = stdin?
                .lines()
                .map(|l| {
                    let kept: String = if !fields {
                        l.chars()
                            .enumerate()
                            .filter(|(n, _)| wanted(n + 1))
                            .map(|(_, c)| c)
                            .collect()
                    } else if l.contains(delim) {
                        l.split(delim)
                            .enumerate()
                            .filter(|(n, _)| wanted(n + 1))
                            .map(|(_, f)| f)
                            .collect::<Vec<_>>()
                            .join(&delim.to_string())
                    } else {
                        l.to_owned()
                    };
                    kept + "\n"
                })
                .collect();
            Some(out(text))
        }
        "tr" if args.first().is_some_and(|a| a == "-d" || a == "-cd") => {
            let [flag, set] = args else { return None };
            let set = expand_set(set)?;
            let complement = flag == "-cd";
            let text = stdin?
                .chars()
                .filter(|c| set.contains(c) == complement)
                .collect();
            Some(out(text))
        }
        "tr" => {
            let [from, to] = args else { return None };
            let (from, to) = (expand_set(from)?, expand_set(to)?);
            let text = stdin?
                .chars()
                .map(|c| match from.iter().position(|&f| f == c) {
                    Some(i) => *to.get(i).or(to.last()).unwrap_or(&c),
                    None => c,
                })
                .collect();
            Some(out(text))
        }
        "head" => {
            let n = match args {
                [] => 10,
                [flag, n] if flag == "-n" => n.parse().ok()?,
                [flag] if flag.starts_with("-n") => flag[2..].parse().ok()?,
                _ => return None,
            };
            Some(out(stdin?
                .lines()
                .take(n)
                .map(|l| format!("{l}\n"))
                .collect()))
        }
        "expr" => {
            let [a, op, b] = args else { return None };
            let (a, b): (i64, i64) = (a.parse().ok()?, b.parse().ok()?);
            let value = match op.as_str() {
                "+" => a.checked_add(b)?,
                "-" => a.checked_sub(b)?,
                "*" => a.checked_mul(b)?,
                "/" => a.checked_div(b)?,
                "%" => a.checked_rem(b)?,
                _ => return None,
            };
            // expr exits 1 when the result is zero.
            Some(Ran {
                status: Status::from_bool(value != 0),
                stdout: Some(format!("{value}\n")),
            })
        }
        "wc" if args == ["-l"] => Some(out(format!("{}\n", stdin?.lines().count()))),
        "ls" => ls(args, &*image),
        "uniq" if args.is_empty() => {
            let mut lines: Vec<&str> = stdin?.lines().collect();
            lines.dedup();
            Some(out(lines.iter().map(|l| format!("{l}\n")).collect()))
        }
        "sort" if args.iter().all(|a| a == "-u") => {
            let mut lines: Vec<&str> = stdin?.lines().collect();
            lines.sort_unstable();
            if !args.is_empty() {
                lines.dedup();
            }
            Some(out(lines.iter().map(|l| format!("{l}\n")).collect()))
        }
        _ => None,
    }
}

fn expand_set(set: &str) -> Option<Vec<char>> {
    let chars: Vec<char> = set.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars.get(i + 1) == Some(&'-') && i + 2 < chars.len() {
            out.extend(chars[i]..=chars[i + 2]);
            i += 3;
        } else if chars[i] == '[' || chars[i] == '\\' {
            return None;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A basic (or, with `extended`, extended) regular expression as `regex-lite` reads it.
pub(crate) fn regex(pattern: &str, extended: bool) -> Option<regex_lite::Regex> {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A bracket expression: a backslash in it is itself (POSIX), so `[\]]` is
            // the class `[\]` and then `]`; `[:alpha:]` classes are kept.
            '[' => {
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
                loop {
                    match chars.next()? {
                        ']' => break,
                        '[' if chars.peek() == Some(&':') => {
                            out.push_str("[:");
                            chars.next();
                            loop {
                                let c = chars.next()?;
                                out.push(c);
                                if c == ']' {
                                    break;
                                }
                            }
                        }
                        // GNU sed turns `\t` and `\n` into their characters first.
                        '\\' if chars.peek() == Some(&'t') => {
                            chars.next();
                            out.push_str("\\t");
                        }
                        '\\' if chars.peek() == Some(&'n') => {
                            chars.next();
                            out.push_str("\\n");
                        }
                        c @ ('\\' | '[' | '&' | '~') => {
                            out.push('\\');
                            out.push(c);
                        }
                        c => out.push(c),
                    }
                }
                out.push(']');
            }
            '\\' => match chars.next() {
                Some(n @ ('(' | ')' | '{' | '}' | '|' | '+' | '?')) if !extended => out.push(n),
                Some('<' | '>') => out.push_str("\\b"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str("\\\\"),
            },
            '(' | ')' | '{' | '}' | '|' | '+' | '?' if !extended => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    regex_lite::Regex::new(&out).ok()
}

fn grep(name: &str, args: &[String], stdin: Option<&str>, image: &dyn Image) -> Option<Ran> {
    let (mut quiet, mut fixed, mut extended, mut invert, mut word, mut count) =
        (false, name == "fgrep", name == "egrep", false, false, false);
    let mut whole = false;
    let mut rest = Vec::new();
    for a in args {
        if a.starts_with('-') && a.len() > 1 && rest.is_empty() {
            for f in a[1..].chars() {
                match f {
                    'q' | 's' => quiet |= f == 'q',
                    'F' => fixed = true,
                    'E' => extended = true,
                    'v' => invert = true,
                    'w' => word = true,
                    'c' => count = true,
                    'x' => whole = true,
                    // `-r` over files (not directories, which the image does not read
                    // as text) is the same search.
                    'r' => {}
                    'i' | 'e' | 'l' | 'n' => return None,
                    _ => return None,
                }
            }
        } else {
            rest.push(a.as_str());
        }
    }
    let (pattern, files) = rest.split_first()?;
    let text = if files.is_empty() {
        stdin?.to_owned()
    } else {
        let mut all = String::new();
        for f in files {
            all.push_str(&image.read(f)?);
        }
        all
    };
    let re = if fixed {
        regex_lite::Regex::new(&regex_lite::escape(pattern)).ok()?
    } else {
        regex(pattern, extended)?
    };
    // `-x`: the whole line matches.
    let re = if whole {
        regex_lite::Regex::new(&format!("^(?:{})$", re.as_str())).ok()?
    } else {
        re
    };
    let hit = |line: &str| {
        let found = if word {
            re.find_iter(line).any(|m| {
                let before = line[..m.start()].chars().next_back();
                let after = line[m.end()..].chars().next();
                let boundary =
                    |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                boundary(before) && boundary(after)
            })
        } else {
            re.is_match(line)
        };
        found != invert
    };
    let matched: Vec<&str> = text.lines().filter(|l| hit(l)).collect();
    let stdout = if quiet {
        String::new()
    } else if count {
        format!("{}\n", matched.len())
    } else {
        matched.iter().map(|l| format!("{l}\n")).collect()
    };
    Some(Ran {
        status: Status::from_bool(!matched.is_empty()),
        stdout: Some(stdout),
    })
}

/// One sed command: `s/re/replacement/[g]`, `/re/d`, `/re/!d`; a substitution may be
/// limited to GNU's `0,/re/` range (from the first line up to the first match).
enum Edit {
    /// `s/RE/REPLACEMENT/FLAGS`: every match (`g`), and the line printed when one was
    /// replaced (`p`).
    Substitute(regex_lite::Regex, String, bool, bool),
    Delete(regex_lite::Regex, bool),
    Print(regex_lite::Regex),
    UpToFirst(regex_lite::Regex, Box<Edit>),
    /// `/RE/COMMAND`: the command on the lines that match.
    Where(regex_lite::Regex, Box<Edit>),
    /// `p`: the line printed.
    PrintLine,
    /// `q`: the line printed (without `-n`), and nothing after it read.
    Quit,
    /// `/^$/N;/\n$/D`, the idiom for `cat -s`: runs of empty lines kept as one.
    SqueezeBlank,
}

fn parse_edit(script: &str, extended: bool) -> Option<Vec<Edit>> {
    let mut edits = Vec::new();
    if script.trim() == "/^$/N;/\\n$/D" {
        return Some(vec![Edit::SqueezeBlank]);
    }
    for part in sed_commands(script)
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        match part {
            "p" => {
                edits.push(Edit::PrintLine);
                continue;
            }
            "q" => {
                edits.push(Edit::Quit);
                continue;
            }
            _ => {}
        }
        if let Some(range) = part.strip_prefix("0,/") {
            let (re, command) = range.split_once('/')?;
            let inner = parse_edit(command.trim(), extended)?.pop()?;
            edits.push(Edit::UpToFirst(regex(re, extended)?, Box::new(inner)));
            continue;
        }
        if let Some(body) = part.strip_prefix('s') {
            let delim = body.chars().next()?;
            let fields = split_unescaped(&body[delim.len_utf8()..], delim);
            let [re, rep, flags] = fields.as_slice() else {
                return None;
            };
            let (re, rep, flags) = (re.as_str(), rep.as_str(), flags.as_str());
            if !flags.chars().all(|f| f == 'g' || f == 'p') {
                return None;
            }
            // sed's `\1` and `&` in the replacement are regex's `${1}` and `${0}`.
            let mut replacement = String::new();
            let mut chars = rep.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(d) if d.is_ascii_digit() => replacement.push_str(&format!("${{{d}}}")),
                        Some('n') => replacement.push('\n'),
                        Some(o) => replacement.push(o),
                        None => {}
                    },
                    '&' => replacement.push_str("${0}"),
                    '$' => replacement.push_str("$$"),
                    c => replacement.push(c),
                }
            }
            edits.push(Edit::Substitute(
                regex(re, extended)?,
                replacement,
                flags.contains('g'),
                flags.contains('p'),
            ));
        } else if let Some(body) = part.strip_prefix('/')
            && let Some((re, command)) = body.split_once('/')
            && command.trim_start().starts_with('s')
        {
            // `/RE/s/…/…/`: the substitution on the lines that match.
            let inner = parse_edit(command.trim(), extended)?.pop()?;
            edits.push(Edit::Where(regex(re, extended)?, Box::new(inner)));
        } else if let Some(body) = part.strip_prefix('/') {
            let fields = split_unescaped(body, '/');
            let [re, command] = fields.as_slice() else {
                return None;
            };
            let re = regex(re, extended)?;
            match command.trim() {
                "d" => edits.push(Edit::Delete(re, false)),
                "!d" => edits.push(Edit::Delete(re, true)),
                "p" => edits.push(Edit::Print(re)),
                _ => return None,
            }
        } else {
            return None;
        }
    }
    Some(edits)
}

/// A sed script's commands, split at `;` and newlines outside the regular expressions and
/// replacements (`s/[[:space:];]/,/g` is one command).
fn sed_commands(script: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    // Delimited fields still to read in this command, and their delimiter.
    let mut fields: Option<(char, usize)> = None;
    let mut escaped = false;
    while let Some(c) = chars.next() {
        match fields {
            Some((delim, left)) => {
                current.push(c);
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == delim {
                    fields = (left > 1).then_some((delim, left - 1));
                }
            }
            None if c == ';' || c == '\n' => commands.push(std::mem::take(&mut current)),
            None => {
                let at_start = current.trim().is_empty() || current.trim_end().ends_with(',');
                current.push(c);
                if c == 's' && at_start_of_s(&current) {
                    if let Some(&delim) = chars.peek() {
                        current.push(delim);
                        chars.next();
                        fields = Some((delim, 2));
                    }
                } else if c == '/' && (at_start || current.trim_end().ends_with("0,/")) {
                    fields = Some(('/', 1));
                }
            }
        }
    }
    commands.push(current);
    commands
}

/// Whether the `s` just pushed begins a substitution: alone, or after an address.
fn at_start_of_s(current: &str) -> bool {
    let before = current.trim_start().strip_suffix('s').unwrap_or_default();
    before.is_empty() || before.ends_with('/')
}

/// Splits on `delim` where no backslash escapes it; `\delim` becomes `delim`.
fn split_unescaped(text: &str, delim: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) if n == delim => parts.last_mut().map_or((), |p| p.push(n)),
                Some(n) => {
                    if let Some(p) = parts.last_mut() {
                        p.push('\\');
                        p.push(n);
                    }
                }
                None => {}
            },
            c if c == delim => parts.push(String::new()),
            c => parts.last_mut().map_or((), |p| p.push(c)),
        }
    }
    parts
}

#[cfg(test)]
fn apply(edits: &[Edit], text: &str) -> String {
    apply_quietly(edits, text, false)
}

/// Applies the edits; with `quiet` (`sed -n`) only what `p` prints is output.
fn apply_quietly(edits: &[Edit], text: &str, quiet: bool) -> String {
    let mut out = String::new();
    // Per `0,/re/` range: whether its end has been passed.
    let mut ended = vec![false; edits.len()];
    let mut blank_before = false;
    'lines: for line in text.lines() {
        let mut line = line.to_owned();
        for (i, edit) in edits.iter().enumerate() {
            let edit = match edit {
                Edit::UpToFirst(end, inner) => {
                    if ended[i] {
                        continue;
                    }
                    ended[i] = end.is_match(&line);
                    inner.as_ref()
                }
                Edit::Where(address, inner) => {
                    if !address.is_match(&line) {
                        continue;
                    }
                    inner.as_ref()
                }
                edit => edit,
            };
            match edit {
                Edit::UpToFirst(..) | Edit::Where(..) => {}
                Edit::PrintLine => {
                    out.push_str(&line);
                    out.push('\n');
                }
                Edit::Quit => {
                    if !quiet {
                        out.push_str(&line);
                        out.push('\n');
                    }
                    return out;
                }
                Edit::SqueezeBlank => {
                    let blank = line.is_empty();
                    if blank && blank_before {
                        continue 'lines;
                    }
                    blank_before = blank;
                }
                Edit::Print(re) => {
                    if re.is_match(&line) {
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
                Edit::Substitute(re, rep, all, print) => {
                    let matched = re.is_match(&line);
                    line = if *all {
                        re.replace_all(&line, rep.as_str()).into_owned()
                    } else {
                        re.replace(&line, rep.as_str()).into_owned()
                    };
                    if matched && *print {
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
                Edit::Delete(re, keep_matching) => {
                    if re.is_match(&line) != *keep_matching {
                        continue 'lines;
                    }
                }
            }
        }
        if !quiet {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn sed(args: &[String], stdin: Option<&str>, image: &mut dyn Image) -> Option<Ran> {
    let (mut in_place, mut extended, mut quiet) = (false, false, false);
    let mut scripts = Vec::new();
    let mut files = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            // `-i`, `-n`, `-E`/`-r`, alone or together (`-En`).
            _ if a.len() > 1
                && a.starts_with('-')
                && a[1..].chars().all(|c| "inEr".contains(c)) =>
            {
                in_place |= a.contains('i');
                quiet |= a.contains('n');
                extended |= a.contains(['E', 'r']);
            }
            "-e" => {
                i += 1;
                scripts.push(args.get(i)?.clone());
            }
            // `-ne SCRIPT`: flags, then the script in the next word.
            _ if a.len() > 2
                && a.starts_with('-')
                && a.ends_with('e')
                && a[1..a.len() - 1].chars().all(|c| "inEr".contains(c)) =>
            {
                in_place |= a.contains('i');
                quiet |= a.contains('n');
                extended |= a.contains(['E', 'r']);
                i += 1;
                scripts.push(args.get(i)?.clone());
            }
            _ if a.starts_with("-e") => scripts.push(a[2..].to_owned()),
            _ if a.starts_with('-') => return None,
            _ if scripts.is_empty() => scripts.push(a.to_owned()),
            _ => files.push(a.to_owned()),
        }
        i += 1;
    }
    let mut edits = Vec::new();
    for s in &scripts {
        edits.extend(parse_edit(s, extended)?);
    }
    if in_place {
        for f in &files {
            let text = image.read(f)?;
            let edited = apply_quietly(&edits, &text, quiet);
            if image.write(f, &edited, false) != Status::Success {
                return Some(Ran::status(Status::Failure(4)));
            }
        }
        return Some(Ran::ok());
    }
    let text = if files.is_empty() {
        stdin?.to_owned()
    } else {
        let mut all = String::new();
        for f in &files {
            all.push_str(&image.read(f)?);
        }
        all
    };
    Some(Ran {
        status: Status::Success,
        stdout: Some(apply_quietly(&edits, &text, quiet)),
    })
}

/// `cut`'s list (`3`, `2-`, `-7`, `1,4-5`) as inclusive 1-based ranges.
fn cut_ranges(list: &str) -> Option<Vec<(usize, usize)>> {
    list.split(',')
        .map(|part| {
            let number = |s: &str| s.parse::<usize>().ok().filter(|&n| n > 0);
            match part.split_once('-') {
                None => number(part).map(|n| (n, n)),
                Some(("", to)) => Some((1, number(to)?)),
                Some((from, "")) => Some((number(from)?, usize::MAX)),
                Some((from, to)) => Some((number(from)?, number(to)?)),
            }
        })
        .collect()
}

/// `ls [-1] [-d] PATH…` of paths (a glob that matched nothing is a missing path): each
/// that exists, one a line; a missing one makes the status 2. A directory's entries are
/// listed when it is the only path and `-d` is not given.
fn ls(args: &[String], image: &dyn Image) -> Option<Ran> {
    let (flags, paths): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| a.starts_with('-') && a.len() > 1);
    if !flags.iter().all(|f| *f == "-1" || *f == "-d") {
        return None;
    }
    let whole = flags.iter().any(|f| *f == "-d");
    let mut lines = Vec::new();
    let mut missing = false;
    for path in &paths {
        if !image.test(path, crate::FileTest::Exists)? {
            missing = true;
            continue;
        }
        if !whole && image.test(path, crate::FileTest::Dir)? {
            if paths.len() > 1 {
                return None;
            }
            let inside = image.glob(&format!("{}/*", path.trim_end_matches('/')))?;
            lines.extend(
                inside
                    .iter()
                    .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned()),
            );
        } else {
            lines.push((*path).clone());
        }
    }
    Some(Ran {
        status: if missing {
            Status::Failure(2)
        } else {
            Status::Success
        },
        stdout: Some(lines.iter().map(|l| format!("{l}\n")).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::NoImage;

    #[test]
    fn sed_scripts_split_outside_expressions() {
        assert_eq!(
            sed_commands("s/[[:space:];][[:space:]]*/,/g;/^#/d\n0,/a;b/s/x/y/"),
            ["s/[[:space:];][[:space:]]*/,/g", "/^#/d", "0,/a;b/s/x/y/"]
        );
        assert_eq!(sed_commands(r"s|a\|;|b|;p"), [r"s|a\|;|b|", "p"]);
        let ran = sed(
            &[
                "-e".into(),
                "s/^[[:space:]]*//".into(),
                "-e".into(),
                "s/[[:space:];][[:space:]]*/,/g".into(),
            ],
            Some("  a b;c\n"),
            &mut NoImage,
        );
        assert_eq!(ran.and_then(|r| r.stdout).as_deref(), Some("a,b,c\n"));
        // exim4-config's config reads debconf's version this way.
        let ran = sed(
            &["-ne".into(), "/^Version/s/^Version: //p".into()],
            Some("Package: debconf\nVersion: 1.5.82\nVersionless: x\n"),
            &mut NoImage,
        );
        assert_eq!(ran.and_then(|r| r.stdout).as_deref(), Some("1.5.82\n"));
        // update-exim4.conf: the first line's first word, and blank lines squeezed.
        let ran = sed(
            &["-n".into(), r"s/\([-[:alnum:]@\.]\+\).*/\1/;p;q".into()],
            Some("mail.example.org junk\nsecond\n"),
            &mut NoImage,
        );
        assert_eq!(
            ran.and_then(|r| r.stdout).as_deref(),
            Some("mail.example.org\n")
        );
        let ran = sed(
            &["-e".into(), r"/^$/N;/\n$/D".into()],
            Some("a\n\n\n\nb\n\nc\n"),
            &mut NoImage,
        );
        assert_eq!(ran.and_then(|r| r.stdout).as_deref(), Some("a\n\nb\n\nc\n"));
    }

    #[test]
    fn bracket_expressions_take_backslashes_literally() {
        // update-exim4.conf's check_ascii_pipe: the class ends at `\]`, then `]` follows.
        let re = regex(r"[^-0-9a-z\/\.\[\]]", false).expect("valid");
        assert!(!re.is_match("4.96-15+deb12u11"));
        assert!(re.is_match("+]"));
        assert!(regex("[[:space:];]x", false).expect("valid").is_match(";x"));
        // lighttpd's `sed -E 's/[ \t]+/ /g'`: a tab in the class.
        assert!(regex(r"[ \t]+", true).expect("valid").is_match("\t"));
    }

    #[test]
    fn basic_regular_expressions_translate() {
        let re = regex(r"^shadow:[^:]*:42", false).expect("valid");
        assert!(re.is_match("shadow:x:42:"));
        assert!(!re.is_match("shadow:x:43:"));
        let re = regex(r"a\(b\)\{2\}+", false).expect("valid");
        assert!(re.is_match("abb+"));
        let edits =
            parse_edit(r"s/^#*PermitRootLogin .*/PermitRootLogin yes/", false).expect("parsed");
        assert_eq!(
            apply(&edits, "#PermitRootLogin prohibit-password\nx\n"),
            "PermitRootLogin yes\nx\n"
        );
        let edits = parse_edit(r"s/postgresql\/15\///", false).expect("parsed");
        assert_eq!(
            apply(&edits, "/usr/share/postgresql/15/man/man1/psql.1.gz\n"),
            "/usr/share/man/man1/psql.1.gz\n"
        );
        let edits = parse_edit(r"0,/^[# ]*b *$/ s/^[# ]*b *$/b/", false).expect("parsed");
        assert_eq!(apply(&edits, "# a\n# b\n# b\n"), "# a\nb\n# b\n");
        let edits = parse_edit(r"/^\/usr\/lib\/.*\.py$/p", false).expect("parsed");
        assert_eq!(
            apply_quietly(&edits, "/usr/lib/a.py\n/etc/x\n", true),
            "/usr/lib/a.py\n"
        );
        let edits = parse_edit(r"s/\(a\)b/\1&/g", false).expect("parsed");
        assert_eq!(apply(&edits, "abab\n"), "aabaab\n");
    }
}
