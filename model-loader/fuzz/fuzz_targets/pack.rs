//! A model pack image from nobody knows where: the header (with the image
//! length the input gives, or the real one), the prefix section and its
//! saved KV cache restored into a small cache. Errors, never panics; and
//! what the header accepts lies inside the image.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_loader::kv::KvCache;
use model_loader::pack::{Header, Prefix, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes: the image length claimed by the disk (or, when
    // zero, the length of the input).
    if data.len() < 8 {
        return;
    }
    let (len, image) = data.split_at(8);
    let len = match u64::from_le_bytes(len.try_into().unwrap()) {
        0 => image.len() as u64,
        n => n,
    };
    match Header::parse(image, len) {
        Ok(h) => {
            assert!(h.gguf_offset >= HEADER_LEN as u64);
            assert!(h
                .gguf_offset
                .checked_add(h.gguf_len)
                .is_some_and(|e| e <= len));
            if h.prefix_len != 0 {
                assert!(h
                    .prefix_offset
                    .checked_add(h.prefix_len)
                    .is_some_and(|e| e <= len));
            }
            let _ = h.image_len();
            let _ = h.to_bytes();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // The prefix section: the input itself, and after a header's worth.
    for section in [image, image.get(HEADER_LEN..).unwrap_or(&[])] {
        match Prefix::parse(section) {
            Ok(p) => {
                let _ = p.to_bytes();
                let mut kv = KvCache::new(2, 2, 4, 16);
                if let Err(e) = kv.deserialize_into(p.kv) {
                    let _ = e.to_string();
                } else {
                    assert!(kv.n_tokens() <= kv.n_ctx());
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
