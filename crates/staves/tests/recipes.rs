//! Your own software as packages, on the real archive: the C program of `examples/recipe`
//! linked with libcurl (its `Depends` equal to what `dpkg-shlibdeps` derives, the image
//! running it against a server on 127.0.0.1, a cache that lost it rebuilding the same
//! bytes, a changed source rebuilt), the Python application of `examples/python-app` run
//! from its console script, a failing step named, and local `.deb`s given by `debs`.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::engine::container;
use support::{run, shared_cache, stderr, stdout};

/// Copies `from` (a directory tree of regular files) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The example at `examples/NAME`, copied, with its image renamed `image`.
fn example(dir: &Path, name: &str, image: &str) -> PathBuf {
    let copy = dir.join(name);
    copy_tree(&support::examples().join(name), &copy);
    let spec = copy.join("staves.toml");
    let text = std::fs::read_to_string(&spec).expect("spec");
    // The image's name is the first `name`; later ones belong to tables ([[accounts]]).
    let mut first = true;
    let renamed: Vec<String> = text
        .lines()
        .map(|l| {
            if first && l.starts_with("name = ") {
                first = false;
                format!("name = \"{image}\"")
            } else {
                l.to_owned()
            }
        })
        .collect();
    let renamed = renamed.join("\n");
    std::fs::write(&spec, renamed).expect("spec");
    spec
}

/// `staves lock`, then `staves build -o archive`, both successful; the lockfile's text.
fn lock_and_build(spec: &str, archive: &str, cache: &Path) -> String {
    let lock = support::staves(&["lock", "-f", spec], cache);
    assert!(lock.status.success(), "{}", stderr(&lock));
    let build = support::staves(&["build", "-f", spec, "-o", archive], cache);
    assert!(build.status.success(), "{}", stderr(&build));
    std::fs::read_to_string(Path::new(spec).with_file_name("staves.lock")).expect("lock")
}

/// The `[[target.package]]` entry of `name` in a lockfile.
fn locked<'a>(lock: &'a str, name: &str) -> &'a str {
    lock.split("[[target.package]]")
        .find(|p| p.contains(&format!("name = \"{name}\"\n")))
        .unwrap_or_else(|| panic!("{name} is locked: {lock}"))
}

fn field<'a>(entry: &'a str, key: &str) -> &'a str {
    entry
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{key} in {entry}"))
}

/// The cached `.deb` with this SHA-256.
fn cached_deb(cache: &Path, sha256: &str) -> PathBuf {
    cache
        .join("debs")
        .join(&sha256[..2])
        .join(format!("{sha256}.deb"))
}

