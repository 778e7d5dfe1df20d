//! Bounded capture of a guest's stdout, stderr and log lines.
//!
//! A guest may write without end; the host keeps the first `cap` bytes, counts
//! the rest, and tells the guest every write succeeded so it cannot detect or
//! exploit the cap. Nothing is ever inherited from the host process.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Text captured from a guest, with how much was dropped past the cap.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Captured {
    /// The first bytes written, up to the cap, decoded lossily as UTF-8.
    pub text: String,
    /// Bytes written beyond the cap and dropped.
    pub truncated_bytes: u64,
}

impl Captured {
    /// The text with a truncation marker appended when anything was dropped.
    pub fn display(&self) -> String {
        if self.truncated_bytes == 0 {
            self.text.clone()
        } else {
            format!(
                "{}\n[wfhost: {} more bytes truncated]",
                self.text, self.truncated_bytes
            )
        }
    }
}

#[derive(Debug, Default)]
struct Buffer {
    bytes: Vec<u8>,
    dropped: u64,
}

/// A byte sink with a cap, shared between the WASI stream and the host.
#[derive(Debug, Clone)]
pub(crate) struct CappedPipe {
    cap: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl CappedPipe {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap,
            buffer: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.cap.saturating_sub(buffer.bytes.len());
        let kept = bytes.len().min(room);
        buffer.bytes.extend_from_slice(&bytes[..kept]);
        buffer.dropped += (bytes.len() - kept) as u64;
    }

    pub(crate) fn captured(&self) -> Captured {
        let buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        Captured {
            text: String::from_utf8_lossy(&buffer.bytes).into_owned(),
            truncated_bytes: buffer.dropped,
        }
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
