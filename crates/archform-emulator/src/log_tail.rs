//! The last lines of a log file, for error messages: when an emulator or an
//! install fails, the reason is almost always in the final lines of its log.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

/// How far back from the end to read; enough for a Python traceback.
const MAX_TAIL_BYTES: u64 = 16 * 1024;

/// The last `max_lines` lines of `path`, or a note saying why there are none.
pub(crate) fn tail_of_file(path: &Path, max_lines: usize) -> String {
    match read_tail_bytes(path) {
        Ok(bytes) if bytes.is_empty() => "(log is empty)".to_owned(),
        Ok(bytes) => last_lines(&String::from_utf8_lossy(&bytes), max_lines),
        Err(err) => format!("(cannot read log: {err})"),
    }
}

fn read_tail_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(MAX_TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The last `max_lines` lines of `text`, each prefixed so they stand out
/// inside a larger error message.
pub(crate) fn last_lines(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(max_lines);
    lines[start..]
        .iter()
        .map(|line| format!("  | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "  | b\n  | c");
        assert_eq!(last_lines("only", 5), "  | only");
    }

    #[test]
    fn missing_file_is_explained() {
        let tail = tail_of_file(Path::new("/nonexistent/archform.log"), 3);
        assert!(tail.starts_with("(cannot read log:"), "{tail}");
    }
}
