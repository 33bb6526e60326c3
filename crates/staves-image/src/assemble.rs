//! From opened packages to a finished layer.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use staves_deb::deb::DebFile;
use staves_deb::deb822;
use staves_deb::relation::{self};

use crate::ImageError;
use crate::configure_order::{Relations, configure_order};
use crate::effects::apply_alternatives;
use crate::layer::Layer;
use crate::options::{ExtraPath, Options, PackageInput, Summary};
use crate::phases::{
    add_spec_content, run_time_checks, write_accounts, write_ca_bundle, write_dpkg_database,
    write_generated, write_skeleton,
};
use crate::plan::{ScriptPlan, plan};
use crate::stream::{Opened, Rules, Split, Streamed, name_owner, stream_packages};
use crate::walk::{MAX_WALKS, scan_ahead, script_facts};

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
/// first: the archive's packages grouped by source package (see [`crate::layering`]), then
/// what is generated from all of them (the dpkg database, accounts, the SBOM), then — when
/// the spec has any — the spec's own paths, volumes, services and packages (`own`), so a
/// change to them ships one layer. [`Summary::layers`] says which writers were used and
/// what each holds; the rest are given nothing. One writer is one layer holding everything.
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
            let names = |f: &str| -> Vec<Vec<String>> {
                relation::parse_field(field(f))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| d.alternatives.into_iter().map(|r| r.name).collect())
                    .collect()
            };
            let pre_depends = names("Pre-Depends");
            let relations = Relations {
                name: input.name.clone(),
                essential: field("Essential") == "yes",
                pre_depends: pre_depends.iter().flatten().cloned().collect(),
                depends: [pre_depends, names("Depends")].concat(),
                provides: names("Provides").into_iter().flatten().collect(),
            };
            let multi_arch_same = field("Multi-Arch") == "same";
            let required = field("Priority") == "required";
            let limit = deb.unpack_limit();
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
                relations,
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
    let relations: Vec<&Relations> = opened.iter().map(|p| &p.relations).collect();
    let scripts: Vec<crate::plan::Scripts<'_>> = configure_order(&relations)
        .into_iter()
        .map(|i| &opened[i])
        .map(|p| crate::plan::Scripts {
            package: p.input.name.as_str(),
            preinst: p.deb.control.preinst.as_deref(),
            postinst: p.deb.control.postinst.as_deref(),
            config: p.deb.control.config.as_deref(),
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
    let own_content = !options.extra_paths.is_empty() || !options.volumes.is_empty();
    let split = Split::new(opened, outs.len(), mtime, own_content);
    let mut layer = Layer::split(outs);
    if let Some(base) = base {
        layer = layer.over(base.paths.iter().cloned());
    }
    layer.declare_dirs(crate::effects::declared_dirs(options, &accounts, mtime));
    // Copies' content is needed where a copy cannot be a hard link to its source: in
    // another layer (a split image), or with an owner or mode of its own (a hard link
    // shares its source's).
    let kept: HashSet<String> = first
        .copies
        .iter()
        .filter(|(_, dest)| {
            split.several
                || crate::paths::image_path(dest)
                    .is_some_and(|d| crate::effects::owned_otherwise(overrides, &d, mtime))
        })
        .filter_map(|(source, _)| crate::paths::image_path(source))
        .collect();
    let rules = Rules {
        base,
        features: &options.features,
        mtime,
        script_dirs,
        migrations,
        kept: &kept,
        overrides,
        removed_links: &first.removed_links,
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
            | ExtraPath::Symlink { path, .. } => crate::paths::image_path(path),
        })
        .collect();
    let undeclared = |p: &str| crate::paths::image_path(p).is_none_or(|p| !declared.contains(&p));
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
            overrides,
        },
        mtime,
    )?;
    // ca-certificates' configuration lists what its `config` script found, which the walk
    // cannot run: every certificate, as a first install enables them.
    if let Some(conf) = writes.get_mut("etc/ca-certificates.conf") {
        let below = base.map(|b| b.certificates.keys());
        let all = below
            .into_iter()
            .flatten()
            .chain(streamed.certificates.keys());
        *conf = crate::certs_dir::conf(all);
    }
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
    // The spec's own files go to its own layer when it has one; what is generated after
    // them goes back to the generated files' layer.
    layer.select(split.own.unwrap_or(split.top));
    add_spec_content(&mut layer, options, &accounts, mtime, &mut streamed)?;
    layer.select(split.top);
    write_ca_bundle(&mut layer, &streamed.certificates, base, mtime)?;
    if let Some(base) = base {
        // What is generated from the installed packages covers the whole image.
        let mut facts = base.facts();
        facts.append(&mut streamed.facts);
        streamed.facts = facts;
    }
    write_generated(&mut layer, options, &streamed.facts, mtime)?;
    let (unmet, missing_libraries, missing_programs) =
        run_time_checks(&layer, options, std::mem::take(&mut streamed.needs));

    let Streamed {
        facts, filtered, ..
    } = streamed;
    let summary = Summary {
        missing_libraries,
        missing_programs,
        unmet,
        entries: layer.entries,
        content_bytes: layer.content_bytes,
        filtered,
        alternatives,
        mtime,
        packages: facts,
        layers: split.contents(opened),
        scripts: last.reports.clone(),
        users: accounts.users.iter().map(|u| u.name.clone()).collect(),
        groups: accounts.groups.iter().map(|g| g.name.clone()).collect(),
    };
    Ok((layer.finish_all()?, summary))
}

#[cfg(test)]
mod tests {
    use crate::stream::relocate_link;

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
