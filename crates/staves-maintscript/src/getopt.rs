//! util-linux `getopt`, as scripts use it before `eval set -- "$TEMP"`: the arguments
//! rewritten in a canonical, quoted form (options first, each value in single quotes, then
//! `--` and the remaining words). Debian's helper scripts (`update-exim4.conf`,
//! `update-exim4defaults`, …) parse their options this way.

use crate::{Ran, Status};

/// How one option takes a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    Nothing,
    Required,
    Optional,
}

/// `getopt [-n NAME] [-q] [-s SHELL] [-l LONGOPTS] (-o SHORTOPTS | [--] SHORTOPTS) WORDS…`;
/// `None` for forms not modelled (`-a`, `-T`, the old form without options).
pub(crate) fn getopt(args: &[String]) -> Option<Ran> {
    let mut short: Option<String> = None;
    let mut long: Vec<(String, Takes)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let value = |i: &mut usize, joined: &str| -> Option<String> {
            if joined.is_empty() {
                *i += 1;
                args.get(*i).cloned()
            } else {
                Some(joined.trim_start_matches('=').to_owned())
            }
        };
        match a {
            "--" => {
                i += 1;
                break;
            }
            "-q" | "--quiet" | "-Q" | "--quiet-output" | "-u" | "--unquoted" => {
                if matches!(a, "-Q" | "--quiet-output" | "-u" | "--unquoted") {
                    return None;
                }
            }
            _ if a.starts_with("--longoptions") || a.starts_with("-l") => {
                let joined = a
                    .strip_prefix("--longoptions")
                    .or_else(|| a.strip_prefix("-l"))
                    .unwrap_or_default();
                for spec in value(&mut i, joined)?.split(',').filter(|s| !s.is_empty()) {
                    long.push(parse_long(spec));
                }
            }
            _ if a.starts_with("--options") || a.starts_with("-o") => {
                let joined = a
                    .strip_prefix("--options")
                    .or_else(|| a.strip_prefix("-o"))
                    .unwrap_or_default();
                short = Some(value(&mut i, joined)?);
            }
            _ if a.starts_with("--name") || a.starts_with("-n") => {
                let joined = a
                    .strip_prefix("--name")
                    .or_else(|| a.strip_prefix("-n"))
                    .unwrap_or_default();
                value(&mut i, joined)?;
            }
            _ if a.starts_with("--shell") || a.starts_with("-s") => {
                let joined = a
                    .strip_prefix("--shell")
                    .or_else(|| a.strip_prefix("-s"))
                    .unwrap_or_default();
                if !matches!(value(&mut i, joined)?.as_str(), "sh" | "bash") {
                    return None;
                }
            }
            _ if a.starts_with('-') => return None,
            _ => break,
        }
        i += 1;
    }
    let mut words = args[i.min(args.len())..].iter();
    let short = match short {
        Some(short) => short,
        None => words.next()?.clone(),
    };
    Some(rewrite(&short, &long, &words.cloned().collect::<Vec<_>>()))
}

fn parse_long(spec: &str) -> (String, Takes) {
    if let Some(name) = spec.strip_suffix("::") {
        (name.to_owned(), Takes::Optional)
    } else if let Some(name) = spec.strip_suffix(':') {
        (name.to_owned(), Takes::Required)
    } else {
        (spec.to_owned(), Takes::Nothing)
    }
}

/// How `c` is taken in SHORTOPTS, `None` when it is no option there.
fn short_takes(short: &str, c: char) -> Option<Takes> {
    let at = short.find(c)?;
    let rest = &short[at + c.len_utf8()..];
    Some(if rest.starts_with("::") {
        Takes::Optional
    } else if rest.starts_with(':') {
        Takes::Required
    } else {
        Takes::Nothing
    })
}

/// A word in single quotes, as getopt writes it for a shell.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

