//! The wire format `ansible-runner transmit`, `worker` and `process` exchange: JSON lines, and a
//! zipped directory sent as `{"zipfile": N}\n` followed by the base64 of the N zip bytes with no
//! newline after it (the next JSON line starts right behind the last base64 character).

use std::io::{self, BufRead, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use serde_json::Value;

/// One item of the stream.
#[derive(Debug)]
pub enum Frame {
    /// A JSON line (kwargs, status, event, eof).
    Json(Value),
    /// The bytes of a zipped directory (private data dir or artifacts).
    Zip(Vec<u8>),
}

/// Why a stream could not be read; `line` is the 1-based line of the stream.
/// The largest zipped block a stream may carry (a private data dir or artifacts).
pub const MAX_ZIP_BYTES: u64 = 1 << 30;
/// What its files may unpack to, in all.
pub const MAX_UNZIPPED_BYTES: u64 = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("stream line {line}: {msg}")]
    Bad { line: usize, msg: String },
    #[error("reading the stream: {0}")]
    Io(#[from] io::Error),
}

/// Reads frames from an ansible-runner stream.
pub struct Reader<R> {
    input: R,
    line: usize,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Self {
        Self { input, line: 0 }
    }

    /// The next frame; `None` at the end of the input.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        loop {
            let mut buf = Vec::new();
            if self.input.read_until(b'\n', &mut buf)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = String::from_utf8_lossy(&buf);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(text).map_err(|e| StreamError::Bad {
                line: self.line,
                msg: format!(
                    "not JSON ({e}): {}",
                    text.chars().take(120).collect::<String>()
                ),
            })?;
            if let Some(n) = value.get("zipfile") {
                let n = n.as_u64().ok_or_else(|| StreamError::Bad {
                    line: self.line,
                    msg: format!("\"zipfile\" must be a byte count, not {n}"),
                })?;
                return self.read_zip(n).map(|z| Some(Frame::Zip(z)));
            }
            return Ok(Some(Frame::Json(value)));
        }
    }

    /// The base64 block after `{"zipfile": n}`: exactly as many characters as n bytes encode
    /// to (whitespace skipped, as ansible-runner's Base64IO does).
    fn read_zip(&mut self, n: u64) -> Result<Vec<u8>, StreamError> {
        if n > MAX_ZIP_BYTES {
            return Err(StreamError::Bad {
                line: self.line,
                msg: format!("a zipped block of {n} bytes; at most {MAX_ZIP_BYTES} are accepted"),
            });
        }
        let want = n.div_ceil(3) * 4;
        let mut text = Vec::with_capacity(want.min(1 << 26) as usize);
        while (text.len() as u64) < want {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                return Err(StreamError::Bad {
                    line: self.line,
                    msg: format!(
                        "the stream ended inside a zipfile block ({} of {want} base64 characters)",
                        text.len()
                    ),
                });
            }
            let mut used = 0;
            for &b in chunk {
                if text.len() as u64 >= want {
                    break;
                }
                used += 1;
                if b == b'\n' {
                    self.line += 1;
                }
                if !b.is_ascii_whitespace() {
                    text.push(b);
                }
            }
            self.input.consume(used);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&text)
            .map_err(|e| StreamError::Bad {
                line: self.line,
                msg: format!("bad base64 in a zipfile block: {e}"),
            })?;
        if bytes.len() as u64 != n {
            return Err(StreamError::Bad {
                line: self.line,
                msg: format!(
                    "a zipfile block announced {n} bytes but holds {}",
                    bytes.len()
                ),
            });
        }
        Ok(bytes)
    }
}

/// Writes one JSON line and flushes it (the reader acts on every line as it comes).
pub fn write_json<W: Write>(out: &mut W, value: &Value) -> io::Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// Writes a zipped directory block: `{"zipfile": N}\n` and the base64 of the zip, no newline.
pub fn write_zip<W: Write>(out: &mut W, zip: &[u8]) -> io::Result<()> {
    write_json(out, &serde_json::json!({ "zipfile": zip.len() }))?;
    out.write_all(
        base64::engine::general_purpose::STANDARD
            .encode(zip)
            .as_bytes(),
    )?;
    out.flush()
}

/// Zips the files of `dir` (relative names, unix modes kept; symlinks are skipped).
pub fn zip_dir(dir: &Path) -> io::Result<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    add_dir(&mut writer, dir, Path::new(""))?;
    let cursor = writer.finish().map_err(io::Error::other)?;
    Ok(cursor.into_inner())
}

