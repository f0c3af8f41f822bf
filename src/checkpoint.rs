//! Reading and writing tensors in the safetensors format, the format of Hugging Face's
//! `model.safetensors`.

use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2, IxDyn};
use safetensors::Dtype;
use safetensors::tensor::{Metadata, TensorInfo};

use crate::block::Block;
use crate::config::GPTConfig;
use crate::layers::{LayerNorm, Param, Params};
use crate::model::GPT;
use crate::quant::Weights;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{dir} holds no model.safetensors{hint}")]
    NoWeights { dir: String, hint: String },
    #[error(
        "{path}: lm_head.weight differs from the token embedding; only GPT-2's tied LM head is supported"
    )]
    UntiedHead { path: String },
    #[error("{path}: unexpected tensors {names} (is this a GPT-2 checkpoint?)")]
    Unexpected { path: String, names: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid safetensors file: {message}")]
    Format { path: String, message: String },
    #[error("{path} has no tensor `{name}`")]
    Missing { path: String, name: String },
    #[error("{path}: tensor `{name}` holds {value} at index {index}; a model's numbers are finite")]
    NotFinite {
        path: String,
        name: String,
        index: usize,
        value: f32,
    },
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
    let mut file = SafetensorsFile::open(path)?;
    let mut out = BTreeMap::new();
    // In the order of the data, so that the file is read once from start to end.
    for name in file.metadata.offset_keys() {
        let shape = file
            .metadata
            .info(&name)
            .expect("a name from the header")
            .shape
            .clone();
        let mut data = Vec::with_capacity(shape.iter().product());
        file.stream(&name, |numbers| data.extend_from_slice(numbers))?;
        let array = ArrayD::from_shape_vec(IxDyn(&shape), data).expect("the header's length");
        out.insert(name, array);
    }
    Ok(out)
}
// ANCHOR_END: read

/// A safetensors file opened for reading its tensors one at a time, each converted to f32 a
/// piece at a time on its way to where it goes: the file is never held in memory whole.
pub struct SafetensorsFile {
    file: std::fs::File,
    path: String,
    metadata: Metadata,
    /// Where the tensors' data starts: after the 8-byte length and the header.
    data_start: u64,
}

impl SafetensorsFile {
    /// Opens `path` and reads its header, checking that the tensors lie end to end, fit their
    /// shapes, and end where the file ends.
    pub fn open(path: &Path) -> Result<SafetensorsFile, CheckpointError> {
        let shown = path.display().to_string();
        let io = |source| CheckpointError::Io {
            path: shown.clone(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let header = read_header(&mut file, &shown)?;
        let format = |message: String| CheckpointError::Format {
            path: shown.clone(),
            message,
        };
        let metadata: Metadata =
            serde_json::from_slice(&header).map_err(|e| format(format!("its header: {e}")))?;
        let size = file.metadata().map_err(io)?.len();
        let data_start = 8 + header.len() as u64;
        let described = data_start + metadata.data_len() as u64;
        if size != described {
            return Err(format(format!(
                "its header describes {described} bytes, the file holds {size}"
            )));
        }
        Ok(SafetensorsFile {
            file,
            path: shown,
            metadata,
            data_start,
        })
    }

    /// Reads the tensor `name`, which must have `out.len()` numbers, into `out`.
    pub fn read_into(&mut self, name: &str, out: &mut [f32]) -> Result<(), CheckpointError> {
        let shape = self.info(name)?.shape.clone();
        if shape.iter().product::<usize>() != out.len() {
            return Err(CheckpointError::Shape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: vec![out.len()],
                found: shape,
            });
        }
        let mut at = 0;
        self.stream(name, |numbers| {
            out[at..at + numbers.len()].copy_from_slice(numbers);
            at += numbers.len();
        })?;
        check_finite(&self.path, name, &*out)
    }

    fn info(&self, name: &str) -> Result<&TensorInfo, CheckpointError> {
        self.metadata
            .info(name)
            .ok_or_else(|| CheckpointError::Missing {
                path: self.path.clone(),
                name: name.to_string(),
            })
    }

    /// Hands the numbers of tensor `name` to `each`, in order, a piece at a time.
    fn stream(&mut self, name: &str, mut each: impl FnMut(&[f32])) -> Result<(), CheckpointError> {
        use std::io::{Read, Seek, SeekFrom};
        let info = self.info(name)?;
        let (dtype, (start, end)) = (info.dtype, info.data_offsets);
        if !matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(CheckpointError::Dtype {
                path: self.path.clone(),
                name: name.to_string(),
                dtype,
            });
        }
        let io = |source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        };
        self.file
            .seek(SeekFrom::Start(self.data_start + start as u64))
            .map_err(io)?;
        let mut left = end - start;
        let mut bytes = vec![0u8; left.min(PIECE)];
        let mut numbers = Vec::with_capacity(bytes.len() / 2);
        while left > 0 {
            let piece = &mut bytes[..left.min(PIECE)];
            self.file.read_exact(piece).map_err(io)?;
            left -= piece.len();
            numbers.clear();
            // Little-endian, as the format prescribes.
            match dtype {
                Dtype::F32 => numbers.extend(
                    piece
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                ),
                Dtype::F16 => numbers.extend(
                    piece
                        .chunks_exact(2)
                        .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
                ),
                _ => numbers.extend(
                    piece
                        .chunks_exact(2)
                        .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()),
                ),
            }
            each(&numbers);
        }
        Ok(())
    }
}

