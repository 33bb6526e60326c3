//! Paths below an archive's root, as indices name them (`Filename: pool/main/n/nginx/…`).
//!
//! An index is data from outside: a `Filename` of `../../../etc/shadow` must not make a
//! `file:` repository read the host's files, nor be sent to a server as it is. A path is
//! accepted only when it stays below the root as written *and* once percent-decoded (a
//! server decodes `%2e%2e` to `..`).

/// Why an archive path is refused, or `Ok` with the path when it is safe to append to the
/// archive's root.
pub fn check(path: &str) -> Result<&str, &'static str> {
    check_components(path)?;
    let decoded = percent_decode(path).ok_or("holds a malformed percent escape")?;
    if decoded != path.as_bytes() {
        let decoded = std::str::from_utf8(&decoded).map_err(|_| "decodes to non-UTF-8 bytes")?;
        check_components(decoded)?;
    }
    Ok(path)
}

fn check_components(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.starts_with('/') {
        return Err("is absolute");
    }
    if path
        .chars()
        .any(|c| c.is_control() || c == '\\' || c == '?' || c == '#')
    {
        return Err("holds control characters, `\\`, `?` or `#`");
    }
    for component in path.split('/') {
        match component {
            ".." => return Err("climbs out of the archive with `..`"),
            "" | "." => return Err("holds an empty or `.` component"),
            _ => {}
        }
    }
    Ok(())
}

fn percent_decode(path: &str) -> Option<Vec<u8>> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Whether a URL's path climbs with `..` (as written or percent-encoded): such a URL is
/// never fetched, whatever built it.
pub fn url_climbs(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let decoded = percent_decode(path).unwrap_or_else(|| path.as_bytes().to_vec());
    [path.as_bytes(), decoded.as_slice()].iter().any(|p| {
        p.split(|&b| b == b'/' || b == b'\\')
            .any(|component| component == b"..")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_pool_paths() {
        assert!(check("pool/main/n/nginx/nginx_1.22.1-9_amd64.deb").is_ok());
        assert!(check("pool/main/f/foo/foo_1%3a2.0_amd64.deb").is_ok());
    }

    #[test]
    fn refuses_paths_that_leave_the_root() {
        for bad in [
            "../../../etc/shadow",
            "pool/../../x.deb",
            "/etc/shadow",
            "pool/%2e%2e/%2e%2e/x.deb",
            "pool/%2E%2E%2Fx.deb",
            "pool//x.deb",
            "pool/./x.deb",
            "pool/x.deb\nFilename: y",
            "pool/x.deb?",
            "pool/%zz.deb",
            "",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_that_climb() {
        assert!(url_climbs("file:/srv/repo/../../etc/shadow"));
        assert!(url_climbs("http://h/debian/pool/%2e%2e/x"));
        assert!(!url_climbs("http://h/debian/pool/main/x_1.0_all.deb"));
        assert!(!url_climbs("http://h/debian/pool/main/x..y.deb"));
    }
}
