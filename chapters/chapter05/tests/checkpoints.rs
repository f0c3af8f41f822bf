//! Checkpoints: what we save loads back identically, OpenAI's original layout loads like
//! `save_pretrained`'s, half-precision files load, and broken files are explained.

use std::collections::HashMap;
use std::path::Path;

use chapter05::reference;
use gpt2::checkpoint::{CONFIG_FILE, WEIGHTS_FILE, read_safetensors};
use gpt2::{GPT, GPTConfig};
use half::{bf16, f16};
use ndarray::{Array2, ArrayD};
use safetensors::{Dtype, tensor::TensorView};

fn batch() -> Array2<u32> {
    reference::ids(&reference::expected().unwrap()["batch"]["x"]).unwrap()
}

fn logits(model: &mut GPT) -> ndarray::Array3<f32> {
    model.forward(batch().view(), None).unwrap().0.to_owned()
}

/// Writes `tensors` (converted to `dtype`) and the reference config into `dir`.
fn write_checkpoint(dir: &Path, tensors: &[(String, ArrayD<f32>)], dtype: Dtype) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let data: Vec<u8> = match dtype {
                Dtype::F32 => t.iter().flat_map(|v| v.to_le_bytes()).collect(),
                Dtype::F16 => t
                    .iter()
                    .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                    .collect(),
                Dtype::BF16 => t
                    .iter()
                    .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
                    .collect(),
                _ => unreachable!(),
            };
            (name.clone(), t.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(n, s, d)| (n.clone(), TensorView::new(dtype, s.clone(), d).unwrap()))
        .collect();
    let file = safetensors::serialize(views, None::<HashMap<String, String>>).unwrap();
    std::fs::write(dir.join(WEIGHTS_FILE), file).unwrap();
    std::fs::copy(reference::dir().join(CONFIG_FILE), dir.join(CONFIG_FILE)).unwrap();
}

fn reference_tensors() -> Vec<(String, ArrayD<f32>)> {
    read_safetensors(&reference::dir().join(WEIGHTS_FILE))
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn save_then_load_gives_identical_logits() {
    let mut model = GPT::load(&reference::dir()).unwrap();
    let before = logits(&mut model);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let mut again = GPT::load(dir.path()).unwrap();
    assert_eq!(logits(&mut again), before, "bit for bit");
    assert_eq!(again.config, model.config);
    // The same tensor names as save_pretrained, and no tied LM head.
    let names: Vec<String> = read_safetensors(&dir.path().join(WEIGHTS_FILE))
        .unwrap()
        .into_keys()
        .collect();
    let theirs: Vec<String> = reference_tensors().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, theirs);
    assert!(!names.iter().any(|n| n.contains("lm_head")));
}

#[test]
fn a_random_model_round_trips_too() {
    let config = GPTConfig::preset("nano").unwrap();
    let mut model = GPT::new(config, 42);
    let ids = Array2::from_shape_fn((2, 8), |(i, j)| (i * 1000 + j * 7) as u32);
    let before = model.forward(ids.view(), None).unwrap().0.to_owned();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let mut again = GPT::load(dir.path()).unwrap();
    assert_eq!(again.forward(ids.view(), None).unwrap().0, before);
}

// ANCHOR: hub_layout
#[test]
fn openais_layout_loads_like_save_pretrained() {
    // The hub's original GPT-2 files: no `transformer.` prefix, and a causal-mask buffer
    // `h.N.attn.bias` of shape [1, 1, n_positions, n_positions] in every block.
    let config = GPTConfig::load_hf(&reference::dir().join(CONFIG_FILE)).unwrap();
    let mut tensors: Vec<(String, ArrayD<f32>)> = reference_tensors()
        .into_iter()
        .map(|(n, t)| (n.trim_start_matches("transformer.").to_string(), t))
        .collect();
    let p = config.block_size;
    for l in 0..config.n_layer {
        let mask = ArrayD::from_shape_fn(vec![1, 1, p, p], |i| f32::from(i[3] <= i[2]));
        tensors.push((format!("h.{l}.attn.bias"), mask));
    }
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(dir.path(), &tensors, Dtype::F32);

    let mut hub = GPT::load(dir.path()).unwrap();
    let mut ours = GPT::load(&reference::dir()).unwrap();
    assert_eq!(logits(&mut hub), logits(&mut ours));
}
// ANCHOR_END: hub_layout

