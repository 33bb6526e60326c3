//! What a new user meets day to day, against a repository built and served here: `why`,
//! `init`, completions, image names, a lock the spec moved away from.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use support::server::Server;
use support::*;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key: Key,
}

/// The program the specs' `command` names: the fixture's packages ship no files, and a
/// command the image lacks is refused at build time.
const APP_PROGRAM: &str = "
[[paths]]
path = \"/usr/bin/app\"
content = \"#!/usr/bin/env app\\n\"
mode = \"0755\"
";

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = Key::generate(dir.path(), "archive");
        let root = dir.path().join("repo");
        let mut repo = Repo::new(&root);
        repo.contents = true;
        repo.publish(
            "stable",
            &[
                pkg(
                    "app",
                    "1.0",
                    &[
                        ("Depends", "missing-lib | libgreet, tool"),
                        ("Installed-Size", "10"),
                    ],
                ),
                pkg("libgreet", "1.0", &[("Installed-Size", "2048")]),
                pkg(
                    "tool",
                    "1.0",
                    &[("Depends", "helper"), ("Installed-Size", "300")],
                ),
                pkg("helper", "1.0", &[("Installed-Size", "700")]),
                pkg("extra", "1.0", &[]),
            ],
            &key,
            Signing::Both,
            None,
        );
        // A suite with what Debian takes for granted: base-files, a shell, and a program
        // that runs one without declaring it.
        let elf = b"\x7fELF\x02\x01\x01\0\0\0free\0popen\0malloc\0";
        repo.publish(
            "skeleton",
            &[
                pkg("app", "1.0", &[]),
                pkg("prog", "1.0", &[("Depends", "libc6 (>= 2.36)")]),
                pkg("libc6", "2.36", &[]).with_files(LIBC_FILES),
                pkg("base-files", "12", &[("Priority", "required")]).with_files(&[(
                    "etc/os-release",
                    b"ID=debian\n",
                    0o644,
                )]),
                pkg("dash", "0.5", &[("Priority", "required")]).with_files(&[(
                    "bin/sh",
                    b"\x7fELF\x02\x01\x01\0",
                    0o755,
                )]),
                pkg("db", "15", &[("Priority", "optional")]).with_files(&[
                    ("usr/lib/db/15/bin/initdb", elf, 0o755),
                    ("usr/bin/db-wrapper", b"#!/bin/sh\nexec initdb\n", 0o755),
                    ("etc/init.d/db", b"#!/bin/sh\n", 0o755),
                ]),
            ],
            &key,
            Signing::Both,
            None,
        );
        Fixture {
            _dir: dir,
            root,
            key,
        }
    })
}

/// A stand-in C library: the names the loader looks for, at the multiarch paths of the
/// common architectures, so the host's own programs can be checked against it.
const LIBC_FILES: &[(&str, &[u8], u32)] = &[
    ("usr/lib/x86_64-linux-gnu/libc.so.6", b"libc", 0o644),
    ("usr/lib/aarch64-linux-gnu/libc.so.6", b"libc", 0o644),
    ("usr/lib64/ld-linux-x86-64.so.2", b"ld.so", 0o755),
    ("usr/lib/ld-linux-aarch64.so.1", b"ld.so", 0o755),
];

struct Case {
    _server: Server,
    tmp: tempfile::TempDir,
    spec: PathBuf,
}

impl Case {
    fn new(packages: &[&str], extra: &str) -> Case {
        Case::in_suite("stable", packages, extra)
    }

