//! `cargo run --release -p chapter08`: how the matrix multiply scales with threads, at the shape
//! of the `shakespeare` model's LM head and at a GPT-2 small layer.

use chapter08::exercises::one_thread_and_all;

fn main() {
    for (name, (m, k, n)) in [
        ("LM head of `shakespeare`, B·T = 1024", (1024, 128, 50257)),
        ("GPT-2 small's c_fc, B·T = 256", (256, 768, 3072)),
    ] {
        println!("{name}: [{m}, {k}]·[{k}, {n}]");
        for (t, g) in one_thread_and_all(m, k, n) {
            println!("  {t} thread(s): {g:.0} GFLOP/s");
        }
    }
}
