//! Python's `fnmatch.fnmatchcase`: `*`, `?`, `[…]` and `[!…]` (no path separator rules), as
//! Ansible uses it for file globs and `--start-at-task` names.

/// Whether `name` matches the shell-style `pattern`, as Python's `fnmatch.fnmatchcase`.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let pat: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    fnmatch_chars(&pat, &name)
}

/// [`fnmatch`] on characters (a caller matching many names against one pattern splits it once).
pub fn fnmatch_chars(pat: &[char], name: &[char]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|i| fnmatch_chars(&pat[1..], &name[i..])),
        Some('?') => !name.is_empty() && fnmatch_chars(&pat[1..], &name[1..]),
        Some('[') => match class_end(pat) {
            Some(end) => {
                let Some(c) = name.first() else { return false };
                class_matches(&pat[1..end], *c) && fnmatch_chars(&pat[end + 1..], &name[1..])
            }
            None => name.first() == Some(&'[') && fnmatch_chars(&pat[1..], &name[1..]),
        },
        Some(p) => name.first() == Some(p) && fnmatch_chars(&pat[1..], &name[1..]),
    }
}

/// The index of the `]` closing the class opened at 0 (a `]` right after `[` or `[!` is literal).
fn class_end(pat: &[char]) -> Option<usize> {
    let mut i = 1;
    if pat.get(i) == Some(&'!') {
        i += 1;
    }
    if pat.get(i) == Some(&']') {
        i += 1;
    }
    pat[i..].iter().position(|c| *c == ']').map(|p| p + i)
}

fn class_matches(class: &[char], c: char) -> bool {
    let (negate, class) = match class.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            hit |= class[i] <= c && c <= class[i + 2];
            i += 3;
        } else {
            hit |= class[i] == c;
            i += 1;
        }
    }
    hit != negate
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn matches_as_python_fnmatchcase() {
        assert!(fnmatch("two", "two"));
        assert!(fnmatch("t*", "two"));
        assert!(fnmatch("t?o", "two"));
        assert!(fnmatch("[st]wo", "two"));
        assert!(!fnmatch("[!t]wo", "two"));
        assert!(fnmatch("role : *", "role : install"));
        assert!(!fnmatch("Two", "two"));
        assert!(!fnmatch("tw", "two"));
        assert!(fnmatch("*.conf", "a.conf"));
        assert!(!fnmatch("*.conf", "a.confx"));
        assert!(fnmatch("[a-c]x", "bx"));
        assert!(!fnmatch("[!a-c]x", "bx"));
        assert!(fnmatch("[]]", "]"));
        assert!(fnmatch("[", "["));
    }
}
