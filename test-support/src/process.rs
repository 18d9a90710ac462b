//! A service process for end-to-end tests: spawned with its environment, its JSON log lines
//! collected, its address taken from the `listening` line, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Process {
    child: Child,
    /// `host:port` from the process's `listening` log line.
    pub addr: String,
    logs: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Process {
    /// Starts `program` and waits until it logs the address it listens on.
    pub fn spawn(program: &Path, args: &[&str], env: &[(&str, String)]) -> Self {
        let (mut process, addr_rx) = Self::start(program, args, env);
        process.addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{} did not report its address", program.display()));
        process
    }

    /// Starts `program` without waiting for anything (e.g. under a Lambda Runtime API, where
    /// it listens on nothing); the receiver gets the address if it logs one.
    pub fn start(
        program: &Path,
        args: &[&str],
        env: &[(&str, String)],
    ) -> (Self, mpsc::Receiver<String>) {
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
        let mut child = command.spawn().expect("spawn the service");
        let stdout = child.stdout.take().expect("piped stdout");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let sink = logs.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(record) = serde_json::from_str::<serde_json::Value>(&line)
                    && record["message"] == "listening"
                {
                    let _ = addr_tx.send(record["addr"].as_str().unwrap_or_default().to_owned());
                }
                sink.lock().expect("log sink").push(line);
            }
        });
        let process = Self {
            child,
            addr: String::new(),
            logs,
            reader: Some(reader),
        };
        (process, addr_rx)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Polls `path` until it answers 200.
    pub fn wait_until_ok(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if get_status(&self.url(path)) == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{path} never answered 200; logs:\n{}",
            self.logs().join("\n")
        );
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("log sink").clone()
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

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Peak resident memory of the process so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM line")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `TERM`, `STOP`) to the process.
    pub fn signal(&self, signal: &str) {
        send_signal(self.child.id(), signal);
    }

    /// Sends SIGTERM (how SageMaker and Lambda stop processes), waits for the exit and for the
    /// last line of stdout; returns every line the process wrote.
    pub fn terminate(&mut self) -> Vec<String> {
        self.signal("TERM");
        self.wait_exit()
    }

    /// Waits (at most 20 s) for a successful exit and the last line of stdout; returns every
    /// line the process wrote.
    pub fn wait_exit(&mut self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait().expect("wait for the service") {
                Some(status) => {
                    assert!(status.success(), "the service exited with {status}");
                    break;
                }
                None if Instant::now() > deadline => panic!("no exit within 20 s of SIGTERM"),
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stdout reader");
        }
        self.logs()
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

/// Sends `signal` to process `pid` with kill(1) (no unsafe libc call needed).
pub fn send_signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} {pid} failed");
}

/// Minimal blocking GET over std only, so readiness polling needs no async runtime.
fn get_status(url: &str) -> Option<u16> {
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
