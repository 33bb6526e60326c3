//! Nothing of the host reaches an image: the same spec, with a local `.deb` (kept in the
//! cache, as packages built from source or by a recipe are), built with two cache
//! directories, from two working directories, under two home directories, gives the same
//! image digest, and its SBOM names no path of the host.

mod support;

use std::path::Path;
use std::process::Command;

use staves_test_support::fixtures;
use support::{stderr, walk};

fn build(spec: &Path, cache: &Path, cwd: &Path, home: &Path, out: &Path) -> String {
    std::fs::create_dir_all(cwd).expect("cwd");
    std::fs::create_dir_all(home).expect("home");
    let sbom = out.with_extension("spdx.json");
    let built = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["build", "-f"])
        .arg(spec)
        .arg("--cache")
        .arg(cache)
        .arg("-o")
        .arg(out)
        .arg("--sbom")
        .arg(&sbom)
        .current_dir(cwd)
        .env("HOME", home)
        .env("CI", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("XDG_CACHE_HOME")
        .output()
        .expect("staves build");
    assert!(built.status.success(), "{}", stderr(&built));
    let sbom_text = std::fs::read_to_string(&sbom).expect("sbom");
    for host_path in [cache, cwd, home] {
        assert!(
            !sbom_text.contains(host_path.to_str().expect("utf8")),
            "the SBOM names {}",
            host_path.display()
        );
    }
    assert!(
        sbom_text.contains("a local .deb the spec names"),
        "{sbom_text}"
    );
    let index = std::fs::read_to_string(out.join("index.json")).expect("index");
    let digest = index
        .split("\"digest\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a manifest digest")
        .to_owned();
    // The image's own files hold no host path either.
    for blob in walk(&out.join("blobs")) {
        let bytes = std::fs::read(&blob).expect("blob");
        let needle = cache.to_str().expect("utf8").as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} holds the cache path",
            blob.display()
        );
    }
    digest
}

#[test]
fn the_cache_directory_working_directory_and_home_never_reach_an_image() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    let lib = fixtures::deb(root, "libhello", "usr/lib/hello/data", "");
    fixtures::repository(&repo, &[lib]);
    let spec_dir = root.join("spec");
    std::fs::create_dir_all(&spec_dir).expect("spec dir");
    let (_, app) = fixtures::deb(
        &spec_dir,
        "hello-app",
        "usr/share/hello-app/data",
        "libhello",
    );
    std::fs::write(spec_dir.join("hello-app.deb"), app).expect("deb");
    let spec = spec_dir.join("staves.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"hello\"\npackages = [\"hello-app\"]\ndebs = [\"hello-app.deb\"]\nexclude = [\"base-files\"]\n\n[[repositories]]\nname = \"fixture\"\nuri = \"file:{}\"\nsuite = \"s\"\ntrusted = true\n",
            repo.display()
        ),
    )
    .expect("spec");
    let first = build(
        &spec,
        &root.join("cache-one"),
        &root.join("work-one"),
        &root.join("home-one"),
        &root.join("out-one"),
    );
    let second = build(
        &spec,
        &root.join("elsewhere/cache-two"),
        &root.join("work-two"),
        &root.join("home-two"),
        &root.join("out-two"),
    );
    assert_eq!(first, second, "the image depends on the host");
}
