//! Colours shared by both renderers, after the AWS architecture icon palette.

use super::scene::{Flow, Frame, Tone};

/// Fill and stroke of a box.
pub fn tone(t: Tone) -> (&'static str, &'static str) {
    match t {
        Tone::External => ("#FFFFFF", "#232F3E"),
        Tone::Network => ("#F4EEFF", "#8C4FFF"),
        Tone::Edge => ("#F4EEFF", "#8C4FFF"),
        Tone::Compute => ("#FDF0E3", "#ED7100"),
        Tone::Data => ("#E9ECFB", "#3B48CC"),
        Tone::Messaging => ("#FCE8F1", "#E7157B"),
        Tone::Security => ("#FCEBEE", "#DD344C"),
        Tone::Plain => ("#FFFFFF", "#7D8998"),
    }
}

/// Fill and stroke of a frame.
pub fn frame(f: Frame) -> (&'static str, &'static str) {
    match f {
        Frame::Cloud => ("#FFFFFF", "#232F3E"),
        Frame::Vpc => ("#FBF9FF", "#8C4FFF"),
        Frame::Public => ("#F2F7E6", "#7AA116"),
        Frame::Private => ("#E6F6F7", "#00A4A6"),
        Frame::Isolated | Frame::Subnets => ("#F2F3F3", "#7D8998"),
        Frame::Security => ("#FFF7F8", "#DD344C"),
    }
}

/// Colour of an arrow.
pub fn flow(f: Flow) -> &'static str {
    match f {
        Flow::Request => "#232F3E",
        Flow::Event | Flow::Redrive => "#E7157B",
        Flow::Access => "#545B64",
        Flow::Egress => "#7D8998",
        Flow::Rule => "#DD344C",
    }
}

/// Whether an arrow is drawn dashed.
pub fn dashed(f: Flow) -> bool {
    matches!(f, Flow::Redrive | Flow::Egress | Flow::Rule)
}
