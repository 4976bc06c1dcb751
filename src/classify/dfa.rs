//! Dense Aho-Corasick DFAs of our own, for the matcher.
//!
//! What the `aho-corasick` crate's DFA does not do:
//!
//! - **Word starts.** Nearly every Latin-script term needs a word boundary
//!   on its left, so a match of one can only begin where a word begins. The
//!   DFA follows such a term only from a word start (after a byte that is
//!   not an ASCII letter or digit): inside a word that no term begins, it
//!   rests in a state of its own until the word ends. An ordinary DFA
//!   follows every suffix of the text that begins a term ("chin" in
//!   "machine"): its scans visit more states (more of the table that is
//!   not in cache), and it reports matches inside words that the boundary
//!   check then throws away. The other terms (wild on their left: German
//!   compounds, "*halbleiter*") are followed from every byte by the same
//!   DFA: its states are pairs of the two automata's states, which a scan
//!   meets hardly more of than of the first alone.
//! - **"Does this state report?" is one bit.** The ids of states that
//!   report are odd, those of the others even, and where a state's reports
//!   lie sits beside its transitions.
//!
//! A state's transitions are exactly as many as the alphabet's classes
//! (bytes that no term tells apart share one). The shallowest states, the
//! busiest, lie side by side; below them a term's states lie row after
//! row, so that a scan following a term walks forwards through the table
//! as the hardware prefetches (a breadth-first layout scatters them: 3%
//! slower per pass).

use super::matcher::Pattern;

/// A dense DFA over a set of terms, unanchored.
///
/// Each state has the same even number of entries in `trans`, in the
/// order of [`depth_first`]. A state's id is where its transitions begin:
/// the offset of its entries for a state that reports nothing, one past
/// it for a state that reports (its first entry is where its reports
/// begin in `patterns`, the entry after its transitions where they end).
/// So ids of states that report are odd, the others even.
#[derive(Debug)]
pub(super) struct Dfa {
    /// Each byte's class: its column among a state's transitions.
    classes: [u8; 256],
    /// How many classes.
    width: usize,
    trans: Vec<u32>,
    start: u32,
    /// What the states that report report, state after state.
    patterns: Vec<Pattern>,
}

/// No transition yet (while building).
const NONE: u32 = u32::MAX;

/// An automaton over one set of terms while building: complete rows of
/// node numbers, and each node's terms (its own and its failure's).
struct Trie {
    rows: Vec<u32>,
    outputs: Vec<Vec<u32>>,
}

