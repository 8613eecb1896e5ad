//! Embeds an rpath to libtorch's `lib/` folder in every binary, so that
//! `target/release/fadca` runs without `LD_LIBRARY_PATH` or any other
//! environment variable. torch-sys (which has `links = "tch"`) tells us where
//! libtorch lives through `DEP_TCH_LIBTORCH_LIB`.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
