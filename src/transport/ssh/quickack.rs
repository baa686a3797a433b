//! A TCP stream that acknowledges what it receives at once (issue 19).
//!
//! sshd leaves Nagle's algorithm on until a session starts, so after authentication it holds a
//! small reply until the client acknowledges the segment before it, and Linux delays that
//! acknowledgement by up to 40 ms when the client has nothing to send: every connection used to
//! wait out that timer once (41 of a no-op run's first 85 ms). `TCP_QUICKACK` is not sticky
//! (the kernel re-enters delayed-ACK mode on its own), so it is set again after every read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub struct QuickAck(pub TcpStream);

fn ack_now(stream: &TcpStream) {
    // A failure only leaves the kernel's default acknowledgement timing.
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            ack_now(&self.0);
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Interactive traffic puts Linux in delayed-ACK ("pingpong") mode; a read through the
    /// wrapper leaves the socket acknowledging at once again.
    #[tokio::test]
    async fn every_read_switches_quick_acknowledgement_back_on() -> io::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut server, _) = listener.accept().await?;
        let mut client = QuickAck(client);
        let mut buf = [0u8; 16];
        for _ in 0..20 {
            server.write_all(b"ping").await?;
            client.read_exact(&mut buf[..4]).await?;
            assert!(
                socket2::SockRef::from(&client.0).tcp_quickack()?,
                "quick ACKs after a read"
            );
            client.write_all(b"pong").await?;
            server.read_exact(&mut buf[..4]).await?;
        }
        Ok(())
    }
}
