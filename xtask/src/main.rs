//! `cargo xtask <command>`: the project's task runner.
//!
//! Project commands each live in their own module and get one match arm below; everything
//! else (`bundle-universal`, `known-packages`) is forwarded to nice-plug-xtask. `cargo xtask bundle
//! demix --release` writes `target/bundled/demix.clap` and `demix.vst3` and adds the ONNX Runtime
//! library and the model (see `bundle.rs`).

mod bundle;
mod demo;
mod dist;
mod fetch_ort;
mod install;
mod notices;
mod platform;
mod setup;
mod test;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        // Add project subcommands here, one module each, e.g.:
        "fetch-ort" => fetch_ort::run(&rest),
        "bundle" => bundle::run(&rest),
        "setup" => setup::run(&rest),
        "demo" => demo::run(&rest),
        "install" => install::run(&rest),
        "dist" => dist::run(&rest),
        "test" => test::run(&rest),
        _ => forward_to_nice_plug(command, rest),
    }
}

/// Hands the command line to nice-plug-xtask (plugin bundling).
fn forward_to_nice_plug(command: String, rest: Vec<String>) -> anyhow::Result<()> {
    let args = std::iter::once(command).filter(|c| !c.is_empty()).chain(rest);
    nice_plug_xtask::main_with_args("cargo xtask", args)
}
