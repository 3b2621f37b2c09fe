//! `propbot recordings …` as a stand-alone program, until the `propbot` binary forwards
//! its `recordings` subcommand to `propbot_recordings::cli::run`:
//! `cargo run --release -p propbot-recordings --example recordings -- inspect DIR`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(propbot_recordings::cli::run(&args));
}
