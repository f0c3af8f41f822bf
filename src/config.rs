//! The shape of a GPT-2 model: `GPTConfig`, its named presets, its Hugging Face `config.json`
//! form, and what follows from it (parameter counts, training FLOPs).

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What can be wrong with a configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("unknown preset `{name}` (known presets: {known})")]
    UnknownPreset { name: String, known: String },
    #[error("{field} must be positive, got {value}")]
    NotPositive { field: &'static str, value: String },
    #[error("n_embd ({n_embd}) must be divisible by n_head ({n_head})")]
    HeadsDoNotDivide { n_embd: usize, n_head: usize },
    #[error("{what} is not supported: {detail}")]
    Unsupported { what: &'static str, detail: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid GPT-2 config.json: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("a model of {params:.2e} parameters is more than this program builds (at most 1e12)")]
    TooLarge { params: f64 },
    /// A config file whose numbers are wrong: the file, then what is wrong.
    #[error("{path}: {source}")]
    InFile {
        path: String,
        source: Box<ConfigError>,
    },
}

/// The most parameters a model may have: far above any memory, and far below where counting
/// them in `usize` would overflow.
const MAX_PARAMS: f64 = 1e12;

// ANCHOR: config
/// The hyper-parameters that fix a GPT-2 model's shape, named as in nanoGPT, and LayerNorm's
/// epsilon (Hugging Face's `layer_norm_epsilon`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GPTConfig {
    /// Longest sequence the model reads: the number of learned positions (`n_positions`).
    pub block_size: usize,
    /// Number of token ids: 50,257 for GPT-2's tokenizer.
    pub vocab_size: usize,
    /// Number of Transformer blocks stacked on top of each other.
    pub n_layer: usize,
    /// Number of attention heads per block; each sees `n_embd / n_head` channels.
    pub n_head: usize,
    /// Width of the residual stream: every token is a vector of this many numbers.
    pub n_embd: usize,
    /// The epsilon LayerNorm adds to the variance (`layer_norm_epsilon`).
    pub layer_norm_eps: f64,
}
// ANCHOR_END: config

/// A named configuration and what it is for.
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub config: GPTConfig,
}

const fn gpt2_shape(n_layer: usize, n_head: usize, n_embd: usize) -> GPTConfig {
    GPTConfig {
        block_size: 1024,
        vocab_size: 50257,
        n_layer,
        n_head,
        n_embd,
        layer_norm_eps: 1e-5,
    }
}

// ANCHOR: presets
/// OpenAI's four published sizes, and two small shapes for training on a laptop CPU.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "gpt2",
        about: "GPT-2 small, 124M parameters (OpenAI, 2019)",
        config: gpt2_shape(12, 12, 768),
    },
    Preset {
        name: "gpt2-medium",
        about: "GPT-2 medium, 355M parameters",
        config: gpt2_shape(24, 16, 1024),
    },
    Preset {
        name: "gpt2-large",
        about: "GPT-2 large, 774M parameters",
        config: gpt2_shape(36, 20, 1280),
    },
    Preset {
        name: "gpt2-xl",
        about: "GPT-2 XL, 1.5B parameters",
        config: gpt2_shape(48, 25, 1600),
    },
    Preset {
        name: "shakespeare",
        about: "4 layers of width 128: trains on tiny Shakespeare on a CPU in minutes",
        config: GPTConfig {
            block_size: 128,
            n_layer: 4,
            n_head: 4,
            n_embd: 128,
            ..gpt2_shape(0, 0, 0)
        },
    },
    Preset {
        name: "nano",
        about: "2 layers of width 64: for smoke tests, seconds per hundred steps",
        config: GPTConfig {
            block_size: 64,
            n_layer: 2,
            n_head: 2,
            n_embd: 64,
            ..gpt2_shape(0, 0, 0)
        },
    },
];
// ANCHOR_END: presets

