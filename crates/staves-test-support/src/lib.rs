//! What the tests of several crates share, so each does not grow its own copy:
//!
//! * [`fixtures`]: real `.deb`s written by [`staves_deb::write`] and a trusted `file:`
//!   repository holding them, for tests that need no network;
//! * [`gpg`]: a throwaway signing key;
//! * [`free_port`], [`loopback`] and [`run`].

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

/// Makes sure 127.0.0.1 answers. In a fresh network namespace (`unshare -n cargo test`,
/// how the hermetic tier proves it needs no network) the loopback interface starts down;
/// this brings it up there, as `ip link set lo up` does. Anywhere else it is up already
/// and nothing happens.
pub fn loopback() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // A down interface still lets 127.0.0.1 be bound, not reached: try reaching it.
        let reachable = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .and_then(std::net::TcpStream::connect)
            .is_ok();
        if !reachable {
            let _ = Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status();
        }
    });
}

/// A port nothing listens on now, on 127.0.0.1.
pub fn free_port() -> u16 {
    loopback();
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}
