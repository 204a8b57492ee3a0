//! `cargo xtask bindings`: the release cdylib and every language's generated
//! sources under `bindings/<lang>/generated/`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::{cargo, on_path, run};

/// The languages `uniffi-bindgen` generates; Dart comes from `uniffi-bindgen-dart`.
const BINDGEN_LANGUAGES: [&str; 3] = ["python", "kotlin", "swift"];

/// `cargo xtask bindings`.
pub(crate) fn command() -> ExitCode {
    match generate(&crate::workspace_root()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("bindings: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The cargo target directory (`$CARGO_TARGET_DIR`, else `target/`).
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The unstripped release cdylib the generators read.
pub(crate) fn release_library(root: &Path) -> PathBuf {
    target_dir(root).join("release").join(cdylib_name())
}

/// `bindings/<language>/generated`.
pub(crate) fn generated_dir(root: &Path, language: &str) -> PathBuf {
    root.join("bindings").join(language).join("generated")
}

/// Builds the release cdylib, generates each language's sources from the
/// unstripped library (a full strip removes UniFFI's metadata), then places a
/// stripped copy of the library beside the Python, Kotlin and Dart sources,
/// which load it at run time.
pub(crate) fn generate(root: &Path) -> Result<(), String> {
    // The cdylib alone: built together with the crate's `lib` and `staticlib`
    // types, the same LTO build comes out 1.1 MB larger (see BENCHMARKS.md).
    let build = ["rustc", "--release", "-p", "authstate-ffi", "--lib", "--crate-type", "cdylib"];
    run(root, cargo(), &build).into_result("building the cdylib")?;
    run(root, cargo(), &["build", "-p", "uniffi-bindgen"]).into_result("building the generators")?;
    let tools = target_dir(root).join("debug");
    let library = release_library(root);
    let library_arg = library.to_string_lossy().into_owned();
    let bindgen = tools.join(format!("uniffi-bindgen{}", env::consts::EXE_SUFFIX));
    for language in BINDGEN_LANGUAGES {
        let out = generated_dir(root, language).to_string_lossy().into_owned();
        let args = [
            "generate",
            "--no-format",
            "--library",
            &library_arg,
            "--language",
            language,
            "--out-dir",
            &out,
            "--config",
            "uniffi.toml",
        ];
        run(root, &bindgen, &args).into_result(&format!("generating {language}"))?;
    }
    let dart_gen = tools.join(format!("uniffi-bindgen-dart{}", env::consts::EXE_SUFFIX));
    let out = generated_dir(root, "dart").to_string_lossy().into_owned();
    let args = [
        "generate",
        &library_arg,
        "--out-dir",
        &out,
        "--config",
        "uniffi.toml",
        "--crate",
        "authstate_ffi",
        "--no-format",
    ];
    run(root, &dart_gen, &args).into_result("generating dart")?;

    for language in ["python", "kotlin", "dart"] {
        place_stripped_copy(root, &library, &generated_dir(root, language))?;
    }
    let stripped = generated_dir(root, "python").join(cdylib_name());
    let size = stripped.metadata().map(|m| m.len()).unwrap_or(0);
    println!("stripped {}: {size} bytes ({:.2} MB; budget 4 MB)", cdylib_name(), size as f64 / 1e6);
    println!("bindings: generated python, kotlin, swift and dart under bindings/<lang>/generated/");
    Ok(())
}

/// Copies `library` into `dir`, stripped, through a temporary file renamed
/// over the old copy: a process that has the old one loaded keeps its
/// mapping instead of crashing on a file rewritten under it.
fn place_stripped_copy(root: &Path, library: &Path, dir: &Path) -> Result<(), String> {
    let staging = dir.join(format!(".{}.new", cdylib_name()));
    std::fs::copy(library, &staging).map_err(|e| format!("copying the cdylib: {e}"))?;
    if on_path("strip") {
        let staging_arg = staging.to_string_lossy().into_owned();
        run(root, "strip", &["--strip-unneeded", &staging_arg]).into_result("stripping the cdylib")?;
    }
    std::fs::rename(&staging, dir.join(cdylib_name())).map_err(|e| format!("placing the cdylib: {e}"))
}

/// The platform's file name for the FFI cdylib.
pub(crate) fn cdylib_name() -> String {
    format!("{}authstate_ffi{}", env::consts::DLL_PREFIX, env::consts::DLL_SUFFIX)
}
