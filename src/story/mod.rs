//! Stories: which development an article reports. Pure: the store hands in
//! the candidate stories (found through its feature and time indexes) and
//! this module decides whether the article joins one of them or opens a new
//! story. No IO, no clock.

use std::collections::HashMap;

use crate::model::{EventType, Reference};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// How stories are formed.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// An article may join a story whose last report is at most this old...
    pub after_days: i64,
    /// ...or whose first report is at most this much later (out of order).
    pub before_days: i64,
    /// Minimum weighted overlap of signatures to join.
    pub min_score: f32,
    /// Score at which reports of two development types within two days are
    /// taken as one development described differently.
    pub merge_types_at: f32,
    /// How far back a follow-up may find the development it follows.
    pub follow_up_days: i64,
}

impl Params {
    /// How far back (days) to look for the story an article belongs to: a
    /// follow-up may follow an older development.
    pub fn lookback_days(&self, follow_up: Reference) -> i64 {
        if follow_up == Reference::FollowUp {
            self.follow_up_days
        } else {
            self.after_days
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Self {
            after_days: 10,
            before_days: 3,
            min_score: 0.3,
            merge_types_at: 0.6,
            follow_up_days: 90,
        }
    }
}

/// A feature of an article's development signature, as stored: `kind:name`.
pub fn feature(kind: &str, name: &str) -> String {
    format!("{kind}:{name}")
}

/// How much a shared feature says about two reports being one development.
pub fn weight(feature: &str) -> f32 {
    match feature.split_once(':').map(|(k, _)| k) {
        Some("chip") | Some("topic") => 3.0,
        Some("agency") => 2.0,
        Some("company") => 1.5,
        Some("country") => 0.5,
        _ => 1.0,
    }
}

/// The article to place.
#[derive(Debug, Clone)]
pub struct Article<'a> {
    pub published: i64,
    pub event: EventType,
    pub features: &'a [String],
    /// Whether it points back at an earlier development, and announces
    /// one of its own (the classifier's judgement).
    pub follow_up: Reference,
}

/// A candidate story.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: i64,
    pub event: EventType,
    pub first_seen: i64,
    pub last_seen: i64,
    pub size: u32,
    /// How many of the story's articles have each feature.
    pub features: HashMap<String, u32>,
}

/// Why an article joined a story, or opened one.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    Join { story: i64, score: f32 },
    New,
}

/// The features that characterise a story: those in at least a third of
/// its articles (all of them while it is small).
fn core(c: &Candidate) -> impl Iterator<Item = &String> {
    let min = if c.size <= 2 { 1 } else { c.size.div_ceil(3) };
    c.features.iter().filter(move |(_, n)| **n >= min).map(|(f, _)| f)
}

/// How well a story explains an article: the mean of the weighted Jaccard
/// overlap with the story's core and the share of the article's own
/// signature the story has (a terse report names fewer entities), plus a
/// bonus for the same development type within two days.
pub fn score(a: &Article<'_>, c: &Candidate) -> f32 {
    let core: Vec<&String> = core(c).collect();
    let own: f32 = a.features.iter().map(|f| weight(f)).sum();
    let shared: f32 = a
        .features
        .iter()
        .filter(|f| core.contains(f))
        .map(|f| weight(f))
        .sum();
    let union: f32 = own
        + core
            .iter()
            .filter(|f| !a.features.contains(f))
            .map(|f| weight(f))
            .sum::<f32>();
    if union == 0.0 || own == 0.0 {
        return 0.0;
    }
    let near = (a.published - c.last_seen).abs() <= 2 * DAY || (a.published - c.first_seen).abs() <= 2 * DAY;
    // The bonus needs more in common than a country, unless the article
    // names nothing more than that.
    let related = shared >= 1.0 || (shared > 0.0 && own <= 1.0);
    let bonus = if a.event == c.event && a.event.is_development() && near && related {
        0.2
    } else {
        0.0
    };
    0.5 * (shared / union) + 0.5 * (shared / own) + bonus
}

/// May an article of event `a` belong to a story of event `s`? Two
/// different developments never merge; a development never hides inside a
/// market or analysis story (it would lose its alert).
pub fn compatible(a: EventType, s: EventType) -> bool {
    match a {
        // Analysis of a development is a piece of its own, not a report.
        EventType::Analysis => s == EventType::Analysis,
        // Nor is a market report part of someone's analysis.
        EventType::Market => s != EventType::Analysis,
        _ if a.is_development() => a == s,
        _ => true,
    }
}

