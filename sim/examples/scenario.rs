//! `cargo run -p propbot-sim --release --example scenario -- run [PATH…] [--seeds N] [--seed S]`
//! runs the acceptance suite without building the service (same as `propbot scenario`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(propbot_sim::cli::run(&args));
}
