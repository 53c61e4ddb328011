//! Following log files: every poll reads what was appended to each file a glob matches,
//! picks up new files, and follows rotation —
//!
//! - **by rename**: the path now names another file (inode); the old file is read to its end
//!   through the handle already open, then the new one from its start;
//! - **by copytruncate**: the file is shorter than what was read; it is read again from its
//!   start.
//!
//! Only complete lines (ending in `\n`, a `\r` before it dropped) are emitted; a final line
//! without its newline is held until the newline arrives, or emitted as is once it has waited
//! `flush_partial_after`. Where reading stands in each file is a [`Position`] the caller saves
//! with what it did with the lines, and gives back on restart.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Where reading a file stands: which file (device and inode) and how far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub dev: u64,
    pub inode: u64,
    pub offset: u64,
}

/// A line read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub path: PathBuf,
    pub text: String,
    /// Where the line starts: reading resumes here to read it again.
    pub start: Position,
}

/// Rotated files remembered as read (see `Tailer::retired`).
const MAX_RETIRED: usize = 1024;

/// Most bytes read from one file per poll, so one busy file cannot starve the others.
const READ_CHUNK: usize = 1 << 20;

/// The files of one set of glob patterns.
pub struct Tailer {
    patterns: Vec<String>,
    flush_partial_after: Duration,
    files: BTreeMap<PathBuf, Followed>,
    /// Files (device, inode) read to their end and left after a rotation: a rotated name the
    /// glob also matches (`app.log.1`) is not read again.
    retired: std::collections::HashSet<(u64, u64)>,
    /// The last poll stopped reading a file before its end.
    more: bool,
}

struct Followed {
    file: File,
    position: Position,
    /// Bytes after the last newline, and since when they wait.
    partial: Vec<u8>,
    partial_since: Option<Instant>,
}

impl Tailer {
    /// Follows the files `patterns` match, resuming at `positions` (by path) where the file is
    /// still the same; files seen for the first time are read from their start.
    pub fn new(
        patterns: Vec<String>,
        flush_partial_after: Duration,
        positions: &BTreeMap<PathBuf, Position>,
    ) -> Tailer {
        let mut tailer = Tailer {
            patterns,
            flush_partial_after,
            files: BTreeMap::new(),
            retired: std::collections::HashSet::new(),
            more: false,
        };
        for path in tailer.matching() {
            if let Some(followed) = open(&path, positions.get(&path).copied()) {
                tailer.files.insert(path, followed);
            }
        }
        tailer
    }

    /// Where reading stands in every followed file (the held partial line not counted as read).
    pub fn positions(&self) -> BTreeMap<PathBuf, Position> {
        self.files
            .iter()
            .map(|(path, f)| {
                (path.clone(), Position { offset: f.position.offset - f.partial.len() as u64, ..f.position })
            })
            .collect()
    }

    /// Whether the last poll left data unread (a file had more than one read's worth): the
    /// caller should poll again at once.
    pub fn has_more(&self) -> bool {
        self.more
    }

    /// Reads what is new in every file, following rotations and picking up new files.
    pub fn poll(&mut self) -> Vec<Line> {
        let mut lines = Vec::new();
        self.more = false;
        for path in self.matching() {
            if self.files.contains_key(&path) {
                continue;
            }
            let Some(followed) = open(&path, None) else { continue };
            // A rotated name the glob also matches (`app.log.1`) is a file already read.
            let identity = (followed.position.dev, followed.position.inode);
            let known = self.retired.contains(&identity)
                || self.files.values().any(|f| (f.position.dev, f.position.inode) == identity);
            if !known {
                self.files.insert(path, followed);
            }
        }

        let flush_after = self.flush_partial_after;
        let paths: Vec<PathBuf> = self.files.keys().cloned().collect();
        for path in paths {
            let followed = self.files.get_mut(&path).expect("listed above");
            let unread = read_new(followed, &path, flush_after, &mut lines);
            self.more |= unread;
            if unread {
                // Whatever happened to the path, the open file is read to its end first.
                continue;
            }
            match std::fs::metadata(&path) {
                // Renamed away and a new file in its place: the old one is read to its end;
                // follow the new one from its start.
                Ok(meta) if (meta.dev(), meta.ino()) != (followed.position.dev, followed.position.inode) => {
                    flush_partial(followed, &path, &mut lines);
                    if let Some(mut new) = open(&path, None) {
                        self.more |= read_new(&mut new, &path, flush_after, &mut lines);
                        let old = std::mem::replace(followed, new);
                        if self.retired.len() >= MAX_RETIRED {
                            self.retired.clear();
                        }
                        self.retired.insert((old.position.dev, old.position.inode));
                    }
                }
                Ok(_) => {}
                // Gone without a replacement: forget it, read to its end.
                Err(_) => {
                    flush_partial(followed, &path, &mut lines);
                    self.files.remove(&path);
                }
            }
        }
        lines
    }

