//! Topic profiles: the TOML file as written, validated and compiled into
//! term matchers (see [`super::matcher`]). The engine knows nothing about any topic; all of
//! it is in the profile.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::matcher::Matcher;
use super::normalize::{is_word_char, normalise_term};
use crate::model::EventType;

/// The chip-exports profile shipped with the program.
pub const BUILTIN_PROFILE: &str = include_str!("../../config/topics/chip-exports.toml");
pub const BUILTIN_PROFILE_NAME: &str = "<built-in config/topics/chip-exports.toml>";

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read topic profile {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid topic profile {path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    profile: RawMeta,
    concepts: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    entities: Vec<RawEntity>,
    #[serde(default)]
    negatives: Vec<RawNegative>,
    rules: Vec<RawRule>,
    events: RawEvents,
    /// Per language: phrases that show an article reports on, or reacts
    /// to, a development that happened before (see [`Target::FollowUp`]).
    #[serde(default)]
    follow_up: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    name: String,
    #[serde(default)]
    description: String,
    threshold: f32,
    #[serde(default = "one")]
    title_weight: f32,
}

fn one() -> f32 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    kind: EntityKind,
    name: String,
    /// Entities of one group count as the same actor when grouping stories
    /// (a bureau and its department).
    #[serde(default)]
    group: Option<String>,
    aliases: Vec<String>,
    #[serde(default)]
    concepts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNegative {
    name: String,
    #[serde(default)]
    penalty: f32,
    terms: Vec<String>,
    /// Only in articles of these languages (default: every language).
    #[serde(default)]
    langs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    all: Vec<String>,
    within: Within,
    score: f32,
}

#[derive(Debug, Deserialize)]
struct RawEvents {
    default: String,
    #[serde(flatten)]
    cues: BTreeMap<String, RawEventCues>,
}

/// One event's cues: `strong` phrases settle the type on their own (they
/// count `STRONG_CUE` times); the other keys are languages.
#[derive(Debug, Deserialize)]
struct RawEventCues {
    #[serde(default)]
    strong: Vec<String>,
    #[serde(flatten)]
    langs: BTreeMap<String, Vec<String>>,
}

/// How many ordinary cues a strong cue is worth.
pub const STRONG_CUE: f32 = 3.0;

/// What kind of thing an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Chip,
    Company,
    Agency,
    Country,
    /// A subject that names a development across languages (a material, a
    /// kind of measure): not reported as a chip, used to group stories.
    Topic,
}

/// How close a rule's concepts must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Within {
    Sentence,
    Article,
}

/// What a matched term stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Concept(u32),
    Entity(u32),
    Negative(u32),
    Cue(EventType),
    StrongCue(EventType),
    /// A phrase that points back at an earlier development ("last week's
    /// rules", "after the ban took effect") or reacts to one ("denounces"):
    /// an article whose own headline announces nothing new, but that has
    /// these, is a follow-up of a story, not a new development.
    FollowUp,
}

#[derive(Debug, Clone)]
pub struct Entity {
    pub kind: EntityKind,
    pub name: String,
    /// The name stories group it under (its group, else its name).
    pub key: String,
    /// Bit set of concepts a mention counts for.
    pub concepts: u64,
}

#[derive(Debug, Clone)]
pub struct Negative {
    pub name: String,
    pub penalty: f32,
    /// Languages it applies to; empty means all.
    pub langs: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// Bit set of the concepts that must co-occur.
    pub all: u64,
    pub within: Within,
    pub score: f32,
}

/// One distinct normalised term in the automaton.
#[derive(Debug, Clone)]
pub struct Term {
    /// As written in the profile (for evidence).
    pub text: String,
    /// Latin-script ends need a word boundary unless wild (`*`).
    pub bound_left: bool,
    pub bound_right: bool,
    pub targets: Vec<Target>,
}

/// A term that stands for a negative context.
pub(crate) const KIND_NEGATIVE: u8 = 1;
/// A term that is an event cue.
pub(crate) const KIND_CUE: u8 = 2;
/// A term that needs a word boundary on its left ([`Term::bound_left`]).
pub(crate) const KIND_BOUND_LEFT: u8 = 4;
/// A term that needs a word boundary on its right.
pub(crate) const KIND_BOUND_RIGHT: u8 = 8;

/// What a classification reads of a term: what its targets include
/// ([`KIND_NEGATIVE`], [`KIND_CUE`]) and its boundaries
/// ([`KIND_BOUND_LEFT`], [`KIND_BOUND_RIGHT`]), and where its targets are in
/// [`Profile::flat_targets`]. One load per match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TermSlot {
    pub(crate) kind: u8,
    pub(crate) targets: (u32, u32),
}

