//! Shell pattern matching (`case`, `${x%pattern}`): `*`, `?`, bracket expressions and
//! backslash escapes, as POSIX defines them for filename patterns without the `/` rule.

/// Whether `text` matches the shell `pattern` as a whole.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    match_from(&p, &t)
}

fn match_from(p: &[char], t: &[char]) -> bool {
    // Iterative with one backtrack point for the last `*`, as fnmatch implementations do.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = bracket(p, pi, t[ti])
                        && ok
                    {
                        pi = next;
                        ti += 1;
                        continue;
                    } else if bracket(p, pi, t[ti]).is_none() && t[ti] == '[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() => {}
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A bracket expression at `p[start]`: whether `c` is in it, and the index after it;
/// `None` when the bracket is not closed (then `[` is literal).
fn bracket(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if p[i] == '[' && p.get(i + 1) == Some(&':') {
            let end = (i + 2..p.len()).find(|&j| p[j] == ':' && p.get(j + 1) == Some(&']'))?;
            let class: String = p[i + 2..end].iter().collect();
            found |= match class.as_str() {
                "alpha" => c.is_ascii_alphabetic(),
                "digit" => c.is_ascii_digit(),
                "alnum" => c.is_ascii_alphanumeric(),
                "space" => c.is_ascii_whitespace(),
                "upper" => c.is_ascii_uppercase(),
                "lower" => c.is_ascii_lowercase(),
                _ => false,
            };
            i = end + 2;
            continue;
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            found |= (p[i]..=p[i + 2]).contains(&c);
            i += 3;
        } else {
            found |= p[i] == c;
            i += 1;
        }
    }
    None
}

/// Removes the shortest (`longest` false) or longest prefix or suffix matching `pattern`,
/// as `${x#p}`, `${x##p}`, `${x%p}` and `${x%%p}` do.
pub(crate) fn remove(value: &str, pattern: &str, suffix: bool, longest: bool) -> String {
    let bounds: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .chain([value.len()])
        .collect();
    let candidates: Box<dyn Iterator<Item = &usize>> = match (suffix, longest) {
        (false, false) => Box::new(bounds.iter()),
        (false, true) => Box::new(bounds.iter().rev()),
        (true, false) => Box::new(bounds.iter().rev()),
        (true, true) => Box::new(bounds.iter()),
    };
    for &at in candidates {
        if suffix {
            if matches(pattern, &value[at..]) {
                return value[..at].to_owned();
            }
        } else if matches(pattern, &value[..at]) {
            return value[at..].to_owned();
        }
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_as_case_does() {
        assert!(matches("configure", "configure"));
        assert!(matches("abort-*", "abort-upgrade"));
        assert!(!matches("abort-*", "configure"));
        assert!(matches("*.conf", "a.conf"));
        assert!(matches("[0-9]*", "15"));
        assert!(!matches("[!0-9]*", "15"));
        assert!(matches("x?z", "xyz"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
        assert!(matches("*", ""));
        assert!(matches("[[:digit:]]", "7"));
    }

    #[test]
    fn removes_prefixes_and_suffixes() {
        assert_eq!(
            remove("/usr/share/man/man1/a.1.gz", "*/", false, true),
            "a.1.gz"
        );
        assert_eq!(
            remove("/usr/share/man/man1/a.1.gz", "*/", false, false),
            "usr/share/man/man1/a.1.gz"
        );
        assert_eq!(remove("a.1.gz", ".gz", true, false), "a.1");
        assert_eq!(remove("a.b.c", ".*", true, true), "a");
        assert_eq!(remove("a.b.c", ".*", true, false), "a.b");
    }
}
