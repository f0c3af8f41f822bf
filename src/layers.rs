//! The building blocks of GPT-2, each a forward pass and a hand-written backward pass over plain
//! f32 arrays: `Linear`, `LayerNorm`, GELU and softmax.
//!
//! Shapes use N for the number of token positions (batch × sequence, B·T), C for the width.
//! A backward pass receives the gradient of the loss with respect to the layer's output, adds
//! the gradients of its parameters to their `grad`, and returns (writes) the gradient with
//! respect to its input.

use ndarray::{
    Array, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Dimension,
    Ix1, Ix2, Zip, s,
};

use rayon::prelude::*;

use crate::checkpoint::{CheckpointError, Tensors};
use crate::kernels::{
    exp_shifted_sum_inplace, fast_exp, matmul, matmul_copy, row_max, scale_inplace,
};
use crate::quant::{Packed, Weights};
use crate::rng::Rng;

/// A learned tensor and the gradient of the loss with respect to it, of the same shape.
#[derive(Debug, Clone)]
pub struct Param<D: Dimension> {
    pub value: Array<f32, D>,
    pub grad: Array<f32, D>,
    /// `grad` counts as zero whatever it holds: a large weight's `zero_grad` writes nothing,
    /// and the first product into the gradient writes it instead of adding to it (see
    /// [`Param::take_grad_zero`]); visiting fills it with zeros first.
    pub grad_is_zero: bool,
    /// A weight that products multiply keeps its value rounded to bf16 here, written by AdamW
    /// as it updates the value when training in bf16 (see [`Bf16Copy`]); `None` for the rest.
    pub copy: Option<Bf16Copy>,
}

/// A weight's value rounded to bfloat16, as the products of a bf16 step would round it: written
/// once per step by the optimizer, in its pass over the value, so that the forward product and
/// the backward one read two bytes a number instead of four and round nothing. Every visit of
/// the parameters marks it stale, since the value may change; a stale copy is not read.
#[derive(Debug, Clone, Default)]
pub struct Bf16Copy {
    pub data: Vec<u16>,
    pub fresh: bool,
}

impl<D: Dimension> Param<D> {
    pub fn new(value: Array<f32, D>) -> Param<D> {
        let grad = Array::zeros(value.raw_dim());
        Param {
            value,
            grad,
            grad_is_zero: false,
            copy: None,
        }
    }

    /// A parameter that is never trained (in a model built for forward passes only): its
    /// gradient is empty.
    pub fn without_grad(value: Array<f32, D>) -> Param<D> {
        Param {
            grad: Array::zeros(D::zeros(value.ndim())),
            value,
            grad_is_zero: false,
            copy: None,
        }
    }

    /// The same parameter, keeping a bf16 copy of its value (see [`Bf16Copy`]).
    pub fn with_copy(mut self) -> Param<D> {
        self.copy = Some(Bf16Copy::default());
        self
    }

    /// Whether a product into `grad` must write it rather than add to it (it counts as zero),
    /// which the product is about to do: `grad` holds a gradient again.
    pub fn take_grad_zero(&mut self) -> bool {
        std::mem::take(&mut self.grad_is_zero)
    }

    /// Writes the zeros that `grad` only counted as.
    fn write_zero_grad(&mut self) {
        if std::mem::take(&mut self.grad_is_zero) {
            zero(self.grad.as_slice_mut().expect("gradients are contiguous"));
        }
    }

    /// Values drawn from N(0, std²).
    pub fn normal(shape: D, std: f32, rng: &mut Rng) -> Param<D> {
        Param::new(Array::from_shape_simple_fn(shape, || {
            rng.normal() as f32 * std
        }))
    }
}

impl Param<Ix2> {
    /// The value in bf16, when the copy is fresh.
    pub fn bf16(&self) -> Option<ArrayView2<'_, u16>> {
        fresh_copy(&self.value, &self.copy)
    }

    /// The value, its bf16 copy when fresh (as [`Param::bf16`]), and the gradient, to write.
    pub fn split(
        &mut self,
    ) -> (
        ArrayView2<'_, f32>,
        Option<ArrayView2<'_, u16>>,
        ArrayViewMut2<'_, f32>,
    ) {
        let copy = fresh_copy(&self.value, &self.copy);
        (self.value.view(), copy, self.grad.view_mut())
    }
}

