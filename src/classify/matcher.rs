//! Finding every occurrence of every profile term (overlaps included:
//! "export controls" and "controls") in many texts at once, where the
//! term's word boundaries allow it; a side of a term without a boundary
//! (a wildcard) takes in the rest of its word.
//!
//! The terms are compiled into two Aho-Corasick DFAs of our own
//! (`dfa.rs`): the ASCII terms, which every text needs (those that
//! need a boundary on their left followed from word starts only), and the
//! rest, which only texts with non-ASCII characters need. A DFA of a few
//! thousand terms takes megabytes, more than the first-level cache, and
//! each step of a scan waits for the load of the next state: one text at a
//! time, the scan is bound by that latency, not by the work. So texts are
//! scanned in interleaved streams, each its own share of the texts; the
//! loads of the streams overlap. A batch's texts go in eight streams, from
//! a copy of their bytes laid out step by step (one load a step for all
//! eight, so that the eight states stay in registers); a short text goes
//! in up to four streams straight from its bytes. A profile too large for
//! 32-bit DFA ids falls back to the crate's contiguous NFA.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::nfa::contiguous;
use aho_corasick::{Anchored, MatchKind};

use super::dfa::Dfa;
use super::normalize::{word_char_at, word_char_before, word_end, word_start};

/// Streams scanned side by side, at most: eight from a text's bytes laid
/// out step by step (see [`scan_rows`]).
const LANES: usize = 8;

/// Streams scanned side by side straight from a text (too short for
/// [`LANES`]): each has its own pointer into the text, and with more than
/// four the loop's registers spill.
const SLICES: usize = 4;

/// Steps of each stream scanned before their reports are made: one bit
/// each in a `u64`.
const BLOCK: usize = 64;

/// What a scan needs of an automaton.
trait Steps {
    type Id: Copy;
    fn start(&self) -> Self::Id;
    fn next(&self, sid: Self::Id, byte: u8) -> Self::Id;
    /// Does `sid` report matches? (It may report none.)
    fn special(&self, sid: Self::Id) -> bool;
    fn reports(&self, sid: Self::Id) -> &[Pattern];
    /// Bit `j` set for each `states[j]` that is special.
    #[inline(always)]
    fn specials(&self, states: &[Self::Id; BLOCK]) -> u64 {
        states
            .iter()
            .enumerate()
            .fold(0, |m, (j, &s)| m | u64::from(self.special(s)) << j)
    }
}

impl Steps for Dfa {
    type Id = u32;

    #[inline(always)]
    fn start(&self) -> u32 {
        Dfa::start(self)
    }

    #[inline(always)]
    fn next(&self, sid: u32, byte: u8) -> u32 {
        Dfa::next(self, sid, byte)
    }

    #[inline(always)]
    fn special(&self, sid: u32) -> bool {
        self.reports_any(sid)
    }

    #[inline(always)]
    fn reports(&self, sid: u32) -> &[Pattern] {
        Dfa::reports(self, sid)
    }

    #[inline(always)]
    fn specials(&self, states: &[u32; BLOCK]) -> u64 {
        self.reporting(states)
    }
}

/// The crate's contiguous NFA, for terms too many for a DFA, with what
/// each of its states reports.
#[derive(Debug)]
struct Nfa {
    nfa: contiguous::NFA,
    reports: Reports,
}

impl Steps for Nfa {
    type Id = StateID;

    #[inline(always)]
    fn start(&self) -> StateID {
        self.nfa
            .start_state(Anchored::No)
            .expect("unanchored search is supported")
    }

    #[inline(always)]
    fn next(&self, sid: StateID, byte: u8) -> StateID {
        self.nfa.next_state(Anchored::No, sid, byte)
    }

    #[inline(always)]
    fn special(&self, sid: StateID) -> bool {
        self.nfa.is_special(sid)
    }

    #[inline(always)]
    fn reports(&self, sid: StateID) -> &[Pattern] {
        self.reports.of(sid)
    }
}

/// An automaton over one set of terms.
#[derive(Debug)]
enum Compiled {
    Dfa(Dfa),
    /// Only if a DFA would not fit its 32-bit ids.
    Nfa(Nfa),
}

/// A term as a machine reports it: its length in bytes, its index in the
/// profile, and does it need a word boundary on its left, on its right?
/// (A side without one is wild: the match takes in the rest of the word
/// there.)
#[derive(Debug, Clone, Copy)]
pub(super) struct Pattern {
    pub(super) len: u32,
    pub(super) term: u32,
    pub(super) left: bool,
    pub(super) right: bool,
}

/// The patterns each state of the crate's automaton reports, laid out
/// flat: a reported match costs one lookup by state and a walk of
/// adjacent entries.
#[derive(Debug)]
struct Reports {
    /// Every state id is a multiple of `1 << shift`.
    shift: u32,
    /// By state id `>> shift`: the state's range in `patterns`.
    ranges: Vec<(u32, u32)>,
    patterns: Vec<Pattern>,
}

