//! Recipes: your own software packaged as `.deb`s. A spec lists recipe files beside it
//! (`recipes = ["hello-curl.toml"]`); each names the package, its version, a source
//! directory, the Debian packages its build needs, shell steps to build and to install
//! under `$DESTDIR`, and optionally split packages that take some of the installed files.
//!
//! ```toml
//! name = "hello-curl"
//! version = "1.0-1"
//! description = "Prints the status of a URL"
//! source = "src"                       # a directory, relative to the recipe, or:
//! # url = "https://…/hello-curl-1.0.tar.gz" and sha256 = "…"
//! build-depends = ["libcurl4-openssl-dev"]
//! build = "make"
//! install = "make install DESTDIR=\"$DESTDIR\" PREFIX=/usr"
//!
//! [packages.hello-curl-doc]            # a split package
//! files = ["usr/share/doc/**"]
//! architecture = "all"
//!
//! cache = ["target"]                   # build caches kept between builds (never in the key)
//!
//! [fetch]                               # language packages, fetched by hash before the build
//! pip = "requirements.txt"
//! cargo = "Cargo.lock"
//! ```

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Diagnostic, SpecError};

/// The largest recipe file read.
const MAX_RECIPE: u64 = 1 << 20;

/// A recipe, read and checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Recipe {
    /// The package's name (and the source's).
    pub name: Spanned<String>,
    /// Its Debian version (`1.0-1`).
    pub version: Spanned<String>,
    /// One line saying what it is; further lines become the long description.
    #[serde(default)]
    pub description: Option<String>,
    /// `Maintainer:`; `Staves recipe <root@localhost>` when absent.
    #[serde(default)]
    pub maintainer: Option<String>,
    /// `Section:`.
    #[serde(default)]
    pub section: Option<String>,
    /// `Homepage:`.
    #[serde(default)]
    pub homepage: Option<String>,
    /// `any` (built for the image's architecture, the default) or `all`.
    #[serde(default)]
    pub architecture: Option<Spanned<String>>,
    /// The source directory, relative to the recipe (or `url`).
    #[serde(default)]
    pub source: Option<Spanned<String>>,
    /// A source tarball to download (or `source`), checked against `sha256`.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// The SHA-256 of the tarball at `url`.
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    /// Debian packages the build needs, in `Build-Depends` syntax, one group each.
    #[serde(default)]
    pub build_depends: Vec<Spanned<String>>,
    /// Dependencies added to those derived from the ELF files.
    #[serde(default)]
    pub depends: Vec<Spanned<String>>,
    /// Shell run in the source directory to build.
    #[serde(default)]
    pub build: Option<String>,
    /// Shell run in the source directory after `build` to run the tests; skipped when
    /// `DEB_BUILD_OPTIONS` or `DEB_BUILD_PROFILES` has `nocheck`, as Debian's builds do.
    #[serde(default)]
    pub check: Option<String>,
    /// Shell run in the source directory to install under `$DESTDIR`.
    pub install: Spanned<String>,
    /// Strip installed ELF files as `dh_strip` does, their debug symbols going to a
    /// `NAME-dbgsym` package (default true).
    #[serde(default)]
    pub strip: Option<bool>,
    /// System accounts the package needs, created by its `postinst` as Debian's packages
    /// create theirs (`adduser --system`).
    #[serde(default)]
    pub users: Vec<Spanned<SystemUser>>,
    /// Directories the package needs with an owner and mode, made by its `postinst`.
    #[serde(default)]
    pub dirs: Vec<Spanned<OwnedDir>>,
    /// The date of every file in the packages and `SOURCE_DATE_EPOCH` of the build (seconds
    /// since 1970); 0 when absent.
    #[serde(default)]
    pub source_date_epoch: Option<u64>,
    /// Split packages, by name.
    #[serde(default)]
    pub packages: BTreeMap<String, Spanned<SplitPackage>>,
    /// Language packages fetched before the build, by hash.
    #[serde(default)]
    pub fetch: Fetch,
    /// Directories kept between builds of this recipe (cargo's `target`, `~/.cache/pip`,
    /// `~/.ccache`): relative to the source directory, or to the build's home with `~/`.
    /// They make builds faster, never different: they are neither in the build key nor
    /// in the source tree's digest.
    #[serde(default)]
    pub cache: Vec<Spanned<String>>,
    /// Where the recipe was read from.
    #[serde(skip)]
    pub path: PathBuf,
    /// Its text.
    #[serde(skip)]
    pub text: String,
}

