//! `propbot recordings import|inspect|recover …` without building the service:
//! `cargo run --release -p propbot-recordings --example recordings -- inspect DIR`.
//! (`propbot recordings synth` is `cargo run -p propbot-market --example synth -- …`.)

use clap::Parser;

/// The recordings tool: import, inspect, recover.
#[derive(Debug, Parser)]
#[command(name = "recordings")]
struct Cli {
    #[command(subcommand)]
    command: propbot_recordings::cli::Command,
}

fn main() {
    std::process::exit(propbot_recordings::cli::run(Cli::parse().command));
}
