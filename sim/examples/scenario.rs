//! `cargo run -p propbot-sim --release --example scenario -- run [PATH…] [--seeds N] [--seed S]`
//! runs the acceptance suite without building the service (same as `propbot scenario`).

use clap::Parser;
use propbot_sim::cli::{ScenarioCli, run};

fn main() {
    std::process::exit(run(ScenarioCli::parse().command));
}
