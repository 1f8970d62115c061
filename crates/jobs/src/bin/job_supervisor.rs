//! For tests: the local job supervisor as a program of its own (the `autoresearch`
//! binary provides the same through its hidden `__supervise-job` subcommand).
//!
//! Usage: `job-supervisor <request.json> <jobs-root>`.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [request, root] = args.as_slice() else {
        return ExitCode::from(2);
    };
    let code = autoresearch_jobs::local::supervise(Path::new(request), Path::new(root));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