/// Development types that one development can be described as: a
/// countermeasure is a restriction by the other side, a crackdown may be
/// reported as enforcement or as a new restriction. An approval is never
/// the same development as a restriction.
fn kindred(a: EventType, b: EventType) -> bool {
    use EventType::*;
    matches!(
        (a, b),
        (Restriction, Retaliation)
            | (Retaliation, Restriction)
            | (Restriction, Enforcement)
            | (Enforcement, Restriction)
            | (Enforcement, Retaliation)
            | (Retaliation, Enforcement)
    )
}

/// Place an article among the candidates.
pub fn place(a: &Article<'_>, candidates: &[Candidate], p: &Params) -> Placement {
    let mut best: Option<(i64, f32)> = None;
    for c in candidates {
        if a.published > c.last_seen + p.after_days * DAY || a.published < c.first_seen - p.before_days * DAY
        {
            continue;
        }
        let s = score(a, c);
        // Two development types merge only when the signatures agree
        // strongly and the reports are days apart at most (one development
        // that two outlets describe differently).
        let near = (a.published - c.first_seen).abs() <= 2 * DAY;
        let merge_types = near && s >= p.merge_types_at && kindred(a.event, c.event);
        if !(compatible(a.event, c.event) || merge_types) {
            continue;
        }
        if s >= p.min_score && best.is_none_or(|(_, b)| s > b) {
            best = Some((c.id, s));
        }
    }
    // Only a development could raise a second alert; commentary keeps to
    // the ordinary rules.
    if best.is_none() && a.follow_up != Reference::None && a.event.is_development() {
        best = follow_up_of(a, candidates, p);
    }
    match best {
        Some((story, score)) => Placement::Join { story, score },
        None => Placement::New,
    }
}

/// The story an article that points back most likely follows, by the
/// share of its signature found anywhere in the story; the latest story
/// wins a tie. A follow-up (its headline announces nothing) may follow any
/// development type (a reaction to a restriction is told with other cues)
/// up to `follow_up_days` back, sharing more than a country, or only a
/// country with a recent story of its own type. An article that announces
/// a development of its own as well only joins a recent story of the same
/// type ("ASML halts service to China while it assesses last week's
/// rules"): an older or different one is another development.
fn follow_up_of(a: &Article<'_>, candidates: &[Candidate], p: &Params) -> Option<(i64, f32)> {
    let own: f32 = a.features.iter().map(|f| weight(f)).sum();
    if own == 0.0 {
        return None;
    }
    let mut best: Option<(i64, f32, i64)> = None;
    for c in candidates {
        if a.published > c.last_seen + p.follow_up_days * DAY
            || a.published < c.first_seen - p.before_days * DAY
        {
            continue;
        }
        let shared: f32 = a
            .features
            .iter()
            .filter(|f| c.features.contains_key(*f))
            .map(|f| weight(f))
            .sum();
        let recent_same = a.event == c.event && a.published <= c.last_seen + p.after_days * DAY;
        let joins = match a.follow_up {
            Reference::FollowUp => shared >= 1.5 || (shared > 0.0 && recent_same),
            Reference::RefersBack => shared > 0.0 && recent_same,
            Reference::None => false,
        };
        if !joins {
            continue;
        }
        // The nearer in time, the likelier: the weight halves every two
        // weeks since the story's last report.
        let gap_days = (a.published - c.last_seen).max(0) as f32 / DAY as f32;
        let s = shared / own * 0.5f32.powf(gap_days / 14.0);
        if best.is_none_or(|(_, bs, bl)| s > bs || (s == bs && c.last_seen > bl)) {
            best = Some((c.id, s, c.last_seen));
        }
    }
    best.map(|(id, s, _)| (id, s))
}

