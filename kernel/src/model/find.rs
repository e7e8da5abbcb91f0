//! Finding the model image by looking: every virtio disk, then the boot
//! ramdisk, is checked for a model pack header (`LLMPACK1`, see
//! `model_loader::pack`) or a raw GGUF file. The first good one wins; an
//! image that looks like a model but is damaged is reported.

use crate::drivers::virtio::blk::{self, Disk};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use klib::units::Bytes;
use model_loader::pack::{self, Header, PackError};

/// Where the image lives.
#[derive(Clone, Copy)]
pub enum Medium {
    Disk(&'static Disk),
    /// Already in memory (loaded by the bootloader).
    Ramdisk(&'static [u8]),
}

impl Medium {
    pub fn describe(&self) -> String {
        match self {
            Medium::Disk(d) => format!("virtio disk {}", d.name),
            Medium::Ramdisk(_) => String::from("boot ramdisk"),
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            Medium::Disk(d) => d.size,
            Medium::Ramdisk(r) => r.len() as u64,
        }
    }

    /// Reads `buf.len()` bytes at `offset`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        match self {
            Medium::Disk(d) => d
                .read_at(offset, buf, true)
                .map_err(|e| format!("{}: {e}", d.name)),
            Medium::Ramdisk(r) => {
                let start = offset as usize;
                let src = r
                    .get(start..start + buf.len())
                    .ok_or_else(|| String::from("read past the end of the ramdisk"))?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }
}

/// A model image found on a medium.
pub struct Image {
    pub medium: Medium,
    /// The pack header, or `None` for a raw GGUF.
    pub header: Option<Header>,
    /// Where the GGUF starts and how long it is.
    pub gguf_offset: u64,
    pub gguf_len: u64,
}

impl Image {
    /// The model's name (the pack's, or `None` for a raw GGUF).
    pub fn pack_name(&self) -> Option<&str> {
        self.header.as_ref().map(|h| h.name.as_str())
    }

    pub fn kind(&self) -> &'static str {
        if self.header.is_some() {
            "model pack"
        } else {
            "raw GGUF"
        }
    }

    /// The prefix section's bytes, if the pack has one.
    pub fn read_prefix(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(h) = &self.header else {
            return Ok(None);
        };
        if h.prefix_len == 0 {
            return Ok(None);
        }
        if h.prefix_len > 256 << 20 {
            return Err(format!(
                "prefix section of {} is implausibly large",
                Bytes(h.prefix_len)
            ));
        }
        let mut buf = crate::mm::heap::try_zeroed(h.prefix_len as usize)
            .map_err(|e| format!("prefix section: {e}"))?;
        self.medium.read(h.prefix_offset, &mut buf)?;
        Ok(Some(buf))
    }
}

/// What looking found.
pub enum Search {
    Found(Image),
    /// Nothing that looks like a model; `looked` says where we looked.
    Nothing {
        looked: Vec<String>,
    },
    /// Something that looks like a model but cannot be used.
    Damaged {
        what: String,
        why: String,
    },
}

/// What one medium holds.
enum Probe {
    Model(Image),
    NotAModel(String),
    Damaged(String),
}

fn probe(medium: Medium) -> Probe {
    let len = medium.len();
    let n = (pack::HEADER_LEN as u64).min(len) as usize;
    let mut first = vec![0u8; n];
    if let Err(e) = medium.read(0, &mut first) {
        return Probe::Damaged(format!("could not be read: {e}"));
    }
    if first.starts_with(pack::MAGIC) {
        return match Header::parse(&first, len) {
            Ok(h) => Probe::Model(Image {
                medium,
                gguf_offset: h.gguf_offset,
                gguf_len: h.gguf_len,
                header: Some(h),
            }),
            Err(PackError::OutOfBounds { what, end, len }) => Probe::Damaged(format!(
                "model pack truncated: its {what} ends at byte {end} but the medium has only {len} bytes"
            )),
            Err(e) => Probe::Damaged(format!("{e}")),
        };
    }
    if first.starts_with(b"GGUF") {
        return Probe::Model(Image {
            medium,
            header: None,
            gguf_offset: 0,
            gguf_len: len,
        });
    }
    if len == 0 {
        return Probe::NotAModel(String::from("empty"));
    }
    Probe::NotAModel(String::from("no model pack header or GGUF magic"))
}

/// Looks at every disk, then the ramdisk.
pub fn search() -> Search {
    let mut media: Vec<Medium> = blk::disks().iter().map(Medium::Disk).collect();
    if let Some(r) = crate::mm::ramdisk::bytes() {
        media.push(Medium::Ramdisk(r));
    }
    let mut looked = Vec::new();
    let mut damaged = None;
    for m in media {
        match probe(m) {
            Probe::Model(image) => return Search::Found(image),
            Probe::NotAModel(why) => {
                looked.push(format!("{} ({}): {why}", m.describe(), Bytes(m.len())))
            }
            Probe::Damaged(why) => {
                if damaged.is_none() {
                    damaged = Some((m.describe(), why));
                }
            }
        }
    }
    match damaged {
        Some((what, why)) => Search::Damaged { what, why },
        None => Search::Nothing { looked },
    }
}

/// A one-line description of what `disk` holds, for `/disks`.
pub fn describe_disk(disk: &'static Disk) -> String {
    match probe(Medium::Disk(disk)) {
        Probe::Model(i) => match i.pack_name() {
            Some(name) => format!("model pack `{name}` (GGUF {})", Bytes(i.gguf_len)),
            None => String::from("raw GGUF file"),
        },
        Probe::NotAModel(why) => format!("not a model ({why})"),
        Probe::Damaged(why) => format!("damaged model: {why}"),
    }
}
