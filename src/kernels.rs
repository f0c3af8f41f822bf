//! The one matrix multiply every layer calls. Changing the backend here changes it everywhere.
//!
//! The backend is the `gemm` crate, which picks AVX-512 kernels at run time where the CPU has
//! them and splits large products over rayon's threads. It reads matrices with any strides, so a
//! transpose is a view (`w.t()`); `matmul` copies operands only when a large product mixes row
//! and column order (see `relaid`).

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, s};

/// Products smaller than this many multiply-adds run on the calling thread: splitting them
/// costs more than it saves.
const PARALLEL_THRESHOLD: usize = 1 << 20;

/// The precision of the matrix multiplies: `Bf16` rounds both operands of every large product
/// to bfloat16 and sums in f32 (PyTorch's autocast); everything else stays f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    Bf16,
}

static PRECISION: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Sets the precision of every matrix multiply of the process, and says whether it can be had:
/// `Bf16` needs AVX512-BF16 (elsewhere the multiplies stay f32 and this returns false).
pub fn set_precision(p: Precision) -> bool {
    let ok = p == Precision::F32 || crate::matmul_bf16::available();
    let p = if ok { p } else { Precision::F32 };
    PRECISION.store(p as u8, std::sync::atomic::Ordering::Relaxed);
    ok
}

pub fn precision() -> Precision {
    match PRECISION.load(std::sync::atomic::Ordering::Relaxed) {
        0 => Precision::F32,
        _ => Precision::Bf16,
    }
}

// ANCHOR: matmul
/// c = a·b, or c += a·b when `accumulate` is true.
/// a: [m, k], b: [k, n], c: [m, n], each with any strides.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>, accumulate: bool) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(k, k2, "matmul: a is [{m}, {k}] but b is [{k2}, {n}]");
    assert_eq!(c.dim(), (m, n), "matmul: c must be [{m}, {n}]");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    // One row (generating a token): a matrix-vector product, bound by memory, not arithmetic.
    if m == 1 && matvec(a.row(0), b, c.row_mut(0), accumulate) {
        return;
    }
    // Mixed precision: every product in bfloat16, where the CPU multiplies it natively.
    if precision() == Precision::Bf16
        && crate::matmul_bf16::matmul_bf16(a, b, c.view_mut(), accumulate)
    {
        return;
    }
    // Inside a rayon task (attention runs one per sequence and head) the threads are busy already.
    let parallel = m * n * k >= PARALLEL_THRESHOLD && !crate::kernels::nested();
    if parallel && relaid(a, b, c.view_mut(), accumulate) {
        return;
    }
    gemm_views(a, b, c, accumulate, parallel);
}
// ANCHOR_END: matmul

/// [`matmul`], given also b rounded to bf16 where there is such a copy (a weight's, see
/// [`crate::layers::Bf16Copy`]): a bf16 product of several rows reads the copy instead of b.
pub fn matmul_copy(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    copy: Option<ArrayView2<u16>>,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
) {
    if let Some(copy) = copy
        && a.nrows() > 1
        && precision() == Precision::Bf16
        && crate::matmul_bf16::matmul_bf16_halves(a, copy, c.view_mut(), accumulate)
    {
        return;
    }
    matmul(a, b, c, accumulate);
}

/// c = a·b (or c += a·b) by `gemm`, on the calling thread or on all, with the operands as they
/// lie (`matmul` may copy them first; chapter 8 compares the two).
pub fn gemm_views(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
    parallel: bool,
) {
    let threads = rayon::current_num_threads();
    let n = b.ncols();
    // With fewer rows than columns (a prompt, a training step's rows against the MLP's width),
    // each thread multiplying its own columns beats gemm's own split: c_fc's forward at 64 rows
    // on 2 threads, 231 to 249 GFLOP/s against 125 to 133 (book/runs/xeon-amx).
    if parallel && threads > 1 && a.nrows() < n && n >= 64 * threads {
        use rayon::prelude::*;
        let width = n.div_ceil(threads).next_multiple_of(16);
        let parts: Vec<_> = b
            .axis_chunks_iter(Axis(1), width)
            .zip(c.axis_chunks_iter_mut(Axis(1), width))
            .collect();
        parts
            .into_par_iter()
            .for_each(|(b, c)| gemm_on(a, b, c, accumulate, gemm::Parallelism::None));
        return;
    }
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    gemm_on(a, b, c, accumulate, parallelism);
}