impl Reports {
    /// The reports of `a`, built from `terms` (its patterns, in order);
    /// `pattern(k)`: what pattern `k` reports.
    fn new<A: Automaton>(a: &A, terms: &[&str], pattern: impl Fn(usize) -> Pattern) -> Self {
        // Every state a scan reaches is the longest suffix of the text
        // read so far that begins a pattern: a prefix of a pattern. So
        // walking each pattern from the start visits every one.
        let start = a
            .start_state(Anchored::No)
            .expect("unanchored search is supported");
        let mut states = vec![start];
        for t in terms {
            let mut sid = start;
            for &b in t.as_bytes() {
                sid = a.next_state(Anchored::No, sid, b);
                states.push(sid);
            }
        }
        let shift = states
            .iter()
            .fold(0, |all, s| all | s.as_usize())
            .trailing_zeros()
            .min(usize::BITS - 1);
        let last = states.iter().map(|s| s.as_usize() >> shift).max().unwrap_or(0);
        let mut ranges = vec![(0, 0); last + 1];
        let mut patterns = Vec::new();
        // Patterns and states are far fewer than 4 billion.
        for sid in states.into_iter().filter(|&sid| a.is_match(sid)) {
            // A match state reports at least one pattern: an empty range
            // is a state not met yet.
            if ranges[sid.as_usize() >> shift] != (0, 0) {
                continue;
            }
            let from = patterns.len() as u32;
            patterns.extend((0..a.match_len(sid)).map(|i| pattern(a.match_pattern(sid, i).as_usize())));
            ranges[sid.as_usize() >> shift] = (from, patterns.len() as u32);
        }
        Reports {
            shift,
            ranges,
            patterns,
        }
    }

    /// What state `sid` reports.
    #[inline(always)]
    fn of(&self, sid: StateID) -> &[Pattern] {
        let (from, to) = self.ranges[sid.as_usize() >> self.shift];
        &self.patterns[from as usize..to as usize]
    }
}

/// One compiled set of terms and the length of the longest.
#[derive(Debug)]
struct Machine {
    compiled: Compiled,
    longest: usize,
}

impl Machine {
    /// The machine of `bound`, followed from word starts only, and `free`,
    /// followed from every byte (see [`Dfa::build`]); `pattern(k)`: what
    /// the `k`th of them all (`bound` first) reports.
    fn build(bound: &[&str], free: &[&str], pattern: impl Fn(usize) -> Pattern) -> Self {
        let compiled = Dfa::build(bound, free, &pattern)
            .map(Compiled::Dfa)
            .unwrap_or_else(|| {
                // Everything from every byte: the boundary checks of what
                // it reports drop what the DFA would not have followed.
                let terms: Vec<&str> = bound.iter().chain(free).copied().collect();
                let nfa = contiguous::Builder::new()
                    .match_kind(MatchKind::Standard)
                    .prefilter(false)
                    .build(&terms)
                    .expect("an NFA over validated, non-empty terms always builds");
                let reports = Reports::new(&nfa, &terms, pattern);
                Compiled::Nfa(Nfa { nfa, reports })
            });
        Machine {
            compiled,
            longest: bound.iter().chain(free).map(|t| t.len()).max().unwrap_or(0),
        }
    }

    fn is_empty(&self) -> bool {
        match &self.compiled {
            Compiled::Dfa(a) => a.is_empty(),
            Compiled::Nfa(a) => a.reports.patterns.is_empty(),
        }
    }
}

/// The term matchers of a profile.
#[derive(Debug)]
pub struct Matcher {
    /// ASCII terms (those that need a word boundary on their left
    /// followed from word starts only), then the rest.
    machines: [Machine; 2],
}

/// A match: text number (in the slice given), byte span, term index.
pub type RawMatch = (u32, u32, u32, u32);

