//! Bounds on what one blueprint can make archform do. A blueprint is a
//! program (loops, partials, arithmetic); a careless or hostile one must end
//! in a located error and exit 2, never in a panic, an abort or a process
//! that runs until killed. Each bound is far above what a real blueprint
//! needs (the largest shipped one renders ~50 resources in ~20 KB).

use std::time::Duration;

/// Elements one `range` call may produce.
pub const MAX_RANGE: u64 = 100_000;
/// Elements all `range` calls of one render may produce together (nested
/// loops multiply).
pub const RANGE_BUDGET: u64 = 2_000_000;
/// Size of the rendered text.
pub const MAX_RENDERED_BYTES: usize = 64 * 1024 * 1024;
/// Resources in one stack.
pub const MAX_RESOURCES: usize = 50_000;
/// Partials including partials, counted along the longest chain.
pub const MAX_PARTIAL_DEPTH: usize = 32;
/// Wall time of one compile (render, parse, validate); the last resort for
/// work the other bounds do not see (loops over huge parameter lists that
/// write nothing).
pub const COMPILE_TIME: Duration = Duration::from_secs(30);
/// Stack of the thread that compiles: room for deeply nested YAML and
/// templates, reserved, not committed.
pub const COMPILE_STACK: usize = 256 * 1024 * 1024;