/// `copy` as an array of `value`'s shape, if it is fresh.
fn fresh_copy<'a>(value: &Array2<f32>, copy: &'a Option<Bf16Copy>) -> Option<ArrayView2<'a, u16>> {
    let copy = copy.as_ref().filter(|c| c.fresh)?;
    ArrayView2::from_shape(value.raw_dim(), &copy.data).ok()
}

/// What [`Params::visit`] calls for each parameter: `f(name, shape, value, grad)`.
pub type Visit<'a> = dyn FnMut(&str, &[usize], &mut [f32], &mut [f32]) + 'a;

/// What [`Params::visit_copies`] calls: as [`Visit`], and the parameter's bf16 copy if it keeps
/// one (marked stale; the optimizer writes it and marks it fresh).
pub type VisitCopies<'a> =
    dyn FnMut(&str, &[usize], &mut [f32], &mut [f32], Option<&mut Bf16Copy>) + 'a;

/// Something with named parameters, named as in GPT-2's checkpoints (`h.0.attn.c_attn.weight`).
pub trait Params {
    /// Calls `f(name, shape, value, grad, copy)` for every parameter, in a fixed order.
    fn visit_copies(&mut self, prefix: &str, f: &mut VisitCopies<'_>);

    /// Calls `f(name, shape, value, grad)` for every parameter, in a fixed order.
    fn visit(&mut self, prefix: &str, f: &mut Visit<'_>) {
        self.visit_copies(prefix, &mut |name, shape, value, grad, _| {
            f(name, shape, value, grad)
        });
    }

    /// Sets every gradient to zero. (A large weight's gradient is only marked as zero: the
    /// backward pass's first product writes it anyway; see [`Param::grad_is_zero`].)
    fn zero_grad(&mut self) {
        self.visit("", &mut |_, _, _, g| zero(g));
    }
}

/// Writes zeros over `g`, in parallel, past the caches.
fn zero(g: &mut [f32]) {
    g.par_chunks_mut(1 << 15)
        .for_each(crate::kernels::zero_streaming)
}

/// `prefix.name`, or `name` when there is no prefix.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

pub(crate) fn visit_param<D: Dimension>(p: &mut Param<D>, name: &str, f: &mut VisitCopies<'_>) {
    let shape = p.value.shape().to_vec();
    p.write_zero_grad();
    let value = p.value.as_slice_mut().expect("parameters are contiguous");
    let grad = p.grad.as_slice_mut().expect("gradients are contiguous");
    if let Some(c) = &mut p.copy {
        c.fresh = false;
    }
    let copy = p.copy.as_mut();
    f(name, &shape, value, grad, copy);
}

// ANCHOR: linear
/// y = x·W + b. GPT-2 stores W as [in, out] (its "Conv1D"), so no transpose is needed.
#[derive(Debug, Clone)]
pub struct Linear {
    /// weight: [in, out]
    pub weight: Param<Ix2>,
    /// bias: [out]
    pub bias: Param<Ix1>,
    /// Optionally, weightᵀ for generating, [out, in]: in f32 laid out by output, or in
    /// bfloat16, int8 or int4 (chapter 8).
    /// Visiting the parameters drops it, since they may change.
    pub packed: Option<Packed>,
}

impl Linear {
    /// x: [N, in] -> y: [N, out]
    pub fn forward(&self, x: ArrayView2<f32>, mut y: ArrayViewMut2<f32>) {
        let bias = self
            .bias
            .value
            .broadcast(y.raw_dim())
            .expect("bias is [out]");
        y.assign(&bias);
        if let Some(w) = &self.packed
            && w.forward(x, y.view_mut(), true)
        {
            return;
        }
        matmul_copy(x, self.weight.value.view(), self.weight.bf16(), y, true);
    }