/// One line per preset: its shape, parameter count and purpose.
pub fn presets_table() -> String {
    use crate::numfmt::group_digits;
    let mut out = format!(
        "{:<12} {:>6} {:>5} {:>5} {:>7} {:>13}  about\n",
        "preset", "layers", "heads", "width", "context", "parameters"
    );
    for p in PRESETS {
        let c = &p.config;
        out.push_str(&format!(
            "{:<12} {:>6} {:>5} {:>5} {:>7} {:>13}  {}\n",
            p.name,
            c.n_layer,
            c.n_head,
            c.n_embd,
            c.block_size,
            group_digits(c.param_count().total() as u64),
            p.about
        ));
    }
    out
}

impl GPTConfig {
    /// The preset called `name` (see [`PRESETS`]).
    pub fn preset(name: &str) -> Result<GPTConfig, ConfigError> {
        PRESETS
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.config)
            .ok_or_else(|| ConfigError::UnknownPreset {
                name: name.to_string(),
                known: PRESETS
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Channels per attention head.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Checks that the numbers describe a model that can be built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let sizes = [
            ("block_size", self.block_size),
            ("vocab_size", self.vocab_size),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
        ];
        for (field, value) in sizes {
            if value == 0 {
                return Err(ConfigError::NotPositive {
                    field,
                    value: value.to_string(),
                });
            }
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps.is_finite()) {
            return Err(ConfigError::NotPositive {
                field: "layer_norm_eps",
                value: self.layer_norm_eps.to_string(),
            });
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(ConfigError::HeadsDoNotDivide {
                n_embd: self.n_embd,
                n_head: self.n_head,
            });
        }
        // Counted in floating point, which cannot overflow, before anything counts in usize.
        let (c, l) = (self.n_embd as f64, self.n_layer as f64);
        let params = (self.vocab_size + self.block_size) as f64 * c + l * 12.0 * c * c;
        if params > MAX_PARAMS {
            return Err(ConfigError::TooLarge { params });
        }
        Ok(())
    }

    /// Reads a Hugging Face `config.json` (the fields GPT-2 uses; the rest are ignored).
    pub fn from_hf_json(json: &str) -> Result<GPTConfig, serde_json::Error> {
        let hf: HfConfig = serde_json::from_str(json)?;
        Ok(hf.into())
    }

    /// Writes this config as a Hugging Face `config.json` that `GPT2LMHeadModel` accepts.
    pub fn to_hf_json(&self) -> String {
        let hf = HfConfigOut::from(self);
        // Serialising a struct of plain numbers and strings cannot fail.
        serde_json::to_string_pretty(&hf).expect("config serialises") + "\n"
    }

    /// Loads and validates a `config.json` file.
    pub fn load_hf(path: &Path) -> Result<GPTConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: shown.clone(),
            source,
        })?;
        let hf: HfConfig = serde_json::from_str(&text).map_err(|source| ConfigError::Json {
            path: shown,
            source,
        })?;
        let in_file = |e: ConfigError| ConfigError::InFile {
            path: path.display().to_string(),
            source: Box::new(e),
        };
        hf.check_supported().map_err(in_file)?;
        let config = GPTConfig::from(hf);
        // The file's own names in its errors, where they differ from ours.
        let in_its_words = |e: ConfigError| match e {
            ConfigError::NotPositive { field, value } => ConfigError::NotPositive {
                field: match field {
                    "block_size" => "n_positions",
                    "layer_norm_eps" => "layer_norm_epsilon",
                    other => other,
                },
                value,
            },
            e => e,
        };
        config.validate().map_err(in_its_words).map_err(in_file)?;
        Ok(config)
    }
}

/// The fields of a Hugging Face GPT-2 `config.json` that shape the model.
#[derive(Deserialize)]
struct HfConfig {
    n_positions: usize,
    vocab_size: usize,
    n_layer: usize,
    n_head: usize,
    n_embd: usize,
    #[serde(default = "default_eps")]
    layer_norm_epsilon: f64,
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    activation_function: Option<String>,
    #[serde(default)]
    n_inner: Option<usize>,
    #[serde(default)]
    tie_word_embeddings: Option<bool>,
    #[serde(default)]
    scale_attn_weights: Option<bool>,
    #[serde(default)]
    scale_attn_by_inverse_layer_idx: Option<bool>,
}

