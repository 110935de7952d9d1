//! Prints a generated spec of N resources (default 5000) for timing
//! `kindform validate` on large specs:
//!
//! ```sh
//! mkdir -p /tmp/big && cargo run --release --example generate_spec -- 5000 > /tmp/big/kindform.toml
//! hyperfine 'target/release/kindform validate -f /tmp/big/kindform.toml'
//! ```

#[path = "../tests/support/generate.rs"]
mod generate;

fn main() {
    let n = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("N must be a number"))
        .unwrap_or(5000);
    print!("{}", generate::generated_spec(n));
}
