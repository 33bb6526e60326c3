//! From opened packages to a finished layer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

use staves_deb::Version;
use staves_deb::deb::DebFile;
use staves_deb::deb822;
use staves_deb::relation::{self, Relation};

use crate::ImageError;
use crate::accounts::Accounts;
use crate::dpkg::{self, Installed};
use crate::effects::apply_alternatives;
use crate::features::Features;
use crate::layer::{Kind, Layer, Meta};
use crate::needs::{Need, Sniffer};
use crate::paths::{MERGED_DIRS, merge_usr, normalize, symlink_stays_inside};
use crate::phases::{
    add_spec_content, run_time_checks, write_accounts, write_ca_bundle, write_dpkg_database,
    write_generated, write_skeleton,
};
use crate::plan::{Migration, ScriptPlan, plan, relocate};
use crate::prefetch::{Prefetch, Source};

/// A package to install: its identity and its verified `.deb`.
#[derive(Debug, Clone)]
pub struct PackageInput {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// The cached `.deb`, already checked against `sha256`.
    pub deb: PathBuf,
    /// The `.deb`'s SHA-256 (lower-case hex), as the signed index gives it.
    pub sha256: String,
    /// Where a zstd copy of the decompressed data archive is kept between builds (a cache
    /// entry), or `None` to always decompress the `.deb`.
    pub unpacked: Option<PathBuf>,
}

/// Something the spec adds to the image besides packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtraPath {
    /// A directory.
    Dir {
        /// Absolute path.
        path: String,
        /// Mode.
        mode: u32,
        /// Owner (user name).
        owner: Option<String>,
    },
    /// A file with inline content or the content of a local file.
    File {
        /// Absolute path.
        path: String,
        /// Mode.
        mode: u32,
        /// Owner (user name).
        owner: Option<String>,
        /// Content.
        content: Vec<u8>,
    },
    /// A symlink.
    Symlink {
        /// Absolute path.
        path: String,
        /// Target.
        target: String,
    },
}

/// How to assemble.
#[derive(Debug, Clone)]
pub struct Options {
    /// Content classes kept.
    pub features: Features,
    /// Accounts written to `/etc/passwd` and friends.
    pub accounts: Accounts,
    /// Every timestamp is clamped to this (seconds since the epoch); `None` takes the newest
    /// package's build time, so the date comes from the inputs, never from the clock.
    pub mtime: Option<u64>,
    /// Additional paths from the spec.
    pub extra_paths: Vec<ExtraPath>,
    /// Files rendered from what was installed, once every package is in (an SBOM).
    pub generated: Vec<GeneratedFile>,
    /// Where temporaries of kept decoded copies are written (on their file system).
    pub temp_dir: Option<PathBuf>,
    /// Volume paths: made to exist, owned by `user`, unless `extra_paths` declares them.
    pub volumes: Vec<String>,
    /// The user the image runs as (`name`, `uid`, `name:group`, `uid:gid`).
    pub user: Option<String>,
    /// Also keep each package's `shlibs`, `symbols` and `triggers` in the dpkg database,
    /// as dpkg does: a build root needs them (`dpkg-shlibdeps`), a runtime image not.
    pub build_info: bool,
    /// The image this layer goes on (a base image): its paths are taken, its packages are
    /// listed first in the layer's status file, and its shells, certificates and
    /// alternatives are merged with the new ones. `accounts` must start from its accounts.
    pub base: Option<std::sync::Arc<crate::Base>>,
}

/// What one layer of a split image holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerContents {
    /// The source packages whose packages it holds (none: the generated files).
    pub sources: Vec<String>,
    /// Those packages, in install order.
    pub packages: Vec<String>,
}

/// A file whose content depends on the installed packages, written last.
#[derive(Clone)]
pub struct GeneratedFile {
    /// Path in the image (`var/lib/…`).
    pub path: String,
    /// Renders the content from the installed packages (in install order) and the image's
    /// date.
    pub render: Render,
}

/// Renders a generated file from the installed packages and the image's date.
pub type Render = std::sync::Arc<dyn Fn(&[PackageFacts], u64) -> Vec<u8> + Send + Sync>;

impl std::fmt::Debug for GeneratedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What an SBOM needs to know about an installed package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageFacts {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// The control paragraph.
    pub control: String,
    /// `/usr/share/doc/<name>/copyright`, when the package ships it as a file.
    pub copyright: Option<String>,
}

/// Figures about the assembled layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Tar entries written.
    pub entries: usize,
    /// Bytes of file content.
    pub content_bytes: u64,
    /// Files left out by feature toggles.
    pub filtered: usize,
    /// Alternatives set up.
    pub alternatives: usize,
    /// The date every timestamp was clamped to.
    pub mtime: u64,
    /// The installed packages, in install order.
    pub packages: Vec<PackageFacts>,
    /// Paths files need at run time that the image lacks (an interpreter, `/bin/sh`).
    pub unmet: Vec<crate::needs::Unmet>,
    /// Shared libraries the spec's own programs need that the image lacks.
    pub missing_libraries: Vec<crate::libraries::MissingLibrary>,
    /// With several layers: what each one written holds, bottom first (the last is the
    /// generated files'). Writers past these were given nothing.
    pub layers: Vec<LayerContents>,
    /// What each package's `postinst` did that Staves does not reproduce.
    pub scripts: Vec<crate::plan::ScriptReport>,
}