impl Trie {
    /// The Aho-Corasick automaton of `terms` (term `k` reported as
    /// `first + k`) over the alphabet `classes` (as many classes
    /// as `boundary` has entries; `boundary[c]`: bytes of class `c` are not
    /// ASCII letters or digits).
    /// From word starts only if `only`; node 0 is the root.
    fn build(terms: &[&str], first: usize, only: bool, classes: &[u8; 256], boundary: &[bool]) -> Self {
        let width = boundary.len();
        // Without terms, nothing to follow: one state.
        let only = only && !terms.is_empty();
        // Node 0 the root, node 1 with word starts the state inside a word
        // that no term begins.
        let (root, inside) = (0usize, usize::from(only));
        let bytes: usize = terms.iter().map(|t| t.len()).sum();
        let mut rows: Vec<u32> = Vec::with_capacity((2 + bytes) * width);
        rows.resize((1 + usize::from(only)) * width, NONE);
        let mut outputs: Vec<Vec<u32>> = vec![Vec::new(); 1 + usize::from(only)];
        for (k, t) in terms.iter().enumerate() {
            let mut node = root;
            for &b in t.as_bytes() {
                let cell = node * width + usize::from(classes[usize::from(b)]);
                if rows[cell] == NONE {
                    rows[cell] = (rows.len() / width) as u32;
                    rows.resize(rows.len() + width, NONE);
                    outputs.push(Vec::new());
                }
                node = rows[cell] as usize;
            }
            outputs[node].push((first + k) as u32);
        }
        // Breadth first: each node's failure (the longest proper suffix of
        // what it spells that a term begins, and with word starts that
        // begins at one), then its missing transitions from its failure's.
        // Where no suffix is left: the root, or inside a word.
        let rest = |c: usize| if only && !boundary[c] { inside } else { root } as u32;
        let nodes = rows.len() / width;
        let mut fail = vec![root as u32; nodes];
        let mut order = Vec::with_capacity(nodes);
        if only {
            for c in 0..width {
                rows[inside * width + c] = rest(c);
            }
        }
        for c in 0..width {
            let cell = root * width + c;
            if rows[cell] == NONE {
                rows[cell] = rest(c);
            } else {
                fail[rows[cell] as usize] = rest(c);
                order.push(rows[cell]);
            }
        }
        // A node's row is its failure's (complete by now: it is
        // shallower) but for its children.
        let mut kids = Vec::new();
        let mut next = 0;
        while next < order.len() {
            let node = order[next] as usize;
            next += 1;
            // A node reports its failure's terms after its own.
            let f = fail[node] as usize;
            if !outputs[f].is_empty() {
                let inherited = outputs[f].clone();
                outputs[node].extend(inherited);
            }
            let row = node * width;
            kids.clear();
            kids.extend(
                rows[row..row + width]
                    .iter()
                    .enumerate()
                    .filter(|&(_, &to)| to != NONE)
                    .map(|(c, &to)| (c, to)),
            );
            rows.copy_within(f * width..(f + 1) * width, row);
            for &(c, kid) in &kids {
                fail[kid as usize] = rows[row + c];
                rows[row + c] = kid;
                order.push(kid);
            }
        }
        Trie { rows, outputs }
    }
}

/// The numbers of pairs of nodes: by node of the first automaton, its
/// first partner in the second, and for the few nodes with more (the
/// root, the state inside a word) a table by node of the second.
struct Partners {
    /// Node count of the second automaton.
    second: usize,
    by_first: Vec<First>,
    /// By node of the second: the number of the pair (`NONE`: none yet).
    tables: Vec<Vec<u32>>,
}

/// What [`Partners`] knows of a node of the first automaton.
#[derive(Clone, Copy)]
struct First {
    /// Its first partner (`NONE`: none yet), and their pair's number.
    partner: u32,
    number: u32,
    /// Its table in `tables`, if it has more partners (`NONE`: none).
    table: u32,
}

impl Partners {
    fn new(first: usize, second: usize) -> Self {
        Partners {
            second,
            by_first: vec![
                First {
                    partner: NONE,
                    number: NONE,
                    table: NONE,
                };
                first
            ],
            tables: Vec::new(),
        }
    }

    /// The number of `pair`, given `n` if it has none yet.
    #[inline]
    fn find_or_insert(&mut self, (w, a): (u32, u32), n: u32) -> u32 {
        let first = &mut self.by_first[w as usize];
        if first.partner == a {
            return first.number;
        }
        if first.partner == NONE {
            first.partner = a;
            first.number = n;
            return n;
        }
        if first.table == NONE {
            first.table = self.tables.len() as u32;
            self.tables.push(vec![NONE; self.second]);
        }
        let number = &mut self.tables[first.table as usize][a as usize];
        if *number == NONE {
            *number = n;
        }
        *number
    }
}

/// How deep the states laid out breadth first go: below, each subtree of
/// the breadth-first tree lies depth first, a term's states one after
/// the other. Depth 1 is the start, the state inside a word and each
/// term's first byte (0, 2 and 4 were tried: no faster).
const SHALLOW: u32 = 1;

