//! A minimal flag parser for the subcommands: `--name VALUE` options and
//! `--flag` switches anywhere, the rest positional.

use std::str::FromStr;

pub struct Flags {
    args: Vec<String>,
}

impl Flags {
    pub fn new(args: &[String]) -> Flags {
        Flags {
            args: args.to_vec(),
        }
    }

    /// Removes `name VALUE`; an error if the value is missing.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        let Some(i) = self.args.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.args.len() {
            return Err(format!("{name} needs a value"));
        }
        let v = self.args.remove(i + 1);
        self.args.remove(i);
        Ok(Some(v))
    }

    /// Removes and parses `name VALUE`.
    pub fn parsed<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}: bad value {v:?}")),
        }
    }

    /// Removes a switch; whether it was there.
    pub fn switch(&mut self, name: &str) -> bool {
        match self.args.iter().position(|a| a == name) {
            Some(i) => {
                self.args.remove(i);
                true
            }
            None => false,
        }
    }

    /// The positional arguments, exactly `n` of them; unknown flags are
    /// errors.
    pub fn positional(self, n: usize) -> Result<Vec<String>, String> {
        if let Some(f) = self.args.iter().find(|a| a.starts_with("--")) {
            return Err(format!("unknown option {f}"));
        }
        if self.args.len() != n {
            return Err(format!(
                "expected {n} argument{}, got {}",
                if n == 1 { "" } else { "s" },
                self.args.len()
            ));
        }
        Ok(self.args)
    }
}
