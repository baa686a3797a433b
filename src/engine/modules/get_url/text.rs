//! get_url's text rules, as Ansible's module has them: checksum arguments and checksum files,
//! file names from URLs and Content-Disposition, masked URLs, curl config quoting.

use crate::engine::modules::ModuleError;

/// `algorithm:value`.
pub(super) fn split_checksum(c: &str) -> Result<(String, String), ModuleError> {
    c.split_once(':')
        .map(|(a, v)| (a.to_string(), v.to_string()))
        .ok_or_else(|| {
            ModuleError::Args(
                "The checksum parameter has to be in format <algorithm>:<checksum>".into(),
            )
        })
}

pub(super) fn is_url(s: &str) -> bool {
    ["http://", "https://", "ftp://", "file:/"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// A double-quoted value of a curl config file.
pub(super) fn cq(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The URL without its password (`https://user:********@host/`), as Ansible reports it.
pub(super) fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((cred, host)) if cred.contains(':') => {
            let user = cred.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:********@{host}{}", &rest[end..])
        }
        _ => url.to_string(),
    }
}

/// The last path segment of a URL (query and fragment removed), as Ansible's `url_filename`;
/// `index.html` when there is none.
pub(super) fn url_filename(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    let path = no_query
        .split_once("://")
        .map(|(_, r)| r.split_once('/').map(|(_, p)| p).unwrap_or(""))
        .unwrap_or(no_query);
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() {
        "index.html".into()
    } else {
        percent_decode(name)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `filename=` of a Content-Disposition header, without any directory (no traversal).
pub(super) fn disposition_filename(v: &str) -> Option<String> {
    let f = v.split(';').find_map(|p| {
        let (k, val) = p.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case("filename"))
            .then(|| val.trim().trim_matches('"').to_string())
    })?;
    let base = f.rsplit('/').next().unwrap_or("").to_string();
    (!base.is_empty() && base != "." && base != "..").then_some(base)
}

/// (digest, file name) pairs of a checksum file: a lone digest, GNU `sha256sum` lines or BSD
/// `SHA256 (name) = digest` lines (Ansible's `parse_digest_lines`).
pub(super) fn parse_digest_lines(filename: &str, lines: &[&str]) -> Vec<(String, String)> {
    if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        return vec![(lines[0].trim().to_string(), filename.to_string())];
    }
    let mut out = Vec::new();
    for line in lines {
        if let Some(open) = line.find('(')
            && let Some(close) = line.rfind(") = ").or_else(|| line.rfind(")= "))
            && close > open
        {
            let digest = line[close..].split('=').nth(1).unwrap_or("").trim();
            out.push((digest.to_string(), line[open + 1..close].to_string()));
            continue;
        }
        let mut parts = line.splitn(2, char::is_whitespace);
        if let (Some(d), Some(rest)) = (parts.next(), parts.next()) {
            let path = rest.trim_start();
            let path = path
                .strip_prefix('*')
                .or_else(|| path.strip_prefix("./"))
                .unwrap_or(path);
            out.push((
                d.to_string(),
                path.trim_start_matches(['.', '/']).to_string(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_urls_and_headers() {
        assert_eq!(url_filename("http://h:8/a/b/x.tar.gz?v=1"), "x.tar.gz");
        assert_eq!(url_filename("http://h/"), "index.html");
        assert_eq!(url_filename("http://h/a%20b"), "a b");
        assert_eq!(
            disposition_filename("attachment; filename=\"../../etc/x.txt\""),
            Some("x.txt".into())
        );
        assert_eq!(disposition_filename("inline"), None);
    }

    #[test]
    fn checksum_files_in_gnu_and_bsd_format() {
        let gnu = parse_digest_lines("f.txt", &["abc  f.txt", "def *g.txt", "012  ./h.txt"]);
        assert_eq!(gnu[0], ("abc".into(), "f.txt".into()));
        assert_eq!(gnu[1], ("def".into(), "g.txt".into()));
        assert_eq!(gnu[2], ("012".into(), "h.txt".into()));
        let bsd = parse_digest_lines("f.txt", &["SHA256 (f.txt) = abc", "x"]);
        assert_eq!(bsd[0], ("abc".into(), "f.txt".into()));
        let lone = parse_digest_lines("f.txt", &["abc"]);
        assert_eq!(lone, [("abc".into(), "f.txt".into())]);
    }

    #[test]
    fn passwords_are_masked_and_curl_config_is_quoted() {
        assert_eq!(
            mask_url("https://u:secret@h.example/x"),
            "https://u:********@h.example/x"
        );
        assert_eq!(mask_url("https://h.example/x"), "https://h.example/x");
        assert_eq!(cq("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }
}
