//! Unified diffs of text, for `--diff` and the wizard's Review step.

/// A unified diff with 3 lines of context; empty when the texts are equal.
pub fn unified(before: &str, after: &str, before_name: &str, after_name: &str) -> String {
    if before == after {
        return String::new();
    }
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // Files too large for the quadratic table get a summary instead of a diff.
    if a.len().saturating_mul(b.len()) > 25_000_000 {
        return format!(
            "--- {before_name}\n+++ {after_name}\n@@ {} lines -> {} lines (too large to diff) @@\n",
            a.len(),
            b.len()
        );
    }
    let ops = diff_ops(&a, &b);
    let mut out = format!("--- {before_name}\n+++ {after_name}\n");
    const CTX: usize = 3;
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o, Op::Same(..)))
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(CTX);
        let mut end = changed[i];
        while i < changed.len() && changed[i] <= end + 2 * CTX {
            end = changed[i];
            i += 1;
        }
        let end = (end + CTX + 1).min(ops.len());
        let (mut a0, mut b0) = (0, 0);
        for op in &ops[..start] {
            match op {
                Op::Same(..) => {
                    a0 += 1;
                    b0 += 1;
                }
                Op::Del(_) => a0 += 1,
                Op::Add(_) => b0 += 1,
            }
        }
        let (mut al, mut bl) = (0, 0);
        let mut body = String::new();
        for op in &ops[start..end] {
            match op {
                Op::Same(l, _) => {
                    al += 1;
                    bl += 1;
                    body.push_str(&format!(" {l}\n"));
                }
                Op::Del(l) => {
                    al += 1;
                    body.push_str(&format!("-{l}\n"));
                }
                Op::Add(l) => {
                    bl += 1;
                    body.push_str(&format!("+{l}\n"));
                }
            }
        }
        out.push_str(&format!(
            "@@ -{},{al} +{},{bl} @@\n{body}",
            a0 + usize::from(al > 0),
            b0 + usize::from(bl > 0)
        ));
    }
    out
}

enum Op<'a> {
    Same(&'a str, ()),
    Del(&'a str),
    Add(&'a str),
}

fn diff_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    // Trim the common prefix and suffix, then LCS on the middle.
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let (n, m) = (am.len(), bm.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if am[i] == bm[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<Op<'a>> = a[..pre].iter().map(|l| Op::Same(l, ())).collect();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && am[i] == bm[j] {
            ops.push(Op::Same(am[i], ()));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(Op::Del(am[i]));
            i += 1;
        } else {
            ops.push(Op::Add(bm[j]));
            j += 1;
        }
    }
    ops.extend(a[a.len() - suf..].iter().map(|l| Op::Same(l, ())));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_diff() {
        let d = unified("a\nb\nc\n", "a\nB\nc\nd\n", "x", "x");
        assert_eq!(d, "--- x\n+++ x\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n");
        assert_eq!(unified("same\n", "same\n", "x", "x"), "");
    }
}
