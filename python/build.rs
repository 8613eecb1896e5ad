//! Embeds an rpath to libtorch's `lib/` folder in the Python extension, as
//! the root `build.rs` does for the binary, so that `import fadca` finds
//! libtorch without `LD_LIBRARY_PATH`. torch-sys (`links = "tch"`) tells
//! only the crates that depend on it directly where libtorch lives, through
//! `DEP_TCH_LIBTORCH_LIB`: hence the direct dependency in Cargo.toml.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg-cdylib=-Wl,-rpath,{dir}");
    }
}