/// A compiled, validated profile. Build once, share by reference.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub source: String,
    /// Fingerprint of the profile text: stored with each decision so a
    /// changed profile can be told apart.
    pub fingerprint: String,
    pub threshold: f32,
    pub title_weight: f32,
    pub concepts: Vec<String>,
    pub entities: Vec<Entity>,
    pub negatives: Vec<Negative>,
    pub rules: Vec<Rule>,
    pub default_event: EventType,
    pub terms: Vec<Term>,
    /// Each term as matched (normalised, without wildcards).
    pub(crate) normalised: Vec<String>,
    /// Per term, what a classification reads of it, side by side.
    pub(crate) term_slots: Vec<TermSlot>,
    /// Every term's targets, one term after another, each with the concept
    /// bits it sets.
    pub(crate) flat_targets: Vec<(Target, u64)>,
    /// Each entity's key, as a number below [`keys`](Self::keys).
    pub(crate) entity_keys: Vec<u32>,
    /// How many distinct keys the entities have.
    pub(crate) keys: usize,
    /// Built on first use: a crawl where every feed answers 304 never
    /// pays for it.
    matcher: std::sync::OnceLock<Matcher>,
}

impl Profile {
    /// Load and compile a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The profile shipped with the program.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN_PROFILE, BUILTIN_PROFILE_NAME).expect("the shipped profile is valid (tested)")
    }

    /// Parse, validate and compile profile text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, ProfileError> {
        let invalid = |line: usize, message: String| ProfileError::Invalid {
            path: source.to_owned(),
            line,
            message,
        };
        // The line of the first occurrence of `needle`, for errors found
        // after deserialising.
        let line_of = |needle: &str| {
            // An empty term is written `""`: look for that.
            let needle = if needle.is_empty() { "\"\"" } else { needle };
            // A control character is written as an escape: look for the
            // longest stretch without one.
            let needle = needle
                .split(char::is_control)
                .max_by_key(|s| s.len())
                .unwrap_or(needle);
            text.lines().position(|l| l.contains(needle)).map_or(0, |n| n + 1)
        };
        // Language keys are ISO 639 codes: a typo such as `english` would
        // otherwise never match anything.
        let check_lang = |lang: &str, at: &str| -> Result<(), ProfileError> {
            if (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_lowercase()) {
                Ok(())
            } else {
                Err(invalid(
                    line_of(&format!("{lang} =")),
                    format!("{at}: `{lang}` is not a language code such as \"en\" or \"zh\""),
                ))
            }
        };
        let raw: RawProfile = toml::from_str(text).map_err(|e| {
            let start = e.span().map_or(0, |s| s.start.min(text.len()));
            let line = text.as_bytes()[..start].iter().filter(|b| **b == b'\n').count() + 1;
            invalid(line, e.message().trim().to_owned())
        })?;

        if !(raw.profile.threshold.is_finite() && raw.profile.threshold > 0.0) {
            return Err(invalid(
                line_of("threshold"),
                "`profile.threshold` must be a positive number".into(),
            ));
        }
        if raw.concepts.is_empty() {
            return Err(invalid(
                0,
                "`concepts` is empty: a profile needs at least one concept".into(),
            ));
        }
        if raw.concepts.len() > 64 {
            return Err(invalid(0, "at most 64 concepts are supported".into()));
        }
        let concepts: Vec<String> = raw.concepts.keys().cloned().collect();
        let concept_bit = |name: &str, at: &str| -> Result<u64, ProfileError> {
            concepts
                .iter()
                .position(|c| c == name)
                .map(|i| 1u64 << i)
                .ok_or_else(|| {
                    invalid(
                        line_of(&format!("\"{name}\"")),
                        format!("{at}: unknown concept `{name}` (known: {})", concepts.join(", ")),
                    )
                })
        };

        let mut builder = TermTable::default();
        for (ci, (name, langs)) in raw.concepts.iter().enumerate() {
            let n: usize = langs.values().map(Vec::len).sum();
            if n == 0 {
                return Err(invalid(
                    line_of(&format!("[concepts.{name}]")),
                    format!("concept `{name}` has no terms"),
                ));
            }
            for (lang, terms) in langs {
                check_lang(lang, &format!("concepts.{name}"))?;
                for t in terms {
                    builder
                        .add(t, Target::Concept(ci as u32))
                        .map_err(|m| invalid(line_of(t), format!("concepts.{name}.{lang}: {m}")))?;
                }
            }
        }

        let mut entities = Vec::with_capacity(raw.entities.len());
        for (ei, e) in raw.entities.iter().enumerate() {
            if e.aliases.is_empty() {
                return Err(invalid(
                    line_of(&format!("\"{}\"", e.name)),
                    format!("entity `{}` has no aliases", e.name),
                ));
            }
            let mut bits = 0;
            for c in &e.concepts {
                bits |= concept_bit(c, &format!("entities `{}`", e.name))?;
            }
            let ei = u32::try_from(ei).map_err(|_| invalid(0, "too many entities".into()))?;
            for a in &e.aliases {
                builder
                    .add(a, Target::Entity(ei))
                    .map_err(|m| invalid(line_of(a), format!("entity `{}`: {m}", e.name)))?;
            }
            let kind_name = match e.kind {
                EntityKind::Chip => "chip",
                EntityKind::Company => "company",
                EntityKind::Agency => "agency",
                EntityKind::Country => "country",
                EntityKind::Topic => "topic",
            };
            entities.push(Entity {
                kind: e.kind,
                name: e.name.clone(),
                key: format!("{kind_name}:{}", e.group.as_deref().unwrap_or(&e.name)),
                concepts: bits,
            });
        }

        let mut negatives = Vec::with_capacity(raw.negatives.len());
        for (ni, n) in raw.negatives.iter().enumerate() {
            if n.terms.is_empty() {
                return Err(invalid(
                    line_of(&format!("\"{}\"", n.name)),
                    format!("negative `{}` has no terms", n.name),
                ));
            }
            let ni = u32::try_from(ni).map_err(|_| invalid(0, "too many negative contexts".into()))?;
            for t in &n.terms {
                builder
                    .add(t, Target::Negative(ni))
                    .map_err(|m| invalid(line_of(t), format!("negative `{}`: {m}", n.name)))?;
            }
            for l in &n.langs {
                check_lang(l, &format!("negative `{}`", n.name))?;
            }
            negatives.push(Negative {
                name: n.name.clone(),
                penalty: n.penalty,
                langs: n.langs.clone(),
            });
        }

        if raw.rules.is_empty() {
            return Err(invalid(
                0,
                "`rules` is empty: a profile needs at least one rule".into(),
            ));
        }
        let mut rules = Vec::with_capacity(raw.rules.len());
        for r in &raw.rules {
            if r.all.is_empty() {
                return Err(invalid(
                    line_of(&r.name),
                    format!("rule `{}` lists no concepts", r.name),
                ));
            }
            let mut bits = 0;
            for c in &r.all {
                bits |= concept_bit(c, &format!("rule `{}`", r.name))?;
            }
            rules.push(Rule {
                name: r.name.clone(),
                all: bits,
                within: r.within,
                score: r.score,
            });
        }

        let default_event = EventType::parse(&raw.events.default).ok_or_else(|| {
            invalid(
                line_of("default"),
                format!(
                    "events.default: unknown event `{}` (known: {})",
                    raw.events.default,
                    EventType::NAMES.join(", ")
                ),
            )
        })?;
        for (event, cues) in &raw.events.cues {
            let ev = EventType::parse(event).ok_or_else(|| {
                invalid(
                    line_of(&format!("[events.{event}]")),
                    format!("unknown event `{event}` (known: {})", EventType::NAMES.join(", ")),
                )
            })?;
            for t in &cues.strong {
                builder
                    .add(t, Target::StrongCue(ev))
                    .map_err(|m| invalid(line_of(t), format!("events.{event}.strong: {m}")))?;
            }
            if cues.strong.is_empty() && cues.langs.values().all(Vec::is_empty) {
                return Err(invalid(
                    line_of(&format!("[events.{event}]")),
                    format!("events.{event} has no cues (remove the table or add cues)"),
                ));
            }
            for (lang, terms) in &cues.langs {
                check_lang(lang, &format!("events.{event}"))?;
                for t in terms {
                    builder
                        .add(t, Target::Cue(ev))
                        .map_err(|m| invalid(line_of(t), format!("events.{event}.{lang}: {m}")))?;
                }
            }
        }

        for (lang, terms) in &raw.follow_up {
            check_lang(lang, "follow_up")?;
            for t in terms {
                builder
                    .add(t, Target::FollowUp)
                    .map_err(|m| invalid(line_of(t), format!("follow_up.{lang}: {m}")))?;
            }
        }

        let TermTable {
            terms, normalised, ..
        } = builder;
        let mut flat_targets = Vec::new();
        let mut term_slots = Vec::with_capacity(terms.len());
        for t in &terms {
            let bounds =
                (u8::from(t.bound_left) * KIND_BOUND_LEFT) | (u8::from(t.bound_right) * KIND_BOUND_RIGHT);
            let kind = t.targets.iter().fold(bounds, |k, target| {
                k | match target {
                    Target::Negative(_) => KIND_NEGATIVE,
                    Target::Cue(_) | Target::StrongCue(_) => KIND_CUE,
                    _ => 0,
                }
            });
            let at = |n: usize| u32::try_from(n).map_err(|_| invalid(0, "too many terms".into()));
            let from = at(flat_targets.len())?;
            flat_targets.extend(t.targets.iter().map(|&target| {
                let bits = match target {
                    Target::Concept(c) => 1 << c,
                    Target::Entity(e) => entities[e as usize].concepts,
                    _ => 0,
                };
                (target, bits)
            }));
            term_slots.push(TermSlot {
                kind,
                targets: (from, at(flat_targets.len())?),
            });
        }
        // Entities that share a key (a group) count it once: each key a
        // number, so that a decision tells them apart by a bit.
        let mut key_numbers = std::collections::HashMap::new();
        let entity_keys = entities
            .iter()
            .map(|e| {
                let next = key_numbers.len() as u32;
                *key_numbers.entry(e.key.as_str()).or_insert(next)
            })
            .collect();
        let keys = key_numbers.len();
        Ok(Self {
            name: raw.profile.name,
            description: raw.profile.description,
            source: source.to_owned(),
            fingerprint: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes())),
            threshold: raw.profile.threshold,
            title_weight: raw.profile.title_weight,
            concepts,
            entities,
            negatives,
            rules,
            default_event,
            terms,
            normalised,
            term_slots,
            flat_targets,
            entity_keys,
            keys,
            matcher: std::sync::OnceLock::new(),
        })
    }
}

