//! OCI layouts made hostile by hand, read by `staves inspect`, `staves push` and the base
//! reader: digests that are paths, blobs that are devices or of another size, a layer
//! swapped for another that reads well, a 3 GiB long name in a small layer, whiteouts over
//! the dpkg database, a database too large to read, diff_ids that do not match the layers.
//! Each ends in one clear error, quickly, with a bounded peak RSS.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::{Digest, Sha256};
use support::stderr;

const STATUS: &str =
    "Package: hostile\nStatus: install ok installed\nVersion: 1.0\nArchitecture: all\n\n";

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An uncompressed tar of `files` (path, bytes), ended as tar ends it.
fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *bytes).expect("tar");
    }
    builder.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// A layout whose image has `layers` (blob bytes, uncompressed tar for the diff_id); the
/// config's diff_ids are `diff_ids` when given. Returns the blob path of each layer.
fn layout(
    dir: &Path,
    layers: &[(Vec<u8>, Vec<u8>)],
    diff_ids: Option<Vec<String>>,
) -> Vec<PathBuf> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("blobs");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("marker");
    let put = |bytes: &[u8]| {
        let d = digest(bytes);
        let path = blobs.join(d.trim_start_matches("sha256:"));
        std::fs::write(&path, bytes).expect("blob");
        (d, path)
    };
    let ids = diff_ids.unwrap_or_else(|| layers.iter().map(|(_, tar)| digest(tar)).collect());
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ids},
        "config": {},
    });
    let config = serde_json::to_vec(&config).expect("json");
    let (config_digest, _) = put(&config);
    let mut descriptors = Vec::new();
    let mut paths = Vec::new();
    for (blob, _) in layers {
        let (d, path) = put(blob);
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": d, "size": blob.len(),
        }));
        paths.push(path);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descriptors,
    });
    let manifest = serde_json::to_vec(&manifest).expect("json");
    let (manifest_digest, _) = put(&manifest);
    write_index(dir, &manifest_digest, manifest.len());
    paths
}

fn write_index(dir: &Path, manifest_digest: &str, size: usize) {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("index");
}

/// `staves ARGS`, stopped after a minute, with its peak RSS in KiB.
fn measured(args: &[&str]) -> (Output, u64) {
    support::staves_measured(args, None, Some(60))
}

/// `staves inspect DIR` must fail, saying `expected`, within a minute and 200 MB.
fn refused(dir: &Path, expected: &str) {
    let (out, peak) = measured(&["inspect", dir.to_str().expect("utf8")]);
    assert!(!out.status.success(), "{}", support::stdout(&out));
    assert_ne!(out.status.code(), Some(124), "stopped after a minute");
    assert!(
        stderr(&out).contains(expected),
        "{expected}: {}",
        stderr(&out)
    );
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
}

fn ordinary() -> (Vec<u8>, Vec<u8>) {
    let plain = tar(&[("var/lib/dpkg/status", STATUS.as_bytes())]);
    (gzip(&plain), plain)
}

#[test]
fn an_ordinary_layout_reads_and_digests_that_are_paths_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let image = dir.path().join("image");
    layout(&image, &[ordinary()], None);
    let (out, _) = measured(&["inspect", "--json", image.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        support::stdout(&out).contains("\"hostile\""),
        "the fixture reads"
    );

    // The manifest named by a path: read as a blob, pushed as one.
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "{\"secret\": true}").expect("secret");
    let traversal = format!("sha256:../../../{}", secret.display());
    write_index(&image, &traversal, 16);
    refused(&image, "is not a digest");
    let (out, _) = measured(&[
        "push",
        image.to_str().expect("utf8"),
        "127.0.0.1:9/hostile:latest",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not a digest"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Pushed"), "{}", stderr(&out));
    let upper = format!("sha256:{}", "AB".repeat(32));
    write_index(&image, &upper, 16);
    refused(&image, "is not a digest");
}

#[test]
fn a_blob_that_is_a_device_or_of_another_size_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let paths = layout(dir.path(), &[ordinary()], None);
    // A layer planted as a link to a device that never ends.
    std::fs::remove_file(&paths[0]).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &paths[0]).expect("link");
    refused(dir.path(), "not a regular file");
    // A layer longer than its descriptor says.
    std::fs::remove_file(&paths[0]).expect("rm");
    let (mut blob, _) = ordinary();
    blob.extend([0u8; 100]);
    std::fs::write(&paths[0], &blob).expect("longer");
    refused(dir.path(), "its descriptor says");
}

