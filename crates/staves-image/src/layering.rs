//! Splitting an image's packages over a budget of layers, so that images holding the same
//! packages share layers byte for byte.
//!
//! Packages are grouped by the source package they are built from (`libc6`, `libc-bin` and
//! `libc6-dev` travel together, as they are upgraded together); the largest groups get a
//! layer each and every other group shares one more. Which group lands where depends only
//! on the groups' own names and sizes, never on what else the image holds, except through
//! the ranking: a group big enough to be among the largest in one image and not in another
//! is shared by neither. The last layer of the budget is kept for what the image generates
//! from everything (the dpkg database, accounts, the SBOM): it is the image's own.

use std::collections::BTreeMap;

/// A package as layering sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    /// The source package it is built from.
    pub source: &'a str,
    /// Bytes it installs.
    pub size: u64,
}

/// The layer (`0..layers - 1`) each of `members` goes to, for an image of `layers` layers in
/// all: the last layer, `layers - 1`, is for generated files and gets no package. Own-layer
/// groups come first in the order their first package is installed in; the shared rest is
/// above them.
pub fn plan(members: &[Member<'_>], layers: usize) -> Vec<usize> {
    let package_layers = layers.saturating_sub(1).max(1);
    if package_layers == 1 {
        return vec![0; members.len()];
    }
    // Source → (bytes, first install position).
    let mut groups: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
    for (position, m) in members.iter().enumerate() {
        let group = groups.entry(m.source).or_insert((0, position));
        group.0 += m.size;
    }
    let mut ranked: Vec<(&str, u64, usize)> = groups
        .iter()
        .map(|(source, (size, first))| (*source, *size, *first))
        .collect();
    // Largest first; equal sizes by name, so the choice never depends on install order.
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    // With as many groups as layers, each has its own; otherwise one layer is the rest's.
    let own = if ranked.len() <= package_layers {
        ranked.len()
    } else {
        package_layers - 1
    };
    let mut chosen: Vec<(&str, usize)> = ranked[..own].iter().map(|g| (g.0, g.2)).collect();
    chosen.sort_by_key(|g| g.1);
    let rest = chosen.len();
    members
        .iter()
        .map(|m| {
            chosen
                .iter()
                .position(|(source, _)| *source == m.source)
                .unwrap_or(rest)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(source: &str, size: u64) -> Member<'_> {
        Member { source, size }
    }

    #[test]
    fn the_largest_sources_get_a_layer_each_and_the_rest_share_one() {
        let members = [
            m("glibc", 12),
            m("base-files", 1),
            m("glibc", 3),
            m("openssl", 6),
            m("perl", 40),
            m("zlib", 1),
        ];
        // Four layers: three for packages (two own, one rest), one generated.
        let layers = plan(&members, 4);
        // perl and glibc are largest; glibc is installed first, so it is below perl.
        assert_eq!(layers, vec![0, 2, 0, 2, 1, 2]);
    }

    #[test]
    fn a_groups_layer_does_not_depend_on_install_order() {
        let a = [m("b", 5), m("a", 5), m("c", 1)];
        let b = [m("a", 5), m("c", 1), m("b", 5)];
        let (la, lb) = (plan(&a, 3), plan(&b, 3));
        // Tied in size: `a` wins by name in both images, and c and b share the rest.
        assert_eq!(la, vec![1, 0, 1]);
        assert_eq!(lb, vec![0, 1, 1]);
    }

    #[test]
    fn few_groups_each_get_a_layer_and_one_layer_means_one() {
        assert_eq!(plan(&[m("x", 1), m("y", 9)], 8), vec![0, 1]);
        assert_eq!(plan(&[m("x", 1), m("y", 9)], 1), vec![0, 0]);
        assert_eq!(plan(&[m("x", 1), m("y", 9)], 2), vec![0, 0]);
    }
}
