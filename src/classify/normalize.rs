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
        self.sentence_starts
            .partition_point(|&s| s <= pos)
            .saturating_sub(1)
    }
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
    c.is_alphanumeric() && !is_cjk(c)
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

/// Normalise one string (a profile term).
pub fn normalise_term(s: &str) -> String {
    normalise(s).text.trim().to_owned()
}

/// Normalise text and mark its sentence starts.
pub fn normalise(s: &str) -> Normalised {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let mut starts = vec![0];
    let mut prev_base_latin = false;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            // ASCII: no tables, no decomposition.
            match b {
                b'A'..=b'Z' => {
                    out.push(char::from(b + 32));
                    prev_base_latin = true;
                }
                b'a'..=b'z' => {
                    out.push(char::from(b));
                    prev_base_latin = true;
                }
                b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C => {
                    if !out.ends_with(' ') {
                        out.push(' ');
                    }
                    prev_base_latin = false;
                }
                b'`' => {
                    out.push('\'');
                    prev_base_latin = false;
                }
                _ => {
                    out.push(char::from(b));
                    prev_base_latin = false;
                }
            }
            if matches!(b, b'.' | b'!' | b'?' | b';') && is_sentence_end(s, i, char::from(b)) {
                starts.push(out.len());
            }
            i += 1;
        } else {
            let c = s[i..].chars().next().expect("i is always at a char boundary");
            decompose_compatible(c, |d| push_folded(&mut out, d, &mut prev_base_latin));
            if is_sentence_end(s, i, c) {
                starts.push(out.len());
            }
            i += c.len_utf8();
        }
    }
    starts.dedup();
    if starts.len() > 1 && starts.last() == Some(&out.len()) {
        starts.pop();
    }
    Normalised {
        text: out,
        sentence_starts: starts,
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
    fn word_chars() {
        assert!(is_word_char('a') && is_word_char('é') && is_word_char('7'));
        assert!(!is_word_char('中') && !is_word_char('-') && !is_word_char('カ'));
    }
}
