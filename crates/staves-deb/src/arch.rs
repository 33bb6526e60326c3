//! Debian architecture names.

/// The Debian name of the architecture this program was built for (`amd64` on x86-64),
/// which is the host's `dpkg --print-architecture` for a native build.
pub fn host() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "mips64" if cfg!(target_endian = "little") => "mips64el",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Whether `name` looks like a Debian architecture name (`amd64`, `arm64`, `all`, …).
pub fn is_valid(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `arch` matches `pattern` as `dpkg-architecture --is` decides: the name itself,
/// `any`, or a wildcard `os-any` / `any-cpu` / `os-cpu` over Debian's architecture tuples.
/// (`linux-any`, `any-amd64`, `any-arm` for both `armel` and `armhf`).
pub fn matches(arch: &str, pattern: &str) -> bool {
    if arch == pattern || pattern == "any" {
        return true;
    }
    let (os, cpu) = tuple(arch);
    match pattern.split_once('-') {
        Some((p_os, p_cpu)) => (p_os == "any" || p_os == os) && (p_cpu == "any" || p_cpu == cpu),
        None => false,
    }
}

/// `(os, cpu)` of a Debian architecture name: `amd64` is `linux` on `amd64`, `armhf` and
/// `armel` are on `arm`, `kfreebsd-amd64` and `hurd-i386` name their system.
fn tuple(arch: &str) -> (&str, &str) {
    let (os, cpu) = match arch.split_once('-') {
        Some((os, cpu)) => (os, cpu),
        None => ("linux", arch),
    };
    let cpu = match cpu {
        "armhf" | "armel" => "arm",
        "ppc64el" => "ppc64el",
        "x32" => "amd64",
        other => other,
    };
    (os, cpu)
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_matches_dpkg_when_present() {
        let Ok(out) = std::process::Command::new("dpkg")
            .arg("--print-architecture")
            .output()
        else {
            return; // not a Debian host: nothing to compare against
        };
        let dpkg = String::from_utf8_lossy(&out.stdout);
        assert_eq!(super::host(), dpkg.trim());
    }

    #[test]
    fn wildcards_match_as_dpkg_architecture_does() {
        use super::matches;
        assert!(matches("amd64", "amd64") && matches("amd64", "any"));
        assert!(matches("amd64", "linux-any") && matches("amd64", "any-amd64"));
        assert!(matches("armhf", "any-arm") && matches("armel", "linux-arm"));
        assert!(!matches("amd64", "hurd-any") && !matches("arm64", "any-amd64"));
        assert!(matches("hurd-i386", "hurd-any") && !matches("hurd-i386", "linux-any"));
        assert!(!matches("amd64", "i386"));
    }
}
