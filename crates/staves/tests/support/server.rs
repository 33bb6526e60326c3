//! A small static HTTP/1.1 server on 127.0.0.1 for tests, with fault injection: answer 503
//! to the next N requests, or cut chosen files off halfway through the body.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Faults {
    /// Answer 503 to this many upcoming requests.
    pub unavailable: u32,
    /// Paths whose bodies are cut off halfway (every time).
    pub truncate: HashSet<String>,
    /// Paths whose bodies are cut off halfway the first time only.
    pub truncate_once: HashSet<String>,
    /// Answer 401 unless the request carries exactly this `Authorization` value.
    pub authorization: Option<String>,
}

pub struct Server {
    pub base: String,
    pub faults: Arc<Mutex<Faults>>,
    /// Requested paths, with ` range=N` appended for range requests.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(root: PathBuf) -> Server {
        staves_test_support::loopback();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let faults = Arc::new(Mutex::new(Faults::default()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (f, l) = (faults.clone(), log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, f, l) = (root.clone(), f.clone(), l.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &root, &f, &l);
                });
            }
        });
        Server { base, faults, log }
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

fn serve(
    stream: TcpStream,
    root: &std::path::Path,
    faults: &Mutex<Faults>,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut range_from: Option<usize> = None;
        let mut authorization = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(spec) = lower.strip_prefix("range: bytes=") {
                range_from = spec.trim().trim_end_matches('-').parse().ok();
            }
            if lower.starts_with("authorization:") {
                authorization = h.split_once(':').map(|(_, v)| v.trim().to_owned());
            }
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let mut entry = match range_from {
            Some(from) => format!("{path} range={from}"),
            None => path.to_owned(),
        };
        if authorization.is_some() {
            entry.push_str(" authorized");
        }
        log.lock().expect("log").push(entry);
        {
            let mut f = faults.lock().expect("faults");
            if f.authorization.is_some() && f.authorization != authorization {
                out.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"apt\"\r\nContent-Length: 0\r\n\r\n")?;
                continue;
            }
            if f.unavailable > 0 {
                f.unavailable -= 1;
                out.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")?;
                continue;
            }
        }
        // A query is not part of the file's name; a directory is served by its index.html
        // (as a PEP 691 index answers `NAME/?format=…`).
        let path = path.split('?').next().unwrap_or_default();
        let mut file = root.join(path.trim_start_matches('/'));
        if file.is_dir() {
            file = file.join("index.html");
        }
        let body = match std::fs::read(&file) {
            Ok(b) if !path.contains("..") => b,
            _ => {
                out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
                continue;
            }
        };
        let body = match range_from {
            Some(from) if from < body.len() => {
                write!(
                    out,
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\n\r\n",
                    body.len() - from,
                    body.len() - 1,
                    body.len()
                )?;
                body[from..].to_vec()
            }
            _ => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )?;
                body
            }
        };
        if method == "HEAD" {
            continue;
        }
        let cut_once = faults.lock().expect("faults").truncate_once.remove(path);
        if cut_once || faults.lock().expect("faults").truncate.contains(path) {
            out.write_all(&body[..body.len() / 2])?;
            out.flush()?;
            return Ok(()); // close mid-body
        }
        out.write_all(&body)?;
        let _ = reader.get_mut().read(&mut []);
    }
}
