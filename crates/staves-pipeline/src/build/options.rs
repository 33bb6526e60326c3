//! From the spec to assembly options and the image's run configuration.

use staves_image::{AccountRequest, Accounts, ExtraPath, Features, Options};
use staves_oci::ImageConfig;
use staves_spec::Spec;
use staves_spec::sources::TreeEntry;

use crate::base::BaseImage;
use crate::error::PipelineError;

pub(super) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Assembly options from the spec, on `base` when it builds on one.
pub fn options(
    spec: &Spec,
    base: Option<&BaseImage>,
    source_date_epoch: Option<u64>,
) -> Result<Options, PipelineError> {
    let flags = |list: &[toml::Spanned<String>]| {
        list.iter().map(|f| f.get_ref().clone()).collect::<Vec<_>>()
    };
    let mut features =
        Features::new(&flags(&spec.use_flags)).map_err(|error| PipelineError::UseFlag {
            package: None,
            error,
        })?;
    for (name, opts) in &spec.package_options {
        if !opts.get_ref().use_flags.is_empty() {
            features
                .set_package(name, &flags(&opts.get_ref().use_flags))
                .map_err(|error| PipelineError::UseFlag {
                    package: Some(name.clone()),
                    error,
                })?;
        }
    }
    let mut accounts = base.map_or_else(Accounts::debian_base, |b| b.accounts.clone());
    for a in &spec.accounts {
        if let Some(base) = base
            && base.accounts.user(a.name.get_ref()).is_some()
        {
            return Err(PipelineError::AccountInBase {
                account: a.name.get_ref().clone(),
                base: base.name.clone(),
            });
        }
        accounts
            .add(&AccountRequest {
                name: a.name.get_ref().clone(),
                uid: a.uid,
                group: a.group.clone(),
                gid: a.gid,
                home: a.home.clone(),
                shell: a.shell.clone(),
                groups: a.groups.clone(),
            })
            .map_err(PipelineError::Accounts)?;
    }
    let mut extra_paths = Vec::new();
    for p in &spec.paths {
        let mode = p
            .mode
            .as_ref()
            .and_then(|m| u32::from_str_radix(m.get_ref(), 8).ok());
        let kind = p
            .kind
            .as_ref()
            .map(|k| k.get_ref().as_str())
            .unwrap_or(if p.target.is_some() {
                "symlink"
            } else if p.content.is_some() || p.source.is_some() {
                "file"
            } else {
                "dir"
            });
        let path = p.path.get_ref().clone();
        let owner = p.owner.as_ref().map(|o| o.get_ref().clone());
        if let Some(source) = &p.source {
            let dir = spec.base_dir().join(source.get_ref());
            if dir.is_dir() {
                copy_tree(&mut extra_paths, &dir, &path, mode, &owner)?;
                continue;
            }
        }
        extra_paths.push(match kind {
            "symlink" => ExtraPath::Symlink {
                path,
                target: p.target.clone().unwrap_or_default(),
            },
            "file" => {
                let content = match (&p.content, &p.source) {
                    (Some(text), _) => text.clone().into_bytes(),
                    (None, Some(source)) => {
                        let file = spec.base_dir().join(source.get_ref());
                        staves_fs::read_regular(&file, staves_spec::sources::MAX_SOURCE).map_err(
                            |error| PipelineError::PathSource {
                                file: file.clone(),
                                error,
                            },
                        )?
                    }
                    (None, None) => Vec::new(),
                };
                ExtraPath::File {
                    path,
                    mode: mode.unwrap_or(0o644),
                    owner: owner.clone(),
                    content,
                }
            }
            _ => ExtraPath::Dir {
                path,
                mode: mode.unwrap_or(0o755),
                owner: owner.clone(),
            },
        });
    }
    extra_paths.extend(staves_services::supervision(spec).into_iter().flatten());
    Ok(Options {
        features,
        accounts,
        mtime: source_date_epoch,
        extra_paths,
        generated: Vec::new(),
        build_info: false,
        temp_dir: None,
        volumes: spec.volumes.clone(),
        base: base.map(|b| b.system.clone()),
        user: spec.user.as_ref().map(|u| u.get_ref().clone()),
        programs: super::programs::wanted(spec)
            .into_iter()
            .map(|(program, _)| program)
            .collect(),
    })
}

