//! `cargo xtask generate`.

use anyhow::{bail, Result};

pub fn main(_args: Vec<String>) -> Result<()> {
    bail!("`cargo xtask generate` is not implemented yet")
}
