//! `pam-auth-update --package` on a first install: `/etc/pam.d/common-*` made from the
//! templates in `/usr/share/pam` and the profiles in `/usr/share/pam-configs` that are on
//! by default, highest priority first, as libpam-runtime's tool writes them.

use std::collections::BTreeMap;

/// Where the profiles are (layer path prefix).
pub(crate) const PROFILES: &str = "usr/share/pam-configs/";
/// Where the templates are (layer path prefix).
pub(crate) const TEMPLATES: &str = "usr/share/pam/common-";

/// The stacks, as the templates name their placeholders and the profiles their fields.
const STACKS: &[(&str, &str, &str)] = &[
    ("auth", "auth", "Auth"),
    ("account", "account", "Account"),
    ("password", "password", "Password"),
    ("session", "session", "Session"),
    ("session-noninteractive", "session_nonint", "Session"),
];

struct Profile {
    name: String,
    priority: i64,
    fields: BTreeMap<String, Vec<String>>,
}

impl Profile {
    fn parse(name: &str, text: &str) -> Option<Profile> {
        let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line.starts_with([' ', '\t']) {
                let key = current.as_ref()?;
                fields
                    .entry(key.clone())
                    .or_default()
                    .push(line.trim_start().to_owned());
            } else if let Some((key, value)) = line.split_once(':') {
                let key = key.trim().to_owned();
                let value = value.trim();
                let entry = fields.entry(key.clone()).or_default();
                if !value.is_empty() {
                    entry.push(value.to_owned());
                }
                current = Some(key);
            }
        }
        let first = |k: &str| fields.get(k).and_then(|v| v.first()).cloned();
        Some(Profile {
            name: name.to_owned(),
            priority: first("Priority")?.parse().ok()?,
            fields,
        })
    }

    fn field(&self, key: &str) -> Option<&[String]> {
        self.fields.get(key).map(Vec::as_slice)
    }

    fn is(&self, key: &str, value: &str) -> bool {
        self.field(key)
            .and_then(|v| v.first())
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    }
}

/// The `common-*` files, by layer path, from the kept content of the image.
pub(crate) fn common_files(contents: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    let mut profiles: Vec<Profile> = contents
        .iter()
        .filter_map(|(path, bytes)| {
            let name = path.strip_prefix(PROFILES)?;
            Profile::parse(name, std::str::from_utf8(bytes).ok()?)
        })
        .filter(|p| p.is("Default", "yes"))
        .collect();
    profiles.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
    let mut out = BTreeMap::new();
    for (file, placeholder, field) in STACKS {
        let Some(template) = contents
            .get(&format!("{TEMPLATES}{file}"))
            .and_then(|b| std::str::from_utf8(b).ok())
        else {
            continue;
        };
        let type_name = field.to_lowercase();
        let in_stack: Vec<&Profile> = profiles
            .iter()
            .filter(|p| p.field(field).is_some())
            .filter(|p| {
                !(*file == "session-noninteractive" && p.is("Session-Interactive-Only", "yes"))
            })
            .collect();
        let block = |kind: &str| -> Vec<&Profile> {
            in_stack
                .iter()
                .copied()
                .filter(|p| p.is(&format!("{field}-Type"), kind))
                .collect()
        };
        let (primary, additional) = (block("Primary"), block("Additional"));
        let lines_of = |profiles: &[&Profile], first_in_stack: &mut bool| -> Vec<String> {
            let mut lines = Vec::new();
            for p in profiles {
                let initial = format!("{field}-Initial");
                let chosen = match (p.field(&initial), *first_in_stack) {
                    (Some(lines), true) => lines,
                    _ => p.field(field).unwrap_or_default(),
                };
                *first_in_stack = false;
                lines.extend(chosen.iter().cloned());
            }
            lines
        };
        let mut first = true;
        let primary_lines = lines_of(&primary, &mut first);
        let additional_lines = lines_of(&additional, &mut first);
        let count = primary_lines.len();
        let primary_text: Vec<String> = if primary_lines.is_empty() {
            vec![format!("{type_name}\t[default=1]\t\t\tpam_permit.so")]
        } else {
            primary_lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    // `end` jumps past the remaining primary lines and the fallback.
                    let jump = format!("={}", count - i);
                    format_line(&type_name, &line.replace("=end", &jump))
                })
                .collect()
        };
        let mut text = String::new();
        for line in template.lines() {
            if line == format!("${placeholder}_primary") {
                for l in &primary_text {
                    text.push_str(l);
                    text.push('\n');
                }
            } else if line == format!("${placeholder}_additional") {
                for l in &additional_lines {
                    text.push_str(&format_line(&type_name, l));
                    text.push('\n');
                }
            } else {
                text.push_str(line);
                text.push('\n');
            }
        }
        out.insert(format!("etc/pam.d/common-{file}"), text);
    }
    out
}

/// A profile line as pam-auth-update writes it: type, control (a word or a bracketed
/// list), module, and the module's arguments after one space (none: a trailing space).
fn format_line(type_name: &str, line: &str) -> String {
    let line = line.trim();
    let (control, rest) = if line.starts_with('[') {
        match line.find(']') {
            Some(end) => (&line[..=end], &line[end + 1..]),
            None => (line, ""),
        }
    } else {
        line.split_once(char::is_whitespace).unwrap_or((line, ""))
    };
    let mut words = rest.split_whitespace();
    let module = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    format!("{type_name}\t{control}\t{module} {}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_unix_profile_into_the_stacks() {
        let mut contents = BTreeMap::new();
        contents.insert(
            format!("{PROFILES}unix"),
            b"Name: Unix authentication\nDefault: yes\nPriority: 256\nAuth-Type: Primary\nAuth:\n\t[success=end default=ignore]\tpam_unix.so nullok try_first_pass\nAuth-Initial:\n\t[success=end default=ignore]\tpam_unix.so nullok\nSession-Type: Additional\nSession:\n\trequired\tpam_unix.so\n".to_vec(),
        );
        contents.insert(
            format!("{PROFILES}mkhomedir"),
            b"Name: Create home\nDefault: no\nPriority: 0\nSession-Type: Additional\nSession:\n\toptional\tpam_mkhomedir.so\n".to_vec(),
        );
        contents.insert(
            format!("{TEMPLATES}auth"),
            b"# head\n$auth_primary\nauth\trequisite\t\t\tpam_deny.so\n$auth_additional\n# end\n"
                .to_vec(),
        );
        contents.insert(
            format!("{TEMPLATES}session"),
            b"$session_primary\nsession\trequisite\t\t\tpam_deny.so\n$session_additional\n"
                .to_vec(),
        );
        let files = common_files(&contents);
        assert_eq!(
            files["etc/pam.d/common-auth"],
            "# head\nauth\t[success=1 default=ignore]\tpam_unix.so nullok\nauth\trequisite\t\t\tpam_deny.so\n# end\n"
        );
        assert_eq!(
            files["etc/pam.d/common-session"],
            "session\t[default=1]\t\t\tpam_permit.so\nsession\trequisite\t\t\tpam_deny.so\nsession\trequired\tpam_unix.so \n"
        );
    }
}
