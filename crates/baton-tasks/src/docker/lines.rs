//! The engine's output frames, split into lines per stream for the protocol.

use crate::LogSink;
use crate::protocol::{Captured, Stream as Output};

/// Longer lines are cut, so one line cannot exhaust memory.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Splits the engine's output frames into lines, per stream, and hands each to the protocol.
#[derive(Default)]
pub(super) struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    pub captured: Captured,
    pub stdout_lines: u64,
    pub stderr_lines: u64,
}

impl Lines {
    pub fn push(&mut self, chunk: bollard::container::LogOutput, logs: &LogSink) {
        use bollard::container::LogOutput;
        let (stream, message) = match chunk {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (Output::Stdout, message)
            }
            LogOutput::StdErr { message } => (Output::Stderr, message),
            LogOutput::StdIn { .. } => return,
        };
        for piece in message.split_inclusive(|b| *b == b'\n') {
            let buffer = self.buffer(stream);
            let complete = piece.ends_with(b"\n");
            buffer.extend_from_slice(piece);
            if complete || buffer.len() >= MAX_LINE_BYTES {
                let line = std::mem::take(buffer);
                self.emit(stream, line, logs);
            }
        }
    }

    pub fn finish(&mut self, logs: &LogSink) {
        for stream in [Output::Stdout, Output::Stderr] {
            let rest = std::mem::take(self.buffer(stream));
            if !rest.is_empty() {
                self.emit(stream, rest, logs);
            }
        }
    }

    fn buffer(&mut self, stream: Output) -> &mut Vec<u8> {
        match stream {
            Output::Stdout => &mut self.stdout,
            Output::Stderr => &mut self.stderr,
        }
    }

    fn emit(&mut self, stream: Output, mut line: Vec<u8>, logs: &LogSink) {
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        match stream {
            Output::Stdout => self.stdout_lines += 1,
            Output::Stderr => self.stderr_lines += 1,
        }
        self.captured
            .line(stream, &String::from_utf8_lossy(&line), logs);
    }
}

/// For tests: the output of frames split across lines arrives as whole lines.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_into_lines_per_stream() {
        use bollard::container::LogOutput;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sink = LogSink::new(tx);
        let mut lines = Lines::default();
        let frame = |text: &str, err: bool| {
            let message = text.as_bytes().to_vec().into();
            if err {
                LogOutput::StdErr { message }
            } else {
                LogOutput::StdOut { message }
            }
        };
        lines.push(frame("hel", false), &sink);
        lines.push(frame("oops\n", true), &sink);
        lines.push(
            frame("lo\r\n::{\"outputs\":{\"n\":1}}::\nlast", false),
            &sink,
        );
        lines.finish(&sink);
        drop(sink);
        let mut seen = Vec::new();
        while let Ok(log) = rx.try_recv() {
            seen.push(log.message);
        }
        assert_eq!(seen, ["oops", "hello", "last"]);
        assert_eq!((lines.stdout_lines, lines.stderr_lines), (3, 1));
        assert_eq!(lines.captured.vars.get("n"), Some(&serde_json::json!(1)));
    }
}
