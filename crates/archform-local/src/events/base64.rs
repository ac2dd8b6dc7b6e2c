//! Standard base64 (RFC 4648, `+/` alphabet, `=` padding), the encoding AWS
//! uses for binary bodies in HTTP events and `isBase64Encoded` responses:
//! the `base64` crate's engines, configured for what functions send.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

/// Decodes what functions' encoders write: padded or not, and with
/// non-zero unused bits in the last character (some encoders leave them).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Padded standard base64, as AWS writes bodies.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes padded or unpadded input; `None` for anything else (a character
/// outside the alphabet, padding in the middle, an impossible length).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    LENIENT.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn round_trips_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
        assert_eq!(decode("Zm8").unwrap(), b"fo", "unpadded");
        assert_eq!(decode("Zh==").unwrap(), b"f", "trailing bits");
    }

    #[test]
    fn rejects_what_is_not_base64() {
        for bad in ["Zm9v!", "Z", "Zm=9v", "Zg===", "a b"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