    fn matching(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.patterns.iter().flat_map(|p| glob(p)).collect();
        paths.sort();
        paths.dedup();
        paths
    }
}

/// Opens `path`, resuming at `resume` when it names the same file and the file is not
/// shorter than it (else from the start).
fn open(path: &Path, resume: Option<Position>) -> Option<Followed> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let offset = resume
        .filter(|r| (r.dev, r.inode) == (meta.dev(), meta.ino()) && r.offset <= meta.len())
        .map_or(0, |r| r.offset);
    Some(Followed {
        file,
        position: Position { dev: meta.dev(), inode: meta.ino(), offset },
        partial: Vec::new(),
        partial_since: None,
    })
}

/// Reads what was appended since the last read (from the start again if the file was
/// truncated) and emits its complete lines; returns whether data was left unread.
fn read_new(followed: &mut Followed, path: &Path, flush_after: Duration, lines: &mut Vec<Line>) -> bool {
    let Ok(meta) = followed.file.metadata() else { return false };
    if meta.len() < followed.position.offset {
        // copytruncate: everything is new again; a held partial line belonged to the old data.
        flush_partial(followed, path, lines);
        followed.position.offset = 0;
    }
    if meta.len() > followed.position.offset {
        let mut buffer =
            Vec::with_capacity((meta.len() - followed.position.offset).min(READ_CHUNK as u64) as usize);
        let read = followed
            .file
            .seek(SeekFrom::Start(followed.position.offset))
            .and_then(|_| (&mut followed.file).take(READ_CHUNK as u64).read_to_end(&mut buffer));
        if read.is_ok() {
            followed.position.offset += buffer.len() as u64;
            followed.partial.extend_from_slice(&buffer);
            split_lines(followed, path, lines);
        }
    }
    let waited = followed.partial_since.is_some_and(|since| since.elapsed() >= flush_after);
    if waited {
        flush_partial(followed, path, lines);
    }
    meta.len() > followed.position.offset
}

/// Emits the complete lines held in `partial`, keeping what follows the last newline.
fn split_lines(followed: &mut Followed, path: &Path, lines: &mut Vec<Line>) {
    let Some(last_newline) = followed.partial.iter().rposition(|&b| b == b'\n') else {
        if !followed.partial.is_empty() && followed.partial_since.is_none() {
            followed.partial_since = Some(Instant::now());
        }
        return;
    };
    let rest = followed.partial.split_off(last_newline + 1);
    let complete = std::mem::replace(&mut followed.partial, rest);
    let mut start = Position {
        offset: followed.position.offset - (complete.len() + followed.partial.len()) as u64,
        ..followed.position
    };
    for raw in complete[..complete.len() - 1].split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        lines.push(Line {
            path: path.to_path_buf(),
            text: String::from_utf8_lossy(line).into_owned(),
            start,
        });
        start.offset += raw.len() as u64 + 1;
    }
    followed.partial_since = (!followed.partial.is_empty()).then(Instant::now);
}

/// Emits a held partial line as it is.
fn flush_partial(followed: &mut Followed, path: &Path, lines: &mut Vec<Line>) {
    if !followed.partial.is_empty() {
        let text = String::from_utf8_lossy(&followed.partial).into_owned();
        let start = Position {
            offset: followed.position.offset - followed.partial.len() as u64,
            ..followed.position
        };
        lines.push(Line { path: path.to_path_buf(), text, start });
        followed.partial.clear();
    }
    followed.partial_since = None;
}

