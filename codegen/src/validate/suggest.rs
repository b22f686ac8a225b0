//! "did you mean" suggestions: the closest candidate by edit distance.
//!
//! One lookup compares the word with every candidate, so a schema set with
//! thousands of names and thousands of misspellings would do a quadratic
//! amount of work. A validation run therefore spends a bounded
//! [`Suggester`] budget of comparisons; once it is spent, the remaining
//! problems are still reported, without a suggestion.

/// The longest word a suggestion is looked up for, in characters.
const MAX_WORD_CHARS: usize = 64;

/// How many candidate comparisons one validation run may spend on
/// suggestions in total.
pub(crate) const RUN_BUDGET: usize = 500_000;

/// Suggestions with a budget of candidate comparisons for a whole run.
#[derive(Debug)]
pub(crate) struct Suggester {
    left: usize,
}

impl Default for Suggester {
    fn default() -> Self {
        Self::with_budget(RUN_BUDGET)
    }
}

impl Suggester {
    /// A suggester that compares at most `budget` candidates in all.
    pub(crate) fn with_budget(budget: usize) -> Self {
        Self { left: budget }
    }

    /// [`closest`], charged one unit per candidate looked at. `None` when
    /// the budget runs out before every candidate was seen: a suggestion is
    /// only made when it is the best of all candidates.
    pub(crate) fn closest<'a>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        let mut exhausted = false;
        let budget = &mut self.left;
        let charged = candidates.into_iter().take_while(|_| {
            if *budget == 0 {
                exhausted = true;
                return false;
            }
            *budget -= 1;
            true
        });
        let best = closest(word, charged);
        if exhausted { None } else { best }
    }
}

/// The candidate closest to `word` (case-insensitive edit distance),
/// if it is close enough to be a plausible typo: at most a third of the
/// word's length, and at least 1. Ties go to the earlier candidate. Words
/// longer than 64 characters get no suggestion.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    if word.is_empty() || word.len() > MAX_WORD_CHARS * 4 {
        return None;
    }
    let word: Vec<char> = word.to_lowercase().chars().collect();
    if word.len() > MAX_WORD_CHARS {
        return None;
    }
    let limit = (word.len() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        // Lengths first, without allocating: most candidates stop here.
        if candidate.is_ascii() && candidate.len().abs_diff(word.len()) > limit {
            continue;
        }
        let lower: Vec<char> = candidate.to_lowercase().chars().collect();
        if lower.len().abs_diff(word.len()) > limit {
            continue;
        }
        let d = distance(&word, &lower);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance with adjacent transpositions (optimal string alignment):
/// `u23` is one edit from `u32`.
fn distance(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos() {
        let scalars = [
            "string",
            "bool",
            "i32",
            "i64",
            "u32",
            "u64",
            "f32",
            "f64",
            "timestamp",
            "uuid",
            "json",
        ];
        assert_eq!(closest("strng", scalars), Some("string"));
        assert_eq!(closest("String", scalars), Some("string"));
        assert_eq!(closest("u23", scalars), Some("u32"));
        assert_eq!(closest("timestmap", scalars), Some("timestamp"));
        assert_eq!(closest("integer", scalars), None);
        assert_eq!(closest("", scalars), None);
    }

    #[test]
    fn a_spent_budget_suggests_nothing() {
        let mut suggester = Suggester::with_budget(3);
        assert_eq!(
            suggester.closest("strng", ["string", "bool"]),
            Some("string")
        );
        // One unit left: not enough to see both candidates.
        assert_eq!(suggester.closest("strng", ["bool", "string"]), None);
        assert_eq!(suggester.closest("strng", ["string"]), None);
    }

    #[test]
    fn ties_go_to_the_first_candidate() {
        assert_eq!(closest("u3", ["u32", "u34"]), Some("u32"));
        assert_eq!(closest("u3", ["u34", "u32"]), Some("u34"));
    }
}
