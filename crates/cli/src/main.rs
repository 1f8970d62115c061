//! The `autoresearch` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    autoresearch_cli::run()
}
