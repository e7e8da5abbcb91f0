//! `cargo xtask image`.

use anyhow::{bail, Result};

pub fn main(_args: Vec<String>) -> Result<()> {
    bail!("`cargo xtask image` is not implemented yet")
}
