//! Java's `cacerts`, as `ca-certificates-java` leaves it at `/etc/ssl/certs/java/cacerts`:
//! a JKS keystore of trusted-certificate entries, one for each `NAME.pem` link that
//! `update-ca-certificates` made, named `debian:name.pem`. Its postinst builds it by
//! running Java at install time, which an image build cannot do; without it Java finds no
//! trust anchor and no TLS connection succeeds.
//!
//! JKS is the format Debian writes (its postinst converts a PKCS#12 store back to JKS):
//! magic `FEEDFEED`, version 2, the entries, then a SHA-1 over the store password as
//! UTF-16BE, the words "Mighty Aphrodite" and every byte before it. Entry dates are the
//! build's `SOURCE_DATE_EPOCH`, so the store is reproducible where Debian's is not.

use sha1::{Digest, Sha1};

/// The store password `ca-certificates-java` uses unless `/etc/default/cacerts` says
/// otherwise.
pub(crate) const DEFAULT_PASSWORD: &str = "changeit";

/// Where the keystore goes.
pub(crate) const CACERTS: &str = "etc/ssl/certs/java/cacerts";

/// The file whose presence says `ca-certificates-java` is installed.
pub(crate) const TOOL: &str = "usr/share/ca-certificates-java/ca-certificates-java.jar";

/// A trusted certificate for the store: the alias the tool gives it and its DER bytes.
pub(crate) struct Trusted<'a> {
    pub alias: String,
    pub der: &'a [u8],
}

/// The alias `ca-certificates-java` gives the certificate behind `/etc/ssl/certs/NAME.pem`.
pub(crate) fn alias(pem_link: &str) -> String {
    let name = pem_link.rsplit('/').next().unwrap_or(pem_link);
    format!("debian:{}", name.to_lowercase())
}

/// The keystore bytes: entries in alias order, each dated `epoch` (seconds).
pub(crate) fn jks(entries: &[Trusted<'_>], password: &str, epoch: u64) -> Vec<u8> {
    let mut sorted: Vec<&Trusted<'_>> = entries.iter().collect();
    sorted.sort_by(|a, b| a.alias.cmp(&b.alias));
    sorted.dedup_by(|a, b| a.alias == b.alias);
    let mut out = Vec::new();
    out.extend(0xFEED_FEEDu32.to_be_bytes());
    out.extend(2u32.to_be_bytes());
    out.extend((sorted.len() as u32).to_be_bytes());
    let millis = epoch.saturating_mul(1000);
    for entry in sorted {
        out.extend(2u32.to_be_bytes()); // a trusted-certificate entry
        write_utf(&mut out, &entry.alias);
        out.extend(millis.to_be_bytes());
        write_utf(&mut out, "X.509");
        out.extend((entry.der.len() as u32).to_be_bytes());
        out.extend(entry.der);
    }
    let mut digest = Sha1::new();
    for unit in password.encode_utf16() {
        digest.update(unit.to_be_bytes());
    }
    digest.update(b"Mighty Aphrodite");
    digest.update(&out);
    out.extend(digest.finalize());
    out
}

/// Java's `DataOutput.writeUTF`: a 16-bit length, then modified UTF-8 (NUL as two bytes,
/// characters beyond the BMP as two three-byte surrogates). Aliases are file names, far
/// below the 64 KiB the length allows; a longer one is cut at a character.
fn write_utf(out: &mut Vec<u8>, text: &str) {
    let mut bytes = Vec::with_capacity(text.len());
    for unit in text.encode_utf16() {
        let before = bytes.len();
        match unit {
            0x0001..=0x007F => bytes.push(unit as u8),
            0x0000 | 0x0080..=0x07FF => {
                bytes.push(0xC0 | (unit >> 6) as u8);
                bytes.push(0x80 | (unit & 0x3F) as u8);
            }
            _ => {
                bytes.push(0xE0 | (unit >> 12) as u8);
                bytes.push(0x80 | ((unit >> 6) & 0x3F) as u8);
                bytes.push(0x80 | (unit & 0x3F) as u8);
            }
        }
        if bytes.len() > usize::from(u16::MAX) {
            bytes.truncate(before);
            break;
        }
    }
    out.extend((bytes.len() as u16).to_be_bytes());
    out.extend(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_the_link_names_lowercased() {
        assert_eq!(
            alias("etc/ssl/certs/ISRG_Root_X1.pem"),
            "debian:isrg_root_x1.pem"
        );
        assert_eq!(alias("Főtanúsítvány.pem"), "debian:főtanúsítvány.pem");
    }

    #[test]
    fn modified_utf8_encodes_nul_and_astral_characters_as_java_does() {
        let mut out = Vec::new();
        write_utf(&mut out, "a\0é😀");
        assert_eq!(
            out,
            [
                0, 11, b'a', 0xC0, 0x80, 0xC3, 0xA9, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80
            ]
        );
    }

    #[test]
    fn the_store_ends_with_its_keyed_digest_and_counts_its_entries() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x01];
        let entries = [
            Trusted {
                alias: "debian:b.pem".into(),
                der: &der,
            },
            Trusted {
                alias: "debian:a.pem".into(),
                der: &der,
            },
        ];
        let store = jks(&entries, DEFAULT_PASSWORD, 1);
        assert_eq!(
            &store[..12],
            &[0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 2]
        );
        let (body, digest) = store.split_at(store.len() - 20);
        let mut keyed = Sha1::new();
        keyed.update(b"\0c\0h\0a\0n\0g\0e\0i\0t");
        keyed.update(b"Mighty Aphrodite");
        keyed.update(body);
        assert_eq!(digest, keyed.finalize().as_slice());
        // Sorted: a before b, dated in milliseconds.
        let first = 12 + 4;
        assert_eq!(&body[first..first + 14], b"\0\x0cdebian:a.pem");
        assert_eq!(&body[first + 14..first + 22], &1000u64.to_be_bytes());
    }
}
