//! Property tests: the queue's order, and checkpoint round trips.

use autoresearch_runner_core::{
    Checkpoint, CheckpointStatus, QueuedSpec, SpecQueue, SpecRecord, WorkSpec, checkpoint,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Push { id: u8, priority: i8, resumed: bool },
    Pop,
    Remove { id: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..40, -3i8..3, proptest::bool::weighted(0.2))
            .prop_map(|(id, priority, resumed)| Op::Push { id, priority, resumed }),
        2 => Just(Op::Pop),
        1 => (0u8..40).prop_map(|id| Op::Remove { id }),
    ]
}

proptest! {
    #[test]
    fn the_queue_pops_resumed_first_then_lowest_priority_then_oldest(ops in proptest::collection::vec(op(), 0..200)) {
        let mut queue = SpecQueue::new();
        // The model: (class, priority, arrival, id), popped by minimum.
        let mut model: Vec<(u8, i8, usize, String)> = Vec::new();
        for (arrival, op) in ops.into_iter().enumerate() {
            match op {
                Op::Push { id, priority, resumed } => {
                    let id = format!("s{id}");
                    let pushed = queue.push(QueuedSpec {
                        spec: WorkSpec::new(id.clone(), f64::from(priority)),
                        attempts: 0,
                        resumed,
                    });
                    let duplicate = model.iter().any(|entry| entry.3 == id);
                    prop_assert_eq!(pushed.is_err(), duplicate);
                    if !duplicate {
                        model.push((u8::from(!resumed), priority, arrival, id));
                    }
                }
                Op::Pop => {
                    let expected = model
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, entry)| (entry.0, entry.1, entry.2))
                        .map(|(index, _)| index);
                    let popped = queue.pop().map(|q| q.spec.id);
                    let expected = expected.map(|index| model.remove(index).3);
                    prop_assert_eq!(popped, expected);
                }
                Op::Remove { id } => {
                    let id = format!("s{id}");
                    let removed = queue.remove(&id).is_some();
                    let position = model.iter().position(|entry| entry.3 == id);
                    prop_assert_eq!(removed, position.is_some());
                    if let Some(position) = position {
                        model.remove(position);
                    }
                }
            }
            prop_assert_eq!(queue.len(), model.len());
        }
        // What is left iterates in pop order.
        model.sort_by_key(|entry| (entry.0, entry.1, entry.2));
        let rest: Vec<String> = queue.iter().map(|q| q.spec.id.clone()).collect();
        let expected: Vec<String> = model.into_iter().map(|entry| entry.3).collect();
        prop_assert_eq!(rest, expected);
    }

    #[test]
    fn a_stored_checkpoint_loads_back_unchanged(
        queued in proptest::collection::btree_map("[a-z]{1,6}", (-1e6f64..1e6, 0u32..3), 0..20),
        running in proptest::collection::btree_map("[A-Z]{1,6}", (-1e6f64..1e6, 1u32..4), 0..5),
        payload in "[ -~]{0,20}",
    ) {
        let record = |(id, (priority, attempts)): (String, (f64, u32))| {
            SpecRecord::new(
                WorkSpec::new(id, priority)
                    .with_kind("k")
                    .with_payload(serde_json::json!({ "text": payload.clone() })),
                attempts,
            )
        };
        let mut original = Checkpoint::empty(CheckpointStatus::Interrupted);
        original.queued = queued.into_iter().map(record).collect();
        original.running = running.into_iter().map(record).collect();
        let dir = tempfile::tempdir().unwrap();
        checkpoint::store(dir.path(), &original).unwrap();
        let loaded = checkpoint::load(dir.path()).unwrap().unwrap();
        // Order within equal priorities is arrival; across priorities the queue sorts.
        let mut expected_queued = original.queued.clone();
        expected_queued.sort_by(|a, b| a.priority.total_cmp(&b.priority));
        let mut expected_running = original.running.clone();
        expected_running.sort_by(|a, b| a.priority.total_cmp(&b.priority));
        prop_assert_eq!(loaded.queued, expected_queued);
        prop_assert_eq!(loaded.running, expected_running);
        prop_assert_eq!(loaded.status, CheckpointStatus::Interrupted);
    }
}
