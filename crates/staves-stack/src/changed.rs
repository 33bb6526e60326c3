//! Which images of a stack a change touches (`--changed-since GIT_REF`): those whose spec,
//! lock, recipes (and the trees they build from), local `.deb`s or `[[paths]]` sources
//! differ from the commit, in the working tree or added since, and every image built on one
//! of them. Git is asked what changed; what an image is made of is the stack's own
//! knowledge.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Stack, StackError};

/// The images of `stack` that changed since `git_ref`, with what is built on them, in the
/// stack's order.
pub fn changed_since(stack: &Stack, git_ref: &str) -> Result<Vec<usize>, StackError> {
    let files = changed_files(&stack.root, git_ref)?;
    let mut changed = Vec::new();
    for (index, node) in stack.nodes.iter().enumerate() {
        let inputs: Vec<PathBuf> = crate::plan::inputs_of(&node.spec)?
            .files
            .iter()
            .map(|p| absolute(p))
            .collect();
        let touched = files.iter().any(|file| {
            inputs
                .iter()
                .any(|input| file == input || (input.is_dir() && file.starts_with(input)))
        });
        if touched {
            changed.push(index);
        }
    }
    Ok(stack.with_dependents(&changed))
}

fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}

/// The files (absolute) that differ between `git_ref` and the working tree of the
/// repository holding `dir`, untracked ones included.
fn changed_files(dir: &Path, git_ref: &str) -> Result<Vec<PathBuf>, StackError> {
    let git = |args: &[&str]| -> Result<String, StackError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .map_err(|source| StackError::Io {
                path: dir.to_owned(),
                source,
            })?;
        if !out.status.success() {
            return Err(StackError::Git {
                args: args.join(" "),
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?.trim());
    // `--end-of-options`: a ref that looks like an option is a ref.
    let diff = git(&[
        "diff",
        "--name-only",
        "--no-renames",
        "--end-of-options",
        git_ref,
    ])?;
    let untracked = git(&["ls-files", "--others", "--exclude-standard", "--full-name"])?;
    Ok(diff
        .lines()
        .chain(untracked.lines())
        .filter(|l| !l.is_empty())
        .map(|l| absolute(&top.join(l)))
        .collect())
}
