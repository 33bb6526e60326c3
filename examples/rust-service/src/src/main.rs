//! A small HTTP service: `GET /` greets, `GET /healthz` answers `ok` once it listens.
//! It listens on `$LISTEN` (default `0.0.0.0:8080`) and stops on SIGTERM with the process.
//! `hello-service --check` is its own readiness check: it asks `/healthz` and exits 0 on `ok`,
//! so the image needs no HTTP client.

use std::env;
use std::io::{Read, Write};

fn main() {
    let address = env::var("LISTEN").unwrap_or_else(|_| "0.0.0.0:8080".to_owned());
    if env::args().nth(1).as_deref() == Some("--check") {
        std::process::exit(if healthy(&address) { 0 } else { 1 });
    }
    let server = match tiny_http::Server::http(&address) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("hello-service: cannot listen on {address}: {e}");
            std::process::exit(1);
        }
    };
    println!("hello-service: listening on {address}");
    let greeting = env::var("GREETING").unwrap_or_else(|_| "hello from rust-service".to_owned());
    for request in server.incoming_requests() {
        let body = match request.url() {
            "/" => format!("{greeting}\n"),
            "/healthz" => "ok\n".to_owned(),
            _ => {
                let _ = request
                    .respond(tiny_http::Response::from_string("not found\n").with_status_code(404));
                continue;
            }
        };
        if let Err(e) = request.respond(tiny_http::Response::from_string(body)) {
            eprintln!("hello-service: answering: {e}");
        }
    }
}

/// Whether the service at `address` answers `/healthz` with `ok`.
fn healthy(address: &str) -> bool {
    let port = address.rsplit(':').next().unwrap_or("8080");
    let port = port.parse().unwrap_or(8080);
    let mut stream = match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(stream) => stream,
        Err(_) => return false,
    };
    let asked = stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut answer = String::new();
    asked.is_ok() && stream.read_to_string(&mut answer).is_ok() && answer.ends_with("ok\n")
}
