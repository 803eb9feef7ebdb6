//! A line diff between two revisions of a flow, for the revisions page.
//!
//! A longest-common-subsequence table over the lines left after trimming the common head and
//! tail; flows are a few hundred lines, so the table is small. Past [`MAX_CELLS`] the middle is
//! shown as removed-then-added rather than spending the memory.

/// How a line of the diff relates to the two revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Same,
    Removed,
    Added,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub change: Change,
    /// The line's number in the old revision (for kept and removed lines).
    pub old: Option<usize>,
    /// The line's number in the new revision (for kept and added lines).
    pub new: Option<usize>,
    pub text: String,
}

impl DiffLine {
    /// The CSS class of the line.
    pub fn class(&self) -> &'static str {
        match self.change {
            Change::Same => "same",
            Change::Removed => "del",
            Change::Added => "add",
        }
    }

    pub fn sign(&self) -> &'static str {
        match self.change {
            Change::Same => " ",
            Change::Removed => "-",
            Change::Added => "+",
        }
    }
}

/// The largest LCS table built (old lines × new lines in the changed middle).
const MAX_CELLS: usize = 4_000_000;

pub fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (mid_a, mid_b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);

    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let same = |out: &mut Vec<DiffLine>, i: usize, j: usize| {
        out.push(DiffLine {
            change: Change::Same,
            old: Some(i + 1),
            new: Some(j + 1),
            text: a[i].to_owned(),
        })
    };
    for i in 0..head {
        same(&mut out, i, i);
    }
    let removed = |i: usize| DiffLine {
        change: Change::Removed,
        old: Some(i + 1),
        new: None,
        text: a[i].to_owned(),
    };
    let added = |j: usize| DiffLine {
        change: Change::Added,
        old: None,
        new: Some(j + 1),
        text: b[j].to_owned(),
    };
    let (n, m) = (mid_a.len(), mid_b.len());
    if (n + 1).saturating_mul(m + 1) > MAX_CELLS {
        out.extend((head..head + n).map(removed));
        out.extend((head..head + m).map(added));
    } else {
        // lcs[i][j]: the longest common subsequence of mid_a[i..] and mid_b[j..].
        let width = m + 1;
        let mut lcs = vec![0u32; (n + 1) * width];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * width + j] = if mid_a[i] == mid_b[j] {
                    lcs[(i + 1) * width + j + 1] + 1
                } else {
                    lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && mid_a[i] == mid_b[j] {
                same(&mut out, head + i, head + j);
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
                // On a tie the old line goes first: a change reads as `-old` then `+new`.
                out.push(removed(head + i));
                i += 1;
            } else {
                out.push(added(head + j));
                j += 1;
            }
        }
    }
    for k in 0..tail {
        same(&mut out, a.len() - tail + k, b.len() - tail + k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signs(old: &str, new: &str) -> String {
        diff(old, new)
            .iter()
            .map(|l| format!("{}{}", l.sign(), l.text))
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn changed_lines_are_removed_then_added_and_the_rest_kept() {
        assert_eq!(signs("a\nb\nc\n", "a\nx\nc\n"), " a|-b|+x| c");
        assert_eq!(signs("a\nc\n", "a\nb\nc\n"), " a|+b| c");
        assert_eq!(signs("a\nb\n", "b\n"), "-a| b");
        assert_eq!(signs("", "a\n"), "+a");
        let lines = diff("a\nb\n", "a\nc\nb\n");
        assert_eq!((lines[2].old, lines[2].new), (Some(2), Some(3)));
    }
}