/// A server on 127.0.0.1 that answers every request with 204, for `count` requests.
fn no_content_server(count: usize) -> u16 {
    staves_test_support::loopback();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count).flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_c_program_with_libcurl_gets_dpkg_shlibdeps_depends_runs_and_rebuilds_the_same() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = example(dir.path(), "recipe", "staves-test-url-status");
    let file = spec.to_str().expect("utf8");
    let cache = shared_cache();
    let lock = support::staves(&["lock", "-f", file], &cache);
    assert!(lock.status.success(), "{}", stderr(&lock));
    let said = stderr(&lock);
    assert!(
        said.contains("url-status [libc6 (>= 2.") || said.contains("Reused url-status 1.0-1"),
        "{said}"
    );
    let text = std::fs::read_to_string(spec.with_file_name("staves.lock")).expect("lock");
    let entry = locked(&text, "url-status");
    assert_eq!(field(entry, "repository"), "built", "{entry}");
    let deb = cached_deb(&cache, field(entry, "sha256"));

    // Depends names libcurl4 with a version, and equals what dpkg-shlibdeps says of the
    // same program against the host's libraries (the host runs the same release).
    let depends = stdout(&run(Command::new("dpkg-deb")
        .arg("-f")
        .arg(&deb)
        .arg("Depends")));
    let depends = depends.trim();
    assert!(depends.contains("libcurl4 (>= 7."), "{depends}");
    assert!(depends.contains("libc6 (>= 2."), "{depends}");
    let unpacked = dir.path().join("unpacked");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked));
    let oracle = dir.path().join("oracle");
    std::fs::create_dir_all(oracle.join("debian")).expect("mkdir");
    std::fs::write(
        oracle.join("debian/control"),
        "Source: url-status\n\nPackage: url-status\nArchitecture: any\n",
    )
    .expect("control");
    let shlibdeps = run(Command::new("dpkg-shlibdeps")
        .arg("-O")
        .arg(unpacked.join("usr/bin/url-status"))
        .current_dir(&oracle));
    assert_eq!(
        stdout(&shlibdeps).trim(),
        format!("shlibs:Depends={depends}"),
        "dpkg-shlibdeps agrees"
    );
    // The split package took the documentation; the image does not ask for it.
    let contents = stdout(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    assert!(!contents.contains("usr/share/doc"), "{contents}");
    let (_, manifest) = built(&cache)
        .into_iter()
        .find(|(_, m)| m.contains(field(entry, "sha256")))
        .expect("the build's manifest");
    let package_of = |sha: &str| {
        let deb = cached_deb(&cache, sha);
        stdout(&run(Command::new("dpkg-deb")
            .arg("-f")
            .arg(&deb)
            .arg("Package")))
        .trim()
        .to_owned()
    };
    let others: Vec<String> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("deb "))
        .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
        .filter(|sha| *sha != field(entry, "sha256"))
        .collect();
    let doc_sha = others
        .iter()
        .find(|sha| package_of(sha) == "url-status-doc")
        .expect("the split package");
    // The stripped program's debug symbols, in a package of their own.
    assert!(
        others
            .iter()
            .any(|sha| package_of(sha) == "url-status-dbgsym"),
        "{others:?}"
    );
    let doc_deb = cached_deb(&cache, doc_sha);
    let doc = stdout(&run(Command::new("dpkg-deb").arg("-I").arg(&doc_deb)));
    assert!(
        doc.contains("Package: url-status-doc") && doc.contains("Architecture: all"),
        "{doc}"
    );
    let contents = stdout(&run(Command::new("dpkg-deb").arg("-c").arg(&doc_deb)));
    assert!(
        contents.contains("./usr/share/doc/url-status/README"),
        "{contents}"
    );

    // The image runs it, against a server on 127.0.0.1.
    let archive = dir.path().join("image.tar");
    let archive = archive.to_str().expect("utf8");
    let build = support::staves(&["build", "-f", file, "-o", archive], &cache);
    assert!(build.status.success(), "{}", stderr(&build));
    let loaded = container(&["load", "-i", archive]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let port = no_content_server(1);
    let url = format!("http://127.0.0.1:{port}/");
    let ran = container(&[
        "run",
        "--rm",
        "--network",
        "host",
        "staves-test-url-status:latest",
        &url,
    ]);
    assert_eq!(stdout(&ran).trim(), "204", "{}", stderr(&ran));

    // A cache that lost the build rebuilds it from the lock, and the bytes must match.
    let sha256 = field(entry, "sha256").to_owned();
    std::fs::remove_file(&deb).expect("remove");
    for (manifest_dir, manifest) in built(&cache) {
        if manifest.contains(&sha256) {
            std::fs::remove_dir_all(manifest_dir).expect("remove");
        }
    }
    let again = support::staves(&["build", "--locked", "-f", file, "-o", archive], &cache);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("Building url-status 1.0-1"),
        "{}",
        stderr(&again)
    );
    assert!(deb.is_file(), "the same bytes are back in the cache");

    // A changed source is another package: the lock follows and the build runs again.
    let source = spec.with_file_name("src").join("status.c");
    let code = std::fs::read_to_string(&source).expect("source");
    std::fs::write(
        &source,
        code.replace("printf(\"%ld\\n\"", "printf(\"status %ld\\n\""),
    )
    .expect("edit");
    let stale = support::staves(&["build", "--locked", "-f", file, "-o", archive], &cache);
    assert!(
        !stale.status.success(),
        "a changed recipe source makes the lock stale"
    );
    let changed = support::staves(&["build", "-f", file, "-o", archive], &cache);
    assert!(changed.status.success(), "{}", stderr(&changed));
    let text = std::fs::read_to_string(spec.with_file_name("staves.lock")).expect("lock");
    assert_ne!(field(locked(&text, "url-status"), "sha256"), sha256);
}

