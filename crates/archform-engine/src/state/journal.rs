//! The journal: the changes made to a stack's state since it was last
//! written whole.
//!
//! Writing the whole state before and after every AWS call costs a step
//! time in proportion to the stack, so a deploy costs the square of it. A
//! step instead records only the resource it changes: one [`Record`],
//! appended and made durable before the AWS call it guards (the state says
//! "creating" before the create is sent). Loading replays the records on top
//! of the last whole state; the end of a run writes the state whole again
//! (compaction) and drops them.
//!
//! Each record names the lineage of the state it applies to and the serial
//! it brings that state to: serials keep growing by one per write, whole or
//! journaled, so a stale copy is still recognised by its older serial, and a
//! saved plan applies only to the exact version it was made on.
//!
//! Replay is by serial, not by position: a record whose serial the state
//! already has (left behind when a compaction wrote the state but died
//! before removing the journal) or whose lineage is another deployment's is
//! skipped; the next one must follow the state's serial exactly.
//!
//! The backends store records differently (a file of JSON lines locally,
//! one small object per record in S3); this module is their common format.

use super::{ResourceState, State};
use serde::{Deserialize, Serialize};

/// One change to one resource of a state, as a step makes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// The resource's whole new record: marked creating, updating or
    /// deleting before its AWS call, or created/updated with what AWS
    /// answered after it. Whole rather than a status alone, so that
    /// replaying a record twice or out of a longer history is harmless.
    Put {
        id: String,
        resource: Box<ResourceState>,
    },
    /// The resource is gone (deleted, or a create the endpoint refused).
    Remove { id: String },
}

impl Change {
    /// The logical id the change is about.
    pub fn id(&self) -> &str {
        match self {
            Change::Put { id, .. } | Change::Remove { id } => id,
        }
    }

    /// Makes the change in memory, as replaying its record does.
    pub fn apply_to(self, state: &mut State) {
        match self {
            // `insert` keeps an existing id in its place, so the order of
            // resources after a replay is the order the run had in memory.
            Change::Put { id, resource } => {
                state.resources.insert(id, *resource);
            }
            Change::Remove { id } => {
                state.resources.shift_remove(&id);
            }
        }
    }
}

/// What a record holds: a change, or a claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    Put {
        id: String,
        resource: Box<ResourceState>,
    },
    Remove {
        id: String,
    },
    /// A whole write took this serial before writing the state (the S3
    /// backend): records and whole writes then compete for the same
    /// serial through one conditional create, so exactly one wins. Changes
    /// nothing on replay.
    Claim,
}

impl From<Change> for Entry {
    fn from(c: Change) -> Self {
        match c {
            Change::Put { id, resource } => Entry::Put { id, resource },
            Change::Remove { id } => Entry::Remove { id },
        }
    }
}

/// One journal record: a JSON object on one line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub lineage: String,
    /// The serial of the state once this record is applied.
    pub serial: u64,
    #[serde(flatten)]
    pub entry: Entry,
}

impl Record {
    /// The record's line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("a journal record serialises");
        line.push(b'\n');
        line
    }

    /// True when a state at `serial` of `lineage` has this record already
    /// or it belongs to another deployment: replay skips it.
    fn stale_for(&self, lineage: &str, serial: u64) -> bool {
        self.lineage != lineage || self.serial <= serial
    }
}

/// Why a journal cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalFault {
    #[error("record {index} is not a journal record: {reason}")]
    Unreadable { index: usize, reason: String },
    #[error(
        "record {index} brings the state to serial {found} but serial {expected} comes next: a record is missing"
    )]
    Gap {
        index: usize,
        found: u64,
        expected: u64,
    },
}