/// The order to lay out the states found breadth first (`depth` of each,
/// `kids[k]..kids[k + 1]` the states that state `k` found first): those
/// down to depth [`SHALLOW`] as found, then the rest subtree by subtree,
/// depth first. A scan that follows a term then walks forwards through
/// the table, row after row, as the hardware prefetches.
fn depth_first(depth: &[u32], kids: &[u32]) -> Vec<u32> {
    let shallow = depth.partition_point(|&d| d <= SHALLOW);
    let mut order: Vec<u32> = (0..shallow as u32).collect();
    let mut stack = Vec::new();
    let roots = depth[shallow..].iter().take_while(|&&d| d == SHALLOW + 1).count();
    for root in shallow..shallow + roots {
        stack.push(root as u32);
        while let Some(k) = stack.pop() {
            order.push(k);
            let k = k as usize;
            stack.extend((kids[k]..kids[k + 1]).rev());
        }
    }
    debug_assert_eq!(order.len(), depth.len(), "every state laid out once");
    order
}

/// The entries of a row over `width` classes: one each, and two for where
/// a state's reports begin and end, rounded up to an even number.
fn stride(width: usize) -> usize {
    (width + 3) & !1
}

/// Reorder the rows of `stride` entries of `rows` in place: row `r`
/// becomes what row `order[r]` was (`order` a permutation).
fn permute_rows(rows: &mut [u32], stride: usize, order: &[u32]) {
    let mut done = vec![false; order.len()];
    let mut held = vec![0u32; stride];
    for first in 0..order.len() {
        if done[first] {
            continue;
        }
        // Follow the cycle through `first`: each row takes its source's,
        // the last the one held from `first`.
        held.copy_from_slice(&rows[first * stride..][..stride]);
        let mut r = first;
        loop {
            done[r] = true;
            let from = order[r] as usize;
            if from == first {
                rows[r * stride..][..stride].copy_from_slice(&held);
                break;
            }
            rows.copy_within(from * stride..(from + 1) * stride, r * stride);
            r = from;
        }
    }
}

impl Dfa {
    /// The DFA of `bound` and `free` (none empty), reporting term `k` of
    /// them all (`bound` first) as `pattern(k)`. It follows `bound` from
    /// word starts only (a byte after one that is not an ASCII letter or
    /// digit, or the first; a byte of a non-ASCII character counts as one:
    /// it may end a letter, so the caller checks the boundaries of what is
    /// reported), `free` from every byte. `None` if its table would not fit
    /// 32-bit ids.
    ///
    /// # Panics
    /// If a term of `bound` does not begin with an ASCII letter or digit.
    pub(super) fn build(bound: &[&str], free: &[&str], pattern: impl Fn(usize) -> Pattern) -> Option<Self> {
        assert!(
            bound
                .iter()
                .all(|t| t.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)),
            "every term followed from word starts begins with an ASCII letter or digit"
        );
        let only = !bound.is_empty();
        // Each byte some term holds is a class of its own; the others are
        // one class, or with word starts two: letters and digits, and the
        // rest.
        let mut used = [false; 256];
        for b in bound.iter().chain(free).flat_map(|t| t.bytes()) {
            used[usize::from(b)] = true;
        }
        let mut classes = [0u8; 256];
        let mut count = 0usize;
        for b in 0..256 {
            if used[b] {
                // At most 256 classes, numbered below 256.
                classes[b] = count as u8;
                count += 1;
            }
        }
        let (other_word, other) = (count, count + usize::from(only));
        for b in 0..=255u8 {
            if !used[usize::from(b)] {
                classes[usize::from(b)] = if only && b.is_ascii_alphanumeric() {
                    other_word
                } else {
                    other
                } as u8;
            }
        }
        let width = other + 1;
        let mut boundary = vec![false; width];
        for b in 0..=255u8 {
            boundary[usize::from(classes[usize::from(b)])] = !b.is_ascii_alphanumeric();
        }
        let words = Trie::build(bound, 0, true, &classes, &boundary);
        let anywhere = Trie::build(free, bound.len(), false, &classes, &boundary);

