//! Node ids: `NNN_name`, safe in paths and job names.

/// Longest sanitised name.
pub const MAX_NAME_LEN: usize = 40;

/// Lower-case ASCII letters, digits and `_` only (other characters become `_`, runs of
/// `_` collapse), at most 40 characters, never empty.
pub fn sanitize_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_NAME_LEN));
    for c in raw.trim().chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
        if out.len() == MAX_NAME_LEN {
            break;
        }
    }
    let trimmed = out.trim_end_matches('_');
    if trimmed.is_empty() {
        "experiment".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The numeric prefix of an id (`"012_mtp"` → 12).
pub fn id_number(id: &str) -> Option<u64> {
    id.split_once('_').and_then(|(n, _)| n.parse().ok())
}

/// `NNN_name` from a counter value and a sanitised name.
pub fn make_id(counter: u64, name: &str) -> String {
    format!("{counter:03}_{name}")
}
