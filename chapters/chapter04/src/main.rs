//! `cargo run --release -p chapter04`: the mean and standard deviation of the residual stream
//! through a stack of 24 random blocks, with GPT-2's pre-LN arrangement, with post-LN, and
//! without LayerNorm; then the chapter's diagrams of the block and of the MLP.

use anyhow::Result;
use chapter04::variants::{Arrangement, random_blocks, stream_stats};
use gpt2::rng::Rng;
use ndarray::Array2;

fn main() -> Result<()> {
    let (n_layer, c, n_head, b, t) = (24, 128, 4, 4, 64);
    let mut rng = Rng::new(7);
    let x = Array2::from_shape_simple_fn((b * t, c), || rng.normal() as f32);
    let shown = [0, 1, 2, 4, 8, 12, 16, 20, 24];
    for (gpt2_init, title) in [
        (
            true,
            "GPT-2's initialisation: N(0, 0.02²), residual projections / √(2·24)",
        ),
        (
            false,
            "Unit-gain initialisation: N(0, 1/fan_in) for every matrix",
        ),
    ] {
        println!("== {title} ==");
        println!("{n_layer} blocks of width {c}, {b} sequences of {t} tokens, input ~ N(0, 1)\n");
        let blocks = random_blocks(n_layer, c, n_head, gpt2_init, 1);
        let arrangements = [
            ("pre-LN (GPT-2)", Arrangement::PreLn),
            ("post-LN", Arrangement::PostLn),
            ("no LayerNorm", Arrangement::NoLn),
        ];
        let stats: Vec<_> = arrangements
            .iter()
            .map(|&(_, how)| stream_stats(&blocks, how, &x, t))
            .collect();
        print!("{:>6}", "block");
        for (name, _) in &arrangements {
            print!(" {name:>22}");
        }
        println!("\n{:>6}{}", "", "        mean        std".repeat(3));
        for &layer in &shown {
            print!("{layer:>6}");
            for s in &stats {
                let (mean, std) = s[layer];
                print!(" {mean:>11.3} {std:>10.3}");
            }
            println!();
        }
        println!();
    }
    let path = std::path::PathBuf::from("target/figures/ch04-block.svg");
    chapter04::diagram::residual_stream(&path)?;
    println!("Wrote the diagram of the block to {}.", path.display());
    let path = std::path::PathBuf::from("target/figures/ch04-mlp.svg");
    chapter04::diagram::mlp(&path)?;
    println!("Wrote the diagram of the MLP to {}.", path.display());
    Ok(())
}
