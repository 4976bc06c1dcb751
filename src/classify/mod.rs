//! Classification: a topic profile applied to an article's title and
//! summary gives relevance, a score, an event type, chip names, entities and
//! the evidence for each. Pure: no IO, no clock.

mod dfa;
pub mod matcher;
pub mod normalize;
pub mod profile;

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::json;

use crate::model::{EventType, Reference};
use matcher::{Joined, RawMatch};
use normalize::normalise_into;
pub use profile::{EntityKind, Profile, ProfileError, Target, Within};

/// What the classifier reads.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub title: &'a str,
    /// Plain text (HTML already stripped).
    pub summary: &'a str,
    /// Declared language (ISO 639-1), if the feed or item gave one.
    pub lang: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Title,
    Summary,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
        }
    }
}

/// One matched term. Compact (28 bytes): an article can hold hundreds.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub field: Field,
    /// Sentence number within the field (the title is one sentence).
    pub sentence: u32,
    /// Index of the term in `Profile::terms`.
    pub term: u32,
    /// Byte span of the match in the field's normalised text
    /// ([`Decision::text`]).
    pub start: u32,
    pub end: u32,
    pub target: Target,
}

/// A rule that fired, where, and what it added.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit<'p> {
    pub rule: &'p str,
    pub field: Field,
    pub score: f32,
}

/// The decision on one article.
///
/// The decisions of one batch keep their texts, hits, entity names, rules
/// and negative contexts in buffers they share (a decision holds ranges of
/// them): a batch allocates a handful of times, not a dozen times per
/// article. A decision kept alive keeps its batch's buffers alive.
#[derive(Clone)]
pub struct Decision<'p> {
    pub relevant: bool,
    pub score: f32,
    /// For relevant articles: the development type.
    pub event: Option<EventType>,
    /// The declared language, else for a relevant article the detected
    /// one (ISO 639-1).
    pub lang: Option<Cow<'static, str>>,
    /// For a relevant article: does it point back at an earlier
    /// development, and does it announce one of its own (see
    /// [`Target::FollowUp`])?
    pub follow_up: Reference,
    /// Cue score per event type, by `EventType as usize`; NaN: no cue.
    cue_scores: [f32; 6],
    parts: Parts,
    shared: Arc<Shared<'p>>,
}

/// What the decisions of one batch keep.
#[derive(Default)]
struct Shared<'p> {
    /// The normalised titles and summaries, a NUL after each.
    text: String,
    hits: Vec<Hit>,
    /// Entity names, by decision and within it by [`NAME_LISTS`].
    names: Vec<&'p str>,
    rules: Vec<RuleHit<'p>>,
    negatives: Vec<(&'p str, f32)>,
}

/// A decision's ranges of the [`Shared`] buffers.
#[derive(Clone, Copy, Debug)]
struct Parts {
    title: (u32, u32),
    summary: (u32, u32),
    hits: (u32, u32),
    /// Where each list of [`NAME_LISTS`] starts, and where the last ends.
    names: [u32; NAME_LISTS + 1],
    rules: (u32, u32),
    negatives: (u32, u32),
}

/// Entity name lists a decision has: chips, companies, agencies,
/// countries, topics (by [`EntityKind`]), then keys.
const NAME_LISTS: usize = 6;

/// Index of a kind's list of names.
fn name_list(kind: EntityKind) -> usize {
    match kind {
        EntityKind::Chip => 0,
        EntityKind::Company => 1,
        EntityKind::Agency => 2,
        EntityKind::Country => 3,
        EntityKind::Topic => 4,
    }
}

/// The part `(from, to)` of `all`.
fn part<T>(all: &[T], (from, to): (u32, u32)) -> &[T] {
    &all[from as usize..to as usize]
}

impl<'p> Decision<'p> {
    /// The matched terms, title first, each in order of where it starts.
    pub fn hits(&self) -> &[Hit] {
        part(&self.shared.hits, self.parts.hits)
    }

    fn names(&self, list: usize) -> &[&'p str] {
        let n = &self.parts.names;
        part(&self.shared.names, (n[list], n[list + 1]))
    }

    /// Normalised chip names, in order of first mention.
    pub fn chips(&self) -> &[&'p str] {
        self.names(name_list(EntityKind::Chip))
    }