/// A source directory as extra paths: the directory itself, then every entry below it.
/// `mode` applies to files (else 0755 for executables, 0644 for the rest), directories are
/// 0755, and `owner` owns all of them.
fn copy_tree(
    out: &mut Vec<ExtraPath>,
    dir: &std::path::Path,
    target: &str,
    mode: Option<u32>,
    owner: &Option<String>,
) -> Result<(), PipelineError> {
    let usage = |(message, help): (String, String)| PipelineError::PathTree { message, help };
    let entries = staves_spec::sources::walk_tree(dir).map_err(usage)?;
    let root = target.trim_end_matches('/');
    out.push(ExtraPath::Dir {
        path: root.to_owned(),
        mode: 0o755,
        owner: owner.clone(),
    });
    let image_path = |relative: &std::path::Path| format!("{root}/{}", relative.display());
    for entry in entries {
        out.push(match entry {
            TreeEntry::Dir(relative) => ExtraPath::Dir {
                path: image_path(&relative),
                mode: 0o755,
                owner: owner.clone(),
            },
            TreeEntry::Symlink(relative, link) => ExtraPath::Symlink {
                path: image_path(&relative),
                target: link,
            },
            TreeEntry::File(relative, executable) => {
                let file = dir.join(&relative);
                let content = staves_fs::read_regular(&file, staves_spec::sources::MAX_SOURCE)
                    .map_err(|error| PipelineError::PathSource {
                        file: file.clone(),
                        error,
                    })?;
                ExtraPath::File {
                    path: image_path(&relative),
                    mode: mode.unwrap_or(if executable { 0o755 } else { 0o644 }),
                    owner: owner.clone(),
                    content,
                }
            }
        });
    }
    Ok(())
}

/// The image's run configuration: the spec's, over the base's where it builds on one (as
/// a Dockerfile's `FROM`: environment and labels merge key by key, ports and volumes add
/// up, and a new entrypoint drops the base's default arguments).
pub fn image_config(spec: &Spec, base: Option<&serde_json::Value>) -> ImageConfig {
    let own = own_config(spec);
    let Some(base) = base else { return own };
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    // The base's variables, each the spec sets replaced in place, new ones after.
    let mut env: Vec<String> = strings(&base["Env"]);
    for (key, value) in &spec.environment {
        let var = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|e| e.split('=').next() == Some(key.as_str()))
        {
            Some(old) => *old = var,
            None => env.push(var),
        }
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.into());
    }
    let mut labels: std::collections::BTreeMap<String, String> = base["Labels"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    labels.extend(own.labels);
    let mut exposed_ports = own.exposed_ports;
    exposed_ports.extend(
        keys(&base["ExposedPorts"])
            .into_iter()
            .map(|p| (p, Default::default())),
    );
    let mut volumes = own.volumes;
    volumes.extend(
        keys(&base["Volumes"])
            .into_iter()
            .map(|p| (p, Default::default())),
    );
    let (entrypoint, cmd) = if !own.entrypoint.is_empty() {
        (own.entrypoint, own.cmd)
    } else if !spec.cmd.is_empty() {
        (strings(&base["Entrypoint"]), own.cmd)
    } else {
        (strings(&base["Entrypoint"]), strings(&base["Cmd"]))
    };
    ImageConfig {
        user: own.user.or_else(|| text(&base["User"])),
        exposed_ports,
        env,
        entrypoint,
        cmd,
        volumes,
        working_dir: own.working_dir.or_else(|| text(&base["WorkingDir"])),
        labels,
        stop_signal: own.stop_signal.or_else(|| text(&base["StopSignal"])),
    }
}

fn own_config(spec: &Spec) -> ImageConfig {
    let mut env: Vec<String> = Vec::new();
    if !spec.environment.contains_key("PATH") {
        env.push(DEFAULT_PATH.into());
    }
    env.extend(spec.environment.iter().map(|(k, v)| format!("{k}={v}")));
    ImageConfig {
        user: spec.user.as_ref().map(|u| u.get_ref().clone()),
        exposed_ports: spec
            .ports
            .iter()
            .map(|p| {
                let p = p.get_ref();
                (
                    if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    },
                    Default::default(),
                )
            })
            .collect(),
        env,
        entrypoint: staves_services::entrypoint(spec),
        cmd: spec.cmd.clone(),
        volumes: spec
            .volumes
            .iter()
            .map(|v| (v.clone(), Default::default()))
            .collect(),
        working_dir: spec.workdir.clone(),
        labels: spec.labels.clone(),
        stop_signal: spec.stop_signal.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_spec_knows_every_content_class_assembly_has() {
        assert_eq!(
            staves_image::features::known_flags(),
            staves_spec::USE_FLAGS,
            "a flag the spec accepts is a class assembly applies, and the other way round"
        );
    }
}
