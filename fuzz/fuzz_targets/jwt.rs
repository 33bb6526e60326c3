#![no_main]
//! A bearer token from outside against a configured JWKS: refused with a reason, never a
//! panic, whatever the header, payload and signature hold.
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

use staves_archive::config::{JwksSource, JwtConfig};
use staves_archive::jwt::JwtVerifier;

fn verifier() -> &'static JwtVerifier {
    static VERIFIER: OnceLock<JwtVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let dir = std::env::temp_dir().join("staves-fuzz-jwks");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("jwks.json");
        // An Ed25519 public key (RFC 8037's example).
        let _ = std::fs::write(
            &file,
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
        );
        JwtVerifier::new(
            JwtConfig {
                jwks: JwksSource::File(file),
                issuer: Some("https://issuer.invalid".into()),
                audience: "https://archive.invalid".into(),
                claims: Default::default(),
                leeway: 0,
            },
            Arc::new(staves_archive::NoLog),
        )
        .expect("verifier")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = verifier().verify(token, &Default::default(), "stable");
});
