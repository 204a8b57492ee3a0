//! What both real-server harnesses (`oidc_peer`, `django_peer`) keep of a
//! server process: the last lines of its stderr, and a guard that kills and
//! reaps it when dropped. Each harness includes this file as its own module.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use parking_lot::Mutex;

/// How many stderr lines are kept.
const LOG_LINES: usize = 2000;

/// The last lines a server wrote to stderr; clones share them.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<VecDeque<String>>>);

impl Log {
    /// Appends a line, dropping the oldest beyond [`LOG_LINES`].
    pub fn push(&self, line: String) {
        let mut lines = self.0.lock();
        if lines.len() == LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// Everything kept, one line each.
    pub fn text(&self) -> String {
        self.0.lock().iter().map(|l| format!("{l}\n")).collect()
    }

    /// Copies `from` into the log, line by line, until it closes.
    pub fn collect(&self, from: impl Read + Send + 'static) -> JoinHandle<()> {
        let log = self.clone();
        thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                match line {
                    Ok(line) => log.push(line),
                    Err(_) => break,
                }
            }
        })
    }
}

/// A server process; dropping it kills it (SIGKILL) and reaps it.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
