//! `cargo xtask models`.

use anyhow::{bail, Result};

pub fn main(_args: Vec<String>) -> Result<()> {
    bail!("`cargo xtask models` is not implemented yet")
}
