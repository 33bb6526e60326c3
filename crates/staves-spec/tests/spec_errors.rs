//! Bad specs are reported at the exact line and column, with advice.

use std::path::Path;

use staves_spec::{Spec, SpecError};

fn error_of(text: &str) -> (usize, usize, String) {
    match Spec::parse(text, Path::new("staves.toml")) {
        Ok(_) => panic!("spec should be refused:\n{text}"),
        Err(SpecError::Invalid(d)) => {
            let (l, c) = d.line_column();
            (l, c, d.to_string())
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn accepts_a_full_spec() {
    let text = r#"
name = "web"
packages = ["nginx", "curl (>= 7.0)", "bash=5.2.15-2+b2", "libc6:amd64"]
command = ["nginx", "-g", "daemon off;"]
arch = "amd64"
exclude = ["iproute2"]

[[repositories]]
name = "local"
uri = "http://127.0.0.1:8080/debian"
suite = "stable"
components = ["main"]
keyring = "keys/archive.asc"

['nginx']
recommends = true
version = ">= 1.22"
"#;
    let spec = Spec::parse(text, Path::new("dir/staves.toml")).expect("valid");
    assert_eq!(spec.packages.len(), 4);
    assert_eq!(spec.packages[2].to_string(), "bash (= 5.2.15-2+b2)");
    assert_eq!(&text[spec.packages[1].span.clone()], "\"curl (>= 7.0)\"");
    assert_eq!(
        spec.package_options["nginx"].get_ref().recommends,
        Some(true)
    );
    assert_eq!(spec.base_dir(), Path::new("dir"));
}

#[test]
fn unknown_top_level_key() {
    let (line, col, msg) = error_of("name = \"x\"\npackages = [\"bash\"]\npackges = [\"y\"]\n");
    assert_eq!((line, col), (3, 1), "{msg}");
    assert!(
        msg.contains("unknown key `packges`") && msg.contains("help:"),
        "{msg}"
    );
}

#[test]
fn unknown_key_in_a_package_table() {
    let (line, col, msg) =
        error_of("name = \"x\"\npackages = [\"bash\"]\n\n['bash']\nrecomends = true\n");
    assert_eq!((line, col), (5, 1), "{msg}");
    assert!(msg.contains("recomends"), "{msg}");
}

#[test]
fn unknown_key_in_a_repository() {
    let (line, _, msg) = error_of(
        "name = \"x\"\npackages = [\"bash\"]\n[[repositories]]\nname = \"r\"\nuri = \"http://127.0.0.1/\"\nsuite = \"s\"\nkeyring = \"k\"\nsuit = \"s\"\n",
    );
    assert_eq!(line, 8, "{msg}");
}

#[test]
fn wrong_type() {
    let (line, col, msg) = error_of("name = \"x\"\npackages = \"bash\"\n");
    assert_eq!((line, col), (2, 12), "{msg}");
    assert!(msg.contains("invalid type"), "{msg}");
}

#[test]
fn malformed_version() {
    let (line, col, msg) = error_of("name = \"x\"\npackages = [\"curl\", \"bash=5.2_1\"]\n");
    assert_eq!((line, col), (2, 21), "{msg}");
    assert!(msg.contains("bad version"), "{msg}");
}

#[test]
fn repository_without_keyring() {
    let (line, _, msg) = error_of(
        "name = \"x\"\npackages = [\"bash\"]\n[[repositories]]\nname = \"r\"\nuri = \"http://127.0.0.1/\"\nsuite = \"s\"\n",
    );
    assert_eq!(line, 4, "{msg}");
    assert!(msg.contains("trusted = true"), "{msg}");
}
