//! `propbot replay …` without building the service:
//! `cargo run --release -p propbot-sim --example replay -- --recording DIR… --speed max`.

use clap::Parser;
use propbot_sim::replay::{ReplayCli, cli_run};

fn main() {
    std::process::exit(cli_run(ReplayCli::parse().args));
}
