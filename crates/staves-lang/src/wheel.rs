//! What a wheel holds, read from its zip directory without unpacking it: the copies of
//! shared libraries auditwheel bundles into a manylinux or musllinux wheel (`NAME.libs/`),
//! which Debian's security updates would never reach.

use std::path::Path;

use crate::LangError;

/// Whether `filename` names a wheel built for a Linux platform baseline (the wheels that
/// may bundle libraries).
pub fn is_linux_binary(filename: &str) -> bool {
    filename.ends_with(".whl") && (filename.contains("manylinux") || filename.contains("musllinux"))
}

/// The shared libraries the wheel at `path` bundles: files below a top-level `*.libs/`
/// directory, as auditwheel places them.
pub fn bundled_libraries(path: &Path) -> Result<Vec<String>, LangError> {
    let io = |source: std::io::Error| LangError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let archive = zip::ZipArchive::new(file)
        .map_err(|e| io(std::io::Error::other(format!("not a wheel (zip): {e}"))))?;
    // A name that is not text cannot be a library's path as auditwheel writes it.
    let mut bundled: Vec<String> = archive
        .file_names()
        .filter_map(|name| name.ok().map(|n| n.into_owned()))
        .filter(|name| {
            name.split_once('/')
                .is_some_and(|(top, rest)| top.ends_with(".libs") && !rest.is_empty())
        })
        .collect();
    bundled.sort();
    Ok(bundled)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn wheel(dir: &Path, name: &str, files: &[&str]) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for file in files {
            zip.start_file(*file, options).expect("entry");
            zip.write_all(b"x").expect("write");
        }
        zip.finish().expect("finish");
        path
    }

    #[test]
    fn libraries_auditwheel_bundled_are_found_and_others_are_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let name = "pillow-10.0.0-cp311-cp311-manylinux_2_28_x86_64.whl";
        assert!(is_linux_binary(name));
        assert!(!is_linux_binary("six-1.16.0-py2.py3-none-any.whl"));
        let bundled = wheel(
            dir.path(),
            name,
            &[
                "PIL/__init__.py",
                "PIL/_imaging.cpython-311-x86_64-linux-gnu.so",
                "pillow.libs/libjpeg-77ae51ab.so.62.4.0",
                "pillow.libs/libtiff-91af027d.so.6.0.2",
            ],
        );
        assert_eq!(
            bundled_libraries(&bundled).expect("reads"),
            [
                "pillow.libs/libjpeg-77ae51ab.so.62.4.0",
                "pillow.libs/libtiff-91af027d.so.6.0.2"
            ]
        );
        let plain = wheel(
            dir.path(),
            "plain.whl",
            &["six.py", "six-1.16.0.dist-info/RECORD"],
        );
        assert!(bundled_libraries(&plain).expect("reads").is_empty());
        std::fs::write(dir.path().join("bad.whl"), b"not a zip").expect("write");
        assert!(bundled_libraries(&dir.path().join("bad.whl")).is_err());
    }
}