    pub fn companies(&self) -> &[&'p str] {
        self.names(name_list(EntityKind::Company))
    }

    pub fn agencies(&self) -> &[&'p str] {
        self.names(name_list(EntityKind::Agency))
    }

    pub fn countries(&self) -> &[&'p str] {
        self.names(name_list(EntityKind::Country))
    }

    pub fn topics(&self) -> &[&'p str] {
        self.names(name_list(EntityKind::Topic))
    }

    /// The development signature: `kind:name` of every entity (by group).
    pub fn keys(&self) -> &[&'p str] {
        self.names(NAME_LISTS - 1)
    }

    /// The rules that fired.
    pub fn rules(&self) -> &[RuleHit<'p>] {
        part(&self.shared.rules, self.parts.rules)
    }

    /// Negative contexts found, with the penalty each cost.
    pub fn negatives(&self) -> &[(&'p str, f32)] {
        part(&self.shared.negatives, self.parts.negatives)
    }

    /// Cue score per event type, for the types with a cue, the most
    /// specific type first.
    pub fn event_scores(&self) -> impl Iterator<Item = (EventType, f32)> + '_ {
        cued(&self.cue_scores)
    }

    /// The normalised title or summary, which hits point into.
    pub fn text(&self, field: Field) -> &str {
        let (from, to) = match field {
            Field::Title => self.parts.title,
            Field::Summary => self.parts.summary,
        };
        &self.shared.text[from as usize..to as usize]
    }
}

impl PartialEq for Decision<'_> {
    fn eq(&self, other: &Self) -> bool {
        let fields = |d: &Self| (d.relevant, d.score, d.event, d.lang.clone(), d.follow_up);
        fields(self) == fields(other)
            && self.event_scores().eq(other.event_scores())
            && (0..NAME_LISTS).all(|k| self.names(k) == other.names(k))
            && self.hits() == other.hits()
            && self.rules() == other.rules()
            && self.negatives() == other.negatives()
            && [Field::Title, Field::Summary]
                .iter()
                .all(|&f| self.text(f) == other.text(f))
    }
}

impl std::fmt::Debug for Decision<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decision")
            .field("relevant", &self.relevant)
            .field("score", &self.score)
            .field("event", &self.event)
            .field("lang", &self.lang)
            .field("follow_up", &self.follow_up)
            .field("chips", &self.chips())
            .field("companies", &self.companies())
            .field("agencies", &self.agencies())
            .field("countries", &self.countries())
            .field("topics", &self.topics())
            .field("keys", &self.keys())
            .field("rules", &self.rules())
            .field("negatives", &self.negatives())
            .field("event_scores", &self.event_scores().collect::<Vec<_>>())
            .field("hits", &self.hits())
            .field("title", &self.text(Field::Title))
            .field("summary", &self.text(Field::Summary))
            .finish()
    }
}

/// Event types in the order that breaks ties: the most specific first.
const EVENT_PRIORITY: [EventType; 6] = [
    EventType::Enforcement,
    EventType::Retaliation,
    EventType::Approval,
    EventType::Restriction,
    EventType::Market,
    EventType::Analysis,
];

/// The event types with a cue score in `cue_scores` (by `EventType as
/// usize`; NaN: no cue), with their scores, the most specific first.
fn cued(cue_scores: &[f32; 6]) -> impl Iterator<Item = (EventType, f32)> + '_ {
    EVENT_PRIORITY
        .iter()
        .map(|&e| (e, cue_scores[e as usize]))
        .filter(|(_, s)| !s.is_nan())
}

/// Classify one article with `profile`.
pub fn classify<'p>(profile: &'p Profile, input: &Input<'_>) -> Decision<'p> {
    classify_batch(profile, std::slice::from_ref(input))
        .pop()
        .expect("one decision per article")
}

