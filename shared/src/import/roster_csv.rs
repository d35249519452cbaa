//! A pre-registration roster from CSV: one person per row, with the columns 氏名, ふりがな,
//! 市町村 and 所属 (in any order, found by their header; a few common variants of each header are
//! accepted). All or nothing: any bad row makes the whole file refused, with every bad row's
//! line and what is wrong, in Japanese, so nothing is ever half-imported.
//!
//! ```
//! use nimo_shared::import::roster_csv::parse;
//!
//! let people = parse("氏名,ふりがな,市町村,所属\r\n宮城 花子,みやぎ はなこ,女川町,地域住民\r\n")
//!     .expect("a valid roster");
//! assert_eq!(people[0].kana, "みやぎ はなこ");
//! ```
//!
//! - A UTF-8 byte-order mark (Excel writes one) is skipped; CRLF and LF both end a row; fields
//!   may be quoted with `"` (a doubled `""` inside is one quote); blank lines are skipped.
//! - 市町村 is one of Miyagi's 35 (塩釜市 and ケ/ヶ variants accepted) or 県外; empty means not
//!   known. It is recorded as the residence.
//! - 所属 is one of the affiliation labels (地域住民, 教育, 企業, 医療, 福祉, 行政, 当事者, 家族,
//!   その他); empty means その他.

use std::fmt;

use crate::geo::Place;
use crate::records::training::{Affiliation, Person};

/// The most rows one file may hold: a session's roster, not a register of the prefecture.
pub const MAX_ROWS: usize = 2_000;

/// One problem in the file. `Display` is Japanese, for the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line of the file (1 is the header), `None` for the file as a whole.
    pub line: Option<usize>,
    /// What is wrong, in Japanese.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{line}行目: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a roster file was refused: every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("名簿を取り込めませんでした（{}件の問題）", .errors.len())]
pub struct RosterCsvError {
    /// Each problem.
    pub errors: Vec<RowError>,
}

impl RosterCsvError {
    fn file(message: impl Into<String>) -> RosterCsvError {
        RosterCsvError {
            errors: vec![RowError {
                line: None,
                message: message.into(),
            }],
        }
    }
}

const NAME: &[&str] = &["氏名", "名前", "お名前"];
const KANA: &[&str] = &["ふりがな", "フリガナ", "よみがな", "ヨミガナ", "かな"];
const PLACE: &[&str] = &["市町村", "お住まいの市町村", "住所（市町村）", "居住地"];
const AFFILIATION: &[&str] = &["所属", "区分", "所属区分"];