/// The CA bundle that OpenSSL, GnuTLS and curl read on Debian.
pub(crate) const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Certificates update-ca-certificates collects: packaged ones and local ones.
pub(crate) fn is_certificate(path: &str) -> bool {
    (path.starts_with("usr/share/ca-certificates/")
        || path.starts_with("usr/local/share/ca-certificates/"))
        && path.ends_with(".crt")
}

/// The most a file scripts copy may hold to be copied into another layer.
const MAX_COPIED: u64 = 1 << 20;

/// Files the assembly writes itself; a package shipping one is overridden.
pub(crate) const GENERATED: &[&str] = &[
    "etc/passwd",
    "etc/group",
    "etc/shadow",
    "etc/gshadow",
    "etc/shells",
    "var/lib/dpkg/status",
    "var/lib/dpkg/available",
    "var/lib/dpkg/info/format",
];

struct Opened {
    input: PackageInput,
    /// The source package it is built from.
    source: String,
    /// Bytes it installs (`Installed-Size`), for layering.
    size: u64,
    deb: DebFile,
    replaces: Vec<Relation>,
    /// The packages it depends on (every alternative), for the order scripts run in.
    depends: Vec<String>,
    multi_arch_same: bool,
    /// `Priority: required`: part of every Debian system's plumbing (dpkg, debconf, awk),
    /// whose files' needs are not reported.
    required: bool,
    /// The most bytes its data archive may unpack to.
    limit: u64,
}