/// c = a·b (or c += a·b) by one call of `gemm`.
fn gemm_on(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: the pointers and strides describe live ndarray views of the stated shapes, and
    // c, borrowed mutably, cannot overlap a or b.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0, // c keeps its value (when accumulating)...
            1.0, // ...and gains a·b
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Whether a matrix's rows (or its columns) are each in one piece.
fn by_rows(x: &ArrayView2<f32>) -> bool {
    x.strides()[1] == 1
}
fn by_columns(x: &ArrayView2<f32>) -> bool {
    x.strides()[0] == 1
}

/// The most numbers `relaid` copies: 8 MB, which stays in this CPU's L3 cache.
const RELAY_MAX: usize = 1 << 21;

/// A product past `RELAY_MAX` is relaid a block at a time only if the operand every block reads
/// again is at most this many numbers (16 MB, in L3), or the blocks have at least
/// `REREAD_BLOCK` rows (columns). GPT-2's x·wteᵀ, whose copies of x and the logits would take
/// blocks of 41 rows, each packing wte's 154 MB again from memory, ran at 99 to 117 GFLOP/s so
/// and at 170 to 198 with wteᵀ copied a block of columns at a time instead (2-core Zen 4).
const REREAD_MAX: usize = 1 << 22;
const REREAD_BLOCK: usize = 128;

/// `gemm` runs at its best when a, b and c all lie by rows or all by columns, and at half that
/// with a mix: dx = dy·Wᵀ of a linear layer (dy by rows, Wᵀ by columns, dx by rows) ran at 75
/// to 140 GFLOP/s on GPT-2's shapes, against 180 to 190 for one order. So a product with mixed
/// orders copies the operands that differ from the order that needs the fewest copies (here dy
/// and dx, rather than W) and multiplies the copies; a copy costs a few percent of the
/// product when it is small against it and stays in cache. Returns false, doing nothing, for
/// a product that does not gain. A product whose copies would pass the bound only because it
/// has many rows (a long prompt against a weight laid out by output), or many columns, takes
/// them a block of rows, or of columns, at a time.
fn relaid(a: ArrayView2<f32>, b: ArrayView2<f32>, c: ArrayViewMut2<f32>, accumulate: bool) -> bool {
    relaid_within(a, b, c, accumulate, RELAY_MAX)
}

/// [`relaid`], copying at most `max` numbers at a time.
fn relaid_within(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
    max: usize,
) -> bool {
    let (m, k) = a.dim();
    let n = b.ncols();
    let cv = c.view();
    // The numbers copied to lay the product out by rows (or by columns): b's for each of its
    // columns, a's and c's for each row.
    let cost = |rows: bool| {
        let differs = |x: &ArrayView2<f32>| if rows { !by_rows(x) } else { !by_columns(x) };
        let c_row = if accumulate { 2 * n } else { n };
        let per_row = differs(&a) as usize * k + differs(&cv) as usize * c_row;
        (per_row, differs(&b) as usize * k)
    };
    let all = |x: &ArrayView2<f32>| by_rows(x) || by_columns(x);
    if !(all(&a) && all(&b) && all(&cv)) || m < 2 || n < 2 || k < 2 {
        return false;
    }
    // Past the bound, a product whose copies grow with its rows alone (or its columns alone)
    // takes them a block of rows (or of columns) at a time.
    // Each block reads the operand it does not copy once more (gemm packs it again), which is
    // cheap while that operand stays in cache or the blocks are large.
    let rereads = |numbers: usize, block: usize| numbers <= REREAD_MAX || block >= REREAD_BLOCK;
    let split = |(per_row, per_col): (usize, usize)| match (per_row, per_col) {
        _ if m * per_row + n * per_col <= max => Some(Split::None),
        (0, _) => Some(max / per_col)
            .filter(|&w| w >= 2 && rereads(m * k, w))
            .map(Split::Columns),
        (_, 0) => Some(max / per_row)
            .filter(|&b| b >= 2 && rereads(k * n, b))
            .map(Split::Rows),
        _ => None,
    };
    let Some((rows, copies, split)) = [true, false]
        .into_iter()
        .filter_map(|rows| {
            let (per_row, per_col) = cost(rows);
            Some((rows, m * per_row + n * per_col, split((per_row, per_col))?))
        })
        .min_by_key(|&(_, copies, _)| copies)
    else {
        return false;
    };
    if copies == 0 || copies * 256 > m * n * k {
        return false;
    }
    // A last block of one row or column multiplies as it lies.
    let part = |a, b, mut c: ArrayViewMut2<f32>| {
        if !relaid_within(a, b, c.view_mut(), accumulate, max) {
            gemm_views(a, b, c, accumulate, true);
        }
    };
    match split {
        Split::Rows(block) => {
            for start in (0..m).step_by(block) {
                let r = start..(start + block).min(m);
                part(a.slice(s![r.clone(), ..]), b, c.slice_mut(s![r, ..]));
            }
            return true;
        }
        Split::Columns(width) => {
            for start in (0..n).step_by(width) {
                let r = start..(start + width).min(n);
                part(a, b.slice(s![.., r.clone()]), c.slice_mut(s![.., r]));
            }
            return true;
        }
        Split::None => {}
    }
    // Each product in column order is the transposed product in row order: cᵀ = bᵀ·aᵀ.
    if rows {
        relaid_by_rows(a, b, c, accumulate);
    } else {
        relaid_by_rows(
            b.reversed_axes(),
            a.reversed_axes(),
            c.reversed_axes(),
            accumulate,
        );
    }
    true
}

/// How [`relaid_within`] keeps its copies within its bound.
#[derive(Clone, Copy)]
enum Split {
    None,
    Rows(usize),
    Columns(usize),
}

thread_local! {
    /// Row-ordered copies of a product's operands (see `relaid`), kept for the next product.
    static COPIES: std::cell::RefCell<[Vec<f32>; 3]> = Default::default();
}

/// c = a·b with every operand not lying by rows copied into a buffer that does.
fn relaid_by_rows(a: ArrayView2<f32>, b: ArrayView2<f32>, c: ArrayViewMut2<f32>, accumulate: bool) {
    use ndarray::{ArrayView, ArrayViewMut};
    let mut bufs = COPIES.with(|x| std::mem::take(&mut *x.borrow_mut()));
    let [abuf, bbuf, cbuf] = &mut bufs;
    let row_copy = |x: ArrayView2<f32>, buf: &mut Vec<f32>| {
        buf.resize(x.len(), 0.0);
        let (r, cols) = x.dim();
        // x lies by columns: xᵀ lies by rows, and x is its transpose.
        transpose(
            x.reversed_axes(),
            ArrayViewMut::from_shape((r, cols), buf).expect("sized"),
        );
    };
    let a = if by_rows(&a) {
        a
    } else {
        row_copy(a, abuf);
        ArrayView::from_shape(a.dim(), abuf).expect("sized")
    };
    let b = if by_rows(&b) {
        b
    } else {
        row_copy(b, bbuf);
        ArrayView::from_shape(b.dim(), bbuf).expect("sized")
    };
    if by_rows(&c.view()) {
        gemm_views(a, b, c, accumulate, true);
    } else {
        let dim = c.dim();
        if accumulate {
            row_copy(c.view(), cbuf);
        } else {
            cbuf.resize(dim.0 * dim.1, 0.0);
        }
        let mut cc = ArrayViewMut::from_shape(dim, cbuf).expect("sized");
        gemm_views(a, b, cc.view_mut(), accumulate, true);
        // c lies by columns: cᵀ lies by rows, the transpose of the row-ordered copy.
        transpose(cc.view(), c.reversed_axes());
    }
    COPIES.with(|x| *x.borrow_mut() = bufs);
}

/// y = xᵀ, both lying by rows, in tiles of 32 × 32 (both then read and written a cache line at
/// a time), split over threads by rows of y; within a tile, blocks of 8 × 8 go through AVX
/// registers.
fn transpose(x: ArrayView2<f32>, mut y: ArrayViewMut2<f32>) {
    use rayon::prelude::*;
    const T: usize = 32;
    let (r, c) = x.dim();
    assert_eq!(y.dim(), (c, r), "transpose: y must be [{c}, {r}]");
    assert!(
        by_rows(&x) && by_rows(&y.view()),
        "transpose: rows in one piece"
    );
    let (xs, ys) = (x.strides()[0], y.strides()[0]);
    let (xp, yp) = (x.as_ptr() as usize, y.as_mut_ptr() as usize);
    #[cfg(target_arch = "x86_64")]
    let avx = std::arch::is_x86_feature_detected!("avx");
    (0..c.div_ceil(T)).into_par_iter().for_each(|jb| {
        let (x, y) = (xp as *const f32, yp as *mut f32);
        for ib in (0..r).step_by(T) {
            for j8 in (jb * T..c.min(jb * T + T)).step_by(8) {
                for i8 in (ib..r.min(ib + T)).step_by(8) {
                    // SAFETY (both branches): (i, j) lies in x and (j, i) in y; each task
                    // writes its own rows jb·T.. of y.
                    #[cfg(target_arch = "x86_64")]
                    if avx && i8 + 8 <= r && j8 + 8 <= c {
                        unsafe {
                            let from = x.offset(i8 as isize * xs + j8 as isize);
                            transpose8(from, xs, y.offset(j8 as isize * ys + i8 as isize), ys)
                        };
                        continue;
                    }
                    for j in j8..c.min(j8 + 8) {
                        for i in i8..r.min(i8 + 8) {
                            unsafe {
                                *y.offset(j as isize * ys + i as isize) =
                                    *x.offset(i as isize * xs + j as isize);
                            }
                        }
                    }
                }
            }
        }
    });
}

/// The 8 × 8 block at x (rows `xs` apart), transposed into the block at y (rows `ys` apart):
/// pairs of rows interleaved, then pairs of pairs, then the halves exchanged. (Any 32-bit
/// patterns: the moves and shuffles do not look at them as numbers.)
///
/// # Safety
/// Both blocks lie in memory the caller may read (x) and write (y); the CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
pub(crate) unsafe fn transpose8(x: *const f32, xs: isize, y: *mut f32, ys: isize) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's blocks.
    let r: [__m256; 8] =
        std::array::from_fn(|i| unsafe { _mm256_loadu_ps(x.offset(i as isize * xs)) });
    // t: rows 2p and 2p + 1 interleaved, [r0 s0 r1 s1 | r4 s4 r5 s5] and the rest.
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_ps(a, b)
        } else {
            _mm256_unpackhi_ps(a, b)
        }
    });
    // s: four rows' numbers of one column in each half: columns (0, 4), (1, 5), (2, 6), (3, 7)
    // of rows 0-3, then of rows 4-7.
    let s: [__m256; 8] = std::array::from_fn(|i| {
        let (a, b) = (
            t[(i / 4) * 4 + (i % 4) / 2],
            t[(i / 4) * 4 + (i % 4) / 2 + 2],
        );
        if i % 2 == 0 {
            _mm256_shuffle_ps::<0x44>(a, b)
        } else {
            _mm256_shuffle_ps::<0xEE>(a, b)
        }
    });
    for j in 0..4 {
        let lo = _mm256_permute2f128_ps::<0x20>(s[j], s[j + 4]);
        let hi = _mm256_permute2f128_ps::<0x31>(s[j], s[j + 4]);
        // SAFETY: the caller's blocks.
        unsafe {
            _mm256_storeu_ps(y.offset(j as isize * ys), lo);
            _mm256_storeu_ps(y.offset((j + 4) as isize * ys), hi);
        }
    }
}