#[test]
fn half_precision_checkpoints_load() {
    let mut full = GPT::load(&reference::dir()).unwrap();
    let exact = logits(&mut full);
    for (dtype, tolerance) in [(Dtype::F16, 2e-2), (Dtype::BF16, 1e-1)] {
        let dir = tempfile::tempdir().unwrap();
        write_checkpoint(dir.path(), &reference_tensors(), dtype);
        let mut half = GPT::load(dir.path()).unwrap();
        let err = (&logits(&mut half) - &exact)
            .mapv(f32::abs)
            .fold(0.0f32, |m, &e| m.max(e));
        println!("{dtype:?}: max abs logit difference {err:.1e}");
        assert!(err > 0.0 && err < tolerance, "{dtype:?}: {err}");
    }
}

#[test]
fn broken_checkpoints_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let err = GPT::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");

    // A missing tensor is named.
    let mut tensors = reference_tensors();
    tensors.retain(|(n, _)| n != "transformer.h.1.mlp.c_fc.bias");
    write_checkpoint(dir.path(), &tensors, Dtype::F32);
    let err = GPT::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.ends_with("has no tensor `transformer.h.1.mlp.c_fc.bias`"),
        "{err}"
    );

    // A tensor of the wrong shape is named, with both shapes.
    let mut tensors = reference_tensors();
    for (n, t) in tensors.iter_mut() {
        if n == "transformer.wpe.weight" {
            *t = ArrayD::zeros(vec![16, 32]);
        }
    }
    write_checkpoint(dir.path(), &tensors, Dtype::F32);
    let err = GPT::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.ends_with("tensor `transformer.wpe.weight` has shape [16, 32], expected [32, 32]"),
        "{err}"
    );

    // Something that is not GPT-2.
    let mut tensors = reference_tensors();
    tensors.push((
        "transformer.h.0.attn.rotary.inv_freq".to_string(),
        ArrayD::zeros(vec![4]),
    ));
    write_checkpoint(dir.path(), &tensors, Dtype::F32);
    let err = GPT::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("unexpected tensors `transformer.h.0.attn.rotary.inv_freq`"),
        "{err}"
    );

    // Not a safetensors file at all.
    std::fs::write(dir.path().join(WEIGHTS_FILE), b"not safetensors").unwrap();
    let err = GPT::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("is not a valid safetensors file"), "{err}");

    // Empty, or cut short: the file says how long it is against what it needed.
    std::fs::write(dir.path().join(WEIGHTS_FILE), b"").unwrap();
    let err = GPT::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("it holds 0 bytes, fewer than the 8"), "{err}");
    let whole = std::fs::read(reference::dir().join(WEIGHTS_FILE)).unwrap();
    std::fs::write(dir.path().join(WEIGHTS_FILE), &whole[..1000]).unwrap();
    let err = GPT::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("the file holds 1000 in all"), "{err}");
}

#[test]
fn bad_batches_are_explained() {
    let mut model = GPT::load(&reference::dir()).unwrap();
    let too_long = Array2::zeros((1, 33));
    let err = model
        .forward(too_long.view(), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "a sequence of 33 tokens is longer than the model's context of 32"
    );
    let bad_id = Array2::from_elem((1, 4), 512u32);
    let err = model.forward(bad_id.view(), None).unwrap_err().to_string();
    assert_eq!(
        err,
        "token id 512 is outside the model's vocabulary of 512 ids"
    );
    assert!(model.backward().is_err(), "no loss to differentiate");
}
