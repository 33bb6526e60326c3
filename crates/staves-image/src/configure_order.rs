//! The order a Debian system runs the packages' `postinst` in, which decides what scripts see
//! of each other (whose account takes the first free id, whose postinst moves a file another
//! wrote).
//!
//! A Debian system gets its essential set first and alone (debootstrap and mmdebstrap install
//! it before anything else); then apt unpacks the rest, configuring first what a package
//! pre-depends on, and leaves the others to `dpkg --configure --pending`. dpkg queues pending
//! packages in the order of its package hash table (FNV-1a of the name, 65521 buckets) and
//! moves a package whose dependency is still unconfigured to the back of the queue. After a
//! round without progress it breaks dependency cycles at the packages in one; with none
//! left, it configures anyway.

use std::collections::{HashMap, VecDeque};

/// What the order reads of a package's control file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Relations {
    pub(crate) name: String,
    /// `Essential: yes`.
    pub(crate) essential: bool,
    /// `Pre-Depends` and `Depends`: each group's alternatives, by name.
    pub(crate) depends: Vec<Vec<String>>,
    /// `Pre-Depends` alone, every alternative.
    pub(crate) pre_depends: Vec<String>,
    /// The virtual packages it provides.
    pub(crate) provides: Vec<String>,
}

/// Each package's dependency groups, each group the indices of the packages in the set that
/// satisfy it (by name, then by what they provide).
type Groups = [Vec<Vec<usize>>];

/// Indices into `packages` in configure order.
pub(crate) fn configure_order(packages: &[&Relations]) -> Vec<usize> {
    let by_name: HashMap<&str, usize> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut providers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in packages.iter().enumerate() {
        for virtual_name in &p.provides {
            providers.entry(virtual_name.as_str()).or_default().push(i);
        }
    }
    // Who satisfies a name in the set: the package of that name and its providers.
    let satisfiers = |name: &String| {
        by_name
            .get(name.as_str())
            .copied()
            .into_iter()
            .chain(providers.get(name.as_str()).into_iter().flatten().copied())
    };
    let groups: Vec<Vec<Vec<usize>>> = packages
        .iter()
        .map(|p| {
            let group = |names: &Vec<String>| names.iter().flat_map(satisfiers).collect();
            p.depends.iter().map(group).collect()
        })
        .collect();

    let mut configured = vec![false; packages.len()];
    // The essential set, alone.
    let essential = (0..packages.len()).filter(|&i| packages[i].essential);
    let mut order = depends_first(&groups, essential, &mut configured);
    // apt configures what a package pre-depends on before it unpacks the package, with
    // what that depends on.
    for package in packages {
        let targets = package.pre_depends.iter().flat_map(satisfiers);
        order.extend(depends_first(&groups, targets, &mut configured));
    }
    let rest: Vec<usize> = (0..packages.len()).filter(|&i| !configured[i]).collect();
    order.extend(pending_order(packages, &groups, rest, &mut configured));
    order
}

/// Each of `starts` not yet `configured`, after what it depends on (a cycle broken where it
/// closes), marked configured.
fn depends_first(
    groups: &Groups,
    starts: impl Iterator<Item = usize>,
    configured: &mut [bool],
) -> Vec<usize> {
    let mut order = Vec::new();
    let mut seen: Vec<bool> = configured.to_vec();
    for start in starts {
        if std::mem::replace(&mut seen[start], true) {
            continue;
        }
        // Iterative depth-first walk: (package, its dependencies still to visit).
        let mut stack = vec![(start, dependencies(groups, start))];
        while let Some((i, next)) = stack.last_mut() {
            let i = *i;
            match next.next() {
                Some(d) if !seen[d] => {
                    seen[d] = true;
                    stack.push((d, dependencies(groups, d)));
                }
                Some(_) => {}
                None => {
                    configured[i] = true;
                    order.push(i);
                    stack.pop();
                }
            }
        }
    }
    order
}

