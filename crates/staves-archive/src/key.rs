//! The archive's signing key: `DIR/.staves/signing-key.asc` (mode 0600), made on first start
//! when none is there, or a key file the configuration names.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use staves_openpgp::SigningKey;

use crate::error::ArchiveError;

/// Where an archive keeps the key it made.
pub fn default_path(dir: &Path) -> std::path::PathBuf {
    dir.join(".staves/signing-key.asc")
}

/// Where an archive publishes its public key (its clients' trust).
pub fn published_path(dir: &Path) -> std::path::PathBuf {
    dir.join("key.asc")
}

/// Reads the key at `path`, or, when there is none, makes one for `user_id` and keeps it
/// there, readable by its owner only. Returns the key and whether it is new. A key is made
/// only for an archive that publishes none yet (`published` absent): a key that disappeared
/// from an archive clients already trust is an error, not a silent rotation.
pub fn load_or_create(
    path: &Path,
    user_id: &str,
    published: &Path,
) -> Result<(SigningKey, bool), ArchiveError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((
            SigningKey::from_armored(&text, &path.display().to_string())?,
            false,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(published).is_ok() {
                return Err(ArchiveError::KeyLost {
                    key: path.to_owned(),
                    published: published.to_owned(),
                });
            }
            let key = SigningKey::generate(user_id)?;
            let parent = staves_fs::parent_of(path);
            std::fs::create_dir_all(parent).map_err(ArchiveError::io("creating", parent))?;
            let temp =
                staves_fs::temp_file_in(parent).map_err(ArchiveError::io("creating in", parent))?;
            std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o600))
                .map_err(ArchiveError::io("protecting", temp.path()))?;
            std::fs::write(temp.path(), key.secret_armored()?)
                .map_err(ArchiveError::io("writing", temp.path()))?;
            staves_fs::persist(temp, path).map_err(ArchiveError::io("writing", path))?;
            Ok((key, true))
        }
        Err(e) => Err(ArchiveError::io("reading", path)(e)),
    }
}
