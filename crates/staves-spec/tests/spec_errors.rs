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

/// `init` is on for a plain command, off for one that is an init itself, for services and
/// when the spec says `init = false`; tini joins the packages exactly when it is on.
#[test]
fn init_is_on_by_default_for_a_plain_command() {
    let cases = [
        ("command = [\"sleep\", \"1d\"]\n", true),
        ("command = [\"/usr/bin/sleep\"]\ninit = false\n", false),
        ("command = [\"/usr/bin/dumb-init\", \"app\"]\n", false),
        ("command = [\"tini\", \"--\", \"app\"]\n", false),
        ("", false),
        ("[services.web]\ncommand = [\"app\"]\n", false),
    ];
    for (tail, init) in cases {
        let text = format!("name = \"x\"\npackages = [\"coreutils\"]\n{tail}");
        let spec = Spec::parse(&text, Path::new("staves.toml")).expect("valid");
        assert_eq!(spec.init, init, "{text}");
        let tini = spec.packages.iter().any(|p| p.name == "tini");
        assert_eq!(tini, init, "{text}");
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
    // The four asked for, and tini: a plain command runs under it by default.
    assert_eq!(spec.packages.len(), 5);
    assert!(spec.init);
    assert_eq!(spec.packages[4].name, "tini");
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
    assert!(msg.contains("`packages` must be a list"), "{msg}");
}

#[test]
fn empty_packages_point_at_the_key() {
    let (line, col, msg) = error_of("name = \"x\"\npackages = []\n");
    assert_eq!((line, col), (2, 12), "{msg}");
    assert!(msg.contains("no packages"), "{msg}");
}

#[test]
fn a_misspelt_key_written_as_a_table_is_not_taken_for_a_package() {
    let (line, _, msg) =
        error_of("name = \"x\"\npackages = [\"bash\"]\n[enviroment]\nversion = \"1\"\n");
    assert_eq!(line, 3, "{msg}");
    assert!(msg.contains("`[enviroment]`"), "{msg}");
    // A table for a package that is only a dependency is fine.
    let ok = staves_spec::Spec::parse(
        "name = \"x\"\npackages = [\"bash\"]\n[libc6]\nuse = [\"-gconv\"]\n",
        std::path::Path::new("staves.toml"),
    );
    assert!(ok.is_ok());
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

#[test]
fn account_fields_cannot_inject_lines() {
    let (line, _, message) = error_of(
        "name = \"x\"\npackages = [\"bash\"]\n\n[[accounts]]\nname = \"u\"\nhome = \"/home/u\\nevil::0:0::/:/bin/sh\"\n",
    );
    assert_eq!(line, 5);
    assert!(message.contains("`home`"), "{message}");
    let (_, _, message) =
        error_of("name = \"x\"\npackages = [\"bash\"]\n\n[[accounts]]\nname = \"u:0\"\n");
    assert!(message.contains("`name`"), "{message}");
}

#[test]
fn tags_and_environment_names_are_checked() {
    let (line, _, message) = error_of("name = \"x\"\npackages = [\"bash\"]\ntag = \"1.0\\nx\"\n");
    assert_eq!(line, 3);
    assert!(message.contains("not an image tag"), "{message}");
    let (line, _, message) =
        error_of("name = \"x\"\npackages = [\"bash\"]\n[environment]\n\"A=B\" = \"1\"\n");
    assert_eq!(line, 4);
    assert!(
        message.contains("not an environment variable name"),
        "{message}"
    );
}

#[test]
fn content_and_source_together_are_an_error() {
    let (line, _, message) = error_of(
        "name = \"x\"\npackages = [\"bash\"]\n[[paths]]\npath = \"/a\"\ncontent = \"x\"\nsource = \"a\"\n",
    );
    assert_eq!(line, 4);
    assert!(message.contains("both given"), "{message}");
}

#[test]
fn sources_stay_in_the_context_and_are_regular_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).expect("project");
    std::fs::write(dir.path().join("secret"), "s").expect("secret");
    std::fs::write(project.join("ok.txt"), "fine").expect("ok");
    std::os::unix::fs::symlink(dir.path().join("secret"), project.join("link")).expect("link");
    let spec_for = |source: &str| {
        let path = project.join("staves.toml");
        std::fs::write(
            &path,
            format!("name = \"x\"\npackages = [\"bash\"]\n[[paths]]\npath = \"/f\"\nsource = \"{source}\"\n"),
        )
        .expect("spec");
        staves_spec::Spec::load(&path).expect("parses")
    };
    assert!(spec_for("ok.txt").check_sources(&project).is_ok());
    for (source, expected) in [
        ("../secret", "outside the build context"),
        ("link", "outside the build context"),
        ("/etc/passwd", "outside the build context"),
        ("/dev/zero", "outside the build context"),
        ("missing", "cannot be read"),
    ] {
        let error = spec_for(source)
            .check_sources(&project)
            .expect_err(source)
            .to_string();
        assert!(error.contains(expected), "{source}: {error}");
    }
    // A wider context, named by the person building, lets `../secret` in; devices never.
    assert!(spec_for("../secret").check_sources(dir.path()).is_ok());
    let error = spec_for("/dev/zero")
        .check_sources(std::path::Path::new("/"))
        .expect_err("device")
        .to_string();
    assert!(error.contains("not a regular file"), "{error}");
}