/// Parses a roster. Returns the people in file order, or every problem found.
pub fn parse(text: &str) -> Result<Vec<Person>, RosterCsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = records(text)?;
    let mut records = records
        .into_iter()
        .filter(|(_, fields)| fields.iter().any(|f| !f.trim().is_empty()));
    let Some((_, header)) = records.next() else {
        return Err(RosterCsvError::file("ファイルが空です。"));
    };
    let column = |names: &[&str]| header.iter().position(|h| names.contains(&h.trim()));
    let (Some(name), Some(kana)) = (column(NAME), column(KANA)) else {
        return Err(RosterCsvError::file(
            "1行目に見出し（氏名,ふりがな,市町村,所属）が必要です。",
        ));
    };
    let (place, affiliation) = (column(PLACE), column(AFFILIATION));
    let mut people = Vec::new();
    let mut errors = Vec::new();
    for (line, fields) in records {
        if people.len() + errors.len() >= MAX_ROWS {
            return Err(RosterCsvError::file(format!(
                "一度に取り込めるのは{MAX_ROWS}人までです。"
            )));
        }
        let field = |index: Option<usize>| {
            index
                .and_then(|i| fields.get(i))
                .map_or("", |f| f.trim())
                .to_owned()
        };
        match person(
            field(Some(name)),
            field(Some(kana)),
            &field(place),
            &field(affiliation),
        ) {
            Ok(person) => people.push(person),
            Err(message) => errors.push(RowError {
                line: Some(line),
                message,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(RosterCsvError { errors });
    }
    if people.is_empty() {
        return Err(RosterCsvError::file("取り込む人が1人もいません。"));
    }
    Ok(people)
}

fn person(name: String, kana: String, place: &str, affiliation: &str) -> Result<Person, String> {
    let residence = match place {
        "" => None,
        text => Some(text.parse::<Place>().map_err(|error| error.to_string())?),
    };
    let affiliation = match affiliation {
        "" => Affiliation::Other,
        text => Affiliation::from_label_ja(text).ok_or_else(|| {
            let labels: Vec<&str> = Affiliation::ALL.iter().map(|a| a.label_ja()).collect();
            format!(
                "所属「{text}」は選べません（{}のいずれか）",
                labels.join("・")
            )
        })?,
    };
    let person = Person {
        name,
        kana,
        affiliation,
        residence,
        workplace: None,
        birth_year: None,
    };
    person.validate().map_err(|error| error.to_string())?;
    Ok(person)
}

/// Splits CSV text into records with the line each starts on (RFC 4180 quoting).
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, RosterCsvError> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n' | '\r') => {
                fields.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(RosterCsvError {
            errors: vec![RowError {
                line: Some(start),
                message: "引用符（\"）が閉じられていません。".to_owned(),
            }],
        });
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start, fields));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn a_roster_with_a_bom_quotes_and_crlf_is_read_in_order() {
        let text = "\u{feff}氏名,ふりがな,市町村,所属\r\n\
                    宮城 花子,みやぎ はなこ,女川町,地域住民\r\n\
                    \"佐藤, 一郎\",サトウ イチロウ,塩釜市,\"企業\"\r\n\
                    \r\n\
                    \"鈴木 \"\"次郎\"\"\",すずき じろう,,\r\n";
        let people = parse(text).expect("valid");
        assert_eq!(people.len(), 3);
        assert_eq!(people[0].residence, Some("女川町".parse().expect("known")));
        assert_eq!(people[1].name, "佐藤, 一郎");
        assert_eq!(people[1].affiliation, Affiliation::Company);
        assert_eq!(people[1].residence, Some("塩竈市".parse().expect("known")));
        assert_eq!(people[2].name, "鈴木 \"次郎\"");
        assert_eq!(people[2].residence, None);
        assert_eq!(people[2].affiliation, Affiliation::Other);
    }

    #[test]
    fn columns_are_found_by_header_in_any_order() {
        let people = parse("所属,フリガナ,お名前\n福祉,やまだ たろう,山田 太郎\n").expect("valid");
        assert_eq!(people[0].name, "山田 太郎");
        assert_eq!(people[0].affiliation, Affiliation::Welfare);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line_and_nothing_is_returned() {
        let text = "氏名,ふりがな,市町村,所属\n\
                    宮城 花子,みやぎ はなこ,女川町,地域住民\n\
                    ,みやぎ たろう,女川町,地域住民\n\
                    宮城 次郎,Miyagi,女川町,地域住民\n\
                    宮城 三郎,みやぎ さぶろう,仙台県,地域住民\n\
                    宮城 四郎,みやぎ しろう,女川町,学生\n";
        let error = parse(text).expect_err("bad rows");
        let shown: Vec<String> = error.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "3行目: 氏名を入力してください",
                "4行目: ふりがな「Miyagi」はひらがなかカタカナで入力してください",
                "5行目: 「仙台県」は宮城県の市町村として登録されていません",
                "6行目: 所属「学生」は選べません（地域住民・教育・企業・医療・福祉・行政・当事者・家族・その他のいずれか）",
            ]
        );
    }

    #[test]
    fn a_quoted_line_break_keeps_the_line_numbers_of_later_rows_true() {
        let text = "氏名,ふりがな\n\"宮城\n花子\",みやぎ はなこ\n宮城 次郎,Miyagi\n";
        let error = parse(text).expect_err("bad row");
        assert_eq!(error.errors[0].line, Some(4));
    }

    #[rstest]
    #[case("", "ファイルが空です。")]
    #[case(
        "名前だけ\n宮城 花子\n",
        "1行目に見出し（氏名,ふりがな,市町村,所属）が必要です。"
    )]
    #[case("氏名,ふりがな\n", "取り込む人が1人もいません。")]
    #[case(
        "氏名,ふりがな\n\"宮城,みやぎ\n",
        "2行目: 引用符（\"）が閉じられていません。"
    )]
    fn a_file_that_is_not_a_roster_is_refused_in_japanese(#[case] text: &str, #[case] shown: &str) {
        let error = parse(text).expect_err("refused");
        assert_eq!(error.errors[0].to_string(), shown);
    }

    #[test]
    fn too_many_rows_are_refused() {
        let mut text = "氏名,ふりがな\n".to_owned();
        for _ in 0..=MAX_ROWS {
            text.push_str("宮城 花子,みやぎ はなこ\n");
        }
        assert!(parse(&text).is_err());
    }
}
