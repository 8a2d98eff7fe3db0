//! A minimal HTTP/1.1 client for `canon serve --http`'s large-result figures: one `POST
//! /api/sql` on a connection of its own, its chunked body decoded as it arrives and read
//! as an Arrow IPC stream (rows counted per batch) or as JSON lines (each row parsed).
//!
//! Blocking reads on a thread of their own: the figures measure the server, and a plain
//! socket with a buffered reader is the least a client can do per byte.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use canon::datafusion::arrow::ipc::reader::StreamReader;

use crate::BenchResult;

/// What the answer is read as.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// An Arrow IPC stream.
    Arrow,
    /// One JSON object per line, each parsed.
    JsonLines,
}

impl Body {
    fn accept(self) -> &'static str {
        match self {
            Self::Arrow => "application/vnd.apache.arrow.stream",
            Self::JsonLines => "application/x-ndjson",
        }
    }
}

/// Runs `sql` on the server at `addr` (`host:port`) and returns the rows its answer holds.
pub fn rows(addr: &str, token: &str, sql: &str, body: Body) -> BenchResult<u64> {
    let mut socket = TcpStream::connect(addr)?;
    socket.set_nodelay(true)?;
    let request = format!(
        "POST /api/sql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: \
         {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{sql}",
        body.accept(),
        sql.len()
    );
    socket.write_all(request.as_bytes())?;
    let mut reader = BufReader::with_capacity(1 << 20, socket);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    if !status.starts_with("HTTP/1.1 200") {
        return Err(format!("the server answered {}", status.trim()).into());
    }
    let mut chunked = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if header.eq_ignore_ascii_case("transfer-encoding: chunked") {
            chunked = true;
        }
    }
    if !chunked {
        return Err("the answer is not chunked".into());
    }
    let decoded = Chunked {
        inner: reader,
        left: 0,
        done: false,
    };
    match body {
        Body::Arrow => {
            let mut rows = 0u64;
            for batch in StreamReader::try_new(decoded, None)? {
                rows += u64::try_from(batch?.num_rows())?;
            }
            Ok(rows)
        }
        Body::JsonLines => {
            let mut rows = 0u64;
            let values =
                serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 20, decoded))
                    .into_iter::<serde::de::IgnoredAny>();
            for value in values {
                value?;
                rows += 1;
            }
            Ok(rows)
        }
    }
}

/// A chunked transfer-encoded body, decoded.
struct Chunked<R> {
    inner: R,
    /// Bytes left in the current chunk.
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.inner.read_line(&mut line)?;
            // The CRLF that ends the previous chunk's data.
            if line.trim().is_empty() {
                line.clear();
                self.inner.read_line(&mut line)?;
            }
            let size = line.trim().split(';').next().unwrap_or_default();
            self.left = usize::from_str_radix(size, 16).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("chunk size {size:?}: {e}"),
                )
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let read = self.inner.read(&mut buf[..want])?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= read;
        Ok(read)
    }
}
