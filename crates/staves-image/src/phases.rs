//! The phases of assembly after the packages are streamed in: the system skeleton, the
//! dpkg database, accounts, what the spec adds, the CA bundle, generated files, and the
//! run-time checks of the finished image. Each writes into the layer what one step of a
//! real installation would leave.

use std::collections::BTreeMap;
use std::io::Write;

use crate::ImageError;
use crate::accounts::Accounts;
use crate::dpkg::PackageFacts;
use crate::dpkg::{self, Installed};
use crate::effects::{add_extra_paths, apply_links_and_copies};
use crate::layer::{Layer, Meta};
use crate::needs::{Need, Sniffer};
use crate::options::{ExtraPath, Options};
use crate::paths::image_path;
use crate::paths::{CA_BUNDLE, is_certificate};
use crate::paths::{MERGED_DIRS, merge_usr};
use crate::plan::Migration;
use crate::stream::Streamed;

/// Phase 2: the system skeleton: merged-/usr links, the directories base-files would
/// provide, what scripts would create, directories that become links, links and copies.
pub(crate) fn write_skeleton<W: Write>(
    layer: &mut Layer<W>,
    script_dirs: &BTreeMap<String, Meta>,
    migrations: &[Migration],
    links: &[(String, String)],
    copies: crate::effects::Copies<'_>,
    mtime: u64,
) -> Result<(), ImageError> {
    // Merged /usr: the top-level directories are links into usr/.
    for dir in MERGED_DIRS {
        let target = format!("usr/{dir}");
        if layer.get(&target).is_some() && layer.get(dir).is_none() {
            layer.symlink(dir, &target, Meta::root(0o777, mtime), None)?;
        }
    }
    // What base-files would provide when it is not in the set: programs expect these.
    for (path, mode) in [
        ("etc", 0o755),
        ("root", 0o700),
        ("run", 0o755),
        ("tmp", 0o1777),
        ("var", 0o755),
        ("var/tmp", 0o1777),
    ] {
        layer.dir(path, Meta::root(mode, mtime), None)?;
    }
    for (path, meta) in script_dirs {
        layer.parents(path, mtime)?;
        layer.dir(path, *meta, None)?;
    }
    for m in migrations {
        if layer.get(&m.dir).is_none() {
            layer.parents(&m.replacement, mtime)?;
            layer.dir(&m.replacement, Meta::root(0o755, mtime), None)?;
            layer.parents(&m.dir, mtime)?;
            layer.symlink(&m.dir, &m.target, Meta::root(0o777, mtime), None)?;
        }
    }
    apply_links_and_copies(layer, links, copies, mtime)
}

/// Phase 3: the dpkg database.
pub(crate) fn write_dpkg_database<W: Write>(
    layer: &mut Layer<W>,
    base_status: Option<&str>,
    installed: &[Installed],
    mtime: u64,
    build_info: bool,
) -> Result<(), ImageError> {
    // The dpkg database, in the layout dpkg itself would leave (info format 1 names
    // `Multi-Arch: same` packages' files `name:arch`), so dpkg and apt work in derived images.
    layer.parents("var/lib/dpkg/info/format", mtime)?;
    layer.text("var/lib/dpkg/info/format", 0o644, mtime, "1\n")?;
    for dir in ["var/lib/dpkg/updates", "var/lib/dpkg/triggers"] {
        layer.dir(dir, Meta::root(0o755, mtime), None)?;
    }
    layer.text("var/lib/dpkg/available", 0o644, mtime, "")?;
    layer.text(
        "var/lib/dpkg/status",
        0o644,
        mtime,
        &(base_paragraphs(base_status) + &dpkg::status(installed)),
    )?;
    for p in installed {
        let base = format!("var/lib/dpkg/info/{}", p.info_name);
        layer.text(&format!("{base}.list"), 0o644, mtime, &dpkg::list(p))?;
        if let Some(sums) = dpkg::md5sums(p) {
            layer.text(&format!("{base}.md5sums"), 0o644, mtime, &sums)?;
        }
        if let Some(conffiles) = &p.conffiles {
            layer.text(&format!("{base}.conffiles"), 0o644, mtime, conffiles)?;
        }
        for (member, text) in p.build_info.iter().filter(|_| build_info) {
            layer.text(&format!("{base}.{member}"), 0o644, mtime, text)?;
        }
    }
    Ok(())
}

