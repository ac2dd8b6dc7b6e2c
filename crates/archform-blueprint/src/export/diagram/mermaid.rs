//! A scene as a Mermaid `flowchart`.

use super::scene::{Flow, Frame, Node, Scene, Shape, Tone};
use super::style;
use std::fmt::Write as _;

/// Text safe inside a quoted Mermaid label: quotes, `#`, `&`, `<`, `>` and
/// `|` become entity codes, so nothing closes the label or reads as markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A box's label: the name in bold (not in notes), then one line each.
fn label(lines: &[String], bold_first: bool) -> String {
    let mut parts = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if i == 0 && bold_first {
            parts.push(format!("<b>{}</b>", escape(l)));
        } else {
            parts.push(escape(l));
        }
    }
    parts.join("<br/>")
}

fn shape(s: Shape, text: &str) -> String {
    match s {
        Shape::Client => format!("((\"{text}\"))"),
        Shape::Gateway => format!("{{{{\"{text}\"}}}}"),
        Shape::Entry => format!("[/\"{text}\"\\]"),
        Shape::Function => format!("(\"{text}\")"),
        Shape::Store => format!("[(\"{text}\")]"),
        Shape::Queue => format!("[[\"{text}\"]]"),
        Shape::Topic => format!(">\"{text}\"]"),
        Shape::Secret => format!("[/\"{text}\"/]"),
        Shape::Guard | Shape::Note => format!("[\"{text}\"]"),
        Shape::Cidr => format!("([\"{text}\"])"),
    }
}

/// The class of a box: its tone, except security groups and notes.
fn class_name(n: &Node) -> &'static str {
    match (n.shape, n.tone) {
        (Shape::Guard, _) => "guard",
        (Shape::Note, _) => "note",
        (_, Tone::External) => "external",
        (_, Tone::Network) => "network",
        (_, Tone::Edge) => "edge",
        (_, Tone::Compute) => "compute",
        (_, Tone::Data) => "data",
        (_, Tone::Messaging) => "messaging",
        (_, Tone::Security) => "security",
        (_, Tone::Plain) => "plain",
    }
}

/// Class name, tone and extra style of every class, in output order.
const CLASSES: [(&str, Tone, &str); 10] = [
    ("external", Tone::External, ""),
    ("network", Tone::Network, ""),
    ("edge", Tone::Edge, ""),
    ("compute", Tone::Compute, ""),
    ("data", Tone::Data, ""),
    ("messaging", Tone::Messaging, ""),
    ("security", Tone::Security, ""),
    ("guard", Tone::Security, ",stroke-dasharray:4 3"),
    ("plain", Tone::Plain, ""),
    ("note", Tone::Plain, ",stroke-dasharray:2 2,font-size:11px"),
];

const FLOWS: [Flow; 6] = [
    Flow::Request,
    Flow::Event,
    Flow::Access,
    Flow::Redrive,
    Flow::Egress,
    Flow::Rule,
];

pub fn render(scene: &Scene) -> String {
    let mut out = String::new();
    out.push_str("flowchart LR\n");
    let _ = writeln!(
        out,
        "  %% Architecture of {} (archform render --format mermaid)",
        scene.title.replace('\n', " ")
    );
    write_level(scene, None, 1, &mut out);

    let end = |n: usize| scene.nodes[n].id.as_str();
    for e in &scene.edges {
        let arrow = match e.flow {
            Flow::Request => "==>",
            f if style::dashed(f) => "-.->",
            _ => "-->",
        };
        if e.label.is_empty() {
            let _ = writeln!(out, "  {} {arrow} {}", end(e.from), end(e.to));
        } else {
            let _ = writeln!(
                out,
                "  {} {arrow}|\"{}\"| {}",
                end(e.from),
                escape(&e.label),
                end(e.to)
            );
        }
    }

    for (name, tone, extra) in CLASSES {
        let members: Vec<&str> = scene
            .nodes
            .iter()
            .filter(|n| class_name(n) == name)
            .map(|n| n.id.as_str())
            .collect();
        if members.is_empty() {
            continue;
        }
        let (fill, stroke) = style::tone(tone);
        let _ = writeln!(
            out,
            "  classDef {name} fill:{fill},stroke:{stroke},color:#232F3E{extra}"
        );
        let _ = writeln!(out, "  class {} {name}", members.join(","));
    }
    for c in &scene.clusters {
        let (fill, stroke) = style::frame(c.frame);
        let dash = match c.frame {
            Frame::Security | Frame::Cloud => ",stroke-dasharray:6 4",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  style {} fill:{fill},stroke:{stroke},color:#232F3E{dash}",
            c.id
        );
    }
    for f in FLOWS {
        let idx: Vec<String> = scene
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.flow == f)
            .map(|(i, _)| i.to_string())
            .collect();
        if idx.is_empty() {
            continue;
        }
        let width = if f == Flow::Request { "2px" } else { "1.5px" };
        let _ = writeln!(
            out,
            "  linkStyle {} stroke:{},stroke-width:{width}",
            idx.join(","),
            style::flow(f)
        );
    }
    out
}

fn write_level(scene: &Scene, cluster: Option<usize>, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    for n in scene.nodes_in(cluster) {
        let node = &scene.nodes[n];
        let _ = writeln!(
            out,
            "{pad}{}{}",
            node.id,
            shape(node.shape, &label(&node.lines, node.shape != Shape::Note))
        );
    }
    for c in scene.child_clusters(cluster) {
        let cl = &scene.clusters[c];
        let _ = writeln!(out, "{pad}subgraph {}[\"{}\"]", cl.id, escape(&cl.label));
        // Only frames without arrows crossing their border use their own
        // direction (Mermaid's rule); left to right like the whole chart.
        let _ = writeln!(out, "{pad}  direction LR");
        write_level(scene, Some(c), depth + 1, out);
        let _ = writeln!(out, "{pad}end");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_would_break_a_label() {
        assert_eq!(
            escape(r#"a "b" <c> #1 & d"#),
            "a #quot;b#quot; #lt;c#gt; #35;1 #amp; d"
        );
        assert_eq!(escape("$connect /*"), "$connect /*");
        assert_eq!(escape("channel=sms|push"), "channel=sms#124;push");
    }
}