impl Matcher {
    /// Compile `normalised` (every term as matched, by term index);
    /// `bounds(i)`: does term `i` need a word boundary on its left, on its
    /// right? (A side without one is wild: the match takes in the rest of
    /// the word there.)
    pub fn new(normalised: &[String], bounds: impl Fn(usize) -> (bool, bool) + Sync) -> Self {
        // ASCII terms from word starts, other ASCII terms, the rest.
        let mut sets: [Vec<usize>; 3] = Default::default();
        for (i, t) in normalised.iter().enumerate() {
            let set = if !t.is_ascii() {
                2
            } else if bounds(i).0 && t.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric) {
                0
            } else {
                1
            };
            sets[set].push(i);
        }
        let build = |bound: &[usize], free: &[usize]| {
            let ids: Vec<usize> = bound.iter().chain(free).copied().collect();
            let terms =
                |ids: &[usize]| -> Vec<&str> { ids.iter().map(|&i| normalised[i].as_str()).collect() };
            Machine::build(&terms(bound), &terms(free), |k| {
                let i = ids[k];
                let (left, right) = bounds(i);
                // A term is a line of the profile, and a profile has far
                // fewer than 4 billion terms.
                Pattern {
                    len: normalised[i].len() as u32,
                    term: i as u32,
                    left,
                    right,
                }
            })
        };
        // The two builds side by side (each about half the work: the
        // non-ASCII terms are fewer but longer in bytes); whoever needs
        // the matcher first waits for it.
        let [words, rest, other] = &sets;
        let (ascii, other) = std::thread::scope(|s| {
            let other = s.spawn(|| build(&[], other));
            let ascii = build(words, rest);
            (ascii, other.join().expect("building a matcher does not panic"))
        });
        Matcher {
            machines: [ascii, other],
        }
    }

    /// Every occurrence of every term in each of `texts` that its word
    /// boundaries allow, widened over its word on a side without one: by
    /// text, and within a text by start, end and term.
    pub fn find_all(&self, texts: &[&str]) -> Vec<RawMatch> {
        let mut joined = Joined::default();
        for t in texts {
            joined.push_with(|out| out.push_str(t));
        }
        self.find_all_joined(&joined)
    }

    /// [`find_all`](Self::find_all) in texts already laid end to end.
    pub fn find_all_joined(&self, joined: &Joined) -> Vec<RawMatch> {
        BUFFERS.with_borrow_mut(|buffers| {
            let all = self.find_all_with(joined, buffers);
            // A feed of thousands of items leaves no megabytes behind.
            if buffers.bytes() > KEEP_BYTES {
                *buffers = Buffers::default();
            }
            all
        })
    }

    fn find_all_with(&self, joined: &Joined, buffers: &mut Buffers) -> Vec<RawMatch> {
        let Buffers {
            other,
            lanes,
            found,
            rows,
        } = buffers;
        found.iter_mut().for_each(Vec::clear);
        // Only texts with non-ASCII characters can hold the other terms.
        other.clear();
        for (&(_, number), t) in joined.starts.iter().zip(joined.texts()) {
            if !t.is_ascii() {
                other.push(number, |out| out.push_str(t));
            }
        }
        // The non-ASCII texts first: where they hold no match, the ASCII
        // DFA's lanes go straight to the result.
        let mut all = Vec::new();
        for (which, joined) in [(1, &*other), (0, joined)] {
            if joined.text.is_empty() || self.machines[which].is_empty() {
                continue;
            }
            // Each lane reports in order of match end, and the lanes cover
            // the text in order: their matches, one lane after the other,
            // are in order of text, and within a text of end (but for ends
            // widened over a word).
            lanes.iter_mut().for_each(Vec::clear);
            let (text, starts) = (joined.text.as_str(), &joined.starts);
            let mut sink = Sink {
                text,
                starts,
                cursors: [0; LANES],
                words: [(usize::MAX, 0); LANES],
                lanes,
            };
            let mut emit = |lane: usize, at: usize, pattern: Pattern| sink.push(lane, at, pattern);
            let machine = &self.machines[which];
            match &machine.compiled {
                Compiled::Dfa(a) => scan(a, text.as_bytes(), machine.longest, rows, &mut emit),
                Compiled::Nfa(a) => scan(a, text.as_bytes(), machine.longest, rows, &mut emit),
            }
            let alone = which == 0 && found[1].is_empty();
            let out = if alone { &mut all } else { &mut found[which] };
            out.reserve(lanes.iter().map(Vec::len).sum());
            lanes.iter().for_each(|m| out.extend_from_slice(m));
        }
        if !all.is_empty() {
            // Order each text's matches.
            let mut rest = all.as_mut_slice();
            while let Some(first) = rest.first() {
                let n = rest.iter().take_while(|m| m.0 == first.0).count();
                let (these, others) = rest.split_at_mut(n);
                sort_nearly_sorted(these);
                rest = others;
            }
            return all;
        }
        // All in text order: merge, then order each text's matches.
        all.reserve(found.iter().map(Vec::len).sum());
        let mut sides = found.each_ref().map(Vec::as_slice);
        while let Some(text) = sides.iter().filter_map(|s| s.first()).map(|m| m.0).min() {
            let from = all.len();
            for side in &mut sides {
                let n = side.iter().take_while(|m| m.0 == text).count();
                all.extend_from_slice(&side[..n]);
                *side = &side[n..];
            }
            sort_nearly_sorted(&mut all[from..]);
        }
        all
    }
}

/// Where a scan's reports go: checked against the word boundaries,
/// widened over a wild side's word, and stored by lane with their text's
/// number and offsets.
struct Sink<'t, 'l> {
    /// The texts laid end to end, and where each starts (and its number).
    text: &'t str,
    starts: &'t [(usize, u32)],
    /// The text each lane is in (a lane only moves forwards).
    cursors: [usize; LANES],
    /// Each lane's last long word: a term wild on both sides can match
    /// many times in one long word ("*halbleiter*"), and each of those
    /// matches would otherwise walk the whole word again.
    words: [(usize, usize); LANES],
    lanes: &'l mut [Vec<RawMatch>; LANES],
}