/// How urgent an alert is: `high` for new restrictions, retaliation and
/// approvals naming specific chips, else `medium`.
pub fn severity(event: EventType, chips: usize) -> &'static str {
    match event {
        EventType::Restriction | EventType::Retaliation => "high",
        EventType::Approval if chips > 0 => "high",
        _ => "medium",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: i64, event: EventType, first: i64, feats: &[&str]) -> Candidate {
        Candidate {
            id,
            event,
            first_seen: first,
            last_seen: first,
            size: 1,
            features: feats.iter().map(|f| ((*f).to_owned(), 1)).collect(),
        }
    }

    fn feats(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn same_development_joins_across_languages() {
        // Entities are normalised, so a Chinese report has the same signature.
        let f = feats(&["chip:H200", "company:Nvidia", "country:China"]);
        let a = Article {
            published: DAY,
            event: EventType::Approval,
            features: &f,
            follow_up: Reference::None,
        };
        let c = cand(
            7,
            EventType::Approval,
            0,
            &["chip:H200", "company:Nvidia", "company:Alibaba", "country:China"],
        );
        assert!(matches!(
            place(&a, &[c], &Params::default()),
            Placement::Join { story: 7, .. }
        ));
    }

    #[test]
    fn a_later_development_on_the_same_chips_is_a_new_story() {
        let f = feats(&["chip:H200", "company:Nvidia", "country:China"]);
        let c = cand(
            7,
            EventType::Approval,
            0,
            &["chip:H200", "company:Nvidia", "country:China"],
        );
        // Seven weeks later: outside the window.
        let late = Article {
            published: 50 * DAY,
            event: EventType::Approval,
            features: &f,
            follow_up: Reference::None,
        };
        assert_eq!(
            place(&late, std::slice::from_ref(&c), &Params::default()),
            Placement::New
        );
        // A different development type the next day: never merged.
        let other = Article {
            published: DAY,
            event: EventType::Restriction,
            features: &f,
            follow_up: Reference::None,
        };
        assert_eq!(place(&other, &[c], &Params::default()), Placement::New);
    }

    #[test]
    fn unrelated_signatures_do_not_join() {
        let f = feats(&["topic:gallium", "country:China"]);
        let a = Article {
            published: DAY,
            event: EventType::Retaliation,
            features: &f,
            follow_up: Reference::None,
        };
        let c = cand(
            1,
            EventType::Retaliation,
            0,
            &["company:Micron", "agency:CAC", "country:China"],
        );
        assert_eq!(place(&a, &[c], &Params::default()), Placement::New);
    }

    #[test]
    fn analysis_is_a_story_of_its_own() {
        // An explainer two days after a development is commentary, not
        // another report of it (and never alerts: it is not a development).
        let f = feats(&["topic:gallium", "topic:germanium", "country:China"]);
        let a = Article {
            published: 2 * DAY,
            event: EventType::Analysis,
            features: &f,
            follow_up: Reference::None,
        };
        let c = cand(
            3,
            EventType::Retaliation,
            0,
            &[
                "topic:gallium",
                "topic:germanium",
                "country:China",
                "agency:MOFCOM",
            ],
        );
        assert_eq!(place(&a, &[c], &Params::default()), Placement::New);
    }

    #[test]
    fn a_follow_up_joins_the_development_it_follows_weeks_later() {
        // "China shipped no gallium in August, the first month under the
        // new licensing regime": 11 weeks on, same subject.
        let f = feats(&["topic:gallium", "topic:germanium", "agency:GACC", "country:China"]);
        let c = cand(
            3,
            EventType::Retaliation,
            0,
            &[
                "topic:gallium",
                "topic:germanium",
                "country:China",
                "agency:MOFCOM",
            ],
        );
        let mut a = Article {
            published: 79 * DAY,
            event: EventType::Retaliation,
            features: &f,
            follow_up: Reference::FollowUp,
        };
        assert!(matches!(
            place(&a, std::slice::from_ref(&c), &Params::default()),
            Placement::Join { story: 3, .. }
        ));
        // Past the follow-up window it is news again.
        a.published = 100 * DAY;
        assert_eq!(
            place(&a, std::slice::from_ref(&c), &Params::default()),
            Placement::New
        );
        // Without the back-reference, 79 days is another development.
        a.published = 79 * DAY;
        a.follow_up = Reference::None;
        assert_eq!(place(&a, &[c], &Params::default()), Placement::New);
    }

    #[test]
    fn a_new_development_that_refers_back_is_still_new() {
        // "China approves first H200 imports" (its headline announces an
        // approval) "after Washington allowed the sales last month": the US
        // approval seven weeks earlier is another development.
        let f = feats(&["chip:H200", "company:Nvidia", "company:Alibaba", "country:China"]);
        let us = cand(
            7,
            EventType::Approval,
            0,
            &[
                "chip:H200",
                "company:Nvidia",
                "country:United States",
                "country:China",
            ],
        );
        let a = Article {
            published: 51 * DAY,
            event: EventType::Approval,
            features: &f,
            follow_up: Reference::RefersBack,
        };
        assert_eq!(place(&a, &[us], &Params::default()), Placement::New);
    }

    #[test]
    fn of_two_stories_a_follow_up_joins_the_nearer() {
        // A reaction that shares an agency with an older story and only a
        // country with last week's: last week's wins.
        let f = feats(&["agency:MOFCOM", "country:United States"]);
        let mut old = cand(1, EventType::Restriction, 0, &["agency:MOFCOM", "chip:A100"]);
        old.last_seen = 2 * DAY;
        let recent = cand(
            2,
            EventType::Restriction,
            37 * DAY,
            &["country:United States", "chip:H100"],
        );
        let a = Article {
            published: 44 * DAY,
            event: EventType::Restriction,
            features: &f,
            follow_up: Reference::FollowUp,
        };
        assert!(matches!(
            place(&a, &[old, recent], &Params::default()),
            Placement::Join { story: 2, .. }
        ));
    }
}