/// The most bytes of tar stream a data archive may unpack to. Debian's `Installed-Size` (in
/// KiB) bounds a package's file content; tar headers and padding add up to a few KiB per
/// file, so twice that plus 64 MiB leaves room. Whatever the package declares, it may not
/// expand more than a thousand times (xz on real files stays below fifty).
fn unpack_limit(deb: &DebFile, control: Option<&deb822::Paragraph<'_>>) -> u64 {
    const SLACK: u64 = 64 << 20;
    let by_ratio = deb.data_size().saturating_mul(1000).saturating_add(SLACK);
    let declared = control
        .and_then(|p| p.get("Installed-Size"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kib| kib.saturating_mul(2048).saturating_add(SLACK));
    declared.map_or(by_ratio, |d| d.min(by_ratio))
}

/// Names the package behind a [`ImageError::Reserved`] error.
fn name_owner(error: ImageError, opened: &[Opened]) -> ImageError {
    match error {
        ImageError::Reserved {
            path,
            owner: Some(owner),
        } => ImageError::Hostile {
            package: opened[owner].input.name.clone(),
            entry: format!("/{path}"),
            reason: "Staves writes this path itself (accounts, dpkg database or SBOM)".into(),
        },
        other => other,
    }
}

/// Writes the image's single layer for `packages` (in the given order) to `out`.
pub fn assemble<W: Write>(
    packages: &[PackageInput],
    options: &Options,
    out: W,
) -> Result<(W, Summary), ImageError> {
    let (mut outs, summary) = assemble_layers(packages, options, vec![out])?;
    let out = outs
        .pop()
        .ok_or_else(|| ImageError::write(std::io::Error::other("no layer written")))?;
    Ok((out, summary))
}

/// Writes the image for `packages` (in the given order) as up to `outs.len()` layers, bottom
/// first: packages grouped by source package over all but the last layer used (see
/// [`crate::layering`]), and what is generated from all of them (the dpkg database,
/// accounts, the SBOM) in the last. [`Summary::layers`] says which writers were used; the
/// rest are given nothing. One writer is one layer holding everything.
pub fn assemble_layers<W: Write>(
    packages: &[PackageInput],
    options: &Options,
    outs: Vec<W>,
) -> Result<(Vec<W>, Summary), ImageError> {
    let opened = packages
        .iter()
        .map(|input| {
            let deb = DebFile::open(&input.deb).map_err(|source| ImageError::Deb {
                package: input.name.clone(),
                source,
            })?;
            let para = deb822::paragraphs(&deb.control.control).next();
            let field = |f: &str| para.and_then(|p| p.get(f)).unwrap_or_default();
            let replaces = relation::parse_field(field("Replaces"))
                .map(|deps| deps.into_iter().flat_map(|d| d.alternatives).collect())
                .unwrap_or_default();
            let depends = [field("Pre-Depends"), field("Depends")]
                .iter()
                .flat_map(|f| relation::parse_field(f).unwrap_or_default())
                .flat_map(|d| d.alternatives)
                .map(|r| r.name)
                .collect();
            let multi_arch_same = field("Multi-Arch") == "same";
            let required = field("Priority") == "required";
            let limit = unpack_limit(&deb, para.as_ref());
            let (source, _) = staves_deb::source::source_of(
                &input.name,
                &input.version,
                para.and_then(|p| p.get("Source")),
            );
            let source = source.to_owned();
            let size = field("Installed-Size")
                .trim()
                .parse::<u64>()
                .map_or(deb.data_size(), |kib| kib.saturating_mul(1024));
            Ok(Opened {
                input: input.clone(),
                source,
                size,
                deb,
                replaces,
                depends,
                multi_arch_same,
                required,
                limit,
            })
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    assemble_opened(&opened, options, outs).map_err(|e| name_owner(e, &opened))
}

fn assemble_opened<W: Write>(
    opened: &[Opened],
    options: &Options,
    outs: Vec<W>,
) -> Result<(Vec<W>, Summary), ImageError> {
    let mtime = options.mtime.unwrap_or_else(|| {
        opened
            .iter()
            .map(|p| p.deb.control.mtime)
            .max()
            .unwrap_or(0)
    });

    // What maintainer scripts would do, planned before anything is written.
    let scripts: Vec<crate::plan::Scripts<'_>> = configure_order(opened)
        .into_iter()
        .map(|i| &opened[i])
        .map(|p| crate::plan::Scripts {
            package: p.input.name.as_str(),
            preinst: p.deb.control.preinst.as_deref(),
            postinst: p.deb.control.postinst.as_deref(),
        })
        .collect();
    let mut facts = script_facts(opened, options.base.as_deref());
    // Walked until what the scripts read is known: a file a script reads (a shipped helper
    // script, a template) is read ahead from its package, and the scripts walked again.
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut tried: HashSet<String> = HashSet::new();
    let mut listed: HashSet<String> = HashSet::new();
    let mut first = plan(&scripts, &options.accounts, &facts, &contents, mtime)?;
    for _ in 0..MAX_WALKS {
        let mut missing: Vec<String> = first
            .wanted
            .iter()
            .filter(|p| !tried.contains(*p))
            .cloned()
            .collect();
        if first.pam_auth_update {
            missing.extend(
                facts
                    .files
                    .keys()
                    .filter(|p| {
                        (p.starts_with(crate::pam::PROFILES)
                            || p.starts_with(crate::pam::TEMPLATES))
                            && !tried.contains(*p)
                    })
                    .cloned(),
            );
        }
        // Empty directories are in no `md5sums`: the whole listing of a package whose
        // script looked for one it may ship.
        let mut listed_now = Vec::new();
        for (package, _) in &first.probed {
            if listed.insert(package.clone()) {
                listed_now.push(package.clone());
            }
        }
        if missing.is_empty() && listed_now.is_empty() {
            break;
        }
        tried.extend(missing.iter().cloned());
        scan_ahead(opened, &listed_now, &missing, &mut facts, &mut contents)?;
        first = plan(&scripts, &options.accounts, &facts, &contents, mtime)?;
    }
    let ScriptPlan {
        script_dirs,
        migrations,
        accounts,
        overrides,
        ..
    } = &first;
    let (script_dirs, migrations, accounts) =
        (script_dirs, migrations.as_slice(), accounts.clone());
    let base = options.base.as_deref();
    let split = Split::new(opened, outs.len(), mtime);
    let mut layer = Layer::split(outs);
    if let Some(base) = base {
        layer = layer.over(base.paths.iter().cloned());
    }
    layer.declare_dirs(crate::effects::declared_dirs(options, &accounts, mtime));
    // Only a split image needs copies' content: one layer links the copy to its source.
    let kept: HashSet<String> = if split.several {
        first
            .copies
            .iter()
            .filter_map(|(source, _)| crate::effects::image_path(source))
            .collect()
    } else {
        HashSet::new()
    };
    let rules = Rules {
        base,
        features: &options.features,
        mtime,
        script_dirs,
        migrations,
        kept: &kept,
        overrides,
    };
    let mut streamed = Streamed::default();
    stream_packages(&mut layer, opened, options, &rules, &split, &mut streamed)?;
    layer.select(split.top);
    let last = &first;
    let (alternatives, shells) = (last.alternatives.clone(), last.shells.clone());
    let mut writes = last.writes.clone();
    if last.pam_auth_update {
        writes.extend(crate::pam::common_files(&contents));
    }
    // What the spec's `paths` declare stands over what scripts would make there.
    let declared: HashSet<String> = options
        .extra_paths
        .iter()
        .filter_map(|item| match item {
            ExtraPath::Dir { path, .. }
            | ExtraPath::File { path, .. }
            | ExtraPath::Symlink { path, .. } => crate::effects::image_path(path),
        })
        .collect();
    let undeclared = |p: &str| crate::effects::image_path(p).is_none_or(|p| !declared.contains(&p));
    writes.retain(|path, _| !declared.contains(path));
    let shells_file = writes.remove("etc/shells");
    let links: Vec<(String, String)> = last
        .links
        .iter()
        .filter(|(l, _)| undeclared(l))
        .cloned()
        .collect();
    let copies: Vec<(String, String)> = last
        .copies
        .iter()
        .filter(|(_, d)| undeclared(d))
        .cloned()
        .collect();
    write_skeleton(
        &mut layer,
        script_dirs,
        migrations,
        &links,
        crate::effects::Copies {
            pairs: &copies,
            contents: &streamed.copy_sources,
        },
        mtime,
    )?;
    crate::effects::write_files(&mut layer, &writes, overrides, mtime)?;
    write_dpkg_database(
        &mut layer,
        base.map(|b| b.status.as_str()),
        &streamed.installed,
        mtime,
        options.build_info,
    )?;
    let shells = match base {
        // The base's file stands unless a package registers a shell it lacks.
        Some(base) if shells.iter().all(|s| base.shells.contains(s)) => Vec::new(),
        Some(base) => base.shells.iter().chain(&shells).cloned().collect(),
        None => shells,
    };
    write_accounts(
        &mut layer,
        &accounts,
        &shells,
        shells_file.as_deref(),
        first.shadowed || base.is_some_and(|b| b.paths.iter().any(|(p, _)| p == "etc/shadow")),
        overrides,
        mtime,
    )?;
    let alternatives = apply_alternatives(&mut layer, &alternatives, base, mtime)?;
    add_spec_content(&mut layer, options, &accounts, mtime, &mut streamed)?;
    write_ca_bundle(&mut layer, &streamed.certificates, base, mtime)?;
    if let Some(base) = base {
        // What is generated from the installed packages covers the whole image.
        let mut facts = base.facts();
        facts.append(&mut streamed.facts);
        streamed.facts = facts;
    }
    write_generated(&mut layer, options, &streamed.facts, mtime)?;
    let (unmet, missing_libraries) =
        run_time_checks(&layer, options, std::mem::take(&mut streamed.needs));

    let Streamed {
        facts, filtered, ..
    } = streamed;
    let summary = Summary {
        missing_libraries,
        unmet,
        entries: layer.entries,
        content_bytes: layer.content_bytes,
        filtered,
        alternatives,
        mtime,
        packages: facts,
        layers: split.contents(opened),
        scripts: last.reports.clone(),
    };
    Ok((layer.finish_all()?, summary))
}

/// How the packages are split over layers: each one's layer and date, the streaming order.
struct Split {
    /// Each package's layer.
    layer_of: Vec<usize>,
    /// The layer of the generated files, above every package's.
    top: usize,
    /// The date each package's entries are clamped to: the newest of its layer's packages
    /// (never after the image's), so a layer's bytes do not depend on the other layers.
    mtime_of: Vec<u64>,
    /// Package indices in the order they are streamed: layer by layer, install order
    /// within each.
    order: Vec<usize>,
    /// Whether there are several layers.
    several: bool,
}

impl Split {
    fn new(opened: &[Opened], budget: usize, mtime: u64) -> Split {
        if budget <= 1 {
            return Split {
                layer_of: vec![0; opened.len()],
                top: 0,
                mtime_of: vec![mtime; opened.len()],
                order: (0..opened.len()).collect(),
                several: false,
            };
        }
        let members: Vec<crate::layering::Member<'_>> = opened
            .iter()
            .map(|p| crate::layering::Member {
                source: &p.source,
                size: p.size,
            })
            .collect();
        let layer_of = crate::layering::plan(&members, budget);
        let top = layer_of.iter().max().map_or(0, |m| m + 1);
        let mut newest = vec![0; top];
        for (p, &l) in opened.iter().zip(&layer_of) {
            newest[l] = newest[l].max(p.deb.control.mtime);
        }
        let mtime_of = layer_of.iter().map(|&l| newest[l].min(mtime)).collect();
        let mut order: Vec<usize> = (0..opened.len()).collect();
        order.sort_by_key(|&i| (layer_of[i], i));
        Split {
            layer_of,
            top,
            mtime_of,
            order,
            several: true,
        }
    }

    /// What each layer holds, bottom first; empty for one layer.
    fn contents(&self, opened: &[Opened]) -> Vec<LayerContents> {
        if !self.several {
            return Vec::new();
        }
        let mut layers = vec![LayerContents::default(); self.top + 1];
        for (p, &l) in opened.iter().zip(&self.layer_of) {
            if !layers[l].sources.contains(&p.source) {
                layers[l].sources.push(p.source.clone());
            }
            layers[l].packages.push(p.input.name.clone());
        }
        layers
    }
}

/// What streaming the packages leaves for the phases after it.
#[derive(Default)]
pub(crate) struct Streamed {
    /// dpkg's record of each package, in install order.
    pub(crate) installed: Vec<Installed>,
    /// What the SBOM says of each package.
    pub(crate) facts: Vec<PackageFacts>,
    /// Certificates for the CA bundle, by path.
    pub(crate) certificates: BTreeMap<String, Vec<u8>>,
    /// Paths files need at run time.
    pub(crate) needs: Vec<Need>,
    /// Files left out by `use`.
    pub(crate) filtered: usize,
    /// What files maintainer scripts copy hold, by path, for a copy in another layer than
    /// its source (one layer links it instead).
    pub(crate) copy_sources: BTreeMap<String, Vec<u8>>,
}

/// Phase 1: every package's data archive into the layer, the next ones decoded ahead on
/// other cores.
fn stream_packages<W: Write>(
    layer: &mut Layer<W>,
    opened: &[Opened],
    options: &Options,
    rules: &Rules<'_>,
    split: &Split,
    streamed: &mut Streamed,
) -> Result<(), ImageError> {
    let sources: Vec<Source<'_>> = split
        .order
        .iter()
        .map(|&i| &opened[i])
        .map(|p| Source {
            deb: &p.deb,
            sha256: &p.input.sha256,
            kept: p.input.unpacked.as_deref(),
            temp_dir: options.temp_dir.as_deref(),
            limit: p.limit,
        })
        .collect();
    let ahead = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Records land at their install position, whatever the streaming order.
    let mut records: Vec<Option<(Installed, PackageFacts)>> =
        std::iter::repeat_with(|| None).take(opened.len()).collect();
    std::thread::scope(|scope| -> Result<(), ImageError> {
        let mut prefetch = Prefetch::new(scope, &sources, ahead);
        for &index in &split.order {
            let data = prefetch
                .next_reader()
                .ok_or_else(|| ImageError::Write(std::io::Error::other("prefetch ended early")))?;
            layer.select(split.layer_of[index]);
            let rules = Rules {
                mtime: split.mtime_of[index],
                ..*rules
            };
            let (record, skipped, copyright) =
                add_package(layer, opened, index, data, &rules, streamed)?;
            let input = &opened[index].input;
            let facts = PackageFacts {
                name: input.name.clone(),
                version: input.version.clone(),
                arch: input.arch.clone(),
                control: record.control.clone(),
                copyright,
            };
            records[index] = Some((record, facts));
            streamed.filtered += skipped;
        }
        Ok(())
    })?;
    for (record, facts) in records.into_iter().flatten() {
        streamed.installed.push(record);
        streamed.facts.push(facts);
    }
    Ok(())
}

/// What applies to every package's entries while they stream in.
#[derive(Clone, Copy)]
struct Rules<'a> {
    /// The image below, whose packages own some paths already.
    base: Option<&'a crate::Base>,
    features: &'a Features,
    mtime: u64,
    script_dirs: &'a BTreeMap<String, Meta>,
    /// Directories that become links.
    migrations: &'a [Migration],
    /// Files whose content is kept: what scripts copy, when the image has several layers.
    kept: &'a HashSet<String>,
    /// Owners and modes scripts set.
    overrides: &'a crate::plan::Overrides,
}

/// Streams one package's data archive into the layer.
fn add_package<W: Write>(
    layer: &mut Layer<W>,
    opened: &[Opened],
    index: usize,
    data: impl std::io::Read,
    rules: &Rules<'_>,
    streamed: &mut Streamed,
) -> Result<(Installed, usize, Option<String>), ImageError> {
    let p = &opened[index];
    let name = &p.input.name;
    let copyright_path = format!("usr/share/doc/{name}/copyright");
    let conffiles = p
        .deb
        .control
        .conffiles
        .as_deref()
        .map(dpkg::conffile_paths)
        .unwrap_or_default();
    let mut conffile_sums: Vec<(String, String)> = Vec::new();
    let mut copyright = None;
    let read_err = |source| ImageError::Read {
        package: name.clone(),
        source,
    };
    let hostile = |entry: &str, reason: String| ImageError::Hostile {
        package: name.clone(),
        entry: entry.to_owned(),
        reason,
    };
    let mut record = Installed {
        info_name: if p.multi_arch_same {
            format!("{name}:{}", p.input.arch)
        } else {
            name.clone()
        },
        control: p.deb.control.control.clone(),
        md5sums: p.deb.control.md5sums.clone(),
        conffiles: p.deb.control.conffiles.clone(),
        build_info: p.deb.control.build_info.clone(),
        ..Installed::default()
    };
    let mut filtered = 0;
    let mut archive = tar::Archive::new(data);
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let raw_bytes = entry.path_bytes().into_owned();
        // A name that is not UTF-8 is refused, not renamed: the image must hold what the
        // package holds or nothing.
        let raw = String::from_utf8(raw_bytes).map_err(|e| {
            hostile(
                &String::from_utf8_lossy(e.as_bytes()),
                "path is not UTF-8".into(),
            )
        })?;
        let norm =
            normalize(std::path::Path::new(&raw)).map_err(|r| hostile(&raw, r.to_string()))?;
        if norm.is_empty() {
            record.listed.push("/.".into());
            continue;
        }
        let original = format!("/{norm}");
        let mut path = merge_usr(&norm);
        // A directory base-files turns into a link is not written; what lies below it goes
        // where the link will point.
        if rules.migrations.iter().any(|m| path == m.dir) {
            record.listed.push(original);
            continue;
        }
        path = relocate(&path, rules.migrations);
        // Follow the symlinks already in the layer, as unpacking will: `usr/lib/esc -> /etc`
        // then `usr/lib/esc/passwd` writes /etc/passwd, and is judged as /etc/passwd.
        let resolved = layer
            .resolve_parents(&path)
            .map_err(|r| hostile(&raw, r.to_owned()))?;
        let resolved = relocate(&merge_usr(&resolved), rules.migrations);
        if resolved != path {
            if resolved.is_empty()
                || GENERATED.contains(&resolved.as_str())
                || MERGED_DIRS.contains(&resolved.as_str())
            {
                return Err(hostile(
                    &raw,
                    format!("writes `/{resolved}` through a symlink"),
                ));
            }
            path = resolved;
        }
        let header = entry.header();
        let kind = header.entry_type();
        let meta = Meta {
            mode: header.mode().map_err(read_err)? & 0o7777,
            uid: header.uid().map_err(read_err)?,
            gid: header.gid().map_err(read_err)?,
            mtime: header.mtime().map_err(read_err)?.min(rules.mtime),
        };
        if MERGED_DIRS.contains(&norm.as_str()) {
            // `./bin/` itself: on merged /usr it is the symlink added at the end.
            record.listed.push(original);
            continue;
        }
        let meta = rules.overrides.apply(&path, meta);
        if kind.is_dir() {
            let meta = rules.script_dirs.get(&path).copied().unwrap_or(meta);
            if layer
                .get(&path)
                .is_some_and(|s| s.below && matches!(s.kind, Kind::Symlink(_)))
            {
                // A directory the base has as a link stays a link, as dpkg leaves it.
                record.listed.push(original);
                continue;
            }
            if layer.has_non_dir(&path) {
                return Err(conflict(layer, opened, &path, index));
            }
            layer.parents(&path, rules.mtime)?;
            layer.dir(&path, meta, Some(index))?;
            record.listed.push(original);
            continue;
        }
        if matches!(
            kind,
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo
        ) {
            return Err(hostile(
                &raw,
                "device nodes and FIFOs are not allowed in images".into(),
            ));
        }
        if !(kind.is_file() || kind.is_symlink() || kind.is_hard_link()) {
            return Err(hostile(&raw, format!("unsupported entry type {kind:?}")));
        }
        if GENERATED.contains(&path.as_str()) {
            continue;
        }
        if !rules.features.keeps(name, &path) {
            filtered += 1;
            continue;
        }
        if layer.get(&path).is_some() && !claim(layer, opened, &path, index, rules.base)? {
            continue;
        }
        layer.parents(&path, rules.mtime)?;
        let link_name = || -> Result<String, ImageError> {
            let bytes = entry
                .link_name_bytes()
                .ok_or_else(|| hostile(&raw, "link without target".into()))?;
            String::from_utf8(bytes.into_owned())
                .map_err(|_| hostile(&raw, "link target is not UTF-8".into()))
        };
        if kind.is_symlink() {
            let target = link_name()?;
            let target = relocate_link(&norm, &path, &target);
            if !symlink_stays_inside(&path, &target) {
                return Err(hostile(
                    &raw,
                    format!("symlink to `{target}` leaves the image"),
                ));
            }
            layer.symlink(&path, &target, meta, Some(index))?;
        } else if kind.is_hard_link() {
            let target = link_name()?;
            let target = normalize(std::path::Path::new(&target))
                .map_err(|r| hostile(&raw, format!("hard link target: {r}")))?;
            let target = relocate(&merge_usr(&target), rules.migrations);
            let target = layer
                .resolve_parents(&target)
                .map_err(|r| hostile(&raw, format!("hard link target: {r}")))?;
            if layer.get(&target).map(|s| &s.kind) != Some(&Kind::File) {
                return Err(hostile(
                    &raw,
                    format!("hard link to `{target}`, which is not a file of the image"),
                ));
            }
            if !layer.holds(&target) {
                return Err(hostile(
                    &raw,
                    format!(
                        "hard link to `{target}`, a file of another layer (build with fewer `layers`)"
                    ),
                ));
            }
            layer.hardlink(&path, &target, meta, Some(index))?;
        } else {
            let size = entry.size();
            if path == copyright_path {
                // Kept for the SBOM's licences; 4 MiB is far above any real copyright file.
                let text = read_small(&mut entry, size, 4 << 20).map_err(read_err)?;
                if text.len() as u64 != size {
                    return Err(hostile(&raw, "copyright file larger than 4 MiB".into()));
                }
                layer.file(&path, meta, size, text.as_slice(), Some(index))?;
                copyright = Some(String::from_utf8_lossy(&text).into_owned());
            } else if is_certificate(&path) {
                // Kept for the CA bundle that update-ca-certificates would build; a real
                // certificate is a few KB.
                const MAX_CERTIFICATE: u64 = 1 << 20;
                if size > MAX_CERTIFICATE {
                    return Err(hostile(
                        &raw,
                        format!("certificate of {size} bytes (at most {MAX_CERTIFICATE})"),
                    ));
                }
                let pem = read_small(&mut entry, size, MAX_CERTIFICATE).map_err(read_err)?;
                layer.file(&path, meta, size, pem.as_slice(), Some(index))?;
                streamed.certificates.insert(path.clone(), pem);
            } else if rules.kept.contains(&path) && size <= MAX_COPIED {
                let bytes = read_small(&mut entry, size, MAX_COPIED).map_err(read_err)?;
                layer.file(&path, meta, size, bytes.as_slice(), Some(index))?;
                streamed.copy_sources.insert(path.clone(), bytes);
            } else {
                let executable = meta.mode & 0o111 != 0 && !p.required;
                let shown = format!("/{path}");
                let scan = crate::needs::worth_scanning(name, &shown, executable);
                if conffiles.contains(&original) {
                    let mut hashing = Md5Reader {
                        inner: &mut entry,
                        hasher: <md5::Md5 as md5::Digest>::new(),
                    };
                    let mut sniffer = Sniffer::new(&mut hashing, scan);
                    layer.file(&path, meta, size, &mut sniffer, Some(index))?;
                    streamed
                        .needs
                        .extend(sniffer.needs(name, &shown, executable));
                    let md5 = hex::encode(md5::Digest::finalize(hashing.hasher));
                    conffile_sums.push((original.clone(), md5));
                } else {
                    let mut sniffer = Sniffer::new(&mut entry, scan);
                    layer.file(&path, meta, size, &mut sniffer, Some(index))?;
                    streamed
                        .needs
                        .extend(sniffer.needs(name, &shown, executable));
                }
            }
        }
        record.listed.push(original);
        record.kept.insert(norm);
    }
    // Read past tar's end marker to the end of the stream: a decoder checks its checksum
    // (zstd's, of a kept copy) only there.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(read_err)?;
    // In the order `conffiles` lists them, as dpkg writes them.
    conffile_sums.sort_by_key(|(path, _)| conffiles.iter().position(|c| c == path));
    record.conffile_sums = conffile_sums;
    Ok((record, filtered, copyright))
}

/// Reads an entry of `size` bytes kept whole in memory, never more than `limit`.
fn read_small(entry: impl std::io::Read, size: u64, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size.min(limit) as usize);
    std::io::Read::read_to_end(&mut entry.take(limit), &mut bytes)?;
    Ok(bytes)
}

