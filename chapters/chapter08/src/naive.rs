//! The kernels the way one first writes them, kept to be measured against `gpt2::kernels`: the
//! matrix multiply and the steps from it to a fast one, the loss's log-sum-exp, LayerNorm.
//!
//! The multiplies take row-major slices: a: [m, k], b: [k, n], c: [m, n], and compute c = a·b.

// ANCHOR: ijk
/// By the definition, c[i, j] = Σ_p a[i, p]·b[p, j]. The inner loop walks down a column of b,
/// n floats apart at every step: each number read costs a trip to a new cache line.
pub fn matmul_ijk(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0;
            for p in 0..k {
                sum += a[i * k + p] * b[p * n + j];
            }
            c[i * n + j] = sum;
        }
    }
}
// ANCHOR_END: ijk

// ANCHOR: ikj
/// The same sums in another order: row i of c gains a[i, p] times row p of b, for each p. The
/// inner loop now walks along rows, contiguous in memory, and the compiler turns it into SIMD
/// instructions.
pub fn matmul_ikj(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    c.fill(0.0);
    for i in 0..m {
        let c_row = &mut c[i * n..(i + 1) * n];
        for p in 0..k {
            let a_ip = a[i * k + p];
            for (c, &b) in c_row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *c += a_ip * b;
            }
        }
    }
}
// ANCHOR_END: ikj

// ANCHOR: blocked
/// ikj, one block of b at a time: a [KB, NB] block of b (256 KB) stays in the core's L2 cache
/// while every row of a uses it, instead of streaming all of b from memory once per row.
pub fn matmul_blocked(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    const KB: usize = 128;
    const NB: usize = 512;
    c.fill(0.0);
    for j0 in (0..n).step_by(NB) {
        let j1 = (j0 + NB).min(n);
        for p0 in (0..k).step_by(KB) {
            let p1 = (p0 + KB).min(k);
            for i in 0..m {
                let c_row = &mut c[i * n + j0..i * n + j1];
                for p in p0..p1 {
                    let a_ip = a[i * k + p];
                    for (c, &b) in c_row.iter_mut().zip(&b[p * n + j0..p * n + j1]) {
                        *c += a_ip * b;
                    }
                }
            }
        }
    }
}
// ANCHOR_END: blocked

// ANCHOR: tiled
/// Rows of c computed together in registers.
const MR: usize = 4;
/// Columns of c computed together: two AVX-512 registers of 16 floats.
const NR: usize = 32;

/// c = a·b one [4, 32] tile of c at a time, its 128 sums held in eight AVX-512 registers for
/// the whole of k: per step of p, two loads of b, four numbers of a, eight multiply-adds of 16
/// floats each; c is written once, at the end. The columns of b a tile needs are first copied
/// into one contiguous strip ("packing"), which stays in the L2 cache for every tile that reads
/// it. Falls back to [`matmul_ikj`] where the CPU has no AVX-512 (checked at run time).
pub fn matmul_tiled(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
        // SAFETY: AVX-512 was just detected, and the slices hold the stated shapes.
        unsafe { tiled_avx512(a, b, c, m, k, n) };
        return;
    }
    matmul_ikj(a, b, c, m, k, n);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tiled_avx512(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    use std::arch::x86_64::*;
    let (m_full, n_full) = (m - m % MR, n - n % NR);
    let mut strip = vec![0.0f32; k * NR];
    for j0 in (0..n_full).step_by(NR) {
        for (p, s) in strip.chunks_exact_mut(NR).enumerate() {
            s.copy_from_slice(&b[p * n + j0..p * n + j0 + NR]);
        }
        for i0 in (0..m_full).step_by(MR) {
            // SAFETY (the pointer arithmetic below): rows i0..i0 + 4 of a, k floats each; the
            // strip's k rows of 32 floats; the tile's rows of c, 32 floats from column j0.
            unsafe {
                let (a0, s) = (a.as_ptr().add(i0 * k), strip.as_ptr());
                let mut acc = [_mm512_setzero_ps(); 2 * MR];
                for p in 0..k {
                    let b_lo = _mm512_loadu_ps(s.add(p * NR));
                    let b_hi = _mm512_loadu_ps(s.add(p * NR + 16));
                    for r in 0..MR {
                        let a_rp = _mm512_set1_ps(*a0.add(r * k + p));
                        acc[2 * r] = _mm512_fmadd_ps(a_rp, b_lo, acc[2 * r]);
                        acc[2 * r + 1] = _mm512_fmadd_ps(a_rp, b_hi, acc[2 * r + 1]);
                    }
                }
                for r in 0..MR {
                    let out = c.as_mut_ptr().add((i0 + r) * n + j0);
                    _mm512_storeu_ps(out, acc[2 * r]);
                    _mm512_storeu_ps(out.add(16), acc[2 * r + 1]);
                }
            }
        }
    }
    // What is left over: the last columns of the full rows, then the last rows.
    for i in 0..m {
        let j_start = if i < m_full { n_full } else { 0 };
        for j in j_start..n {
            c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
}
// ANCHOR_END: tiled

/// log Σ e^x with the C library's exponential, one call per number: what the loss did first.
pub fn logsumexp_libm(xs: &[f32]) -> f32 {
    let max = xs.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    max + xs.iter().map(|&x| (x - max).exp()).sum::<f32>().ln()
}

// ANCHOR: exp_round
/// The first polynomial exponential: the arithmetic of `gpt2::kernels::fast_exp`, but rounding
/// with `f32::round` (a call to `roundf` on baseline x86-64) and converting with `as i32`
/// (saturating, so compiled lane by lane): written to vectorize, and it does not.
pub fn fast_exp_round(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.7);
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4; // ln 2 in two parts, as fast_exp
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}
// ANCHOR_END: exp_round

/// log Σ e^x with [`fast_exp_round`].
pub fn logsumexp_round(xs: &[f32]) -> f32 {
    let max = xs.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    max + xs
        .iter()
        .map(|&x| fast_exp_round(x - max))
        .sum::<f32>()
        .ln()
}

/// LayerNorm without its weight and bias, one row after another on one thread.
/// x: [N, C] -> y: [N, C]
pub fn layernorm_rows(x: ndarray::ArrayView2<f32>, mut y: ndarray::ArrayViewMut2<f32>, eps: f32) {
    let c = x.ncols() as f32;
    for (x, mut y) in x.rows().into_iter().zip(y.rows_mut()) {
        let mean = x.sum() / c;
        let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / c;
        let rstd = 1.0 / (var + eps).sqrt();
        y.zip_mut_with(&x, |y, &x| *y = (x - mean) * rstd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_orders_agree() {
        let (m, k, n) = (7, 300, 610);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 13) as f32 * 0.5).collect();
        let mut want = vec![0.0; m * n];
        matmul_ijk(&a, &b, &mut want, m, k, n);
        for f in [matmul_ikj, matmul_blocked, matmul_tiled] {
            let mut c = vec![1.0; m * n];
            f(&a, &b, &mut c, m, k, n);
            assert_eq!(c, want);
        }
    }
}