        // The DFA's states are the pairs of nodes a scan meets, found
        // breadth first. Each has a row: an entry for each class (the
        // number of the pair it leads to, then its id), and for a pair
        // that reports one before them and one after for where its
        // reports begin and end (see [`stride`]). Its id is its row's
        // offset, and one more if it reports.
        let stride = stride(width);
        let reports = |(w, a): (u32, u32)| {
            words.outputs[w as usize]
                .iter()
                .chain(&anywhere.outputs[a as usize])
        };
        let mut known = Partners::new(words.outputs.len(), anywhere.outputs.len());
        known.find_or_insert((0, 0), 0);
        // The pairs found, each with whether it reports.
        let mut queue: Vec<((u32, u32), bool)> = vec![((0, 0), reports((0, 0)).next().is_some())];
        // Each pair's depth, and where the pairs it found first begin in
        // `queue` (they lie side by side there).
        let mut depth: Vec<u32> = vec![0];
        let mut kids: Vec<u32> = Vec::new();
        let pairs_about = words.outputs.len() + anywhere.outputs.len();
        let mut trans: Vec<u32> = Vec::with_capacity(pairs_about * stride);
        let mut next = 0;
        while next < queue.len() {
            let ((w, a), loud) = queue[next];
            next += 1;
            kids.push(queue.len() as u32);
            // Where its reports begin, filled in once they are laid out.
            trans.extend(loud.then_some(0));
            // Neighbouring classes often lead to the same pair.
            let mut last = ((NONE, NONE), 0);
            for c in 0..width {
                let to = (
                    words.rows[w as usize * width + c],
                    anywhere.rows[a as usize * width + c],
                );
                if to != last.0 {
                    let fresh = queue.len() as u32;
                    let n = known.find_or_insert(to, fresh);
                    if n == fresh {
                        queue.push((to, reports(to).next().is_some()));
                        depth.push(depth[next - 1] + 1);
                    }
                    last = (to, n);
                }
                trans.push(last.1);
            }
            trans.resize(next * stride, 0);
            if queue
                .len()
                .checked_mul(stride)
                .is_none_or(|cells| cells > u32::MAX as usize)
            {
                return None;
            }
        }
        kids.push(queue.len() as u32);