/// MD5s what passes through (dpkg keeps conffiles' MD5s in its status file).
struct Md5Reader<R> {
    inner: R,
    hasher: md5::Md5,
}

impl<R: std::io::Read> std::io::Read for Md5Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        md5::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

/// Decides what happens when `path` is already in the layer: `Ok(true)` to write it again
/// (the new package Replaces the old owner), `Ok(false)` to keep what is there.
fn claim<W: Write>(
    layer: &mut Layer<W>,
    opened: &[Opened],
    path: &str,
    index: usize,
    base: Option<&crate::Base>,
) -> Result<bool, ImageError> {
    let Some(slot) = layer.get(path).cloned() else {
        return Ok(true);
    };
    if slot.below {
        let owner = base.and_then(|b| b.owners.get(path));
        return match owner {
            // Replacing a base package's file is what dpkg allows; anything else would
            // change the base's files under its feet.
            Some(owner) if opened[index].replaces.iter().any(|r| r.name == *owner) => Ok(true),
            Some(owner) => Err(ImageError::Conflict {
                path: path.to_owned(),
                first: format!("{owner} (in the base image)"),
                second: opened[index].input.name.clone(),
            }),
            None if slot.kind == Kind::Dir => Err(ImageError::Conflict {
                path: path.to_owned(),
                first: "a directory of the base image".into(),
                second: opened[index].input.name.clone(),
            }),
            // What the base generated (accounts, its SBOM) is rewritten later if at all.
            None => Ok(false),
        };
    }
    if slot.kind == Kind::Dir {
        // A directory and a file at one path, even within one package: two entries for one
        // path, which unpack differently depending on the tool.
        return Err(conflict(layer, opened, path, index));
    }
    let Some(owner) = slot.owner else {
        return Ok(false);
    };
    if owner == index || opened[owner].input.name == opened[index].input.name {
        return Ok(false); // the same file again, or a Multi-Arch: same sibling's copy
    }
    if replaces(&opened[index], &opened[owner]) {
        layer.reown(path, index);
        return Ok(true);
    }
    if replaces(&opened[owner], &opened[index]) {
        return Ok(false);
    }
    Err(conflict(layer, opened, path, index))
}

