//! Test helpers: real `model-server` and `proxy` processes on free loopback ports.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The endpoint name the model server's SageMaker Runtime stand-in answers to.
pub const ENDPOINT: &str = "mobilenet-local";
/// The origin the test proxies allow.
pub const ORIGIN: &str = "http://localhost:3000";

pub fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

pub fn shared_image(name: &str) -> Vec<u8> {
    std::fs::read(shared_dir().join("images").join(name)).unwrap()
}

/// Binaries of other workspace members sit next to this test's own `deps/` directory;
/// `cargo test --workspace` builds them before running any test.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test.sh)",
        path.display()
    );
    path
}

/// A child process that logs JSON lines on stdout, one of them `listening` with its `addr`.
pub struct Process {
    child: Child,
    pub addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Process {
    pub fn spawn(program: &Path, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(record) = serde_json::from_str::<serde_json::Value>(&line)
                    && record["message"] == "listening"
                {
                    let _ = addr_tx.send(record["addr"].as_str().unwrap_or_default().to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{} did not report its address", program.display()));
        Self { child, addr, logs }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Whether a log line containing `needle` appears within a few seconds (lines are read by a
    /// background thread, so they can trail the HTTP answer).
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.logs().iter().any(|line| line.contains(needle)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A model server with the SageMaker Runtime stand-in, ready to serve.
pub fn start_model_server(extra: &[(&str, &str)]) -> Process {
    let ort = std::env::var("ORT_DYLIB_PATH").expect(
        "ORT_DYLIB_PATH is not set: run the tests through scripts/test.sh, or eval \"$(scripts/setup.sh)\" first",
    );
    let mut env = vec![
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        (
            "MODEL_DIR",
            shared_dir()
                .join("models/mobilenetv2-int8")
                .display()
                .to_string(),
        ),
        ("ORT_DYLIB_PATH", ort),
        ("SAGEMAKER_RUNTIME_API_ENDPOINT", ENDPOINT.to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let server = Process::spawn(&workspace_binary("model-server"), &["serve"], &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if get_status(&server.url("/ping")) == Some(200) {
            return server;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("model-server never became ready: {:?}", server.logs());
}

/// A proxy (local mode) sending to `endpoint_url` with dummy AWS credentials.
pub fn start_proxy(endpoint_url: &str, extra: &[(&str, &str)]) -> Process {
    let mut env = vec![
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("SAGEMAKER_ENDPOINT_NAME", ENDPOINT.to_owned()),
        ("SAGEMAKER_ENDPOINT_URL", endpoint_url.to_owned()),
        ("ALLOWED_ORIGINS", ORIGIN.to_owned()),
        ("STATIC_DIR", "/nonexistent".to_owned()),
        ("AWS_ACCESS_KEY_ID", "local".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_CONFIG_FILE", "/nonexistent".to_owned()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    Process::spawn(&workspace_binary("proxy"), &[], &env)
}

/// Minimal blocking GET over std only.
pub fn get_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}