/// A damaged file, or a run saved after it diverged: refused when read rather than computing
/// NaN everywhere downstream.
fn check_finite<'a>(
    path: &str,
    name: &str,
    numbers: impl IntoIterator<Item = &'a f32>,
) -> Result<(), CheckpointError> {
    match numbers
        .into_iter()
        .enumerate()
        .find(|(_, x)| !x.is_finite())
    {
        Some((index, &value)) => Err(CheckpointError::NotFinite {
            path: path.to_string(),
            name: name.to_string(),
            index,
            value,
        }),
        None => Ok(()),
    }
}

/// Bytes read or written at a time: a multiple of every element's width, small beside a
/// tensor, large enough that each piece is one system call.
const PIECE: usize = 1 << 20;

/// The JSON header of a safetensors file (after its 8-byte length), leaving `file` at the
/// first byte of the tensors' data.
fn read_header(file: &mut std::fs::File, shown: &str) -> Result<Vec<u8>, CheckpointError> {
    use std::io::Read;
    let io = |source| CheckpointError::Io {
        path: shown.to_string(),
        source,
    };
    let size = file.metadata().map_err(io)?.len();
    let format = |message: String| CheckpointError::Format {
        path: shown.to_string(),
        message,
    };
    if size < 8 {
        return Err(format(format!(
            "it holds {size} bytes, fewer than the 8 of a header's length (a copy cut short?)"
        )));
    }
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(io)?;
    let len = u64::from_le_bytes(len);
    if len > size.saturating_sub(8) || len > 100 << 20 {
        return Err(format(format!(
            "its header claims {len} bytes, the file holds {size} in all (a copy cut short?)"
        )));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).map_err(io)?;
    Ok(header)
}

/// The metadata of a safetensors file (its header's `__metadata__`), read without its tensors.
pub fn safetensors_metadata(
    path: &Path,
) -> Result<std::collections::HashMap<String, String>, CheckpointError> {
    let shown = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|source| CheckpointError::Io {
        path: shown.clone(),
        source,
    })?;
    let header = read_header(&mut file, &shown)?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| CheckpointError::Format {
            path: shown.clone(),
            message: format!("its header: {e}"),
        })?;
    let metadata = header.get("__metadata__").and_then(|m| m.as_object());
    Ok(metadata
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect())
}

/// The folder that holds a checkpoint's files: `dir` itself, or, for a run folder written by
/// `gpt2 train`, the checkpoint its `latest` file names.
pub fn resolve(dir: &Path) -> std::path::PathBuf {
    if dir.join(CONFIG_FILE).exists() {
        return dir.to_path_buf();
    }
    match std::fs::read_to_string(dir.join(LATEST_FILE)) {
        Ok(name) if is_plain_name(name.trim()) => dir.join(CHECKPOINTS_DIR).join(name.trim()),
        _ => dir.to_path_buf(),
    }
}

/// A run folder's file naming its current checkpoint, a folder of `checkpoints/`.
pub const LATEST_FILE: &str = "latest";
pub const CHECKPOINTS_DIR: &str = "checkpoints";

/// A file name, not a path: no separator, not `.` or `..`.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\'])
}