    /// x: [N, in] (the forward input), dy: [N, out] -> dx: [N, in].
    /// dW += xᵀ·dy, db += the sum of dy over positions, dx = dy·Wᵀ.
    pub fn backward(&mut self, x: ArrayView2<f32>, dy: ArrayView2<f32>, dx: ArrayViewMut2<f32>) {
        let add = !self.weight.take_grad_zero();
        matmul(x.t(), dy, self.weight.grad.view_mut(), add);
        self.bias.grad += &dy.sum_axis(Axis(0));
        let copy = self.weight.bf16().map(|w| w.reversed_axes());
        matmul_copy(dy, self.weight.value.t(), copy, dx, false);
    }
}
// ANCHOR_END: linear

impl Linear {
    /// A layer with all parameters zero.
    pub fn zeros(fan_in: usize, fan_out: usize) -> Linear {
        Linear {
            weight: Param::new(Array::zeros((fan_in, fan_out))).with_copy(),
            bias: Param::new(Array::zeros(fan_out)),
            packed: None,
        }
    }

    /// GPT-2's initialisation: weights from N(0, std²), biases zero.
    pub fn init(fan_in: usize, fan_out: usize, std: f32, rng: &mut Rng) -> Linear {
        Linear {
            weight: Param::normal(Ix2(fan_in, fan_out), std, rng).with_copy(),
            bias: Param::new(Array::zeros(fan_out)),
            packed: None,
        }
    }
}

impl Linear {
    /// Takes `prefix.weight` [in, out] and `prefix.bias` [out] from a checkpoint.
    pub fn from_tensors(
        t: &mut Tensors,
        prefix: &str,
        fan_in: usize,
        fan_out: usize,
    ) -> Result<Linear, CheckpointError> {
        let weight = t.take2(&join(prefix, "weight"), fan_in, fan_out)?;
        let bias = t.take1(&join(prefix, "bias"), fan_out)?;
        let mut layer = Linear {
            weight: t.param(weight).with_copy(),
            bias: t.param(bias),
            packed: None,
        };
        if let Some(weights) = t.inference() {
            layer.pack(weights);
            // A copy that serves every product leaves the f32 numbers nothing to do.
            if layer
                .packed
                .as_ref()
                .is_some_and(Packed::serves_every_product)
            {
                layer.weight.value = Array2::zeros((0, 0));
            }
        }
        Ok(layer)
    }
}

impl Linear {
    /// Keeps a copy of the weight in `weights`' format for the forward pass (see [`Packed`]).
    pub fn pack(&mut self, weights: Weights) {
        self.packed = Packed::new(self.weight.value.t(), weights);
    }
}

impl Params for Linear {
    fn visit_copies(&mut self, prefix: &str, f: &mut VisitCopies<'_>) {
        self.packed = None;
        visit_param(&mut self.weight, &join(prefix, "weight"), f);
        visit_param(&mut self.bias, &join(prefix, "bias"), f);
    }

    fn zero_grad(&mut self) {
        // The backward pass writes dW whole (its first product), so zeros need not be written.
        self.weight.grad_is_zero = true;
        self.bias.grad.fill(0.0);
    }
}

// ANCHOR: layernorm
/// Normalises each position to mean 0 and variance 1, then scales and shifts it:
/// y = (x - mean) / sqrt(var + eps) * weight + bias.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// weight: [C]
    pub weight: Param<Ix1>,
    /// bias: [C]
    pub bias: Param<Ix1>,
    pub eps: f32,
}

impl LayerNorm {
    /// x: [N, C] -> y: [N, C]; also writes each row's mean and 1/sqrt(var + eps): [N].
    pub fn forward(
        &self,
        x: ArrayView2<f32>,
        mut y: ArrayViewMut2<f32>,
        mean: ArrayViewMut1<f32>,
        rstd: ArrayViewMut1<f32>,
    ) {
        let c = x.ncols() as f32;
        Zip::from(x.rows())
            .and(y.rows_mut())
            .and(mean)
            .and(rstd)
            .par_for_each(|x, y, mean, rstd| {
                let m = x.sum() / c;
                let var = x.fold(0.0, |acc, &v| acc + (v - m) * (v - m)) / c;
                let r = 1.0 / (var + self.eps).sqrt();
                self.normalize_row(x, m, r, y);
                (*mean, *rstd) = (m, r);
            });
    }

