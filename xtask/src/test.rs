//! `cargo xtask test`.

use anyhow::{bail, Result};

pub fn main(_args: Vec<String>) -> Result<()> {
    bail!("`cargo xtask test` is not implemented yet")
}
