//! Counts of the elementary steps a compile (and ordering its graph) takes,
//! by kind, so tests can show that the work grows linearly with the
//! resource count without timing anything: a pass that scans every
//! resource for every resource counts n^2 steps, which a fixed ratio
//! between two sizes catches.
//!
//! The counters exist in this crate's test builds only; elsewhere
//! [`count`] is an empty inline function and costs nothing.

/// What is counted: the primitives the passes use to look at resources and
/// text, so a quadratic pass shows whichever way it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// A YAML scalar read as text (keys, duplicate-key checks).
    ScalarText,
    /// A property of a resource read by a validation pass.
    PropRead,
    /// A string split into text and `${id.attr}` references.
    RefSplit,
    /// A character examined to map a rendered column back to its source.
    ColumnChar,
    /// A subnet's CIDR block looked at while finding the ones it overlaps.
    CidrCompare,
    /// An edit distance computed for a "did you mean" hint.
    EditDistance,
    /// A list parameter item checked for being a repeat.
    ParamItem,
    /// A dependency edge followed while ordering the resources.
    DependencyEdge,
}

#[cfg(test)]
thread_local! {
    static COUNTS: std::cell::RefCell<std::collections::BTreeMap<Step, u64>> =
        const { std::cell::RefCell::new(std::collections::BTreeMap::new()) };
}

/// Records `n` steps of kind `step` on this thread.
#[inline]
#[cfg_attr(not(test), allow(unused_variables))]
pub(crate) fn count(step: Step, n: usize) {
    #[cfg(test)]
    COUNTS.with(|c| *c.borrow_mut().entry(step).or_default() += n as u64);
}

/// Runs `f` and returns the steps it took on this thread.
#[cfg(test)]
pub(crate) fn measure<T>(f: impl FnOnce() -> T) -> (T, std::collections::BTreeMap<Step, u64>) {
    COUNTS.with(|c| c.borrow_mut().clear());
    let out = f();
    (out, COUNTS.with(|c| std::mem::take(&mut *c.borrow_mut())))
}

#[cfg(test)]
mod tests;
