//! Text normalisation for matching: compatibility decomposition (NFKD),
//! lower case, Latin accents dropped, dashes and quotes unified. Text and
//! profile terms go through the same function, so they meet in one form.
//! Also finds sentence boundaries, which the rules use as windows.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Normalised text and where its sentences start (byte offsets, ascending,
/// the first always 0).
#[derive(Debug, Default, Clone)]
pub struct Normalised {
    pub text: String,
    pub sentence_starts: Vec<usize>,
}

impl Normalised {
    /// Index of the sentence holding byte `pos`.
    pub fn sentence_of(&self, pos: usize) -> usize {
        sentence_of(&self.sentence_starts, pos)
    }
}

/// Index of the sentence holding byte `pos`, given where they start.
pub fn sentence_of(starts: &[usize], pos: usize) -> usize {
    starts.partition_point(|&s| s <= pos).saturating_sub(1)
}

/// Is `c` a letter of a Latin script (where accents are folded and words
/// have boundaries)?
fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c as u32, 0x00C0..=0x024F | 0x1E00..=0x1EFF)
}

/// Characters of scripts written without spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // hiragana, katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified
        | 0xF900..=0xFAFF // compatibility ideographs
        | 0xAC00..=0xD7AF // hangul
        | 0xFF66..=0xFF9F // half-width katakana
        | 0x20000..=0x2FFFF)
}

/// A character that belongs to a word for boundary purposes: letters and
/// digits, except in scripts written without spaces.
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    // The script check first: it is cheaper than the Unicode tables.
    !is_cjk(c) && c.is_alphanumeric()
}

fn push_folded(out: &mut String, c: char, prev_base_latin: &mut bool) {
    // Most text is ASCII: letters and digits need no table lookups.
    if c.is_ascii_alphanumeric() {
        out.push(c.to_ascii_lowercase());
        *prev_base_latin = c.is_ascii_alphabetic();
        return;
    }
    match c {
        '\u{2010}'..='\u{2015}' | '\u{2212}' => {
            out.push('-');
            *prev_base_latin = false;
        }
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '`' => {
            out.push('\'');
            *prev_base_latin = false;
        }
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}' => {
            out.push('"');
            *prev_base_latin = false;
        }
        c if c.is_whitespace() => {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            *prev_base_latin = false;
        }
        c if is_combining_mark(c) => {
            // Accents on Latin letters go; marks on kana (dakuten) stay.
            if !*prev_base_latin {
                out.push(c);
            }
        }
        c if c.is_ascii() => {
            out.push(c.to_ascii_lowercase());
            *prev_base_latin = c.is_ascii_alphabetic();
        }
        c => {
            *prev_base_latin = is_latin_letter(c);
            out.extend(c.to_lowercase());
        }
    }
}

/// Does the character before byte `at` of `t` belong to a word? ASCII
/// neighbours, most of them, need no decoding.
#[inline]
pub(crate) fn word_char_before(t: &str, at: usize) -> bool {
    match t.as_bytes()[..at].last() {
        Some(b) if b.is_ascii() => b.is_ascii_alphanumeric(),
        _ => t[..at].chars().next_back().is_some_and(is_word_char),
    }
}

/// Does the character at byte `at` of `t` belong to a word?
#[inline]
pub(crate) fn word_char_at(t: &str, at: usize) -> bool {
    match t.as_bytes().get(at) {
        Some(b) if b.is_ascii() => b.is_ascii_alphanumeric(),
        _ => t[at..].chars().next().is_some_and(is_word_char),
    }
}

/// Where the word that holds byte `at` of `t` (or starts there) ends.
pub(crate) fn word_end(t: &str, at: usize) -> usize {
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
pub(crate) fn word_start(t: &str, at: usize) -> usize {
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

/// Normalise one string (a profile term).
pub fn normalise_term(s: &str) -> String {
    normalise(s).text.trim().to_owned()
}

/// What [`normalise`] makes of each ASCII byte: lower case, any white
/// space a space, the back quote an apostrophe.
const ASCII_MAP: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match b as u8 {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C => b' ',
            b'`' => b'\'',
            c => c.to_ascii_lowercase(),
        };
        b += 1;
    }
    t
};