/// Manifests of the builds in `cache`, with the text of each.
fn built(cache: &Path) -> Vec<(PathBuf, String)> {
    std::fs::read_dir(cache.join("built"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| {
            let text = std::fs::read_to_string(d.path().join("manifest")).ok()?;
            Some((d.path(), text))
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_python_application_runs_from_its_console_script() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = example(dir.path(), "python-app", "staves-test-greeter");
    let file = spec.to_str().expect("utf8");
    let cache = shared_cache();
    let archive = dir.path().join("image.tar");
    let archive = archive.to_str().expect("utf8");
    let text = lock_and_build(file, archive, &cache);
    let entry = locked(&text, "python3-greeter");
    assert_eq!(field(entry, "arch"), "all", "{entry}");
    let loaded = container(&["load", "-i", archive]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let ran = container(&["run", "--rm", "staves-test-greeter:latest", "Staves"]);
    assert!(
        stdout(&ran).starts_with("Hello, Staves, from Python 3."),
        "{}{}",
        stdout(&ran),
        stderr(&ran)
    );

    // What the recipe made goes to an archive, taken from the cache, not rebuilt.
    let served = support::archive::serve(dir.path(), &[]);
    let upload = support::staves_command(&["upload", &served.base, "--built", file], &cache)
        .env("STAVES_TOKEN", &served.token)
        .output()
        .expect("staves upload");
    assert!(upload.status.success(), "{}", stderr(&upload));
    assert!(
        stderr(&upload).contains("Uploaded python3-greeter"),
        "{}",
        stderr(&upload)
    );
    assert!(!stderr(&upload).contains("Building"), "{}", stderr(&upload));
    let packages = served.dir.join(format!(
        "dists/stable/main/binary-{}/Packages",
        support::host_arch()
    ));
    let packages = std::fs::read_to_string(packages).expect("Packages");
    assert!(
        packages.contains("Package: python3-greeter\n"),
        "{packages}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_failing_step_is_named_with_its_log() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("src")).expect("mkdir");
    std::fs::write(
        dir.path().join("broken.toml"),
        "name = \"broken\"\nversion = \"1-1\"\nsource = \"src\"\nbuild = \"echo compiling; exit 3\"\ninstall = \"true\"\n",
    )
    .expect("recipe");
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"broken\"\npackages = [\"broken\"]\nrecipes = [\"broken.toml\"]\n",
    )
    .expect("spec");
    let out = support::staves(
        &["lock", "-f", spec.to_str().expect("utf8")],
        &shared_cache(),
    );
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(
        said.contains("`build`") || said.contains("step build"),
        "{said}"
    );
    assert!(
        said.contains("compiling"),
        "the last lines are shown: {said}"
    );

    // A failing `check` fails the build at `check`; Debian's `nocheck` skips it.
    std::fs::write(
        dir.path().join("broken.toml"),
        "name = \"broken\"\nversion = \"1-1\"\nsource = \"src\"\ncheck = \"echo testing; exit 4\"\ninstall = \"true\"\n",
    )
    .expect("recipe");
    let out = support::staves(
        &["lock", "-f", spec.to_str().expect("utf8")],
        &shared_cache(),
    );
    let said = stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("`check`") && said.contains("testing"),
        "{said}"
    );
    std::fs::write(
        &spec,
        "name = \"broken\"\npackages = [\"broken\"]\nrecipes = [\"broken.toml\"]\n\n[env]\nDEB_BUILD_OPTIONS = \"nocheck\"\n",
    )
    .expect("spec");
    let out = support::staves(
        &["lock", "-f", spec.to_str().expect("utf8")],
        &shared_cache(),
    );
    assert!(
        out.status.success(),
        "nocheck skips check: {}",
        stderr(&out)
    );
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn local_debs_join_the_resolution_and_are_locked_by_checksum() {
    let dir = tempfile::tempdir().expect("tmp");
    let debs = dir.path().join("debs");
    std::fs::create_dir(&debs).expect("mkdir");
    let make = |message: &str| {
        let root = dir.path().join("pkgroot");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
        std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
        std::fs::write(
            root.join("DEBIAN/control"),
            "Package: staves-test-local\nVersion: 1.0\nArchitecture: all\nMaintainer: Staves <staves@localhost>\nDepends: dash\nDescription: a local package\n",
        )
        .expect("control");
        let script = root.join("usr/bin/local-hello");
        std::fs::write(&script, format!("#!/bin/sh\necho {message}\n")).expect("script");
        run(Command::new("chmod").arg("0755").arg(&script));
        run(Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&root)
            .arg(debs.join("staves-test-local_1.0_all.deb")));
    };
    make("from a local deb");
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"staves-test-local\"\npackages = [\"staves-test-local\"]\ncommand = [\"local-hello\"]\ndebs = [\"debs\"]\n",
    )
    .expect("spec");
    let file = spec.to_str().expect("utf8");
    let cache = shared_cache();
    let archive = dir.path().join("image.tar");
    let archive = archive.to_str().expect("utf8");
    let text = lock_and_build(file, archive, &cache);
    let entry = locked(&text, "staves-test-local");
    assert_eq!(field(entry, "repository"), "debs", "{entry}");
    assert!(text.contains("uri = \"staves:debs\""), "{text}");
    let loaded = container(&["load", "-i", archive]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let ran = container(&["run", "--rm", "staves-test-local:latest"]);
    assert_eq!(stdout(&ran).trim(), "from a local deb", "{}", stderr(&ran));

    // Another file under the same name and version is another input: `--locked` refuses.
    make("changed");
    let stale = support::staves(&["build", "--locked", "-f", file, "-o", archive], &cache);
    assert!(!stale.status.success(), "{}", stderr(&stale));
    // A missing file is named in the spec.
    std::fs::write(
        &spec,
        "name = \"x\"\npackages = [\"staves-test-local\"]\ndebs = [\"nowhere.deb\"]\n",
    )
    .expect("spec");
    let missing = support::staves(&["lock", "-f", file], &cache);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("nowhere.deb"),
        "{}",
        stderr(&missing)
    );
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_source_tarball_is_fetched_from_its_url_and_believed_only_by_its_checksum() {
    let dir = tempfile::tempdir().expect("tmp");
    let served = dir.path().join("served");
    std::fs::create_dir(&served).expect("mkdir");
    let tree = dir.path().join("tree");
    copy_tree(
        &support::examples().join("recipe/src"),
        &tree.join("url-status-1.0"),
    );
    let tarball = served.join("url-status-1.0.tar.gz");
    run(Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&tree)
        .arg("url-status-1.0"));
    let sha256 = stdout(&run(Command::new("sha256sum").arg(&tarball)))
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let server = support::server::Server::start(served.clone());
    let recipe = |sha: &str| {
        format!(
            "name = \"url-status\"\nversion = \"1.0-2\"\nurl = \"{}/url-status-1.0.tar.gz\"\nsha256 = \"{sha}\"\nbuild-depends = [\"libcurl4-openssl-dev\"]\nbuild = \"make\"\ninstall = \"make install PREFIX=/usr\"\n",
            server.base
        )
    };
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"staves-test-url\"\npackages = [\"url-status\"]\nrecipes = [\"url-status.toml\"]\n",
    )
    .expect("spec");
    let file = spec.to_str().expect("utf8");
    // A checksum that does not match what is served: nothing is built.
    let cache = dir.path().join("cache");
    let wrong = format!("{}0", &sha256[..63]);
    let wrong = if wrong == sha256 {
        format!("{}1", &sha256[..63])
    } else {
        wrong
    };
    std::fs::write(dir.path().join("url-status.toml"), recipe(&wrong)).expect("recipe");
    let refused = support::staves(&["lock", "-f", file, "--offline"], &cache);
    assert!(!refused.status.success());
    let shared = shared_cache();
    let refused = support::staves(&["lock", "-f", file], &shared);
    assert!(!refused.status.success());
    let said = stderr(&refused);
    assert!(
        said.to_lowercase().contains("sha-256") || said.contains("checksum"),
        "{said}"
    );
    assert!(!said.contains("Built url-status"), "{said}");

    std::fs::write(dir.path().join("url-status.toml"), recipe(&sha256)).expect("recipe");
    let lock = support::staves(&["lock", "-f", file], &shared);
    assert!(lock.status.success(), "{}", stderr(&lock));
    let text = std::fs::read_to_string(dir.path().join("staves.lock")).expect("lock");
    let entry = locked(&text, "url-status");
    assert_eq!(field(entry, "version"), "1.0-2", "{entry}");
    let deb = cached_deb(&shared, field(entry, "sha256"));
    let contents = stdout(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    assert!(contents.contains("./usr/bin/url-status"), "{contents}");
}

/// A recipe reads only what lies in the build context: a `source` that leads out of the
/// spec's directory (by `..`, an absolute path or a link) is refused when the spec is read,
/// at the recipe's line, before anything is fetched or built.
#[test]
fn a_recipe_cannot_copy_host_files_from_outside_the_context() {
    let dir = tempfile::tempdir().expect("tmp");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("secret"), "host secret").expect("secret");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("src")).expect("project");
    std::os::unix::fs::symlink(&outside, project.join("linked")).expect("link");
    std::fs::write(
        project.join("staves.toml"),
        "name = \"leak\"\npackages = [\"leak\"]\nrecipes = [\"leak.toml\"]\n",
    )
    .expect("spec");
    let absolute = outside.display().to_string();
    for source in ["../outside", absolute.as_str(), "linked", "/etc"] {
        std::fs::write(
            project.join("leak.toml"),
            format!("name = \"leak\"\nversion = \"1.0-1\"\nsource = \"{source}\"\ninstall = \"cp -r . $DESTDIR/\"\n"),
        )
        .expect("recipe");
        let out = support::staves_command(
            &[
                "resolve",
                "-f",
                project.join("staves.toml").to_str().expect("utf8"),
            ],
            &dir.path().join("cache"),
        )
        .output()
        .expect("staves");
        assert_eq!(out.status.code(), Some(2), "{source}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(
            said.contains("outside the build context"),
            "{source}: {said}"
        );
        assert!(said.contains("leak.toml:3:"), "{source}: {said}");
    }
    // Inside the context (the spec's directory), the same recipe is read.
    std::fs::write(
        project.join("leak.toml"),
        "name = \"leak\"\nversion = \"1.0-1\"\nsource = \"src\"\ninstall = \"true\"\n",
    )
    .expect("recipe");
    let out = support::staves_command(
        &[
            "resolve",
            "--offline",
            "-f",
            project.join("staves.toml").to_str().expect("utf8"),
        ],
        &dir.path().join("cache"),
    )
    .output()
    .expect("staves");
    assert!(
        !stderr(&out).contains("outside the build context"),
        "{}",
        stderr(&out)
    );
    // `--context` names a larger context: the sibling directory is then inside it.
    std::fs::write(
        project.join("leak.toml"),
        "name = \"leak\"\nversion = \"1.0-1\"\nsource = \"../outside\"\ninstall = \"true\"\n",
    )
    .expect("recipe");
    let out = support::staves_command(
        &[
            "resolve",
            "--offline",
            "-f",
            project.join("staves.toml").to_str().expect("utf8"),
            "--context",
            dir.path().to_str().expect("utf8"),
        ],
        &dir.path().join("cache"),
    )
    .output()
    .expect("staves");
    assert!(
        !stderr(&out).contains("outside the build context"),
        "{}",
        stderr(&out)
    );
}

