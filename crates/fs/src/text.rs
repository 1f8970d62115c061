//! Text cut to a size without splitting a character.

/// At most the last `max` bytes of `text`, starting on a character boundary.
pub fn tail(text: &str, max: usize) -> &str {
    let start = text.ceil_char_boundary(text.len().saturating_sub(max));
    &text[start..]
}

/// At most the first `max` bytes of `text`, ending on a character boundary.
pub fn head(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

/// `text` cut to about `max` bytes at a line boundary, with a note of how much was left
/// out; shorter text is returned whole.
pub fn truncate_lines(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let kept = head(text, max);
    let cut = kept.rfind('\n').unwrap_or(kept.len());
    format!("{}\n[… {} more bytes]", &text[..cut], text.len() - cut)
}
