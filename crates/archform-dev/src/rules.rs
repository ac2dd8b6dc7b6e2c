//! ALB listener rule evaluation: rules in priority order, the first whose
//! conditions all match wins, else the listener's default action.

use crate::topology::{Action, ListenerSpec};

/// ALB path patterns are case-sensitive, match the path only (not the query
/// string), `*` matches zero or more characters and `?` exactly one.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    // Iterative wildcard match with single-star backtracking: linear in
    // practice, no recursion on hostile paths.
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None::<usize>, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The action for a request, and the id of the rule that chose it (`None`:
/// the default action).
pub fn select<'a>(
    listener: &'a ListenerSpec,
    method: &str,
    path: &str,
) -> (&'a Action, Option<&'a str>) {
    for rule in &listener.rules {
        let path_ok = rule.path_patterns.is_empty()
            || rule.path_patterns.iter().any(|p| path_matches(p, path));
        let method_ok = rule.http_methods.is_empty()
            || rule
                .http_methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method));
        if path_ok && method_ok {
            return (&rule.action, Some(&rule.id));
        }
    }
    (&listener.default_action, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::RuleSpec;

    #[test]
    fn wildcards_like_alb() {
        assert!(path_matches("/*", "/"));
        assert!(path_matches("/*", "/abc/def"));
        assert!(path_matches("/api/*", "/api/links"));
        assert!(!path_matches("/api/*", "/api"));
        assert!(path_matches("/api*", "/api"));
        assert!(path_matches("/img/*.png", "/img/a/b.png"));
        assert!(!path_matches("/img/*.png", "/img/a.jpg"));
        assert!(path_matches("/v?/x", "/v1/x"));
        assert!(!path_matches("/v?/x", "/v10/x"));
        assert!(!path_matches("/API/*", "/api/x"), "case-sensitive");
        assert!(path_matches("*", ""));
    }

    fn fixed(status: u16) -> Action {
        Action::FixedResponse {
            status,
            content_type: None,
            body: String::new(),
        }
    }

    #[test]
    fn lowest_priority_first_then_default() {
        let rule = |id: &str, priority, paths: &[&str], methods: &[&str], status| RuleSpec {
            id: id.into(),
            priority,
            path_patterns: paths.iter().map(|s| s.to_string()).collect(),
            http_methods: methods.iter().map(|s| s.to_string()).collect(),
            action: fixed(status),
        };
        let listener = ListenerSpec {
            id: "l".into(),
            port: 80,
            // Already sorted by priority, as the topology stores them.
            rules: vec![
                rule("posts", 5, &["/api/*"], &["POST"], 201),
                rule("api", 10, &["/api/*"], &[], 200),
                rule("all", 20, &["/*"], &[], 202),
            ],
            default_action: fixed(404),
        };
        assert_eq!(select(&listener, "POST", "/api/x").1, Some("posts"));
        assert_eq!(select(&listener, "GET", "/api/x").1, Some("api"));
        assert_eq!(select(&listener, "GET", "/x").1, Some("all"));
        let empty = ListenerSpec {
            rules: vec![],
            ..listener
        };
        assert_eq!(select(&empty, "GET", "/x"), (&fixed(404), None));
    }
}
