//! Cutting text never splits a character.

use autoresearch_fs::text::{head, tail, truncate_lines};

#[test]
fn cuts_fall_on_character_boundaries() {
    let text = "aé€😀z";
    for max in 0..=text.len() + 1 {
        let end = tail(text, max);
        let start = head(text, max);
        assert!(end.len() <= max && text.ends_with(end), "{max}: {end}");
        assert!(
            start.len() <= max && text.starts_with(start),
            "{max}: {start}"
        );
    }
    assert_eq!(tail(text, 5), "😀z");
    assert_eq!(head(text, 4), "aé");
}

#[test]
fn truncation_cuts_at_a_line_and_says_how_much_is_left_out() {
    assert_eq!(truncate_lines("short", 10), "short");
    let text = "line one\nline two\nline three";
    assert_eq!(truncate_lines(text, 12), "line one\n[… 20 more bytes]");
    assert_eq!(truncate_lines("ééééé", 5), "éé\n[… 6 more bytes]");
}
