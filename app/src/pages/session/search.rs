//! Finding a person on the roster as the trainer types (pure functions, tested natively).
//!
//! Names and readings are compared through a search key that ignores what people type
//! inconsistently: katakana and hiragana (ミヤギ = みやぎ), half-width and full-width forms
//! (ﾐﾔｷﾞ, Ｍｉｙａｇｉ), letter case, and spaces between family and given names.

/// Half-width katakana U+FF66..=U+FF9D in order, as full-width katakana.
const HALF_WIDTH_KATAKANA: &str = "ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";
/// Half-width voiced and semi-voiced sound marks.
const HALF_VOICED: char = '\u{FF9E}';
const HALF_SEMI_VOICED: char = '\u{FF9F}';

/// Replaces half-width katakana (with their separate sound marks) and the half-width
/// punctuation around them by their full-width forms. Readings are stored this way: the
/// record accepts hiragana and full-width katakana only.
pub fn full_width_kana(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            HALF_VOICED | HALF_SEMI_VOICED => {
                let combined = out.pop().and_then(|base| {
                    combine_sound_mark(base, c == HALF_SEMI_VOICED).or_else(|| {
                        out.push(base);
                        None
                    })
                });
                match combined {
                    Some(voiced) => out.push(voiced),
                    // A stray mark: keep it visible as the full-width mark.
                    None => out.push(if c == HALF_VOICED { '゛' } else { '゜' }),
                }
            }
            '\u{FF61}' => out.push('。'),
            '\u{FF62}' => out.push('「'),
            '\u{FF63}' => out.push('」'),
            '\u{FF64}' => out.push('、'),
            '\u{FF65}' => out.push('・'),
            '\u{FF66}'..='\u{FF9D}' => {
                let index = c as usize - 0xFF66;
                out.extend(HALF_WIDTH_KATAKANA.chars().nth(index));
            }
            _ => out.push(c),
        }
    }
    out
}

/// ガ from カ (voiced) or パ from ハ (semi-voiced); `None` when the kana takes no such mark.
fn combine_sound_mark(base: char, semi_voiced: bool) -> Option<char> {
    let code = base as u32;
    let is_ha_row = (0x30CF..=0x30DB).contains(&code) && (code - 0x30CF).is_multiple_of(3);
    let combined = match (base, semi_voiced) {
        ('ウ', false) => 0x30F4,
        (_, true) if is_ha_row => code + 2,
        (_, false) if is_ha_row => code + 1,
        // カ..チ: every other code point is the unvoiced kana, the next one its voiced form.
        (_, false) if (0x30AB..=0x30C1).contains(&code) && (code - 0x30AB).is_multiple_of(2) => {
            code + 1
        }
        // ツ, テ, ト (after the small ッ the parity shifts).
        ('ツ' | 'テ' | 'ト', false) => code + 1,
        _ => return None,
    };
    char::from_u32(combined)
}

/// The key a name or reading is compared by: full-width kana, katakana as hiragana,
/// full-width letters and digits as ASCII, lower case, without spaces or middle dots.
pub fn search_key(text: &str) -> String {
    full_width_kana(text)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '・')
        .map(|c| match c {
            // Katakana ァ..ヶ → hiragana ぁ..ゖ.
            'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            // Full-width ASCII ！..～ → ASCII.
            '！'..='～' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// A typed query, ready to test roster entries against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(String);

impl Query {
    /// The query for what was typed.
    pub fn new(typed: &str) -> Query {
        Query(search_key(typed))
    }

    /// Whether nothing was typed (everyone matches).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a person with this name and reading matches: the query is part of either.
    pub fn matches(&self, name: &str, kana: &str) -> bool {
        self.is_empty() || search_key(name).contains(&self.0) || search_key(kana).contains(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn katakana_hiragana_and_widths_share_one_key() {
        for typed in ["みやぎ", "ミヤギ", "ﾐﾔｷﾞ", "ミ ヤ ギ"] {
            assert_eq!(search_key(typed), "みやぎ", "{typed}");
        }
        assert_eq!(search_key("Ｍｉｙａｇｉ　Hanako"), "miyagihanako");
        assert_eq!(search_key("ｳﾞｧｲｵﾘﾝ"), "ゔぁいおりん");
        assert_eq!(search_key("ﾊﾟﾝ･ﾀﾞ"), "ぱんだ");
    }

    #[test]
    fn half_width_readings_become_full_width_katakana() {
        assert_eq!(full_width_kana("ｻﾄｳ ﾀﾛｳ"), "サトウ タロウ");
        assert_eq!(full_width_kana("ﾂﾞﾃﾞﾄﾞﾎﾟﾎﾞ"), "ヅデドポボ");
        assert_eq!(full_width_kana("ｶﾞｷﾞｸﾞｹﾞｺﾞｻﾞｼﾞｽﾞｾﾞｿﾞﾀﾞﾁﾞ"), "ガギグゲゴザジズゼゾダヂ");
        // A mark after a kana that takes none stays a separate, visible mark.
        assert_eq!(full_width_kana("ｱﾞ"), "ア゛");
        assert_eq!(full_width_kana("みやぎ"), "みやぎ");
    }

    #[test]
    fn a_query_matches_part_of_the_name_or_the_reading() {
        let name = "宮城 花子";
        let kana = "みやぎ はなこ";
        for typed in [
            "",
            "ミヤギ",
            "はなこ",
            "ｷﾞﾊﾅ",
            "宮城",
            "城 花",
            "みやぎはなこ",
        ] {
            assert!(Query::new(typed).matches(name, kana), "{typed}");
        }
        for typed in ["さとう", "仙台", "はなこさ"] {
            assert!(!Query::new(typed).matches(name, kana), "{typed}");
        }
    }
}
