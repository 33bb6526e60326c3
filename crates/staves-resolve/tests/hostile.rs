//! Indices built to hurt the resolver: chains deeper than any stack, and providers that
//! multiply. Each must end — resolved or refused with a short explanation — in bounded
//! memory.

use staves_deb::packages::TextPackages;
use staves_resolve::{Request, ResolveError, Task, Universe, resolve};

fn repo(text: String) -> TextPackages {
    TextPackages::new("hostile", "http://127.0.0.1/", "hostile", text)
}

fn paragraph(name: &str, extra: &str) -> String {
    format!(
        "Package: {name}\nVersion: 1\nArchitecture: amd64\n{extra}Filename: pool/{name}.deb\nSize: 1\nSHA256: {}\n\n",
        "0".repeat(64)
    )
}

fn task(name: &str) -> Task {
    Task {
        requests: vec![Request {
            name: name.into(),
            arch: None,
            constraint: None,
        }],
        ..Task::default()
    }
}

/// p0 → p1 → … → p(n-1), the last depending on `tail` when given.
fn chain(n: usize, tail: Option<&str>) -> String {
    (0..n)
        .map(|i| {
            let dep = if i + 1 < n {
                format!("Depends: p{}\n", i + 1)
            } else {
                tail.map(|t| format!("Depends: {t}\n")).unwrap_or_default()
            };
            paragraph(&format!("p{i}"), &dep)
        })
        .collect()
}

#[test]
fn a_chain_ten_thousand_deep_resolves_without_recursion() {
    // Test threads have small stacks: a recursive walk of this chain overflows them.
    let repos = [repo(chain(10_000, None))];
    let universe = Universe::new(&repos, "amd64");
    let resolution = resolve(&universe, &task("p0")).expect("resolves");
    assert_eq!(resolution.packages.len(), 10_000);
}

#[test]
fn a_broken_chain_explains_itself_in_a_screenful() {
    let repos = [repo(chain(10_000, Some("missing")))];
    let universe = Universe::new(&repos, "amd64");
    let error = resolve(&universe, &task("p0")).expect_err("unsatisfiable");
    let text = error.to_string();
    assert!(
        matches!(error, ResolveError::Unsatisfiable { .. }),
        "{text}"
    );
    assert!(text.starts_with("the request cannot be satisfied:\np0 1 depends on p1"));
    assert!(text.contains("deeper causes left out"), "{text}");
    assert!(text.lines().count() < 100, "{} lines", text.lines().count());
}

#[test]
fn providers_that_multiply_exhaust_the_budget_not_the_machine() {
    // `v0` has N providers, each needing `v1`, which has N providers that all fail: N×N
    // attempts, far beyond the budget.
    let n = 2_000;
    let mut text = paragraph("root", "Depends: v0\n");
    for i in 0..n {
        text.push_str(&paragraph(&format!("a{i}"), "Provides: v0\nDepends: v1\n"));
        text.push_str(&paragraph(
            &format!("b{i}"),
            "Provides: v1\nDepends: missing\n",
        ));
    }
    let repos = [repo(text)];
    let universe = Universe::new(&repos, "amd64");
    let error = resolve(&universe, &task("root")).expect_err("gives up");
    let text = error.to_string();
    assert!(text.contains("resolution gave up after trying"), "{text}");
    assert!(text.lines().count() < 100, "{} lines", text.lines().count());
}

#[test]
fn many_failing_alternatives_are_counted_not_listed() {
    let n = 500;
    let mut text = paragraph("root", "Depends: v\n");
    for i in 0..n {
        text.push_str(&paragraph(
            &format!("b{i}"),
            "Provides: v\nDepends: missing\n",
        ));
    }
    let repos = [repo(text)];
    let universe = Universe::new(&repos, "amd64");
    let text = resolve(&universe, &task("root"))
        .expect_err("unsatisfiable")
        .to_string();
    assert!(
        text.contains(&format!("… and {} more alternatives", n - 8)),
        "{text}"
    );
}