#[test]
fn a_swapped_layer_that_reads_well_is_caught_by_its_digest() {
    let dir = tempfile::tempdir().expect("tmp");
    // Uncompressed: the swap keeps the size, and the tar reader stops at the end-of-archive
    // blocks, before the padding: only a drained blob shows the difference.
    let plain = tar(&[("var/lib/dpkg/status", STATUS.as_bytes())]);
    let paths = layout(dir.path(), &[(plain.clone(), plain.clone())], None);
    let swapped = tar(&[(
        "var/lib/dpkg/status",
        STATUS.replace("hostile", "swapped").as_bytes(),
    )]);
    assert_eq!(swapped.len(), plain.len());
    std::fs::write(&paths[0], &swapped).expect("swap");
    refused(dir.path(), "damaged or was swapped");
    // Only the padding differs: still caught.
    let mut padded = plain.clone();
    let last = padded.len() - 1;
    padded[last] = 1;
    std::fs::write(&paths[0], &padded).expect("swap");
    refused(dir.path(), "damaged or was swapped");
}

#[test]
fn a_three_gibibyte_long_name_in_a_small_layer_is_refused_unread() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut header = tar::Header::new_gnu();
    header.set_size(3 << 30);
    header.set_entry_type(tar::EntryType::GNULongName);
    header.set_cksum();
    let mut plain = header.as_bytes().to_vec();
    // Enough of the "name" to make a layer of a few megabytes once compressed.
    plain.extend(std::iter::repeat_n(b'a', 64 << 20));
    let blob = gzip(&plain);
    assert!(blob.len() < 4 << 20, "{} bytes", blob.len());
    layout(dir.path(), &[(blob, plain)], None);
    refused(dir.path(), "long name");
}

#[test]
fn whiteouts_hide_the_database_and_one_too_large_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let gone = tar(&[("var/lib/dpkg/.wh.status", b"")]);
    let image = dir.path().join("whiteout");
    layout(&image, &[ordinary(), (gzip(&gone), gone.clone())], None);
    let (out, _) = measured(&["inspect", "--json", image.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["packages"], serde_json::json!([]), "{report}");

    let huge = STATUS.repeat((65 << 20) / STATUS.len() + 1);
    let plain = tar(&[("var/lib/dpkg/status", huge.as_bytes())]);
    let image = dir.path().join("huge");
    layout(&image, &[(gzip(&plain), plain)], None);
    refused(&image, "at most");
}

#[test]
fn a_base_whose_diff_ids_lie_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let (blob, _) = ordinary();
    let lie = digest(b"not this layer");
    layout(dir.path(), &[(blob, Vec::new())], Some(vec![lie.clone()]));
    let error = match staves_pipeline::base::read_base(dir.path(), "hostile", None, "amd64") {
        Ok(_) => panic!("a base with lying diff_ids was read"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&lie) && error.contains("damaged"), "{error}");
}

#[test]
fn a_docker_archive_with_a_three_gibibyte_long_name_is_refused_unread() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut header = tar::Header::new_gnu();
    header.set_size(3 << 30);
    header.set_entry_type(tar::EntryType::GNULongName);
    header.set_cksum();
    let path = dir.path().join("image.tar");
    let mut file = std::fs::File::create(&path).expect("create");
    file.write_all(header.as_bytes()).expect("header");
    // Sparse: three gibibytes of "name" that take no disk.
    file.set_len(512 + (3 << 30) + 1024).expect("sparse");
    drop(file);
    refused(&path, "long name");
}

#[test]
fn a_push_sends_nothing_of_a_layout_whose_blob_was_swapped() {
    let dir = tempfile::tempdir().expect("tmp");
    let plain = tar(&[("var/lib/dpkg/status", STATUS.as_bytes())]);
    let paths = layout(dir.path(), &[(plain.clone(), plain.clone())], None);
    let mut swapped = plain.clone();
    let last = swapped.len() - 1;
    swapped[last] = 1;
    std::fs::write(&paths[0], &swapped).expect("swap");
    let registry =
        support::registry::Registry::start_with(false, support::registry::Auth::Anonymous);
    let host = registry.host();
    let out = support::staves_command(
        &[
            "push",
            dir.path().to_str().expect("utf8"),
            &format!("{host}/hostile:1"),
            "--insecure-registry",
            &host,
        ],
        &dir.path().join("cache"),
    )
    .output()
    .expect("staves push");
    assert!(!out.status.success(), "{}", support::stdout(&out));
    assert!(
        stderr(&out).contains("damaged or was swapped"),
        "{}",
        stderr(&out)
    );
    assert_eq!(registry.upload_requests(), 0, "{}", registry.log());
}
