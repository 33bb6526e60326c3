//! The accounts the spec runs things as, and owns paths by, checked against the image's own `/etc/passwd` and
//! `/etc/group` once it is assembled: a name no account defines is a spec error at its
//! place, not a container that restart-loops on `unknown user` at `docker run`.

use staves_image::Summary;
use staves_spec::{Spec, SpecError};
use toml::Spanned;

use crate::PipelineError;

/// Every `user` and `group` of the spec (the image's, each service's and task's) names an
/// account of the image, or is numeric.
pub(super) fn check(spec: &Spec, summary: &Summary) -> Result<(), PipelineError> {
    let mut wanted: Vec<(&Spanned<String>, Kind)> = Vec::new();
    if let Some(user) = &spec.user {
        wanted.push((user, Kind::UserAndGroup));
    }
    for service in spec.services.values() {
        let service = service.get_ref();
        wanted.extend(service.user.iter().map(|u| (u, Kind::User)));
        wanted.extend(service.group.iter().map(|g| (g, Kind::Group)));
    }
    for task in spec.tasks.values() {
        let task = task.get_ref();
        wanted.extend(task.user.iter().map(|u| (u, Kind::User)));
        wanted.extend(task.group.iter().map(|g| (g, Kind::Group)));
    }
    // A path's owner, a volume's mount point among them, must be an account by name:
    // one the image lacks would leave the path to root, and the service that writes it
    // failing at run time.
    wanted.extend(
        spec.paths
            .iter()
            .filter_map(|p| p.owner.as_ref())
            .map(|o| (o, Kind::Owner)),
    );
    for (value, kind) in wanted {
        let text = value.get_ref();
        let (user, group) = match kind {
            Kind::UserAndGroup => match text.split_once(':') {
                Some((user, group)) => (Some(user), Some(group)),
                None => (Some(text.as_str()), None),
            },
            Kind::User | Kind::Owner => (Some(text.as_str()), None),
            Kind::Group => (None, Some(text.as_str())),
        };
        if let Some(user) = user.filter(|u| !is_id(u) || matches!(kind, Kind::Owner))
            && !summary.users.iter().any(|u| u == user)
        {
            let numeric = !matches!(kind, Kind::Owner);
            return Err(unknown(
                spec,
                value,
                "account",
                user,
                &summary.users,
                numeric,
            ));
        }
        if let Some(group) = group.filter(|g| !is_id(g))
            && !summary.groups.iter().any(|g| g == group)
        {
            return Err(unknown(spec, value, "group", group, &summary.groups, true));
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    /// The image's `user`: `name`, `name:group`, ids allowed on either side.
    UserAndGroup,
    User,
    Group,
    /// A `[[paths]]` owner: a name only, since it is looked up when the image is written.
    Owner,
}

/// Numeric ids need no entry: engines and s6 take them as they are.
fn is_id(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn unknown(
    spec: &Spec,
    value: &Spanned<String>,
    what: &str,
    name: &str,
    known: &[String],
    numeric: bool,
) -> PipelineError {
    let help = format!(
        "add it as `[[accounts]]` with `name = \"{name}\"`{} install the package that creates it; the image has: {}",
        if numeric {
            ", run as a numeric id, or"
        } else {
            " or"
        },
        known.join(", ")
    );
    PipelineError::Spec(SpecError::Invalid(Box::new(spec.diagnostic(
        value.span(),
        format!("the image has no {what} `{name}`"),
        Some(help),
    ))))
}
