//! Garbage, colours, interleaving and truncation never panic or derail the parser.

use std::io::Cursor;

use autoresearch_metrics::Evidence;
use autoresearch_metrics::reader::{MAX_LINE_BYTES, for_each_line};
use proptest::prelude::*;

use crate::support::shared_fixtures;

fn stats_lines() -> Vec<String> {
    std::fs::read_to_string(shared_fixtures().join("baseline_mt.log"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn counts(evidence: &Evidence) -> (usize, usize, usize) {
    let task = evidence
        .stages
        .values()
        .filter(|s| s.task.is_some())
        .count();
    let queue_lines: usize = evidence
        .stages
        .values()
        .map(|s| s.queue_history.len())
        .sum();
    (task, queue_lines, evidence.steps.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let evidence = Evidence::from_reader(Cursor::new(bytes)).unwrap();
        prop_assert!(evidence.steps.len() <= evidence.lines as usize);
    }

    #[test]
    fn noise_between_lines_changes_nothing(seed in any::<u64>()) {
        let lines = stats_lines();
        let clean = Evidence::from_reader(Cursor::new(lines.join("\n"))).unwrap();
        let mut rng = autoresearch_metrics::stats::SplitMix::new(seed);
        let noise = [
            "\u{1b}[31mERROR\u{1b}[0m something broke",
            "[autoresearch] {\"v\":1,\"event\":\"step\",\"step\":",
            "[0:1:fetch[8]_queue]\tProcessed garbage",
            "\u{0}\u{1}\u{2}binary\u{fffd}",
            "[autoresearch] {\"v\":99,\"event\":\"step\",\"step\":1,\"wait_ms\":1,\"compute_ms\":1,\"step_ms\":2}",
        ];
        let mut noisy = String::new();
        for line in &lines {
            for _ in 0..rng.below(3) {
                noisy.push_str(noise[rng.below(noise.len())]);
                noisy.push('\n');
            }
            // Colour some real lines; colour codes must not hide them.
            if rng.below(4) == 0 {
                noisy.push_str("\u{1b}[2m");
                noisy.push_str(line);
                noisy.push_str("\u{1b}[0m\n");
            } else {
                noisy.push_str(line);
                noisy.push('\n');
            }
        }
        let dirty = Evidence::from_reader(Cursor::new(noisy)).unwrap();
        prop_assert_eq!(counts(&dirty), counts(&clean));
        prop_assert_eq!(&dirty.steps, &clean.steps);
    }

    #[test]
    fn any_split_of_the_input_into_reads_gives_the_same_lines(cut in 1usize..200) {
        let text: String = stats_lines().join("\n");
        struct Dribble<'a> { data: &'a [u8], step: usize }
        impl std::io::Read for Dribble<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.step.min(out.len()).min(self.data.len());
                out[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }
        let reader = std::io::BufReader::with_capacity(cut, Dribble { data: text.as_bytes(), step: cut });
        let mut lines = Vec::new();
        for_each_line(reader, |line, _| lines.push(line.to_owned())).unwrap();
        prop_assert_eq!(lines, text.lines().map(str::to_owned).collect::<Vec<_>>());
    }
}

#[test]
fn a_truncated_last_line_and_an_overlong_line_do_not_derail_the_rest() {
    let lines = stats_lines();
    let mut text = String::new();
    text.push_str(&"x".repeat(MAX_LINE_BYTES * 3));
    text.push('\n');
    text.push_str(&lines.join("\n"));
    text.push('\n');
    let last = &lines[lines.len() / 2];
    text.push_str(&last[..last.len() / 2]);
    let clean = Evidence::from_reader(Cursor::new(lines.join("\n") + "\n")).unwrap();
    let dirty = Evidence::from_reader(Cursor::new(text)).unwrap();
    assert_eq!(counts(&dirty), counts(&clean));
    // The overlong line counts as a line; the torn last one does not.
    assert_eq!(dirty.lines, clean.lines + 1);
}
