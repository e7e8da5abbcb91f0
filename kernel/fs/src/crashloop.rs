//! The write loop of the crash test: a fixed sequence of operations
//! (create/replace, append, remove, rename) numbered from 1. The kernel's
//! test command runs them and acknowledges each on the console; the host
//! replays the same sequence on a RAM disk to know what the disk must hold
//! after the last acknowledged one (or the one after it, in flight when
//! the machine was killed).

use crate::{BlockDevice, Fs, FsError, Kind};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The directory the loop works in (it must exist before operation 1).
pub const DIR: &str = "/crash";

/// Runs operation `n` (from 1).
pub fn apply<D: BlockDevice>(fs: &mut Fs<D>, n: u64) -> Result<(), FsError> {
    let i = (n - 1) / 4 % 6;
    let f = format!("{DIR}/f{i}");
    let g = format!("{DIR}/g{i}");
    match (n - 1) % 4 {
        0 => {
            let piece = format!("op {n} ");
            fs.write(
                &f,
                piece.repeat(((n * 7) % 50 + 1) as usize * 20).as_bytes(),
            )
        }
        1 => fs.append(&format!("{DIR}/log"), format!("op {n}\n").as_bytes()),
        2 => {
            if fs.exists(&g)? {
                fs.remove(&g, false)?;
            }
            Ok(())
        }
        _ => fs.rename(&f, &g).map(drop),
    }
}

/// Every file under `dir` with its content (directories as `None`).
pub fn snapshot<D: BlockDevice>(
    fs: &mut Fs<D>,
    dir: &str,
) -> Result<BTreeMap<String, Option<Vec<u8>>>, FsError> {
    let mut out = BTreeMap::new();
    for (path, entry) in fs.walk(dir)? {
        let content = match entry.kind {
            Kind::Dir => None,
            Kind::File => Some(fs.read_all(&path)?),
        };
        out.insert(path, content);
    }
    Ok(out)
}
