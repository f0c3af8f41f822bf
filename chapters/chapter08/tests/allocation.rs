//! Steady-state training steps allocate nothing large: the activations, the logits and the
//! gradients are buffers kept from step to step. Checked by counting every allocation the
//! process makes during one step, after two steps of warm-up. (This test binary has its own
//! global allocator, so it holds this one test only.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use gpt2::layers::Params;
use gpt2::optim::{AdamW, AdamWConfig};
use gpt2::{GPT, GPTConfig};
use ndarray::Array2;

// ANCHOR: count
/// The system allocator, counting while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static TOTAL: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            TOTAL.fetch_add(layout.size(), Ordering::Relaxed);
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;
// ANCHOR_END: count

#[test]
fn a_training_step_allocates_nothing_large() {
    let config = GPTConfig::preset("shakespeare").unwrap();
    let (b, t) = (4, 64);
    let mut model = GPT::new(config, 0);
    let mut adamw = AdamW::new(&mut model, AdamWConfig::default());
    let x = Array2::from_shape_fn((b, t), |(i, j)| ((i * 131 + j * 17) % 50000) as u32);
    let y = Array2::from_shape_fn((b, t), |(i, j)| ((i * 71 + j * 29) % 50000) as u32);
    let mut step = |model: &mut GPT| {
        model.zero_grad();
        model.forward_train(x.view(), y.view()).unwrap();
        model.backward().unwrap();
        adamw.step_clipped(model, 1e-4, 1.0);
    };
    step(&mut model);
    step(&mut model);
    COUNTING.store(true, Ordering::Relaxed);
    step(&mut model);
    COUNTING.store(false, Ordering::Relaxed);
    let (total, largest) = (
        TOTAL.load(Ordering::Relaxed),
        LARGEST.load(Ordering::Relaxed),
    );
    let n = b * t;
    let logits = n * config.vocab_size * 4;
    let block_activation = n * 4 * config.n_embd * 4;
    println!(
        "one step allocated {total} bytes in all, {largest} at most at once; the logits are {logits} bytes"
    );
    // Nothing larger than one block's widest activation, N × 4C floats, and all of the step's
    // allocations together less than a third of the logits alone.
    assert!(
        largest <= block_activation,
        "{largest} > {block_activation}"
    );
    assert!(total < logits / 3, "{total}");
}
