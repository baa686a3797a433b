//! Reading a child's stderr line by line with bounded memory.

/// Lines of a stream, each at most `max` bytes (a longer line comes as several pieces).
pub(super) struct BoundedLines<R> {
    reader: R,
    max: usize,
    pending: Vec<u8>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
}

impl<R: tokio::io::AsyncRead + Unpin> BoundedLines<R> {
    pub(super) fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            max: max.max(1),
            pending: Vec::new(),
            buf: vec![0; 8192].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// The next line (without its `\n`), or a piece of `max` bytes of a longer one; `None` at
    /// the end (or on a read error).
    pub(super) async fn next_line(&mut self) -> Option<String> {
        use tokio::io::AsyncReadExt;
        loop {
            let room = self.max - self.pending.len();
            let avail = &self.buf[self.start..self.end];
            let take = avail.len().min(room);
            if let Some(i) = avail[..take].iter().position(|&b| b == b'\n') {
                self.pending.extend_from_slice(&avail[..i]);
                self.start += i + 1;
                return Some(self.take());
            }
            self.pending.extend_from_slice(&avail[..take]);
            self.start += take;
            if self.pending.len() >= self.max {
                return Some(self.take());
            }
            if self.eof {
                return (!self.pending.is_empty()).then(|| self.take());
            }
            match self.reader.read(&mut self.buf).await {
                Ok(0) | Err(_) => self.eof = true,
                Ok(n) => (self.start, self.end) = (0, n),
            }
        }
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8], max: usize) -> Vec<String> {
        let mut l = BoundedLines::new(input, max);
        let mut out = Vec::new();
        while let Some(x) = l.next_line().await {
            out.push(x);
        }
        out
    }

    #[tokio::test]
    async fn lines_come_whole_and_long_ones_in_pieces() {
        assert_eq!(all(b"a\nbc\n\nd", 8).await, ["a", "bc", "", "d"]);
        assert_eq!(
            all(b"abcdefghij\nk\n", 4).await,
            ["abcd", "efgh", "ij", "k"]
        );
        assert!(all(b"", 4).await.is_empty());
        // 20 MB without a newline: pieces of at most `max`, nothing lost.
        let big = vec![b'x'; 20 << 20];
        let mut l = BoundedLines::new(&big[..], 8192);
        let mut total = 0;
        while let Some(x) = l.next_line().await {
            assert!(x.len() <= 8192);
            total += x.len();
        }
        assert_eq!(total, 20 << 20);
    }
}