/// Classify many articles: the decisions [`classify`] makes one at a time,
/// in the same order, faster (the term scan interleaves the texts).
pub fn classify_batch<'p>(profile: &'p Profile, inputs: &[Input<'_>]) -> Vec<Decision<'p>> {
    let mut shared = Shared::default();
    // All texts in one buffer, as the matcher scans them, text `k` at
    // `bounds[k]`; the sentence starts of all in another, text `k`'s at
    // `starts[ends[k - 1]..ends[k]]`.
    let mut starts = Vec::with_capacity(4 * inputs.len());
    let mut ends = Vec::with_capacity(2 * inputs.len());
    let mut bounds = Vec::with_capacity(2 * inputs.len());
    // What `normalise_into` reserves for each text.
    let room = |t: &str| t.len() + t.len() / 8;
    let mut joined = Joined::with_capacity(
        inputs.iter().map(|i| room(i.title) + room(i.summary)).sum(),
        2 * inputs.len(),
    );
    for t in inputs.iter().flat_map(|i| [i.title, i.summary]) {
        let (from, to) = joined.push_with(|out| normalise_into(t, out, &mut starts));
        ends.push(starts.len());
        // The matcher's offsets are 32-bit: so are the batch's.
        bounds.push((from as u32, to as u32));
    }
    // Kept apart while the decisions borrow it, then shared with them.
    let text = joined.text();
    let texts: Vec<&str> = bounds
        .iter()
        .map(|&(from, to)| &text[from as usize..to as usize])
        .collect();
    let starts_of = |k: usize| &starts[k.checked_sub(1).map_or(0, |p| ends[p])..ends[k]];
    let spans = profile.matcher().find_all_joined(&joined);
    let mut rest = spans.as_slice();
    let mut take = |text: usize| {
        let n = rest.iter().take_while(|s| s.0 as usize == text).count();
        let (these, others) = rest.split_at(n);
        rest = others;
        these
    };
    // A match can stand for several targets: room for all of them.
    let targets: usize = spans
        .iter()
        .map(|&(_, _, _, ti)| profile.targets_of(ti as usize).len())
        .sum();
    shared.hits.reserve_exact(targets);
    // Room for what most batches need, so that these grow once if at all:
    // entity names and keys (a third of the targets are entities, each
    // named once per article), and a rule or two per article.
    shared.names.reserve(targets);
    shared.rules.reserve(2 * inputs.len());
    let mut made = Vec::with_capacity(inputs.len());
    SCRATCH.with_borrow_mut(|scratch| {
        for (k, input) in inputs.iter().enumerate() {
            let (title, summary) = (2 * k, 2 * k + 1);
            made.push(decide(
                profile,
                input,
                (texts[title], take(title)),
                (texts[summary], starts_of(summary), take(summary)),
                (bounds[title], bounds[summary]),
                &mut shared,
                scratch,
            ));
        }
        // An article with thousands of hits leaves no megabytes behind.
        if scratch.bytes() > matcher::KEEP_BYTES {
            *scratch = Scratch::default();
        }
    });
    drop(texts);
    shared.text = joined.into_text();
    let shared = Arc::new(shared);
    made.into_iter()
        .map(|(core, parts)| Decision {
            relevant: core.relevant,
            score: core.score,
            event: core.event,
            lang: core.lang,
            follow_up: core.follow_up,
            cue_scores: core.cue_scores,
            parts,
            shared: Arc::clone(&shared),
        })
        .collect()
}

/// A decision before its batch's buffers are shared.
struct Core {
    relevant: bool,
    score: f32,
    event: Option<EventType>,
    lang: Option<Cow<'static, str>>,
    follow_up: Reference,
    cue_scores: [f32; 6],
}

/// The decision on one article from its normalised texts and the term
/// spans in each, and where the texts sit in the batch's text. Its hits,
/// names, rules and negative contexts go to the batch's buffers `out`
/// (its text is filled in after all decisions).
fn decide<'p>(
    profile: &'p Profile,
    input: &Input<'_>,
    title: (&str, &[RawMatch]),
    summary: (&str, &[usize], &[RawMatch]),
    at: ((u32, u32), (u32, u32)),
    out: &mut Shared<'p>,
    scratch: &mut Scratch,
) -> (Core, Parts) {
    // Batch buffers hold fewer items than the batch text has bytes.
    let len = |v: usize| v as u32;
    let hits_from = out.hits.len();
    scratch.by_target.iter_mut().for_each(Vec::clear);
    // The title is one sentence.
    place(
        profile,
        (title.0, &[0]),
        title.1,
        Field::Title,
        input.lang,
        &mut out.hits,
        scratch,
    );
    let title_all = scratch.bits.iter().fold(0u64, |a, b| a | b);
    place(
        profile,
        (summary.0, summary.1),
        summary.2,
        Field::Summary,
        input.lang,
        &mut out.hits,
        scratch,
    );
    let summary_bits = &scratch.bits;
    let out_hits = &out.hits;
    let hits = &out_hits[hits_from..];

    // Rules: the title is one window, each summary sentence another.
    let mut score = 0.0f32;
    let rules_from = out.rules.len();
    let all_bits = summary_bits.iter().fold(title_all, |a, b| a | b);
    for rule in &profile.rules {
        let fired = match rule.within {
            Within::Sentence => {
                if title_all & rule.all == rule.all {
                    Some(Field::Title)
                } else if summary_bits.iter().any(|b| b & rule.all == rule.all) {
                    Some(Field::Summary)
                } else {
                    None
                }
            }
            Within::Article => {
                if title_all & rule.all == rule.all {
                    Some(Field::Title)
                } else if all_bits & rule.all == rule.all {
                    Some(Field::Summary)
                } else {
                    None
                }
            }
        };
        if let Some(field) = fired {
            let s = rule.score
                * if field == Field::Title {
                    profile.title_weight
                } else {
                    1.0
                };
            score += s;
            out.rules.push(RuleHit {
                rule: &rule.name,
                field,
                score: s,
            });
        }
    }

    // One pass over the hits but concepts: negative contexts, entities in
    // order of first mention, cue scores, follow-up phrases.
    let negatives_from = out.negatives.len();
    let names = &mut scratch.names;
    names.iter_mut().for_each(Vec::clear);
    let entities = profile.entities.len();
    let seen = &mut scratch.seen;
    seen.clear();
    seen.resize((entities + profile.keys).div_ceil(64), 0);
    // Is bit `i` of `seen` clear? It is set now.
    let first_time = |seen: &mut Vec<u64>, i: usize| {
        let (word, bit) = (&mut seen[i / 64], 1u64 << (i % 64));
        let first = *word & bit == 0;
        *word |= bit;
        first
    };
    // Cue score per event type, by `EventType as usize`; NaN: no cue.
    let mut cue_scores = [f32::NAN; 6];
    let counted = &mut scratch.counted;
    counted.clear();
    let mut refers_back = false;
    let mut first_title_marker: Option<u32> = None;
    // Kind by kind (each kind's hits in order; the kinds touch different
    // state), so that the match below meets runs of one kind: in the
    // order of the text, it mispredicts on most hits.
    let [entity_hits, cue_hits, negative_hits, follow_up_hits, _] = &scratch.by_target;
    let by_kind = negative_hits
        .iter()
        .chain(entity_hits)
        .chain(follow_up_hits)
        .chain(cue_hits)
        .map(|&i| &out_hits[i as usize]);
    for h in by_kind {
        let (ev, strength) = match h.target {
            Target::Negative(n) => {
                let neg = &profile.negatives[n as usize];
                let negatives = &mut out.negatives;
                if !negatives[negatives_from..]
                    .iter()
                    .any(|(name, _)| *name == neg.name)
                {
                    negatives.push((&neg.name, neg.penalty));
                    score -= neg.penalty;
                }
                continue;
            }
            Target::Entity(e) => {
                // First mentions only: each entity's name once, and each
                // key once (entities of one group share it).
                if first_time(seen, e as usize) {
                    let ent = &profile.entities[e as usize];
                    names[name_list(ent.kind)].push(e);
                    if first_time(seen, entities + profile.entity_keys[e as usize] as usize) {
                        names[NAME_LISTS - 1].push(e);
                    }
                }
                continue;
            }
            Target::FollowUp => {
                refers_back = true;
                if h.field == Field::Title {
                    first_title_marker = Some(first_title_marker.map_or(h.start, |m| m.min(h.start)));
                }
                continue;
            }
            Target::Concept(_) => continue,
            Target::Cue(ev) => (ev, 1.0),
            Target::StrongCue(ev) => (ev, profile::STRONG_CUE),
        };
        // Cues of one event whose spans overlap are one phrase read two
        // ways ("export curbs on" holds "export curbs" and "curbs on"): it
        // counts once, at the strongest reading.
        let mut w = strength
            * if h.field == Field::Title {
                profile.title_weight
            } else {
                1.0
            };
        let overlap = counted
            .iter_mut()
            .find(|(f, s, e, cev, _)| *f == h.field && *cev == ev && h.start < *e && *s < h.end);
        if let Some((_, s, e, _, prev)) = overlap {
            *s = (*s).min(h.start);
            *e = (*e).max(h.end);
            let more = (w - *prev).max(0.0);
            *prev += more;
            w = more;
        } else {
            counted.push((h.field, h.start, h.end, ev, w));
        }
        let s = &mut cue_scores[ev as usize];
        *s = if s.is_nan() { w } else { *s + w };
    }

    let relevant = score >= profile.threshold;
    // A follow-up points back at an earlier development or reacts to one,
    // and its headline announces no development of its own. A development
    // cue in the headline counts only ahead of a follow-up phrase there
    // ("China slams US export curbs" reacts to the curbs), or as that very
    // phrase ("nouvelles restrictions" in a headline announces them).
    // A cue that only names a subject ("gallium", also a topic) announces
    // nothing.
    let names_a_subject = |c: &Hit| {
        hits.iter()
            .any(|h| h.field == c.field && h.start == c.start && matches!(h.target, Target::Entity(_)))
    };
    let headline_development = hits.iter().any(|h| {
        h.field == Field::Title
            && matches!(h.target, Target::Cue(e) | Target::StrongCue(e) if e.is_development())
            && first_title_marker.is_none_or(|m| h.start <= m)
            && !names_a_subject(h)
    });
    let follow_up = match (relevant && refers_back, headline_development) {
        (false, _) => Reference::None,
        (true, true) => Reference::RefersBack,
        (true, false) => Reference::FollowUp,
    };
    // The best cue score; on a tie, the most specific type.
    let event = relevant.then(|| {
        cued(&cue_scores)
            .fold(None::<(EventType, f32)>, |best, (e, s)| match best {
                Some((_, bs)) if bs >= s => best,
                _ => Some((e, s)),
            })
            .map_or(profile.default_event, |(e, _)| e)
    });

    let mut name_bounds = [len(out.names.len()); NAME_LISTS + 1];
    let entity = |e: &u32| &profile.entities[*e as usize];
    for (k, list) in names.iter().enumerate() {
        if k == NAME_LISTS - 1 {
            out.names.extend(list.iter().map(|e| entity(e).key.as_str()));
        } else {
            out.names.extend(list.iter().map(|e| entity(e).name.as_str()));
        }
        name_bounds[k + 1] = len(out.names.len());
    }
    let core = Core {
        relevant,
        score,
        event,
        // Detection is the costliest step here, and only relevant articles
        // need a language (for display and for grouping stories).
        lang: input
            .lang
            .map(lang_code)
            .or_else(|| relevant.then(|| detect_lang(input)).flatten()),
        follow_up,
        cue_scores,
    };
    let parts = Parts {
        title: at.0,
        summary: at.1,
        hits: (len(hits_from), len(out.hits.len())),
        names: name_bounds,
        rules: (len(rules_from), len(out.rules.len())),
        negatives: (len(negatives_from), len(out.negatives.len())),
    };
    (core, parts)
}