// ANCHOR_END: matmul

// ANCHOR: matvec
/// y = x·w (or y += x·w): x: [k], w: [k, n], y: [n], split over the threads: by blocks of w's
/// rows, each into a partial sum of its own, when its rows are contiguous; by output columns,
/// a dot product each, when its columns are.
/// Returns false, doing nothing, when w's layout is neither row- nor column-contiguous.
fn matvec(
    x: ArrayView1<f32>,
    w: ArrayView2<f32>,
    mut y: ArrayViewMut1<f32>,
    accumulate: bool,
) -> bool {
    use rayon::prelude::*;
    const CHUNK: usize = 512;
    let (k, n) = w.dim();
    let (Some(x), Some(y)) = (x.as_slice(), y.as_slice_mut()) else {
        return false;
    };
    let (rs, cs) = (w.strides()[0], w.strides()[1]);
    let by_rows = cs == 1 && rs >= n as isize;
    let by_columns = rs == 1 && cs >= k as isize;
    if !(by_rows || by_columns) {
        return false;
    }
    if !accumulate {
        y.fill(0.0);
    }
    // Inside a rayon task (attention's heads) the other threads are busy already.
    let threads = if nested() {
        1
    } else {
        rayon::current_num_threads()
    };
    if by_rows {
        // Rows of w are contiguous: y += Σ_i x[i] · w[i, ..], four rows per pass over the sum
        // (a quarter of the loads and stores of one row per pass). The rows are cut into blocks,
        // several per thread so that the threads finish together; each block streams through
        // its rows in order, into its own partial sum.
        let base = w.as_ptr() as usize;
        let blocks = (8 * threads).clamp(1, k.div_ceil(64));
        let rows_per = k.div_ceil(blocks);
        let partial = |blk: usize| {
            let mut acc = vec![0.0f32; n];
            let rows = blk * rows_per..((blk + 1) * rows_per).min(k);
            // SAFETY: row i of w, n floats from its start, lies inside the view.
            let row = |i: usize| unsafe {
                std::slice::from_raw_parts((base as *const f32).offset(i as isize * rs), n)
            };
            let xs = &x[rows.clone()];
            let mut quads = xs.chunks_exact(4);
            for (q, a) in (&mut quads).enumerate() {
                let i = rows.start + 4 * q;
                let w = [row(i), row(i + 1), row(i + 2), row(i + 3)];
                axpy4([a[0], a[1], a[2], a[3]], w, &mut acc, 4 * rs as usize);
            }
            let rest = rows.end - quads.remainder().len()..rows.end;
            for (i, &xi) in rest.zip(quads.remainder()) {
                axpy(xi, row(i), &mut acc);
            }
            acc
        };
        let partials: Vec<Vec<f32>> = if blocks == 1 {
            vec![partial(0)]
        } else {
            (0..blocks).into_par_iter().map(partial).collect()
        };
        for p in &partials {
            axpy(1.0, p, y);
        }
        true
    } else {
        // Columns of w are contiguous (w is a transposed row-major matrix, like wteᵀ):
        // y[j] = x · w[.., j], one dot product per column.
        let base = w.as_ptr() as usize;
        // At least four pieces per thread, so that the threads finish together (768 outputs
        // in pieces of 512 left one thread a third of the work).
        let chunk = n.div_ceil(4 * threads).next_multiple_of(16).min(CHUNK);
        let columns = |c: usize, out: &mut [f32]| {
            for (jj, o) in out.iter_mut().enumerate() {
                let j = c * chunk + jj;
                // SAFETY: column j of w is k contiguous floats inside the view.
                let col = unsafe {
                    std::slice::from_raw_parts((base as *const f32).offset(j as isize * cs), k)
                };
                *o += dot(x, col);
            }
        };
        if threads == 1 {
            y.chunks_mut(chunk)
                .enumerate()
                .for_each(|(c, out)| columns(c, out));
        } else {
            y.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(c, out)| columns(c, out));
        }
        true
    }
}
// ANCHOR_END: matvec

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    #[test]
    fn streaming_zeroes_exactly_the_slice_at_any_alignment_and_length() {
        for start in 0..17 {
            for len in [0, 1, 15, 16, 17, 31, 33, 100, 4099] {
                let mut x = vec![1.5f32; start + len + 20];
                zero_streaming(&mut x[start..start + len]);
                for (i, &v) in x.iter().enumerate() {
                    let inside = (start..start + len).contains(&i);
                    assert_eq!(
                        v,
                        if inside { 0.0 } else { 1.5 },
                        "start {start}, len {len}, i {i}"
                    );
                }
            }
        }
    }

    fn naive(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum()
        })
    }

    #[test]
    fn any_strides() {
        let a = Array2::from_shape_fn((37, 53), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((53, 29), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.5);
        let mut c = Array2::zeros((37, 29));
        matmul(a.view(), b.view(), c.view_mut(), false);
        assert_eq!(c, naive(a.view(), b.view()));
        // Transposed and sliced views, accumulating.
        let at = a.t().as_standard_layout().into_owned(); // aᵀ stored by rows, so at.t() is a by columns
        let mut c2 = c.clone();
        matmul(at.t(), b.view(), c2.view_mut(), true);
        assert_eq!(c2, &c * 2.0);
        let mut d = Array2::zeros((10, 29));
        matmul(a.slice(s![5..15, ..]), b.view(), d.view_mut(), false);
        assert_eq!(d, c.slice(s![5..15, ..]));
    }

    /// x [r, c] lying by rows, or by columns (stored as its transpose by rows).
    fn laid(x: &Array2<f32>, by_columns: bool) -> Array2<f32> {
        if by_columns {
            x.t().as_standard_layout().into_owned().reversed_axes()
        } else {
            x.clone()
        }
    }

    #[test]
    fn products_with_mixed_orders_are_copied_to_one_order_exactly() {
        // Large enough, and long enough in k and n, for `relaid` to copy (a few percent of the
        // work); small integers, so that every sum is exact in f32 in any order.
        let (m, k, n) = (64, 1024, 512);
        let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 - 6.0);
        let want = a.dot(&b);
        let start = Array2::from_shape_fn((m, n), |(i, j)| ((i + j) % 3) as f32);
        for orders in 0..8 {
            let (a_col, b_col, c_col) = (orders & 1 != 0, orders & 2 != 0, orders & 4 != 0);
            let (a, b) = (laid(&a, a_col), laid(&b, b_col));
            assert_eq!(a.strides()[0] == 1, a_col);
            for accumulate in [false, true] {
                let mut c = laid(&start, c_col);
                matmul(a.view(), b.view(), c.view_mut(), accumulate);
                let expected = if accumulate {
                    &want + &start
                } else {
                    want.clone()
                };
                assert_eq!(c, expected, "orders {orders:03b}, accumulate {accumulate}");
            }
        }
        // The transpose that makes the copies, on edges that are not whole tiles.
        let x = Array2::from_shape_fn((45, 70), |(i, j)| (i * 70 + j) as f32);
        let mut y = Array2::zeros((70, 45));
        transpose(x.view(), y.view_mut());
        assert_eq!(y, x.t());
    }

    #[test]
    fn products_past_the_copy_bound_are_relaid_a_block_at_a_time_exactly() {
        // b by columns (a weight laid out by output), a and c by rows. Many rows: a and c are
        // copied, 13 rows at a time (the last block one row, multiplied as it lies). Few rows:
        // b is copied, 9 columns at a time (the last block one column).
        for (m, n, max) in [(66, 512, 20_000), (300, 37, 10_000)] {
            let k = 1024;
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
            let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 - 6.0);
            let b = laid(&b, true);
            let start = Array2::from_shape_fn((m, n), |(i, j)| ((i + j) % 3) as f32);
            let want = naive(a.view(), b.view());
            for accumulate in [false, true] {
                let mut c = start.clone();
                assert!(relaid_within(
                    a.view(),
                    b.view(),
                    c.view_mut(),
                    accumulate,
                    max
                ));
                let expected = if accumulate {
                    &want + &start
                } else {
                    want.clone()
                };
                assert_eq!(c, expected, "m {m}, n {n}, accumulate {accumulate}");
            }
        }
    }

    #[test]
    fn a_product_whose_blocks_would_each_reread_a_large_operand_is_not_relaid() {
        // b, by columns, is past REREAD_MAX: blocks of 13 rows would each pack it again.
        let (m, k, n) = (66, 1024, REREAD_MAX / 1024 + 1);
        let a = Array2::<f32>::zeros((m, k));
        let b = laid(&Array2::zeros((k, n)), true);
        let mut c = Array2::zeros((m, n));
        assert!(!relaid_within(
            a.view(),
            b.view(),
            c.view_mut(),
            false,
            20_000
        ));
        // The same blocks against a b within the bound are relaid (the test above).
        let b = laid(&Array2::zeros((k, 512)), true);
        let mut c = Array2::zeros((m, 512));
        assert!(relaid_within(
            a.view(),
            b.view(),
            c.view_mut(),
            false,
            20_000
        ));
    }

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0.0f64;
        for i in -87_000..88_000 {
            let x = i as f32 / 1000.0;
            let exact = (x as f64).exp();
            worst = worst.max(((fast_exp(x) as f64) - exact).abs() / exact);
        }
        assert!(worst < 2e-7, "{worst}");
        assert!(fast_exp(-200.0) < 1e-37);
        let xs: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 20.0).collect();
        let (max, sum) = max_and_exp_sum(&xs);
        let exact: f64 = xs.iter().map(|&x| ((x - max) as f64).exp()).sum();
        assert!(((sum as f64) - exact).abs() / exact < 1e-6);
    }

    #[test]
    fn softmax_in_one_exponential_pass_equals_the_two_pass_kernels() {
        for len in [0, 1, 15, 16, 17, 1000, 50_257] {
            let xs: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 20.0).collect();
            let (max, sum) = max_and_exp_sum(&xs);
            assert_eq!(row_max(&xs), max, "{len}");
            let mut ys = xs.clone();
            assert_eq!(
                exp_shifted_sum_inplace(&mut ys, max).to_bits(),
                sum.to_bits()
            );
            let mut want = xs.clone();
            exp_shifted_scaled_inplace(&mut want, max, 0.5);
            scale_inplace(&mut ys, 0.5);
            assert_eq!(ys, want, "{len}");
        }
    }

    #[test]
    fn one_row_takes_the_matrix_vector_path() {
        // 302 rows: blocks of 61 and 58, four rows at a time and then the rest one by one.
        let x = Array2::from_shape_fn((1, 302), |(_, j)| (j % 7) as f32 - 3.0);
        let w = Array2::from_shape_fn((302, 1100), |(i, j)| ((i * 3 + j) % 5) as f32 * 0.5);
        let wt = w.t().as_standard_layout().into_owned();
        for accumulate in [false, true] {
            let start = Array2::from_elem((1, 1100), 1.0f32);
            let expected = naive(x.view(), w.view()) + if accumulate { 1.0 } else { 0.0 };
            let (mut y1, mut y2) = (start.clone(), start);
            matmul(x.view(), w.view(), y1.view_mut(), accumulate);
            matmul(x.view(), wt.t(), y2.view_mut(), accumulate);
            assert_eq!(y1, expected);
            assert_eq!(y2, expected);
        }
    }

    #[test]
    fn large_products_split_over_threads() {
        let a = Array2::from_shape_fn((256, 300), |(i, j)| ((i + 2 * j) % 7) as f32);
        let b = Array2::from_shape_fn((300, 200), |(i, j)| ((3 * i + j) % 5) as f32);
        let mut c = Array2::zeros((256, 200));
        matmul(a.view(), b.view(), c.view_mut(), false);
        assert_eq!(c, naive(a.view(), b.view()));
    }

    #[test]
    fn fewer_rows_than_columns_split_the_columns_over_the_threads() {
        // 3 threads: 1000 columns in parts of 336, 336 and 328, none a whole number of tiles;
        // small integers, so that every sum is exact in f32 in any order.
        let a = Array2::from_shape_fn((48, 300), |(i, j)| ((i + 2 * j) % 7) as f32 - 3.0);
        let b = Array2::from_shape_fn((300, 1000), |(i, j)| ((3 * i + j) % 5) as f32);
        let want = naive(a.view(), b.view());
        let start = Array2::from_shape_fn((48, 1000), |(i, j)| ((i + j) % 3) as f32);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            for c_col in [false, true] {
                for accumulate in [false, true] {
                    let mut c = laid(&start, c_col);
                    gemm_views(a.view(), b.view(), c.view_mut(), accumulate, true);
                    let expected = if accumulate {
                        &want + &start
                    } else {
                        want.clone()
                    };
                    assert_eq!(c, expected, "c by columns {c_col}, accumulate {accumulate}");
                }
            }
        });
    }
}

