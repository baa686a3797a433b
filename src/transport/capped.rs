//! A command's collected output with bounded memory: the first and last bytes plus the size.
//! A command printing 200 MB kept all of it (and a JSON copy per line) before this.

/// Keeps the first `half` and the last `half` bytes of what is pushed, and counts the rest.
#[derive(Debug)]
pub struct Capped {
    half: usize,
    head: Vec<u8>,
    /// The latest bytes; may grow to `2 * half` before it is trimmed (amortised copying).
    tail: Vec<u8>,
    total: u64,
}

/// How much of a streamed command's stdout and stderr a result keeps: this much from the start
/// and this much from the end of each (the middle is replaced by a note with its size).
pub const CAPTURE_HALF: usize = 64 * 1024;

impl Capped {
    /// `None`: keep everything (output that is data, not progress: file contents, query results).
    pub fn new(half: Option<usize>) -> Self {
        Self {
            half: half.unwrap_or(usize::MAX / 4),
            head: Vec::new(),
            tail: Vec::new(),
            total: 0,
        }
    }

    pub fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.head.len() < self.half {
            let n = (self.half - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if data.is_empty() {
            return;
        }
        if data.len() >= self.half {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - self.half..]);
            return;
        }
        self.tail.extend_from_slice(data);
        if self.tail.len() > 2 * self.half {
            let cut = self.tail.len() - self.half;
            self.tail.drain(..cut);
        }
    }

    /// Bytes pushed in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The text (as [`into_string`](Self::into_string)) and the bytes kept: all of them when
    /// they fit (file contents stay exact), else head and tail joined.
    pub fn into_text_and_bytes(mut self) -> (String, Vec<u8>) {
        if self.tail.len() > self.half {
            let cut = self.tail.len() - self.half;
            self.tail.drain(..cut);
        }
        let mut bytes = self.head.clone();
        bytes.extend_from_slice(&self.tail);
        (self.into_string(), bytes)
    }

    /// The text: whole when it fit, else head, "… N bytes omitted …", tail (cut at characters).
    pub fn into_string(mut self) -> String {
        if self.tail.len() > self.half {
            let cut = self.tail.len() - self.half;
            self.tail.drain(..cut);
        }
        let kept = (self.head.len() + self.tail.len()) as u64;
        if kept == self.total {
            self.head.extend_from_slice(&self.tail);
            return String::from_utf8_lossy(&self.head).into_owned();
        }
        let head = trim_partial_end(&self.head);
        let tail = trim_partial_start(&self.tail);
        let omitted = self.total - (head.len() + tail.len()) as u64;
        format!(
            "{}\n… {omitted} bytes omitted …\n{}",
            String::from_utf8_lossy(head),
            String::from_utf8_lossy(tail)
        )
    }
}

/// Drops an incomplete UTF-8 sequence at the end (the cut went through a character).
fn trim_partial_end(b: &[u8]) -> &[u8] {
    match std::str::from_utf8(b) {
        Ok(_) => b,
        Err(e) if e.error_len().is_none() => &b[..e.valid_up_to()],
        Err(_) => b,
    }
}

/// Drops UTF-8 continuation bytes at the start (the cut went through a character).
fn trim_partial_start(b: &[u8]) -> &[u8] {
    let skip = b.iter().take(3).take_while(|&&c| c & 0xC0 == 0x80).count();
    &b[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut c = Capped::new(Some(8));
        c.push(b"hello ");
        c.push(b"world!");
        assert_eq!(c.into_string(), "hello world!");
        let mut c = Capped::new(None);
        c.push(&[b'x'; 100_000]);
        assert_eq!(c.into_string().len(), 100_000);
    }

    #[test]
    fn large_output_keeps_head_tail_and_size() {
        let mut c = Capped::new(Some(4));
        for chunk in [&b"abc"[..], b"defgh", b"ijklmnop", b"qrstuvwxyz"] {
            c.push(chunk);
        }
        assert_eq!(c.total(), 26);
        assert_eq!(c.into_string(), "abcd\n… 18 bytes omitted …\nwxyz");
    }

    #[test]
    fn memory_stays_bounded() {
        let mut c = Capped::new(Some(1024));
        let chunk = vec![b'y'; 777];
        for _ in 0..10_000 {
            c.push(&chunk);
            assert!(c.head.capacity() + c.tail.capacity() <= 8 * 1024);
        }
        assert_eq!(c.total(), 7_770_000);
    }

    #[test]
    fn cuts_do_not_split_characters() {
        let mut c = Capped::new(Some(4));
        c.push("aéé".as_bytes()); // 5 bytes: head keeps "aé" + the first byte of é
        c.push(&[b'-'; 20]);
        c.push("ééé".as_bytes());
        let s = c.into_string();
        assert!(!s.contains('\u{FFFD}'), "{s}");
        assert!(s.starts_with("aé\n…") && s.ends_with("\néé"), "{s}");
    }
}
