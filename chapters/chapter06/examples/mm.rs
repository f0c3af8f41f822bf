use gpt2::kernels::matmul;
use ndarray::Array2;
use std::time::Instant;
fn main() {
    let shapes = [
        (256usize, 768usize, 2304usize, "gpt2 c_attn"),
        (256, 768, 3072, "gpt2 c_fc"),
        (2048, 768, 768, "sq"),
        (1024usize, 128usize, 50257usize, "lnf·wteᵀ"),
        (1024, 50257, 128, "dlogits·wte"),
        (50257, 1024, 128, "dlogitsᵀ·lnf"),
        (1024, 128, 384, "c_attn"),
        (1024, 128, 512, "c_fc"),
        (1024, 512, 128, "mlp proj"),
    ];
    for (m, k, n, name) in shapes {
        let a = Array2::from_shape_fn((m, k), |(i, j)| ((i + j) % 7) as f32 * 0.1);
        let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 3 + j) % 5) as f32 * 0.1);
        let mut c = Array2::zeros((m, n));
        matmul(a.view(), b.view(), c.view_mut(), false);
        let reps = 5;
        let s = Instant::now();
        for _ in 0..reps {
            matmul(a.view(), b.view(), c.view_mut(), false);
        }
        let dt = s.elapsed().as_secs_f64() / reps as f64;
        println!(
            "{name:14} [{m},{k}]x[{k},{n}] {:.2} ms {:.0} GFLOP/s",
            dt * 1e3,
            2.0 * (m * n * k) as f64 / dt / 1e9
        );
    }
    // transposed layouts as used
    let dl = Array2::from_shape_fn((1024, 50257), |(i, j)| ((i + j) % 7) as f32 * 0.1);
    let lnf = Array2::from_shape_fn((1024, 128), |(i, j)| ((i + j) % 7) as f32 * 0.1);
    let wte = Array2::from_shape_fn((50257, 128), |(i, j)| ((i + j) % 7) as f32 * 0.1);
    let mut out = Array2::zeros((1024, 50257));
    let s = Instant::now();
    for _ in 0..5 {
        matmul(lnf.view(), wte.t(), out.view_mut(), false);
    }
    println!(
        "fwd lnf·wte.t {:.2} ms",
        s.elapsed().as_secs_f64() / 5.0 * 1e3
    );
    let mut g = Array2::zeros((50257, 128));
    let s = Instant::now();
    for _ in 0..5 {
        matmul(dl.t(), lnf.view(), g.view_mut(), true);
    }
    println!(
        "dwte dl.t·lnf {:.2} ms",
        s.elapsed().as_secs_f64() / 5.0 * 1e3
    );
    let mut d = Array2::zeros((1024, 128));
    let s = Instant::now();
    for _ in 0..5 {
        matmul(dl.view(), wte.view(), d.view_mut(), false);
    }
    println!(
        "dlnf dl·wte {:.2} ms",
        s.elapsed().as_secs_f64() / 5.0 * 1e3
    );
}
