//! The `Release` file of a suite: what it is, and the size and checksums of every index, with
//! `Acquire-By-Hash: yes` so that apt fetches indices by their SHA-256.

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// A `Release` being written.
#[derive(Debug, Clone)]
pub struct Release {
    header: String,
    files: Vec<(String, u64, String, String)>,
}

impl Release {
    /// The release of `suite`, dated `date` (RFC 2822, as [`http_date`] writes it).
    /// A release of suite `name` (also its codename) with `components` for `architectures`.
    pub fn new(
        origin: &str,
        name: &str,
        components: &[String],
        architectures: &[String],
        date: &str,
    ) -> Release {
        let header = format!(
            "Origin: {origin}\nLabel: {origin}\nSuite: {name}\nCodename: {name}\nDate: {date}\nArchitectures: {}\nComponents: {}\nAcquire-By-Hash: yes\n",
            architectures.join(" "),
            components.join(" "),
        );
        Release {
            header,
            files: Vec::new(),
        }
    }

    /// Lists an index: its path below the suite's directory and its bytes.
    pub fn add(&mut self, path: &str, bytes: &[u8]) {
        let md5 = hex::encode(<md5::Md5 as Digest>::digest(bytes));
        let sha256 = hex::encode(Sha256::digest(bytes));
        self.files
            .push((path.to_owned(), bytes.len() as u64, md5, sha256));
    }

    /// The file's text.
    pub fn text(&self) -> String {
        let mut text = self.header.clone();
        let width = self
            .files
            .iter()
            .map(|f| f.1.to_string().len())
            .max()
            .unwrap_or(1);
        text.push_str("MD5Sum:\n");
        for (path, size, md5, _) in &self.files {
            text.push_str(&format!(" {md5} {size:>width$} {path}\n"));
        }
        text.push_str("SHA256:\n");
        for (path, size, _, sha256) in &self.files {
            text.push_str(&format!(" {sha256} {size:>width$} {path}\n"));
        }
        text
    }
}

/// `Tue, 24 Nov 2026 22:33:38 UTC`, the date format of `Release` files.
pub fn http_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    staves_deb::date::format_rfc2822(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_lists_every_index_with_both_checksums() {
        let (main, amd64) = (["main".to_owned()], ["amd64".to_owned()]);
        let date = "Thu, 01 Jan 1970 00:00:00 UTC";
        let mut release = Release::new("Staves", "stable", &main, &amd64, date);
        release.add("main/binary-amd64/Packages", b"");
        let text = release.text();
        assert!(text.contains("Acquire-By-Hash: yes\n"), "{text}");
        assert!(text.contains(
            " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-amd64/Packages\n"
        ));
        assert!(text.contains(" d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages\n"));
    }
}
