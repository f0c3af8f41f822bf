//! The bf16 matrix multiply on AMX, the tile unit of Intel's Sapphire Rapids and later.
//!
//! AMX adds eight tile registers, each up to 16 rows of 64 bytes, and `tdpbf16ps`, which
//! multiplies a tile of A (16 rows × 32 bf16) by a tile of B (16 pairs of rows × 16 columns,
//! each entry a pair of bf16) into a tile of C (16 × 16 f32): 8,192 multiply-adds in one
//! instruction, where `vdpbf16ps` does 32. B's tile is exactly a panel of
//! [`PackedB`](crate::matmul_bf16::PackedB) (pair q, column j), so the packing of B is shared;
//! A's tile wants each row's pairs side by side, so A is laid out by rows ([`A_ROWS`] at a time).
//!
//! ```text
//! C tile 32 × 32 = four 16 × 16 tiles:   tmm0 tmm1      A: tmm4 (rows 0..16), tmm5 (16..32)
//!                                        tmm2 tmm3      B: tmm6 (columns 0..16), tmm7 (16..32)
//! per 16 pairs of k: 4 loads, 4 tdpbf16ps (tmm0 += tmm4·tmm6, tmm1 += tmm4·tmm7, …)
//! ```
//!
//! Rust has no stable intrinsics for AMX yet, so the instructions are written as inline
//! assembly; each block holds all the tile work of one call, so no tile register is assumed to
//! survive between blocks except the configuration, which each task loads itself.

/// Rows of A (and of C) in one tile of the kernel, and columns of B: two AMX tiles each way.
pub const A_ROWS: usize = 32;
const B_COLS: usize = 32;

/// Pairs of k that one `tdpbf16ps` consumes (16 rows of B's tile, 64 bytes of A's).
const STEP: usize = 16;

/// Does this CPU have AMX with bf16, and has the kernel let this process use it? (Checked
/// once. Linux gives the tile registers' state only to a process that asks for it.)
pub fn available() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            // GPT2_NO_AMX=1 keeps the AVX-512 kernel, to compare the two on one machine.
            if std::env::var_os("GPT2_NO_AMX").is_some_and(|v| v != "0") {
                return false;
            }
            use std::arch::x86_64::__cpuid_count;
            // CPUID leaf 7: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE.
            let edx = __cpuid_count(7, 0).edx;
            let cpu = edx & (1 << 22) != 0 && edx & (1 << 24) != 0;
            cpu && crate::matmul_bf16::avx512_bf16() && request_tiles()
        })
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        false
    }
}

/// Asks Linux for the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tiles() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with these arguments only changes what this process may use.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

/// The tile configuration: palette 1, tiles 0 to 7 of 16 rows × 64 bytes.
#[repr(C, align(64))]
struct Config([u8; 64]);

const CONFIG: Config = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64; // bytes per row
        c[48 + t] = 16; // rows
        t += 1;
    }
    Config(c)
};

/// Loads the tile configuration on this thread, for the kernels it runs until [`release`].
///
/// # Safety
/// [`available`] returned true.
#[cfg(target_arch = "x86_64")]
pub unsafe fn configure() {
    // SAFETY: CONFIG is a valid palette-1 configuration; the CPU has AMX (the caller checked).
    unsafe {
        std::arch::asm!("ldtilecfg [{}]", in(reg) CONFIG.0.as_ptr(), options(nostack, readonly))
    };
}

/// Returns the tile registers to their initial state (the kernel then saves less of this
/// thread's state when it switches).
///
/// # Safety
/// [`available`] returned true.
#[cfg(target_arch = "x86_64")]
pub unsafe fn release() {
    // SAFETY: the CPU has AMX (the caller checked).
    unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
}

/// A [M, K] as the kernel reads it, from the panels `pack_a` writes (pair q, row i of panel r
/// at (r · k2 + q) · 8 + i): row i's pair q at i · stride + q, stride = ⌈k2 / 16⌉ · 16 (rows
/// start on a cache line), rows rounded up to a multiple of [`A_ROWS`]; what is past the
/// edges is 0.
pub fn rows_from_panels(panels: &[u32], m: usize, k2: usize, mut out: Vec<u32>) -> Vec<u32> {
    use rayon::prelude::*;
    const MR: usize = 8;
    let stride = row_stride(k2);
    out = rows_memory(m, k2, out);
    out.par_chunks_mut(MR * stride)
        .enumerate()
        .for_each(|(r, rows)| {
            if r * MR >= m {
                rows.fill(0);
                return;
            }
            let panel = &panels[r * k2 * MR..(r + 1) * k2 * MR];
            let mut q = 0;
            #[cfg(target_arch = "x86_64")]
            if crate::matmul_bf16::avx512_bf16() {
                while q + 8 <= k2 {
                    // SAFETY: the panel holds pairs q..q + 8 of 8 rows, 8 words apart; rows
                    // holds 8 rows of `stride` ≥ q + 8 words; the CPU has AVX.
                    unsafe {
                        crate::kernels::transpose8(
                            panel.as_ptr().add(q * MR) as *const f32,
                            MR as isize,
                            rows.as_mut_ptr().add(q) as *mut f32,
                            stride as isize,
                        )
                    };
                    q += 8;
                }
            }
            for i in 0..MR {
                for qq in q..k2 {
                    rows[i * stride + qq] = panel[qq * MR + i];
                }
                rows[i * stride + k2..(i + 1) * stride].fill(0);
            }
        });
    out
}