        // The rows in their final order, their entries the final ids, and
        // the reports in the order of their states.
        let order = depth_first(&depth, &kids);
        permute_rows(&mut trans, stride, &order);
        let mut ids = vec![0u32; queue.len()];
        for (r, &k) in order.iter().enumerate() {
            // Checked while they were found: every offset fits 32 bits.
            ids[k as usize] = (r * stride) as u32 + u32::from(queue[k as usize].1);
        }
        let mut patterns = Vec::new();
        for (row, &k) in trans.chunks_exact_mut(stride).zip(&order) {
            let (pair, loud) = queue[k as usize];
            let at = usize::from(loud);
            for to in &mut row[at..at + width] {
                *to = ids[*to as usize];
            }
            if loud {
                row[0] = patterns.len() as u32;
                patterns.extend(reports(pair).map(|&t| pattern(t as usize)));
                row[1 + width] = patterns.len() as u32;
            }
        }
        Some(Dfa {
            classes,
            width,
            trans,
            start: ids[0],
            patterns,
        })
    }

    /// The state a scan starts in (as after a word's end).
    #[inline(always)]
    pub(super) fn start(&self) -> u32 {
        self.start
    }

    /// The state after `sid` on `byte`.
    #[inline(always)]
    pub(super) fn next(&self, sid: u32, byte: u8) -> u32 {
        self.trans[sid as usize + usize::from(self.classes[usize::from(byte)])]
    }

    /// Does `sid` report matches?
    #[inline(always)]
    pub(super) fn reports_any(&self, sid: u32) -> bool {
        sid & 1 == 1
    }

    /// Bit `j` set for each of `states` that reports: their ids are odd,
    /// so eight at a time the low bit of each, moved to the top, makes a
    /// vector's bit mask.
    #[inline(always)]
    pub(super) fn reporting(&self, states: &[u32; 64]) -> u64 {
        use wide::u32x8;
        states.chunks_exact(8).enumerate().fold(0, |m, (c, eight)| {
            let eight: [u32; 8] = eight.try_into().expect("eight states");
            let v = u32x8::new(eight) << 31u32;
            m | u64::from(v.to_bitmask()) << (8 * c)
        })
    }

    /// The patterns `sid` reports (none if it reports none).
    #[inline(always)]
    pub(super) fn reports(&self, sid: u32) -> &[Pattern] {
        if !self.reports_any(sid) {
            return &[];
        }
        let at = sid as usize;
        let (from, to) = (self.trans[at - 1], self.trans[at + self.width]);
        &self.patterns[from as usize..to as usize]
    }

    /// The patterns (empty: the DFA never reports).
    pub(super) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each term reports its number.
    fn pattern(k: usize) -> Pattern {
        Pattern {
            len: 0,
            term: k as u32,
            left: false,
            right: false,
        }
    }

    /// What a scan of `text` reports: (offset of the last byte, term).
    fn reported(d: &Dfa, text: &str) -> Vec<(usize, u32)> {
        let mut sid = d.start();
        let mut out = Vec::new();
        for (i, &b) in text.as_bytes().iter().enumerate() {
            sid = d.next(sid, b);
            assert_eq!(d.reports_any(sid), !d.reports(sid).is_empty(), "{text:?} at {i}");
            out.extend(d.reports(sid).iter().map(|p| (i, p.term)));
        }
        out
    }

    #[test]
    fn bound_terms_are_followed_from_word_starts_only() {
        let d =
            Dfa::build(&["chin", "china", "us-china"], &["halbleiter"], pattern).expect("a small DFA builds");
        // Not inside a word.
        assert_eq!(reported(&d, "machine"), []);
        assert_eq!(reported(&d, "china"), [(3, 0), (4, 1)]);
        // From the start of a term and from a word start inside it.
        assert_eq!(reported(&d, "us-china"), [(6, 0), (7, 2), (7, 1)]);
        assert_eq!(reported(&d, "a\0chin chin"), [(5, 0), (10, 0)]);
        // After a byte of a non-ASCII character: maybe a word start (the
        // caller checks).
        assert_eq!(reported(&d, "échin"), [(5, 0)]);
        // The free term, from any byte; the others still from word starts.
        assert_eq!(reported(&d, "xhalbleiterchina"), [(10, 3)]);
        assert_eq!(reported(&d, "halbleiter china"), [(9, 3), (14, 0), (15, 1)]);
    }

    #[test]
    fn a_term_s_states_lie_row_after_row() {
        let d = Dfa::build(&["sand", "semiconductor"], &[], pattern).expect("a small DFA builds");
        let stride = stride(d.width);
        let mut sid = d.start();
        let mut rows = Vec::new();
        for &b in b"semiconductor" {
            sid = d.next(sid, b);
            rows.push(sid as usize / stride);
        }
        // Below the states laid out breadth first ("s", and "se" where
        // the depth-first part begins), each state's row is the next.
        let deep = &rows[SHALLOW as usize..];
        assert!(deep.windows(2).all(|w| w[1] == w[0] + 1), "{rows:?}");
        assert_eq!(reported(&d, "semiconductor sand"), [(12, 1), (17, 0)]);
    }

    #[test]
    fn rows_are_permuted_in_place() {
        let mut rows = vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4];
        permute_rows(&mut rows, 2, &[2, 0, 3, 1, 4]);
        assert_eq!(rows, [2, 2, 0, 0, 3, 3, 1, 1, 4, 4]);
    }

    #[test]
    fn free_terms_only_are_followed_from_every_byte() {
        let d = Dfa::build(&[], &["chin", "中国"], pattern).expect("a small DFA builds");
        assert_eq!(reported(&d, "machine 中国"), [(5, 0), (13, 1)]);
    }
}
