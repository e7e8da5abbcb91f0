//! `cargo xtask bench`.

use anyhow::{bail, Result};

pub fn main(_args: Vec<String>) -> Result<()> {
    bail!("`cargo xtask bench` is not implemented yet")
}
