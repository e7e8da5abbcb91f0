//! Stripping terminal escape sequences from serial output, so tests match
//! on the text a user would read.

/// `text` without ANSI escape sequences (CSI `ESC [ ... final`, and other
/// two-byte `ESC x` sequences) and without carriage returns.
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if let Some('[') = chars.next() {
                    // Parameters and intermediates, then one final byte.
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if ('\x40'..='\x7e').contains(&n) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn removes_colours_and_cursor_moves() {
        assert_eq!(strip("\x1b[1;32mllm> \x1b[0m/mem\r\n"), "llm> /mem\n");
        assert_eq!(strip("ab\x1b[3Dc\x1b[K"), "abc");
        assert_eq!(strip("\x1b[2J\x1b[01;01H\x1b[=3hBds"), "Bds");
        assert_eq!(strip("plain"), "plain");
        assert_eq!(strip("trailing \x1b"), "trailing ");
    }
}
