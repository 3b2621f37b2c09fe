//! `propbot replay …` as a stand-alone program, until the `propbot` binary forwards its
//! `replay` subcommand to `propbot_sim::replay::cli_run`:
//! `cargo run --release -p propbot-sim --example replay -- --recording DIR… --speed max`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(propbot_sim::replay::cli_run(&args));
}