/// `out` resized to hold A [M, K] laid out by rows, K = 2 · k2 (or one less), for a packing that
/// writes every word: what it held from an earlier product is kept, not cleared.
pub fn rows_memory(m: usize, k2: usize, mut out: Vec<u32>) -> Vec<u32> {
    let len = m.div_ceil(A_ROWS) * A_ROWS * row_stride(k2);
    out.truncate(len);
    out.resize(len, 0);
    out
}

/// Words from one row of A to the next in [`rows_from_panels`]' layout.
pub fn row_stride(k2: usize) -> usize {
    k2.div_ceil(STEP) * STEP
}

// ANCHOR: kernel
/// tile [32 × 32] = A (32 rows from `a`, `stride` words apart) · B (a panel of 32 columns,
/// pair q at `b` + 32 q), over k2 pairs; `tile` is added to where `add` (a product over k in
/// parts). AMX for whole steps of 16 pairs, `vdpbf16ps` for the rest.
///
/// # Safety
/// [`configure`] ran on this thread; `a` holds 32 rows of `stride` ≥ k2 words, `b` k2 · 32.
#[cfg(target_arch = "x86_64")]
pub unsafe fn kernel(
    a: *const u32,
    stride: usize,
    b: *const u32,
    k2: usize,
    tile: &mut [f32; A_ROWS * B_COLS],
    add: bool,
) {
    let steps = k2 / STEP;
    let t = tile.as_mut_ptr();
    if steps > 0 {
        // SAFETY: every load reads 16 rows of 64 bytes inside a's 32 rows or b's panel, every
        // store writes 16 rows of 64 bytes inside tile; the tiles are configured.
        unsafe {
            std::arch::asm!(
                "test {acc}, {acc}",
                "jz 3f",
                "tileloadd tmm0, [{t} + {st}*1]",
                "tileloadd tmm1, [{t} + {st}*1 + 64]",
                "tileloadd tmm2, [{t2} + {st}*1]",
                "tileloadd tmm3, [{t2} + {st}*1 + 64]",
                "jmp 2f",
                "3:",
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "2:",
                "tileloadd tmm4, [{a0} + {sa}*1]",
                "tileloadd tmm6, [{b} + {sb}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{b} + {sb}*1 + 64]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{a1} + {sa}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "add {a0}, 64",
                "add {a1}, 64",
                "add {b}, 2048",
                "dec {n}",
                "jnz 2b",
                "tilestored [{t} + {st}*1], tmm0",
                "tilestored [{t} + {st}*1 + 64], tmm1",
                "tilestored [{t2} + {st}*1], tmm2",
                "tilestored [{t2} + {st}*1 + 64], tmm3",
                acc = in(reg) add as usize,
                a0 = inout(reg) a => _,
                a1 = inout(reg) a.add(16 * stride) => _,
                sa = in(reg) stride * 4,
                b = inout(reg) b => _,
                sb = in(reg) B_COLS * 4,
                n = inout(reg) steps => _,
                t = in(reg) t,
                t2 = in(reg) t.add(16 * B_COLS),
                st = in(reg) B_COLS * 4,
                options(nostack),
            );
        }
    }
    if steps * STEP < k2 {
        // SAFETY: the caller's bounds; the CPU has AVX512-BF16 (AMX implies it here).
        unsafe { tail(a, stride, b, steps * STEP, k2, tile, add || steps > 0) };
    }
}
// ANCHOR_END: kernel

/// tile (+)= the products of pairs q0..k2, by `vdpbf16ps`, for the pairs AMX's steps leave.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn tail(
    a: *const u32,
    stride: usize,
    b: *const u32,
    q0: usize,
    k2: usize,
    tile: &mut [f32; A_ROWS * B_COLS],
    add: bool,
) {
    use std::arch::x86_64::*;
    // SAFETY: both are 64 bytes of plain data; __m512bh reads them as 32 bf16.
    let as_bh = |v: __m512i| unsafe { std::mem::transmute::<__m512i, __m512bh>(v) };
    for i in 0..A_ROWS {
        // SAFETY (throughout): row i of tile, pairs q0..k2 of a's row i and of b.
        unsafe {
            let row = tile.as_mut_ptr().add(i * B_COLS);
            let (mut c0, mut c1) = if add {
                (_mm512_loadu_ps(row), _mm512_loadu_ps(row.add(16)))
            } else {
                (_mm512_setzero_ps(), _mm512_setzero_ps())
            };
            for q in q0..k2 {
                let ai = as_bh(_mm512_set1_epi32(*a.add(i * stride + q) as i32));
                let bq = b.add(q * B_COLS) as *const __m512i;
                c0 = _mm512_dpbf16_ps(c0, ai, as_bh(_mm512_loadu_si512(bq)));
                c1 = _mm512_dpbf16_ps(c1, ai, as_bh(_mm512_loadu_si512(bq.add(1))));
            }
            _mm512_storeu_ps(row, c0);
            _mm512_storeu_ps(row.add(16), c1);
        }
    }
}