#[test]
fn binary_and_huge_specs_are_refused_plainly() {
    let dir = tempfile::tempdir().expect("tmp");
    let garbage = dir.path().join("garbage.toml");
    std::fs::write(&garbage, [0xffu8, 0xfe, 0x00, 0x01]).expect("write");
    let error = staves_spec::Spec::load(&garbage)
        .expect_err("binary")
        .to_string();
    assert!(error.contains("not UTF-8"), "{error}");
    let huge = dir.path().join("huge.toml");
    std::fs::write(&huge, vec![b'#'; 50 << 20]).expect("write");
    let error = staves_spec::Spec::load(&huge)
        .expect_err("huge")
        .to_string();
    assert!(error.contains("more than"), "{error}");
    let error = staves_spec::Spec::load(std::path::Path::new("/dev/zero"))
        .expect_err("device")
        .to_string();
    assert!(error.contains("not a regular file"), "{error}");
}

#[test]
fn the_known_keys_hint_lists_every_key_the_parser_takes() {
    // A key close to none: the hint lists them all (a close one is named instead).
    let (_, _, close) = error_of("name = \"x\"\npackages = [\"bash\"]\ncomand = 1\n");
    assert!(close.contains("did you mean `command`?"), "{close}");
    let (_, _, msg) = error_of("name = \"x\"\npackages = [\"bash\"]\nzzqq = 1\n");
    let hint = msg
        .split("known keys are: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no known keys in {msg}"));
    let keys: Vec<&str> = hint
        .split(';')
        .next()
        .unwrap_or_default()
        .split(", ")
        .collect();
    assert!(keys.len() > 15, "{keys:?}");
    for key in keys.iter().filter(|k| !matches!(**k, "name" | "packages")) {
        // Each listed key is parsed as itself: a wrong type for it is a type error about it,
        // never "unknown key".
        let text =
            format!("name = \"x\"\npackages = [\"bash\"]\n\"{key}\" = {{ x = {{ y = 1 }} }}\n");
        if let Err(e) = Spec::parse(&text, Path::new("staves.toml")) {
            let e = e.to_string();
            assert!(
                !e.contains("unknown key"),
                "`{key}` is listed but not parsed: {e}"
            );
        }
    }
}