/// Normalise the run of ASCII bytes that starts at byte `from` of `s` onto
/// `out`, whose text began at byte `base`, and return where the run ends.
///
/// One pass, sixteen bytes at a time (each test one vector compare and a
/// bit mask of the bytes it holds for), finds the run's end, the bytes
/// that need the byte loop (control bytes, back quotes, a space after a
/// space) and the sentence stops; the run is then copied and lower-cased
/// in bulk.
fn push_ascii_run(s: &str, from: usize, out: &mut String, base: usize, starts: &mut Vec<usize>) -> usize {
    use wide::u8x16;
    const ALL: u32 = 0xFFFF;
    let bytes = s.as_bytes();
    let o = out.len();
    let first = starts.len();
    // A space that begins the run after a space already written.
    let mut odd = bytes.get(from) == Some(&b' ') && out.ends_with(' ');
    // Was the last byte of the previous block a space?
    let mut space_before = 0;
    let mut i = from;
    let end = loop {
        let (block, mut keep) = match bytes.get(i..i + 16) {
            Some(block) => (block.try_into().expect("sixteen bytes"), ALL),
            None => {
                // The last bytes, padded with a letter (which flags nothing).
                let n = bytes.len() - i;
                let mut padded = [b'a'; 16];
                padded[..n].copy_from_slice(&bytes[i..]);
                (padded, (1 << n) - 1)
            }
        };
        let v = u8x16::new(block);
        let is = |c: u8| v.simd_eq(u8x16::splat(c));
        // Bytes from the first non-ASCII one on are not this run's.
        let high = v.to_bitmask() & keep;
        if high != 0 {
            keep &= (high & high.wrapping_neg()) - 1;
        }
        let spaces = is(b' ').to_bitmask();
        let control = v.simd_eq(v.min(u8x16::splat(0x1F)));
        let flagged = (control | is(b'`')).to_bitmask();
        odd |= (flagged | (spaces & ((spaces << 1) | space_before))) & keep != 0;
        space_before = spaces >> 15;
        let mut stops = (is(b'.') | is(b'!') | is(b'?') | is(b';')).to_bitmask() & keep;
        while stops != 0 {
            let k = i + stops.trailing_zeros() as usize;
            if is_sentence_end(s, k, char::from(bytes[k])) {
                starts.push(o - base + (k - from) + 1);
            }
            stops &= stops - 1;
        }
        if keep != ALL {
            break i + (keep.count_ones() as usize);
        }
        i += 16;
        if i >= bytes.len() {
            break bytes.len();
        }
    };
    if odd {
        starts.truncate(first);
        push_ascii_bytewise(s, (from, end), out, base, starts);
    } else {
        out.push_str(&s[from..end]);
        out[o..].make_ascii_lowercase();
    }
    end
}

/// [`push_ascii_run`] one byte at a time: spaces collapse, the back quote
/// becomes an apostrophe.
fn push_ascii_bytewise(
    s: &str,
    (from, to): (usize, usize),
    out: &mut String,
    base: usize,
    starts: &mut Vec<usize>,
) {
    let bytes = &s.as_bytes()[from..to];
    let mut after_space = out.ends_with(' ');
    for (k, &b) in bytes.iter().enumerate() {
        let m = ASCII_MAP[usize::from(b & 0x7F)];
        let space = m == b' ';
        if !(space & after_space) {
            out.push(char::from(m));
        }
        after_space = space;
        if matches!(b, b'.' | b'!' | b'?' | b';') && is_sentence_end(s, from + k, char::from(b)) {
            starts.push(out.len() - base);
        }
    }
}

/// Ideographs that compatibility decomposition, case folding and the
/// punctuation rules all leave alone: CJK text takes no table lookups.
#[inline]
fn is_plain_ideograph(c: u32) -> bool {
    (0x4E00..=0x9FFF).contains(&c) || (0x3400..=0x4DBF).contains(&c)
}

/// What [`push_folded`] makes of one character whose folding does not
/// depend on what came before it, worked out once.
struct Folded {
    /// The characters it becomes (the first `len`), pushed one by one
    /// rather than copied as a string (a copy of a few bytes is a call).
    chars: [char; 3],
    len: u8,
    /// Its last base letter is Latin (a following accent goes).
    latin: bool,
}

/// The blocks [`table_folded`] knows: Latin-1 and Latin Extended-A (the
/// accented letters of the European languages), general punctuation
/// (typographic dashes, quotes, ellipsis), CJK punctuation with hiragana
/// and katakana, and full- and half-width forms.
const TABLED: [std::ops::RangeInclusive<u32>; 4] =
    [0xA0..=0x17F, 0x2000..=0x206F, 0x3000..=0x30FF, 0xFF00..=0xFFEF];

