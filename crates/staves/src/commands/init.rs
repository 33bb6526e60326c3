//! `staves init [PACKAGE…]`: a commented spec to start from.

use std::path::Path;

use crate::cli::InitArgs;
use crate::report::{CliError, status};

pub fn run(args: &InitArgs) -> Result<(), CliError> {
    if args.file.exists() && !args.force {
        return Err(CliError::Usage(format!(
            "{} already exists; `--force` replaces it",
            args.file.display()
        )));
    }
    let name = match &args.name {
        Some(name) => name.clone(),
        None => default_name(&args.packages, &args.file),
    };
    staves_registry::ImageName::parse(&name).map_err(|_| {
        CliError::Usage(format!(
            "`{name}` is not an image name (lowercase letters, digits and `._-`); pick one with `--name`"
        ))
    })?;
    for package in &args.packages {
        if package.is_empty() || package.contains(['"', '\\', '\n']) {
            return Err(CliError::Usage(format!(
                "`{package}` is not a package name"
            )));
        }
    }
    let text = template(&name, &args.packages);
    // What is written must load: a template that does not parse would be a poor start.
    staves_spec::Spec::parse(&text, &args.file)?;
    if let Some(dir) = args.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    super::write_atomic(&args.file, text.as_bytes())?;
    status(
        "Created",
        &format!(
            "{}; build it with `staves build -f {} --load`",
            args.file.display(),
            args.file.display()
        ),
    );
    Ok(())
}

/// The first package's name, else the spec directory's, made a valid image name.
fn default_name(packages: &[String], file: &Path) -> String {
    let from_dir = || {
        std::path::absolute(file)
            .ok()
            .and_then(|p| Some(p.parent()?.file_name()?.to_string_lossy().into_owned()))
    };
    let raw = packages
        .first()
        .map(|p| {
            p.split([' ', '=', ':', '('])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .or_else(from_dir)
        .unwrap_or_default();
    let name: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        "image".into()
    } else {
        name.to_owned()
    }
}

fn template(name: &str, packages: &[String]) -> String {
    let list = packages
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# A Staves image spec. Build and run it:
#   staves build --load && docker run --rm {name}
# Every key is described in GUIDE.md; `staves why PACKAGE` tells why a package is in.

name = "{name}"
# Debian packages, in apt syntax: "nginx", "nginx (>= 1.22)", "bash=5.2.15-2+b7".
# Their dependencies come along; nothing else does (no shell unless something needs one).
packages = [{list}]

# What the container runs: the entrypoint, and default arguments to it. A package's name
# is seldom its program's: `staves build` then `staves inspect {name}.tar --files` lists
# what the image holds (programs are in /usr/bin and /usr/sbin).
# command = ["/usr/sbin/PROGRAM", "--foreground"]
# cmd = []
# A command runs under tini, which passes `docker stop`'s SIGTERM on and reaps orphans;
# `init = false` makes the program PID 1 itself (one that is an init, or that handles
# SIGTERM and starts no children).
# init = true

# Run as an unprivileged account, created in the image with its home directory.
# user = "app"
# [[accounts]]
# name = "app"
# uid = 1000

# environment = {{ LANG = "C.UTF-8" }}
# ports = ["8080"]
# volumes = ["/data"]        # created, owned by `user`
# workdir = "/"

# Files and directories from the build context (this directory):
# [[paths]]
# path = "/srv/app"
# source = "app"             # a file or a whole directory
# owner = "app"
# mode = "0755"              # quoted: an octal string

# Content classes to drop or keep: doc, man, info, nls and static are dropped by default.
# use = ["-gconv", "-bash-completion"]

# Where packages come from; the host's apt sources when absent.
# [[repositories]]
# name = "bookworm"
# uri = "http://deb.example/debian"
# suite = "bookworm"
# components = ["main"]
# keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
"#
    )
}