thread_local! {
    /// The articles' scratch buffers: one set per thread, kept from batch
    /// to batch (a batch that grew them from empty reallocated each a few
    /// times: 200 reallocations per pass of the benchmark).
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Buffers that the articles reuse, one after the other.
#[derive(Default)]
struct Scratch {
    /// What [`place`] leaves: the concept bit set of each sentence.
    bits: Vec<u64>,
    negative_spans: Vec<(u32, u32)>,
    cue_spans: Vec<(u32, u32)>,
    /// Cue phrases counted so far: field, span, event, weight.
    counted: Vec<(Field, u32, u32, EventType, f32)>,
    /// The entities found so far (by index) whose names a decision lists,
    /// by [`NAME_LISTS`] (the last: those whose key it lists).
    names: [Vec<u32>; NAME_LISTS],
    /// The entities found so far, by index, then their keys, by number: a
    /// bit each.
    seen: Vec<u64>,
    /// The article's hits so far by what they stand for (see
    /// [`target_list`]), as indices into the batch's hits.
    by_target: [Vec<u32>; 5],
}

impl Scratch {
    /// The memory the buffers hold.
    fn bytes(&self) -> usize {
        fn held<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        held(&self.bits)
            + held(&self.negative_spans)
            + held(&self.cue_spans)
            + held(&self.counted)
            + self.names.iter().map(held).sum::<usize>()
            + held(&self.seen)
            + self.by_target.iter().map(held).sum::<usize>()
    }
}

/// Which of [`Scratch::by_target`] holds a hit on `target`: entities,
/// cues, negative contexts, follow-up phrases, concepts. A lookup, not a
/// branch: the targets of a text's hits come in no order.
fn target_list(target: Target) -> usize {
    match target {
        Target::Entity(_) => 0,
        Target::Cue(_) | Target::StrongCue(_) => 1,
        Target::Negative(_) => 2,
        Target::FollowUp => 3,
        Target::Concept(_) => 4,
    }
}

/// Record the hits of `spans` (sorted, in `norm`: a normalised text and
/// where its sentences start), and leave the concept bit set of each
/// sentence in `scratch.bits`.
fn place(
    profile: &Profile,
    norm: (&str, &[usize]),
    spans: &[RawMatch],
    field: Field,
    lang: Option<&str>,
    hits: &mut Vec<Hit>,
    scratch: &mut Scratch,
) {
    // A negative scoped to languages applies only when the article's
    // language is known to be one of them.
    let negative_applies = |n: u32| {
        let langs = &profile.negatives[n as usize].langs;
        langs.is_empty() || lang.is_some_and(|l| langs.iter().any(|x| x == l))
    };
    // A term whose kind says it stands for a negative context, one that
    // applies here.
    let is_negative_term = |ti: u32, kind: u8| {
        kind & profile::KIND_NEGATIVE != 0
            && profile
                .targets_of(ti as usize)
                .iter()
                .any(|(t, _)| matches!(t, Target::Negative(n) if negative_applies(*n)))
    };
    let Scratch {
        bits,
        negative_spans,
        cue_spans,
        by_target,
        ..
    } = scratch;
    bits.clear();
    let (text, sentence_starts) = norm;
    if text.is_empty() {
        return;
    }
    let start_len = hits.len();
    let spans = spans.iter().map(|&(_, s, e, ti)| (s, e, ti));
    // A negative context takes every other match inside it out of play
    // ("potato chips" swallows "chips"). A cue inside a longer cue gives
    // way to it ("antitrust probe" is not a bare "probe").
    negative_spans.clear();
    cue_spans.clear();
    let mut longest_cue = 0;
    for (s, e, ti) in spans.clone() {
        let kind = profile.kind_of(ti as usize);
        if is_negative_term(ti, kind) {
            negative_spans.push((s, e));
        }
        if kind & profile::KIND_CUE != 0 {
            cue_spans.push((s, e));
            longest_cue = longest_cue.max(e - s);
        }
    }
    let windows = if field == Field::Title {
        1
    } else {
        sentence_starts.len().max(1)
    };
    bits.resize(windows, 0);
    // Spans come in order of start: the sentence they are in, and the
    // first cue that could hold one (no cue is longer than `longest_cue`),
    // only move on.
    let mut sentence = 0;
    let mut cues_from = 0;
    for (s, e, ti) in spans {
        let kind = profile.kind_of(ti as usize);
        let is_negative = is_negative_term(ti, kind);
        if !is_negative && negative_spans.iter().any(|&(ns, ne)| ns <= s && e <= ne) {
            continue;
        }
        while sentence_starts
            .get(sentence + 1)
            .is_some_and(|&next| next <= s as usize)
        {
            sentence += 1;
        }
        let shadowed_cue = kind & profile::KIND_CUE != 0 && {
            while cue_spans
                .get(cues_from)
                .is_some_and(|&(cs, _)| cs + longest_cue < s)
            {
                cues_from += 1;
            }
            cue_spans[cues_from..]
                .iter()
                .take_while(|&&(cs, _)| cs <= s)
                .any(|&(cs, ce)| e <= ce && (ce - cs) > (e - s))
        };
        // Below the text's length, which fits in 32 bits.
        let sentence = sentence as u32;
        for &(target, concept_bits) in profile.targets_of(ti as usize) {
            if is_negative && !matches!(target, Target::Negative(n) if negative_applies(n)) {
                continue;
            }
            if let Target::Negative(n) = target
                && !negative_applies(n)
            {
                continue;
            }
            if shadowed_cue && matches!(target, Target::Cue(_) | Target::StrongCue(_)) {
                continue;
            }
            bits[sentence as usize] |= concept_bits;
            // A batch holds far fewer than 4 billion hits.
            by_target[target_list(target)].push(hits.len() as u32);
            hits.push(Hit {
                field,
                sentence,
                term: ti,
                start: s,
                end: e,
                target,
            });
        }
    }
    debug_assert!(hits.len() >= start_len);
}

/// The languages the detector tells apart, with their ISO 639-1 codes:
/// those of the feeds this engine is for. A detector that weighs only these
/// is several times faster than one that weighs all it knows, and no less
/// sure among them.
const DETECTED: [(whatlang::Lang, &str); 22] = {
    use whatlang::Lang::*;
    [
        (Eng, "en"),
        (Fra, "fr"),
        (Deu, "de"),
        (Spa, "es"),
        (Cmn, "zh"),
        (Jpn, "ja"),
        (Pol, "pl"),
        (Ita, "it"),
        (Por, "pt"),
        (Nld, "nl"),
        (Kor, "ko"),
        (Rus, "ru"),
        (Ukr, "uk"),
        (Vie, "vi"),
        (Tha, "th"),
        (Ind, "id"),
        (Tur, "tr"),
        (Swe, "sv"),
        (Ces, "cs"),
        (Ara, "ar"),
        (Heb, "he"),
        (Hin, "hi"),
    ]
};

/// A declared language as a decision keeps it: one of the codes above
/// needs no copy.
fn lang_code(lang: &str) -> Cow<'static, str> {
    DETECTED
        .iter()
        .find(|(_, code)| *code == lang)
        .map_or_else(|| Cow::Owned(lang.to_owned()), |(_, code)| Cow::Borrowed(*code))
}