fn default_eps() -> f64 {
    1e-5
}

impl HfConfig {
    /// Rejects configs that describe a model this crate does not implement.
    fn check_supported(&self) -> Result<(), ConfigError> {
        if let Some(t) = self.model_type.as_deref().filter(|t| *t != "gpt2") {
            return Err(ConfigError::Unsupported {
                what: "model_type",
                detail: format!("`{t}` (only `gpt2` is implemented)"),
            });
        }
        // gelu_pytorch_tanh is the same function as gelu_new.
        if let Some(a) = self
            .activation_function
            .as_deref()
            .filter(|a| !matches!(*a, "gelu_new" | "gelu_pytorch_tanh"))
        {
            return Err(ConfigError::Unsupported {
                what: "activation_function",
                detail: format!("`{a}` (GPT-2 uses gelu_new, the tanh approximation)"),
            });
        }
        if let Some(n) = self.n_inner.filter(|n| *n != 4 * self.n_embd) {
            return Err(ConfigError::Unsupported {
                what: "n_inner",
                detail: format!(
                    "{n} (the MLP here is 4 * n_embd = {} wide)",
                    4 * self.n_embd
                ),
            });
        }
        if self.tie_word_embeddings == Some(false) {
            return Err(ConfigError::Unsupported {
                what: "tie_word_embeddings",
                detail: "false (GPT-2's LM head shares the token embedding)".into(),
            });
        }
        if self.scale_attn_weights == Some(false) {
            return Err(ConfigError::Unsupported {
                what: "scale_attn_weights",
                detail: "false (GPT-2 divides the attention scores by √head_dim)".into(),
            });
        }
        if self.scale_attn_by_inverse_layer_idx == Some(true) {
            return Err(ConfigError::Unsupported {
                what: "scale_attn_by_inverse_layer_idx",
                detail: "true (GPT-2 does not divide layer i's scores by i + 1)".into(),
            });
        }
        Ok(())
    }
}

impl From<HfConfig> for GPTConfig {
    fn from(hf: HfConfig) -> Self {
        GPTConfig {
            block_size: hf.n_positions,
            vocab_size: hf.vocab_size,
            n_layer: hf.n_layer,
            n_head: hf.n_head,
            n_embd: hf.n_embd,
            layer_norm_eps: hf.layer_norm_epsilon,
        }
    }
}

/// What we write: the shape, plus the keys transformers needs to pick `GPT2LMHeadModel`.
#[derive(Serialize)]
struct HfConfigOut {
    architectures: [&'static str; 1],
    model_type: &'static str,
    activation_function: &'static str,
    vocab_size: usize,
    n_positions: usize,
    n_ctx: usize,
    n_embd: usize,
    n_layer: usize,
    n_head: usize,
    n_inner: Option<usize>,
    layer_norm_epsilon: f64,
    // Dropout is a training setting, kept with the run (trainer.json); 0 here, as at inference.
    attn_pdrop: f64,
    embd_pdrop: f64,
    resid_pdrop: f64,
    tie_word_embeddings: bool,
    bos_token_id: usize,
    eos_token_id: usize,
}

impl From<&GPTConfig> for HfConfigOut {
    fn from(c: &GPTConfig) -> Self {
        // GPT-2's <|endoftext|> is the last id; a custom vocabulary keeps the same convention.
        let eot = c.vocab_size.saturating_sub(1);
        HfConfigOut {
            architectures: ["GPT2LMHeadModel"],
            model_type: "gpt2",
            activation_function: "gelu_new",
            vocab_size: c.vocab_size,
            n_positions: c.block_size,
            n_ctx: c.block_size,
            n_embd: c.n_embd,
            n_layer: c.n_layer,
            n_head: c.n_head,
            n_inner: None,
            layer_norm_epsilon: c.layer_norm_eps,
            attn_pdrop: 0.0,
            embd_pdrop: 0.0,
            resid_pdrop: 0.0,
            tie_word_embeddings: true,
            bos_token_id: eot,
            eos_token_id: eot,
        }
    }
}

// ANCHOR: params
/// Parameters of one Transformer block, by GPT-2's tensor names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockParams {
    /// `ln_1.weight`, `ln_1.bias`: 2C
    pub ln_1: usize,
    /// `attn.c_attn`: C -> 3C, weight and bias
    pub attn_c_attn: usize,
    /// `attn.c_proj`: C -> C
    pub attn_c_proj: usize,
    /// `ln_2`: 2C
    pub ln_2: usize,
    /// `mlp.c_fc`: C -> 4C
    pub mlp_c_fc: usize,
    /// `mlp.c_proj`: 4C -> C
    pub mlp_c_proj: usize,
}

