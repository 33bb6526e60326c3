//! The packages marked so far, indexed by the names that matter for lookups.
//!
//! The solver asks three questions of its marked set again and again: is a dependency on
//! NAME already satisfied (by a package of that name or one providing it), which package
//! occupies NAME:ARCH, and who conflicts with NAME. Scanning the whole set for each made a
//! chain of n packages cost n² comparisons; these indices answer from the few packages that
//! can matter. Attempts are undone by truncating, so every index holds positions in marking
//! order and is popped from the back.

use std::collections::HashMap;

use crate::resolver::Origin;
use crate::universe::PackageRef;

#[derive(Default)]
pub(crate) struct MarkedSet {
    list: Vec<PackageRef>,
    /// Why each package of `list` was marked, at the same position.
    origins: Vec<Origin>,
    /// Name or provided name → positions of the packages carrying it.
    by_name: HashMap<String, Vec<usize>>,
    /// Name a Conflicts/Breaks targets → positions of the packages declaring it.
    conflicting: HashMap<String, Vec<usize>>,
}

impl MarkedSet {
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn push(&mut self, package: PackageRef, origin: Origin) {
        let at = self.list.len();
        for name in names(&package) {
            push_unique(self.by_name.entry(name.to_owned()).or_default(), at);
        }
        for c in &package.conflicts {
            push_unique(self.conflicting.entry(c.name.clone()).or_default(), at);
        }
        self.list.push(package);
        self.origins.push(origin);
    }

    /// Undoes every mark from position `len` on.
    pub(crate) fn truncate(&mut self, len: usize) {
        while self.list.len() > len {
            let Some(package) = self.list.pop() else {
                break;
            };
            self.origins.pop();
            let at = self.list.len();
            for name in names(&package) {
                pop_position(&mut self.by_name, name, at);
            }
            for c in &package.conflicts {
                pop_position(&mut self.conflicting, &c.name, at);
            }
        }
    }

    /// Marked packages named `name` or providing it, in marking order.
    pub(crate) fn carrying<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a PackageRef> + 'a {
        self.carrying_positions(name).map(|(_, p)| p)
    }

    /// Marked packages named `name` or providing it, with their positions.
    pub(crate) fn carrying_positions<'a>(
        &'a self,
        name: &str,
    ) -> impl Iterator<Item = (usize, &'a PackageRef)> + 'a {
        self.at(&self.by_name, name)
    }

    /// Marked packages declaring a conflict (or break) on `name`, with their positions.
    pub(crate) fn conflicting_with<'a>(
        &'a self,
        name: &str,
    ) -> impl Iterator<Item = (usize, &'a PackageRef)> + 'a {
        self.at(&self.conflicting, name)
    }

    fn at<'a>(
        &'a self,
        index: &'a HashMap<String, Vec<usize>>,
        name: &str,
    ) -> impl Iterator<Item = (usize, &'a PackageRef)> + 'a {
        let positions = index.get(name).map(Vec::as_slice).unwrap_or(&[]);
        positions.iter().map(|&i| (i, &self.list[i]))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &PackageRef> {
        self.list.iter()
    }

    /// The marked packages with why each was marked, in marking order.
    pub(crate) fn into_parts(self) -> (Vec<PackageRef>, Vec<Origin>) {
        (self.list, self.origins)
    }
}

/// A package's own name and the names it provides.
fn names(package: &PackageRef) -> impl Iterator<Item = &str> {
    std::iter::once(package.name.as_str()).chain(package.provides.iter().map(|p| p.name.as_str()))
}

fn push_unique(positions: &mut Vec<usize>, at: usize) {
    if positions.last() != Some(&at) {
        positions.push(at);
    }
}

fn pop_position(index: &mut HashMap<String, Vec<usize>>, name: &str, at: usize) {
    if let Some(positions) = index.get_mut(name) {
        if positions.last() == Some(&at) {
            positions.pop();
        }
        if positions.is_empty() {
            index.remove(name);
        }
    }
}
