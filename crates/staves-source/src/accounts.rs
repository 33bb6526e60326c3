//! A recipe's `[[users]]` and `[[dirs]]` as the `postinst` a Debian packager would write:
//! system accounts made with `adduser --system` unless they exist, directories made and
//! given their owner and mode on every configure. A real `dpkg -i` runs it; Staves' image
//! assembly walks it like any package's script, so the image gets the same accounts and
//! modes without running anything.

use staves_spec::recipe::Recipe;

/// The `postinst` of `package` (the recipe's main package), when the recipe declares any
/// account or directory.
pub(crate) fn postinst(recipe: &Recipe, package: &str) -> Option<String> {
    if recipe.users.is_empty() && recipe.dirs.is_empty() {
        return None;
    }
    let mut text = format!(
        "#!/bin/sh\n# postinst of {package}, written by Staves from its recipe's [[users]] and [[dirs]].\nset -e\n\nif [ \"$1\" = configure ]; then\n"
    );
    for user in &recipe.users {
        let user = user.get_ref();
        text.push_str(&format!(
            "\tif ! getent passwd {name} >/dev/null; then\n\t\tadduser --system --group --quiet --home {home} --no-create-home --shell {shell} {name}\n\tfi\n",
            name = user.name,
            home = user.home.as_deref().unwrap_or("/nonexistent"),
            shell = user.shell.as_deref().unwrap_or("/usr/sbin/nologin"),
        ));
    }
    for dir in &recipe.dirs {
        let dir = dir.get_ref();
        let owner = dir.owner.as_deref().unwrap_or("root");
        let group = dir.group.as_deref().unwrap_or(owner);
        text.push_str(&format!(
            "\tmkdir -p {path}\n\tchown {owner}:{group} {path}\n\tchmod {mode} {path}\n",
            path = dir.path,
            mode = dir.mode.as_deref().unwrap_or("0755"),
        ));
    }
    text.push_str("fi\n");
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_and_directories_become_a_postinst() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("src")).expect("mkdir");
        let recipe = Recipe::parse(
            "name = \"ab\"\nversion = \"1-1\"\nsource = \"src\"\ninstall = \"true\"\n\n[[users]]\nname = \"_ab\"\nhome = \"/var/lib/ab\"\n\n[[dirs]]\npath = \"/var/lib/ab\"\nowner = \"_ab\"\nmode = \"0750\"\n",
            &dir.path().join("r.toml"),
        )
        .expect("recipe");
        let text = postinst(&recipe, "ab").expect("a postinst");
        assert!(text.contains("adduser --system --group --quiet --home /var/lib/ab --no-create-home --shell /usr/sbin/nologin _ab"), "{text}");
        assert!(
            text.contains("chown _ab:_ab /var/lib/ab") && text.contains("chmod 0750 /var/lib/ab"),
            "{text}"
        );
        let bad = Recipe::parse(
            "name = \"ab\"\nversion = \"1-1\"\nsource = \"src\"\ninstall = \"true\"\n\n[[dirs]]\npath = \"/var/$(reboot)\"\n",
            &dir.path().join("r.toml"),
        );
        assert!(bad.is_err(), "a path with shell in it is refused");
    }
}