/// The files `pattern` matches: `*` and `?` in the last path component only.
fn glob(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    if !name.contains(['*', '?']) {
        return if path.is_file() { vec![path.to_path_buf()] } else { Vec::new() };
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard_match(name.as_bytes(), n.as_bytes())))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect()
}

fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard_match(&pattern[1..], name) || (!name.is_empty() && wildcard_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    #[test]
    fn lines_are_emitted_whole_and_partial_ones_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, "one\ntwo\r\nthr");
        let pattern = dir.path().join("*.log").display().to_string();
        let mut tailer = Tailer::new(vec![pattern], Duration::from_millis(200), &BTreeMap::new());
        let first = tailer.poll();
        assert_eq!(texts(&first), ["one", "two"]);
        assert_eq!((first[0].start.offset, first[1].start.offset), (0, 4));
        assert_eq!(tailer.positions()[&path].offset, 9, "the partial line is not counted as read");
        append(&path, "ee\nfour");
        assert_eq!(texts(&tailer.poll()), ["three"]);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(texts(&tailer.poll()), ["four"], "flushed after waiting");
    }

    #[test]
    fn rotation_by_rename_and_by_copytruncate_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, "a1\n");
        let pattern = path.display().to_string();
        let mut tailer = Tailer::new(vec![pattern], Duration::from_secs(5), &BTreeMap::new());
        assert_eq!(texts(&tailer.poll()), ["a1"]);
        append(&path, "a2\n");
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        append(&path, "b1\n");
        assert_eq!(texts(&tailer.poll()), ["a2", "b1"], "the old file's tail, then the new file");
        append(&path, "b2\n");
        assert_eq!(texts(&tailer.poll()), ["b2"]);
        // copytruncate: the content is copied away and the file emptied in place.
        std::fs::OpenOptions::new().write(true).truncate(true).open(&path).unwrap();
        append(&path, "c1\n");
        assert_eq!(texts(&tailer.poll()), ["c1"]);
    }

    #[test]
    fn a_rotated_name_the_glob_matches_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, "a1\n");
        let pattern = format!("{}*", path.display());
        let mut tailer = Tailer::new(vec![pattern], Duration::from_secs(5), &BTreeMap::new());
        assert_eq!(texts(&tailer.poll()), ["a1"]);
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        append(&path, "b1\n");
        assert_eq!(texts(&tailer.poll()), ["b1"]);
        append(&path, "b2\n");
        assert_eq!(texts(&tailer.poll()), ["b2"], "app.log.1 is the file already read");
    }

    #[test]
    fn a_renamed_file_is_read_to_its_end_even_past_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        append(&path, "start\n");
        let mut tailer =
            Tailer::new(vec![path.display().to_string()], Duration::from_secs(5), &BTreeMap::new());
        assert_eq!(texts(&tailer.poll()), ["start"]);
        let line = "x".repeat(999);
        for _ in 0..3000 {
            append(&path, &format!("{line}\n"));
        }
        std::fs::rename(&path, dir.path().join("big.log.1")).unwrap();
        append(&path, "new\n");
        let mut all = Vec::new();
        loop {
            let lines = tailer.poll();
            all.extend(lines.into_iter().map(|l| l.text));
            if !tailer.has_more() {
                break;
            }
        }
        assert_eq!(all.len(), 3001, "3 MB of the old file, then the new file");
        assert_eq!(all.last().map(String::as_str), Some("new"));
    }

    #[test]
    fn positions_resume_and_new_files_are_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        append(&a, "1\n2\n");
        let pattern = dir.path().join("*.log").display().to_string();
        let mut tailer = Tailer::new(vec![pattern.clone()], Duration::from_secs(5), &BTreeMap::new());
        assert_eq!(texts(&tailer.poll()), ["1", "2"]);
        let saved = tailer.positions();
        append(&a, "3\n");
        append(&dir.path().join("b.log"), "x\n");
        let mut resumed = Tailer::new(vec![pattern], Duration::from_secs(5), &saved);
        let lines = resumed.poll();
        assert_eq!(texts(&lines), ["3", "x"], "a resumes after 2; b is new");
        assert!(wildcard_match(b"*.log", b"app.log") && !wildcard_match(b"*.log", b"app.log.1"));
        assert!(wildcard_match(b"a?c*", b"abcdef") && !wildcard_match(b"a?c", b"ac"));
    }
}
