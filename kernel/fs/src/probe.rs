//! What a disk holds, from its first bytes: littlefs, nothing, or something
//! else (which must never be formatted).

/// Bytes [`probe`] looks at: littlefs's two superblock blocks, and enough of
/// the start to call a disk blank.
pub const PROBE_BYTES: usize = 64 << 10;

/// What the start of a disk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A littlefs superblock (it may still fail to mount if corrupt).
    Littlefs,
    /// Only zeros: safe to format.
    Blank,
    /// Anything else (a model, a partition table, another filesystem).
    Foreign,
}

/// Classifies a disk from its first bytes (up to [`PROBE_BYTES`]).
///
/// littlefs keeps its superblock in blocks 0 and 1 (a metadata pair: the
/// newer of the two is valid); each starts with a revision count and a tag,
/// then the magic `littlefs`.
pub fn probe(start: &[u8]) -> Content {
    let bs = crate::geometry::BLOCK_SIZE as usize;
    let magic_at = |block: usize| {
        start
            .get(block * bs + 8..block * bs + 16)
            .is_some_and(|m| m == b"littlefs")
    };
    if magic_at(0) || magic_at(1) {
        Content::Littlefs
    } else if start.iter().all(|&b| b == 0) {
        Content::Blank
    } else {
        Content::Foreign
    }
}
