//! docker-archive: one tar that `docker load` and `podman load` accept.
//!
//! It holds the OCI layout (as Docker 25 and later write with `docker save`) plus the legacy
//! `manifest.json` that older Docker engines and podman read, both pointing at the same blobs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::OciError;
use crate::image::{BlobRef, Index, Layout};

#[derive(Serialize)]
struct LegacyEntry<'a> {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: &'a [String],
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// Writes `manifest` of `layout` as a docker-archive at `out`, tagged `repo_tags`.
pub fn write_docker_archive(
    layout: &Layout,
    manifest: &BlobRef,
    repo_tags: &[String],
    mtime: u64,
    out: &Path,
) -> Result<(), OciError> {
    let (config, layers) = layout.manifest_parts(manifest)?;
    let legacy = [LegacyEntry {
        config: blob_name(&config.digest),
        repo_tags,
        layers: layers.iter().map(|l| blob_name(&l.digest)).collect(),
    }];
    let legacy_json = serde_json::to_vec(&legacy).map_err(|e| OciError::Layout(e.to_string()))?;
    // The archive's own index names just this image, even when the layout holds several.
    let index_json = Index::json(std::slice::from_ref(manifest))?;

    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = staves_fs::temp_file_in(dir).map_err(OciError::io(dir))?;
    let file = tmp.reopen().map_err(OciError::io(tmp.path()))?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    let io_err = |e| OciError::io(out)(e);
    let header = |size: u64, kind: tar::EntryType, mode: u32| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for dir in ["blobs/", "blobs/sha256/"] {
        tar.append_data(
            &mut header(0, tar::EntryType::Directory, 0o755),
            dir,
            std::io::empty(),
        )
        .map_err(io_err)?;
    }
    let mut blobs: Vec<&BlobRef> = vec![&config, manifest];
    blobs.extend(&layers);
    for blob in blobs {
        let path = layout.blob_path(&blob.digest);
        let file = File::open(&path).map_err(OciError::io(&path))?;
        let size = file.metadata().map_err(OciError::io(&path))?.len();
        tar.append_data(
            &mut header(size, tar::EntryType::Regular, 0o644),
            blob_name(&blob.digest),
            file,
        )
        .map_err(io_err)?;
    }
    let oci_layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    for (name, bytes) in [
        ("index.json", index_json.as_slice()),
        ("manifest.json", legacy_json.as_slice()),
        ("oci-layout", oci_layout.as_slice()),
    ] {
        tar.append_data(
            &mut header(bytes.len() as u64, tar::EntryType::Regular, 0o644),
            name,
            bytes,
        )
        .map_err(io_err)?;
    }
    let mut writer = tar.into_inner().map_err(io_err)?;
    writer.flush().map_err(io_err)?;
    // Temporary files are private (0600); an image archive is not.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(io_err)?;
    }
    staves_fs::persist(tmp, out).map_err(OciError::io(out))?;
    Ok(())
}
