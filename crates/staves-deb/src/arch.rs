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
}
