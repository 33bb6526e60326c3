//! The order things start in and the waves they stop in.

use std::collections::{BTreeMap, BTreeSet};

/// Every name, each after everything it waits for; among those free to go, by name, so
/// the scripts are the same on every build.
pub fn start_order(after: &BTreeMap<&str, Vec<&str>>) -> Vec<String> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < after.len() {
        let next = after
            .iter()
            .find(|(name, deps)| !done.contains(*name) && deps.iter().all(|d| done.contains(d)));
        // The spec refuses cycles; stopping here keeps a slip from looping forever.
        let Some((name, _)) = next else { break };
        done.insert(name);
        order.push((*name).to_owned());
    }
    order
}

/// Services grouped into waves for stopping: a service stops only once everything that
/// waits for it — directly or through tasks — is down. Wave 0 holds the services nothing
/// waits for.
pub fn stop_waves(
    after: &BTreeMap<&str, Vec<&str>>,
    services: &BTreeSet<&str>,
) -> Vec<Vec<String>> {
    // Which services wait for each name, tasks looked through.
    let mut waiters: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (&name, deps) in after {
        for &dep in deps {
            waiters.entry(dep).or_default().insert(name);
        }
    }
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    fn depth_of<'a>(
        name: &'a str,
        waiters: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        services: &BTreeSet<&str>,
        memo: &mut BTreeMap<&'a str, usize>,
        guard: usize,
    ) -> usize {
        if let Some(d) = memo.get(name) {
            return *d;
        }
        let mut d = 0;
        if guard < 4096 {
            for &w in waiters.get(name).into_iter().flatten() {
                let below = depth_of(w, waiters, services, memo, guard + 1);
                // A task is done before anything after it starts: it adds no wave.
                d = d.max(below + usize::from(services.contains(w)));
            }
        }
        memo.insert(name, d);
        d
    }
    let mut waves: Vec<Vec<String>> = Vec::new();
    for &name in services {
        let d = depth_of(name, &waiters, services, &mut depth, 0);
        if waves.len() <= d {
            waves.resize(d + 1, Vec::new());
        }
        waves[d].push(name.to_owned());
    }
    waves.retain(|w| !w.is_empty());
    waves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(edges: &[(&'a str, &[&'a str])]) -> BTreeMap<&'a str, Vec<&'a str>> {
        edges.iter().map(|(n, d)| (*n, d.to_vec())).collect()
    }

    #[test]
    fn starts_after_what_it_waits_for() {
        let g = graph(&[
            ("web", &["app"]),
            ("app", &["db", "migrate"]),
            ("migrate", &["db"]),
            ("db", &[]),
        ]);
        assert_eq!(start_order(&g), ["db", "migrate", "app", "web"]);
    }

    #[test]
    fn stops_waiters_first_and_looks_through_tasks() {
        let g = graph(&[
            ("web", &["app"]),
            ("app", &["migrate"]),
            ("migrate", &["db"]),
            ("db", &[]),
            ("cron", &[]),
        ]);
        let services: BTreeSet<&str> = ["web", "app", "db", "cron"].into();
        assert_eq!(
            stop_waves(&g, &services),
            vec![
                vec!["cron".to_owned(), "web".to_owned()],
                vec!["app".to_owned()],
                vec!["db".to_owned()]
            ]
        );
    }
}