/// What the decomposition tables and [`push_folded`] make of `c` if that is
/// the same whatever came before it (after a space or not, after a Latin
/// letter or not), `c` ends no sentence and it is at most three characters;
/// `None` otherwise (white space, combining marks such as the kana voicing
/// marks, full stops).
fn fold_alone(c: char) -> Option<Folded> {
    if is_sentence_end("", 0, c) {
        return None;
    }
    let mut seen = None;
    for (before, latin) in [("", false), ("", true), (" ", false), (" ", true)] {
        let mut text = before.to_owned();
        let mut latin = latin;
        decompose_compatible(c, |d| push_folded(&mut text, d, &mut latin));
        let outcome = (text[before.len()..].to_owned(), latin);
        if seen.as_ref().is_some_and(|s| *s != outcome) {
            return None;
        }
        seen = Some(outcome);
    }
    let (text, latin) = seen?;
    let mut chars = ['\0'; 3];
    let mut len = 0;
    for c in text.chars() {
        *chars.get_mut(len)? = c;
        len += 1;
    }
    Some(Folded {
        chars,
        // At most three.
        len: len as u8,
        latin,
    })
}

/// The folding of `c` if [`TABLED`] holds it and [`fold_alone`] gives
/// one: a table lookup instead of the decomposition tables per character.
fn table_folded(c: char) -> Option<&'static Folded> {
    static TABLES: std::sync::OnceLock<[Vec<Option<Folded>>; 4]> = std::sync::OnceLock::new();
    let c = c as u32;
    let k = TABLED.iter().position(|r| r.contains(&c))?;
    let tables = TABLES.get_or_init(|| {
        TABLED
            .clone()
            .map(|range| range.map(|c| char::from_u32(c).and_then(fold_alone)).collect())
    });
    tables[k][(c - TABLED[k].start()) as usize].as_ref()
}

/// Normalise text and mark its sentence starts.
pub fn normalise(s: &str) -> Normalised {
    let mut text = String::new();
    let mut sentence_starts = Vec::new();
    normalise_into(s, &mut text, &mut sentence_starts);
    Normalised {
        text,
        sentence_starts,
    }
}

/// Normalise text onto the end of `out`, and append its sentence starts
/// (byte offsets from where it begins in `out`) to `starts`: one buffer for
/// many texts, one for all their starts. `out` must not end with a space,
/// which would swallow a space that begins the text (a batch puts a NUL
/// between its texts).
pub fn normalise_into(s: &str, out: &mut String, starts: &mut Vec<usize>) {
    debug_assert!(!out.ends_with(' '), "a space before the text would change it");
    let base = out.len();
    out.reserve(s.len() + s.len() / 8);
    let first = starts.len();
    starts.push(0);
    let mut prev_base_latin = false;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // The ASCII up to the next other character, in one go.
        if bytes[i].is_ascii() {
            let run = push_ascii_run(s, i, out, base, starts);
            prev_base_latin = bytes[run - 1].is_ascii_alphabetic();
            i = run;
            if i == bytes.len() {
                break;
            }
        }
        let c = s[i..].chars().next().expect("i is always at a char boundary");
        let len = c.len_utf8();
        if is_plain_ideograph(c as u32) {
            // The whole run of them at once (Chinese text is mostly one).
            let run = s[i..]
                .char_indices()
                .find(|&(_, c)| !is_plain_ideograph(c as u32))
                .map_or(s.len(), |(k, _)| i + k);
            out.push_str(&s[i..run]);
            prev_base_latin = false;
            i = run;
            continue;
        } else if let Some(f) = table_folded(c) {
            f.chars[..usize::from(f.len)].iter().for_each(|&c| out.push(c));
            prev_base_latin = f.latin;
        } else {
            decompose_compatible(c, |d| push_folded(out, d, &mut prev_base_latin));
            if is_sentence_end(s, i, c) {
                starts.push(out.len() - base);
            }
        }
        i += len;
    }
    // This text's starts are ascending: keep one of each.
    let mut kept = first + 1;
    for k in first + 1..starts.len() {
        if starts[k] != starts[kept - 1] {
            starts[kept] = starts[k];
            kept += 1;
        }
    }
    starts.truncate(kept);
    if kept - first > 1 && starts.last() == Some(&(out.len() - base)) {
        starts.pop();
    }
}