/// Phase 4: accounts, their homes, and the login shells.
pub(crate) fn write_accounts<W: Write>(
    layer: &mut Layer<W>,
    accounts: &Accounts,
    shells: &[String],
    shells_file: Option<&str>,
    shadowed: bool,
    overrides: &crate::plan::Overrides,
    mtime: u64,
) -> Result<(), ImageError> {
    // Without passwd's `shadowconfig on` (the package is not in the image), Debian keeps
    // base-passwd's files as they are: locked (`*`) in place, and no shadow files.
    let files = if shadowed {
        vec![
            ("etc/passwd", 0o644, accounts.passwd()),
            ("etc/group", 0o644, accounts.group_file()),
            ("etc/shadow", 0o640, accounts.shadow()),
            ("etc/gshadow", 0o640, accounts.gshadow()),
        ]
    } else {
        vec![
            ("etc/passwd", 0o644, unshadowed(&accounts.passwd())),
            ("etc/group", 0o644, unshadowed(&accounts.group_file())),
        ]
    };
    for (path, mode, text) in files {
        // passwd's `shadowconfig on` gives the shadow files to group `shadow`.
        let meta = overrides.apply(path, Meta::root(mode, mtime));
        layer.text_as(path, meta, &text)?;
    }
    // Homes, as adduser creates them; one a package ships is left as it is.
    for home in &accounts.homes {
        let Some(path) = image_path(&home.path) else {
            continue;
        };
        if layer.get(&path).is_none() {
            layer.parents(&path, mtime)?;
            let meta = Meta {
                mode: home.mode,
                uid: u64::from(home.uid),
                gid: u64::from(home.gid),
                mtime,
            };
            layer.dir(&path, meta, None)?;
        }
    }
    // debianutils' update-shells writes the file from its template and the packages'
    // `shells.d`; shells registered with add-shell are added after what it lists.
    if !shells.is_empty() || shells_file.is_some() {
        let mut text = shells_file
            .unwrap_or("# /etc/shells: valid login shells\n")
            .to_owned();
        let mut seen: std::collections::HashSet<&str> = text.lines().collect();
        let mut added = Vec::new();
        for shell in shells {
            if seen.insert(shell.as_str()) {
                added.push(shell.as_str());
            }
        }
        for shell in added {
            text.push_str(shell);
            text.push('\n');
        }
        layer.text("etc/shells", 0o644, mtime, &text)?;
    }
    Ok(())
}

/// `passwd` or `group` lines with the password field `*` instead of `x` (in the shadow file).
fn unshadowed(text: &str) -> String {
    text.lines()
        .map(|line| match line.split_once(':') {
            Some((name, rest)) => {
                let rest = rest.split_once(':').map_or("", |(_, r)| r);
                format!("{name}:*:{rest}\n")
            }
            None => format!("{line}\n"),
        })
        .collect()
}

/// Phase 5: what the spec adds (`paths`, `volumes`), looked at as package files are.
pub(crate) fn add_spec_content<W: Write>(
    layer: &mut Layer<W>,
    options: &Options,
    accounts: &Accounts,
    mtime: u64,
    streamed: &mut Streamed,
) -> Result<(), ImageError> {
    add_extra_paths(layer, &options.extra_paths, accounts, mtime)?;
    add_volumes(layer, options, mtime)?;
    for extra in &options.extra_paths {
        if let ExtraPath::File {
            path,
            content,
            mode,
            ..
        } = extra
            && let Some(path) = image_path(path)
        {
            let shown = format!("/{path}");
            let executable = mode & 0o111 != 0;
            let scan = crate::needs::worth_scanning("staves", &shown, executable);
            let mut sniffer = Sniffer::new(content.as_slice(), scan);
            std::io::copy(&mut sniffer, &mut std::io::sink()).map_err(ImageError::write)?;
            streamed
                .needs
                .extend(sniffer.needs("staves", &shown, executable));
            if is_certificate(&path) {
                streamed.certificates.insert(path, content.clone());
            }
        }
    }
    Ok(())
}