impl Profile {
    /// The targets of term `ti`, each with the concept bits it sets.
    pub(crate) fn targets_of(&self, ti: usize) -> &[(Target, u64)] {
        let (from, to) = self.term_slots[ti].targets;
        &self.flat_targets[from as usize..to as usize]
    }

    /// What the targets of term `ti` include, and its boundaries.
    pub(crate) fn kind_of(&self, ti: usize) -> u8 {
        self.term_slots[ti].kind
    }

    /// The term matchers, built on first use.
    pub fn matcher(&self) -> &Matcher {
        self.matcher.get_or_init(|| {
            Matcher::new(&self.normalised, |i| {
                let k = self.kind_of(i);
                (k & KIND_BOUND_LEFT != 0, k & KIND_BOUND_RIGHT != 0)
            })
        })
    }
}

/// Distinct normalised terms and everything each stands for.
#[derive(Default)]
struct TermTable {
    terms: Vec<Term>,
    /// Each term as matched, by index (normalised once, here).
    normalised: Vec<String>,
    index: HashMap<(String, bool, bool), usize>,
}

impl TermTable {
    fn add(&mut self, raw: &str, target: Target) -> Result<(), String> {
        let wild_left = raw.starts_with('*');
        let wild_right = raw.ends_with('*');
        let core = raw.trim_matches('*');
        let norm = normalise_term(core);
        if norm.is_empty() {
            return Err(format!("empty term `{raw}`"));
        }
        // The matcher lays texts end to end with NULs between them.
        if norm.chars().any(char::is_control) {
            return Err(format!("term `{raw}` holds a control character"));
        }
        if norm.chars().count() < 2 && norm.chars().all(is_word_char) {
            return Err(format!("term `{raw}` is too short to match safely"));
        }
        // Only an end that is a word character needs a word boundary: CJK
        // scripts have no spaces, punctuation is its own boundary.
        let first = norm.chars().next().is_some_and(is_word_char);
        let last = norm.chars().last().is_some_and(is_word_char);
        let key = (norm, first && !wild_left, last && !wild_right);
        let idx = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.terms.push(Term {
                    text: raw.to_owned(),
                    bound_left: key.1,
                    bound_right: key.2,
                    targets: Vec::new(),
                });
                self.normalised.push(key.0.clone());
                self.index.insert(key, self.terms.len() - 1);
                self.terms.len() - 1
            }
        };
        if !self.terms[idx].targets.contains(&target) {
            self.terms[idx].targets.push(target);
        }
        Ok(())
    }
}
