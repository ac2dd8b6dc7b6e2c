//! Short codes: 7 Base62 characters drawn uniformly at random.
//!
//! There are 62^7 = 3,521,614,606,208 codes, about 2^41.68: a code carries
//! 41.68 bits of entropy, not a full 42. The id is drawn uniformly below
//! 62^7 (no modulo bias) and written with a fixed width, so every code is
//! equally likely. At a million stored links the chance that a fresh code
//! collides is about 1 in 3.5 million; the conditional put detects it and the
//! caller draws again.

use rand::Rng;

/// Digits, then lower case, then upper case; the order only fixes how an id
/// maps to a code.
pub const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Length of a generated code.
pub const CODE_LEN: usize = 7;

/// Number of distinct codes: 62^7.
pub const CODE_SPACE: u64 = 62u64.pow(CODE_LEN as u32);

/// `id` (below [`CODE_SPACE`]) as exactly [`CODE_LEN`] Base62 digits, most
/// significant first, zero-padded.
///
/// # Panics
/// If `id >= CODE_SPACE`: it would not fit and two ids would share a code.
pub fn encode_fixed(mut id: u64) -> String {
    assert!(
        id < CODE_SPACE,
        "id {id} does not fit in {CODE_LEN} Base62 digits"
    );
    let mut digits = [b'0'; CODE_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(id % 62) as usize];
        id /= 62;
    }
    digits.iter().map(|&b| b as char).collect()
}

/// The id a code stands for, or `None` if it is not [`CODE_LEN`] Base62 digits.
pub fn decode_fixed(code: &str) -> Option<u64> {
    if code.len() != CODE_LEN {
        return None;
    }
    code.bytes().try_fold(0u64, |acc, b| {
        let digit = ALPHABET.iter().position(|&a| a == b)? as u64;
        Some(acc * 62 + digit)
    })
}

/// Whether `b` is one of the 62 code characters.
pub fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// A fresh random code: an id drawn uniformly from `0..CODE_SPACE`.
pub fn random_code(rng: &mut impl Rng) -> String {
    encode_fixed(rng.random_range(0..CODE_SPACE))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn code_space_is_62_to_the_7th() {
        assert_eq!(CODE_SPACE, 3_521_614_606_208);
        // The honest entropy figure the docs quote.
        let bits = (CODE_SPACE as f64).log2();
        assert!((41.67..41.69).contains(&bits), "{bits}"); // 41.679
    }

    #[test]
    fn alphabet_is_62_distinct_alphanumerics() {
        let mut seen = std::collections::HashSet::new();
        for &b in ALPHABET {
            assert!(is_base62(b));
            assert!(seen.insert(b));
        }
        assert_eq!(seen.len(), 62);
    }

    #[test]
    fn encode_is_fixed_width_and_round_trips() {
        for id in [0, 1, 61, 62, 3843, 1_000_000_007, CODE_SPACE - 1] {
            let code = encode_fixed(id);
            assert_eq!(code.len(), CODE_LEN, "{code}");
            assert_eq!(decode_fixed(&code), Some(id));
        }
        assert_eq!(encode_fixed(0), "0000000");
        assert_eq!(encode_fixed(61), "000000Z");
        assert_eq!(encode_fixed(62), "0000010");
        assert_eq!(encode_fixed(CODE_SPACE - 1), "ZZZZZZZ");
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn encode_refuses_ids_outside_the_space() {
        encode_fixed(CODE_SPACE);
    }

    #[test]
    fn decode_refuses_wrong_length_and_characters() {
        assert_eq!(decode_fixed("abc"), None);
        assert_eq!(decode_fixed("abcdefgh"), None);
        assert_eq!(decode_fixed("abc-efg"), None);
        assert_eq!(decode_fixed("abcdéf"), None);
    }

    #[test]
    fn random_codes_have_the_right_shape() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let code = random_code(&mut rng);
            assert_eq!(code.len(), CODE_LEN);
            assert!(code.bytes().all(is_base62), "{code}");
        }
    }

    /// Every first character is about equally likely, which fails if ids are
    /// drawn from a range that is not a multiple of 62^6 (e.g. `u64 % 62^7`
    /// with a small source, or a too-narrow range like `0..62^6`).
    #[test]
    fn random_codes_are_uniform_over_the_whole_range() {
        let mut rng = StdRng::seed_from_u64(42);
        let draws = 62_000;
        let mut first = [0u32; 62];
        let mut last = [0u32; 62];
        for _ in 0..draws {
            let code = random_code(&mut rng);
            let pos = |b: u8| ALPHABET.iter().position(|&a| a == b).unwrap();
            first[pos(code.as_bytes()[0])] += 1;
            last[pos(code.as_bytes()[CODE_LEN - 1])] += 1;
        }
        // Expected 1000 per bucket; a chi-square with 61 degrees of freedom
        // is below 100 with probability > 99.9%.
        for counts in [first, last] {
            let chi2: f64 = counts
                .iter()
                .map(|&c| (c as f64 - 1000.0).powi(2) / 1000.0)
                .sum();
            assert!(chi2 < 100.0, "chi2 {chi2}, counts {counts:?}");
        }
    }
}
