//! A launch command as shell words. The command is split where the shell would split it
//! (at blanks outside quotes), and each word keeps the text the user wrote, so changing
//! one flag leaves every other word exactly as it was: quotes, `&&`, `$IMAGE`,
//! `{placeholders}`. What a word means (its text with the quotes taken off) comes from
//! `shell-words`; a new value is quoted only when the shell needs it.

/// One shell word: the text as written and what the shell makes of it.
#[derive(Debug, Clone, PartialEq)]
struct Word {
    raw: String,
    value: String,
}

impl Word {
    fn written(raw: String) -> Self {
        // A word whose quotes do not close (only a command the config check let through
        // by mistake has one) means what it says.
        let value = match shell_words::split(&raw) {
            Ok(mut parts) if parts.len() == 1 => parts.remove(0),
            _ => raw.clone(),
        };
        Word { raw, value }
    }

    fn new(value: &str) -> Self {
        Word {
            raw: quote(value),
            value: value.to_owned(),
        }
    }
}

/// A command line split into shell words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommandWords {
    words: Vec<Word>,
}

impl CommandWords {
    /// Splits `command` at blanks outside quotes and backslash escapes.
    pub(crate) fn parse(command: &str) -> Self {
        let mut words = Vec::new();
        let mut current = String::new();
        let mut quote: Option<char> = None;
        let mut escaped = false;
        for c in command.chars() {
            if escaped {
                current.push(c);
                escaped = false;
                continue;
            }
            match (quote, c) {
                (Some('\''), '\'') => quote = None,
                (Some('\''), _) => {}
                (_, '\\') => escaped = true,
                (Some('"'), '"') => quote = None,
                (None, '\'' | '"') => quote = Some(c),
                (None, c) if c.is_whitespace() => {
                    if !current.is_empty() {
                        words.push(Word::written(std::mem::take(&mut current)));
                    }
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        if !current.is_empty() {
            words.push(Word::written(current));
        }
        CommandWords { words }
    }

    /// How many words there are.
    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    /// What word `i` means, quotes taken off.
    pub(crate) fn value(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(|w| w.value.as_str())
    }

    /// Every word's meaning, in order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(|w| w.value.as_str())
    }

    /// Sets word `i` to `value` (quoted as needed).
    pub(crate) fn set(&mut self, i: usize, value: &str) {
        if let Some(word) = self.words.get_mut(i) {
            *word = Word::new(value);
        }
    }

    /// Sets word `i` to `prefix` followed by `value`, quoting only the value: the form
    /// of `--flag=value` and of `NAME=value` (a quoted `'NAME=a b'` would be a command
    /// name, not an assignment).
    pub(crate) fn set_after(&mut self, i: usize, prefix: &str, value: &str) {
        if let Some(word) = self.words.get_mut(i) {
            *word = Word {
                raw: format!("{prefix}{}", quote(value)),
                value: format!("{prefix}{value}"),
            };
        }
    }

    /// Puts `value` before word `i` (at the end when `i` is past it).
    pub(crate) fn insert(&mut self, i: usize, value: &str) {
        let i = i.min(self.words.len());
        self.words.insert(i, Word::new(value));
    }

    /// Appends `value`.
    pub(crate) fn push(&mut self, value: &str) {
        self.words.push(Word::new(value));
    }

    /// Keeps only the words whose meaning passes `keep`.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.words.retain(|w| keep(&w.value));
    }

    /// The command again: words as written, one space between them.
    pub(crate) fn join(&self) -> String {
        self.words
            .iter()
            .map(|w| w.raw.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether `command` has a quote that never closes (the shell would refuse it).
pub(crate) fn unbalanced_quotes(command: &str) -> bool {
    shell_words::split(command).is_err()
}

/// A value as one shell word; plain words stay readable.
pub(crate) fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:=+,".contains(c));
    if plain {
        value.to_owned()
    } else {
        autoresearch_jobs::shell_quote(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words_keep_their_text_and_their_meaning() {
        let words = CommandWords::parse(
            r#"cd "/src/my job" && {python} train.py --data-dir '/data/my set' --tag=a\ b"#,
        );
        let values: Vec<&str> = words.values().collect();
        assert_eq!(
            values,
            [
                "cd",
                "/src/my job",
                "&&",
                "{python}",
                "train.py",
                "--data-dir",
                "/data/my set",
                "--tag=a b"
            ]
        );
        assert_eq!(
            words.join(),
            r#"cd "/src/my job" && {python} train.py --data-dir '/data/my set' --tag=a\ b"#
        );
    }

    #[test]
    fn a_changed_word_is_quoted_only_when_the_shell_needs_it() {
        let mut words = CommandWords::parse("python train.py --name x");
        words.set(3, "two words");
        words.push("--batch-size");
        words.push("16");
        assert_eq!(
            words.join(),
            "python train.py --name 'two words' --batch-size 16"
        );
        assert_eq!(words.len(), 6);
        words.set_after(0, "LOADER_THREADS=", "a b");
        assert_eq!(words.value(0), Some("LOADER_THREADS=a b"));
        assert!(words.join().starts_with("LOADER_THREADS='a b' train.py"));
        assert!(unbalanced_quotes("python train.py --name 'x"));
        assert!(!unbalanced_quotes("python train.py --name 'x y'"));
    }
}
