use super::*;

fn re(p: &str) -> Regex {
    compile(p, Flags::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn bre(p: &str) -> BytesRegex {
    compile_bytes(p, Flags::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn sub(p: &str, template: &str, hay: &str) -> String {
    let r = re(p);
    let t = r.template(template).unwrap_or_else(|e| panic!("{e}"));
    r.subn(&t, hay, 0).unwrap_or_else(|e| panic!("{e}")).0
}

/// `\Z` (end of text) means the same for text and for bytes.
#[test]
fn end_of_text_anchor_for_text_and_bytes() {
    let r = re(r"x\Z");
    assert_eq!(r.is_match("ax"), Ok(true));
    assert_eq!(r.is_match("x\n"), Ok(false));
    let r = bre(r"x\Z");
    assert_eq!(r.is_match(b"ax"), Ok(true));
    assert_eq!(r.is_match(b"xa"), Ok(false));
    assert!(compile(r"(?P<n>a)\A", Flags::default()).is_ok());
}

#[test]
fn bad_pattern_names_it() {
    let e = compile_bytes("a(", Flags::default())
        .err()
        .unwrap_or_default();
    assert!(e.starts_with("invalid pattern 'a(': "), "{e}");
    // a backreference to a group that does not exist: fancy-regex's message, not "backreferences
    // are not supported"
    let e = compile(r"(a)\2", Flags::default())
        .err()
        .unwrap_or_default();
    assert!(e.starts_with(r"invalid pattern '(a)\2': "), "{e}");
    assert!(!e.contains("not supported"), "{e}");
    let e = compile(r"a\q", Flags::default()).err().unwrap_or_default();
    assert_eq!(e, r"invalid pattern 'a\q': bad escape \q at position 1");
}

/// Patterns the `regex` crate lacks (Python re.search results in the comments).
#[test]
fn backreferences_and_lookaround() {
    for (p, hay, want) in [
        // re.search(r'^(REF) .* \1$', 'REF some value REF') -> match
        (r"^(REF) .* \1$", "REF some value REF", true),
        (r"^(REF) .* \1$", "REF some value FER", false),
        (r"(?P<q>['\x22]).*(?P=q)", "say 'hi'", true),
        (r"(?P<q>['\x22]).*(?P=q)", "say 'hi\"", false),
        (r"foo(?=bar)", "foobar", true),
        (r"foo(?!bar)", "foobar", false),
        (r"(?<=\$)\d+", "cost $42", true),
        (r"(?<!\$)\b\d+", "$42", false),
        (r"(a)(?(1)b|c)", "ab", true),
        (r"ab(?#a comment)c", "abc", true),
        (r"(?i)(abc)\1", "abcABC", true),
    ] {
        assert_eq!(re(p).is_match(hay), Ok(want), "{p} on {hay}");
        assert_eq!(
            bre(p).is_match(hay.as_bytes()),
            Ok(want),
            "bytes: {p} on {hay}"
        );
    }
    let r = re(r"(\w+) \1");
    let caps = r
        .captures("say hello hello")
        .ok()
        .flatten()
        .expect("matches");
    assert_eq!(caps.str(0), Some("hello hello"));
    assert_eq!(caps.str(1), Some("hello"));
}

/// re.sub with templates on patterns either engine compiles.
#[test]
fn sub_with_python_templates() {
    // re.sub(r'(\w)\1', r'<\1>', 'aabcc') == '<a>b<c>'
    assert_eq!(sub(r"(\w)\1", r"<\1>", "aabcc"), "<a>b<c>");
    assert_eq!(sub(r"(?P<w>\w)(?P=w)", r"[\g<w>\g<1>]", "xx"), "[xx]");
    assert_eq!(sub(r"(?<=a)b", "X", "abcb"), "aXcb");
    // re.sub('x*', '-', 'abxd') == '-a-b--d-'
    assert_eq!(sub("x*", "-", "abxd"), "-a-b--d-");
    assert_eq!(sub(r"(?=b)", "-", "abb"), "a-b-b");
    assert_eq!(sub(r"(b)(?!c)", r"\g<0>\g<1>", "bcbd"), "bcbbd");
    let r = re("a");
    let t = r.template("b").expect("template");
    assert_eq!(r.subn(&t, "aaa", 2), Ok(("bba".to_string(), 2)));
}

/// Bytes that are not UTF-8 stay as they are, with either engine.
#[test]
fn bytes_that_are_not_utf8() {
    for p in [r"(a) \1", r"(a) a"] {
        let r = bre(p);
        let t = r.template("X").expect("template");
        let (out, n) = r.subn_bytes(&t, b"\xff a a\xfe\xe9 a a", 0).expect("sub");
        assert_eq!((out.as_slice(), n), (&b"\xff X\xfe\xe9 X"[..], 2), "{p}");
        let caps = r
            .captures_at(b"a a\xff a a", 1)
            .ok()
            .flatten()
            .expect("matches");
        assert_eq!(caps.whole(), 5..8, "{p}");
    }
}

#[test]
fn flags_reach_both_engines() {
    let f = Flags {
        ignorecase: true,
        multiline: true,
        dotall: true,
    };
    for p in [r"^(b).c$", r"^(b).c$(?=\n|\Z)"] {
        let r = compile(p, f).expect("compiles");
        assert_eq!(r.is_match("a\nB\nc\nd"), Ok(true), "{p}");
        let r = compile_bytes(p, f).expect("compiles");
        assert_eq!(r.is_match(b"a\nB\nc\nd"), Ok(true), "{p}");
    }
}

#[test]
fn replacement_templates_on_bytes() {
    let r = bre(r"^port = (?P<n>\d+)$");
    let caps = r.captures(b"port = 5432").ok().flatten().expect("matches");
    for (template, want) in [
        (r"port = \1 # kept", "port = 5432 # kept"),
        (r"\g<n>-\g<1>\t$x", "5432-5432\t$x"),
    ] {
        let pieces = r.template(template).expect("parses");
        assert_eq!(caps.expand(&pieces), want.as_bytes(), "{template}");
    }
    let bad = r.template(r"\2").err().unwrap_or_default();
    assert!(bad.starts_with("invalid group reference 2"), "{bad}");
    let bad = r.template(r"\g<x>").err().unwrap_or_default();
    assert_eq!(bad, "unknown group name 'x'");
}

/// Python: re.search('^a$', 'a\n') matches, re.search('a$', 'a\nb') does not.
#[test]
fn dollar_before_a_final_newline() {
    assert_eq!(re("^a$").is_match("a\n"), Ok(true));
    assert_eq!(re("^a$").is_match("a\nb"), Ok(false));
    assert_eq!(re("^a$").is_match("a\n\n"), Ok(false));
    assert_eq!(
        bre("^This is line 1$").is_match(b"This is line 1\n"),
        Ok(true)
    );
    assert_eq!(sub("$", "!", "a\n"), "a!\n!");
    let m = compile(
        "a$",
        Flags {
            multiline: true,
            ..Flags::default()
        },
    )
    .expect("compiles");
    assert_eq!(m.is_match("a\nb"), Ok(true));
}

#[test]
fn group_names_and_counts() {
    let r = re(r"(?P<a>x)(y)\1");
    assert_eq!(r.captures_len(), 3);
    assert_eq!(r.group_index("a"), Some(1));
    assert_eq!(r.group_names(), vec![None, Some("a"), None]);
}

/// `\N{name}` as Python 3.11's `re` reads it (results and messages from python3): a text
/// pattern only; a bytes pattern refuses it.
#[test]
fn characters_by_unicode_name() {
    assert_eq!(re(r"a\N{BULLET}").is_match("xa•"), Ok(true));
    assert_eq!(re(r"[\N{BULLET}x]+").is_match("•x"), Ok(true));
    assert_eq!(re(r"^\N{latin small letter a}+$").is_match("aa"), Ok(true));
    assert_eq!(sub(r"\N{EM DASH}", "-", "a—b"), "a-b");
    for (p, want) in [
        (r"a\Nx", "missing { at position 3"),
        (r"a\N{}", "missing character name at position 4"),
        (r"a\N{BULL", "missing }, unterminated name at position 4"),
        (
            r"a\N{NOPE}",
            "undefined character name 'NOPE' at position 1",
        ),
    ] {
        let e = compile(p, Flags::default()).err().unwrap_or_default();
        assert_eq!(e, format!("invalid pattern '{p}': {want}"));
    }
    let e = compile_bytes(r"a\N{BULLET}", Flags::default())
        .err()
        .unwrap_or_default();
    assert_eq!(
        e,
        r"invalid pattern 'a\N{BULLET}': bad escape \N at position 1"
    );
}