fn conflict<W: Write>(layer: &Layer<W>, opened: &[Opened], path: &str, index: usize) -> ImageError {
    if layer.get(path).and_then(|s| s.owner) == Some(index) {
        return ImageError::Hostile {
            package: opened[index].input.name.clone(),
            entry: format!("/{path}"),
            reason:
                "ships two different kinds of entry (a directory and a non-directory) at this path"
                    .into(),
        };
    }
    let first = layer
        .get(path)
        .and_then(|s| s.owner)
        .map_or_else(|| "staves".to_owned(), |o| opened[o].input.name.clone());
    ImageError::Conflict {
        path: path.to_owned(),
        first,
        second: opened[index].input.name.clone(),
    }
}

fn replaces(new: &Opened, old: &Opened) -> bool {
    let version = Version::parse(&old.input.version).ok();
    new.replaces
        .iter()
        .any(|r| r.name == old.input.name && version.as_ref().is_none_or(|v| r.admits_version(v)))
}

/// A relative symlink moved from `original` to `merged` (`bin/x` → `usr/bin/x`) must still
/// reach the same place: its target is recomputed from the new location.
fn relocate_link(original: &str, merged: &str, target: &str) -> String {
    if original == merged || target.starts_with('/') {
        return target.to_owned();
    }
    let mut resolved: Vec<&str> = original.split('/').collect();
    resolved.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if resolved.pop().is_none() {
                    return target.to_owned(); // climbs out: the caller refuses it
                }
            }
            _ => resolved.push(part),
        }
    }
    let resolved = merge_usr(&resolved.join("/"));
    let from: Vec<&str> = merged.split('/').collect();
    let to: Vec<&str> = resolved.split('/').collect();
    let from_dir = &from[..from.len() - 1];
    let common = from_dir.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from_dir.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// How many times the scripts are walked, at most, for the files they read.
