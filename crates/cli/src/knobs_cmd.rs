//! `autoresearch knobs <script>`: the knob table a run would use, without running.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use autoresearch_workflow::knobs;

use crate::{EXIT_FAILURE, EXIT_SUCCESS, EXIT_USAGE, eprint_error};

/// What `knobs` is asked.
pub(crate) struct KnobsRequest<'a> {
    pub script: &'a Path,
    pub added: &'a [String],
    pub frozen: &'a [String],
    pub base_command: Option<&'a str>,
    pub json: bool,
}

pub(crate) fn run(request: &KnobsRequest<'_>) -> ExitCode {
    if !request.script.is_file() {
        eprint_error(&format!(
            "{} is not a file\nhint: pass the training script, as for `run --script`",
            request.script.display()
        ));
        return ExitCode::from(EXIT_USAGE);
    }
    let python = std::env::var_os("AUTORESEARCH_PYTHON")
        .map_or_else(|| std::path::PathBuf::from("python3"), Into::into);
    let runtime = match crate::runtime(false) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let options = match runtime.block_on(knobs::read_options(&python, request.script)) {
        Ok(options) => options,
        Err(err) => {
            eprint_error(&err.to_string());
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let found = match knobs::knobs_from(&options, request.added, request.frozen) {
        Ok(found) => found,
        Err(err) => {
            eprint_error(&err.to_string());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let found = match request.base_command {
        Some(command) => knobs::with_command_defaults(&found, command),
        None => found,
    };
    let text = if request.json {
        match serde_json::to_string_pretty(&found) {
            Ok(json) => json + "\n",
            Err(err) => {
                eprint_error(&format!("cannot write the table as JSON: {err}"));
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else {
        knobs::table_text(&options, &found)
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    ExitCode::from(EXIT_SUCCESS)
}
