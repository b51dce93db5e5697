//! Redis servers of the tests' own with TLS or ACL users, and the certificates they need (made with the `openssl`
//! command, as a test's setup: no crate is needed for it, and a machine whose `redis-server` speaks TLS has it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use express_session::testing::unreachable;

use super::{binary, free_port, scratch_dir, watchdog};

/// Whether `redis-server`, `redis-cli` and `openssl` are here; if not, says so (and fails under
/// `REQUIRE_SERVICES=1`).
pub fn tools_available(openssl: bool) -> bool {
    let mut missing = Vec::new();
    for tool in ["redis-server", "redis-cli"].into_iter().chain(openssl.then_some("openssl")) {
        if binary(tool).is_none() {
            missing.push(tool);
        }
    }
    missing.is_empty() || unreachable::<()>(&missing.join(", "), "not installed").is_some()
}

/// Runs `openssl` with `args` (split at spaces) in `dir`, and panics with its output if it fails.
fn openssl(dir: &Path, args: &str) {
    let out = Command::new(binary("openssl").expect("openssl"))
        .current_dir(dir)
        .args(args.split_whitespace())
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl {args} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test PKI in a scratch directory: a CA, a server certificate for `127.0.0.1` and `localhost`, a client
/// certificate and a server certificate for other names (`elsewhere`) it signed, and a second CA that signed none (P-256 keys: fast to make).
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new() -> Self {
        let dir = scratch_dir("pki");
        let key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        for ca in ["ca", "other-ca"] {
            openssl(
                &dir,
                &format!(
                    "req -x509 {key} -keyout {ca}.key -out {ca}.crt -days 2 -subj /CN=express-session-redis-test-{ca} \
                     -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
                ),
            );
        }
        let names = [
            ("server", "serverAuth", "IP:127.0.0.1,DNS:localhost"),
            ("client", "clientAuth", "IP:127.0.0.1,DNS:localhost"),
            // Signed by the CA, for other names than the one the tests connect to: hostname checks refuse it.
            ("elsewhere", "serverAuth", "IP:127.0.0.2,DNS:elsewhere.example"),
        ];
        for (name, usage, san) in names {
            let ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=";
            let san = format!("\nsubjectAltName={san}\n");
            std::fs::write(dir.join(format!("{name}.ext")), format!("{ext}{usage}{san}")).unwrap();
            openssl(&dir, &format!("req {key} -keyout {name}.key -out {name}.csr -subj /CN={name}"));
            openssl(
                &dir,
                &format!(
                    "x509 -req -in {name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile {name}.ext \
                     -out {name}.crt"
                ),
            );
        }
        Self { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path(file)).unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `redis-server` of the test's own, without persistence (`--save '' --appendonly no`), stopped by PID when
/// dropped (and by a watchdog when the test process ends, for one kept in a `static`).
pub struct Server {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// A server that speaks only TLS (`--port 0`), on a free port, with the `pki`'s server certificate; clients
    /// must show a certificate of the `pki`'s CA (`--tls-auth-clients yes`).
    pub fn tls(pki: &Pki) -> Self {
        Self::tls_with(pki, "server")
    }

    /// As [`tls`](Self::tls), with the `pki`'s certificate `name` (`server` or `elsewhere`).
    pub fn tls_with(pki: &Pki, name: &str) -> Self {
        let path = |file: &str| pki.path(file).to_string_lossy().into_owned();
        let make = |port: u16| -> Vec<String> {
            [
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &path(&format!("{name}.crt")),
                "--tls-key-file",
                &path(&format!("{name}.key")),
                "--tls-ca-cert-file",
                &path("ca.crt"),
                "--tls-auth-clients",
                "yes",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let probe: Vec<String> = ["--tls", "--cacert", &path("ca.crt"), "--cert", &path("client.crt")]
            .into_iter()
            .chain(["--key", &path("client.key")])
            .map(str::to_owned)
            .collect();
        Self::start(free_port(), &make, &probe)
    }

    /// A server without TLS on a free port, with `args` (e.g. `--user` lines) added; `probe` are the `redis-cli`
    /// options that log in (e.g. `--user admin --pass …`).
    pub fn plain(args: &[&str], probe: &[&str]) -> Self {
        Self::plain_trying(free_port(), args, probe)
    }

    /// As [`plain`](Self::plain), trying `port` first.
    pub fn plain_trying(port: u16, args: &[&str], probe: &[&str]) -> Self {
        let make = |port: u16| {
            let mut all: Vec<String> = vec!["--port".into(), port.to_string()];
            all.extend(args.iter().map(|s| s.to_string()));
            all
        };
        let probe: Vec<String> = probe.iter().map(|s| s.to_string()).collect();
        Self::start(port, &make, &probe)
    }

    /// Starts redis-server with `args(port)` and waits for it to answer the probe. `port` was free when picked,
    /// but another process may have taken it since: a server that exits (it could not bind) is started again on
    /// another free port, and a probe that hangs (a stranger that accepts and never answers) is cut short.
    fn start(mut port: u16, args: &dyn Fn(u16) -> Vec<String>, probe: &[String]) -> Self {
        for attempt in 1.. {
            let dir = scratch_dir("secured");
            let args = args(port);
            let child = Command::new(binary("redis-server").expect("redis-server"))
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--protected-mode", "no"])
                .arg("--dir")
                .arg(&dir)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            watchdog(child.id(), &dir);
            let mut server = Self { port, dir, child: Some(child) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while server.running() {
                // The PONG counts only if our server is still up: else a stranger on the port answered.
                if pong(port, probe) && server.running() {
                    return server;
                }
                assert!(Instant::now() < deadline, "redis-server {args:?} did not come up");
                std::thread::sleep(Duration::from_millis(30));
            }
            assert!(attempt < 5, "redis-server {args:?} exited at once, on {attempt} ports");
            port = free_port();
        }
        unreachable!()
    }

    fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

/// Whether `redis-cli -p port probe… PING` answers `PONG` within a second.
fn pong(port: u16, probe: &[String]) -> bool {
    let Ok(mut cli) = Command::new(binary("redis-cli").expect("redis-cli"))
        .args(["-p", &port.to_string()])
        .args(probe)
        .args(["--no-auth-warning", "PING"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(1);
    while matches!(cli.try_wait(), Ok(None)) {
        if Instant::now() >= deadline {
            let _ = cli.kill();
            let _ = cli.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut out = String::new();
    let _ = std::io::Read::read_to_string(&mut cli.stdout.take().unwrap(), &mut out);
    out.trim() == "PONG"
}

impl Server {
    /// Removes `dir` too when the test process ends (for a server kept in a `static`, never dropped).
    pub fn also_remove(&self, dir: &Path) {
        if let Some(child) = &self.child {
            watchdog(child.id(), dir);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
