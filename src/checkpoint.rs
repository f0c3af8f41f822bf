//! Reading and writing tensors in the safetensors format, the format of Hugging Face's
//! `model.safetensors`.

use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2, IxDyn};
use safetensors::{Dtype, SafeTensors};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid safetensors file: {message}")]
    Format { path: String, message: String },
    #[error("{path} has no tensor `{name}`")]
    Missing { path: String, name: String },
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        path: String,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` has dtype {dtype:?}; only F32, F16 and BF16 are supported")]
    Dtype {
        path: String,
        name: String,
        dtype: Dtype,
    },
}

// ANCHOR: read
/// Every tensor of a safetensors file, converted to f32 (from F32, F16 or BF16), by name.
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, ArrayD<f32>>, CheckpointError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: shown.clone(),
        source,
    })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| CheckpointError::Format {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let mut out = BTreeMap::new();
    for (name, view) in file.iter() {
        // Little-endian, as the format prescribes.
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => view
                .data()
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => view
                .data()
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            dtype => {
                return Err(CheckpointError::Dtype {
                    path: shown,
                    name: name.to_string(),
                    dtype,
                });
            }
        };
        let array = ArrayD::from_shape_vec(IxDyn(view.shape()), data).map_err(|e| {
            CheckpointError::Format {
                path: shown.clone(),
                message: format!("tensor `{name}`: {e}"),
            }
        })?;
        out.insert(name.to_string(), array);
    }
    Ok(out)
}
// ANCHOR_END: read

/// The tensors of a checkpoint, taken out one by one by name and shape as a model is built.
pub struct Tensors {
    path: String,
    map: BTreeMap<String, ArrayD<f32>>,
}

impl Tensors {
    pub fn read(path: &Path) -> Result<Tensors, CheckpointError> {
        Ok(Tensors {
            path: path.display().to_string(),
            map: read_safetensors(path)?,
        })
    }

    /// Tensors already in memory; `path` names them in errors.
    pub fn new(path: &str, map: BTreeMap<String, ArrayD<f32>>) -> Tensors {
        Tensors {
            path: path.to_string(),
            map,
        }
    }

    /// Is there a tensor called `name`?
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The names not taken yet.
    pub fn remaining(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Removes the tensor `name`, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<ArrayD<f32>, CheckpointError> {
        let t = self
            .map
            .remove(name)
            .ok_or_else(|| CheckpointError::Missing {
                path: self.path.clone(),
                name: name.to_string(),
            })?;
        if t.shape() != shape {
            return Err(CheckpointError::Shape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: t.shape().to_vec(),
            });
        }
        Ok(t)
    }

    pub fn take1(&mut self, name: &str, n: usize) -> Result<Array1<f32>, CheckpointError> {
        let t = self.take(name, &[n])?;
        Ok(t.into_dimensionality::<Ix1>().expect("shape checked"))
    }

    pub fn take2(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Array2<f32>, CheckpointError> {
        let t = self.take(name, &[rows, cols])?;
        Ok(t.into_dimensionality::<Ix2>().expect("shape checked"))
    }
}
