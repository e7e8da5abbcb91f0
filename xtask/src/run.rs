//! `cargo xtask run`.

use anyhow::{bail, Result};

pub fn main(_args: Vec<String>) -> Result<()> {
    bail!("`cargo xtask run` is not implemented yet")
}
