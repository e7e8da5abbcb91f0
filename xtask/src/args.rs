//! A tiny command-line parser shared by the subcommands (no clap: xtask must
//! build fast on a fresh machine).

use anyhow::{bail, Context, Result};

/// Arguments left after the subcommand name, consumed flag by flag.
pub struct Args {
    rest: Vec<String>,
}

impl Args {
    pub fn new(rest: Vec<String>) -> Self {
        Args { rest }
    }

    /// Removes `--name` if present.
    pub fn flag(&mut self, name: &str) -> bool {
        if let Some(i) = self.rest.iter().position(|a| a == name) {
            self.rest.remove(i);
            true
        } else {
            false
        }
    }

    /// Removes `--name VALUE` (or `--name=VALUE`) and returns VALUE.
    pub fn value(&mut self, name: &str) -> Result<Option<String>> {
        let prefix = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&prefix)) {
            let a = self.rest.remove(i);
            return Ok(Some(a[prefix.len()..].to_string()));
        }
        if let Some(i) = self.rest.iter().position(|a| a == name) {
            if i + 1 >= self.rest.len() {
                bail!("{name} needs a value");
            }
            self.rest.remove(i);
            return Ok(Some(self.rest.remove(i)));
        }
        Ok(None)
    }

    /// Like [`Args::value`], parsed.
    pub fn parsed<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("bad value `{v}` for {name}")),
        }
    }

    /// Removes and returns the next positional argument.
    pub fn positional(&mut self) -> Option<String> {
        let i = self.rest.iter().position(|a| !a.starts_with("--"))?;
        Some(self.rest.remove(i))
    }

    /// Everything not consumed yet, in order.
    pub fn rest(self) -> Vec<String> {
        self.rest
    }

    /// Fails if anything was not consumed.
    pub fn finish(self) -> Result<()> {
        if !self.rest.is_empty() {
            bail!("unexpected arguments: {}", self.rest.join(" "));
        }
        Ok(())
    }
}
