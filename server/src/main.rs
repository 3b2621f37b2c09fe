//! `propbot`: the composition root (built by the service issue).

fn main() {
    eprintln!("propbot: the service is not built yet; see README.md");
    std::process::exit(2);
}