    /// y = the forward pass's output again, from x and the rows' statistics it wrote: the
    /// same numbers, bit for bit.
    pub fn normalize(
        &self,
        x: ArrayView2<f32>,
        mean: ArrayView1<f32>,
        rstd: ArrayView1<f32>,
        mut y: ArrayViewMut2<f32>,
    ) {
        Zip::from(x.rows())
            .and(y.rows_mut())
            .and(mean)
            .and(rstd)
            .par_for_each(|x, y, &m, &r| self.normalize_row(x, m, r, y));
    }

    /// One row: y = (x - m)·r·weight + bias.
    fn normalize_row(&self, x: ArrayView1<f32>, m: f32, r: f32, mut y: ArrayViewMut1<f32>) {
        let (w, b) = (self.weight.value.view(), self.bias.value.view());
        Zip::from(&mut y)
            .and(x)
            .and(w)
            .and(b)
            .for_each(|y, &x, &w, &b| *y = (x - m) * r * w + b);
    }

    /// dy: [N, C] -> dx: [N, C], *added* to `dx`, which holds the gradient that reached x
    /// through the residual connection. With n = (x - mean)·rstd and g = dy·weight:
    /// dx = rstd · (g - mean(g) - n · mean(g·n)); dweight += Σ dy·n; dbias += Σ dy.
    pub fn backward(
        &mut self,
        x: ArrayView2<f32>,
        mean: ArrayView1<f32>,
        rstd: ArrayView1<f32>,
        dy: ArrayView2<f32>,
        mut dx: ArrayViewMut2<f32>,
    ) {
        // Blocks of rows in parallel, each summing its own share of dweight and dbias; the
        // shares are added in order afterwards, so the result does not depend on the threads.
        const ROWS: usize = 64;
        let (c, w) = (x.ncols(), self.weight.value.view());
        let shares: Vec<(Array1<f32>, Array1<f32>)> = dx
            .axis_chunks_iter_mut(Axis(0), ROWS)
            .into_par_iter()
            .enumerate()
            .map(|(i, dx)| {
                let rows = i * ROWS..i * ROWS + dx.nrows();
                let (mut dw, mut db) = (Array1::zeros(c), Array1::zeros(c));
                let x = x.slice(s![rows.clone(), ..]);
                let (mean, rstd) = (mean.slice(s![rows.clone()]), rstd.slice(s![rows.clone()]));
                let dy = dy.slice(s![rows, ..]);
                layernorm_backward_rows(x, mean, rstd, dy, w, dx, &mut dw, &mut db);
                (dw, db)
            })
            .collect();
        for (dw, db) in shares {
            self.weight.grad += &dw;
            self.bias.grad += &db;
        }
    }
}

/// LayerNorm's backward pass over some rows (see [`LayerNorm::backward`]): dx += ..., and the
/// rows' sums of dy·n and dy added to `dw` and `db`.
#[allow(clippy::too_many_arguments)]
fn layernorm_backward_rows(
    x: ArrayView2<f32>,
    mean: ArrayView1<f32>,
    rstd: ArrayView1<f32>,
    dy: ArrayView2<f32>,
    w: ArrayView1<f32>,
    mut dx: ArrayViewMut2<f32>,
    dw: &mut Array1<f32>,
    db: &mut Array1<f32>,
) {
    let c = x.ncols() as f32;
    for (((x, dy), mut dx), (&m, &r)) in x
        .rows()
        .into_iter()
        .zip(dy.rows())
        .zip(dx.rows_mut())
        .zip(mean.iter().zip(rstd.iter()))
    {
        let (mut g_mean, mut gn_mean) = (0.0, 0.0);
        for ((&x, &dy), &w) in x.iter().zip(dy).zip(w) {
            let n = (x - m) * r;
            g_mean += dy * w;
            gn_mean += dy * w * n;
        }
        (g_mean, gn_mean) = (g_mean / c, gn_mean / c);
        for (j, ((&x, &dy), dx)) in x.iter().zip(dy).zip(dx.iter_mut()).enumerate() {
            let n = (x - m) * r;
            dw[j] += dy * n;
            db[j] += dy;
            *dx += r * (dy * w[j] - g_mean - n * gn_mean);
        }
    }
}
// ANCHOR_END: layernorm

