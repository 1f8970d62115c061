//! Reading a log line by line with bounded memory, whatever bytes it holds.

use std::io::{BufRead, ErrorKind};

/// Lines longer than this are cut; the rest of such a line is skipped. Real log lines
/// (even SPDL's longest queue lines) are far shorter.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Calls `on_line(line, complete)` for every line of `reader` (without the line ending;
/// invalid UTF-8 replaced; ANSI escape sequences removed). `complete` is false only for
/// a final line without a newline, which may be torn (or still being written). Memory
/// use is bounded by [`MAX_LINE_BYTES`] whatever the input.
pub fn for_each_line<R: BufRead>(
    mut reader: R,
    mut on_line: impl FnMut(&str, bool),
) -> std::io::Result<()> {
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    let mut overlong = false;
    let mut cleaned = String::with_capacity(1024);
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buffer.is_empty() {
            if !line.is_empty() {
                emit(&line, &mut cleaned, &mut |text: &str| on_line(text, false));
            }
            return Ok(());
        }
        let (chunk, consumed, complete) = match buffer.iter().position(|b| *b == b'\n') {
            Some(end) => (&buffer[..end], end + 1, true),
            None => (buffer, buffer.len(), false),
        };
        if !overlong {
            let room = MAX_LINE_BYTES.saturating_sub(line.len());
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            overlong = chunk.len() > room;
        }
        reader.consume(consumed);
        if complete {
            emit(&line, &mut cleaned, &mut |text: &str| on_line(text, true));
            line.clear();
            overlong = false;
        }
    }
}

fn emit(raw: &[u8], cleaned: &mut String, on_line: &mut impl FnMut(&str)) {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let text = String::from_utf8_lossy(raw);
    if text.contains('\u{1b}') {
        strip_ansi(&text, cleaned);
        on_line(cleaned);
    } else {
        on_line(&text);
    }
}

/// Removes ANSI escape sequences (colours, cursor moves) from `text` into `out`.
pub fn strip_ansi(text: &str, out: &mut String) {
    out.clear();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                // CSI: parameters and intermediates, then one final byte in @..~.
                for next in chars.by_ref() {
                    if ('@'..='~').contains(&next) {
                        break;
                    }
                }
            }
            Some(']') => {
                chars.next();
                // OSC: up to BEL or ESC \.
                while let Some(next) = chars.next() {
                    if next == '\u{7}' {
                        break;
                    }
                    if next == '\u{1b}' {
                        chars.next();
                        break;
                    }
                }
            }
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
}
