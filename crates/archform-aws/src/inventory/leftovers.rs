//! The leak check every end-to-end test makes after a destroy: nothing
//! tagged with the stack is left, and every place was looked at. A listing
//! that could not be made fails the check: "could not look" is never
//! "nothing left".

use super::{Found, Unlisted, inventory};
use crate::clients::Clients;

/// Why the leak check failed: resources left, or places it could not look.
#[derive(Debug)]
pub struct Leftovers {
    pub stack: String,
    pub found: Vec<Found>,
    pub unknown: Vec<Unlisted>,
}

impl std::fmt::Display for Leftovers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.found.is_empty() {
            writeln!(
                f,
                "stack `{}` left {} resources behind:",
                self.stack,
                self.found.len()
            )?;
            for x in &self.found {
                writeln!(f, "  {} {} ({})", x.kind, x.id, x.physical_id)?;
            }
        }
        if !self.unknown.is_empty() {
            writeln!(
                f,
                "leak check for stack `{}` could not look at {} places, so it cannot say nothing is left:",
                self.stack,
                self.unknown.len()
            )?;
            for u in &self.unknown {
                writeln!(f, "  {u}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Leftovers {}

/// Nothing tagged with `stack` is left, and every service was listed and
/// every tag read.
pub async fn check_no_leftovers(clients: &Clients, stack: &str) -> Result<(), Leftovers> {
    check_no_leftovers_beyond(clients, stack, &[]).await
}

/// As [`check_no_leftovers`], on an endpoint known to lack whole services:
/// `gaps` names each (service, why). What is unknown in exactly those
/// services is printed and accepted; anything unknown elsewhere fails, and
/// a named service that does answer is checked like any other.
pub async fn check_no_leftovers_beyond(
    clients: &Clients,
    stack: &str,
    gaps: &[(&str, &str)],
) -> Result<(), Leftovers> {
    let inv = inventory(clients, stack).await;
    let mut unknown = Vec::new();
    for u in inv.unknown {
        match gaps.iter().find(|(s, _)| *s == u.service) {
            Some((_, why)) => eprintln!("leak check of `{stack}` cannot look at {u} ({why})"),
            None => unknown.push(u),
        }
    }
    if inv.found.is_empty() && unknown.is_empty() {
        Ok(())
    } else {
        Err(Leftovers {
            stack: stack.to_string(),
            found: inv.found,
            unknown,
        })
    }
}

/// Test helper: panics naming every resource still tagged with `stack` and
/// every place the check could not look at.
pub async fn assert_no_leftovers(clients: &Clients, stack: &str) {
    if let Err(e) = check_no_leftovers(clients, stack).await {
        panic!("{e}");
    }
}