impl LayerNorm {
    /// x: [N, C] -> a new [N, C], for inference: the statistics the backward pass would need
    /// are not kept.
    pub fn apply(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut y = Array2::zeros(x.raw_dim());
        let (mut mean, mut rstd) = (Array1::zeros(x.nrows()), Array1::zeros(x.nrows()));
        self.forward(x, y.view_mut(), mean.view_mut(), rstd.view_mut());
        y
    }

    /// weight 1, bias 0: the identity on normalised input, as GPT-2 starts.
    pub fn new(c: usize, eps: f32) -> LayerNorm {
        LayerNorm {
            weight: Param::new(Array::ones(c)),
            bias: Param::new(Array::zeros(c)),
            eps,
        }
    }
}

impl LayerNorm {
    /// Takes `prefix.weight` and `prefix.bias`, both [C], from a checkpoint.
    pub fn from_tensors(
        t: &mut Tensors,
        prefix: &str,
        c: usize,
        eps: f32,
    ) -> Result<LayerNorm, CheckpointError> {
        let weight = t.take1(&join(prefix, "weight"), c)?;
        let bias = t.take1(&join(prefix, "bias"), c)?;
        Ok(LayerNorm {
            weight: t.param(weight),
            bias: t.param(bias),
            eps,
        })
    }
}

impl Params for LayerNorm {
    fn visit_copies(&mut self, prefix: &str, f: &mut VisitCopies<'_>) {
        visit_param(&mut self.weight, &join(prefix, "weight"), f);
        visit_param(&mut self.bias, &join(prefix, "bias"), f);
    }
}

// ANCHOR: gelu
const SQRT_2_OVER_PI: f32 = 0.797_884_6; // sqrt(2 / pi)
const GELU_CUBIC: f32 = 0.044_715;

/// GELU, the tanh approximation GPT-2 uses (`gelu_new`):
/// y = x/2 · (1 + tanh(sqrt(2/pi) · (x + 0.044715 x³))).
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh())
}