impl Sink<'_, '_> {
    /// Take the report of `pattern` ending at byte `at` from `lane`.
    /// Matches of a UTF-8 term in UTF-8 text start and end at character
    /// boundaries. Always inlined into the scan's report loop: as a
    /// closure it stayed a call, one per report (7,000 per pass of the
    /// benchmark), each saving and restoring registers.
    #[inline(always)]
    fn push(&mut self, lane: usize, at: usize, pattern: Pattern) {
        let Pattern {
            len,
            term,
            left,
            right,
        } = pattern;
        let (start, end) = (at + 1 - len as usize, at + 1);
        // A third of the matches are inside a word ("chin" in
        // "machine"): they go before they are stored.
        if (left && word_char_before(self.text, start)) || (right && word_char_at(self.text, end)) {
            return;
        }
        // A side with no boundary takes in the rest of its word
        // ("poker chip*" spans all of "poker chips"); the NUL after
        // each text ends any word.
        let mut widen = |i: usize, leftwards: bool| {
            let w = &mut self.words[lane];
            if w.0 <= i && i <= w.1 {
                return if leftwards { w.0 } else { w.1 };
            }
            let to = if leftwards {
                word_start(self.text, i)
            } else {
                word_end(self.text, i)
            };
            // A long walk: remember the whole word.
            if to.abs_diff(i) > 64 {
                *w = if leftwards {
                    (to, word_end(self.text, i))
                } else {
                    (word_start(self.text, i), to)
                };
            }
            to
        };
        let start = if left { start } else { widen(start, true) };
        let end = if right { end } else { widen(end, false) };
        // No match spans two texts: the text holding its last byte
        // holds it all.
        let c = &mut self.cursors[lane];
        while *c + 1 < self.starts.len() && self.starts[*c + 1].0 < end {
            *c += 1;
        }
        let (offset, number) = self.starts[*c];
        self.lanes[lane].push((number, (start - offset) as u32, (end - offset) as u32, term));
    }
}

/// Sort matches that are nearly in order of start (reported in order of
/// end, some widened): each is out of place only behind the few that end
/// inside it, so moving each back to its place costs less than a general
/// sort (which also sorts what is sorted already). Input that is far from
/// sorted (thousands of matches of a few terms widened over one long word)
/// goes to the general sort once the moves pass a few per match.
pub(crate) fn sort_nearly_sorted(v: &mut [RawMatch]) {
    let limit = 8 * v.len();
    let mut moves = 0;
    for i in 1..v.len() {
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
        moves += i - j;
        if moves > limit {
            v.sort_unstable();
            return;
        }
    }
}

/// Buffers a thread's scans reuse, call after call: a batch of one article
/// would otherwise allocate a dozen times.
#[derive(Default)]
struct Buffers {
    /// The texts with non-ASCII characters.
    other: Joined,
    /// Each lane's matches.
    lanes: [Vec<RawMatch>; LANES],
    /// The matches of each machine.
    found: [Vec<RawMatch>; 2],
    /// A text's bytes laid out step by step (see [`scan_rows`]).
    rows: Vec<u8>,
}

impl Buffers {
    /// The memory the buffers hold (a small text can have many matches).
    fn bytes(&self) -> usize {
        use std::mem::size_of;
        self.other.text.capacity()
            + self.other.starts.capacity() * size_of::<(usize, u32)>()
            + self.lanes.iter().map(Vec::capacity).sum::<usize>() * size_of::<RawMatch>()
            + self.found.iter().map(Vec::capacity).sum::<usize>() * size_of::<RawMatch>()
            + self.rows.capacity()
    }
}

/// Beyond this many bytes in its buffers, a thread lets them go.
pub(super) const KEEP_BYTES: usize = 1 << 20;

thread_local! {
    static BUFFERS: std::cell::RefCell<Buffers> = std::cell::RefCell::default();
}

/// Texts laid end to end, each followed by a NUL, as the matcher scans
/// them. No term holds a NUL (the profile refuses control characters), so
/// no match spans two texts and the scan is back at its start state after
/// each one.
#[derive(Debug, Default)]
pub struct Joined {
    text: String,
    /// Where each text starts, and its number, ascending.
    starts: Vec<(usize, u32)>,
}

impl Joined {
    /// Room for texts of `bytes` bytes in all, and `texts` texts.
    pub fn with_capacity(bytes: usize, texts: usize) -> Self {
        Joined {
            text: String::with_capacity(bytes + texts),
            starts: Vec::with_capacity(texts),
        }
    }

    /// Add the next text: `write` appends it to the text so far. Returns
    /// where it sits in [`text`](Self::text).
    pub fn push_with(&mut self, write: impl FnOnce(&mut String)) -> (usize, usize) {
        // A batch holds far fewer than 4 billion texts.
        self.push(self.starts.len() as u32, write)
    }

    /// Add text number `number`, which `write` appends.
    fn push(&mut self, number: u32, write: impl FnOnce(&mut String)) -> (usize, usize) {
        let from = self.text.len();
        self.starts.push((from, number));
        write(&mut self.text);
        let to = self.text.len();
        self.text.push('\0');
        (from, to)
    }

    /// All the texts, each followed by a NUL.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The whole text, given up.
    pub fn into_text(self) -> String {
        self.text
    }

    /// The texts, one by one (a NUL inside one, which the normalised text
    /// of a hostile feed can hold, ends no text here).
    fn texts(&self) -> impl Iterator<Item = &str> {
        let ends = self.starts.iter().skip(1).map(|s| s.0).chain([self.text.len()]);
        self.starts
            .iter()
            .zip(ends)
            .map(|(&(from, _), next)| &self.text[from..next - 1])
    }

