// Gives the shared library a soname so `libustb_openai.so.0` can be installed and versioned.
fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libustb_openai.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
