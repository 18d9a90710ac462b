//! The one writer of stdout: log lines and EMF records go through an unbounded channel to a
//! dedicated thread, so a slow stdout never blocks a request and no line is ever dropped; lines
//! never interleave. [`flush`] waits until everything sent before it is written.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
#[cfg(feature = "testing")]
use std::sync::{Arc, Mutex};
use std::time::Duration;

enum Message {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// Where lines end up.
#[derive(Debug, Clone)]
pub enum Output {
    Stdout,
    /// Kept in memory (tests read them with [`captured_lines`]).
    #[cfg(feature = "testing")]
    Memory(Arc<Mutex<Vec<u8>>>),
}

static SENDER: OnceLock<Sender<Message>> = OnceLock::new();
#[cfg(feature = "testing")]
static MEMORY: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Starts the writer thread; later calls keep the first output. `write_delay` makes the
/// writer wait that long before each burst of lines, as behind a slow log pipe (fault
/// injection: tests show that flushes still wait for every line; zero in production).
pub fn install(output: Output, write_delay: Duration) {
    SENDER.get_or_init(|| {
        #[cfg(feature = "testing")]
        if let Output::Memory(buffer) = &output {
            let _ = MEMORY.set(buffer.clone());
        }
        let (sender, receiver) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("telemetry-writer".into())
            .spawn(move || write_loop(&receiver, &output, write_delay));
        if let Err(e) = spawned {
            // Without the thread nothing could be written; say so where it can still be seen.
            let _ = writeln!(std::io::stderr(), "telemetry writer thread failed: {e}");
        }
        sender
    });
}

fn write_loop(receiver: &Receiver<Message>, output: &Output, write_delay: Duration) {
    let stdout = std::io::stdout();
    while let Ok(first) = receiver.recv() {
        if !write_delay.is_zero() {
            std::thread::sleep(write_delay);
        }
        let mut next = Some(first);
        // Drain what is queued, then flush once: one syscall per burst, not per line.
        while let Some(message) = next {
            match message {
                Message::Line(line) => match output {
                    Output::Stdout => {
                        let _ = stdout.lock().write_all(&line);
                    }
                    #[cfg(feature = "testing")]
                    Output::Memory(buffer) => {
                        if let Ok(mut buffer) = buffer.lock() {
                            buffer.extend_from_slice(&line);
                        }
                    }
                },
                Message::Flush(done) => {
                    let _ = stdout.lock().flush();
                    let _ = done.send(());
                }
            }
            next = receiver.try_recv().ok();
        }
        let _ = stdout.lock().flush();
    }
}

/// Queues one line (a trailing newline is added when missing). Before [`install`], writes
/// straight to stdout.
pub fn send_line(mut line: Vec<u8>) {
    if line.last() != Some(&b'\n') {
        line.push(b'\n');
    }
    match SENDER.get() {
        Some(sender) => {
            if let Err(mpsc::SendError(Message::Line(line))) = sender.send(Message::Line(line)) {
                let _ = std::io::stdout().lock().write_all(&line);
            }
        }
        None => {
            let _ = std::io::stdout().lock().write_all(&line);
        }
    }
}

/// Waits (at most `timeout`) until every line queued before this call has been written.
/// Returns false on timeout.
pub fn flush(timeout: Duration) -> bool {
    let Some(sender) = SENDER.get() else {
        return std::io::stdout().lock().flush().is_ok();
    };
    let (done, wait) = mpsc::sync_channel(1);
    if sender.send(Message::Flush(done)).is_err() {
        return false;
    }
    wait.recv_timeout(timeout).is_ok()
}

/// Lines captured by an [`Output::Memory`] sink so far (flushes first).
#[cfg(feature = "testing")]
pub fn captured_lines() -> Vec<String> {
    flush(Duration::from_secs(5));
    MEMORY
        .get()
        .and_then(|buffer| buffer.lock().ok().map(|b| b.clone()))
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A `tracing-subscriber` writer: each formatted event becomes one queued line.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkWriter;

/// Buffers one event's bytes and queues them when dropped.
#[derive(Debug, Default)]
pub struct EventBuffer(Vec<u8>);

impl Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            send_line(std::mem::take(&mut self.0));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SinkWriter {
    type Writer = EventBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        EventBuffer::default()
    }
}