/// Every package that satisfies one of `package`'s dependencies, in the order they are
/// declared.
fn dependencies(groups: &Groups, package: usize) -> impl Iterator<Item = usize> + '_ {
    groups[package].iter().flatten().copied()
}

/// `dpkg --configure --pending` over `pending`, with `configured` the packages already set
/// up.
fn pending_order(
    packages: &[&Relations],
    groups: &Groups,
    mut pending: Vec<usize>,
    configured: &mut [bool],
) -> Vec<usize> {
    pending.sort_by_key(|&i| (dpkg_bucket(&packages[i].name), packages[i].name.as_str()));
    let mut queue: VecDeque<usize> = pending.into();
    let mut order = Vec::with_capacity(queue.len());
    let mut since_progress = 0;
    // Once a round makes no progress, dpkg breaks dependency cycles at the packages it
    // processes from then on; a package outside a cycle still waits.
    let mut breaking_cycles = false;
    while let Some(i) = queue.pop_front() {
        if waits(&groups[i], configured) {
            let round_without_progress = since_progress > queue.len() * 2 + 2;
            // Still no progress while breaking cycles: dpkg gives up on the dependency and
            // configures anyway (its last try).
            let stuck = breaking_cycles && round_without_progress;
            if round_without_progress && !breaking_cycles {
                breaking_cycles = true;
                since_progress = 0;
            }
            if !(stuck || breaking_cycles && in_cycle(groups, i, configured)) {
                queue.push_back(i);
                since_progress += 1;
                continue;
            }
        }
        since_progress = 0;
        configured[i] = true;
        order.push(i);
    }
    order
}

/// Whether `start` depends on itself through packages still to configure.
fn in_cycle(groups: &Groups, start: usize, configured: &[bool]) -> bool {
    let mut seen = configured.to_vec();
    let mut todo: Vec<usize> = dependencies(groups, start).collect();
    while let Some(i) = todo.pop() {
        if i == start {
            return true;
        }
        if !std::mem::replace(&mut seen[i], true) {
            todo.extend(dependencies(groups, i));
        }
    }
    false
}

/// Whether dpkg defers the package: a dependency group has no configured alternative but
/// one still to configure. A group nothing in the set satisfies is met from outside it
/// (a base image), as far as the order goes.
fn waits(groups: &[Vec<usize>], configured: &[bool]) -> bool {
    groups
        .iter()
        .any(|group| !group.is_empty() && !group.iter().any(|&s| configured[s]))
}

/// The bucket of dpkg's package hash table a name falls in: the hash of the lower-case name
/// modulo its 65521 bins.
fn dpkg_bucket(name: &str) -> u32 {
    str_fnv_hash(name.to_ascii_lowercase().as_bytes()) % 65521
}

