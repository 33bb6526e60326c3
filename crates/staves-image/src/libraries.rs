//! Shared libraries that the programs a spec adds (`[[paths]]`) need and the image lacks.
//!
//! Packages declare their libraries; a binary copied in from the build context declares
//! nothing, so its ELF dynamic section is read (`DT_NEEDED`, `DT_RUNPATH`/`DT_RPATH`, and the
//! program interpreter) and each name is looked up where the dynamic loader of a Debian
//! system would find it: the runpath, the multiarch directories (`/usr/lib/<triplet>`),
//! `/usr/lib`, `/usr/lib64` and `/usr/local/lib` — all under merged `/usr`.

use goblin::elf::Elf;

/// A library (or program interpreter) a file needs and the image lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingLibrary {
    /// The file that needs it, absolute.
    pub file: String,
    /// The library's file name (`libcurl.so.4`), or the interpreter's absolute path.
    pub library: String,
}

/// What the dynamic loader will look for when it runs an ELF file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// `DT_NEEDED` names.
    pub libraries: Vec<String>,
    /// `DT_RUNPATH` and `DT_RPATH` directories, `$ORIGIN` not yet expanded.
    pub runpaths: Vec<String>,
    /// `PT_INTERP`, for a dynamically linked executable.
    pub interpreter: Option<String>,
}

/// The needs of `content` when it is an ELF file with a dynamic section; `None` otherwise
/// (scripts, data, static programs, files goblin cannot read).
pub fn needs_of(content: &[u8]) -> Option<Needs> {
    if !content.starts_with(b"\x7fELF") {
        return None;
    }
    let elf = Elf::parse(content).ok()?;
    let needs = Needs {
        libraries: elf.libraries.iter().map(|l| (*l).to_owned()).collect(),
        runpaths: elf
            .runpaths
            .iter()
            .chain(&elf.rpaths)
            .flat_map(|r| r.split(':'))
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        interpreter: elf.interpreter.map(str::to_owned),
    };
    (!needs.libraries.is_empty() || needs.interpreter.is_some()).then_some(needs)
}

/// The libraries `file` (absolute) needs that are in none of the directories searched;
/// `exists` answers for an absolute path of the image, `lib_dirs` are the image's
/// multiarch library directories.
pub fn missing(
    file: &str,
    needs: &Needs,
    lib_dirs: &[String],
    exists: impl Fn(&str) -> bool,
) -> Vec<MissingLibrary> {
    let origin = file.rsplit_once('/').map_or("/", |(dir, _)| dir);
    let mut dirs: Vec<String> = needs
        .runpaths
        .iter()
        .map(|r| r.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
        .collect();
    dirs.extend(lib_dirs.iter().cloned());
    dirs.extend(
        ["/usr/lib", "/usr/lib64", "/usr/local/lib"]
            .iter()
            .map(|d| (*d).to_owned()),
    );
    let mut out = Vec::new();
    if let Some(interpreter) = &needs.interpreter
        && !exists(interpreter)
    {
        out.push(MissingLibrary {
            file: file.to_owned(),
            library: interpreter.clone(),
        });
    }
    for library in &needs.libraries {
        let found = if library.contains('/') {
            exists(library)
        } else {
            dirs.iter()
                .any(|dir| exists(&format!("{}/{library}", dir.trim_end_matches('/'))))
        };
        if !found {
            out.push(MissingLibrary {
                file: file.to_owned(),
                library: library.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_itself_needs_libc() {
        let me = std::fs::read(std::env::current_exe().expect("exe")).expect("read");
        let needs = needs_of(&me).expect("a dynamic ELF");
        assert!(
            needs.libraries.iter().any(|l| l.starts_with("libc.so")),
            "{needs:?}"
        );
        assert!(needs.interpreter.is_some());
        assert!(needs_of(b"#!/bin/sh\n").is_none());
        assert!(needs_of(b"\x7fELF garbage").is_none());
    }

    #[test]
    fn libraries_are_found_in_runpath_multiarch_and_default_dirs() {
        let needs = Needs {
            libraries: vec![
                "libc.so.6".into(),
                "libapp.so.1".into(),
                "libcurl.so.4".into(),
            ],
            runpaths: vec!["$ORIGIN/../lib".into()],
            interpreter: Some("/lib64/ld-linux-x86-64.so.2".into()),
        };
        let present = [
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/opt/app/bin/../lib/libapp.so.1",
        ];
        let missing = missing(
            "/opt/app/bin/app",
            &needs,
            &["/usr/lib/x86_64-linux-gnu".into()],
            |p| present.contains(&p),
        );
        let names: Vec<&str> = missing.iter().map(|m| m.library.as_str()).collect();
        assert_eq!(names, ["/lib64/ld-linux-x86-64.so.2", "libcurl.so.4"]);
    }
}
