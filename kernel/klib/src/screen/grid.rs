//! The text on the screen: a grid of cells written through the same byte
//! stream as the serial console (text, CR, LF, backspace, tab, and the
//! few ANSI sequences the kernel emits: SGR colours, erase, cursor moves).
//!
//! It remembers which cells of each row changed since the last
//! [`TextGrid::take_dirty`] (one column span per row) and how many lines
//! scrolled off the top, so a renderer redraws only what changed (typing
//! one character redraws two cells) and can shift its pixels instead of
//! redrawing everything.

use alloc::vec;
use alloc::vec::Vec;

/// A text colour: the eight ANSI colours, or the default foreground.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Colour {
    #[default]
    Default,
    Black,
    Red,
    Green,
    Yellow,
    Blue,
    Magenta,
    Cyan,
    White,
}

/// How a cell is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Attr {
    pub fg: Colour,
    pub bold: bool,
    pub dim: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub ch: char,
    pub attr: Attr,
}

impl Cell {
    pub const BLANK: Cell = Cell {
        ch: ' ',
        attr: Attr {
            fg: Colour::Default,
            bold: false,
            dim: false,
        },
    };
}

/// The changed columns `from..to` of a row (empty: unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub from: usize,
    pub to: usize,
}

impl Span {
    pub const CLEAN: Span = Span {
        from: usize::MAX,
        to: 0,
    };

    pub fn is_empty(&self) -> bool {
        self.from >= self.to
    }

    fn add(&mut self, from: usize, to: usize) {
        self.from = self.from.min(from);
        self.to = self.to.max(to);
    }
}

/// Escape-sequence parser state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parse {
    Ground,
    Escape,
    /// Inside `ESC [`: up to 8 numeric parameters.
    Csi {
        params: [u16; 8],
        count: usize,
        has_digit: bool,
    },
}

pub struct TextGrid {
    cols: usize,
    rows: usize,
    cells: Vec<Cell>,
    col: usize,
    row: usize,
    /// The last column was written: the next printable wraps first.
    wrap_pending: bool,
    attr: Attr,
    parse: Parse,
    dirty: Vec<Span>,
    scrolled: usize,
}