/// Does the character `c` at byte `i` of `s` end a sentence?
fn is_sentence_end(s: &str, i: usize, c: char) -> bool {
    match c {
        '。' | '！' | '？' | '!' | '?' | ';' | '；' => true,
        '.' => {
            // ". " followed by a capital or a digit ends a sentence, unless the
            // dot closes an initial or abbreviation ("U.S. Commerce").
            let mut ahead = s[i + 1..].chars();
            if !ahead.next().is_some_and(char::is_whitespace) {
                return false;
            }
            if !ahead
                .next()
                .is_some_and(|a| a.is_uppercase() || a.is_ascii_digit() || is_cjk(a) || a == '"')
            {
                return false;
            }
            let mut back = s[..i].chars().rev();
            let p1 = back.next();
            let p2 = back.next();
            let single_letter =
                p1.is_some_and(char::is_alphabetic) && p2.is_none_or(|p| !p.is_alphanumeric());
            !single_letter
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts normalised one after another into one buffer of text and one
    /// of starts each get exactly the text and starts they get alone, even
    /// where one text's last start equals the next one's first (an empty
    /// text, a text that is one sentence).
    #[test]
    fn starts_of_many_texts_share_a_buffer() {
        let texts = [
            "",
            "One.",
            "Two. Three! Four?",
            "",
            "",
            "中国。芯片。",
            "A. B",
            "x",
            "Export curbs; new rules. ",
            " a leading space. After a NUL",
        ];
        let mut starts = vec![7, 7];
        let mut ends = vec![starts.len()];
        let mut out = String::from("before");
        for t in texts {
            out.push('\0');
            let from = out.len();
            normalise_into(t, &mut out, &mut starts);
            assert_eq!(out[from..], normalise(t).text, "{t:?}");
            ends.push(starts.len());
        }
        assert_eq!(&starts[..2], &[7, 7], "what was in the buffer stays");
        for (k, t) in texts.iter().enumerate() {
            assert_eq!(
                &starts[ends[k]..ends[k + 1]],
                normalise(t).sentence_starts,
                "{t:?}"
            );
        }
        assert!(
            ends.windows(2).any(|w| w[1] - w[0] > 1),
            "some text has several sentences"
        );
    }

    #[test]
    fn folds_case_accents_width_and_punctuation() {
        assert_eq!(normalise_term("Pékin Exportkontrolle"), "pekin exportkontrolle");
        assert_eq!(normalise_term("ＮＶＩＤＩＡ　Ｈ２０"), "nvidia h20");
        assert_eq!(normalise_term("China’s “ban” – now"), "china's \"ban\" - now");
        // Kana keep their voicing marks (in decomposed form on both sides).
        assert_eq!(normalise_term("エヌビディア"), normalise_term("ｴﾇﾋﾞﾃﾞｨｱ"));
        assert_ne!(normalise_term("ガ"), normalise_term("カ"));
    }

    #[test]
    fn sentences() {
        let n = normalise("U.S. Commerce acts. China replies! 中国回应。美国");
        let words: Vec<&str> = n
            .sentence_starts
            .iter()
            .map(|&s| n.text[s..].trim_start().split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(words, vec!["u.s.", "china", "中国回应。美国", "美国"]);
        assert_eq!(n.sentence_starts.len(), 4);
        assert_eq!(n.sentence_of(0), 0);
    }

    #[test]
    fn plain_ideographs_need_no_tables() {
        // The shortcut in `normalise` must give what the general path gives.
        for c in (0x3400..=0x4DBF)
            .chain(0x4E00..=0x9FFF)
            .filter_map(char::from_u32)
        {
            let mut general = String::new();
            let mut prev = false;
            decompose_compatible(c, |d| push_folded(&mut general, d, &mut prev));
            assert_eq!(general, c.to_string(), "{c:?}");
            assert!(!is_sentence_end("x", 0, c));
        }
    }

    #[test]
    fn tabled_characters_fold_as_the_decomposition_tables_say() {
        let mut tabled = 0;
        for c in TABLED.into_iter().flatten().filter_map(char::from_u32) {
            let Some(fast) = table_folded(c) else {
                continue;
            };
            tabled += 1;
            for (before, latin) in [("", false), ("", true), ("x ", false), ("x ", true)] {
                let mut general = before.to_owned();
                let mut prev = latin;
                decompose_compatible(c, |d| push_folded(&mut general, d, &mut prev));
                let text: String = fast.chars[..usize::from(fast.len)].iter().collect();
                assert_eq!(
                    (text.as_str(), fast.latin),
                    (&general[before.len()..], prev),
                    "{c:?}"
                );
            }
            assert!(!is_sentence_end("x", 0, c) && !c.is_whitespace(), "{c:?}");
        }
        assert!(tabled > 700, "{tabled}");
        // Accented Latin letters, dashes and quotes, kana: all in the table
        // (not U+2017, a space and a combining mark).
        for c in [
            0xC0..=0x17F,
            0x2010..=0x2016,
            0x2018..=0x201F,
            0x3041..=0x3096,
            0x30A1..=0x30FA,
        ]
        .into_iter()
        .flatten()
        .filter_map(char::from_u32)
        {
            assert!(table_folded(c).is_some(), "{c:?}");
        }
        // Outside the table, or depending on what came before.
        for c in [
            'a', '\u{180}', '\u{3099}', '\u{309B}', '\u{FF9E}', '\u{3000}', '。', '！', '\u{A0}',
        ] {
            assert!(table_folded(c).is_none(), "{c:?}");
        }
        assert_eq!(
            normalise("Ärger in Łódź, „Pékin“ – Kraków’s").text,
            "arger in łodz, \"pekin\" - krakow's"
        );
        assert_eq!(
            normalise("ｴﾇﾋﾞﾃﾞｨｱ、「ＨＢＭ」…").text,
            normalise("エヌビディア、「HBM」...").text
        );
    }

    #[test]
    fn ascii_runs_match_the_character_path() {
        for s in [
            "The U.S. Commerce Dept. said: `H20` exports\tare BANNED!  Really? yes; no.",
            // A run that starts with a space after a space of another script.
            "中国\u{3000} export ban \u{A0} now",
            " leading and trailing ",
        ] {
            let mut general = String::new();
            let mut prev = false;
            for c in s.chars() {
                push_folded(&mut general, c, &mut prev);
            }
            assert_eq!(normalise(s).text, general, "{s:?}");
        }
        // A double space, a stop and a non-ASCII character at every
        // position of a sixteen-byte block, and across two.
        for k in 0..33 {
            for tail in ["  y. Z", "é  y! z", ". Z  ’"] {
                let s = "x".repeat(k) + tail;
                let (got, want) = (normalise(&s), by_characters(&s));
                assert_eq!(got.text, want.text, "{s:?}");
                assert_eq!(got.sentence_starts, want.sentence_starts, "{s:?}");
            }
        }
    }

    /// The reference for [`normalise`]: every character through the
    /// general path, a sentence start after each sentence end.
    fn by_characters(s: &str) -> Normalised {
        let mut text = String::new();
        let mut starts = vec![0];
        let mut prev = false;
        for (i, c) in s.char_indices() {
            decompose_compatible(c, |d| push_folded(&mut text, d, &mut prev));
            if is_sentence_end(s, i, c) && starts.last() != Some(&text.len()) {
                starts.push(text.len());
            }
        }
        if starts.len() > 1 && starts.last() == Some(&text.len()) {
            starts.pop();
        }
        Normalised {
            text,
            sentence_starts: starts,
        }
    }

    proptest::proptest! {
        /// ASCII runs, sixteen bytes at a time, give what the general path
        /// gives, sentence starts included: runs of every length, cut by
        /// other characters anywhere, with the bytes that need the byte
        /// loop (controls, back quotes, double spaces) and stops.
        #[test]
        fn ascii_runs_match_the_general_path(
            pieces in proptest::collection::vec(
                // Bytes that send a run to the byte loop are rarer, or
                // few runs would take the sixteen-byte path.
                proptest::prop_oneof![
                    12 => proptest::sample::select(vec![
                        "a", "B", "7", " ", "  ", ".", ". A", ". 9", "U.S. ", "!", "?", ";",
                        "-", "xxxxxxx",
                    ]),
                    2 => proptest::sample::select(vec!["é", "’", "中", "。", "\u{A0}"]),
                    1 => proptest::sample::select(vec!["`", "\t", "\n", "\u{1}"]),
                ],
                0..40,
            ),
        ) {
            let s: String = pieces.concat();
            let got = normalise(&s);
            let want = by_characters(&s);
            proptest::prop_assert_eq!(&got.text, &want.text, "{:?}", s);
            proptest::prop_assert_eq!(&got.sentence_starts, &want.sentence_starts, "{:?}", s);
        }
    }

    #[test]
    fn word_chars() {
        assert!(is_word_char('a') && is_word_char('é') && is_word_char('7'));
        assert!(!is_word_char('中') && !is_word_char('-') && !is_word_char('カ'));
    }
}
