//! Layer 4a: the Swift bindings. Everywhere (no Swift toolchain needed):
//! every function the generated `authstateFFI.h` declares is exported by the
//! release cdylib, the header compiles as C, and the public API of the
//! generated `AuthState.swift` matches `bindings/swift/api.txt`. Where `swift`
//! is on PATH, `swift test` then runs the XCTest suite in `bindings/swift`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::symbols::{self, Head};
use crate::{Outcome, bindings, missing_tool, run, run_with};

/// The committed snapshot of the generated public API.
const SNAPSHOT: &str = "bindings/swift/api.txt";
const HEADER: &str = "authstateFFI.h";
const SOURCE: &str = "AuthState.swift";

/// Runs the static checks, then `swift test` when Swift is installed.
pub(crate) fn layer(root: &Path) -> Outcome {
    symbols::then_toolchain(static_checks(root), "swift", missing_tool("swift"), || swift_test(root))
}

/// The checks that need only nm and gcc; generates the bindings first.
pub(crate) fn static_checks(root: &Path) -> Outcome {
    if let Some(why) = symbols::missing_tools(&["nm", "gcc"]) {
        return Outcome::Skipped(why);
    }
    if let Err(why) = symbols::ensure_generated(root) {
        return Outcome::Failed(why);
    }
    let dir = bindings::generated_dir(root, "swift");
    let exported = || {
        let header = symbols::read(&dir.join(HEADER))?;
        let exports = symbols::exported(&bindings::release_library(root))?;
        symbols::check_symbols("Swift header", &header_symbols(&header), &exports, &[])
    };
    let compiles = || compile_header(root, &dir);
    let snapshot = || {
        let source = symbols::read(&dir.join(SOURCE))?;
        symbols::check_snapshot(root, SNAPSHOT, "bindings/swift/generated/AuthState.swift", &api(&source))
    };
    symbols::run_checks(&[
        ("swift: header symbols exported by the cdylib", &exported),
        ("swift: header compiles as C (gcc -fsyntax-only)", &compiles),
        ("swift: public API matches bindings/swift/api.txt", &snapshot),
    ])
}

/// `swift test` in bindings/swift, linking and loading the release cdylib.
fn swift_test(root: &Path) -> Outcome {
    let lib_dir = bindings::target_dir(root).join("release");
    let lib_dir = lib_dir.to_string_lossy();
    let search = if cfg!(target_os = "macos") { "DYLD_LIBRARY_PATH" } else { "LD_LIBRARY_PATH" };
    run_with(&root.join("bindings/swift"), "swift", &["test"], &[("AUTHSTATE_LIB_DIR", &lib_dir), (search, &lib_dir)])
}

/// The functions a C header declares whose names start with `uniffi_` or
/// `ffi_`: the native symbols Swift links against.
pub(crate) fn header_symbols(header: &str) -> BTreeSet<String> {
    let clean = symbols::strip(header, &['"']);
    let mut pieces: Vec<&str> = clean.split('(').collect();
    pieces.pop(); // the text after the last `(` precedes no call
    pieces
        .into_iter()
        .map(symbols::trailing_ident)
        .filter(|name| name.starts_with("uniffi_") || name.starts_with("ffi_"))
        .map(str::to_owned)
        .collect()
}

/// `gcc -fsyntax-only` over a one-line C file that includes the header, with
/// Clang's nullability qualifiers defined away.
fn compile_header(root: &Path, dir: &Path) -> Result<(), String> {
    let work = bindings::target_dir(root).join("xtask");
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let wrapper = work.join("swift_header_check.c");
    let text =
        format!("/* Written by cargo xtask test: the Swift header must compile as C. */\n#include \"{HEADER}\"\n");
    fs::write(&wrapper, text).map_err(|e| format!("{}: {e}", wrapper.display()))?;
    let include = dir.to_string_lossy();
    let wrapper = wrapper.to_string_lossy();
    let strict = ["-fsyntax-only", "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"];
    let mut args = strict.to_vec();
    args.extend(["-D_Nonnull=", "-D_Nullable=", "-I", &include, &wrapper]);
    run(root, "gcc", &args).into_result("gcc")
}