impl BlockParams {
    pub fn total(&self) -> usize {
        self.ln_1
            + self.attn_c_attn
            + self.attn_c_proj
            + self.ln_2
            + self.mlp_c_fc
            + self.mlp_c_proj
    }
}

/// Every parameter of the model, grouped as GPT-2 names them. The LM head is tied to `wte`,
/// so it adds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCount {
    /// `wte`: [vocab_size, C], also the LM head
    pub wte: usize,
    /// `wpe`: [block_size, C]
    pub wpe: usize,
    /// One block; the model has `n_layer` of them.
    pub block: BlockParams,
    pub n_layer: usize,
    /// `ln_f`: 2C
    pub ln_f: usize,
}

impl ParamCount {
    pub fn blocks(&self) -> usize {
        self.n_layer * self.block.total()
    }

    pub fn total(&self) -> usize {
        self.wte + self.wpe + self.blocks() + self.ln_f
    }
}

impl GPTConfig {
    /// Counts the parameters exactly, tensor by tensor.
    pub fn param_count(&self) -> ParamCount {
        let c = self.n_embd;
        let linear = |fan_in: usize, fan_out: usize| fan_in * fan_out + fan_out;
        ParamCount {
            wte: self.vocab_size * c,
            wpe: self.block_size * c,
            block: BlockParams {
                ln_1: 2 * c,
                attn_c_attn: linear(c, 3 * c),
                attn_c_proj: linear(c, c),
                ln_2: 2 * c,
                mlp_c_fc: linear(c, 4 * c),
                mlp_c_proj: linear(4 * c, c),
            },
            n_layer: self.n_layer,
            ln_f: 2 * c,
        }
    }
}
// ANCHOR_END: params

impl ParamCount {
    /// A table of the counts, one line per tensor group, with each group's share of the total.
    pub fn table(&self) -> String {
        use crate::numfmt::group_digits as g;
        let total = self.total();
        let pct = |n: usize| 100.0 * n as f64 / total as f64;
        let b = &self.block;
        let mut out = String::new();
        let mut row = |name: &str, n: usize, share: bool| {
            let share = if share {
                format!("{:6.1}%", pct(n))
            } else {
                String::new()
            };
            out.push_str(&format!("  {name:<36}{:>15}{share}\n", g(n as u64)));
        };
        row("wte  (token embedding = LM head)", self.wte, true);
        row("wpe  (position embedding)", self.wpe, true);
        row(
            &format!("h    ({} blocks)", self.n_layer),
            self.blocks(),
            true,
        );
        for (name, n) in [
            ("ln_1", b.ln_1),
            ("attn.c_attn", b.attn_c_attn),
            ("attn.c_proj", b.attn_c_proj),
            ("ln_2", b.ln_2),
            ("mlp.c_fc", b.mlp_c_fc),
            ("mlp.c_proj", b.mlp_c_proj),
        ] {
            row(&format!("  per block: {name}"), n, false);
        }
        row("ln_f (final LayerNorm)", self.ln_f, true);
        row("total", total, false);
        out
    }
}

// ANCHOR: flops
impl GPTConfig {
    /// Weights that take part in a matrix multiply: the four matrices of each block and the
    /// LM head (`wte` used a second time). Biases, LayerNorms and `wpe` only add or scale.
    pub fn matmul_params(&self) -> usize {
        let c = self.n_embd;
        self.vocab_size * c + self.n_layer * 12 * c * c
    }

