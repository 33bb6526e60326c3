//! What the tests of several crates share, so each does not grow its own copy:
//!
//! * [`fixtures`]: real `.deb`s written by [`staves_deb::write`] and a trusted `file:`
//!   repository holding them, for tests that need no network;
//! * [`gpg`]: a throwaway signing key;
//! * [`free_port`] and [`run`].

pub mod fixtures;
pub mod gpg;

use std::process::{Command, Output};

/// Runs `cmd`, which must succeed.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A port nothing listens on now, on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}
