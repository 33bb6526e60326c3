//! Writing execline: quoted words and the absolute paths of the programs scripts use.
//!
//! Debian puts only `execlineb` on `PATH`; `if`, `foreground` and the rest live in
//! `/usr/lib/execline/bin`, so every generated script names programs by full path and
//! leaves the image's `PATH` to the services.

/// The script interpreter.
pub const EXECLINEB: &str = "/usr/bin/execlineb";

/// An execline program by name.
pub fn x(program: &str) -> String {
    format!("/usr/lib/execline/bin/{program}")
}

/// An s6 program by name.
pub fn s6(program: &str) -> String {
    format!("/usr/bin/{program}")
}

/// One word, quoted so execlineb reads it back byte for byte: inside double quotes only
/// `"` and `\` are special, and newlines and tabs are written as escapes.
///
/// Substitution (`$x`, `${x}`) happens only after a substitution command such as
/// `importas`; generated scripts put user text either where none follows or inside a
/// block that is consumed first, so no `$` in it is ever replaced.
pub fn quote(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Words quoted and joined by spaces.
pub fn words<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A script: the interpreter line, a comment saying what it is, then one command per line.
pub struct Script {
    text: String,
}

impl Script {
    /// A script run with `flags` (`-P`: no positional parameters; `-S0`: substituted).
    pub fn new(flags: &str, purpose: &str) -> Script {
        let mut text = format!("#!{EXECLINEB} {flags}\n");
        for line in purpose.lines() {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
        Script { text }
    }

    /// Appends one line as written.
    pub fn line(mut self, line: impl AsRef<str>) -> Script {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
        self
    }

    /// Appends lines as written.
    pub fn lines(self, lines: impl IntoIterator<Item = String>) -> Script {
        lines.into_iter().fold(self, Script::line)
    }

    /// The script's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.text.into_bytes()
    }
}

/// A command that prints `message` on standard error: Debian's s6 and execline have no
/// `echo`, and `s6-tai64nlocal` copies lines that carry no timestamp unchanged.
pub fn say(message: &str) -> String {
    format!(
        "{} {{ {} -c 1 2 {} 0 {} {} }}",
        x("foreground"),
        x("fdmove"),
        x("heredoc"),
        quote(&format!("{message}\n")),
        s6("s6-tai64nlocal")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_execlineb_treats_specially() {
        assert_eq!(quote("daemon off;"), "\"daemon off;\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("}"), "\"}\"");
        assert_eq!(quote("two\nlines\t"), "\"two\\nlines\\t\"");
        assert_eq!(words(&["a", ""]), "\"a\" \"\"");
    }
}