/// The records of a journal file's bytes, and how many bytes they span.
///
/// A crash while appending leaves at most the last line incomplete: an
/// unterminated or unreadable last line is a record whose write never
/// completed, and since a record is made durable before its AWS call, a
/// record that never completed guarded no call. It is left out, and
/// `valid_len` stops before it so the next writer can cut it off before
/// appending. An unreadable line with complete records after it is damage,
/// not a torn write.
pub fn parse_lines(bytes: &[u8]) -> Result<(Vec<Record>, usize), JournalFault> {
    let mut records = Vec::new();
    let mut valid_len = 0;
    let mut rest = bytes;
    let mut index = 0;
    while !rest.is_empty() {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            break; // torn: the newline is the last byte written
        };
        let line = &rest[..end];
        rest = &rest[end + 1..];
        index += 1;
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => {
                records.push(r);
                valid_len = bytes.len() - rest.len();
            }
            Err(_) if rest.iter().all(|b| b.is_ascii_whitespace() || *b == 0) => break,
            Err(e) => {
                return Err(JournalFault::Unreadable {
                    index,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok((records, valid_len))
}

/// The serial `records` bring a state at `(lineage, serial)` to, checking
/// that they chain without a gap; records it already has are skipped.
pub fn tail<'a>(
    lineage: &str,
    serial: u64,
    records: impl IntoIterator<Item = &'a Record>,
) -> Result<u64, JournalFault> {
    let mut at = serial;
    for (i, r) in records.into_iter().enumerate() {
        if r.stale_for(lineage, at) {
            continue;
        }
        if r.serial != at + 1 {
            return Err(JournalFault::Gap {
                index: i + 1,
                found: r.serial,
                expected: at + 1,
            });
        }
        at = r.serial;
    }
    Ok(at)
}

/// Applies `records` to `state` in order (see the module comment for
/// which apply); returns how many did.
pub fn replay(
    state: &mut State,
    records: impl IntoIterator<Item = Record>,
) -> Result<usize, JournalFault> {
    let mut applied = 0;
    for (i, r) in records.into_iter().enumerate() {
        if r.stale_for(&state.lineage, state.serial) {
            continue;
        }
        if r.serial != state.serial + 1 {
            return Err(JournalFault::Gap {
                index: i + 1,
                found: r.serial,
                expected: state.serial + 1,
            });
        }
        state.serial = r.serial;
        apply_entry(state, r.entry);
        applied += 1;
    }
    Ok(applied)
}

/// Makes a record's change in `state` (its serial is the caller's business).
pub fn apply_entry(state: &mut State, entry: Entry) {
    match entry {
        Entry::Put { id, resource } => Change::Put { id, resource }.apply_to(state),
        Entry::Remove { id } => Change::Remove { id }.apply_to(state),
        Entry::Claim => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ResourceStatus;
    use archform_blueprint::kinds::Kind;

    fn queue(status: ResourceStatus) -> ResourceState {
        ResourceState {
            kind: Kind::Queue,
            physical_id: (status == ResourceStatus::Created).then(|| "https://sqs/q".into()),
            physical_name: Some("demo-q".into()),
            properties: serde_json::json!({"visibility_timeout": 30}),
            attributes: Default::default(),
            dependencies: vec![],
            tags: Default::default(),
            status,
        }
    }

    fn put(lineage: &str, serial: u64, id: &str, status: ResourceStatus) -> Record {
        Record {
            lineage: lineage.into(),
            serial,
            entry: Entry::Put {
                id: id.into(),
                resource: Box::new(queue(status)),
            },
        }
    }

    #[test]
    fn a_record_is_one_json_line_naming_its_operation() {
        let r = put("L", 7, "q", ResourceStatus::Creating);
        let line = r.to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(*line.last().unwrap(), b'\n');
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["op"], "put");
        assert_eq!(v["serial"], 7);
        assert_eq!(v["resource"]["status"], "creating");
        let (back, len) = parse_lines(&line).unwrap();
        assert_eq!((back, len), (vec![r], line.len()));
        let claim = Record {
            lineage: "L".into(),
            serial: 8,
            entry: Entry::Claim,
        };
        assert_eq!(
            parse_lines(&claim.to_line()).unwrap().0,
            vec![claim.clone()]
        );
    }

    #[test]
    fn a_torn_last_line_is_left_out_and_damage_before_others_is_refused() {
        let mut bytes = put("L", 2, "a", ResourceStatus::Creating).to_line();
        let whole = bytes.len();
        let second = put("L", 3, "a", ResourceStatus::Created).to_line();
        // Every prefix of the second line is a write cut short.
        for cut in 0..second.len() {
            let mut torn = bytes.clone();
            torn.extend_from_slice(&second[..cut]);
            let (records, valid) = parse_lines(&torn).unwrap();
            assert_eq!(records.len(), 1, "cut at {cut}");
            assert_eq!(valid, whole, "cut at {cut}");
        }
        // File systems may leave zeros where a write did not land.
        let mut zeros = bytes.clone();
        zeros.extend_from_slice(&[0; 40]);
        zeros.push(b'\n');
        assert_eq!(parse_lines(&zeros).unwrap().1, whole);
        // An unreadable line followed by a complete record is damage.
        bytes.extend_from_slice(b"{\"serial\": oops}\n");
        bytes.extend_from_slice(&second);
        assert!(matches!(
            parse_lines(&bytes).unwrap_err(),
            JournalFault::Unreadable { index: 2, .. }
        ));
    }

    #[test]
    fn replay_applies_the_chain_after_the_state_and_skips_what_it_has() {
        let mut s = State::new("demo", "chat");
        s.serial = 5;
        let l = s.lineage.clone();
        s.resources
            .insert("old".into(), queue(ResourceStatus::Created));
        let records = vec![
            // Folded in by a compaction whose journal removal was lost.
            put(&l, 4, "stale", ResourceStatus::Created),
            put(&l, 5, "stale", ResourceStatus::Created),
            // Another deployment's.
            put("other", 6, "foreign", ResourceStatus::Created),
            put(&l, 6, "a", ResourceStatus::Creating),
            put(&l, 7, "a", ResourceStatus::Created),
            Record {
                lineage: l.clone(),
                serial: 8,
                entry: Entry::Claim,
            },
            Record {
                lineage: l.clone(),
                serial: 9,
                entry: Entry::Remove { id: "old".into() },
            },
        ];
        assert_eq!(tail(&l, 5, &records).unwrap(), 9);
        assert_eq!(replay(&mut s, records).unwrap(), 4);
        assert_eq!(s.serial, 9);
        let ids: Vec<&str> = s.resources.keys().map(String::as_str).collect();
        assert_eq!(ids, ["a"]);
        assert_eq!(s.resources["a"].status, ResourceStatus::Created);
    }

    #[test]
    fn a_missing_record_stops_replay() {
        let mut s = State::new("demo", "chat");
        let l = s.lineage.clone();
        let records = vec![
            put(&l, 1, "a", ResourceStatus::Creating),
            put(&l, 3, "a", ResourceStatus::Created),
        ];
        let gap = JournalFault::Gap {
            index: 2,
            found: 3,
            expected: 2,
        };
        assert_eq!(tail(&l, 0, &records).unwrap_err(), gap);
        assert_eq!(replay(&mut s, records).unwrap_err(), gap);
    }

    #[test]
    fn puts_keep_the_order_of_resources() {
        let mut s = State::new("demo", "chat");
        for id in ["a", "b", "c"] {
            Change::Put {
                id: id.into(),
                resource: Box::new(queue(ResourceStatus::Creating)),
            }
            .apply_to(&mut s);
        }
        Change::Put {
            id: "a".into(),
            resource: Box::new(queue(ResourceStatus::Created)),
        }
        .apply_to(&mut s);
        Change::Remove { id: "b".into() }.apply_to(&mut s);
        let ids: Vec<&str> = s.resources.keys().map(String::as_str).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(s.resources["a"].status, ResourceStatus::Created);
    }
}