const MAX_WALKS: usize = 4;

/// One pass over the data archive of each package that ships one of `paths` (layer paths)
/// or whose script looked for a directory (`list`): the files' bytes into `contents`, and
/// the package's directories and symlinks into the known paths. Read from the kept zstd
/// copy where there is one. Files above [`MAX_COPIED`] are left unknown.
fn scan_ahead(
    opened: &[Opened],
    list: &[String],
    paths: &[String],
    facts: &mut crate::plan::Facts,
    contents: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), ImageError> {
    use crate::host::Known;
    let wanted: HashSet<&str> = paths.iter().map(String::as_str).collect();
    for p in opened {
        let listing = list.contains(&p.input.name);
        let ships = facts.lists.get(&p.input.name).is_some_and(|files| {
            files
                .iter()
                .any(|f| crate::effects::image_path(f).is_some_and(|f| wanted.contains(f.as_str())))
        });
        if !listing && !ships {
            continue;
        }
        let read_err = |source| ImageError::Read {
            package: p.input.name.clone(),
            source,
        };
        let kept = p
            .input
            .unpacked
            .as_deref()
            .and_then(|path| crate::prefetch::kept_reader(path, &p.input.sha256));
        let data: Box<dyn std::io::Read> = match kept {
            Some(reader) => Box::new(reader),
            None => p.deb.data().map_err(|source| ImageError::Deb {
                package: p.input.name.clone(),
                source,
            })?,
        };
        let mut archive = tar::Archive::new(data);
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let kind = entry.header().entry_type();
            let Ok(raw) = std::str::from_utf8(&entry.path_bytes()).map(str::to_owned) else {
                continue;
            };
            let Ok(norm) = normalize(std::path::Path::new(&raw)) else {
                continue;
            };
            let path = merge_usr(&norm);
            if path.is_empty() {
                continue;
            }
            if kind.is_file() && entry.size() <= MAX_COPIED && wanted.contains(path.as_str()) {
                let size = entry.size();
                let bytes = read_small(&mut entry, size, MAX_COPIED).map_err(read_err)?;
                contents.insert(path, bytes);
            } else if listing && kind.is_dir() {
                facts.files.entry(path).or_insert(Known::Dir);
            } else if listing
                && kind.is_symlink()
                && let Ok(Some(target)) = entry.link_name()
            {
                let target = target.to_string_lossy().into_owned();
                facts.files.insert(path, Known::Symlink(target));
            }
        }
    }
    Ok(())
}

