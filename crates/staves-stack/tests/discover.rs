//! A stack's graph from specs on disk: found by walking or by a workspace file, bases
//! outside the tree pulled in, bases before what is built on them, `only` narrowing it,
//! and circles, duplicates and unknown bases refused.

use std::path::Path;

use staves_stack::{BaseSource, Stack, StackError, WORKSPACE_FILE};

fn spec(dir: &Path, name: &str, base: Option<&str>) {
    std::fs::create_dir_all(dir).expect("dir");
    let base = base
        .map(|b| format!("base = \"{b}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.join("staves.toml"),
        format!("name = \"{name}\"\n{base}packages = [\"bash\"]\n"),
    )
    .expect("spec");
}

fn names(stack: &Stack, order: &[usize]) -> Vec<String> {
    order.iter().map(|&i| stack.nodes[i].name.clone()).collect()
}

#[test]
fn bases_come_first_and_only_narrows_to_what_is_needed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("stack");
    spec(&root.join("app"), "app", Some("../runtime"));
    spec(&root.join("runtime"), "runtime", Some("../../golden"));
    spec(&root.join("web"), "web", Some("../../golden"));
    spec(&tmp.path().join("golden"), "golden", None);
    // An OCI layout below the root is output, not a spec, even with a staves.toml inside.
    spec(&root.join("out/app"), "copy", None);
    std::fs::write(root.join("out/app/oci-layout"), "{}").expect("marker");

    let stack = Stack::discover(&root).expect("discovers");
    assert_eq!(
        stack.nodes.len(),
        4,
        "golden is pulled in: {:?}",
        stack.nodes
    );
    let order = stack.order(&[]).expect("orders");
    let order = names(&stack, &order);
    let at = |n: &str| order.iter().position(|o| o == n).expect("in order");
    assert!(at("golden") < at("runtime") && at("runtime") < at("app") && at("golden") < at("web"));
    let only = stack
        .order(&[stack.find("app").expect("app")])
        .expect("orders");
    assert_eq!(names(&stack, &only), ["golden", "runtime", "app"]);

    // A change to runtime makes app stale, not golden or web; a change to golden, all.
    let find = |n: &str| stack.find(n).expect("known");
    let mut stale = names(&stack, &stack.with_dependents(&[find("runtime")]));
    stale.sort();
    assert_eq!(stale, ["app", "runtime"]);
    assert_eq!(stack.with_dependents(&[find("golden")]).len(), 4);
    assert!(stack.with_dependents(&[]).is_empty());

    // A workspace file lists members instead of the walk.
    std::fs::write(root.join(WORKSPACE_FILE), "members = [\"web\"]\n").expect("file");
    let listed = Stack::discover(&root).expect("discovers");
    let found: Vec<&str> = listed.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(found, ["web", "golden"]);
    assert_eq!(listed.nodes[0].base, Some(BaseSource::Spec(1)));
}

#[test]
fn circles_duplicates_and_unknown_bases_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    spec(&tmp.path().join("a"), "a", Some("../b"));
    spec(&tmp.path().join("b"), "b", Some("../c"));
    spec(&tmp.path().join("c"), "c", Some("../a"));
    let stack = Stack::discover(tmp.path()).expect("discovers");
    let error = stack.order(&[]).expect_err("a circle").to_string();
    // Following bases around a circle ends.
    assert_eq!(stack.with_dependents(&[]), Vec::<usize>::new());
    assert!(
        error.contains("a is built on b is built on c is built on a"),
        "{error}"
    );

    let tmp = tempfile::tempdir().expect("tmp");
    spec(&tmp.path().join("one"), "same", None);
    spec(&tmp.path().join("two"), "same", None);
    assert!(matches!(
        Stack::discover(tmp.path()),
        Err(StackError::DuplicateName { .. })
    ));

    let tmp = tempfile::tempdir().expect("tmp");
    spec(&tmp.path().join("one"), "one", Some("../nowhere"));
    let error = Stack::discover(tmp.path())
        .expect_err("unknown")
        .to_string();
    assert!(error.contains("neither a spec"), "{error}");
    let empty = tempfile::tempdir().expect("tmp");
    assert!(matches!(
        Stack::discover(empty.path()),
        Err(StackError::Empty(_))
    ));
}