/// Phase 6: the CA bundle update-ca-certificates would build.
/// On a base, the bundle is rebuilt only when the new layer brings certificates, from the
/// base's and the new ones together.
pub(crate) fn write_ca_bundle<W: Write>(
    layer: &mut Layer<W>,
    new: &BTreeMap<String, Vec<u8>>,
    base: Option<&crate::Base>,
    mtime: u64,
) -> Result<(), ImageError> {
    let store_due = keystore_due(layer, !new.is_empty());
    // Most layers bring no certificate and no keystore: nothing is parsed for them.
    if new.is_empty() && !store_due {
        return Ok(());
    }
    let below = base.map(|b| &b.certificates);
    let certificates: BTreeMap<&String, &Vec<u8>> =
        below.into_iter().flatten().chain(new).collect();
    let links = crate::certs_dir::links(&certificates);
    let bundle_free = layer.get(CA_BUNDLE).is_none_or(|s| s.below);
    if !new.is_empty() && bundle_free {
        // update-ca-certificates: every packaged certificate (all are enabled by default),
        // then the local ones, concatenated in path order.
        let mut bundle = String::new();
        for pem in certificates.values() {
            let text = String::from_utf8_lossy(pem);
            bundle.push_str(text.trim_end());
            bundle.push('\n');
        }
        layer.text(CA_BUNDLE, 0o644, mtime, &bundle)?;
        // The directory's links: those of the new certificates (a base has its own), numbered
        // among all of them.
        for link in &links {
            if new.contains_key(&link.certificate) && layer.get(&link.path).is_none() {
                layer.parents(&link.path, mtime)?;
                layer.symlink(&link.path, &link.target, Meta::root(0o777, mtime), None)?;
            }
        }
    }
    if store_due {
        write_java_keystore(layer, &certificates, &links, mtime)?;
    }
    Ok(())
}

/// Whether Java's `cacerts` is to be written: `ca-certificates-java` is in the image, no
/// package wrote the store in this layer, and this layer brings the tool or certificates.
fn keystore_due<W: Write>(layer: &Layer<W>, new_certificates: bool) -> bool {
    use crate::java_keystore::{CACERTS, TOOL};
    let store_free = layer.get(CACERTS).is_none_or(|s| s.below);
    layer
        .get(TOOL)
        .is_some_and(|tool| store_free && (new_certificates || !tool.below))
}

/// Java's `cacerts`, from every certificate below and in this layer.
fn write_java_keystore<W: Write>(
    layer: &mut Layer<W>,
    certificates: &BTreeMap<&String, &Vec<u8>>,
    links: &[crate::certs_dir::CertLink],
    mtime: u64,
) -> Result<(), ImageError> {
    use crate::java_keystore::{CACERTS, DEFAULT_PASSWORD, Trusted, alias, jks};
    // The tool adds the certificate behind each `NAME.pem` link and skips what Java
    // cannot parse.
    let ders: Vec<(String, Vec<u8>)> = links
        .iter()
        .filter(|l| l.target.starts_with('/') && l.path.ends_with(".pem"))
        .filter_map(|l| {
            let der = crate::certs_dir::certificate_der(certificates.get(&l.certificate)?)?;
            Some((alias(&l.path), der))
        })
        .collect();
    let entries: Vec<Trusted<'_>> = ders
        .iter()
        .map(|(alias, der)| Trusted {
            alias: alias.clone(),
            der,
        })
        .collect();
    let store = jks(&entries, DEFAULT_PASSWORD, mtime);
    layer.parents(CACERTS, mtime)?;
    layer.file(
        CACERTS,
        Meta::root(0o644, mtime),
        store.len() as u64,
        store.as_slice(),
        None,
    )?;
    Ok(())
}