/// What the walk of the scripts knows before streaming: the paths packages ship (their
/// `md5sums` and `conffiles`, and the directories those lie in), the base's paths, and
/// which packages are installed.
fn script_facts(opened: &[Opened], base: Option<&crate::Base>) -> crate::plan::Facts {
    use crate::host::Known;
    let mut files: HashMap<String, Known> = HashMap::new();
    let mut add = |path: &str, known: Known| {
        let Some(path) = crate::effects::image_path(path) else {
            return;
        };
        crate::host::add_parents(&mut files, &path);
        files.insert(path, known);
    };
    if let Some(base) = base {
        for (path, kind) in &base.paths {
            let known = match kind {
                Kind::Dir => Known::Dir,
                Kind::Symlink(target) => Known::Symlink(target.clone()),
                _ => Known::File,
            };
            add(path, known);
        }
    }
    let mut installed = std::collections::BTreeSet::new();
    let mut lists: HashMap<String, Vec<String>> = HashMap::new();
    let mut debconf: HashMap<String, String> = HashMap::new();
    for p in opened {
        // Unattended, debconf answers each question with its default (the `config`
        // scripts that would set some first are not walked).
        for para in deb822::paragraphs(p.deb.control.templates.as_deref().unwrap_or_default()) {
            let Some(question) = para.get("Template") else {
                continue;
            };
            match para.get("Default") {
                Some(default) => {
                    debconf.insert(question.trim().to_owned(), default.trim().to_owned());
                }
                // A select has no valid empty answer: `db_get` is left to fail, and the
                // script's own fallback stands. Anything else reads as empty, as debconf
                // answers a question nobody set.
                None if para.get("Type").is_some_and(|t| t.trim() == "select") => {}
                None => {
                    debconf.insert(question.trim().to_owned(), String::new());
                }
            }
        }
        installed.insert(p.input.name.clone());
        let list = lists.entry(p.input.name.clone()).or_default();
        for line in p.deb.control.md5sums.as_deref().unwrap_or_default().lines() {
            if let Some((_, path)) = line.split_once("  ") {
                add(path, Known::File);
                list.push(format!("/{}", path.trim_start_matches('/')));
            }
        }
        for path in p
            .deb
            .control
            .conffiles
            .as_deref()
            .map(dpkg::conffile_paths)
            .unwrap_or_default()
        {
            add(&path, Known::File);
            // dh_md5sums leaves conffiles out of `md5sums`; dpkg -L lists them.
            lists
                .entry(p.input.name.clone())
                .or_default()
                .push(path.clone());
        }
    }
    let arch = opened
        .iter()
        .map(|p| p.input.arch.as_str())
        .find(|a| *a != "all")
        .unwrap_or("all")
        .to_owned();
    crate::plan::Facts {
        files,
        installed,
        lists,
        debconf,
        arch,
    }
}

