//! One engine per work directory.

use std::io::BufRead;
use std::process::{Command, Stdio};

use autoresearch_workflow::{LockError, WorkdirLock};

#[test]
fn a_second_engine_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let lock = WorkdirLock::acquire(dir.path()).unwrap();
    let err = WorkdirLock::acquire(dir.path()).unwrap_err();
    assert!(
        matches!(err, LockError::Held { pid, .. } if pid == std::process::id()),
        "{err}"
    );
    assert!(err.to_string().contains("kill -INT"), "{err}");
    assert_eq!(WorkdirLock::holder(dir.path()), Some(std::process::id()));
    drop(lock);
    assert_eq!(WorkdirLock::holder(dir.path()), None);
    WorkdirLock::acquire(dir.path()).unwrap();
}

#[test]
fn a_lock_left_by_a_killed_engine_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("engine")).unwrap();
    let lock_path = dir.path().join("engine/lock");
    // Another process takes the lock the way an engine does, then is killed.
    let mut holder = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import fcntl, os, sys, time\nf = open({:?}, 'a+')\nfcntl.flock(f, fcntl.LOCK_EX)\nf.truncate(0); f.write(str(os.getpid())); f.flush()\nprint('locked', flush=True)\ntime.sleep(60)\n",
            lock_path.display().to_string()
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let err = WorkdirLock::acquire(dir.path()).unwrap_err();
    assert!(
        matches!(err, LockError::Held { pid, .. } if pid == holder.id()),
        "{err}"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    let lock = WorkdirLock::acquire(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(lock.path()).unwrap().trim(),
        std::process::id().to_string()
    );
}
