//! Files as lines of bytes, each with its own ending: lineinfile and blockinfile edit them.

/// One line of a file as bytes, with its own ending (`\n`, `\r\n`, or none for a last line
/// without one): editing a line never re-encodes the file or changes the other lines' endings.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    pub(super) body: Vec<u8>,
    pub(super) end: &'static [u8],
}

impl Line {
    pub(super) fn new(body: &[u8], end: &'static [u8]) -> Self {
        Self {
            body: body.to_vec(),
            end,
        }
    }
}

pub(super) fn split_lines(bytes: &[u8]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i > 0 && rest[i - 1] == b'\r' => {
                lines.push(Line::new(&rest[..i - 1], b"\r\n"));
                rest = &rest[i + 1..];
            }
            Some(i) => {
                lines.push(Line::new(&rest[..i], b"\n"));
                rest = &rest[i + 1..];
            }
            None => {
                lines.push(Line::new(rest, b""));
                rest = &[];
            }
        }
    }
    lines
}

pub(super) fn join_lines(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l.body);
        out.extend_from_slice(l.end);
    }
    out
}

/// The ending for new lines: the file's own (CRLF if its first line has one).
pub(super) fn line_ending(lines: &[Line]) -> &'static [u8] {
    match lines.first() {
        Some(l) if l.end == b"\r\n" => b"\r\n",
        _ => b"\n",
    }
}

/// Inserts `new` lines at `pos`, giving an unterminated line before them an ending first.
pub(super) fn insert_lines(lines: &mut Vec<Line>, pos: usize, new: Vec<Line>) {
    let end = line_ending(lines);
    if pos > 0
        && let Some(prev) = lines.get_mut(pos - 1)
        && prev.end.is_empty()
    {
        prev.end = end;
    }
    lines.splice(pos..pos, new);
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
