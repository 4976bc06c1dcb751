//! Classification: a topic profile applied to an article's title and
//! summary gives relevance, a score, an event type, chip names, entities and
//! the evidence for each. Pure: no IO, no clock.

pub mod matcher;
pub mod normalize;
pub mod profile;

use serde_json::json;

use crate::model::{EventType, Reference};
use matcher::RawMatch;
use normalize::{is_word_char, normalise_into, sentence_of};
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
    /// (`Decision::texts`).
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
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'p> {
    pub relevant: bool,
    pub score: f32,
    /// For relevant articles: the development type.
    pub event: Option<EventType>,
    /// Normalised chip names, in order of first mention.
    pub chips: Vec<&'p str>,
    pub companies: Vec<&'p str>,
    pub agencies: Vec<&'p str>,
    pub countries: Vec<&'p str>,
    pub topics: Vec<&'p str>,
    /// The development signature: `kind:name` of every entity (by group).
    pub keys: Vec<&'p str>,
    pub lang: Option<String>,
    pub hits: Vec<Hit>,
    pub rules: Vec<RuleHit<'p>>,
    /// Negative contexts found, with the penalty each cost.
    pub negatives: Vec<(&'p str, f32)>,
    /// Cue score per event type (only types with a cue).
    pub event_scores: Vec<(EventType, f32)>,
    /// For a relevant article: does it point back at an earlier
    /// development, and does it announce one of its own (see
    /// [`Target::FollowUp`])?
    pub follow_up: Reference,
    /// The normalised title and summary the hits point into.
    pub texts: [String; 2],
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

/// Classify one article with `profile`.
pub fn classify<'p>(profile: &'p Profile, input: &Input<'_>) -> Decision<'p> {
    classify_batch(profile, std::slice::from_ref(input))
        .pop()
        .expect("one decision per article")
}

/// Classify many articles: the decisions [`classify`] makes one at a time,
/// in the same order, faster (the term scan interleaves the texts).
pub fn classify_batch<'p>(profile: &'p Profile, inputs: &[Input<'_>]) -> Vec<Decision<'p>> {
    // The sentence starts of every text in one buffer: text `k`'s are
    // `starts[ends[k - 1]..ends[k]]`.
    let mut starts = Vec::with_capacity(4 * inputs.len());
    let mut ends = Vec::with_capacity(2 * inputs.len());
    let norms: Vec<String> = inputs
        .iter()
        .flat_map(|i| [i.title, i.summary])
        .map(|t| {
            let text = normalise_into(t, &mut starts);
            ends.push(starts.len());
            text
        })
        .collect();
    let texts: Vec<&str> = norms.iter().map(String::as_str).collect();
    let starts_of = |k: usize| &starts[k.checked_sub(1).map_or(0, |p| ends[p])..ends[k]];
    let found = profile.matcher().find_all(&texts);
    let mut spans = spans_of(profile, &texts, found);
    // Widening over a word can reorder matches within a text.
    for text in spans.chunk_by_mut(|a, b| a.0 == b.0) {
        matcher::sort_nearly_sorted(text);
    }
    let mut rest = spans.as_slice();
    let mut take = |text: usize| {
        let n = rest.partition_point(|s| s.0 as usize == text);
        let (these, others) = rest.split_at(n);
        rest = others;
        these
    };
    let mut norms = norms.into_iter();
    let mut decisions = Vec::with_capacity(inputs.len());
    let mut scratch = Scratch::default();
    for (k, input) in inputs.iter().enumerate() {
        let (title, summary) = (norms.next(), norms.next());
        let (title, summary) = (title.unwrap_or_default(), summary.unwrap_or_default());
        let title_spans = take(2 * k);
        let summary_spans = take(2 * k + 1);
        decisions.push(decide(
            profile,
            input,
            (title, title_spans),
            (summary, starts_of(2 * k + 1), summary_spans),
            &mut scratch,
        ));
    }
    decisions
}

/// Matches that respect their term's word boundaries, widened over the
/// rest of a word where the term is wild ("poker chip*" spans all of "poker
/// chips").
fn spans_of(profile: &Profile, texts: &[&str], found: Vec<RawMatch>) -> Vec<RawMatch> {
    let mut spans = found;
    spans.retain_mut(|(text, start, end, ti)| {
        let t = texts[*text as usize];
        let kind = profile.term_kinds[*ti as usize];
        let (bound_left, bound_right) = (
            kind & profile::KIND_BOUND_LEFT != 0,
            kind & profile::KIND_BOUND_RIGHT != 0,
        );
        let (s, e) = (*start as usize, *end as usize);
        if bound_left && word_char_before(t, s) {
            return false;
        }
        if bound_right && word_char_at(t, e) {
            return false;
        }
        if !bound_right {
            *end = word_end(t, e) as u32;
        }
        if !bound_left {
            *start = word_start(t, s) as u32;
        }
        true
    });
    spans
}

/// Does the character before byte `at` of `t` belong to a word? ASCII
/// neighbours, most of them, need no decoding.
fn word_char_before(t: &str, at: usize) -> bool {
    match t.as_bytes()[..at].last() {
        Some(b) if b.is_ascii() => b.is_ascii_alphanumeric(),
        _ => t[..at].chars().next_back().is_some_and(is_word_char),
    }
}

/// Does the character at byte `at` of `t` belong to a word?
fn word_char_at(t: &str, at: usize) -> bool {
    match t.as_bytes().get(at) {
        Some(b) if b.is_ascii() => b.is_ascii_alphanumeric(),
        _ => t[at..].chars().next().is_some_and(is_word_char),
    }
}

/// Where the word that holds byte `at` of `t` (or starts there) ends.
fn word_end(t: &str, at: usize) -> usize {
    let bytes = t.as_bytes();
    let mut i = at;
    while bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
        i += 1;
    }
    if bytes.get(i).is_some_and(|b| !b.is_ascii()) {
        i += t[i..].find(|c: char| !is_word_char(c)).unwrap_or(t.len() - i);
    }
    i
}

/// Where the word that holds the character before byte `at` of `t` (or
/// ends there) starts.
fn word_start(t: &str, at: usize) -> usize {
    let bytes = t.as_bytes();
    let mut i = at;
    while i > 0 && bytes[i - 1].is_ascii_alphanumeric() {
        i -= 1;
    }
    if i > 0 && !bytes[i - 1].is_ascii() {
        i = t[..i]
            .rfind(|c: char| !is_word_char(c))
            .map_or(0, |k| k + t[k..].chars().next().map_or(1, char::len_utf8));
    }
    i
}

/// The decision on one article from its normalised texts and the term
/// spans in each.
fn decide<'p>(
    profile: &'p Profile,
    input: &Input<'_>,
    title: (String, &[RawMatch]),
    summary: (String, &[usize], &[RawMatch]),
    scratch: &mut Scratch,
) -> Decision<'p> {
    // A match can stand for several targets: room for all of them, no
    // more (hits are most of what a decision keeps).
    let targets: usize = (title.1.iter().chain(summary.2))
        .map(|&(_, _, _, ti)| profile.targets_of(ti as usize).len())
        .sum();
    let mut hits = Vec::with_capacity(targets);
    // The title is one sentence.
    place(
        profile,
        (&title.0, &[0]),
        title.1,
        Field::Title,
        input.lang,
        &mut hits,
        scratch,
    );
    let title_all = scratch.bits.iter().fold(0u64, |a, b| a | b);
    place(
        profile,
        (&summary.0, summary.1),
        summary.2,
        Field::Summary,
        input.lang,
        &mut hits,
        scratch,
    );
    let summary_bits = &scratch.bits;
    let (title_text, summary_text) = (title.0, summary.0);

    // Rules: the title is one window, each summary sentence another.
    let mut score = 0.0f32;
    let mut rules = Vec::new();
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
            rules.push(RuleHit {
                rule: &rule.name,
                field,
                score: s,
            });
        }
    }

    // One pass over the hits: negative contexts, entities in order of
    // first mention, cue scores, follow-up phrases.
    let mut negatives: Vec<(&str, f32)> = Vec::new();
    let mut chips: Vec<&str> = Vec::new();
    let mut companies: Vec<&str> = Vec::new();
    let mut agencies: Vec<&str> = Vec::new();
    let mut countries: Vec<&str> = Vec::new();
    let mut topics: Vec<&str> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    // Cue score per event type, by `EventType as usize`; NaN: no cue.
    let mut cue_score = [f32::NAN; 6];
    let counted = &mut scratch.counted;
    counted.clear();
    let mut refers_back = false;
    let mut first_title_marker: Option<u32> = None;
    for h in &hits {
        let (ev, strength) = match h.target {
            Target::Negative(n) => {
                let neg = &profile.negatives[n as usize];
                if !negatives.iter().any(|(name, _)| *name == neg.name) {
                    negatives.push((&neg.name, neg.penalty));
                    score -= neg.penalty;
                }
                continue;
            }
            Target::Entity(e) => {
                let ent = &profile.entities[e as usize];
                let list = match ent.kind {
                    EntityKind::Chip => &mut chips,
                    EntityKind::Company => &mut companies,
                    EntityKind::Agency => &mut agencies,
                    EntityKind::Country => &mut countries,
                    EntityKind::Topic => &mut topics,
                };
                // Names are the profile's own strings: one per entity.
                if !list.iter().any(|n| std::ptr::eq(*n, ent.name.as_str())) {
                    list.push(ent.name.as_str());
                    if !keys.contains(&ent.key.as_str()) {
                        keys.push(&ent.key);
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
        let s = &mut cue_score[ev as usize];
        *s = if s.is_nan() { w } else { *s + w };
    }
    let event_scores: Vec<(EventType, f32)> = EVENT_PRIORITY
        .iter()
        .filter(|&&e| !cue_score[e as usize].is_nan())
        .map(|&e| (e, cue_score[e as usize]))
        .collect();

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
    let event = relevant.then(|| {
        event_scores
            .iter()
            .fold(None::<(EventType, f32)>, |best, &(e, s)| match best {
                Some((_, bs)) if bs >= s => best,
                _ => Some((e, s)),
            })
            .map_or(profile.default_event, |(e, _)| e)
    });

    Decision {
        relevant,
        score,
        event,
        chips,
        companies,
        agencies,
        countries,
        topics,
        keys,
        // Detection is the costliest step here, and only relevant articles
        // need a language (for display and for grouping stories).
        lang: input
            .lang
            .map(str::to_owned)
            .or_else(|| relevant.then(|| detect_lang(input)).flatten()),
        hits,
        rules,
        negatives,
        event_scores,
        follow_up,
        texts: [title_text, summary_text],
    }
}

/// Buffers that the articles of a batch reuse, one after the other.
#[derive(Default)]
struct Scratch {
    /// What [`place`] leaves: the concept bit set of each sentence.
    bits: Vec<u64>,
    negative_spans: Vec<(u32, u32)>,
    cue_spans: Vec<(u32, u32)>,
    /// Cue phrases counted so far: field, span, event, weight.
    counted: Vec<(Field, u32, u32, EventType, f32)>,
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
    let is_negative_term = |ti: u32| {
        profile.term_kinds[ti as usize] & profile::KIND_NEGATIVE != 0
            && profile
                .targets_of(ti as usize)
                .iter()
                .any(|(t, _)| matches!(t, Target::Negative(n) if negative_applies(*n)))
    };
    let Scratch {
        bits,
        negative_spans,
        cue_spans,
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
    for (s, e, ti) in spans.clone() {
        if is_negative_term(ti) {
            negative_spans.push((s, e));
        }
        if profile.term_kinds[ti as usize] & profile::KIND_CUE != 0 {
            cue_spans.push((s, e));
        }
    }
    let inside_longer_cue = |s: u32, e: u32| {
        cue_spans
            .iter()
            .any(|&(cs, ce)| cs <= s && e <= ce && (ce - cs) > (e - s))
    };
    let windows = if field == Field::Title {
        1
    } else {
        sentence_starts.len().max(1)
    };
    bits.resize(windows, 0);
    for (s, e, ti) in spans {
        let is_negative = is_negative_term(ti);
        if !is_negative && negative_spans.iter().any(|&(ns, ne)| ns <= s && e <= ne) {
            continue;
        }
        let sentence = if field == Field::Title {
            0
        } else {
            // Below the text's length, which fits in 32 bits.
            sentence_of(sentence_starts, s as usize) as u32
        };
        let shadowed_cue = inside_longer_cue(s, e);
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

/// Language of the text when nothing declared it: ISO 639-1, or `None`
/// when the detector is unsure.
fn detect_lang(input: &Input<'_>) -> Option<String> {
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
        .map(|(_, code)| (*code).to_owned())
}

impl Decision<'_> {
    /// The normalised text a hit matched.
    pub fn matched(&self, h: &Hit) -> &str {
        let text = &self.texts[usize::from(h.field == Field::Summary)];
        text.get(h.start as usize..h.end as usize).unwrap_or("")
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
            "rules": self.rules.iter().map(|r| json!({"rule": r.rule, "field": r.field.as_str(), "score": r.score})).collect::<Vec<_>>(),
            "negatives": self.negatives.iter().map(|(n, p)| json!({"negative": n, "penalty": p})).collect::<Vec<_>>(),
            "events": self.event_scores.iter().map(|(e, s)| json!({"event": e.as_str(), "score": s})).collect::<Vec<_>>(),
            "hits": self.hits.iter().map(|h| json!({
                "field": h.field.as_str(), "sentence": h.sentence, "term": profile.terms[h.term as usize].text,
                "matched": self.matched(h), "means": target(&h.target),
            })).collect::<Vec<_>>(),
        })
    }
}
#[cfg(test)]
mod tests;
