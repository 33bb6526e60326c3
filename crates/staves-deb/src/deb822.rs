//! deb822 paragraphs (RFC 822-style control data), read without copying.
//!
//! `Packages` indices are tens of megabytes and a resolution touches a few hundred of their
//! paragraphs, so the reader hands out borrowed slices with their byte offsets: an index can
//! remember where each paragraph starts and parse it only when it is needed.

/// One paragraph: `Field: value` lines, continuation lines starting with a space or tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paragraph<'a> {
    text: &'a str,
    offset: usize,
}

impl<'a> Paragraph<'a> {
    /// Wraps text already known to be a single paragraph, found at `offset` in its file.
    pub fn new(text: &'a str, offset: usize) -> Self {
        Paragraph { text, offset }
    }

    /// The paragraph's text, without the separating blank line.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Byte offset of the paragraph in the file it was read from.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The 1-based line of the paragraph's first field within `file`, for error messages.
    pub fn line_in(&self, file: &str) -> usize {
        file.as_bytes()[..self.offset.min(file.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The value of `name` (case-insensitive), trimmed; continuation lines are kept verbatim.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Every field in order, as `(name, value)`.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            text: self.text,
            pos: 0,
        }
    }
}

/// Iterator over the fields of a [`Paragraph`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        while self.pos < self.text.len() {
            let line_start = self.pos;
            let line_end = self.line_end(line_start);
            self.pos = (line_end + 1).min(self.text.len());
            let line = &self.text[line_start..line_end];
            if line.starts_with('#') || line.starts_with([' ', '\t']) {
                // A comment, or a continuation line with no field before it: skip it.
                continue;
            }
            let Some(colon) = line.find(':') else {
                continue;
            };
            let name = line[..colon].trim_end();
            // The value runs over every continuation line that follows.
            let mut value_end = line_end;
            while self.text[self.pos..].starts_with([' ', '\t']) {
                value_end = self.line_end(self.pos);
                self.pos = (value_end + 1).min(self.text.len());
            }
            let value = &self.text[line_start + colon + 1..value_end];
            return Some((name, value.trim()));
        }
        None
    }
}

impl Fields<'_> {
    /// The end of the line starting at `from`: the offset of its newline, or of the text's end.
    fn line_end(&self, from: usize) -> usize {
        self.text[from..]
            .find('\n')
            .map_or(self.text.len(), |n| from + n)
    }
}

/// Splits a file into paragraphs separated by blank lines.
pub fn paragraphs(text: &str) -> Paragraphs<'_> {
    Paragraphs { text, pos: 0 }
}

/// Iterator returned by [`paragraphs`].
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Paragraph<'a>;

    fn next(&mut self) -> Option<Paragraph<'a>> {
        let bytes = self.text.as_bytes();
        // Skip blank lines (and lines of only whitespace) before the paragraph.
        loop {
            if self.pos >= bytes.len() {
                return None;
            }
            let end = find_newline(bytes, self.pos).unwrap_or(bytes.len());
            if bytes[self.pos..end].iter().all(u8::is_ascii_whitespace) {
                self.pos = end + 1;
            } else {
                break;
            }
        }
        let start = self.pos;
        let mut line = start;
        let end = loop {
            match find_newline(bytes, line) {
                None => break bytes.len(),
                Some(nl) => {
                    let next = nl + 1;
                    let next_end = find_newline(bytes, next).unwrap_or(bytes.len());
                    if next >= bytes.len()
                        || bytes[next..next_end].iter().all(u8::is_ascii_whitespace)
                    {
                        break nl;
                    }
                    line = next;
                }
            }
        };
        self.pos = end + 1;
        Some(Paragraph::new(&self.text[start..end], start))
    }
}

fn find_newline(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|n| from + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: bash\nVersion: 5.2.15-2+b2\nDescription: GNU shell\n Bash is\n .\n more\n\n\n  \nPackage: dash\r\nDepends: libc6 (>= 2.34),\n libfoo\n";

    #[test]
    fn splits_paragraphs_with_offsets() {
        let all: Vec<_> = paragraphs(TEXT).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].get("package"), Some("bash"));
        assert_eq!(
            all[0].get("Description"),
            Some("GNU shell\n Bash is\n .\n more")
        );
        assert_eq!(all[1].offset(), TEXT.find("Package: dash").unwrap_or(0));
        assert_eq!(all[1].get("Package"), Some("dash"));
        assert_eq!(all[1].get("Depends"), Some("libc6 (>= 2.34),\n libfoo"));
        assert_eq!(all[1].line_in(TEXT), 10);
        assert_eq!(all[0].get("Missing"), None);
    }

    #[test]
    fn comments_are_not_fields() {
        let p = paragraphs("# header\nTypes: deb\n# URIs: old\nURIs: http://x\n").next();
        let p = p.expect("one paragraph");
        assert_eq!(p.fields().count(), 2);
        assert_eq!(p.get("URIs"), Some("http://x"));
    }
}
