//! Telling a contact file's format from its content ([`detect_format`]), for
//! `fadca score` without `--format`.
use super::ContactFormat;
use super::pairs::{data_lines, tokens};
use super::rr::RR_KEYWORDS;

/// True when `token` is a non-negative integer (digits only).
fn is_uint(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|c| c.is_ascii_digit())
}

/// Guesses the format from content (first data lines):
/// - a first word that is an RR keyword (`PFRMAT`, `TARGET`, `MODEL`, …) or a
///   line of letters only → CASP RR;
/// - a header `i j score` (tabs or spaces) → fadca tsv;
/// - lines `int letter int letter number number` (optionally a header starting
///   `i A_i` / `i,A_i`) → plmc EC;
/// - every line with the same number n of numbers, n lines in all, and not
///   `int int number` with a first number ≥ 1 → CCMpred matrix
///   (its first entry is the zero diagonal);
/// - lines `int int number` or `int int d1 d2 p` → CASP RR contact lines /
///   header-less tsv (read the same way: `i j score`).
pub fn detect_format(text: &str) -> Option<ContactFormat> {
    let mut lines = data_lines(text);
    let (_, first) = lines.next()?;
    let tokens = tokens(first);
    let head = *tokens.first()?;
    if RR_KEYWORDS.contains(&head.to_ascii_uppercase().as_str()) {
        return Some(ContactFormat::CaspRr);
    }
    if tokens.len() == 1 && head.bytes().all(|c| c.is_ascii_alphabetic()) {
        return Some(ContactFormat::CaspRr);
    }
    if tokens.len() >= 3 && tokens[0] == "i" && tokens[1] == "j" {
        return Some(ContactFormat::Fadca);
    }
    if tokens.len() >= 2 && tokens[0] == "i" && tokens[1].eq_ignore_ascii_case("A_i") {
        return Some(ContactFormat::Plmc);
    }
    if tokens.len() >= 6
        && is_uint(tokens[0])
        && !is_uint(tokens[1])
        && is_uint(tokens[2])
        && !is_uint(tokens[3])
    {
        return Some(ContactFormat::Plmc);
    }
    let all_numbers = tokens.iter().all(|t| t.parse::<f64>().is_ok());
    if !all_numbers {
        return None;
    }
    let n = tokens.len();
    let looks_like_pair = n >= 3 && is_uint(tokens[0]) && is_uint(tokens[1]) && tokens[0] != "0";
    if n != 3 && n != 5 || !looks_like_pair {
        // A matrix: n lines of n numbers.
        let rows = 1 + lines.count();
        return (rows == n).then_some(ContactFormat::Ccmpred);
    }
    if n == 3 {
        Some(ContactFormat::Fadca)
    } else {
        Some(ContactFormat::CaspRr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect_format("i\tj\tscore\n1\t2\t0.5\n"),
            Some(ContactFormat::Fadca)
        );
        assert_eq!(detect_format("1 2 0.5\n"), Some(ContactFormat::Fadca));
        assert_eq!(
            detect_format("PFRMAT RR\n1 2 0 8 0.5\nEND\n"),
            Some(ContactFormat::CaspRr)
        );
        assert_eq!(
            detect_format("ACDE\n1 2 0 8 0.5\n"),
            Some(ContactFormat::CaspRr)
        );
        assert_eq!(detect_format("1 2 0 8 0.5\n"), Some(ContactFormat::CaspRr));
        assert_eq!(
            detect_format("1 M 5 K 0.1 0.2\n"),
            Some(ContactFormat::Plmc)
        );
        assert_eq!(
            detect_format("0\t1\t2\n1\t0\t3\n2\t3\t0\n"),
            Some(ContactFormat::Ccmpred)
        );
        assert_eq!(detect_format("0 1\n1 0\n"), Some(ContactFormat::Ccmpred));
        assert_eq!(detect_format("hello world\n"), None);
        assert_eq!(detect_format(""), None);
    }
}