    fn clear(&mut self) {
        self.text.clear();
        self.starts.clear();
    }
}

/// A stretch of the text scanned as one stream: the bytes left, the
/// offset of the first, the state there, the offset from which it
/// reports (before it, the stream is only warming up), and its lane.
type Part<'b, I> = (&'b [u8], usize, I, usize, usize);

/// Scan `bytes` (no term longer than `longest`) in parts side by side:
/// [`LANES`] of them if it is long enough (see [`scan_rows`]), else up to
/// [`SLICES`]. Each part after the first starts `longest` bytes early, so
/// that at its first reported byte it is in the state a scan from the
/// beginning would be in: every match ending there is at most `longest`
/// long, and the byte before it (a word start?) is scanned too. `rows`:
/// room for [`scan_rows`].
fn scan<A: Steps>(
    a: &A,
    bytes: &[u8],
    longest: usize,
    rows: &mut Vec<u8>,
    emit: &mut impl FnMut(usize, usize, Pattern),
) {
    let start = a.start();
    // Parts much longer than their warm-up, or one.
    let lanes = (bytes.len() / (4 * longest.max(1))).clamp(1, LANES);
    if lanes == LANES {
        return scan_rows(a, bytes, longest, rows, emit);
    }
    let lanes = lanes.min(SLICES);
    // The parts beyond `lanes` are empty.
    let mut parts: [Part<'_, A::Id>; SLICES] = std::array::from_fn(|k| {
        if k >= lanes {
            return (&bytes[..0], 0, start, 0, k);
        }
        let from = bytes.len() * k / lanes;
        let to = bytes.len() * (k + 1) / lanes;
        let warm = from.saturating_sub(longest);
        (&bytes[warm..to], warm, start, from, k)
    });
    let mut live = lanes;
    // As many side by side as are left: when the shortest part ends, the
    // others go on without it.
    loop {
        let mut kept = 0;
        for k in 0..live {
            if !parts[k].0.is_empty() {
                parts[kept] = parts[k];
                kept += 1;
            }
        }
        live = kept;
        match live {
            0 => return,
            1 => return alone(a, parts[0], emit),
            2 => interleave::<2, A>(a, &mut parts, emit),
            3 => interleave::<3, A>(a, &mut parts, emit),
            _ => interleave::<4, A>(a, &mut parts, emit),
        }
    }
}

/// Scan one part to its end.
fn alone<A: Steps>(a: &A, part: Part<'_, A::Id>, emit: &mut impl FnMut(usize, usize, Pattern)) {
    let (rest, at, mut sid, from, lane) = part;
    for (i, &b) in rest.iter().enumerate() {
        sid = a.next(sid, b);
        if at + i >= from && a.special(sid) {
            a.reports(sid).iter().for_each(|&p| emit(lane, at + i, p));
        }
    }
}