#[test]
fn layers_are_a_small_count_and_not_for_images_on_a_base() {
    let spec = Spec::parse(
        "name = \"a\"\npackages = [\"bash\"]\nlayers = 8\n",
        Path::new("staves.toml"),
    )
    .expect("valid");
    assert_eq!(spec.layers, 8);
    let one = Spec::parse(
        "name = \"a\"\npackages = [\"bash\"]\n",
        Path::new("staves.toml"),
    )
    .expect("valid");
    assert_eq!(one.layers, 1);
    let (line, column, message) = error_of("name = \"a\"\npackages = [\"bash\"]\nlayers = 0\n");
    assert_eq!((line, column), (3, 10));
    assert!(message.contains("1 to 64 layers"), "{message}");
    // On a base, the added packages split as on their own, the spec's own files on top.
    let on_base = Spec::parse(
        "name = \"a\"\nbase = \"../base\"\npackages = [\"bash\"]\nlayers = 4\n",
        Path::new("staves.toml"),
    )
    .expect("valid");
    assert_eq!(on_base.layers, 4);
}

#[test]
fn services_bring_s6_and_refuse_what_cannot_run() {
    let spec = Spec::parse(
        "name = \"a\"\npackages = [\"nginx\"]\n\n[services.web]\ncommand = [\"nginx\"]\nuser = \"www-data\"\n\n[tasks.keys]\ncommand = [\"ssh-keygen\", \"-A\"]\nunless-exists = \"/etc/ssh/ssh_host_ed25519_key\"\n",
        Path::new("staves.toml"),
    )
    .expect("valid");
    let names: Vec<&str> = spec.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["nginx", "s6", "execline", "libc-bin"]);
    assert_eq!(spec.services.len(), 1);
    assert_eq!(spec.tasks.len(), 1);

    let base = "name = \"a\"\npackages = [\"nginx\"]\n";
    let (line, column, message) = error_of(&format!(
        "{base}\n[services.web]\ncommand = [\"nginx\"]\nafter = [\"db\"]\n"
    ));
    assert_eq!((line, column), (6, 10));
    assert!(message.contains("`db`, which is neither"), "{message}");

    let (line, _, message) = error_of(&format!(
        "{base}\n[services.a]\ncommand = [\"x\"]\nafter = [\"b\"]\n\n[services.b]\ncommand = [\"y\"]\nafter = [\"a\"]\n"
    ));
    assert_eq!(line, 4);
    assert!(message.contains("a → b → a"), "{message}");

    let (line, _, message) = error_of(&format!(
        "{base}\n[services.a]\ncommand = [\"x\"]\nmain = true\n\n[services.b]\ncommand = [\"y\"]\nmain = true\n"
    ));
    assert_eq!(line, 8);
    assert!(
        message.contains("second service with `main = true`"),
        "{message}"
    );

    let (line, column, message) = error_of(
        "name = \"a\"\npackages = [\"nginx\"]\ncommand = [\"nginx\"]\n\n[services.web]\ncommand = [\"nginx\"]\n",
    );
    assert_eq!((line, column), (3, 1));
    assert!(message.contains("`command` and `[services]`"), "{message}");

    let (line, _, message) = error_of(&format!(
        "{base}\n[services.web]\ncommand = [\"nginx\"]\nrestart = \"sometimes\"\n"
    ));
    assert_eq!(line, 6);
    assert!(message.contains("on-failure"), "{message}");

    let (line, _, message) = error_of(&format!(
        "{base}\n[services.web]\ncommand = [\"nginx\"]\nstop-timeout = \"5h\"\n"
    ));
    assert_eq!(line, 6);
    assert!(message.contains("not a duration"), "{message}");

    let (line, column, message) = error_of(&format!(
        "{base}\n[services.web]\ncommand = [\"nginx\"]\nuser = \"root:root\"\n"
    ));
    assert_eq!((line, column), (6, 8));
    assert!(message.contains("`user` names one account"), "{message}");

    let (line, _, message) = error_of(&format!(
        "{base}\n[services.web]\ncommand = [\"nginx\"]\nready = {{ check = [\"true\"], interval = \"0ms\" }}\n"
    ));
    assert_eq!(line, 6);
    assert!(message.contains("under 10 ms"), "{message}");

    let (line, _, message) = error_of(&format!(
        "{base}\n[services.web]\ncommand = [\"nginx\"]\nlog-prefix = \"a\\u0007b\"\n"
    ));
    assert_ne!(line, 5, "not the command's line: {message}");
    assert!(message.contains("control character"), "{message}");

    let (_, _, message) = error_of(&format!(
        "{base}\n[services.web]\ncommand = [\"nginx\"]\nready = {{ notify-fd = 3, check = [\"true\"] }}\n"
    ));
    assert!(
        message.contains("one of `notify-fd` and `check`"),
        "{message}"
    );

    let (line, _, message) = error_of(
        "name = \"a\"\npackages = [\"nginx\"]\nuser = \"nobody\"\n\n[services.web]\ncommand = [\"nginx\"]\nuser = \"www-data\"\n",
    );
    assert_eq!(line, 7);
    assert!(message.contains("cannot change user"), "{message}");

    let (_, _, message) = error_of("name = \"a\"\npackages = [\"bash\"]\ninit = true\n");
    assert!(message.contains("no `command`"), "{message}");
    let init = Spec::parse(
        "name = \"a\"\npackages = [\"bash\"]\ncommand = [\"bash\"]\ninit = true\n",
        Path::new("staves.toml"),
    )
    .expect("valid");
    assert!(init.packages.iter().any(|p| p.name == "tini"));
}

