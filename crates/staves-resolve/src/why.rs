//! Why a package is in a resolution, and what it costs: the chain of dependencies from a
//! request down to it, and the packages it brought in itself.

use std::collections::HashMap;

use crate::resolver::{Origin, Resolution};
use crate::universe::PackageRef;

/// One link of a chain: `package` is there because of `origin`.
#[derive(Debug, Clone)]
pub struct Link {
    /// The package at this step.
    pub package: PackageRef,
    /// Why it was chosen.
    pub origin: Origin,
}

/// The answer to "why is NAME in the set".
#[derive(Debug, Clone)]
pub struct Explanation {
    /// From the requested package down to the one asked about.
    pub chain: Vec<Link>,
    /// Packages first brought in by the one asked about (directly or further down), which
    /// would not have been chosen through it; the package itself not included.
    pub brought_in: Vec<PackageRef>,
}

impl Explanation {
    /// `Installed-Size` of the package, in KiB.
    pub fn own_size(&self) -> u64 {
        self.chain.last().map_or(0, |l| l.package.installed_size)
    }

    /// `Installed-Size` of the package and of everything it brought in, in KiB.
    pub fn total_size(&self) -> u64 {
        self.own_size()
            + self
                .brought_in
                .iter()
                .map(|p| p.installed_size)
                .sum::<u64>()
    }
}

/// Explains every package of `resolution` named `name` (one per architecture).
pub fn explain(resolution: &Resolution, name: &str) -> Vec<Explanation> {
    let key = |p: &PackageRef| (p.name.clone(), p.arch.clone());
    let position: HashMap<(String, String), usize> = resolution
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| (key(p), i))
        .collect();
    let parent = |i: usize| match &resolution.origins[i] {
        Origin::Dependency { by, .. } => position.get(&key(by)).copied(),
        Origin::Requested(_) | Origin::Implied(_) | Origin::Installed => None,
    };
    let descends_from = |mut i: usize, ancestor: usize| {
        // Origins form a forest (a package is marked after what brought it in), so the walk
        // ends; the bound guards against a malformed one all the same.
        for _ in 0..resolution.packages.len() {
            match parent(i) {
                Some(p) if p == ancestor => return true,
                Some(p) => i = p,
                None => return false,
            }
        }
        false
    };
    resolution
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.name == name)
        .map(|(at, _)| {
            let mut chain = Vec::new();
            let mut next = Some(at);
            while let Some(i) = next {
                if chain.len() > resolution.packages.len() {
                    break;
                }
                chain.push(Link {
                    package: resolution.packages[i].clone(),
                    origin: resolution.origins[i].clone(),
                });
                next = parent(i);
            }
            chain.reverse();
            let brought_in = (0..resolution.packages.len())
                .filter(|&i| i != at && descends_from(i, at))
                .map(|i| resolution.packages[i].clone())
                .collect();
            Explanation { chain, brought_in }
        })
        .collect()
}
