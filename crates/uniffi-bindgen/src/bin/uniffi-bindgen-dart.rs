//! `uniffi-bindgen-dart` 0.2.0, built inside the workspace so it reads the
//! same uniffi metadata as the other generators.

use std::process::ExitCode;

fn main() -> ExitCode {
    match uniffi_bindgen_dart::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
