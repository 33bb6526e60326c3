//! Version ordering checked against `dpkg --compare-versions`, the oracle, on thousands of
//! pairs: real versions from the host's apt lists and installed packages, their near
//! neighbours, and generated versions built from the characters that make ordering subtle.

use std::cmp::Ordering;
use std::process::Command;

use staves_deb::Version;

/// A small deterministic generator, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
    fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn real_versions() -> Vec<String> {
    let mut out = Vec::new();
    let mut collect = |args: &[&str], prefix: Option<&str>| {
        let Ok(o) = Command::new(args[0]).args(&args[1..]).output() else {
            return;
        };
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let v = match prefix {
                Some(p) => line.strip_prefix(p),
                None => Some(line),
            };
            if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
                out.push(v.to_owned());
            }
        }
    };
    collect(&["dpkg-query", "-W", "-f", "${Version}\n"], None);
    collect(&["apt-cache", "dumpavail"], Some("Version: "));
    out.sort();
    out.dedup();
    out
}

fn generated(rng: &mut Rng, n: usize) -> Vec<String> {
    let parts = [
        "0", "1", "2", "9", "10", "01", "a", "b", "z", "A", "~", "~~", "+", ".", "+b1", "~rc1",
        "dfsg", "+ds", "0.",
    ];
    (0..n)
        .map(|_| {
            let mut s = String::new();
            if rng.next().is_multiple_of(5) {
                s.push_str(rng.word(&["0:", "1:", "2:", "10:"]));
            }
            s.push_str(rng.word(&["0", "1", "2", "10"]));
            for _ in 0..(rng.next() % 5) {
                s.push_str(rng.word(&parts));
            }
            if rng.next().is_multiple_of(2) {
                s.push('-');
                s.push_str(rng.word(&["0", "1", "1.1", "1~bpo1", "2+b1", "0ubuntu1", "1+deb12u1"]));
            }
            s
        })
        .collect()
}

/// Near neighbours of a real version: the edits packagers actually make.
fn neighbour(rng: &mut Rng, v: &str) -> String {
    match rng.next() % 6 {
        0 => format!("{v}~1"),
        1 => format!("{v}+b1"),
        2 => format!("{v}.0"),
        3 => v.replacen(|c: char| c.is_ascii_digit(), "0", 1),
        4 => format!("1:{v}").replacen("1:1:", "2:", 1),
        _ => v.trim_end_matches(|c: char| c.is_ascii_digit()).to_owned() + "10",
    }
}

fn dpkg_order(a: &str, b: &str) -> Option<Ordering> {
    let is = |op: &str| {
        Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .status()
            .map(|s| s.success())
    };
    match (is("lt").ok()?, is("eq").ok()?) {
        (true, _) => Some(Ordering::Less),
        (false, true) => Some(Ordering::Equal),
        (false, false) => Some(Ordering::Greater),
    }
}

#[test]
fn ordering_matches_dpkg() {
    if Command::new("dpkg").arg("--version").output().is_err() {
        panic!("dpkg is needed: this test uses it as the oracle");
    }
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    let real = real_versions();
    assert!(
        real.len() > 50,
        "expected real versions from dpkg-query/apt-cache"
    );
    let mut pairs = Vec::new();
    for _ in 0..1500 {
        let a = rng.pick(&real).clone();
        let b = rng.pick(&real).clone();
        let n = neighbour(&mut rng, &a);
        pairs.push((a.clone(), b));
        pairs.push((a, n));
    }
    let gen_versions = generated(&mut rng, 2000);
    for pair in gen_versions.chunks(2) {
        pairs.push((pair[0].clone(), pair[1].clone()));
    }
    // Pairs that dpkg itself cannot parse are dropped: both sides must agree they are versions.
    pairs.retain(|(a, b)| Version::parse(a).is_ok() && Version::parse(b).is_ok());
    assert!(pairs.len() > 3000, "only {} pairs", pairs.len());

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let chunk = pairs.len().div_ceil(threads);
    let mismatches: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter_map(|(a, b)| {
                            let ours = Version::parse(a).ok()?.cmp(&Version::parse(b).ok()?);
                            let theirs = dpkg_order(a, b)?;
                            (ours != theirs)
                                .then(|| format!("{a} vs {b}: staves {ours:?}, dpkg {theirs:?}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
