//! Static checks of generated bindings against the built cdylib: exported
//! symbols (`nm -D`), header compilation, API snapshots.
