//! Leaf vocabulary, like `mode` and `note`: text that came from outside (a result file, a server's answer)
//! made safe to show. A result file is anyone's JSON: its target, command, version and notes could carry
//! ANSI escape sequences that recolour or rewrite a terminal, line breaks that forge lines of a report, or
//! Unicode bidirectional overrides that show text in another order than it is (the "Trojan Source" attack,
//! CVE-2021-42574). Every writer for people passes such strings through [`printable`].

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1), line or paragraph separator and bidirectional
/// formatting character written as a visible `\u{…}` escape; other text, any script, unchanged.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            shown.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Characters that act on the terminal or on the order and lines of the text instead of showing.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Arabic letter mark, left-to-right and right-to-left marks
            '\u{061c}' | '\u{200e}' | '\u{200f}'
            // line and paragraph separators
            | '\u{2028}' | '\u{2029}'
            // embeddings and overrides (LRE, RLE, PDF, LRO, RLO), isolates (LRI, RLI, FSI, PDI)
            | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_show_as_escapes_and_other_text_is_untouched() {
        // each case: the text, as shown
        for (text, shown) in [
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/"),
            ("größe 日本 ✓", "größe 日本 ✓"),
            ("\x1b[31mred\x1b[0m", "\\u{1b}[31mred\\u{1b}[0m"),
            ("a\nb\rc\td", "a\\u{a}b\\u{d}c\\u{9}d"),
            ("\u{9b}2J", "\\u{9b}2J"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            ("x\u{2066}y\u{2069}", "x\\u{2066}y\\u{2069}"),
        ] {
            assert_eq!(printable(text), shown, "{text:?}");
        }
        assert!(matches!(printable("plain"), Cow::Borrowed(_)), "nothing copied when nothing is hidden");
    }
}