// ANCHOR: exp
/// e^x for f32, written so that the compiler turns loops over it into SIMD code (the C
/// library's exp is one call per number). Relative error below 2e-7 for x in [-87, 88];
/// smaller x give (nearly) 0.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4; // ln 2 = LN2_HI + LN2_LO, LN2_HI with few mantissa bits
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer, in any SIMD
    // max/min rather than clamp: they compile to single SIMD instructions.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.3).min(88.7);
    // e^x = 2^n · e^r with n = round(x / ln 2) and |r| <= ln(2)/2. After adding ROUND, the low
    // bits of the float hold n itself.
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // e^r by its Taylor series to degree 7: error below 1e-8 for |r| <= 0.35.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^n, built directly as the bits of a float: exponent n + 127, mantissa 0.
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let scale = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    p * scale
}

/// Runs `$body` compiled for AVX-512 when the CPU has it (checked once, at run time), and for
/// the baseline x86-64 otherwise: the same Rust code, vectorized for the widest registers.
macro_rules! simd_dispatch {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn generic($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn wide($($arg: $ty),*) -> $ret {
                    generic($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the features it was compiled for were just detected.
                    return unsafe { wide($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;

simd_dispatch! {
    /// The largest entry of `xs`.
    fn row_max(xs: &[f32]) -> f32 {
        const LANES: usize = 16;
        let mut m = [f32::NEG_INFINITY; LANES];
        let chunks = xs.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                m[i] = m[i].max(c[i]);
            }
        }
        tail.iter().chain(&m).fold(f32::NEG_INFINITY, |a, &b| a.max(b))
    }
}

simd_dispatch! {
    /// x = e^(x - shift) in place, returning Σ x: softmax's numerators and denominator with one
    /// exponential per entry (summed in the order of `max_and_exp_sum`, to the same bits).
    fn exp_shifted_sum_inplace(xs: &mut [f32], shift: f32) -> f32 {
        const LANES: usize = 16;
        let mut s = [0.0f32; LANES];
        let mut chunks = xs.chunks_exact_mut(LANES);
        for c in &mut chunks {
            for i in 0..LANES {
                c[i] = fast_exp(c[i] - shift);
                s[i] += c[i];
            }
        }
        let mut tail = 0.0f32;
        for x in chunks.into_remainder() {
            *x = fast_exp(*x - shift);
            tail += *x;
        }
        s.iter().sum::<f32>() + tail
    }
}

simd_dispatch! {
    /// x = x · a, in place.
    fn scale_inplace(xs: &mut [f32], a: f32) -> () {
        for x in xs.iter_mut() {
            *x *= a;
        }
    }
}
// ANCHOR_END: exp

/// Sets `x` to zero with stores that bypass the cache: a gradient of hundreds of megabytes is
/// not read back soon, and an ordinary store first reads each line it writes.
pub fn zero_streaming(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512 (just checked).
        unsafe { zero_streaming_avx512(x) };
        return;
    }
    x.fill(0.0);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn zero_streaming_avx512(x: &mut [f32]) {
    use std::arch::x86_64::*;
    // Up to the first 64-byte boundary and after the last one, ordinary stores.
    let head = x.as_ptr().align_offset(64).min(x.len());
    let (start, rest) = x.split_at_mut(head);
    start.fill(0.0);
    let mut lines = rest.chunks_exact_mut(16);
    for line in &mut lines {
        // SAFETY: `line` is 16 floats starting on a 64-byte boundary.
        unsafe { _mm512_stream_ps(line.as_mut_ptr(), _mm512_setzero_ps()) };
    }
    lines.into_remainder().fill(0.0);
    // The streamed stores are ordered before anything this thread writes after.
    _mm_sfence();
}

simd_dispatch! {
    /// y += Σ_r a[r] · x[r]: four rows, one pass over y. As it reads column j of the rows, it
    /// asks for what lies `ahead` numbers past it in memory: the same column of the next rows.
    fn axpy4(a: [f32; 4], x: [&[f32]; 4], y: &mut [f32], ahead: usize) -> () {
        const LINE: usize = 16;
        let rows = x.map(|r| r.chunks_exact(LINE));
        let tails = rows.clone().map(|r| r.remainder());
        let [r0, r1, r2, r3] = rows;
        let mut ys = y.chunks_exact_mut(LINE);
        for (j, (y, (((x0, x1), x2), x3))) in (&mut ys).zip(r0.zip(r1).zip(r2).zip(r3)).enumerate() {
            for r in x {
                prefetch(r.as_ptr().wrapping_add(j * LINE + ahead));
            }
            for i in 0..LINE {
                y[i] += a[0] * x0[i] + a[1] * x1[i] + a[2] * x2[i] + a[3] * x3[i];
            }
        }
        let [t0, t1, t2, t3] = tails;
        let rest = t0.iter().zip(t1).zip(t2).zip(t3);
        for (y, (((&x0, &x1), &x2), &x3)) in ys.into_remainder().iter_mut().zip(rest) {
            *y += a[0] * x0 + a[1] * x1 + a[2] * x2 + a[3] * x3;
        }
    }
}

simd_dispatch! {
    /// y += a · x
    fn axpy(a: f32, x: &[f32], y: &mut [f32]) -> () {
        for (y, &x) in y.iter_mut().zip(x) {
            *y += a * x;
        }
    }
}

simd_dispatch! {
    /// a · b, with 16 partial sums so that the loop vectorizes; b streams from memory (a
    /// column of the LM head's weights), and what lies past it is asked for ahead.
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        const LANES: usize = 16;
        let mut s = [0.0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
        for (j, (x, y)) in ca.zip(cb).enumerate() {
            prefetch(b.as_ptr().wrapping_add(j * LANES + DOT_AHEAD / 4));
            for i in 0..LANES {
                s[i] += x[i] * y[i];
            }
        }
        s.iter().sum::<f32>() + tail
    }
}

/// A bfloat16 number, stored as the upper 16 bits of an f32, back to f32 (exact).
#[inline(always)]
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// How far ahead, in bytes, a product that streams its weights from memory asks for them.
pub(crate) const AHEAD: usize = 4096;

/// How far ahead, in bytes, `dot` asks for its second operand: one stream per thread, which
/// gained from twice `AHEAD` (GPT-2 124M's f32 new tokens, Zen 5, 2 threads: 69.0 a second at
/// 4 KiB ahead, 70.4 at 8 KiB, 69.6 at 32 KiB, tokens in turn in one process).
const DOT_AHEAD: usize = 8192;

/// Asks for the cache line at `p` before it is read. Whatever `p` points to: a prefetch reads
/// nothing and cannot fault.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint, not a load; any address is allowed.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

simd_dispatch! {
    /// The largest entry of `xs` and Σ e^(x - max): the two halves of a stable log-sum-exp.
    fn max_and_exp_sum(xs: &[f32]) -> (f32, f32) {
        const LANES: usize = 16;
        let max = row_max(xs);
        let tail = xs.chunks_exact(LANES).remainder();
        let mut s = [0.0f32; LANES];
        for c in xs.chunks_exact(LANES) {
            for i in 0..LANES {
                s[i] += fast_exp(c[i] - max);
            }
        }
        let sum = s.iter().sum::<f32>() + tail.iter().map(|&x| fast_exp(x - max)).sum::<f32>();
        (max, sum)
    }
}

simd_dispatch! {
    /// x = e^(x - shift) · scale, in place: a row of softmax probabilities, scaled.
    fn exp_shifted_scaled_inplace(xs: &mut [f32], shift: f32, scale: f32) -> () {
        for x in xs.iter_mut() {
            *x = fast_exp(*x - shift) * scale;
        }
    }
}

/// tanh from [`fast_exp`]: 1 - 2 / (e^(2x) + 1). Absolute error about 1e-7.
#[inline(always)]
pub fn fast_tanh(x: f32) -> f32 {
    1.0 - 2.0 / (fast_exp(2.0 * x) + 1.0)
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6; // sqrt(2 / pi)
const GELU_CUBIC: f32 = 0.044_715;

simd_dispatch! {
    /// y = gelu(x), GPT-2's tanh approximation, over a slice.
    fn gelu_slice(x: &[f32], y: &mut [f32]) -> () {
        for (y, &x) in y.iter_mut().zip(x) {
            let t = fast_tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
            *y = 0.5 * x * (1.0 + t);
        }
    }
}

simd_dispatch! {
    /// dx = dy · gelu'(x) over a slice.
    fn gelu_backward_slice(x: &[f32], dy: &[f32], dx: &mut [f32]) -> () {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            let t = fast_tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
            *dx = dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du);
        }
    }
}

thread_local! {
    /// Set on the pool thread that drives a whole generation (see [`on_pool`]).
    static DRIVER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Inside a task that shares the threads with others already (attention's, one per sequence and head),
/// where a product had better stay on its own thread.
pub fn nested() -> bool {
    rayon::current_thread_index().is_some() && !DRIVER.with(|d| d.get())
}

/// Runs `f` on a thread of the pool, which drives every product from there. A product started
/// from outside the pool puts the calling thread to sleep until the pool is done and wakes it
/// again, which costs more than a generated token's small products take; from inside, the
/// driving thread works and waits with the others.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    struct Driving;
    impl Drop for Driving {
        fn drop(&mut self) {
            DRIVER.with(|d| d.set(false));
        }
    }
    rayon::scope(|_| {
        DRIVER.with(|d| d.set(true));
        let _driving = Driving;
        f()
    })
}
