//! A scene as a Graphviz `digraph`.

use super::scene::{Frame, Scene, Shape};
use super::style;
use std::fmt::Write as _;

/// Text safe inside a double-quoted DOT string.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text safe inside an HTML-like DOT label.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The inside of an HTML-like label: the name in bold, then smaller lines.
fn label_text(lines: &[String], bold_first: bool) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("<BR/>");
        }
        if i == 0 && bold_first {
            let _ = write!(out, "<B>{}</B>", html(l));
        } else {
            let _ = write!(out, "<FONT POINT-SIZE=\"9\">{}</FONT>", html(l));
        }
    }
    out
}

fn shape(s: Shape) -> &'static str {
    match s {
        Shape::Client => "shape=oval",
        Shape::Gateway => "shape=hexagon",
        Shape::Entry => "shape=invhouse",
        Shape::Function => "shape=box, style=\"rounded,filled\"",
        Shape::Store => "shape=cylinder",
        Shape::Queue => "shape=plain",
        Shape::Topic => "shape=cds",
        Shape::Secret => "shape=note",
        Shape::Guard => "shape=box, style=\"dashed,filled\"",
        Shape::Cidr => "shape=oval, style=\"dashed,filled\"",
        Shape::Note => "shape=plaintext, fontsize=9",
    }
}

pub fn render(scene: &Scene) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&scene.title));
    out.push_str(
        "  graph [rankdir=LR, newrank=true, fontname=\"Helvetica\", fontsize=13, \
         nodesep=0.3, ranksep=0.6, pad=0.3, labeljust=l];\n",
    );
    out.push_str(
        "  node [fontname=\"Helvetica\", fontsize=11, style=filled, penwidth=1.4, \
         margin=\"0.14,0.06\"];\n",
    );
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9, penwidth=1.2, arrowsize=0.7];\n");
    write_level(scene, None, 1, &mut out);

    for e in &scene.edges {
        let mut attrs = Vec::new();
        let from = quote(&scene.nodes[e.from].id);
        let to = quote(&scene.nodes[e.to].id);
        if !e.label.is_empty() {
            attrs.push(format!("label={}", quote(&e.label)));
        }
        let color = style::flow(e.flow);
        attrs.push(format!("color={}", quote(color)));
        attrs.push(format!("fontcolor={}", quote(color)));
        if style::dashed(e.flow) {
            attrs.push("style=dashed".into());
        }
        if e.flow == super::scene::Flow::Egress {
            // Outbound routes point back at the gateways; they should not
            // pull the layout backwards.
            attrs.push("constraint=false".into());
        }
        if e.flow == super::scene::Flow::Request {
            attrs.push("penwidth=2".into());
        }
        let _ = writeln!(out, "  {from} -> {to} [{}];", attrs.join(", "));
    }
    out.push_str("}\n");
    out
}

fn write_level(scene: &Scene, cluster: Option<usize>, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    for n in scene.nodes_in(cluster) {
        let node = &scene.nodes[n];
        let (fill, stroke) = style::tone(node.tone);
        if node.shape == Shape::Queue {
            // A queue: a box with two message slots at its head.
            let _ = writeln!(
                out,
                "{pad}{} [shape=plain, label=<<TABLE BORDER=\"1\" CELLBORDER=\"1\" \
                 CELLSPACING=\"0\" CELLPADDING=\"5\" COLOR=\"{stroke}\" BGCOLOR=\"{fill}\">\
                 <TR><TD WIDTH=\"6\"></TD><TD WIDTH=\"6\"></TD><TD BORDER=\"0\">{}</TD></TR></TABLE>>];",
                quote(&node.id),
                label_text(&node.lines, node.shape != Shape::Note),
            );
            continue;
        }
        let _ = writeln!(
            out,
            "{pad}{} [label=<{}>, {}, fillcolor={}, color={}];",
            quote(&node.id),
            label_text(&node.lines, node.shape != Shape::Note),
            shape(node.shape),
            quote(fill),
            quote(stroke),
        );
    }
    for c in scene.child_clusters(cluster) {
        let cl = &scene.clusters[c];
        let (fill, stroke) = style::frame(cl.frame);
        let dashed = matches!(cl.frame, Frame::Security | Frame::Cloud);
        let _ = writeln!(
            out,
            "{pad}subgraph {} {{",
            quote(&format!("cluster_{}", cl.id))
        );
        let _ = writeln!(
            out,
            "{pad}  label={}; style={}; fillcolor={}; color={}; penwidth=1.4;",
            quote(&cl.label),
            quote(if dashed {
                "dashed,rounded,filled"
            } else {
                "rounded,filled"
            }),
            quote(fill),
            quote(stroke),
        );
        write_level(scene, Some(c), depth + 1, out);
        let _ = writeln!(out, "{pad}}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_html_escapes() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(html("<a & b>"), "&lt;a &amp; b&gt;");
    }
}