/// Language of the text when nothing declared it: ISO 639-1, or `None`
/// when the detector is unsure.
fn detect_lang(input: &Input<'_>) -> Option<Cow<'static, str>> {
    static DETECTOR: std::sync::OnceLock<whatlang::Detector> = std::sync::OnceLock::new();
    let detector = DETECTOR
        .get_or_init(|| whatlang::Detector::with_allowlist(DETECTED.iter().map(|(l, _)| *l).collect()));
    let mut text = String::with_capacity(input.title.len() + input.summary.len() + 1);
    text.push_str(input.title);
    text.push(' ');
    text.push_str(input.summary);
    let info = detector.detect(&text)?;
    if !info.is_reliable() && info.confidence() < 0.5 {
        return None;
    }
    DETECTED
        .iter()
        .find(|(l, _)| *l == info.lang())
        .map(|(_, code)| Cow::Borrowed(*code))
}

impl Decision<'_> {
    /// The normalised text a hit matched.
    pub fn matched(&self, h: &Hit) -> &str {
        self.text(h.field)
            .get(h.start as usize..h.end as usize)
            .unwrap_or("")
    }

    /// The evidence as JSON, for storage and `explain`.
    pub fn evidence_json(&self, profile: &Profile) -> serde_json::Value {
        let target = |t: &Target| -> String {
            match *t {
                Target::Concept(c) => format!("concept:{}", profile.concepts[c as usize]),
                Target::Entity(e) => format!("entity:{}", profile.entities[e as usize].name),
                Target::Negative(n) => format!("negative:{}", profile.negatives[n as usize].name),
                Target::Cue(ev) => format!("cue:{ev}"),
                Target::StrongCue(ev) => format!("strong cue:{ev}"),
                Target::FollowUp => "follow-up".to_owned(),
            }
        };
        json!({
            "profile": profile.name,
            "threshold": profile.threshold,
            "score": self.score,
            "follow_up": self.follow_up.as_str(),
            "rules": self.rules().iter().map(|r| json!({"rule": r.rule, "field": r.field.as_str(), "score": r.score})).collect::<Vec<_>>(),
            "negatives": self.negatives().iter().map(|(n, p)| json!({"negative": n, "penalty": p})).collect::<Vec<_>>(),
            "events": self.event_scores().map(|(e, s)| json!({"event": e.as_str(), "score": s})).collect::<Vec<_>>(),
            "hits": self.hits().iter().map(|h| json!({
                "field": h.field.as_str(), "sentence": h.sentence, "term": profile.terms[h.term as usize].text,
                "matched": self.matched(h), "means": target(&h.target),
            })).collect::<Vec<_>>(),
        })
    }
}
#[cfg(test)]
mod tests;