/// `[fetch]`: language packages downloaded before the sandbox (which has no network),
/// each checked against the hash its lock file gives, and offered to the build read-only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Fetch {
    /// A pip requirements file (relative to the recipe) in hash-checking mode: its files
    /// are in `/build/pip`, and `PIP_NO_INDEX` and `PIP_FIND_LINKS` make `pip install`
    /// take them from there.
    #[serde(default)]
    pub pip: Option<Spanned<String>>,
    /// A second requirements file, fetched the same way but for the build alone: build
    /// backends newer than Debian's (`setuptools>=77` for an sdist), which pip's build
    /// isolation finds in `/build/pip` while `pip install -r requirements.txt` installs
    /// only what the first file lists.
    #[serde(default)]
    pub pip_build: Option<Spanned<String>>,
    /// The PEP 691 simple index they come from (`https://…/simple`); else the host's
    /// `PIP_INDEX_URL`.
    #[serde(default)]
    pub pip_index: Option<Spanned<String>>,
    /// Take manylinux wheels that bundle their own copies of system libraries (refused
    /// by default: Debian's security updates never reach those copies).
    #[serde(default)]
    pub allow_bundled_libraries: bool,
    /// A `Cargo.lock` (relative to the recipe): every registry crate it pins, checked
    /// against its checksum and vendored, with `$CARGO_HOME/config.toml` replacing the
    /// registry with them, so `cargo build --offline --locked` works.
    #[serde(default)]
    pub cargo: Option<Spanned<String>>,
    /// The sparse index of the registry they come from (`sparse+https://…/`); else the
    /// one the host's cargo configuration puts in place of crates-io.
    #[serde(default)]
    pub cargo_index: Option<Spanned<String>>,
}

impl Recipe {
    /// The requirements file `[fetch] pip` names, relative to the recipe.
    pub fn pip_requirements(&self) -> Option<PathBuf> {
        self.beside(self.fetch.pip.as_ref())
    }

    /// A file the recipe names, relative to the recipe.
    fn beside(&self, file: Option<&Spanned<String>>) -> Option<PathBuf> {
        Some(staves_fs::parent_of(&self.path).join(file?.get_ref()))
    }

    /// The build requirements file `[fetch] pip-build` names, relative to the recipe.
    pub fn pip_build_requirements(&self) -> Option<PathBuf> {
        self.beside(self.fetch.pip_build.as_ref())
    }

    /// The files that pin what `[fetch]` gets: the requirements files and the cargo lock.
    pub fn lock_files(&self) -> Vec<PathBuf> {
        self.pip_requirements()
            .into_iter()
            .chain(self.pip_build_requirements())
            .chain(self.cargo_lock())
            .collect()
    }

    /// The lock file `[fetch] cargo` names, relative to the recipe.
    pub fn cargo_lock(&self) -> Option<PathBuf> {
        self.beside(self.fetch.cargo.as_ref())
    }

    /// The build caches, as paths inside the sandbox (`/build/src/target`,
    /// `/build/.cache/pip`).
    pub fn cache_dirs(&self) -> Vec<String> {
        self.cache
            .iter()
            .map(|dir| match dir.get_ref().strip_prefix("~/") {
                Some(home) => format!("/build/{}", home.trim_end_matches('/')),
                None => format!("/build/src/{}", dir.get_ref().trim_end_matches('/')),
            })
            .collect()
    }
}

/// `[[users]]`: a system account a recipe's package creates when it is installed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SystemUser {
    /// The account's name; a group of the same name is made with it.
    pub name: String,
    /// Its home directory (`/nonexistent` when absent, as adduser gives system accounts).
    #[serde(default)]
    pub home: Option<String>,
    /// Its login shell (`/usr/sbin/nologin` when absent).
    #[serde(default)]
    pub shell: Option<String>,
}

/// `[[dirs]]`: a directory a recipe's package makes when it is installed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OwnedDir {
    /// The absolute path.
    pub path: String,
    /// Its owner (`root` when absent).
    #[serde(default)]
    pub owner: Option<String>,
    /// Its group (the owner's when absent).
    #[serde(default)]
    pub group: Option<String>,
    /// Its mode, octal (`0755` when absent).
    #[serde(default)]
    pub mode: Option<String>,
}