/// libdpkg's `str_fnv_hash`: the 32-bit FNV-1a hash.
fn str_fnv_hash(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, depends: &[&[&str]]) -> Relations {
        Relations {
            name: name.into(),
            depends: depends
                .iter()
                .map(|g| g.iter().map(|s| (*s).to_owned()).collect())
                .collect(),
            ..Relations::default()
        }
    }

    fn names(packages: &[Relations]) -> Vec<&str> {
        let refs: Vec<&Relations> = packages.iter().collect();
        configure_order(&refs)
            .into_iter()
            .map(|i| packages[i].name.as_str())
            .collect()
    }

    #[test]
    fn the_hash_is_libdpkgs() {
        // libdpkg's own test vectors for str_fnv_hash.
        assert_eq!(str_fnv_hash(b""), 0x811c_9dc5);
        assert_eq!(str_fnv_hash(b"a"), 0xe40c_292c);
        assert_eq!(str_fnv_hash(b"b"), 0xe70c_2de5);
        assert_eq!(dpkg_bucket("A"), dpkg_bucket("a"));
    }

    #[test]
    fn pending_packages_go_in_hash_order_each_after_its_dependencies() {
        // Debian 13's freeradius install, as dpkg's log records it: ssl-cert before
        // freeradius-common (which adds freerad to ssl-cert's group), adduser before both.
        let packages = vec![
            package("freeradius-common", &[&["adduser"], &["ssl-cert"]]),
            package("freeradius-config", &[&["freeradius-common"], &["make"]]),
            package("freeradius", &[&["freeradius-config"], &["libfreeradius3"]]),
            package("ssl-cert", &[&["openssl"], &["adduser"]]),
            package("adduser", &[&["passwd"]]),
            package("passwd", &[]),
            package("openssl", &[]),
            package("make", &[]),
            package("libfreeradius3", &[]),
        ];
        // Buckets: adduser 4817, libfreeradius3 19190, make 36518, ssl-cert 36936,
        // freeradius-config 43199, passwd 49034, freeradius-common 56099, openssl 59553,
        // freeradius 64410. adduser waits for passwd, ssl-cert for openssl, and so on down
        // the chain, each moved to the back of the queue while it waits.
        assert_eq!(
            names(&packages),
            [
                "libfreeradius3",
                "make",
                "passwd",
                "openssl",
                "adduser",
                "ssl-cert",
                "freeradius-common",
                "freeradius-config",
                "freeradius"
            ]
        );
    }

    #[test]
    fn the_essential_set_comes_first_whatever_the_hash_says() {
        let mut essential = package("base-passwd", &[&["libc6"]]);
        essential.essential = true;
        let packages = vec![
            package("make", &[]),
            essential,
            package("libc6", &[]),
            package("adduser", &[&["passwd"]]),
            package("passwd", &[&["libc6"]]),
        ];
        let order = names(&packages);
        assert_eq!(order[..2], ["libc6", "base-passwd"]);
        assert!(
            order.iter().position(|o| *o == "passwd") < order.iter().position(|o| *o == "adduser")
        );
    }

    #[test]
    fn what_a_package_pre_depends_on_is_configured_before_the_pending_rest() {
        // Debian 12's cron: apt configures cron-daemon-common (which makes the crontab
        // group) with adduser and passwd before it unpacks cron, ahead of every other
        // package's postinst.
        let mut cron = package("cron", &[&["cron-daemon-common"], &["libpam0g"]]);
        cron.pre_depends = vec!["cron-daemon-common".into()];
        let packages = vec![
            cron,
            package("cron-daemon-common", &[&["adduser"]]),
            package("adduser", &[&["passwd"]]),
            package("passwd", &[]),
            package("libpam0g", &[]),
            package("make", &[]),
        ];
        let order = names(&packages);
        assert_eq!(order[..3], ["passwd", "adduser", "cron-daemon-common"]);
        assert_eq!(order.len(), 6);
        assert_eq!(
            order[5], "cron",
            "cron after libpam0g, which hashes after it"
        );
    }

    #[test]
    fn a_provider_satisfies_a_virtual_dependency_and_a_cycle_still_ends() {
        let mut mta = package("exim4-daemon-light", &[&["exim4-base"]]);
        mta.provides = vec!["mail-transport-agent".into()];
        let packages = vec![
            package("mutt", &[&["default-mta", "mail-transport-agent"]]),
            mta,
            package("exim4-base", &[&["exim4-daemon-light"]]),
        ];
        let order = names(&packages);
        assert_eq!(order.len(), 3);
        let at = |n: &str| order.iter().position(|o| *o == n).unwrap();
        assert!(at("exim4-daemon-light") < at("mutt"));
    }

    #[test]
    fn a_dependency_nothing_can_meet_does_not_stop_the_order() {
        // Two packages waiting on each other through a third that waits on nothing it can
        // get: every package still comes out, once.
        let packages = vec![
            package("a", &[&["b"]]),
            package("b", &[&["a"]]),
            package("c", &[&["d"]]),
            package("d", &[&["c"]]),
            package("e", &[&["a"], &["c"]]),
        ];
        let mut order = names(&packages);
        assert_eq!(order[4], "e");
        order.sort_unstable();
        assert_eq!(order, ["a", "b", "c", "d", "e"]);
    }
}