/// Phase 7: files rendered from what was installed (the SBOM).
pub(crate) fn write_generated<W: Write>(
    layer: &mut Layer<W>,
    options: &Options,
    facts: &[PackageFacts],
    mtime: u64,
) -> Result<(), ImageError> {
    for generated in &options.generated {
        let path = image_path(&generated.path).ok_or_else(|| ImageError::Hostile {
            package: "staves".into(),
            entry: generated.path.clone(),
            reason: "generated files must stay inside the image".into(),
        })?;
        let content = (generated.render)(facts, mtime);
        if let Some(slot) = layer.get(&path).filter(|s| !s.below) {
            return Err(ImageError::Reserved {
                path,
                owner: slot.owner,
            });
        }
        layer.parents(&path, mtime)?;
        layer.file(
            &path,
            Meta::root(0o644, mtime),
            content.len() as u64,
            content.as_slice(),
            None,
        )?;
    }
    Ok(())
}

/// Phase 8: what the finished image lacks at run time: shells that files need, libraries
/// the spec's programs need, the programs the spec runs.
pub(crate) fn run_time_checks<W: Write>(
    layer: &Layer<W>,
    options: &Options,
    needs: Vec<Need>,
) -> (
    Vec<crate::needs::Unmet>,
    Vec<crate::libraries::MissingLibrary>,
    Vec<usize>,
) {
    let exists = |wanted: &str| {
        let path = merge_usr(wanted.trim_start_matches('/'));
        layer.get(&path).is_some()
            || layer
                .resolve_parents(&path)
                .is_ok_and(|real| layer.get(&real).is_some())
    };
    let unmet = crate::needs::unmet(needs, exists);
    let missing_programs = options
        .programs
        .iter()
        .enumerate()
        .filter(|(_, program)| !program.candidates.iter().any(|c| exists(c)))
        .map(|(index, _)| index)
        .collect();
    let lib_dirs: Vec<String> = layer
        .paths()
        .filter_map(|p| p.strip_prefix("usr/lib/"))
        .filter(|rest| !rest.contains('/') && rest.contains("-linux-"))
        .map(|triplet| format!("/usr/lib/{triplet}"))
        .collect();
    let mut missing_libraries = Vec::new();
    for extra in &options.extra_paths {
        if let ExtraPath::File { path, content, .. } = extra
            && let Some(needs) = crate::libraries::needs_of(content)
        {
            let file = format!("/{}", image_path(path).unwrap_or_default());
            missing_libraries.extend(crate::libraries::missing(&file, &needs, &lib_dirs, exists));
        }
    }
    (unmet, missing_libraries, missing_programs)
}

/// Each volume exists, with the owner and mode [`crate::effects::declared_dirs`] gives it.
pub(crate) fn add_volumes<W: Write>(
    layer: &mut Layer<W>,
    options: &Options,
    mtime: u64,
) -> Result<(), ImageError> {
    for volume in &options.volumes {
        let path = image_path(volume).ok_or_else(|| ImageError::Hostile {
            package: "spec".into(),
            entry: volume.clone(),
            reason: "volumes must stay inside the image".into(),
        })?;
        layer.parents(&path, mtime)?;
        layer.declared_dir(&path)?;
    }
    Ok(())
}

/// A base image's status paragraphs, each ending in one blank line, none empty.
fn base_paragraphs(base_status: Option<&str>) -> String {
    let mut out = String::new();
    for paragraph in base_status.unwrap_or_default().split("\n\n") {
        let paragraph = paragraph.trim_matches('\n');
        if !paragraph.trim().is_empty() {
            out.push_str(paragraph);
            out.push_str("\n\n");
        }
    }
    out
}
