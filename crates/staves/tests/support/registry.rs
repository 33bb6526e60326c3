//! Debian's `docker-registry` (the CNCF distribution server) on 127.0.0.1: with TLS from a
//! throwaway CA and htpasswd users, with a bearer-token server, or plain HTTP.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::pki::local_ca;
use super::run;

pub const USER: &str = "alice";
pub const PASSWORD: &str = "s3cret-pass";
/// The refresh token the test token server accepts for `identitytoken` credentials.
pub const REFRESH_TOKEN: &str = "staves-refresh-token";

/// How clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// None at all (plain HTTP registries in these tests).
    Anonymous,
    /// HTTP basic against an htpasswd file.
    Htpasswd,
    /// Bearer tokens from a token server that checks the same user.
    Token,
}

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls: bool,
    /// `certs.d`-style directory trusting the registry's CA.
    pub certs_dir: PathBuf,
    /// A `DOCKER_CONFIG` directory whose config.json holds the right credentials.
    pub docker_config: PathBuf,
    /// The CA certificate.
    pub ca: PathBuf,
    children: Vec<Child>,
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Registry {
    /// TLS with htpasswd users: what most private registries look like.
    pub fn start() -> Registry {
        Registry::start_with(true, Auth::Htpasswd)
    }

    pub fn start_with(tls: bool, auth: Auth) -> Registry {
        Registry::start_inner(tls, auth, false)
    }

    /// TLS with one self-signed certificate (`CA:TRUE`, openssl's default) as the server's
    /// own, and that same certificate in certs.d: docker's documented way.
    pub fn start_self_signed() -> Registry {
        Registry::start_inner(true, Auth::Htpasswd, true)
    }

    fn start_inner(tls: bool, auth: Auth, self_signed: bool) -> Registry {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let port = free_port();
        let mut pki = local_ca(d);
        if self_signed {
            run(Command::new("openssl").current_dir(d).args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                "self.key",
                "-out",
                "self.crt",
            ]));
            pki.server_cert = d.join("self.crt");
            pki.server_key = d.join("self.key");
            pki.ca_cert = d.join("self.crt");
        }
        let mut children = Vec::new();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  formatter: text\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            d.join("data").display()
        );
        if tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                pki.server_cert.display(),
                pki.server_key.display()
            ));
        }
        match auth {
            Auth::Anonymous => {}
            Auth::Htpasswd => {
                let out = run(Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]));
                std::fs::write(d.join("htpasswd"), &out.stdout).expect("htpasswd");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: staves-test\n    path: {}\n",
                    d.join("htpasswd").display()
                ));
            }
            Auth::Token => {
                let token_port = free_port();
                super::pki::self_signed(d, "token", "staves test token signer");
                let server = Command::new("python3")
                    .current_dir(d)
                    .args(["-c", TOKEN_SERVER, &token_port.to_string(), USER, PASSWORD])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("token server");
                children.push(server);
                wait_for(token_port);
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: staves-test-registry\n    issuer: staves-test\n    rootcertbundle: {}\n",
                    d.join("token.crt").display()
                ));
            }
        }
        std::fs::write(d.join("config.yml"), config).expect("config");
        let log = std::fs::File::create(d.join("registry.log")).expect("log");
        let registry = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        children.push(registry);
        wait_for(port);

        let certs_dir = d.join("certs.d");
        let host_dir = certs_dir.join(format!("127.0.0.1:{port}"));
        std::fs::create_dir_all(&host_dir).expect("certs.d");
        std::fs::copy(&pki.ca_cert, host_dir.join("ca.crt")).expect("ca");
        let docker_config = d.join("docker");
        std::fs::create_dir_all(&docker_config).expect("docker config");
        let registry = Registry {
            port,
            tls,
            certs_dir,
            docker_config,
            ca: pki.ca_cert,
            children,
            dir,
        };
        registry.write_docker_config(&registry.docker_config, USER, PASSWORD);
        registry
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Writes a docker config.json with an `identitytoken` for this registry into `dir`.
    pub fn write_identity_token_config(&self, dir: &Path, token: &str) {
        std::fs::create_dir_all(dir).expect("dir");
        let json = format!(
            "{{\"auths\":{{\"{}\":{{\"identitytoken\":\"{token}\"}}}}}}",
            self.host()
        );
        std::fs::write(dir.join("config.json"), json).expect("config.json");
    }

    /// Writes a docker config.json with inline credentials into `dir`.
    pub fn write_docker_config(&self, dir: &Path, user: &str, password: &str) {
        std::fs::create_dir_all(dir).expect("dir");
        let auth = base64(&format!("{user}:{password}"));
        let json = format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
            self.host()
        );
        let mut f = std::fs::File::create(dir.join("config.json")).expect("config.json");
        f.write_all(json.as_bytes()).expect("write");
    }

    /// The access log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Requests that upload blob content (starting, sending or finishing an upload).
    pub fn upload_requests(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| {
                l.contains("/blobs/uploads/")
                    && (l.contains("\"POST ") || l.contains("\"PATCH ") || l.contains("\"PUT "))
            })
            .count()
    }

    /// Access-log lines for `method` whose path contains `needle`, with their status.
    pub fn requests(&self, method: &str, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(&format!("\"{method} ")) && l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// skopeo's flags for reading from this registry.
    pub fn skopeo_args(&self) -> Vec<String> {
        vec![
            "--creds".into(),
            format!("{USER}:{PASSWORD}"),
            "--cert-dir".into(),
            self.certs_dir.join(self.host()).display().to_string(),
        ]
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A token server as the distribution spec describes: checks basic credentials and answers
/// a JWT signed (RS256, `x5c` chain) for the scopes asked, which the registry verifies.
const TOKEN_SERVER: &str = r#"
import base64, http.server, json, os, subprocess, sys, time, urllib.parse
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
der = subprocess.run(['openssl', 'x509', '-in', 'token.crt', '-outform', 'DER'], capture_output=True, check=True).stdout
def b64(data): return base64.urlsafe_b64encode(data).rstrip(b'=').decode()
REFRESH = 'staves-refresh-token'
def token(service, scopes):
    access = []
    for scope in scopes:
        kind, name, actions = scope.split(':')
        access.append({'type': kind, 'name': name, 'actions': actions.split(',')})
    now = int(time.time())
    header = {'alg': 'RS256', 'typ': 'JWT', 'x5c': [base64.b64encode(der).decode()]}
    claims = {'iss': 'staves-test', 'sub': user, 'aud': service, 'exp': now + 300,
              'nbf': now - 10, 'iat': now, 'jti': os.urandom(8).hex(), 'access': access}
    signing = b64(json.dumps(header).encode()) + '.' + b64(json.dumps(claims).encode())
    signature = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', 'token.key'],
                               input=signing.encode(), capture_output=True, check=True).stdout
    return signing + '.' + b64(signature)
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, document=None):
        body = json.dumps(document).encode() if document else b''
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        expected = 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()
        if self.headers.get('Authorization') != expected:
            return self.answer(401)
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        self.answer(200, {'token': token(query['service'][0], query.get('scope', []))})
    def do_POST(self):
        # The OAuth2 refresh-token grant docker uses for `identitytoken` credentials.
        length = int(self.headers.get('Content-Length', '0'))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if form.get('grant_type') != ['refresh_token'] or form.get('refresh_token') != [REFRESH]:
            return self.answer(401)
        scopes = ' '.join(form.get('scope', [])).split()
        self.answer(200, {'access_token': token(form['service'][0], scopes)})
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler).serve_forever()
"#;