/// A package made of some of the files a recipe installs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SplitPackage {
    /// Patterns of the paths it takes (`usr/share/doc/**`, `usr/lib/*/libfoo.so.*`).
    pub files: Vec<Spanned<String>>,
    /// Its description; the recipe's when absent.
    #[serde(default)]
    pub description: Option<String>,
    /// `any` or `all`; the recipe's when absent.
    #[serde(default)]
    pub architecture: Option<Spanned<String>>,
    /// Dependencies added to those derived from its ELF files.
    #[serde(default)]
    pub depends: Vec<Spanned<String>>,
}

pub use staves_deb::is_package_name;

/// Whether a `files` pattern matches `path` (both relative): `*` and `?` within one path
/// component, `**` across any number of them; a pattern naming a directory takes what is
/// under it.
pub fn matches(pattern: &str, path: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) if rest.first() == Some(&b'*') => {
                let rest = &rest[1..];
                let rest = rest.strip_prefix(b"/").unwrap_or(rest);
                (0..=s.len()).any(|i| glob(rest, &s[i..]))
            }
            Some((b'*', rest)) => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| glob(rest, &s[i..])),
            Some((b'?', rest)) => s.first().is_some_and(|&c| c != b'/') && glob(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
        }
    }
    let pattern = pattern.trim_matches('/');
    let path = path.trim_matches('/');
    glob(pattern.as_bytes(), path.as_bytes())
        || path
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Recipe {
    /// Reads the recipe at `path` and checks it; errors point into the recipe's text.
    pub fn load(path: &Path) -> Result<Recipe, SpecError> {
        let io = |source: std::io::Error| SpecError::Io {
            path: path.to_owned(),
            source,
        };
        let bytes = staves_fs::read_regular(path, MAX_RECIPE).map_err(io)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            io(std::io::Error::other(
                "not UTF-8 text; a recipe is a TOML file",
            ))
        })?;
        Recipe::parse(&text, path)
    }

    /// Parses and checks recipe text; `path` is for messages and the source directory.
    pub fn parse(text: &str, path: &Path) -> Result<Recipe, SpecError> {
        let diag = |span: Range<usize>, message: String, help: Option<&str>| {
            SpecError::Invalid(Box::new(Diagnostic::new(
                path,
                text,
                span,
                message,
                help.map(str::to_owned),
            )))
        };
        let mut recipe: Recipe = toml::from_str(text).map_err(|e| {
            diag(
                e.span().unwrap_or(0..0),
                format!("recipe: {}", e.message()),
                Some("a recipe has `name`, `version`, `source` and `install`; see GUIDE.md"),
            )
        })?;
        recipe.path = path.to_owned();
        recipe.text = text.to_owned();
        if !is_package_name(recipe.name.get_ref()) {
            return Err(diag(
                recipe.name.span(),
                format!("`{}` is not a Debian package name", recipe.name.get_ref()),
                Some("lower-case letters, digits and `+-.`, at least two, starting alphanumeric"),
            ));
        }
        if let Err(e) = staves_deb::Version::parse(recipe.version.get_ref()) {
            return Err(diag(
                recipe.version.span(),
                format!(
                    "`{}` is not a Debian version: {e}",
                    recipe.version.get_ref()
                ),
                Some("write `UPSTREAM-REVISION`, such as `1.0-1`"),
            ));
        }
        let architectures = std::iter::once(&recipe.architecture)
            .chain(recipe.packages.values().map(|p| &p.get_ref().architecture));
        for arch in architectures.flatten() {
            if !matches!(arch.get_ref().as_str(), "any" | "all") {
                return Err(diag(
                    arch.span(),
                    format!("architecture `{}`", arch.get_ref()),
                    Some("`any` (built for the image's architecture) or `all`"),
                ));
            }
        }
        let relations = recipe
            .build_depends
            .iter()
            .chain(&recipe.depends)
            .chain(recipe.packages.values().flat_map(|p| &p.get_ref().depends));
        for relation in relations {
            if let Err(e) = staves_deb::relation::parse_dependency(relation.get_ref()) {
                return Err(diag(
                    relation.span(),
                    format!("`{}`: {e}", relation.get_ref()),
                    Some(
                        "one relationship in Debian syntax, such as `libcurl4-openssl-dev (>= 7.88)`",
                    ),
                ));
            }
        }
        for (name, split) in &recipe.packages {
            if !is_package_name(name) || name == recipe.name.get_ref() {
                return Err(diag(
                    split.span(),
                    format!("split package `{name}`: not a package name, or the recipe's own"),
                    Some("a split package has a name of its own"),
                ));
            }
            if split.get_ref().files.is_empty() {
                return Err(diag(
                    split.span(),
                    format!("split package `{name}` takes no files"),
                    Some("add `files = [\"usr/share/doc/**\"]` or similar"),
                ));
            }
        }
        let plain_name = |n: &str| {
            !n.is_empty()
                && n.len() <= 32
                && n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c))
        };
        let plain_path = |p: &str| {
            p.starts_with('/')
                && p.len() > 1
                && !p.split('/').any(|c| c == "..")
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-+@".contains(c))
        };
        for user in &recipe.users {
            let u = user.get_ref();
            let paths_ok = [&u.home, &u.shell]
                .into_iter()
                .flatten()
                .all(|p| plain_path(p));
            if !plain_name(&u.name) || !paths_ok {
                return Err(diag(
                    user.span(),
                    format!("`{}` is not a system account a package can create", u.name),
                    Some(
                        "a lower-case name (`[a-z_][a-z0-9_-]*`), and absolute `home` and `shell`",
                    ),
                ));
            }
        }
        for dir in &recipe.dirs {
            let d = dir.get_ref();
            let mode_ok = d.mode.as_deref().is_none_or(|m| {
                (3..=4).contains(&m.len()) && m.chars().all(|c| ('0'..='7').contains(&c))
            });
            let names_ok = [&d.owner, &d.group]
                .into_iter()
                .flatten()
                .all(|n| plain_name(n));
            if !plain_path(&d.path) || !mode_ok || !names_ok {
                return Err(diag(
                    dir.span(),
                    format!("`{}` is not a directory a package can make", d.path),
                    Some(
                        "an absolute `path` without `..`, account names for `owner` and `group`, an octal `mode` such as \"0750\"",
                    ),
                ));
            }
        }
        for dir in &recipe.cache {
            let path = dir.get_ref().strip_prefix("~/").unwrap_or(dir.get_ref());
            let inside = !path.is_empty()
                && !path.starts_with('/')
                && path
                    .trim_end_matches('/')
                    .split('/')
                    .all(|c| !matches!(c, "" | "." | ".."));
            // The build's home is /build, where Staves puts the build's own directories.
            let reserved = dir.get_ref().starts_with("~/")
                && matches!(
                    path.split('/').next(),
                    Some(
                        "src"
                            | "root"
                            | "pip"
                            | "crates"
                            | "vendor"
                            | "cargo"
                            | "steps"
                            | "out"
                            | "flags"
                    )
                );
            if !inside || reserved {
                return Err(diag(
                    dir.span(),
                    format!("`{}` is not a directory a build may keep", dir.get_ref()),
                    Some(
                        "a path inside the source directory (`target`) or the build's home (`~/.cache/pip`), without `..`",
                    ),
                ));
            }
        }
        match (&recipe.source, &recipe.url, &recipe.sha256) {
            (Some(source), None, None) => {
                let dir = recipe.source_dir().unwrap_or_default();
                if !dir.is_dir() {
                    return Err(diag(
                        source.span(),
                        format!("`{}` is not a directory", dir.display()),
                        Some("`source` is a directory relative to the recipe"),
                    ));
                }
            }
            (None, Some(url), Some(sha256)) => {
                let scheme = url.get_ref().split_once("://").map(|(s, _)| s);
                if !matches!(scheme, Some("http" | "https")) {
                    return Err(diag(
                        url.span(),
                        format!("`{}` is not an http(s) URL", url.get_ref()),
                        Some("a source tarball is fetched over HTTP(S) and checked by `sha256`"),
                    ));
                }
                let hex = sha256.get_ref();
                if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(diag(
                        sha256.span(),
                        "`sha256` is not 64 lower-case hex digits".into(),
                        Some("`sha256sum FILE` prints it"),
                    ));
                }
            }
            (_, Some(url), None) => {
                return Err(diag(
                    url.span(),
                    "`url` without `sha256`".into(),
                    Some("add `sha256 = \"…\"`: a download is believed only by its checksum"),
                ));
            }
            (Some(source), Some(_), _) => {
                return Err(diag(
                    source.span(),
                    "both `source` and `url`".into(),
                    Some("a recipe builds a directory (`source`) or a tarball (`url`), not both"),
                ));
            }
            (_, None, Some(sha256)) => {
                return Err(diag(
                    sha256.span(),
                    "`sha256` without `url`".into(),
                    Some("`sha256` checks the tarball `url` names"),
                ));
            }
            (None, None, None) => {
                return Err(diag(
                    0..0,
                    "the recipe has no `source` nor `url`".into(),
                    Some("`source = \"src\"` (a directory) or `url` and `sha256` (a tarball)"),
                ));
            }
        }
        Ok(recipe)
    }

    /// The source directory, when the recipe has one.
    pub fn source_dir(&self) -> Option<PathBuf> {
        let base = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Some(base.join(self.source.as_ref()?.get_ref()))
    }

    /// The description's first line and the rest, as a control field value.
    pub fn description_field(description: Option<&str>, name: &str) -> String {
        let text = description.map(str::trim).filter(|d| !d.is_empty());
        let mut lines = text.map_or(vec![name], |t| t.lines().collect());
        let first = lines.remove(0).trim().to_owned();
        let mut out = first;
        for line in lines {
            let line = line.trim_end();
            out.push_str("\n ");
            out.push_str(if line.trim().is_empty() {
                "."
            } else {
                line.trim()
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Recipe, SpecError> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("src")).expect("mkdir");
        Recipe::parse(text, &dir.path().join("r.toml"))
    }

    const GOOD: &str =
        "name = \"hello\"\nversion = \"1.0-1\"\nsource = \"src\"\ninstall = \"true\"\n";

    #[test]
    fn build_caches_stay_inside_the_build() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("src")).expect("mkdir");
        let path = dir.path().join("r.toml");
        let base = "name = \"ab\"\nversion = \"1-1\"\nsource = \"src\"\ninstall = \"true\"\n";
        let ok = Recipe::parse(
            &format!("{base}cache = [\"target\", \"~/.cache/pip\"]\n"),
            &path,
        )
        .expect("recipe");
        assert_eq!(ok.cache_dirs(), ["/build/src/target", "/build/.cache/pip"]);
        for bad in ["../x", "/tmp", "~/src", "a/../../b", "~/", ""] {
            let e = Recipe::parse(&format!("{base}cache = [\"{bad}\"]\n"), &path).expect_err(bad);
            assert!(e.to_string().contains("a build may keep"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_minimal_recipe_reads() {
        let recipe = parse(GOOD).expect("valid");
        assert_eq!(recipe.name.get_ref(), "hello");
        assert!(recipe.packages.is_empty());
    }

    #[test]
    fn errors_point_at_the_value() {
        let text = GOOD.replace("1.0-1", "1.0 beta");
        let Err(SpecError::Invalid(d)) = parse(&text) else {
            panic!("a bad version is refused")
        };
        assert_eq!(d.line_column(), (2, 11));
        let text = format!("{GOOD}build-depends = [\"gcc (>> \"]\n");
        let Err(SpecError::Invalid(d)) = parse(&text) else {
            panic!("a bad relation is refused")
        };
        assert_eq!(d.line_column().0, 5);
        let text = GOOD.replace("\"src\"", "\"nowhere\"");
        assert!(parse(&text).is_err());
        let url = GOOD.replace(
            "source = \"src\"",
            "url = \"https://example.invalid/x.tar.gz\"",
        );
        assert!(parse(&url).is_err(), "a URL needs its checksum");
        let checked = format!("{url}sha256 = \"{}\"\n", "ab".repeat(32));
        assert!(parse(&checked).is_ok());
        assert!(parse(&checked.replace("https:", "ftp:")).is_err());
        assert!(parse(&format!("{GOOD}colour = 1\n")).is_err());
    }

    #[test]
    fn patterns_match_like_shell_globs_with_double_star() {
        assert!(matches("usr/share/doc/**", "usr/share/doc/x/copyright"));
        assert!(matches("usr/share/doc", "usr/share/doc/x"));
        assert!(matches(
            "usr/lib/*/libfoo.so.*",
            "usr/lib/x86_64-linux-gnu/libfoo.so.1"
        ));
        assert!(!matches("usr/lib/*/libfoo.so.*", "usr/lib/a/b/libfoo.so.1"));
        assert!(matches("usr/bin/fo?", "usr/bin/foo"));
        assert!(!matches("usr/share/doc", "usr/share/docs/x"));
        assert!(matches(
            "**/*.py",
            "usr/lib/python3/dist-packages/app/__init__.py"
        ));
    }

    #[test]
    fn descriptions_become_control_fields() {
        assert_eq!(
            Recipe::description_field(Some("Greets\nat length.\n\nTwice."), "x"),
            "Greets\n at length.\n .\n Twice."
        );
        assert_eq!(Recipe::description_field(None, "x"), "x");
    }
}
