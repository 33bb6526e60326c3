//! `staves init [PACKAGE…] [--recipe python|rust|c]`: a commented spec to start from, and a
//! commented recipe for your own software.

use std::path::Path;

use crate::cli::{InitArgs, RecipeLanguage};
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
    let dir = args
        .file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut packages = args.packages.clone();
    let recipe = match args.recipe {
        Some(language) => {
            let path = dir.join(format!("{name}.toml"));
            if path.exists() && !args.force {
                return Err(CliError::Usage(format!(
                    "{} already exists; `--force` replaces it",
                    path.display()
                )));
            }
            packages.insert(0, name.clone());
            Some((path, recipe_template(&name, language)))
        }
        None => None,
    };
    let text = template(&name, &packages, recipe.is_some());
    // What is written must load: a template that does not parse would be a poor start.
    staves_spec::Spec::parse(&text, &args.file)?;
    std::fs::create_dir_all(dir)?;
    if let Some((path, text)) = &recipe {
        // The recipe builds `src/`: made empty when missing, so that the recipe loads.
        std::fs::create_dir_all(dir.join("src"))?;
        staves_spec::recipe::Recipe::parse(text, path)?;
        super::write_atomic(path, text.as_bytes())?;
        status(
            "Created",
            &format!(
                "{}: put your source in {}",
                path.display(),
                dir.join("src").display()
            ),
        );
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

fn template(name: &str, packages: &[String], recipe: bool) -> String {
    let list = packages
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let recipes = match recipe {
        true => format!(
            "\n# Your own software, built from its recipe into a package of the same name.\nrecipes = [\"{name}.toml\"]\n"
        ),
        false => String::new(),
    };
    format!(
        r#"# A Staves image spec. Build and run it:
#   staves build --load && docker run --rm {name}
# Every key is described in GUIDE.md; `staves why PACKAGE` tells why a package is in.

name = "{name}"
# Debian packages, in apt syntax: "nginx", "nginx (>= 1.22)", "bash=5.2.15-2+b7".
# Their dependencies come along; nothing else does (no shell unless something needs one).
packages = [{list}]
{recipes}
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

/// A commented recipe for `language`, packaging `src/` as `name`.
fn recipe_template(name: &str, language: RecipeLanguage) -> String {
    let head = format!(
        r#"# A recipe: your software built in Staves' sandbox (no network) into a .deb named
# like it, whose Depends are derived from what its ELF files link. Every key is described
# in GUIDE.md, "Your own software: recipes".

name = "{name}"
version = "0.1.0-1"
description = """One line saying what it is
Further lines are the long description."""
source = "src"                    # relative to this file
source-date-epoch = 1767225600    # the date of every packaged file (reproducible bytes)
"#
    );
    let body = match language {
        RecipeLanguage::Python => r#"architecture = "all"             # "any" once anything builds native code
# Debian's Python and pip; add the -dev packages native code builds against (libjpeg-dev,
# libpq-dev, …) and pkg-config: sdists are built against them, so Debian's security
# updates reach the image.
build-depends = ["python3-pip", "python3-setuptools"]
# Debian packages the application imports (python3-flask, …) and Python itself.
depends = ["python3"]
install = """
export DEB_PYTHON_INSTALL_LAYOUT=deb
python3 -m pip install --require-hashes --no-deps --no-compile --break-system-packages   --root "$DESTDIR" --prefix /usr -r requirements.txt
python3 -m pip install --no-deps --no-build-isolation --no-compile --break-system-packages   --root "$DESTDIR" --prefix /usr .
"""
# check = "python3 -m pytest"     # skipped with DEB_BUILD_OPTIONS=nocheck
cache = ["~/.cache/pip"]          # built wheels, kept between builds

[fetch]
# Fetched before the sandbox, each file by its hash: every requirement pinned with its
# hashes (`pip-compile --generate-hashes` writes such a file). The index is PIP_INDEX_URL,
# or name it: pip-index = "https://…/simple"
pip = "src/requirements.txt"
# Build backends newer than Debian's, fetched for the build alone:
# pip-build = "src/build-requirements.txt"
"#
        .to_owned(),
        RecipeLanguage::Rust => format!(
            r#"# Debian's toolchain: rustc 1.63 on Debian 12 (lock version 3), 1.85 on Debian 13.
build-depends = ["cargo", "rustc"]
build = "cargo build --release --offline --locked"
check = "cargo test --release --offline --locked"
install = "install -D -m 0755 target/release/{name} \"$DESTDIR/usr/bin/{name}\""
cache = ["target"]                # cargo's target directory, kept between builds

[fetch]
# Every crate of the lock, fetched before the sandbox by its checksum and vendored.
cargo = "src/Cargo.lock"
# Where crates-io's files come from: the host's cargo configuration (crates-io replaced),
# or name its sparse index: cargo-index = "sparse+https://…/"

# An account the service runs as, made by the package's postinst:
# [[users]]
# name = "{name}"
# [[dirs]]
# path = "/var/lib/{name}"
# owner = "{name}"
# mode = "0750"
"#
        ),
        RecipeLanguage::C => format!(
            r#"# The -dev packages it builds against; build-essential is always there.
build-depends = []
build = "make"
# check = "make check"            # skipped with DEB_BUILD_OPTIONS=nocheck
install = "make install DESTDIR=\"$DESTDIR\" PREFIX=/usr"
# Debian's build flags (hardening, -O2) are exported; the spec's [env] changes them.

# Files for a package of their own:
# [packages.{name}-doc]
# files = ["usr/share/doc/**"]
# architecture = "all"
"#
        ),
    };
    format!("{head}{body}")
}