/// The tensors of a checkpoint, taken out one by one by name and shape as a model is built,
/// each read from the file when it is taken: a model being built holds its own numbers and the
/// one tensor in hand, never a second copy of the file.
pub struct Tensors {
    file: SafetensorsFile,
    /// The names not taken yet.
    left: std::collections::BTreeSet<String>,
    /// Building a model for forward passes only (see [`GPT::load_for_inference`]): its weight
    /// matrices in this format, and no gradients.
    inference: Option<Weights>,
}

impl Tensors {
    /// The tensors of the safetensors file `path` (its header read and checked, not its data).
    pub fn open(path: &Path) -> Result<Tensors, CheckpointError> {
        let file = SafetensorsFile::open(path)?;
        let left = file.metadata.offset_keys().into_iter().collect();
        Ok(Tensors {
            file,
            left,
            inference: None,
        })
    }

    /// Is there a tensor called `name`, not taken yet?
    pub fn contains(&self, name: &str) -> bool {
        self.left.contains(name)
    }

    /// The names not taken yet.
    pub fn remaining(&self) -> impl Iterator<Item = &str> {
        self.left.iter().map(String::as_str)
    }

    /// The format that a model built for forward passes only keeps its weight matrices in;
    /// None when building a model to train.
    pub fn inference(&self) -> Option<Weights> {
        self.inference
    }

    /// A parameter holding `value`: with a gradient, unless the model is built for forward
    /// passes only.
    pub fn param<D: ndarray::Dimension>(&self, value: ndarray::Array<f32, D>) -> Param<D> {
        match self.inference {
            None => Param::new(value),
            Some(_) => Param::without_grad(value),
        }
    }

    /// Removes the tensor `name`, checking its shape, and reads it.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<ArrayD<f32>, CheckpointError> {
        let path = &self.file.path;
        if !self.left.remove(name) {
            return Err(CheckpointError::Missing {
                path: path.clone(),
                name: name.to_string(),
            });
        }
        let found = &self.file.info(name)?.shape;
        if found != shape {
            return Err(CheckpointError::Shape {
                path: path.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: found.clone(),
            });
        }
        let mut data = vec![0.0; shape.iter().product()];
        self.file.read_into(name, &mut data)?;
        Ok(ArrayD::from_shape_vec(IxDyn(shape), data).expect("the shape's length"))
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

/// The file names of a checkpoint directory, as Hugging Face names them.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Writes f32 tensors (name, shape, values) to a safetensors file, atomically.
pub fn write_safetensors<V: AsRef<[f32]>>(
    path: &Path,
    tensors: &[(String, Vec<usize>, V)],
) -> Result<(), CheckpointError> {
    write_safetensors_with(path, tensors, &[])
}

/// `write_safetensors`, with `extra` (key, value) pairs in the file's metadata. The bytes are
/// those of `safetensors::serialize`: the tensors in the order of their names.
pub fn write_safetensors_with<V: AsRef<[f32]>>(
    path: &Path,
    tensors: &[(String, Vec<usize>, V)],
    extra: &[(&str, String)],
) -> Result<(), CheckpointError> {
    let mut order: Vec<_> = tensors.iter().collect();
    order.sort_by(|a, b| a.0.cmp(&b.0));
    let shapes: Vec<_> = order
        .iter()
        .map(|(n, s, _)| (n.clone(), s.clone()))
        .collect();
    write_streaming(path, &shapes, extra, |write| {
        order.iter().try_for_each(|(_, _, v)| write(v.as_ref()))
    })
}

/// Writes a safetensors file of f32 tensors piece by piece, never holding a copy of them:
/// `shapes` names the tensors in the order in which `values` hands their numbers to `write`.
fn write_streaming(
    path: &Path,
    shapes: &[(String, Vec<usize>)],
    extra: &[(&str, String)],
    values: impl FnOnce(&mut dyn FnMut(&[f32]) -> std::io::Result<()>) -> std::io::Result<()>,
) -> Result<(), CheckpointError> {
    let format_error = |e: safetensors::SafeTensorError| CheckpointError::Format {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut infos = Vec::with_capacity(shapes.len());
    let mut offset = 0;
    for (name, shape) in shapes {
        let bytes = 4 * shape.iter().product::<usize>();
        let info = TensorInfo {
            dtype: Dtype::F32,
            shape: shape.clone(),
            data_offsets: (offset, offset + bytes),
        };
        offset += bytes;
        infos.push((name.clone(), info));
    }
    // transformers expects to find the framework in the file's metadata.
    let mut metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    metadata.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let metadata = Metadata::new(Some(metadata), infos).map_err(format_error)?;
    let mut header = serde_json::to_vec(&metadata).expect("a header serialises");
    // The data starts at a multiple of 8 bytes.
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut shapes = shapes.iter();
    let invalid = |message| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
    crate::fsutil::write_atomic_with(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        let mut piece = Vec::with_capacity(PIECE);
        values(&mut |numbers: &[f32]| {
            let Some((name, shape)) = shapes.next() else {
                return Err(invalid("more tensors than the header names".to_string()));
            };
            if numbers.len() != shape.iter().product::<usize>() {
                let n = numbers.len();
                return Err(invalid(format!(
                    "tensor `{name}` of shape {shape:?} has {n} numbers"
                )));
            }
            for part in numbers.chunks(PIECE / 4) {
                piece.clear();
                piece.extend(part.iter().flat_map(|v| v.to_le_bytes()));
                w.write_all(&piece)?;
            }
            Ok(())
        })?;
        match shapes.next() {
            None => Ok(()),
            Some((name, _)) => Err(invalid(format!(
                "tensor `{name}` was never given its numbers"
            ))),
        }
    })
    .map_err(|source| CheckpointError::Write {
        path: path.display().to_string(),
        source,
    })
}

// ANCHOR: load
impl GPT {
    /// Loads a checkpoint directory: `config.json` and `model.safetensors`, with tensor names
    /// prefixed `transformer.` (as `save_pretrained` writes them) or not (as in OpenAI's GPT-2
    /// files on the hub, which also carry `h.N.attn.bias` mask buffers, ignored here).
    pub fn load(dir: &Path) -> Result<GPT, CheckpointError> {
        GPT::load_with(dir, None)
    }