#[test]
fn use_flags_are_checked_when_the_spec_is_read() {
    let (line, column, message) =
        error_of("name = \"a\"\npackages = [\"bash\"]\nuse = [\"man\", \"-docs\"]\n");
    assert_eq!((line, column), (3, 15));
    assert!(
        message.contains("`-docs` is not a content class"),
        "{message}"
    );
    let (line, column, message) =
        error_of("name = \"a\"\npackages = [\"bash\"]\n\n[bash]\nuse = [\"nls\", \"locales\"]\n");
    assert_eq!((line, column), (5, 15));
    assert!(message.contains("package `bash`: `locales`"), "{message}");
    assert!(
        Spec::parse(
            "name = \"a\"\npackages = [\"bash\"]\nuse = [\"+doc\", \"-man\"]\n",
            Path::new("staves.toml")
        )
        .is_ok()
    );
}

#[test]
fn a_base_is_a_path_a_pinned_registry_image_or_an_engine_image() {
    use staves_spec::BaseRef;
    assert_eq!(
        BaseRef::parse("docker:app:1.0"),
        Ok(BaseRef::Engine {
            engine: "docker".into(),
            name: "app:1.0".into()
        })
    );
    assert!(matches!(
        BaseRef::parse("podman:localhost/app"),
        Ok(BaseRef::Engine { engine, .. }) if engine == "podman"
    ));
    assert_eq!(BaseRef::parse("./base"), Ok(BaseRef::Path("./base".into())));
    // A registry tag can move under the lock; an engine name with no image, or one read
    // as an option, is refused.
    for bad in [
        "registry.example/app:1.0",
        "docker:",
        "podman:-x",
        "docker:a b",
    ] {
        let error = BaseRef::parse(bad).expect_err(bad);
        assert!(!error.1.is_empty(), "{bad}: a hint");
    }
    let spec = Spec::parse(
        "name = \"a\"\nbase = \"docker:\"\n",
        Path::new("staves.toml"),
    );
    assert!(spec.is_err());
}

#[test]
fn debug_packages_are_package_requests_pointed_at_when_wrong() {
    let spec = Spec::parse(
        "name = \"a\"\npackages = [\"bash\"]\ndebug = true\ndebug-packages = [\"strace\", \"gdb (>= 13)\"]\n",
        Path::new("staves.toml"),
    )
    .expect("parses");
    assert!(spec.debug);
    let names: Vec<&str> = spec
        .debug_packages
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["strace", "gdb"]);
    let error = Spec::parse(
        "name = \"a\"\npackages = [\"bash\"]\ndebug-packages = [\"no such thing!\"]\n",
        Path::new("staves.toml"),
    )
    .expect_err("not a package");
    assert!(error.to_string().contains("no such thing"), "{error}");
}
