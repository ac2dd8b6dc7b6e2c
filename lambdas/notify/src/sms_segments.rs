//! How many SMS segments a text costs.
//!
//! A single SMS carries 140 bytes: 160 characters of the GSM 03.38 7-bit
//! alphabet, or 70 UTF-16 code units (UCS-2) once any character is outside
//! it. Longer texts are split into concatenated parts whose user-data
//! header takes 6 bytes, leaving 153 GSM characters or 67 UCS-2 units per
//! segment. Characters of the GSM extension table (`€`, `[`, `{`, ...) take
//! two septets (an escape and the character), and neither an escape pair
//! nor a UTF-16 surrogate pair is split across two segments, so a segment
//! may hold one unit less than the maximum. Each segment is billed as one
//! message, which is why the number is checked before a message is queued.

use serde::Serialize;

/// The GSM 03.38 basic character set (one septet each), in table order.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table (an escape septet plus one, so two each).
const GSM7_EXTENSION: &str = "\u{0c}^{}\\[~]|€";

/// The alphabet a text is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet with its extension table.
    Gsm7,
    /// UTF-16 (UCS-2 on older handsets).
    Ucs2,
}

/// The size of an SMS text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmsSize {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

/// Units of one character in GSM-7, or `None` if it is not in the alphabet.
fn gsm7_units(c: char) -> Option<usize> {
    // The escape itself is not sendable as text.
    if c == '\u{1b}' {
        None
    } else if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Packs characters of the given widths into segments of `single` units
/// when everything fits in one, else of `multi` units, never splitting a
/// character.
fn pack(
    widths: impl Iterator<Item = usize> + Clone,
    single: usize,
    multi: usize,
) -> (usize, usize) {
    let units: usize = widths.clone().sum();
    if units <= single {
        return (units, 1);
    }
    let mut segments = 1;
    let mut used = 0;
    for width in widths {
        if used + width > multi {
            segments += 1;
            used = 0;
        }
        used += width;
    }
    (units, segments)
}

/// The encoding, length and segment count of `text`. An empty text is one
/// (empty) segment.
pub fn measure(text: &str) -> SmsSize {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_units).collect();
    match gsm {
        Some(widths) => {
            let (units, segments) = pack(widths.into_iter(), 160, 153);
            SmsSize {
                encoding: Encoding::Gsm7,
                units,
                segments,
            }
        }
        None => {
            let (units, segments) = pack(text.chars().map(char::len_utf16), 70, 67);
            SmsSize {
                encoding: Encoding::Ucs2,
                units,
                segments,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(text: &str) -> (Encoding, usize, usize) {
        let s = measure(text);
        (s.encoding, s.units, s.segments)
    }

    #[test]
    fn the_tables_have_their_standard_sizes() {
        assert_eq!(GSM7_BASIC.chars().count(), 128);
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn plain_gsm_text() {
        assert_eq!(size("Your code is 123456"), (Encoding::Gsm7, 19, 1));
        assert_eq!(size(""), (Encoding::Gsm7, 0, 1));
        // Accented letters that GSM-7 has stay in GSM-7.
        assert_eq!(size("Ça va? Déjà vu à Zürich: 5£"), (Encoding::Gsm7, 27, 1));
        assert_eq!(size("Line one\nline two"), (Encoding::Gsm7, 17, 1));
    }

    #[test]
    fn gsm_segment_boundaries() {
        assert_eq!(size(&"a".repeat(160)), (Encoding::Gsm7, 160, 1));
        assert_eq!(size(&"a".repeat(161)), (Encoding::Gsm7, 161, 2));
        assert_eq!(size(&"a".repeat(306)), (Encoding::Gsm7, 306, 2));
        assert_eq!(size(&"a".repeat(307)), (Encoding::Gsm7, 307, 3));
        assert_eq!(size(&"a".repeat(459)), (Encoding::Gsm7, 459, 3));
    }

    #[test]
    fn extension_characters_take_two_septets() {
        assert_eq!(size("Total: 5€"), (Encoding::Gsm7, 10, 1));
        assert_eq!(size("{[~^|\\]}"), (Encoding::Gsm7, 16, 1));
        // 80 euro signs are 160 septets: still one segment.
        assert_eq!(size(&"€".repeat(80)), (Encoding::Gsm7, 160, 1));
        assert_eq!(size(&"€".repeat(81)), (Encoding::Gsm7, 162, 2));
    }

    #[test]
    fn an_escape_pair_is_not_split_across_segments() {
        // 152 septets, then a 2-septet character that does not fit in the
        // first 153: it starts segment 2, which then holds 2 + 152 = 154 > 153,
        // so the last character spills into a third.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(size(&text), (Encoding::Gsm7, 306, 3));
        // Without the straddle the same 306 septets fit in two.
        let text = format!("{}€{}", "a".repeat(151), "a".repeat(153));
        assert_eq!(size(&text), (Encoding::Gsm7, 306, 2));
    }

    #[test]
    fn any_other_character_switches_to_ucs2() {
        assert_eq!(size("Olá, João"), (Encoding::Ucs2, 9, 1)); // á, ã are not GSM-7
        assert_eq!(size("Привет"), (Encoding::Ucs2, 6, 1));
        assert_eq!(size(&"a".repeat(70)), (Encoding::Gsm7, 70, 1));
        let mut text = "a".repeat(69);
        text.push('ç'); // lower-case ç is not in GSM-7 (only Ç is)
        assert_eq!(size(&text), (Encoding::Ucs2, 70, 1));
        text.push('a');
        assert_eq!(size(&text), (Encoding::Ucs2, 71, 2));
        assert_eq!(size(&"ж".repeat(134)), (Encoding::Ucs2, 134, 2));
        assert_eq!(size(&"ж".repeat(135)), (Encoding::Ucs2, 135, 3));
    }

    #[test]
    fn ucs2_counts_utf16_code_units_and_keeps_surrogate_pairs_whole() {
        // An emoji outside the BMP is a surrogate pair: 2 units.
        assert_eq!(size("Hi 👋"), (Encoding::Ucs2, 5, 1));
        assert_eq!(size(&"👋".repeat(35)), (Encoding::Ucs2, 70, 1));
        assert_eq!(size(&"👋".repeat(36)), (Encoding::Ucs2, 72, 2));
        // 66 units then a pair: the pair goes whole to segment 2, which
        // then overflows into a third.
        let text = format!("{}👋{}", "ж".repeat(66), "ж".repeat(66));
        assert_eq!(size(&text), (Encoding::Ucs2, 134, 3));
        let text = format!("{}👋{}", "ж".repeat(65), "ж".repeat(67));
        assert_eq!(size(&text), (Encoding::Ucs2, 134, 2));
    }

    #[test]
    fn the_escape_character_itself_is_not_gsm_text() {
        assert_eq!(measure("a\u{1b}b").encoding, Encoding::Ucs2);
    }
}