fn add_dir<W: Write + Seek>(
    writer: &mut zip::ZipWriter<W>,
    root: &Path,
    rel: &Path,
) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = rel.join(entry.file_name());
        let meta = std::fs::symlink_metadata(entry.path())?;
        let mode = meta.permissions().mode() & 0o7777;
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        let text = name.to_string_lossy().into_owned();
        if meta.is_dir() {
            writer
                .add_directory(format!("{text}/"), opts)
                .map_err(io::Error::other)?;
            add_dir(writer, root, &name)?;
        } else if meta.is_file() {
            writer.start_file(text, opts).map_err(io::Error::other)?;
            io::copy(&mut std::fs::File::open(entry.path())?, writer)?;
        }
    }
    Ok(())
}

/// Unpacks a zip into `dir`, keeping unix modes. Names that would leave `dir` (absolute, `..`)
/// and symlinks are refused: the zip comes from another machine.
pub fn unzip_to(zip: &[u8], dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut archive = zip::ZipArchive::new(io::Cursor::new(zip)).map_err(io::Error::other)?;
    // A zip bomb from the stream must not fill memory or the disk.
    let mut left = MAX_UNZIPPED_BYTES;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(io::Error::other)?;
        let name = file.name().map_err(io::Error::other)?.into_owned();
        let rel = safe_relative(&name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("zip entry '{name}' would leave the target directory"),
            )
        })?;
        let target = dir.join(&rel);
        let mode = file.unix_mode();
        if file.is_dir() {
            std::fs::create_dir_all(&target)?;
            continue;
        }
        if mode.is_some_and(|m| m & 0o170000 == 0o120000) {
            continue; // a symlink: never followed or made
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut bytes = Vec::new();
        (&mut file).take(left + 1).read_to_end(&mut bytes)?;
        left = left.checked_sub(bytes.len() as u64).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the zipped files unpack to more than {MAX_UNZIPPED_BYTES} bytes"),
            )
        })?;
        std::fs::write(&target, &bytes)?;
        if let Some(m) = mode {
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(m & 0o777))?;
        }
    }
    Ok(())
}

fn safe_relative(name: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// A random version-4 UUID in its usual text form.
pub fn uuid4() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_block_is_followed_directly_by_the_next_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("project")).unwrap();
        std::fs::write(dir.path().join("project/p.yml"), "- hosts: all\n").unwrap();
        let zip = zip_dir(dir.path()).unwrap();
        let mut stream = Vec::new();
        write_json(&mut stream, &serde_json::json!({"kwargs": {}})).unwrap();
        write_zip(&mut stream, &zip).unwrap();
        write_json(&mut stream, &serde_json::json!({"eof": true})).unwrap();
        let mut r = Reader::new(io::Cursor::new(stream));
        assert!(matches!(r.next_frame().unwrap(), Some(Frame::Json(_))));
        let Some(Frame::Zip(z)) = r.next_frame().unwrap() else {
            panic!("no zip")
        };
        let out = tempfile::tempdir().unwrap();
        unzip_to(&z, out.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.path().join("project/p.yml")).unwrap(),
            "- hosts: all\n"
        );
        let Some(Frame::Json(eof)) = r.next_frame().unwrap() else {
            panic!("no eof")
        };
        assert_eq!(eof["eof"], true);
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn a_huge_zip_size_is_refused_not_an_overflow() {
        let mut r = Reader::new(io::Cursor::new(
            b"{\"zipfile\": 18446744073709551615}\n".to_vec(),
        ));
        let e = r.next_frame().unwrap_err().to_string();
        assert!(e.contains("at most"), "{e}");
    }

    #[test]
    fn bad_lines_and_escaping_entries_are_refused() {
        let mut r = Reader::new(io::Cursor::new(b"{\"eof\": true}\nnot json\n".to_vec()));
        r.next_frame().unwrap();
        let e = r.next_frame().unwrap_err().to_string();
        assert!(e.starts_with("stream line 2: not JSON"), "{e}");
        assert!(safe_relative("../x").is_none());
        assert!(safe_relative("/etc/passwd").is_none());
        assert_eq!(safe_relative("a/./b"), Some(PathBuf::from("a/b")));
    }
}