    fn in_suite(suite: &str, packages: &[&str], extra: &str) -> Case {
        let f = fixture();
        let server = Server::start(f.root.clone());
        let tmp = tempfile::tempdir().expect("tmp");
        let spec = spec(
            tmp.path(),
            packages,
            &server.base,
            suite,
            &f.key.armored,
            extra,
        );
        Case {
            _server: server,
            tmp,
            spec,
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-f", self.spec.to_str().expect("utf8")]);
        staves(&all, &self.tmp.path().join("cache"))
    }

    fn ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

#[test]
fn why_shows_the_chain_the_alternative_and_the_cost() {
    let case = Case::new(&["app"], "");
    let out = stdout(&case.ok(&["why", "helper"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("helper 1.0"), "{out}");
    assert!(lines[0].contains("700 KiB installed"), "{out}");
    assert!(lines[1].contains("app: requested by the spec"), "{out}");
    assert!(lines[1].contains("staves.toml:2:"), "{out}");
    assert!(lines[2].contains("tool: app depends on `tool`"), "{out}");
    assert!(
        lines[3].contains("helper: tool depends on `helper`"),
        "{out}"
    );

    let out = stdout(&case.ok(&["why", "libgreet"]));
    assert!(
        out.contains("app depends on `missing-lib | libgreet`")
            && out.contains("missing-lib could not be installed"),
        "{out}"
    );
    // What tool costs: itself and helper, which only it brought in.
    let out = stdout(&case.ok(&["why", "tool"]));
    assert!(
        out.contains("300 KiB installed; 1000 KiB with the 1 package(s) it brought in: helper"),
        "{out}"
    );

    let out = case.run(&["why", "extra"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("extra is not in the image: nothing requested depends on it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn why_answers_for_the_locked_set() {
    let case = Case::new(&["app"], "");
    case.ok(&["lock"]);
    let out = stdout(&case.ok(&["why", "libgreet", "--offline"]));
    assert!(out.starts_with("libgreet 1.0"), "{out}");
}

#[test]
fn a_stale_lock_is_updated_and_said_so_or_refused_with_locked() {
    let case = Case::new(&["tool"], "");
    case.ok(&["lock"]);
    let before = std::fs::read_to_string(case.path("staves.lock")).expect("lock");
    assert!(!before.contains("name = \"extra\""));
    let text = std::fs::read_to_string(&case.spec).expect("spec");
    std::fs::write(
        &case.spec,
        text.replace("packages = [\"tool\"]", "packages = [\"tool\", \"extra\"]"),
    )
    .expect("edit spec");

    let out = case.run(&["build", "--locked", "-o", "x.tar"]);
    assert!(!out.status.success(), "--locked built with a stale lock");
    assert!(stderr(&out).contains("staves.lock"), "{}", stderr(&out));

    let image = case.path("image.tar");
    let out = case.ok(&["build", "-o", image.to_str().expect("utf8")]);
    let err = stderr(&out);
    assert!(
        err.contains("Updated") && err.contains("1 added, 0 removed, 0 changed"),
        "{err}"
    );
    let after = std::fs::read_to_string(case.path("staves.lock")).expect("lock");
    assert!(after.contains("name = \"extra\""), "{after}");
    // Now it matches: nothing to report.
    let out = case.ok(&["build", "--locked", "-o", image.to_str().expect("utf8")]);
    assert!(!stderr(&out).contains("Updated"), "{}", stderr(&out));
}

/// The manifest digest of the image an OCI layout holds, and its index entries' names.
fn layout_names(layout: &Path) -> (String, Vec<(String, String)>) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let entries = index["manifests"].as_array().expect("manifests");
    let digest = entries[0]["digest"].as_str().expect("digest").to_owned();
    let names = entries
        .iter()
        .map(|e| {
            assert_eq!(e["digest"].as_str(), Some(digest.as_str()), "one image");
            let a = &e["annotations"];
            (
                a["org.opencontainers.image.ref.name"]
                    .as_str()
                    .expect("ref.name")
                    .to_owned(),
                a["io.containerd.image.name"]
                    .as_str()
                    .expect("name")
                    .to_owned(),
            )
        })
        .collect();
    (digest, names)
}

#[test]
fn tags_take_full_references_several_times_and_never_change_the_bytes() {
    let case = Case::new(&["tool"], "");
    let one = case.path("one");
    case.ok(&["build", "-o", one.to_str().expect("utf8")]);
    let (plain, names) = layout_names(&one);
    assert_eq!(names, [("latest".into(), "test:latest".into())]);

    let two = case.path("two");
    case.ok(&[
        "build",
        "-o",
        two.to_str().expect("utf8"),
        "-t",
        "registry.example:5000/team/app:1.0",
        "-t",
        "app",
    ]);
    let (tagged, names) = layout_names(&two);
    assert_eq!(tagged, plain, "naming the image changed its bytes");
    assert_eq!(
        names,
        [
            ("1.0".into(), "registry.example:5000/team/app:1.0".into()),
            ("latest".into(), "app:latest".into())
        ]
    );

    let archive = case.path("image.tar");
    case.ok(&[
        "build",
        "-o",
        archive.to_str().expect("utf8"),
        "-t",
        "a:1",
        "--tag",
        "b/c:2",
    ]);
    let listing = run(std::process::Command::new("tar")
        .args(["-xOf"])
        .arg(&archive)
        .arg("manifest.json"));
    let manifest: serde_json::Value = serde_json::from_slice(&listing.stdout).expect("json");
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["a:1", "b/c:2"]));

    let out = case.run(&["build", "-o", "x.tar", "-t", "Bad:Name"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Bad:Name"), "{}", stderr(&out));
}

#[test]
fn init_writes_a_commented_spec_that_loads_and_does_not_overwrite() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("web/staves.toml");
    let init = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_staves"))
            .arg("init")
            .arg("-f")
            .arg(&file)
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run")
    };
    let out = init(&["tool", "helper"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).expect("spec");
    assert!(text.contains("name = \"tool\""), "{text}");
    assert!(text.contains("packages = [\"tool\", \"helper\"]"), "{text}");
    assert!(text.lines().filter(|l| l.starts_with('#')).count() > 10);
    // A package's name is seldom its program's: none is offered as the command.
    assert!(!text.contains("command = [\"tool\""), "{text}");
    assert!(text.contains("# init = true"), "{text}");

    let out = init(&["other"]);
    assert!(!out.status.success(), "overwrote without --force");
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).expect("spec"), text);

    // The written spec resolves once it names where packages come from.
    let f = fixture();
    let server = Server::start(f.root.clone());
    let with_repo = format!(
        "{text}\n[[repositories]]\nname = \"local\"\nuri = \"{}\"\nsuite = \"stable\"\nkeyring = \"{}\"\n",
        server.base,
        f.key.armored.display()
    );
    std::fs::write(&file, with_repo).expect("spec");
    let out = staves(
        &["resolve", "-f", file.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));

    let out = init(&["--force", "--name", "Not Valid"]);
    assert!(!out.status.success());
}

#[test]
fn completions_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out =
            run(std::process::Command::new(env!("CARGO_BIN_EXE_staves"))
                .args(["completions", shell]));
        let script = stdout(&out);
        for command in ["build", "resolve", "why", "lock", "push", "init"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
}

#[test]
fn each_command_shows_only_its_own_options_with_an_example() {
    let help = |command: &str| {
        stdout(&run(std::process::Command::new(env!(
            "CARGO_BIN_EXE_staves"
        ))
        .args([command, "--help"])))
    };
    let push = help("push");
    assert!(
        !push.contains("--offline") && !push.contains("--locked"),
        "{push}"
    );
    assert!(push.contains("Example"), "{push}");
    let lock = help("lock");
    assert!(
        !lock.contains("--locked") && lock.contains("--check"),
        "{lock}"
    );
    let build = help("build");
    assert!(
        build.contains("--offline") && build.contains("Examples"),
        "{build}"
    );
}

#[test]
fn inspect_lists_packages_files_and_config_of_layouts_and_archives() {
    let case = Case::new(
        &["app"],
        &format!(
            "command = [\"/usr/bin/app\"]\ninit = false\nports = [\"8080\"]\nuser = \"nobody\"\n{APP_PROGRAM}"
        ),
    );
    let layout = case.path("layout");
    let archive = case.path("image.tar");
    case.ok(&["build", "-o", layout.to_str().expect("utf8"), "-t", "app:1"]);
    case.ok(&[
        "build",
        "-o",
        archive.to_str().expect("utf8"),
        "-t",
        "app:1",
    ]);
    let inspect = |target: &str, extra: &[&str]| {
        let out = run(std::process::Command::new(env!("CARGO_BIN_EXE_staves"))
            .args(["inspect", target, "--json"])
            .args(extra));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let layout_arg = format!("{}:1", layout.display());
    let from_layout = inspect(&layout_arg, &["--files"]);
    let from_archive = inspect(archive.to_str().expect("utf8"), &[]);
    for report in [&from_layout, &from_archive] {
        let packages: Vec<&str> = report["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| p["name"].as_str().expect("name"))
            .collect();
        assert_eq!(packages, ["app", "helper", "libgreet", "tool"]);
        assert_eq!(
            report["config"]["Entrypoint"],
            serde_json::json!(["/usr/bin/app"])
        );
        assert_eq!(report["config"]["User"], "nobody");
        assert_eq!(report["names"], serde_json::json!(["app:1"]));
    }
    assert_eq!(from_layout["digest"], from_archive["digest"]);
    let files = from_layout["files"].as_array().expect("files");
    let passwd = files
        .iter()
        .find(|f| f["path"] == "/etc/passwd")
        .expect("passwd listed");
    assert_eq!(
        (passwd["kind"].as_str(), passwd["mode"].as_str()),
        (Some("-"), Some("0644"))
    );
    assert_eq!(from_layout["file_count"].as_u64(), Some(files.len() as u64));

    // A damaged layer is refused, not listed.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let manifest_digest = index["manifests"][0]["digest"].as_str().expect("digest");
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(manifest_digest)).expect("manifest"))
            .expect("json");
    let layer = blob(manifest["layers"][0]["digest"].as_str().expect("layer"));
    let mut bytes = std::fs::read(&layer).expect("layer");
    let at = bytes.len() - 20;
    bytes[at] ^= 0x55;
    std::fs::write(&layer, bytes).expect("damage");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["inspect", &layout_arg])
        .output()
        .expect("run");
    assert!(!out.status.success(), "a damaged layer was listed");
}

#[test]
fn base_files_comes_with_every_image_unless_excluded() {
    let case = Case::in_suite("skeleton", &["app"], "");
    let out = case.ok(&["resolve"]);
    assert_eq!(
        stdout(&out)
            .lines()
            .map(|l| l.split(' ').next().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["app", "base-files"]
    );
    assert!(
        stderr(&out).contains("Added base-files 12: every image gets Debian's skeleton"),
        "{}",
        stderr(&out)
    );
    let why = stdout(&case.ok(&["why", "base-files"]));
    assert!(why.contains("added to every image"), "{why}");

    let case = Case::in_suite("skeleton", &["app"], "exclude = [\"base-files\"]\n");
    let out = case.ok(&["resolve"]);
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
}

#[test]
fn a_program_that_runs_a_shell_in_an_image_without_one_is_reported_with_the_fix() {
    let build = |packages: &[&str], extra: &str| {
        let case = Case::in_suite("skeleton", packages, extra);
        let image = case.path("image.tar");
        stderr(&case.ok(&["build", "-o", image.to_str().expect("utf8")]))
    };
    let err = build(&["db"], "");
    let warning = err
        .lines()
        .find(|l| l.contains("Warning"))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    assert!(warning.contains("has no /bin/sh"), "{warning}");
    assert!(
        warning.contains("/usr/lib/db/15/bin/initdb (db) calls popen()"),
        "{warning}"
    );
    assert!(
        warning.contains("/usr/bin/db-wrapper (db) is a #!/bin/sh script"),
        "{warning}"
    );
    assert!(
        !warning.contains("init.d"),
        "init scripts do not run: {warning}"
    );
    assert!(warning.contains("add \"dash\" to `packages`"), "{warning}");

    let err = build(&["db", "dash"], "");
    assert!(!err.contains("Warning"), "{err}");
    let err = build(&["db"], "exclude = [\"dash\"]\n");
    assert!(
        !err.contains("Warning"),
        "an explicit no-shell is respected: {err}"
    );
}

/// `staves inspect --json --files` of `image`: path → (kind, mode, owner).
fn files_of(image: &Path) -> std::collections::BTreeMap<String, (String, String, String)> {
    let out = run(std::process::Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["inspect", "--json", "--files"])
        .arg(image));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (s("path"), (s("kind"), s("mode"), s("owner")))
        })
        .collect()
}

