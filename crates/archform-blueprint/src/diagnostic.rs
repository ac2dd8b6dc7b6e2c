//! Errors and warnings found in a blueprint or its parameters.
//!
//! Every diagnostic names where the problem is (file, line, column), what is
//! wrong and how to fix it. Validation collects all of them before failing so
//! users fix everything in one pass instead of one error per run.

use serde::Serialize;
use std::fmt;

/// A position in a file the user wrote (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn new(file: impl Into<String>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, with a stable rule code (e.g. `lint/sg-open-port`) that tests
/// and users can match on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub rule: &'static str,
    pub location: Location,
    pub message: String,
    pub hint: String,
}

impl Diagnostic {
    pub fn error(
        rule: &'static str,
        location: Location,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            rule,
            location,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}: {sev}[{}]: {}\n  fix: {}",
            self.location, self.rule, self.message, self.hint
        )
    }
}

/// All diagnostics of one run, in the order they were found.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn error(
        &mut self,
        rule: &'static str,
        location: Location,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Diagnostic::error(rule, location, message, hint));
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
    /// Sorted by file and position, so output is stable and reads top-down.
    pub fn sorted(mut self) -> Self {
        self.0
            .sort_by(|a, b| a.location.cmp(&b.location).then(a.rule.cmp(b.rule)));
        self.0.dedup();
        self
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self
            .0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}