/// The order dpkg configures the packages in: each after what it depends on (a cycle is
/// broken where it closes), otherwise in the given order.
fn configure_order(opened: &[Opened]) -> Vec<usize> {
    let by_name: HashMap<&str, usize> = opened
        .iter()
        .enumerate()
        .map(|(i, p)| (p.input.name.as_str(), i))
        .collect();
    let mut order = Vec::with_capacity(opened.len());
    let mut seen = vec![false; opened.len()];
    // Iterative depth-first walk: (package, next dependency to look at).
    for start in 0..opened.len() {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![(start, 0usize)];
        while let Some((i, next)) = stack.last_mut() {
            let i = *i;
            match opened[i].depends.get(*next) {
                Some(dep) => {
                    *next += 1;
                    if let Some(&d) = by_name.get(dep.as_str())
                        && !seen[d]
                    {
                        seen[d] = true;
                        stack.push((d, 0));
                    }
                }
                None => {
                    order.push(i);
                    stack.pop();
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::relocate_link;

    #[test]
    fn relocated_links_reach_the_same_place() {
        assert_eq!(relocate_link("bin/sh", "usr/bin/sh", "dash"), "dash");
        assert_eq!(relocate_link("bin/x", "usr/bin/x", "../usr/bin/y"), "y");
        assert_eq!(
            relocate_link("lib/a/b.so", "usr/lib/a/b.so", "../../etc/x"),
            "../../../etc/x"
        );
        assert_eq!(
            relocate_link("usr/bin/x", "usr/bin/x", "../../bin/y"),
            "../../bin/y"
        );
    }
}