/// Scan `N` parts side by side as far as the shortest goes, and advance
/// each past what was scanned.
///
/// Written so that the `N` loads are independent and nothing else sits in
/// the loop: not even a branch on whether a state has matches (a few in a
/// hundred steps reach one, at random, and the mispredictions cost more
/// than the loads). Each step stores each lane's state in a block of 64;
/// after the block, [`report_block`] makes their reports. With nothing but
/// the state stored, the loop's registers hold the four states: a count of
/// the reporting steps per lane, as before, spilled one of them to the
/// stack (`find_all` 0.506 → 0.479 ms).
fn interleave<const N: usize, A: Steps>(
    a: &A,
    parts: &mut [Part<'_, A::Id>],
    emit: &mut impl FnMut(usize, usize, Pattern),
) {
    let parts: &mut [Part<'_, A::Id>; N] = (&mut parts[..N]).try_into().expect("N parts");
    let n = parts.iter().map(|p| p.0.len()).min().unwrap_or(0);
    let mut sids: [A::Id; N] = std::array::from_fn(|k| parts[k].2);
    let bytes: [&[u8]; N] = std::array::from_fn(|k| &parts[k].0[..n]);
    let mut states = [[sids[0]; BLOCK]; N];
    let mut j0 = 0;
    while j0 < n {
        let block = (n - j0).min(BLOCK);
        for step in 0..block {
            for k in 0..N {
                sids[k] = a.next(sids[k], bytes[k][j0 + step]);
                states[k][step % BLOCK] = sids[k];
            }
        }
        let lanes = std::array::from_fn(|k| (parts[k].1 + j0, parts[k].3, parts[k].4));
        report_block(a, &states, block, lanes, emit);
        j0 += block;
    }
    for (p, sid) in parts.iter_mut().zip(sids) {
        *p = (&p.0[n..], p.1 + n, sid, p.3, p.4);
    }
}

/// Scan `bytes` (at least `4 * LANES * longest` of them) in [`LANES`]
/// parts of one length side by side, from a copy of their bytes laid out
/// step by step in `rows` (see [`transpose`]): one row of the copy is one
/// step of every lane, so one pointer serves them all, and the loop's
/// registers hold the eight states (but one, spilled). Eight lanes over
/// slices of the text, each with its own pointer, spilled nearly every
/// state and were no faster than four; from rows, eight take `find_all`
/// from 0.474 to 0.425 ms a pass of the benchmark, the copy included.
///
/// Part 0 is bytes `0..m`, part `k` bytes `k * l..k * l + m`, where
/// `m = l + longest`: each part after the first warms up over `longest`
/// bytes and reports from there to where the next one starts reporting.
/// The last part's few bytes beyond that are scanned alone.
fn scan_rows<A: Steps>(
    a: &A,
    bytes: &[u8],
    longest: usize,
    rows: &mut Vec<u8>,
    emit: &mut impl FnMut(usize, usize, Pattern),
) {
    debug_assert!(
        bytes.len() >= 4 * LANES * longest,
        "parts longer than their warm-up"
    );
    let l = (bytes.len() - longest) / LANES;
    let m = l + longest;
    let at: [usize; LANES] = std::array::from_fn(|k| k * l);
    let from: [usize; LANES] = std::array::from_fn(|k| if k == 0 { 0 } else { k * l + longest });
    transpose(bytes, &at, m, rows);
    let mut sids = [a.start(); LANES];
    let mut states = [[sids[0]; BLOCK]; LANES];
    for (b, block) in rows.chunks(BLOCK * LANES).enumerate() {
        let (block, _) = block.as_chunks::<LANES>();
        // The lanes one by one, not in a loop over an array: so written,
        // the compiler keeps seven of the states in registers, not one.
        let [mut s0, mut s1, mut s2, mut s3, mut s4, mut s5, mut s6, mut s7] = sids;
        for step in 0..block.len().min(BLOCK) {
            let [b0, b1, b2, b3, b4, b5, b6, b7] = block[step];
            s0 = a.next(s0, b0);
            s1 = a.next(s1, b1);
            s2 = a.next(s2, b2);
            s3 = a.next(s3, b3);
            s4 = a.next(s4, b4);
            s5 = a.next(s5, b5);
            s6 = a.next(s6, b6);
            s7 = a.next(s7, b7);
            states[0][step] = s0;
            states[1][step] = s1;
            states[2][step] = s2;
            states[3][step] = s3;
            states[4][step] = s4;
            states[5][step] = s5;
            states[6][step] = s6;
            states[7][step] = s7;
        }
        sids = [s0, s1, s2, s3, s4, s5, s6, s7];
        let lanes = std::array::from_fn(|k| (at[k] + b * BLOCK, from[k], k));
        report_block(a, &states, block.len(), lanes, emit);
    }
    let (last, end) = (LANES - 1, at[LANES - 1] + m);
    alone(a, (&bytes[end..], end, sids[last], from[last], last), emit);
}

/// Make the reports of a block of `block` steps of `N` lanes (each step's
/// state in `states`); `lanes`: each lane's offset of its first step in
/// the block, the offset from which it reports, and its lane number.
#[inline(always)]
fn report_block<const N: usize, A: Steps>(
    a: &A,
    states: &[[A::Id; BLOCK]; N],
    block: usize,
    lanes: [(usize, usize, usize); N],
    emit: &mut impl FnMut(usize, usize, Pattern),
) {
    for (states, (at, from, lane)) in states.iter().zip(lanes) {
        let mut mask = a.specials(states);
        if block < BLOCK {
            mask &= (1u64 << block) - 1;
        }
        while mask != 0 {
            let j = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if at + j >= from {
                a.reports(states[j]).iter().for_each(|&p| emit(lane, at + j, p));
            }
        }
    }
}

/// Lay the `m` bytes of `bytes` from each offset of `at` out step by step
/// in `rows`: byte `j` of part `k` at `rows[j * LANES + k]`. Sixteen steps
/// at a time, as the transposition of eight 16-byte vectors: interleaving
/// the bytes of vectors `k` and `k + 4` (for each `k` below 4, the low
/// halves and the high halves) three times over leaves in vector `i` steps
/// `2i` and `2i + 1` of each part. The last few steps byte by byte.
fn transpose(bytes: &[u8], at: &[usize; LANES], m: usize, rows: &mut Vec<u8>) {
    use wide::u8x16;
    rows.clear();
    rows.reserve(m * LANES);
    let whole = m - m % 16;
    for j in (0..whole).step_by(16) {
        let mut v: [u8x16; LANES] =
            std::array::from_fn(|k| u8x16::new(bytes[at[k] + j..][..16].try_into().expect("16 bytes")));
        for _ in 0..3 {
            v = std::array::from_fn(|i| {
                let (x, y) = (v[i / 2], v[i / 2 + 4]);
                if i % 2 == 0 {
                    u8x16::unpack_low(x, y)
                } else {
                    u8x16::unpack_high(x, y)
                }
            });
        }
        v.iter().for_each(|x| rows.extend_from_slice(&x.to_array()));
    }
    for j in whole..m {
        rows.extend(at.iter().map(|&from| bytes[from + j]));
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize::is_word_char;
    use super::*;

    /// Terms for the tests: phrases that overlap, CJK, one-letter runs and
    /// punctuation.
    const PATTERNS: [&str; 9] = [
        "export controls",
        "controls",
        "h20",
        "nvidia h20",
        "中国",
        "芯片",
        "a",
        "aa",
        "x-y",
    ];

    /// A small deterministic pseudo-random sequence (a linear congruential
    /// generator), so that a failing case can be replayed.
    fn generator(mut seed: u64) -> impl FnMut() -> usize {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        }
    }

    /// The fallback for a profile too large for a DFA: the contiguous NFA
    /// scans, lanes and all, exactly as the DFA does.
    #[test]
    fn nfa_fallback_scans_as_the_dfa() {
        let patterns = PATTERNS;
        // Each pattern reports its number as its term.
        let pattern = |k: usize| Pattern {
            len: patterns[k].len() as u32,
            term: k as u32,
            left: false,
            right: false,
        };
        let machine = Machine::build(&[], &patterns, pattern);
        let Compiled::Dfa(dfa) = &machine.compiled else {
            panic!("a small DFA builds")
        };
        let nfa = contiguous::Builder::new()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(patterns)
            .expect("builds");
        let reports = Reports::new(&nfa, &patterns, pattern);
        let nfa = Nfa { nfa, reports };
        let longest = machine.longest;
        let pieces = [
            "export ",
            "controls",
            "nvidia h20",
            "中国",
            "芯",
            "a",
            "x-y",
            "\u{0}",
            "é",
            " ",
        ];
        let mut next = generator(11);
        for len in [0, 1, 7, 40, 300, 5000] {
            let mut text = Vec::new();
            while text.len() < len {
                text.extend_from_slice(pieces[next() % pieces.len()].as_bytes());
            }
            let mut rows = Vec::new();
            let mut by_dfa = Vec::new();
            scan(dfa, &text, longest, &mut rows, &mut |lane, at, p| {
                by_dfa.push((lane, at, p.term))
            });
            let mut by_nfa = Vec::new();
            scan(&nfa, &text, longest, &mut rows, &mut |lane, at, p| {
                by_nfa.push((lane, at, p.term))
            });
            assert_eq!(by_nfa, by_dfa, "text of {len} bytes");
            assert!(len < 300 || by_dfa.len() > 10, "the text holds terms");
        }
    }

    /// In parts side by side (up to four from slices of a short text,
    /// eight from the rows of a long one), a scan reports exactly what one
    /// scan from the start reports: every text length across the switch
    /// from slices to rows, and every remainder past the eight parts.
    #[test]
    fn parts_report_what_one_scan_reports() {
        let bound = ["export controls", "controls", "h20", "nvidia h20", "a", "aa"];
        let free = ["中国", "芯片", "x-y", "ols"];
        let terms: Vec<&str> = bound.iter().chain(&free).copied().collect();
        let machine = Machine::build(&bound, &free, |k| Pattern {
            len: terms[k].len() as u32,
            term: k as u32,
            left: false,
            right: false,
        });
        let Compiled::Dfa(dfa) = &machine.compiled else {
            panic!("a small DFA builds")
        };
        let longest = machine.longest;
        assert_eq!(longest, 15, "rows from {} bytes on", 4 * LANES * longest);
        let pieces = [
            "export ",
            "controls",
            "nvidia h20",
            "中国",
            "芯片",
            "a",
            "x-y",
            "\u{0}",
            "é",
            " ",
            "aa",
        ];
        let mut next = generator(5);
        let mut rows = Vec::new();
        for len in (0..700).chain(5000..5016) {
            let mut text = Vec::new();
            while text.len() < len {
                text.extend_from_slice(pieces[next() % pieces.len()].as_bytes());
            }
            text.truncate(len);
            let mut parts = Vec::new();
            scan(dfa, &text, longest, &mut rows, &mut |lane, at, p| {
                parts.push((at, p.term, lane))
            });
            let mut one = Vec::new();
            alone(dfa, (&text, 0, dfa.start(), 0, 0), &mut |_, at, p| {
                one.push((at, p.term))
            });
            // Each lane reports in order, and the lanes cover the text in
            // order: one lane after the other, the reports are in order.
            parts.sort_by_key(|&(_, _, lane)| lane);
            let parts: Vec<(usize, u32)> = parts.into_iter().map(|(at, term, _)| (at, term)).collect();
            assert_eq!(parts, one, "{len} bytes");
            assert!(len < 300 || one.len() > 20, "the text holds terms");
        }
    }

    /// The copy for eight lanes: byte `j` of part `k` at row `j`, column
    /// `k`, for parts of any length (whole blocks of sixteen or not).
    #[test]
    fn transpose_lays_parts_out_step_by_step() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(6000).collect();
        let mut rows = vec![7; 3];
        for m in (0..70).chain([127, 128, 129, 1000]) {
            let at: [usize; LANES] = std::array::from_fn(|k| 13 * k + k * k * 90);
            transpose(&bytes, &at, m, &mut rows);
            assert_eq!(rows.len(), m * LANES);
            for j in 0..m {
                for (k, &from) in at.iter().enumerate() {
                    assert_eq!(rows[j * LANES + k], bytes[from + j], "m {m}, step {j}, part {k}");
                }
            }
        }
    }

    /// Nearly sorted or not at all (past the move budget), the result is
    /// what a general sort gives.
    #[test]
    fn sorts_nearly_sorted_and_far_from_sorted_input() {
        let mut next = generator(3);
        for len in [0, 1, 2, 10, 100, 5000] {
            let sorted: Vec<RawMatch> = (0..len as u32).map(|i| (0, i / 3, i / 3 + 5, i % 3)).collect();
            let mut near = sorted.clone();
            for i in 1..len {
                if next().is_multiple_of(4) {
                    near.swap(i - 1, i);
                }
            }
            let mut reversed: Vec<RawMatch> = sorted.iter().rev().copied().collect();
            sort_nearly_sorted(&mut near);
            sort_nearly_sorted(&mut reversed);
            assert_eq!(near, sorted);
            assert_eq!(reversed, sorted);
        }
    }

    /// A thread's scans reuse their buffers: what one batch leaves there
    /// never shows in the next, including after a batch large enough that
    /// the buffers are let go.
    #[test]
    fn reused_buffers_leave_nothing_behind() {
        let normalised: Vec<String> = PATTERNS[..8].iter().map(|p| (*p).to_owned()).collect();
        let m = Matcher::new(&normalised, |_| (false, false));
        let small = ["export controls on h20", "中国芯片"];
        let alone = m.find_all(&small);
        assert!(alone.len() >= 4, "{alone:?}");
        let big = "nvidia h20 export controls ".repeat(KEEP_BYTES / 20);
        let many = m.find_all(&[big.as_str(), "aa"]);
        assert_eq!(
            many.iter().filter(|x| x.3 == 2).count(),
            KEEP_BYTES / 20,
            "one h20 per repeat"
        );
        let held = || BUFFERS.with_borrow(Buffers::bytes);
        assert!(held() <= KEEP_BYTES, "a big batch's buffers go: {}", held());
        // A text well under the limit with a match at nearly every byte.
        let dense = "a".repeat(KEEP_BYTES / 16);
        assert!(m.find_all(&[dense.as_str()]).len() >= KEEP_BYTES / 16);
        assert!(held() <= KEEP_BYTES, "{}", held());
        assert_eq!(m.find_all(&small), alone);
        let medium = "aa x-y ".repeat(100);
        m.find_all(&[medium.as_str(), medium.as_str(), medium.as_str()]);
        assert_eq!(m.find_all(&small), alone);
        assert_eq!(m.find_all(&[]), Vec::new());
    }

    /// Every lane layout must find exactly what the crate's own overlapping
    /// search finds, less the matches that break a boundary their term
    /// needs, widened over their word on a side where it needs none.
    #[test]
    fn lanes_find_what_the_overlapping_search_finds() {
        let patterns = &PATTERNS[..8];
        let normalised: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        // Terms that start or end with a word character need a boundary
        // there, except "a" on its right (wild: "a*") and "controls" on
        // its left ("*controls": followed from every byte, beside the
        // terms followed from word starts only).
        let bounds = |i: usize| {
            let p = patterns[i];
            (
                p != "controls" && p.chars().next().is_some_and(char::is_alphanumeric),
                p != "a" && p.chars().next_back().is_some_and(char::is_alphanumeric),
            )
        };
        let m = Matcher::new(&normalised, bounds);
        let reference = aho_corasick::AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .expect("builds");
        let words = [
            "export", "controls", "nvidia", "h20", "中国", "芯片", "aaa", "x", " ", ".", "é", "ł", "\0", "-",
            "y",
        ];
        let mut next = generator(7);
        for batch in 0..200 {
            let texts: Vec<String> = (0..batch % 13)
                .map(|_| {
                    (0..next() % 40)
                        .map(|_| words[next() % words.len()])
                        .collect::<Vec<_>>()
                        .join(if next().is_multiple_of(3) { "" } else { " " })
                })
                .collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let got = m.find_all(&refs);
            let mut want = Vec::new();
            for (i, t) in texts.iter().enumerate() {
                for mt in reference.find_overlapping_iter(t.as_str()) {
                    let (left, right) = bounds(mt.pattern().as_usize());
                    let before = t[..mt.start()].chars().next_back();
                    let after = t[mt.end()..].chars().next();
                    if (left && before.is_some_and(is_word_char))
                        || (right && after.is_some_and(is_word_char))
                    {
                        continue;
                    }
                    let start = if left {
                        mt.start()
                    } else {
                        t[..mt.start()].trim_end_matches(is_word_char).len()
                    };
                    let end = if right {
                        mt.end()
                    } else {
                        t.len() - t[mt.end()..].trim_start_matches(is_word_char).len()
                    };
                    want.push((i as u32, start as u32, end as u32, mt.pattern().as_u32()));
                }
            }
            want.sort_unstable();
            assert_eq!(got, want, "batch {batch}: {texts:?}");
        }
    }
}
