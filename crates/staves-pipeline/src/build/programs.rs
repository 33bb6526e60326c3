//! The programs the spec runs — its `command`, each service's and task's, each readiness
//! check's — looked for in the finished image: one the image does not hold is a spec error
//! at its place, not a container that restart-loops on `No such file or directory`.

use std::ops::Range;

use staves_image::{Program, Summary};
use staves_spec::{Spec, SpecError};

use crate::PipelineError;

/// The `PATH` engines give a container whose image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Each program the spec runs, where it may be, and where the spec names it.
pub(super) fn wanted(spec: &Spec) -> Vec<(Program, Range<usize>)> {
    let image_path = spec.environment.get("PATH").map(String::as_str);
    let image_workdir = spec.workdir.as_deref();
    let mut out = Vec::new();
    if let Some(program) = spec.command.first() {
        let span = spec.key_span("command");
        out.extend(locate(program, image_path, image_workdir).map(|p| (p, span)));
    }
    let processes = spec
        .services
        .values()
        .map(|s| (s.get_ref().process(), s.get_ref().ready.as_ref()))
        .chain(spec.tasks.values().map(|t| (t.get_ref().process(), None)));
    for (process, ready) in processes {
        let path = process
            .environment
            .get("PATH")
            .map(String::as_str)
            .or(image_path);
        let workdir = process
            .workdir
            .map(|w| w.get_ref().as_str())
            .or(image_workdir);
        let check = ready.and_then(|r| r.get_ref().check.as_ref());
        for command in std::iter::once(process.command).chain(check) {
            if let Some(program) = command.get_ref().first() {
                out.extend(locate(program, path, workdir).map(|p| (p, command.span())));
            }
        }
    }
    out
}

/// Where `program` may be: itself when it names a path, else each directory of `PATH`.
/// A relative path with no absolute working directory to start from is not looked for.
fn locate(program: &str, path: Option<&str>, workdir: Option<&str>) -> Option<Program> {
    let candidates = if program.starts_with('/') {
        vec![program.to_owned()]
    } else if program.contains('/') {
        let dir = workdir.filter(|w| w.starts_with('/'))?;
        vec![format!("{}/{program}", dir.trim_end_matches('/'))]
    } else {
        path.unwrap_or(DEFAULT_PATH)
            .split(':')
            .filter(|dir| dir.starts_with('/'))
            .map(|dir| format!("{}/{program}", dir.trim_end_matches('/')))
            .collect()
    };
    Some(Program {
        name: program.to_owned(),
        candidates,
    })
}

/// The first program the image lacks, as a spec error.
pub(super) fn check(spec: &Spec, summary: &Summary) -> Result<(), PipelineError> {
    let wanted = wanted(spec);
    let Some((program, span)) = summary
        .missing_programs
        .iter()
        .find_map(|&index| wanted.get(index))
    else {
        return Ok(());
    };
    let looked = if program.candidates.len() == 1 {
        format!("`{}` is not in it", program.candidates[0])
    } else {
        let dirs: Vec<&str> = program
            .candidates
            .iter()
            .filter_map(|c| c.rsplit_once('/').map(|(dir, _)| dir))
            .collect();
        format!("looked in {}", dirs.join(", "))
    };
    let help = format!(
        "{looked}; add the package that ships it to `packages` (Debian's package search names it), or fix the name"
    );
    Err(PipelineError::Spec(SpecError::Invalid(Box::new(
        spec.diagnostic(
            span.clone(),
            format!("the image has no program `{}`", program.name),
            Some(help),
        ),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_is_looked_for_in_each_directory_of_path() {
        let p = locate("nginx", None, None).expect("located");
        assert_eq!(p.candidates.len(), 6);
        assert!(p.candidates.contains(&"/usr/sbin/nginx".to_owned()));
        let p = locate("app", Some("/opt/app/bin:relative"), None).expect("located");
        assert_eq!(p.candidates, ["/opt/app/bin/app"]);
        assert_eq!(
            locate("/usr/bin/env", None, None)
                .expect("located")
                .candidates,
            ["/usr/bin/env"]
        );
        assert_eq!(
            locate("bin/run", None, Some("/srv/"))
                .expect("located")
                .candidates,
            ["/srv/bin/run"]
        );
        assert!(locate("bin/run", None, None).is_none());
    }
}
