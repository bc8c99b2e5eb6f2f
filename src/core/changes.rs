//! What a push changed, from `git diff --name-status -M -z`.

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    Renamed { from: String },
}

/// Parses NUL-separated name-status output: `M\0path\0`, `R087\0old\0new\0`. Copies count as
/// additions; type changes as modifications. Unknown records are skipped.
pub fn parse_name_status(output: &[u8]) -> Vec<FileChange> {
    let mut fields = output
        .split(|byte| *byte == 0)
        .map(|field| String::from_utf8_lossy(field).into_owned());
    let mut changes = Vec::new();
    while let Some(status) = fields.next() {
        let kind = match status.as_bytes().first() {
            Some(b'A') => ChangeKind::Added,
            Some(b'C') => {
                // A copy names its source first; the copy itself is new.
                fields.next();
                ChangeKind::Added
            }
            Some(b'M' | b'T') => ChangeKind::Modified,
            Some(b'D') => ChangeKind::Deleted,
            Some(b'R') => match fields.next() {
                Some(from) => ChangeKind::Renamed { from },
                None => break,
            },
            _ => continue,
        };
        match fields.next() {
            Some(path) => changes.push(FileChange { path, kind }),
            None => break,
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_kind_is_read() {
        let output = b"M\0stacks/app.yaml\0A\0stacks/new.yaml\0D\0stacks/old.yaml\0R087\0a.yaml\0b.yaml\0C100\0x.yaml\0y.yaml\0T\0link.yaml\0";
        let changes = parse_name_status(output);
        assert_eq!(
            changes,
            [
                FileChange {
                    path: "stacks/app.yaml".into(),
                    kind: ChangeKind::Modified
                },
                FileChange {
                    path: "stacks/new.yaml".into(),
                    kind: ChangeKind::Added
                },
                FileChange {
                    path: "stacks/old.yaml".into(),
                    kind: ChangeKind::Deleted
                },
                FileChange {
                    path: "b.yaml".into(),
                    kind: ChangeKind::Renamed {
                        from: "a.yaml".into()
                    }
                },
                FileChange {
                    path: "y.yaml".into(),
                    kind: ChangeKind::Added
                },
                FileChange {
                    path: "link.yaml".into(),
                    kind: ChangeKind::Modified
                },
            ]
        );
    }

    #[test]
    fn names_with_spaces_and_unicode_survive_and_empty_output_is_empty() {
        let changes = parse_name_status("M\0stacks/my stack/テンプレート.yaml\0".as_bytes());
        assert_eq!(changes[0].path, "stacks/my stack/テンプレート.yaml");
        assert!(parse_name_status(b"").is_empty());
    }
}