/// Without bubblewrap on the host, a recipe build says what to install.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_recipe_build_without_bubblewrap_says_to_install_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = example(dir.path(), "recipe", "no-bwrap");
    // Inputs no earlier run built, so the sandbox is needed.
    let text = std::fs::read_to_string(&spec).expect("spec");
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    std::fs::write(
        &spec,
        text.replace("-O3\"", &format!("-O3 -DSTAVES_NONCE={nonce}\"")),
    )
    .expect("spec");
    let out = support::staves_command(
        &[
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            "/dev/null",
        ],
        &support::shared_cache(),
    )
    .env("PATH", dir.path().join("no-programs-here"))
    .output()
    .expect("run staves");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("apt-get install bubblewrap"),
        "{}",
        stderr(&out)
    );
}

/// The seed's case, `examples/python-pillow`: Pillow built from its sdist in the sandbox
/// (its build backend, newer than Debian's, fetched by hash for the build alone) against
/// Debian's libjpeg, libtiff and zlib, with the `Depends` `dpkg-shlibdeps` derives from its
/// extension modules; a PyPI-only wheel used as it is; Flask from Debian; the image serving a
/// thumbnail as a non-root account. The index is the host pip's (never written here).
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn pillow_is_built_from_its_sdist_against_debians_libraries_and_serves_thumbnails() {
    let index = support::pip_index();
    let dir = tempfile::tempdir().expect("tmp");
    let cache = shared_cache();
    let spec = example(dir.path(), "python-pillow", "staves-test-pillow");
    let spec = spec.to_str().expect("utf8");
    let archive = dir.path().join("image.tar");
    for args in [
        vec!["lock", "-f", spec],
        vec!["build", "-f", spec, "-o", archive.to_str().expect("utf8")],
    ] {
        let out = support::staves_command(&args, &cache)
            .env("PIP_INDEX_URL", &index)
            .output()
            .expect("staves");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let lock =
        std::fs::read_to_string(Path::new(spec).with_file_name("staves.lock")).expect("lock");
    let deb = cached_deb(&cache, field(locked(&lock, "thumbnailer"), "sha256"));

    // Built against Debian's libraries, not a wheel's copies of them.
    let contents = stdout(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    assert!(
        contents.contains("/usr/lib/python3/dist-packages/PIL/_imaging.cpython-")
            && contents.contains("/usr/lib/python3/dist-packages/ulid/")
            && !contents.contains(".libs/"),
        "{contents}"
    );
    let depends = stdout(&run(Command::new("dpkg-deb")
        .arg("-f")
        .arg(&deb)
        .arg("Depends")));
    let depends = depends.trim();
    for library in [
        "libjpeg62-turbo (>= ",
        "libtiff6 (>= ",
        "zlib1g (>= ",
        "libc6 (>= ",
    ] {
        assert!(depends.contains(library), "{library} in {depends}");
    }
    // The derived part equals what dpkg-shlibdeps says of the same extension modules
    // against the host's libraries (the host runs the same release); then the recipe's own.
    let unpacked = dir.path().join("unpacked");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked));
    let modules: Vec<PathBuf> = support::walk(&unpacked)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .collect();
    assert!(modules.len() > 3, "{modules:?}");
    let oracle = dir.path().join("oracle");
    std::fs::create_dir_all(oracle.join("debian")).expect("mkdir");
    std::fs::write(
        oracle.join("debian/control"),
        "Source: thumbnailer\n\nPackage: thumbnailer\nArchitecture: any\n",
    )
    .expect("control");
    let shlibdeps = run(Command::new("dpkg-shlibdeps")
        .arg("-O")
        .args(&modules)
        .current_dir(&oracle));
    let derived = stdout(&shlibdeps);
    let derived = derived
        .trim()
        .strip_prefix("shlibs:Depends=")
        .expect("shlibs:Depends");
    assert_eq!(
        depends,
        format!("{derived}, python3, python3-flask"),
        "dpkg-shlibdeps agrees"
    );

    // The image serves a JPEG thumbnail, as a non-root account, with Debian's libraries.
    let loaded = container(&["load", "-i", archive.to_str().expect("utf8")]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let name = format!("staves-pillow-{}", std::process::id());
    let started = container(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &name,
        "-p",
        "127.0.0.1::8000",
        "staves-test-pillow:latest",
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    let address = support::engine::published(&name, "8000");
    let thumbnail = support::engine::served(&format!("http://{address}/thumbnail.jpg"), 40);
    let health = Command::new("curl")
        .args(["-fsS", &format!("http://{address}/healthz")])
        .output()
        .expect("curl");
    let uid = container(&[
        "exec",
        &name,
        "python3",
        "-c",
        "import os; print(os.getuid())",
    ]);
    let logs = container(&["logs", &name]);
    container(&["stop", &name]);
    container(&["rmi", "staves-test-pillow:latest"]);
    let Some(jpeg) = thumbnail else {
        panic!("never served: {}{}", stdout(&logs), stderr(&logs));
    };
    assert!(
        jpeg.starts_with(&[0xff, 0xd8, 0xff]) && jpeg.len() > 500,
        "a JPEG"
    );
    let health: serde_json::Value = serde_json::from_slice(&health.stdout).expect("json");
    assert_eq!(
        health,
        serde_json::json!({"jpeg": true, "zlib": true, "libtiff": true})
    );
    assert_ne!(stdout(&uid).trim(), "0", "not root");
}

/// `staves init --recipe c|rust` writes a recipe and a spec that build as they are, around a
/// source directory a developer would have (a Makefile; a Cargo project with its lock), and
/// the image runs the program. `--recipe python`'s recipe loads.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn init_recipes_for_c_and_rust_build_as_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let init = |project: &Path, language: &str, name: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_staves"))
            .arg("init")
            .arg("-f")
            .arg(project.join("staves.toml"))
            .args(["--recipe", language, "--name", name])
            .env("NO_COLOR", "1")
            .output()
            .expect("staves init");
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read_to_string(project.join(format!("{name}.toml"))).expect("recipe")
    };
    let python = dir.path().join("python");
    let text = init(&python, "python", "app-python");
    assert!(text.contains("pip = \"src/requirements.txt\""), "{text}");

    let c = dir.path().join("c");
    std::fs::create_dir_all(c.join("src")).expect("mkdir");
    std::fs::write(
        c.join("src/hello.c"),
        "#include <stdio.h>\nint main(void) { puts(\"hello from init c\"); return 0; }\n",
    )
    .expect("source");
    std::fs::write(
        c.join("src/Makefile"),
        "PREFIX ?= /usr/local\nhello-c: hello.c\n\t$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS)\ninstall: hello-c\n\tinstall -D -m 0755 hello-c $(DESTDIR)$(PREFIX)/bin/hello-c\n",
    )
    .expect("makefile");
    init(&c, "c", "hello-c");

    let rust = dir.path().join("rust");
    std::fs::create_dir_all(rust.join("src/src")).expect("mkdir");
    std::fs::write(
        rust.join("src/Cargo.toml"),
        "[package]\nname = \"hello-rust\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .expect("manifest");
    std::fs::write(
        rust.join("src/src/main.rs"),
        "fn main() {\n    println!(\"hello from init rust\");\n}\n\n#[test]\nfn checked() {\n    assert_eq!(1 + 1, 2);\n}\n",
    )
    .expect("main");
    std::fs::write(
        rust.join("src/Cargo.lock"),
        "version = 3\n\n[[package]]\nname = \"hello-rust\"\nversion = \"0.1.0\"\n",
    )
    .expect("lock");
    init(&rust, "rust", "hello-rust");

    for (project, name, said) in [
        (&c, "hello-c", "hello from init c"),
        (&rust, "hello-rust", "hello from init rust"),
    ] {
        let archive = project.join("image.tar");
        let spec = project.join("staves.toml");
        let out = support::staves_command(
            &[
                "build",
                "-f",
                spec.to_str().expect("utf8"),
                "-o",
                archive.to_str().expect("utf8"),
            ],
            &shared_cache(),
        )
        .output()
        .expect("staves build");
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let loaded = container(&["load", "-i", archive.to_str().expect("utf8")]);
        assert!(loaded.status.success(), "{}", stderr(&loaded));
        let ran = container(&[
            "run",
            "--rm",
            &format!("{name}:latest"),
            &format!("/usr/bin/{name}"),
        ]);
        container(&["rmi", &format!("{name}:latest")]);
        assert_eq!(stdout(&ran).trim(), said, "{}", stderr(&ran));
    }
}