    /// Loads a checkpoint to compute forward passes only (to generate or score text), with its
    /// weight matrices in `weights`' format: each is packed as it is read, its f32 numbers are
    /// dropped where the packed copy serves every product, and no parameter has a gradient. Such
    /// a model cannot be trained or saved; [`GPT::load`] gives one that can.
    pub fn load_for_inference(dir: &Path, weights: Weights) -> Result<GPT, CheckpointError> {
        GPT::load_with(dir, Some(weights))
    }

    fn load_with(dir: &Path, inference: Option<Weights>) -> Result<GPT, CheckpointError> {
        let dir = &resolve(dir);
        let config = GPTConfig::load_hf(&dir.join(CONFIG_FILE))?;
        let weights = dir.join(WEIGHTS_FILE);
        if !weights.exists() {
            let hint = if dir.join("pytorch_model.bin").exists() {
                " (only pytorch_model.bin, a PyTorch pickle: save it again with safe_serialization)"
            } else {
                ""
            };
            return Err(CheckpointError::NoWeights {
                dir: dir.display().to_string(),
                hint: hint.to_string(),
            });
        }
        let mut t = Tensors::open(&weights)?;
        t.inference = inference;
        let prefix = if t.contains("transformer.wte.weight") {
            "transformer."
        } else {
            ""
        };
        let (v, c) = (config.vocab_size, config.n_embd);
        let wte = t.take2(&format!("{prefix}wte.weight"), v, c)?;
        let wpe = t.take2(&format!("{prefix}wpe.weight"), config.block_size, c)?;
        let h = (0..config.n_layer)
            .map(|l| Block::from_tensors(&mut t, &format!("{prefix}h.{l}"), &config))
            .collect::<Result<Vec<_>, _>>()?;
        let ln_f = LayerNorm::from_tensors(
            &mut t,
            &format!("{prefix}ln_f"),
            c,
            config.layer_norm_eps as f32,
        )?;
        if t.contains("lm_head.weight") && t.take2("lm_head.weight", v, c)? != wte {
            return Err(CheckpointError::UntiedHead {
                path: t.file.path.clone(),
            });
        }
        // Buffers, not parameters: the causal mask (and its fill value in older files).
        let unexpected: Vec<String> = t
            .remaining()
            .filter(|n| !n.ends_with(".attn.bias") && !n.ends_with(".attn.masked_bias"))
            .map(|n| format!("`{n}`"))
            .collect();
        if !unexpected.is_empty() {
            return Err(CheckpointError::Unexpected {
                path: t.file.path.clone(),
                names: unexpected.join(", "),
            });
        }
        let (wte, wpe) = (t.param(wte), t.param(wpe));
        let mut model = GPT::from_parts(config, wte, wpe, h, ln_f);
        if let Some(weights) = inference {
            model.make_inference_only(weights);
        }
        Ok(model)
    }
    // ANCHOR_END: load