/// Words that may precede a declaration keyword.
const MODIFIERS: [&str; 10] =
    ["public", "open", "required", "convenience", "static", "final", "override", "nonisolated", "mutating", "indirect"];

/// The public API of a UniFFI Swift file: every `public`/`open` declaration,
/// every case of a listed enum and every requirement of a listed protocol,
/// members indented under their type. UniFFI's plumbing (marked
/// `@_documentation(visibility: private)`) is left out, with its members.
pub(crate) fn api(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut bodies: Vec<(usize, &str, bool)> = Vec::new(); // (member depth, kind, members listed)
    let (mut hidden, mut prefix) = (false, String::new());
    for Head { depth, text, opens } in symbols::heads(&symbols::strip(source, &['"']), true) {
        bodies.retain(|body| body.0 <= depth);
        if text.starts_with('#') {
            continue;
        }
        if text == "@_documentation(visibility: private)" {
            hidden = true;
            continue;
        }
        let text = std::mem::take(&mut prefix) + &text;
        if text.split(' ').all(|word| MODIFIERS.contains(&word)) {
            prefix = text + " "; // `public` alone on its line, the declaration on the next
            continue;
        }
        let parent = if depth == 0 { Some("file") } else { bodies.last().filter(|b| b.0 == depth && b.2).map(|b| b.1) };
        let listed = !std::mem::take(&mut hidden)
            && match parent {
                Some("protocol") => true,
                Some("enum") => text.starts_with("case ") || is_public(&text),
                Some(_) => is_public(&text),
                None => false,
            };
        if listed {
            out.push(format!("{}{text}", "  ".repeat(depth)));
        }
        if opens {
            bodies.push((depth + 1, kind(&text), listed));
        }
    }
    out
}

/// Whether a modifier before the declaration's name says `public` or `open`.
fn is_public(text: &str) -> bool {
    text.split(' ').take_while(|w| !w.contains(['(', ':', '<', '='])).any(|w| w == "public" || w == "open")
}

/// The kind of type a head declares (`class`, `enum`, `protocol`...), else `body`.
fn kind(text: &str) -> &'static str {
    let types = ["class", "struct", "enum", "protocol", "extension", "actor"];
    let word = text.split(' ').find(|w| !MODIFIERS.contains(w)).unwrap_or("");
    types.into_iter().find(|t| *t == word).unwrap_or("body")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_lists_public_declarations_cases_and_requirements_only() {
        let src = "public protocol P: AnyObject {\n    func f(x: Int) throws -> String\n}\n\
            open class C: P {\n    fileprivate let h: UInt64\n#if swift(>=5.8)\n    @_documentation(visibility: private)\n#endif\n\
            \x20   required public init(unsafeFromHandle h: UInt64) { self.h = h }\n\
            open func f(x: Int)throws  -> String  { switch x { case 1: return \"}\" default: return \"\" } }\n}\n\
            public \nenum E: Error {\n    case A(message: String)\n    /** doc */ case b(\n        /** d */x: Int?\n    )\n}\n\
            #if swift(>=5.8)\n@_documentation(visibility: private)\n#endif\npublic struct FfiConverterE { public static func lift() {} }\n\
            public func noop()  {try! rustCall() { x() }\n}\n";
        assert_eq!(
            api(src),
            [
                "public protocol P: AnyObject",
                "  func f(x: Int) throws -> String",
                "open class C: P",
                "  open func f(x: Int) throws -> String",
                "public enum E: Error",
                "  case A(message: String)",
                "  case b(x: Int?)",
                "public func noop()",
            ]
        );
    }

    #[test]
    fn header_symbols_are_the_declared_uniffi_functions() {
        let header = "typedef void (*UniffiCallback)(uint64_t);\n#define UNIFFI_FFIDEF_X\n\
            uint64_t uniffi_a_fn_clone_x(uint64_t handle, RustCallStatus *_Nonnull out_status\n);\n\
            uint32_t ffi_a_uniffi_contract_version(void);\n// uniffi_in_comment(\n";
        let found: Vec<String> = header_symbols(header).into_iter().collect();
        assert_eq!(found, ["ffi_a_uniffi_contract_version", "uniffi_a_fn_clone_x"]);
    }
}