/// dGELU/dx, with u = sqrt(2/pi)(x + 0.044715 x³):
/// 1/2 (1 + tanh u) + x/2 (1 - tanh² u) · sqrt(2/pi)(1 + 3 · 0.044715 x²).
pub fn gelu_grad(x: f32) -> f32 {
    let t = (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh();
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
}

/// x: [N, D] -> y = gelu(x)
pub fn gelu_forward(x: ArrayView2<f32>, mut y: ArrayViewMut2<f32>) {
    // Rows in parallel, each through the vectorized kernel (same formula as `gelu`).
    Zip::from(y.rows_mut())
        .and(x.rows())
        .par_for_each(|mut y, x| match (x.as_slice(), y.as_slice_mut()) {
            (Some(x), Some(y)) => crate::kernels::gelu_slice(x, y),
            (_, _) => Zip::from(y).and(x).for_each(|y, &x| *y = gelu(x)),
        });
}

/// x: [N, D] (the forward input), dy -> dx = dy · gelu'(x)
pub fn gelu_backward(x: ArrayView2<f32>, dy: ArrayView2<f32>, mut dx: ArrayViewMut2<f32>) {
    Zip::from(dx.rows_mut())
        .and(x.rows())
        .and(dy.rows())
        .par_for_each(
            |mut dx, x, dy| match (x.as_slice(), dy.as_slice(), dx.as_slice_mut()) {
                (Some(x), Some(dy), Some(dx)) => crate::kernels::gelu_backward_slice(x, dy, dx),
                (_, _, _) => Zip::from(dx)
                    .and(x)
                    .and(dy)
                    .for_each(|dx, &x, &dy| *dx = dy * gelu_grad(x)),
            },
        );
}
// ANCHOR_END: gelu

// ANCHOR: softmax
/// Softmax of the first `len` entries of `row`, in place; the entries after them become 0
/// (a causal mask: position i may only look at positions 0..=i).
/// Subtracting the maximum first keeps exp from overflowing and does not change the result.
pub fn softmax_prefix(mut row: ArrayViewMut1<f32>, len: usize) {
    // A contiguous row takes the vectorized kernels of chapter 8: the same arithmetic.
    if let Some(xs) = row.as_slice_mut() {
        let (head, tail) = xs.split_at_mut(len);
        let max = row_max(head);
        let sum = exp_shifted_sum_inplace(head, max);
        scale_inplace(head, 1.0 / sum);
        tail.fill(0.0);
        return;
    }
    let max = row
        .iter()
        .take(len)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in row.iter_mut().take(len) {
        *v = fast_exp(*v - max); // chapter 8's exponential: the C library's, without the call
        sum += *v;
    }
    for (j, v) in row.iter_mut().enumerate() {
        *v = if j < len { *v / sum } else { 0.0 };
    }
}

/// Backward of softmax, row by row: with p = softmax(s) and dp the gradient of p,
/// ds_j = p_j (dp_j - Σ_k p_k dp_k). Written into `dp` in place.
pub fn softmax_backward_inplace(p: ArrayView1<f32>, mut dp: ArrayViewMut1<f32>) {
    let dot: f32 = p.iter().zip(dp.iter()).map(|(p, d)| p * d).sum();
    Zip::from(&mut dp)
        .and(p)
        .for_each(|d, &p| *d = p * (*d - dot));
}
// ANCHOR_END: softmax

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layernorm_normalize_gives_the_forward_output_bit_for_bit() {
        let mut rng = Rng::new(3);
        let (n, c) = (37, 100);
        let x = Array2::from_shape_simple_fn((n, c), || 3.0 * rng.normal() as f32 + 0.7);
        let mut ln = LayerNorm::new(c, 1e-5);
        ln.weight.value.mapv_inplace(|_| rng.normal() as f32);
        ln.bias.value.mapv_inplace(|_| rng.normal() as f32);
        let (mut y, mut mean, mut rstd) =
            (Array2::zeros((n, c)), Array1::zeros(n), Array1::zeros(n));
        ln.forward(x.view(), y.view_mut(), mean.view_mut(), rstd.view_mut());
        let mut again = Array2::from_elem((n, c), f32::NAN);
        ln.normalize(x.view(), mean.view(), rstd.view(), again.view_mut());
        assert_eq!(again, y);
        // Not the identity: the statistics and the weights are used.
        assert!((&y - &x).mapv(f32::abs).sum() > 1.0);
    }

    #[test]
    fn gelu_values() {
        // Reference values of the tanh approximation.
        assert!((gelu(1.0) - 0.841_192).abs() < 1e-6);
        assert!((gelu(-1.0) + 0.158_808).abs() < 1e-6);
        assert_eq!(gelu(0.0), 0.0);
        for x in [-3.0f32, -0.5, 0.0, 0.7, 2.5] {
            let h = 1e-3;
            let numeric = (gelu(x + h) - gelu(x - h)) / (2.0 * h);
            assert!((numeric - gelu_grad(x)).abs() < 1e-3, "{x}");
        }
    }

    #[test]
    fn softmax_masks_and_normalises() {
        let mut row = ndarray::arr1(&[1.0f32, 2.0, 3.0, 100.0]);
        softmax_prefix(row.view_mut(), 3);
        assert!((row.sum() - 1.0).abs() < 1e-6);
        assert_eq!(row[3], 0.0);
        assert!(row[2] > row[1] && row[1] > row[0]);
    }
}
