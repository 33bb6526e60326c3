//! Scripts parsed by brush's parser, with one of its tokenizer's slips undone first: a
//! `${NAME}` after a here-document operator on the same line (`cat << EOF > "${TMP}"`,
//! update-exim4defaults' way of writing its file) comes out as the word `NAME` with the
//! braces lost. Written `$NAME` there (where no name character follows), it means the same
//! and parses right.

use brush_parser::ParserOptions;
use brush_parser::ast::Program;

/// Parses `text` as a program.
pub(crate) fn program(text: &str, options: &ParserOptions) -> Result<Program, String> {
    let text = braces_after_here_documents(text);
    brush_parser::Parser::new(std::io::BufReader::new(text.as_bytes()), options)
        .parse_program()
        .map_err(|e| e.to_string())
}

/// `${NAME}` written `$NAME` after `<<` on each line that has one.
fn braces_after_here_documents(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("<<") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match line.find("<<") {
            Some(at) if line[at..].contains("${") => {
                out.push_str(&line[..at]);
                out.push_str(&unbrace(&line[at..]));
            }
            _ => out.push_str(line),
        }
    }
    out.into()
}

fn unbrace(tail: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(tail.len());
    let mut rest = tail;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let name_len = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
        let name = &after[..name_len];
        let closes = after[name_len..].starts_with('}');
        let next = after[name_len + usize::from(closes)..].chars().next();
        let plain = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && closes
            && !next.is_some_and(is_name);
        if plain {
            out.push('$');
            out.push_str(name);
            rest = &after[name_len + 1..];
        } else {
            out.push_str("${");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_after_a_here_document_lose_their_braces() {
        assert_eq!(
            braces_after_here_documents(
                "a=${X}\ncat << EOF > \"${TMP}\" ${A}b ${B:-x} ${1}\n${X}\nEOF\n"
            ),
            "a=${X}\ncat << EOF > \"$TMP\" ${A}b ${B:-x} ${1}\n${X}\nEOF\n"
        );
    }
}