impl TextGrid {
    /// An empty grid (at least 1x1).
    pub fn new(cols: usize, rows: usize) -> TextGrid {
        let (cols, rows) = (cols.max(1), rows.max(1));
        TextGrid {
            cols,
            rows,
            cells: vec![Cell::BLANK; cols * rows],
            col: 0,
            row: 0,
            wrap_pending: false,
            attr: Attr::default(),
            parse: Parse::Ground,
            dirty: vec![Span { from: 0, to: cols }; rows],
            scrolled: 0,
        }
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The cursor as (column, row).
    pub fn cursor(&self) -> (usize, usize) {
        (self.col.min(self.cols - 1), self.row)
    }

    pub fn cell(&self, col: usize, row: usize) -> Cell {
        self.cells[row * self.cols + col]
    }

    /// The characters of `row`, trailing blanks removed (for tests).
    pub fn row_text(&self, row: usize) -> alloc::string::String {
        let s: alloc::string::String = self.cells[row * self.cols..(row + 1) * self.cols]
            .iter()
            .map(|c| c.ch)
            .collect();
        s.trim_end().into()
    }

    /// Lines scrolled off the top since the last call (at most `rows`).
    pub fn take_scrolled(&mut self) -> usize {
        core::mem::take(&mut self.scrolled)
    }

    /// The changed columns of each row since the last call; clears them.
    pub fn take_dirty(&mut self) -> Vec<Span> {
        core::mem::replace(&mut self.dirty, vec![Span::CLEAN; self.rows])
    }

    /// Whether anything changed since the last [`Self::take_dirty`].
    pub fn is_dirty(&self) -> bool {
        self.scrolled > 0 || self.dirty.iter().any(|d| !d.is_empty())
    }

    fn mark(&mut self, row: usize, from: usize, to: usize) {
        self.dirty[row].add(from, to.min(self.cols));
    }

    fn mark_row(&mut self, row: usize) {
        self.dirty[row] = Span {
            from: 0,
            to: self.cols,
        };
    }

    /// The cursor is drawn on its cell: mark where it is.
    fn mark_cursor(&mut self) {
        let c = self.col.min(self.cols - 1);
        self.mark(self.row, c, c + 1);
    }

    /// Feeds text as the console writes it.
    pub fn write(&mut self, s: &str) {
        // The cursor is drawn on its cell: the old and new cell change.
        self.mark_cursor();
        for c in s.chars() {
            self.feed(c);
        }
        self.mark_cursor();
    }

    fn feed(&mut self, c: char) {
        match self.parse {
            Parse::Ground => self.ground(c),
            Parse::Escape => {
                self.parse = if c == '[' {
                    Parse::Csi {
                        params: [0; 8],
                        count: 0,
                        has_digit: false,
                    }
                } else {
                    // `ESC x` that we do not know: dropped with its letter.
                    Parse::Ground
                };
            }
            Parse::Csi {
                mut params,
                mut count,
                mut has_digit,
            } => {
                if let Some(d) = c.to_digit(10) {
                    if count < params.len() {
                        params[count] = params[count].saturating_mul(10).saturating_add(d as u16);
                    }
                    has_digit = true;
                    self.parse = Parse::Csi {
                        params,
                        count,
                        has_digit,
                    };
                } else if c == ';' {
                    count += 1;
                    self.parse = Parse::Csi {
                        params,
                        count,
                        has_digit: false,
                    };
                } else if ('\x40'..='\x7e').contains(&c) {
                    let n = if has_digit || count > 0 {
                        (count + 1).min(params.len())
                    } else {
                        0
                    };
                    self.parse = Parse::Ground;
                    self.csi(c, &params[..n]);
                } else if c.is_control() || !c.is_ascii() {
                    // A broken sequence: give up on it.
                    self.parse = Parse::Ground;
                }
            }
        }
    }

    fn ground(&mut self, c: char) {
        match c {
            '\x1b' => self.parse = Parse::Escape,
            '\r' => {
                self.col = 0;
                self.wrap_pending = false;
            }
            '\n' => {
                self.wrap_pending = false;
                self.line_feed();
            }
            '\x08' => {
                if self.wrap_pending {
                    self.wrap_pending = false;
                } else {
                    self.col = self.col.saturating_sub(1);
                }
            }
            '\t' => {
                let next = (self.col / 8 + 1) * 8;
                self.col = next.min(self.cols - 1);
            }
            c if c.is_control() => {}
            c => self.put(c),
        }
    }

    fn put(&mut self, c: char) {
        if self.wrap_pending {
            self.wrap_pending = false;
            self.col = 0;
            self.line_feed();
        }
        let i = self.row * self.cols + self.col;
        self.cells[i] = Cell {
            ch: c,
            attr: self.attr,
        };
        self.mark(self.row, self.col, self.col + 1);
        if self.col + 1 == self.cols {
            self.wrap_pending = true;
        } else {
            self.col += 1;
        }
    }

    fn line_feed(&mut self) {
        if self.row + 1 == self.rows {
            self.scroll_up();
        } else {
            self.row += 1;
        }
    }

    fn scroll_up(&mut self) {
        self.cells.copy_within(self.cols.., 0);
        let last = (self.rows - 1) * self.cols;
        self.cells[last..].fill(Cell::BLANK);
        self.dirty.rotate_left(1);
        self.mark_row(self.rows - 1);
        self.scrolled = (self.scrolled + 1).min(self.rows);
        if self.scrolled == self.rows {
            for row in 0..self.rows {
                self.mark_row(row);
            }
        }
    }

    fn clear_cells(&mut self, from: usize, to: usize) {
        self.cells[from..to].fill(Cell::BLANK);
    }

    fn csi(&mut self, op: char, params: &[u16]) {
        let n = params.first().copied().unwrap_or(0).max(1) as usize;
        match op {
            'm' => self.sgr(params),
            'K' => {
                let start = self.row * self.cols;
                let (from, to) = match params.first().copied().unwrap_or(0) {
                    0 => (start + self.col.min(self.cols), start + self.cols),
                    1 => (start, start + (self.col + 1).min(self.cols)),
                    _ => (start, start + self.cols),
                };
                self.clear_cells(from, to);
                self.mark(self.row, from - start, to - start);
            }
            'J' => {
                if params.first().copied().unwrap_or(0) >= 2 {
                    self.clear_cells(0, self.cells.len());
                    for row in 0..self.rows {
                        self.mark_row(row);
                    }
                } else {
                    let from = self.row * self.cols + self.col.min(self.cols);
                    let len = self.cells.len();
                    self.clear_cells(from, len);
                    self.mark(self.row, self.col.min(self.cols), self.cols);
                    for row in self.row + 1..self.rows {
                        self.mark_row(row);
                    }
                }
            }
            'C' => {
                self.col = (self.col + n).min(self.cols - 1);
                self.wrap_pending = false;
            }
            'D' => {
                self.col = self.col.min(self.cols - 1).saturating_sub(n);
                self.wrap_pending = false;
            }
            'A' | 'B' | 'H' | 'f' => {
                match op {
                    'A' => self.row = self.row.saturating_sub(n),
                    'B' => self.row = (self.row + n).min(self.rows - 1),
                    _ => {
                        let at = |i: usize| params.get(i).copied().unwrap_or(1).max(1) as usize - 1;
                        self.row = at(0).min(self.rows - 1);
                        self.col = at(1).min(self.cols - 1);
                    }
                }
                self.wrap_pending = false;
            }
            _ => {}
        }
    }

    fn sgr(&mut self, params: &[u16]) {
        if params.is_empty() {
            self.attr = Attr::default();
            return;
        }
        for &p in params {
            match p {
                0 => self.attr = Attr::default(),
                1 => self.attr.bold = true,
                2 => self.attr.dim = true,
                22 => {
                    self.attr.bold = false;
                    self.attr.dim = false;
                }
                30..=37 => {
                    self.attr.fg = [
                        Colour::Black,
                        Colour::Red,
                        Colour::Green,
                        Colour::Yellow,
                        Colour::Blue,
                        Colour::Magenta,
                        Colour::Cyan,
                        Colour::White,
                    ][(p - 30) as usize]
                }
                39 => self.attr.fg = Colour::Default,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_and_scrolls() {
        let mut g = TextGrid::new(4, 2);
        g.take_dirty();
        g.write("abcdef");
        assert_eq!(g.row_text(0), "abcd");
        assert_eq!(g.row_text(1), "ef");
        assert_eq!(g.cursor(), (2, 1));
        g.write("\r\nxy");
        assert_eq!(g.take_scrolled(), 1);
        assert_eq!(g.row_text(0), "ef");
        assert_eq!(g.row_text(1), "xy");
        assert_eq!(rows_dirty(&mut g), vec![true, true]);
        assert_eq!(g.take_scrolled(), 0);
    }

    #[test]
    fn a_full_line_then_crlf_makes_no_blank_line() {
        let mut g = TextGrid::new(4, 3);
        g.write("abcd\r\nef");
        assert_eq!(g.row_text(0), "abcd");
        assert_eq!(g.row_text(1), "ef");
    }

    fn rows_dirty(g: &mut TextGrid) -> Vec<bool> {
        g.take_dirty().iter().map(|s| !s.is_empty()).collect()
    }

    #[test]
    fn only_changed_cells_are_dirty() {
        let mut g = TextGrid::new(10, 5);
        g.write("one\r\ntwo\r\n");
        g.take_dirty();
        g.write("x");
        assert_eq!(rows_dirty(&mut g), vec![false, false, true, false, false]);
        g.write("\r\n");
        assert_eq!(rows_dirty(&mut g), vec![false, false, true, true, false]);
        // Typing one character: that cell and the cursor's next cell.
        g.write("abc");
        g.take_dirty();
        g.write("d");
        assert_eq!(g.take_dirty()[3], Span { from: 3, to: 5 });
        // Erasing to the end of the line from column 1.
        g.write("\x1b[3D\x1b[K");
        assert_eq!(g.take_dirty()[3], Span { from: 1, to: 10 });
        assert!(!g.is_dirty());
    }

    #[test]
    fn line_editor_sequences() {
        let mut g = TextGrid::new(20, 2);
        // Type "/hlp", go left 2, insert "e" (editor redraws the tail).
        g.write("llm> /hlp\x1b[2D");
        assert_eq!(g.cursor(), (7, 0));
        g.write("elp\x1b[K\x1b[2D");
        assert_eq!(g.row_text(0), "llm> /help");
        assert_eq!(g.cursor(), (8, 0));
        g.write("\x1b[3C\x08\x08\x1b[K");
        assert_eq!(g.row_text(0), "llm> /hel");
        g.write("\r\x1b[Kdone");
        assert_eq!(g.row_text(0), "done");
    }

    #[test]
    fn colours_and_reset() {
        let mut g = TextGrid::new(20, 1);
        g.write("\x1b[1;32mA\x1b[0mB\x1b[2mC\x1b[22;31mD\x1b[mE");
        let attr = |i| g.cell(i, 0).attr;
        assert_eq!(
            attr(0),
            Attr {
                fg: Colour::Green,
                bold: true,
                dim: false
            }
        );
        assert_eq!(attr(1), Attr::default());
        assert!(attr(2).dim);
        assert_eq!(attr(3).fg, Colour::Red);
        assert!(!attr(3).dim);
        assert_eq!(attr(4), Attr::default());
    }

    #[test]
    fn garbage_sequences_do_not_break_it() {
        let mut g = TextGrid::new(10, 3);
        g.write("a\x1b[99;99;99;99;99;99;99;99;99;99Zb\x1bxc\x1b[123456789999Xd\x1b[\x07e");
        assert_eq!(g.row_text(0), "abcde");
        g.write("\x1b[99A\x1b[99B\x1b[99D\x1b[99C\x1b[1;1H\x1b[2J");
        assert_eq!(g.row_text(0), "");
        assert_eq!(g.cursor(), (0, 0));
    }

    #[test]
    fn a_whole_screen_of_scrolling_dirties_every_row() {
        let mut g = TextGrid::new(5, 3);
        g.take_dirty();
        g.write("1\n2\n3\n4\n5\n6\n");
        assert_eq!(g.take_scrolled(), 3);
        assert_eq!(rows_dirty(&mut g), vec![true, true, true]);
    }
}
