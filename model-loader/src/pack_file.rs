//! Model packs as files on the host (std only): writing one around a GGUF
//! file by streaming it (the GGUF is never held in memory twice), and
//! reading one back into its parts.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::pack::{self, Header, PackError, Prefix};

/// Writes the pack `out`: the header, the GGUF file `gguf` copied at
/// [`pack::GGUF_OFFSET`], and the encoded prefix section (if any) after it.
/// The gaps are left as holes (zeros). The file appears under its name
/// only when complete.
pub fn write_pack(
    gguf: &Path,
    out: &Path,
    name: &str,
    prefix_section: Option<&[u8]>,
) -> io::Result<Header> {
    let mut src = File::open(gguf)?;
    let gguf_len = src.metadata()?.len();
    let mut magic = [0u8; 4];
    src.read_exact(&mut magic)
        .and_then(|()| {
            if &magic == b"GGUF" {
                Ok(())
            } else {
                Err(io::Error::other("not a GGUF file (no GGUF magic)"))
            }
        })
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", gguf.display())))?;
    src.seek(SeekFrom::Start(0))?;

    let prefix = prefix_section.unwrap_or(&[]);
    let header = pack::layout(name, gguf_len, prefix.len() as u64);
    let tmp = temp_path(out);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&header.to_bytes())?;
        f.seek(SeekFrom::Start(header.gguf_offset))?;
        let copied = io::copy(&mut (&mut src).take(gguf_len), &mut f)?;
        if copied != gguf_len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} shrank while being copied", gguf.display()),
            ));
        }
        if !prefix.is_empty() {
            f.seek(SeekFrom::Start(header.prefix_offset))?;
            f.write_all(prefix)?;
        }
        f.set_len(header.image_len())?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| header)
}

fn temp_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// A model file read into memory: a raw GGUF, or a pack.
pub struct ModelImage {
    bytes: Vec<u8>,
    /// `None` for a raw GGUF.
    pub header: Option<Header>,
}

/// Why a model file cannot be used.
#[derive(Debug)]
pub enum ImageError {
    Io(io::Error),
    Pack(PackError),
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageError::Io(e) => write!(f, "{e}"),
            ImageError::Pack(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ImageError {}

impl ModelImage {
    /// Reads `path`: a pack (recognised by its header) or a raw GGUF.
    pub fn read(path: &Path) -> Result<ModelImage, ImageError> {
        let bytes = std::fs::read(path).map_err(ImageError::Io)?;
        let header = match Header::parse(&bytes, bytes.len() as u64) {
            Ok(h) => Some(h),
            Err(PackError::NotAPack) => None,
            Err(e) => return Err(ImageError::Pack(e)),
        };
        Ok(ModelImage { bytes, header })
    }

    /// The GGUF bytes.
    pub fn gguf(&self) -> &[u8] {
        match &self.header {
            Some(h) => &self.bytes[h.gguf_offset as usize..(h.gguf_offset + h.gguf_len) as usize],
            None => &self.bytes,
        }
    }

    /// The prefix section, if the pack has one.
    pub fn prefix(&self) -> Result<Option<Prefix<'_>>, PackError> {
        match &self.header {
            Some(h) if h.prefix_len > 0 => {
                let s = &self.bytes
                    [h.prefix_offset as usize..(h.prefix_offset + h.prefix_len) as usize];
                Prefix::parse(s).map(Some)
            }
            _ => Ok(None),
        }
    }
}
