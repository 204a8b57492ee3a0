//! `uniffi-bindgen`, built from the workspace's own uniffi so generated code
//! always matches the scaffolding in `authstate-ffi`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