#[test]
fn accounts_get_their_home_and_volumes_belong_to_the_image_user() {
    let case = Case::new(
        &["tool"],
        "user = \"app\"\nvolumes = [\"/data\", \"/var/lib/app/state\", \"/srv\"]\n\
         [[accounts]]\nname = \"app\"\nuid = 1000\n\
         [[accounts]]\nname = \"svc\"\nuid = 1001\nhome = \"/var/lib/svc\"\n\
         [[paths]]\npath = \"/srv\"\nmode = \"0750\"\nowner = \"svc\"\n\
         [[paths]]\npath = \"/usr/share/doc/tool\"\nowner = \"app\"\n",
    );
    let image = case.path("image.tar");
    case.ok(&["build", "-o", image.to_str().expect("utf8")]);
    let files = files_of(&image);
    let entry = |p: &str| {
        files
            .get(p)
            .cloned()
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    assert_eq!(
        entry("/home/app"),
        ("d".into(), "0700".into(), "1000:1000".into())
    );
    assert_eq!(
        entry("/var/lib/svc"),
        ("d".into(), "0700".into(), "1001:1001".into())
    );
    assert_eq!(
        entry("/data"),
        ("d".into(), "0755".into(), "1000:1000".into())
    );
    assert_eq!(
        entry("/var/lib/app/state"),
        ("d".into(), "0755".into(), "1000:1000".into())
    );
    // Declared in `paths`: as declared.
    assert_eq!(
        entry("/srv"),
        ("d".into(), "0750".into(), "1001:1001".into())
    );
}

#[test]
fn a_directory_source_copies_the_tree_with_owner_and_modes() {
    let case = Case::new(
        &["tool"],
        "[[accounts]]\nname = \"web\"\nuid = 33000\n\
         [[paths]]\npath = \"/srv/site\"\nsource = \"site\"\nowner = \"web\"\n",
    );
    let site = case.path("site");
    std::fs::create_dir_all(site.join("css/deep")).expect("dirs");
    std::fs::write(site.join("index.html"), "<h1>hi</h1>\n").expect("file");
    std::fs::write(site.join("css/deep/a.css"), "a{}\n").expect("file");
    std::fs::write(site.join("run.sh"), "#!/bin/sh\n").expect("file");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(site.join("run.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::os::unix::fs::symlink("index.html", site.join("home.html")).expect("link");
    let image = case.path("image.tar");
    case.ok(&["build", "-o", image.to_str().expect("utf8")]);
    let files = files_of(&image);
    let entry = |p: &str| {
        files
            .get(p)
            .cloned()
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    let web = "33000:33000".to_owned();
    assert_eq!(entry("/srv/site"), ("d".into(), "0755".into(), web.clone()));
    assert_eq!(
        entry("/srv/site/css/deep"),
        ("d".into(), "0755".into(), web.clone())
    );
    assert_eq!(
        entry("/srv/site/index.html"),
        ("-".into(), "0644".into(), web.clone())
    );
    assert_eq!(
        entry("/srv/site/css/deep/a.css"),
        ("-".into(), "0644".into(), web.clone())
    );
    assert_eq!(entry("/srv/site/run.sh"), ("-".into(), "0755".into(), web));
    assert_eq!(entry("/srv/site/home.html").0, "l");

    // A FIFO in the tree is refused before anything is fetched, at the `source` key.
    let fifo = site.join("pipe");
    run(std::process::Command::new("mkfifo").arg(&fifo));
    let out = case.run(&["build", "--offline", "-o", image.to_str().expect("utf8")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("not a regular file, directory or link"),
        "{err}"
    );
    assert!(err.contains("staves.toml:"), "{err}");
}

#[test]
fn resolution_errors_point_at_the_key_that_causes_them() {
    let error = |suite: &str, packages: &[&str], extra: &str| {
        let case = Case::in_suite(suite, packages, extra);
        let out = case.run(&["resolve"]);
        assert!(!out.status.success(), "resolved: {}", stdout(&out));
        stderr(&out)
    };
    // An architecture the release lacks: at `arch`, with the ones it has.
    let err = error("stable", &["tool"], "arch = \"s390x\"\n");
    assert!(err.contains("has no packages for `s390x`"), "{err}");
    assert!(err.contains("staves.toml:3:8"), "{err}");
    assert!(
        err.contains(&format!("its release lists: {}", host_arch())),
        "{err}"
    );
    // An impossible pin of a request, and of a dependency: at the pin.
    let err = error("stable", &["tool"], "[tool]\nversion = \"9\"\n");
    assert!(err.contains("staves.toml:4:11"), "{err}");
    let err = error("stable", &["tool"], "[helper]\nversion = \"9\"\n");
    assert!(err.contains("helper is pinned to (= 9)"), "{err}");
    assert!(err.contains("staves.toml:4:11"), "{err}");
}

#[test]
fn excluding_the_c_library_is_warned_about() {
    let case = Case::in_suite("skeleton", &["prog"], "exclude = [\"libc6\"]\n");
    let err = stderr(&case.ok(&["resolve"]));
    assert!(
        err.contains("Warning `exclude` keeps libc6 out: without the C library nothing"),
        "{err}"
    );
}

#[test]
fn a_program_added_by_paths_is_checked_for_its_libraries() {
    // The host's `true`: a dynamic program needing the C library and its loader.
    let build = |packages: &[&str]| {
        let case = Case::in_suite(
            "skeleton",
            packages,
            "[[paths]]\npath = \"/usr/local/bin/true\"\nsource = \"true\"\nmode = \"0755\"\n",
        );
        std::fs::copy("/usr/bin/true", case.path("true")).expect("copy true");
        let image = case.path("image.tar");
        stderr(&case.ok(&["build", "-o", image.to_str().expect("utf8")]))
    };
    let err = build(&["app"]);
    let warning = err
        .lines()
        .find(|l| l.contains("needs libc.so.6"))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    assert!(
        warning.contains("/usr/local/bin/true needs libc.so.6, which the image lacks: add \"libc6\" to `packages`"),
        "{warning}"
    );
    assert!(err.contains("needs /lib"), "the loader is named too: {err}");

    let err = build(&["app", "libc6"]);
    assert!(!err.contains("needs lib"), "{err}");
}

#[test]
fn exit_codes_tell_usage_errors_from_failures() {
    let case = Case::new(&["tool"], "");
    // Nowhere to put the image: the user's mistake, 2 as clap uses.
    let out = case.run(&["build"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A package that does not exist: the world's answer, 1.
    let case = Case::new(&["no-such-package"], "");
    let out = case.run(&["resolve"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // A suite the archive lacks, as a package is: which URL was not found, and the
    // suites the archive has.
    let case = Case::in_suite("stabel", &["tool"], "");
    let out = case.run(&["resolve"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    for expected in [
        "has no suite `stabel`",
        "/dists/stabel/InRelease",
        "(404)",
        "it has stable",
        "check the repository's `suite`",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
}

#[test]
fn re_resolving_a_stale_lock_changes_only_what_must_change() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = Key::generate(dir.path(), "moving");
    let root = dir.path().join("repo");
    let repo = Repo::new(&root);
    repo.publish(
        "s",
        &[pkg("tool", "1.0", &[]), pkg("extra", "1.0", &[])],
        &key,
        Signing::Both,
        None,
    );
    let server = Server::start(root.clone());
    let spec_path = spec(dir.path(), &["tool"], &server.base, "s", &key.armored, "");
    let cache = dir.path().join("cache");
    let run_ok = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-f", spec_path.to_str().expect("utf8"), "--refresh"]);
        let out = staves(&all, &cache);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    run_ok(&["lock"]);
    // The archive moves on; the spec changes, so the lock is stale.
    repo.publish(
        "s",
        &[
            pkg("tool", "1.0", &[]),
            pkg("tool", "2.0", &[]),
            pkg("extra", "1.0", &[]),
        ],
        &key,
        Signing::Both,
        None,
    );
    let text = std::fs::read_to_string(&spec_path).expect("spec");
    std::fs::write(
        &spec_path,
        text.replace("packages = [\"tool\"]", "packages = [\"tool\", \"extra\"]"),
    )
    .expect("edit");
    let image = dir.path().join("image.tar");
    let err = stderr(&run_ok(&["build", "-o", image.to_str().expect("utf8")]));
    assert!(err.contains("1 added, 0 removed, 0 changed"), "{err}");
    let lock = std::fs::read_to_string(dir.path().join("staves.lock")).expect("lock");
    assert!(
        lock.contains("version = \"1.0\""),
        "tool moved although only extra was asked: {lock}"
    );
    // A fresh resolution takes the newest.
    let out = run_ok(&["resolve", "--ignore-lock"]);
    assert!(stdout(&out).contains("tool 2.0"), "{}", stdout(&out));
    // `staves lock` resolves afresh and says what moved, package by package.
    let err = stderr(&run_ok(&["lock"]));
    assert!(err.contains("Updating tool 1.0 -> 2.0"), "{err}");
    assert!(!err.contains("extra"), "{err}");
    std::fs::write(
        &spec_path,
        std::fs::read_to_string(&spec_path)
            .expect("spec")
            .replace("\"tool\", \"extra\"", "\"tool\""),
    )
    .expect("edit");
    let err = stderr(&run_ok(&["lock"]));
    assert!(err.contains("Removing extra 1.0"), "{err}");
}

#[test]
fn a_built_image_reads_back_as_a_base_and_one_without_dpkg_is_refused() {
    let case = Case::new(
        &["app"],
        &format!(
            "command = [\"/usr/bin/app\"]\ninit = false\n[[accounts]]\nname = \"svc\"\nuid = 1001\n{APP_PROGRAM}"
        ),
    );
    let layout = case.path("base-layout");
    case.ok(&["build", "-o", layout.to_str().expect("utf8")]);
    let host = staves_deb::arch::host();
    let base = staves_pipeline::base::read_base(&layout, "base", None, host).expect("a base");
    let facts = base.system.facts();
    let mut names: Vec<&str> = facts.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["app", "helper", "libgreet", "tool"]);
    // Its SBOM gives each package's checksum, for the SBOM of an image built on it.
    assert_eq!(base.packages.len(), 4);
    assert!(base.packages.iter().all(|p| p.package.sha256.len() == 64));
    assert!(
        base.system
            .paths
            .iter()
            .any(|(p, _)| p == "var/lib/dpkg/status")
    );
    assert_eq!(base.below.layers.len(), 1);
    assert_eq!(base.accounts.user("svc").map(|u| u.uid), Some(1001));
    assert_eq!(
        base.config["Entrypoint"],
        serde_json::json!(["/usr/bin/app"])
    );
    assert!(base.digest.is_some_and(|d| d.starts_with("sha256:")));

    // An image with no dpkg database: an empty one made by umoci.
    let empty = case.path("empty");
    empty_image(&empty);
    let error = staves_pipeline::base::read_base(&empty, "empty", None, host)
        .expect_err("no dpkg database")
        .to_string();
    assert!(error.contains("has no dpkg database"), "{error}");
}

#[test]
fn an_unchanged_image_is_taken_from_the_cache_and_a_damaged_entry_rebuilt() {
    let case = Case::new(&["app"], "");
    let out = case.path("out");
    let first = case.ok(&["build", "-o", out.to_str().expect("utf8")]);
    assert!(!stderr(&first).contains("Unchanged"), "{}", stderr(&first));
    let index = std::fs::read(out.join("index.json")).expect("index");
    let again = case.ok(&["build", "-o", out.to_str().expect("utf8")]);
    assert!(stderr(&again).contains("Unchanged"), "{}", stderr(&again));
    assert!(stderr(&first).contains("Built"), "{}", stderr(&first));
    // Said once: not `Unchanged` and then `Built` for the same image.
    assert!(!stderr(&again).contains("Built"), "{}", stderr(&again));
    assert_eq!(std::fs::read(out.join("index.json")).expect("index"), index);
    // Every blob the layout names is there, digests checked.
    let inspected = std::process::Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["inspect", "--files"])
        .arg(&out)
        .output()
        .expect("inspect");
    assert!(inspected.status.success(), "{}", stderr(&inspected));

    // A cached blob gone (or cut short): the record is ignored and the image assembled
    // again, to the same bytes.
    let blobs = case.tmp.path().join("cache/blobs");
    let mut damaged = 0;
    for file in walk(&blobs) {
        if std::fs::metadata(&file).is_ok_and(|m| m.len() > 1000) {
            std::fs::write(&file, b"short").expect("damage");
            damaged += 1;
        }
    }
    assert!(damaged >= 1);
    let rebuilt = case.ok(&["build", "-o", out.to_str().expect("utf8")]);
    assert!(
        !stderr(&rebuilt).contains("Unchanged"),
        "{}",
        stderr(&rebuilt)
    );
    assert_eq!(std::fs::read(out.join("index.json")).expect("index"), index);

    // Any change to the spec is a new image.
    let text = std::fs::read_to_string(&case.spec).expect("spec");
    std::fs::write(&case.spec, format!("workdir = \"/srv\"\n{text}")).expect("spec");
    let changed = case.ok(&["build", "-o", out.to_str().expect("utf8")]);
    assert!(
        !stderr(&changed).contains("Unchanged"),
        "{}",
        stderr(&changed)
    );
    assert_ne!(std::fs::read(out.join("index.json")).expect("index"), index);
}

/// `staves diff`: two images' packages, files, configuration and layers; two lockfiles'
/// packages; exit 0 when identical, 1 when not.
#[test]
fn diff_says_what_changed_between_two_images_and_two_locks() {
    let case = Case::new(&["tool"], "");
    let before = case.path("before.tar");
    case.ok(&["build", "-o", before.to_str().expect("utf8")]);
    case.ok(&["lock"]);
    let old_lock = case.path("old.lock");
    std::fs::copy(case.path("staves.lock"), &old_lock).expect("copy lock");
    let text = std::fs::read_to_string(&case.spec).expect("spec");
    std::fs::write(
        &case.spec,
        text.replace(
            "packages = [\"tool\"]",
            "packages = [\"tool\", \"extra\"]\nenvironment = { MODE = \"new\" }",
        ),
    )
    .expect("spec");
    case.ok(&["lock"]);
    let after = case.path("after.tar");
    case.ok(&["build", "-o", after.to_str().expect("utf8")]);

    let diff = |a: &std::path::Path, b: &std::path::Path, json: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_staves"));
        command.arg("diff").arg(a).arg(b);
        if json {
            command.arg("--json");
        }
        command.output().expect("run")
    };
    let same = diff(&before, &before, false);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert_eq!(stdout(&same).trim(), "identical");

    let out = diff(&before, &after, true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["identical"], false);
    assert_eq!(
        json["packages"],
        serde_json::json!([{ "name": "extra", "before": null, "after": "1.0" }])
    );
    let env = json["config"]
        .as_array()
        .expect("config")
        .iter()
        .find(|c| c["key"] == "Env")
        .expect("Env changed");
    assert!(env["after"].to_string().contains("MODE=new"), "{env}");
    assert!(json["layers"]["new"].as_u64().is_some_and(|n| n >= 1));
    let text = stdout(&diff(&before, &after, false));
    assert!(text.contains("+ extra 1.0"), "{text}");

    let locks = diff(&old_lock, &case.path("staves.lock"), false);
    assert_eq!(locks.status.code(), Some(1), "{}", stderr(&locks));
    assert!(stdout(&locks).contains("+ extra 1.0"), "{}", stdout(&locks));
}