fn rewrite(short: &str, long: &[(String, Takes)], words: &[String]) -> Ran {
    // `+` (or POSIXLY_CORRECT, not modelled): options end at the first other word.
    let stop_at_word = short.starts_with('+');
    let short = short.trim_start_matches(['+', '-']);
    let (mut options, mut rest) = (String::new(), Vec::new());
    let mut failed = false;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if w == "--" {
            rest.extend(words[i + 1..].iter().map(|w| quote(w)));
            break;
        }
        if let Some(body) = w.strip_prefix("--") {
            let (name, joined) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            // An exact name, or a prefix of exactly one.
            let exact = long.iter().find(|(n, _)| n == name);
            let matches: Vec<&(String, Takes)> =
                long.iter().filter(|(n, _)| n.starts_with(name)).collect();
            let found = exact.or(if matches.len() == 1 {
                Some(matches[0])
            } else {
                None
            });
            match found {
                Some((full, takes)) => {
                    options.push_str(&format!(" --{full}"));
                    match (takes, joined) {
                        (Takes::Nothing, Some(_)) => failed = true,
                        (Takes::Nothing, None) => {}
                        (_, Some(v)) => options.push_str(&format!(" {}", quote(v))),
                        (Takes::Required, None) => match words.get(i + 1) {
                            Some(v) => {
                                options.push_str(&format!(" {}", quote(v)));
                                i += 1;
                            }
                            None => failed = true,
                        },
                        (Takes::Optional, None) => options.push_str(" ''"),
                    }
                }
                None => failed = true,
            }
        } else if w.len() > 1 && w.starts_with('-') {
            let chars: Vec<char> = w[1..].chars().collect();
            let mut k = 0;
            while k < chars.len() {
                let c = chars[k];
                match short_takes(short, c) {
                    Some(Takes::Nothing) => options.push_str(&format!(" -{c}")),
                    Some(takes) => {
                        options.push_str(&format!(" -{c}"));
                        let joined: String = chars[k + 1..].iter().collect();
                        if !joined.is_empty() {
                            options.push_str(&format!(" {}", quote(&joined)));
                        } else if takes == Takes::Optional {
                            options.push_str(" ''");
                        } else if let Some(v) = words.get(i + 1) {
                            options.push_str(&format!(" {}", quote(v)));
                            i += 1;
                        } else {
                            failed = true;
                        }
                        break;
                    }
                    None => failed = true,
                }
                k += 1;
            }
        } else if stop_at_word {
            rest.extend(words[i..].iter().map(|w| quote(w)));
            break;
        } else {
            rest.push(quote(w));
        }
        i += 1;
    }
    let mut out = options;
    out.push_str(" --");
    for word in rest {
        out.push(' ');
        out.push_str(&word);
    }
    out.push('\n');
    Ran {
        status: if failed {
            Status::Failure(1)
        } else {
            Status::Success
        },
        stdout: Some(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    fn out(line: &str) -> (String, Status) {
        let ran = getopt(&words(line)).expect("modelled");
        (ran.stdout.unwrap_or_default(), ran.status)
    }

    #[test]
    fn options_come_first_values_quoted_then_the_words() {
        // What util-linux getopt prints for these (checked against getopt(1)).
        assert_eq!(
            out("-n x -l check,output:,help -- +o:vh --init"),
            (" --\n".to_owned(), Status::Failure(1))
        );
        assert_eq!(out("-n x -l init,force -- +fh --init").0, " --init --\n");
        assert_eq!(
            out("-l output:,verbose -- o:v -v --output=/tmp/a file -o b").0,
            " -v --output '/tmp/a' -o 'b' -- 'file'\n"
        );
        assert_eq!(out("-o ab:c -- -acb1 x").0, " -a -c -b '1' -- 'x'\n");
        assert_eq!(
            out("-l qflags: -- h --qf it's").0,
            " --qflags 'it'\\''s' --\n"
        );
    }

    #[test]
    fn stops_at_the_first_word_with_a_plus_and_fails_on_unknown_options() {
        assert_eq!(out("-- +v a -v").0, " -- 'a' '-v'\n");
        assert_eq!(out("-- v a -v").0, " -v -- 'a'\n");
        let (text, status) = out("-l known -- v --unknown -z");
        assert_eq!(status, Status::Failure(1));
        assert_eq!(text, " --\n");
        assert_eq!(out("-l out:: -- h --out").0, " --out '' --\n");
        assert_eq!(out("-l out:: -- h --out=3").0, " --out '3' --\n");
    }
}