    /// Floating-point operations to train on one token with `t` tokens of context:
    /// 6 per matmul weight (2 forward, 4 backward) plus attention's own two products,
    /// scores q·kᵀ and the weighted sum of v: 2·2·t·C forward per layer, times 3 with backward.
    pub fn train_flops_per_token(&self, t: usize) -> f64 {
        6.0 * self.matmul_params() as f64 + 12.0 * (self.n_layer * self.n_embd * t) as f64
    }

    /// FLOPs of one training step on a batch of `b` sequences of `t` tokens.
    pub fn train_flops_per_step(&self, b: usize, t: usize) -> f64 {
        (b * t) as f64 * self.train_flops_per_token(t)
    }
}
// ANCHOR_END: flops

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for p in PRESETS {
            p.config.validate().unwrap();
        }
    }

    #[test]
    fn unknown_preset_names_the_known_ones() {
        let err = GPTConfig::preset("gpt3").unwrap_err().to_string();
        assert!(err.contains("gpt3") && err.contains("gpt2-medium"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = GPTConfig::preset("gpt2").unwrap();
        c.n_head = 5;
        assert!(c.validate().unwrap_err().to_string().contains("divisible"));
        c.n_head = 0;
        assert!(c.validate().unwrap_err().to_string().contains("n_head"));
    }

    #[test]
    fn a_config_json_error_names_the_files_key() {
        let dir = std::env::temp_dir().join(format!("gpt2-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        for (json, key) in [
            (
                r#"{"n_positions": 0, "vocab_size": 100, "n_layer": 2, "n_head": 2, "n_embd": 8}"#,
                "n_positions must be positive, got 0",
            ),
            (
                r#"{"n_positions": 8, "vocab_size": 100, "n_layer": 2, "n_head": 2, "n_embd": 8, "layer_norm_epsilon": 0}"#,
                "layer_norm_epsilon must be positive, got 0",
            ),
        ] {
            std::fs::write(&path, json).unwrap();
            let err = GPTConfig::load_hf(&path).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_config_of_another_model_is_refused_naming_the_key() {
        let base =
            r#""n_positions": 64, "vocab_size": 100, "n_layer": 2, "n_head": 2, "n_embd": 8"#;
        let check = |extra: &str| {
            let hf: HfConfig = serde_json::from_str(&format!("{{{base}{extra}}}")).unwrap();
            hf.check_supported().err().map(|e| e.to_string())
        };
        // GPT-2's own settings, written out or left to their defaults, load.
        let gpt2 = r#", "model_type": "gpt2", "activation_function": "gelu_new", "n_inner": null,
            "tie_word_embeddings": true, "scale_attn_weights": true,
            "scale_attn_by_inverse_layer_idx": false"#;
        assert_eq!(check(""), None);
        assert_eq!(check(gpt2), None);
        for (extra, key) in [
            (r#", "model_type": "gpt_neo""#, "model_type"),
            (r#", "activation_function": "relu""#, "activation_function"),
            (r#", "n_inner": 16"#, "n_inner"),
            (r#", "tie_word_embeddings": false"#, "tie_word_embeddings"),
            (r#", "scale_attn_weights": false"#, "scale_attn_weights"),
            (
                r#", "scale_attn_by_inverse_layer_idx": true"#,
                "scale_attn_by_inverse_layer_idx",
            ),
        ] {
            let err = check(extra).unwrap_or_else(|| panic!("{extra} was accepted"));
            assert!(err.starts_with(&format!("{key} is not supported")), "{err}");
        }
    }

    #[test]
    fn flops_of_a_gpt2_step() {
        // 124M at B=4, T=64: about 191.6 GFLOP per training step.
        let g = GPTConfig::preset("gpt2")
            .unwrap()
            .train_flops_per_step(4, 64)
            / 1e9;
        assert!((g - 191.56).abs() < 0.01, "{g}");
    }
}