    // ANCHOR: save
    /// Saves the model as `save_pretrained` would: `config.json`, and `model.safetensors` in f32
    /// with names prefixed `transformer.` and the tied LM head left out. Each file is written to
    /// a temporary file first and renamed, so an interrupted save never leaves a broken one.
    pub fn save(&mut self, dir: &Path) -> Result<(), CheckpointError> {
        self.save_with(dir, &[])
    }

    /// `save`, with `extra` (key, value) pairs in model.safetensors' metadata.
    pub fn save_with(
        &mut self,
        dir: &Path,
        extra: &[(&str, String)],
    ) -> Result<(), CheckpointError> {
        let fail = |path: &Path| {
            let path = path.display().to_string();
            move |source| CheckpointError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(fail(dir))?;
        // Two visits, one for the header and one for the numbers, written as they are visited.
        let mut shapes = Vec::new();
        self.visit("transformer", &mut |name, shape, _, _| {
            shapes.push((name.to_string(), shape.to_vec()));
        });
        write_streaming(&dir.join(WEIGHTS_FILE), &shapes, extra, |write| {
            let mut result = Ok(());
            self.visit("transformer", &mut |_, _, value, _| {
                if result.is_ok() {
                    result = write(value);
                }
            });
            result
        })?;
        let config = dir.join(CONFIG_FILE);
        crate::fsutil::write_atomic(&config, self.config.to_hf_json().as_bytes())
            .map_err(fail(&config))?;
        Ok(())
    }
    // ANCHOR_END: save
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    /// Values that are exact in f32, f16 and bf16 alike: small integers over powers of two.
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7 + seed) % 61) as f32 / 8.0 - 3.0)
            .collect()
    }

    #[test]
    fn the_writer_writes_the_bytes_of_safetensors_serialize() {
        let dir = tempfile::tempdir().unwrap();
        // Out of name order, and one tensor longer than a piece, ending inside one.
        let tensors = vec![
            ("wte".to_string(), vec![3, 100_000], values(300_000, 1)),
            ("b".to_string(), vec![5], values(5, 2)),
            ("a.c".to_string(), vec![2, 2, 2], values(8, 3)),
        ];
        let path = dir.path().join("ours.safetensors");
        write_safetensors(&path, &tensors).unwrap();
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views = tensors.iter().zip(&bytes).map(|((name, shape, _), data)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), data).unwrap(),
            )
        });
        let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        let theirs = safetensors::serialize(views, Some(metadata)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), theirs);
    }

    #[test]
    fn every_float_format_reads_back_across_pieces() {
        let dir = tempfile::tempdir().unwrap();
        // 700,000 two-byte numbers are 1.3 pieces, 300,000 four-byte ones 1.1.
        let (big, small) = (values(700_000, 4), values(300_000, 5));
        let f16s: Vec<u8> = big
            .iter()
            .flat_map(|&x| f16::from_f32(x).to_le_bytes())
            .collect();
        let bf16s: Vec<u8> = big
            .iter()
            .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
            .collect();
        let f32s: Vec<u8> = small.iter().flat_map(|x| x.to_le_bytes()).collect();
        let views = [
            ("half", Dtype::F16, vec![700, 1000], &f16s),
            ("brain", Dtype::BF16, vec![700_000], &bf16s),
            ("single", Dtype::F32, vec![300_000], &f32s),
        ]
        .map(|(name, dtype, shape, data)| (name, TensorView::new(dtype, shape, data).unwrap()));
        let path = dir.path().join("three.safetensors");
        std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
        let read = read_safetensors(&path).unwrap();
        assert_eq!(read["half"].shape(), [700, 1000]);
        assert_eq!(read["half"].as_slice().unwrap(), big);
        assert_eq!(read["brain"].as_slice().unwrap(), big);
        assert_eq!(read["single"].as_slice().unwrap(), small);
    }

    #[test]
    fn a_file_whose_length_is_not_its_headers_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        write_safetensors(&path, &[("x".to_string(), vec![4], values(4, 6))]).unwrap();
        let whole = std::fs::read(&path).unwrap();
        let n = whole.len();
        for (bytes, held) in [
            (&whole[..n - 1], n - 1),
            (&[&whole[..], &[0]].concat()[..], n + 1),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let err = read_safetensors(&path).unwrap_err().to_string();
            assert!(
                err.ends_with(&format!(
                    "its header describes {n} bytes, the file holds {held}"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn one_tensor_reads_into_its_place_or_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let mut bad = values(300_000, 8);
        bad[299_999] = f32::INFINITY;
        let tensors = [
            ("a".to_string(), vec![300_000], values(300_000, 7)),
            ("b".to_string(), vec![600, 500], bad),
        ];
        write_safetensors(&path, &tensors).unwrap();
        let mut file = SafetensorsFile::open(&path).unwrap();
        let mut out = vec![0.0; 300_000];
        file.read_into("a", &mut out).unwrap();
        assert_eq!(out, tensors[0].2);
        let shown = path.display();
        let err = |r: Result<(), CheckpointError>| r.unwrap_err().to_string();
        assert_eq!(
            err(file.read_into("b", &mut out)),
            format!("{shown}: tensor `b` holds inf at index 299999; a model's numbers are finite")
        );
        assert_eq!(
            err(file.read_into("a", &mut out[1..])),
            format!("{shown}: tensor `a` has shape [300000], expected [299999]")
        );
        assert_eq!(
            err(file.read_into("c", &mut out)),
            format!("{shown} has no tensor `c`")
        );
    }

    const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny");

    #[test]
    fn a_model_loaded_for_inference_computes_what_the_full_model_packed_computes() {
        let dir = Path::new(TINY);
        let ids = [3u32, 14, 15, 92, 65, 35];
        let batch = ndarray::Array2::from_shape_vec((1, 6), ids.to_vec()).unwrap();
        for weights in [Weights::F32, Weights::Bf16, Weights::Int8, Weights::Int4] {
            let mut full = GPT::load(dir).unwrap();
            full.use_weights(weights);
            let mut lean = GPT::load_for_inference(dir, weights).unwrap();
            assert!(lean.is_inference_only() && !full.is_inference_only());
            let want = full.forward(batch.view(), None).unwrap().0.to_owned();
            let got = lean.forward(batch.view(), None).unwrap().0.to_owned();
            assert_eq!(got, want, "{weights:?}: a prompt's logits");
            // Generating: the prompt, then one token at a time.
            let (mut a, mut b) = (full.new_cache(), lean.new_cache());
            for part in [&ids[..4], &ids[4..5], &ids[5..]] {
                let want = full.forward_cached(part, &mut a).unwrap();
                assert_eq!(
                    lean.forward_cached(part, &mut b).unwrap(),
                    want,
                    "{weights:?}"
                );
            }
            // What it holds: no gradient, and f32 matrices only where they still compute.
            let layer = &lean.h[1].mlp.c_fc;
            let dropped = match weights {
                Weights::Bf16 => crate::matmul_bf16::available(),
                Weights::F32 | Weights::Int8 | Weights::Int4 => true,
            };
            assert_eq!(layer.weight.value.is_empty(), dropped, "{weights:?}");
            assert!(layer.weight.grad.is_empty() && layer.bias.grad.is_empty());
            assert!(lean.wte.grad.is_empty() && lean.ln_f.weight.grad.is_empty());
            assert_eq!(lean.wte.value, full.wte.value, "the embeddings stay f32");
        }
    }

    #[test]
    #[should_panic(expected = "a model loaded for inference cannot be visited")]
    fn a_model_loaded_for_inference_is_not_saved() {
        let mut model = GPT::load_for_inference(Path::new(TINY), Weights::Int8).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let _ = model.save(dir.path());
    }

    #[test]
    #[should_panic(expected = "a model loaded for inference cannot be differentiated")]
    fn a_model_loaded_for_inference_has_no_backward_pass() {
        let mut model = GPT::load_for_inference(Path::new(TINY), Weights::F32).unwrap();
        let ids = ndarray::Array2::from_shape_vec((1, 4), vec![3u32, 14, 15, 92]).unwrap();
        model.forward(ids.view(), Some(ids.view())).unwrap();
        let _ = model.backward();
    }
}
