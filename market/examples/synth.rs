//! `propbot recordings synth …` without building the service:
//! `cargo run --release -p propbot-market --example synth -- --seed 7 --duration 1h --out DIR`.

use clap::Parser;

/// A synthetic two-venue recording, or a venue derived from a real recording.
#[derive(Debug, Parser)]
#[command(name = "synth")]
struct Cli {
    #[command(flatten)]
    args: propbot_market::cli::SynthArgs,
}

fn main() {
    std::process::exit(propbot_market::cli::run(Cli::parse().args));
}
