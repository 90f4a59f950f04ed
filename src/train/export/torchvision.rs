//! A backbone's weights as PyTorch names them: torchvision's ResNet state dict
//! (`conv1.weight`, `bn1.running_mean`, `layer2.0.downsample.1.weight`, ...) and
//! timm's `VisionTransformer` state dict (`cls_token`, `blocks.0.attn.qkv.weight`,
//! ...), in their layouts (linear weights `[out, in]`), so that
//!
//! ```python
//! model.load_state_dict(safetensors.torch.load_file(path), strict=True)
//! ```
//!
//! loads them as they are. The walk reads the modules' fields directly; burn's own
//! parameter names play no part.
//!
//! What the file does not hold, and what differs from the library's network, is
//! said in its `__metadata__` and in [`TorchWeights::python`], never silently:
//!
//! - no classifier: the backbone has none, so the model's `fc` (torchvision) must be
//!   `torch.nn.Identity()`, or the ViT built with `num_classes=0` (timm);
//! - the CIFAR stem (`cifar_stem: true`): `conv1` is 3×3 stride 1 padding 1 (not
//!   7×7 stride 2) and there is no max-pool, so `conv1` and `maxpool` are replaced
//!   before loading, as solo-learn does (solo-learn pads by 2; ours pads by 1);
//! - the ViT's position embedding is laid out for the training side (`img_size`); at
//!   other sides sslp resizes it bicubically without antialiasing (DINO), timm only
//!   with `dynamic_img_size=True` and with antialiasing;
//! - `num_batches_tracked` is 0: sslp does not count BatchNorm updates, and torch
//!   reads the count only when a BatchNorm's `momentum` is `None` (torchvision's is 0.1).
//!
//! `tiny_convnet` has no torchvision counterpart: exporting it is an error.

use super::{RawTensor, safetensors_bytes};
use crate::train::backbone::{Backbone, ResBlock, ResNet, Vit};
use crate::train::bytes::{BytesError, tensor_to_vec};
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, LayerNorm, Linear, PaddingConfig2d};
use burn::tensor::Tensor;
use std::collections::BTreeMap;

/// Why a backbone cannot be written with PyTorch's names.
#[derive(Debug, thiserror::Error)]
pub enum TorchExportError {
    /// A backbone with no torchvision or timm counterpart.
    #[error(
        "`{backbone}` has no torchvision or timm counterpart, so there are no PyTorch names to give its weights; `--format safetensors` writes them with burn's names"
    )]
    NoCounterpart {
        /// The backbone's name (`tiny_convnet`).
        backbone: &'static str,
    },
    /// A network whose structure matches no torchvision or timm configuration.
    #[error("this {what} matches no {library} network: {why}")]
    Structure {
        /// The backbone.
        what: &'static str,
        /// The library it should match.
        library: &'static str,
        /// What differs.
        why: String,
    },
    /// A tensor could not be read or written.
    #[error(transparent)]
    Bytes(#[from] BytesError),
}

/// The library whose model the weights load into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchLibrary {
    /// `torchvision.models.resnet*`.
    Torchvision,
    /// `timm.models.vision_transformer.VisionTransformer`.
    Timm,
}

impl TorchLibrary {
    /// The library's import name.
    pub fn name(self) -> &'static str {
        match self {
            TorchLibrary::Torchvision => "torchvision",
            TorchLibrary::Timm => "timm",
        }
    }
}

/// A backbone's weights under PyTorch's names, and how to build the model they load into.
#[derive(Clone, Debug)]
pub struct TorchWeights {
    /// The safetensors file.
    pub bytes: Vec<u8>,
    /// The library whose model takes them.
    pub library: TorchLibrary,
    /// The model, as the library names it (`resnet18`, `VisionTransformer`).
    pub architecture: String,
    /// Python lines building the model the file loads into (after the imports).
    build: Vec<String>,
    /// Where our network differs from the library's default one (empty when it does not).
    pub differences: Vec<String>,
}

impl TorchWeights {
    /// The Python lines that build the model and load the file at `path` into it, strictly.
    pub fn python(&self, path: &str) -> String {
        python_lines(self.library, &self.build, path)
    }
}

/// The import, build and load lines (`path` is written as a Python string literal).
fn python_lines(library: TorchLibrary, build: &[String], path: &str) -> String {
    // A JSON string is a valid Python string literal.
    let literal = serde_json::to_string(path).unwrap_or_else(|_| format!("{path:?}"));
    let mut lines = vec![
        match library {
            TorchLibrary::Torchvision => "import torch, torchvision".to_string(),
            TorchLibrary::Timm => "import timm".to_string(),
        },
        "from safetensors.torch import load_file".to_string(),
    ];
    lines.extend(build.iter().cloned());
    lines.push(format!(
        "model.load_state_dict(load_file({literal}), strict=True)"
    ));
    lines.push("model.eval()".to_string());
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Writes a backbone's weights with torchvision's (ResNet) or timm's (ViT) names and
/// layouts. `extra` is added to the file's `__metadata__` (the step's key, the input
/// normalisation); the export's own entries (`format`, `architecture`, `python`,
/// `differences`, ...) take precedence.
pub fn backbone_to_torch(
    backbone: &Backbone,
    extra: &BTreeMap<String, String>,
) -> Result<TorchWeights, TorchExportError> {
    // Fold pending BatchNorm updates in first (burn.md §6.2).
    let backbone = backbone.valid();
    let (tensors, library, architecture, build, differences) = match &backbone {
        Backbone::Tiny(_) => {
            return Err(TorchExportError::NoCounterpart {
                backbone: "tiny_convnet",
            });
        }
        Backbone::ResNet(r) => {
            let (arch, build, differences) = resnet_model(r)?;
            (
                resnet_tensors(r)?,
                TorchLibrary::Torchvision,
                arch,
                build,
                differences,
            )
        }
        Backbone::Vit(v) => {
            let (arch, build, differences) = vit_model(v)?;
            (
                vit_tensors(v)?,
                TorchLibrary::Timm,
                arch,
                build,
                differences,
            )
        }
    };
    let mut metadata = extra.clone();
    metadata.insert("format".into(), library.name().into());
    metadata.insert("architecture".into(), architecture.clone());
    metadata.insert(
        "python".into(),
        python_lines(library, &build, "THIS_FILE.safetensors"),
    );
    metadata.insert(
        "classifier".into(),
        match library {
            TorchLibrary::Torchvision => {
                "none: the backbone has no classifier; set model.fc = torch.nn.Identity() before load_state_dict(strict=True)"
            }
            TorchLibrary::Timm => {
                "none: the backbone has no classifier head; build the model with num_classes=0"
            }
        }
        .into(),
    );
    metadata.insert(
        "differences".into(),
        if differences.is_empty() {
            format!("none: the network is {}'s {architecture}", library.name())
        } else {
            differences.join("; ")
        },
    );
    if library == TorchLibrary::Torchvision {
        metadata.insert(
            "num_batches_tracked".into(),
            "0: sslp does not count BatchNorm updates; torch reads the count only when momentum is None (torchvision's is 0.1)".into(),
        );
    }
    metadata.insert(
        "writer".into(),
        format!("sslp {}", env!("CARGO_PKG_VERSION")),
    );
    Ok(TorchWeights {
        bytes: safetensors_bytes(&tensors, &metadata)?,
        library,
        architecture,
        build,
        differences,
    })
}

// ------------------------------------------------------------ ResNet

/// `(torchvision's name, python lines building it, differences)` for a ResNet.
fn resnet_model(r: &ResNet) -> Result<(String, Vec<String>, Vec<String>), TorchExportError> {
    let bad = |why: String| TorchExportError::Structure {
        what: "ResNet",
        library: "torchvision",
        why,
    };
    let counts = [&r.layer1, &r.layer2, &r.layer3, &r.layer4].map(Vec::len);
    let basic = r
        .layer1
        .first()
        .is_some_and(|b| matches!(b, ResBlock::Basic(_)));
    let arch = match (basic, counts) {
        (true, [2, 2, 2, 2]) => "resnet18",
        (true, [3, 4, 6, 3]) => "resnet34",
        (false, [3, 4, 6, 3]) => "resnet50",
        _ => return Err(bad(format!("blocks per stage {counts:?}"))),
    };
    let stem = (
        r.conv1.kernel_size,
        r.conv1.stride,
        &r.conv1.padding,
        r.maxpool.is_some(),
    );
    let mut build = vec![format!("model = torchvision.models.{arch}()")];
    let mut differences = vec![];
    match stem {
        ([7, 7], [2, 2], PaddingConfig2d::Explicit(3, 3, 3, 3), true) => {}
        ([3, 3], [1, 1], PaddingConfig2d::Explicit(1, 1, 1, 1), false) => {
            build.push(
                "model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)  # cifar_stem: 3x3 stride-1 conv1"
                    .into(),
            );
            build.push("model.maxpool = torch.nn.Identity()  # cifar_stem: no max-pool".into());
            differences.push(
                "cifar_stem: conv1 is 3x3 stride 1 padding 1 (torchvision: 7x7 stride 2 padding 3) and there is no max-pool: replace model.conv1 with torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False) and model.maxpool with torch.nn.Identity() before loading".into(),
            );
        }
        (k, s, p, pool) => {
            return Err(bad(format!(
                "stem conv {k:?} stride {s:?} padding {p:?}, max-pool {pool}"
            )));
        }
    }
    build.push("model.fc = torch.nn.Identity()  # the backbone has no classifier".into());
    Ok((arch.into(), build, differences))
}

/// Every tensor of a ResNet under torchvision's names.
fn resnet_tensors(r: &ResNet) -> Result<BTreeMap<String, RawTensor>, TorchExportError> {
    let mut t = Tensors::default();
    t.conv("conv1", &r.conv1)?;
    t.batch_norm("bn1", &r.bn1)?;
    for (i, stage) in [&r.layer1, &r.layer2, &r.layer3, &r.layer4]
        .into_iter()
        .enumerate()
    {
        for (j, block) in stage.iter().enumerate() {
            let p = format!("layer{}.{j}", i + 1);
            let downsample = match block {
                ResBlock::Basic(b) => {
                    t.conv(&format!("{p}.conv1"), &b.conv1)?;
                    t.batch_norm(&format!("{p}.bn1"), &b.bn1)?;
                    t.conv(&format!("{p}.conv2"), &b.conv2)?;
                    t.batch_norm(&format!("{p}.bn2"), &b.bn2)?;
                    &b.downsample
                }
                ResBlock::Bottleneck(b) => {
                    t.conv(&format!("{p}.conv1"), &b.conv1)?;
                    t.batch_norm(&format!("{p}.bn1"), &b.bn1)?;
                    t.conv(&format!("{p}.conv2"), &b.conv2)?;
                    t.batch_norm(&format!("{p}.bn2"), &b.bn2)?;
                    t.conv(&format!("{p}.conv3"), &b.conv3)?;
                    t.batch_norm(&format!("{p}.bn3"), &b.bn3)?;
                    &b.downsample
                }
            };
            // torchvision's `downsample` is `Sequential(conv1x1, BatchNorm2d)`.
            if let Some(d) = downsample {
                t.conv(&format!("{p}.downsample.0"), &d.conv)?;
                t.batch_norm(&format!("{p}.downsample.1"), &d.bn)?;
            }
        }
    }
    Ok(t.0)
}

// ------------------------------------------------------------ ViT

/// `(timm's class, python lines building it, differences)` for our ViT.
fn vit_model(v: &Vit) -> Result<(String, Vec<String>, Vec<String>), TorchExportError> {
    let bad = |why: String| TorchExportError::Structure {
        what: "ViT",
        library: "timm",
        why,
    };
    let first = v
        .blocks
        .first()
        .ok_or_else(|| bad("no transformer blocks".into()))?;
    let hidden = first.fc1.weight.lazy_shape().dims::<2>()[1];
    let ratio = timm_mlp_ratio(v.width, hidden).ok_or_else(|| {
        bad(format!(
            "no mlp_ratio makes timm's int(embed_dim * mlp_ratio) equal the MLP width {hidden} of embedding width {}",
            v.width
        ))
    })?;
    let img = v.grid * v.patch;
    let build = vec![format!(
        "model = timm.models.vision_transformer.VisionTransformer(img_size={img}, patch_size={}, embed_dim={}, depth={}, num_heads={}, mlp_ratio={ratio:?}, num_classes=0)",
        v.patch,
        v.width,
        v.blocks.len(),
        first.heads
    )];
    let differences = vec![format!(
        "inputs of another side than img_size={img}: sslp resizes the position embedding bicubically without antialiasing (DINO's interpolate_pos_encoding); timm refuses them, or with dynamic_img_size=True resizes with antialiasing, so features at other sides differ slightly"
    )];
    Ok(("VisionTransformer".into(), build, differences))
}

/// An `mlp_ratio` for which timm's `int(embed_dim * mlp_ratio)` is `hidden` (what Python's
/// float arithmetic gives is IEEE double arithmetic, the same as here).
fn timm_mlp_ratio(width: usize, hidden: usize) -> Option<f64> {
    let w = width as f64;
    let ratio = hidden as f64 / w;
    [ratio, ratio.next_up()]
        .into_iter()
        .find(|r| (w * r).trunc() == hidden as f64)
}

/// Every tensor of our ViT under timm's names.
fn vit_tensors(v: &Vit) -> Result<BTreeMap<String, RawTensor>, TorchExportError> {
    let mut t = Tensors::default();
    t.param("cls_token", &v.cls_token)?;
    t.param("pos_embed", &v.pos_embed)?;
    t.conv("patch_embed.proj", &v.patch_embed)?;
    for (i, b) in v.blocks.iter().enumerate() {
        let p = format!("blocks.{i}");
        t.layer_norm(&format!("{p}.norm1"), &b.norm1)?;
        t.linear(&format!("{p}.attn.qkv"), &b.qkv)?;
        t.linear(&format!("{p}.attn.proj"), &b.proj)?;
        t.layer_norm(&format!("{p}.norm2"), &b.norm2)?;
        t.linear(&format!("{p}.mlp.fc1"), &b.fc1)?;
        t.linear(&format!("{p}.mlp.fc2"), &b.fc2)?;
    }
    t.layer_norm("norm", &v.norm)?;
    Ok(t.0)
}

// ------------------------------------------------------------ tensors

/// The tensors collected so far, by PyTorch name.
#[derive(Default)]
struct Tensors(BTreeMap<String, RawTensor>);

impl Tensors {
    /// A tensor's values as `F32`, under `name`.
    fn tensor<const D: usize>(&mut self, name: &str, x: &Tensor<D>) -> Result<(), BytesError> {
        let (shape, values) = tensor_to_vec(x)?;
        let raw = RawTensor::f32(shape.clone(), &values).ok_or(BytesError::Shape {
            shape,
            values: values.len(),
            rank: D,
        })?;
        self.0.insert(name.to_string(), raw);
        Ok(())
    }

    /// A parameter, as it is.
    fn param<const D: usize>(
        &mut self,
        name: &str,
        p: &Param<Tensor<D>>,
    ) -> Result<(), BytesError> {
        self.tensor(name, &p.val())
    }

    /// `NAME.weight` `[out, in/groups, kh, kw]` (burn's layout is torch's) and `NAME.bias`.
    fn conv(&mut self, name: &str, c: &Conv2d) -> Result<(), BytesError> {
        self.param(&format!("{name}.weight"), &c.weight)?;
        if let Some(b) = &c.bias {
            self.param(&format!("{name}.bias"), b)?;
        }
        Ok(())
    }

    /// `NAME.weight` transposed to torch's `[out, in]` (burn's is `[in, out]`) and `NAME.bias`.
    fn linear(&mut self, name: &str, l: &Linear) -> Result<(), BytesError> {
        self.tensor(&format!("{name}.weight"), &l.weight.val().transpose())?;
        if let Some(b) = &l.bias {
            self.param(&format!("{name}.bias"), b)?;
        }
        Ok(())
    }

    /// BatchNorm2d: `weight` (gamma), `bias` (beta), the running statistics, and
    /// `num_batches_tracked` (0; see the module docs).
    fn batch_norm(&mut self, name: &str, bn: &BatchNorm) -> Result<(), BytesError> {
        self.param(&format!("{name}.weight"), &bn.gamma)?;
        self.param(&format!("{name}.bias"), &bn.beta)?;
        self.tensor(
            &format!("{name}.running_mean"),
            &bn.running_mean.value_sync(),
        )?;
        self.tensor(&format!("{name}.running_var"), &bn.running_var.value_sync())?;
        self.0.insert(
            format!("{name}.num_batches_tracked"),
            RawTensor::i64_scalar(0),
        );
        Ok(())
    }

    /// LayerNorm: `weight` (gamma) and `bias` (beta; torch's LayerNorm has one by default,
    /// and a missing one fails the strict load, which says so).
    fn layer_norm(&mut self, name: &str, ln: &LayerNorm) -> Result<(), BytesError> {
        self.param(&format!("{name}.weight"), &ln.gamma)?;
        if let Some(b) = &ln.beta {
            self.param(&format!("{name}.bias"), b)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::backbone::BackboneSpec;
    use burn::tensor::Device;

    fn header(bytes: &[u8]) -> serde_json::Value {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        serde_json::from_slice(&bytes[8..8 + n]).unwrap()
    }

    #[test]
    fn tiny_convnet_is_refused_by_name() {
        let _rng = crate::train::trainer::init_lock();
        let net = BackboneSpec::TinyConvNet { width: 4, depth: 2 }.init(&Device::flex());
        let err = backbone_to_torch(&net, &BTreeMap::new()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("tiny_convnet") && text.contains("--format safetensors"),
            "{text}"
        );
    }

    #[test]
    fn linear_weights_are_transposed_to_out_in() {
        let _rng = crate::train::trainer::init_lock();
        let dev = Device::flex();
        let net = BackboneSpec::Vit {
            patch: 4,
            depth: 1,
            width: 8,
            heads: 2,
            mlp_ratio: 3.0,
            image_size: 8,
        }
        .init(&dev);
        let Backbone::Vit(v) = &net else {
            unreachable!()
        };
        let out = backbone_to_torch(&net, &BTreeMap::new()).unwrap();
        let h = header(&out.bytes);
        assert_eq!(
            h["blocks.0.mlp.fc1.weight"]["shape"],
            serde_json::json!([24, 8])
        );
        // Element [o, i] of the exported weight is burn's [i, o].
        let n = u64::from_le_bytes(out.bytes[..8].try_into().unwrap()) as usize;
        let [start, _] = [0, 1].map(|k| {
            h["blocks.0.mlp.fc1.weight"]["data_offsets"][k]
                .as_u64()
                .unwrap() as usize
        });
        let data = &out.bytes[8 + n + start..];
        let at = |o: usize, i: usize| {
            let k = 4 * (o * 8 + i);
            f32::from_le_bytes(data[k..k + 4].try_into().unwrap())
        };
        let (_, w) = tensor_to_vec(&v.blocks[0].fc1.weight.val()).unwrap(); // [in=8, out=24]
        for (o, i) in [(0, 1), (5, 3), (23, 7)] {
            assert_eq!(at(o, i), w[i * 24 + o]);
        }
        assert!(
            out.python("w.safetensors")
                .contains("mlp_ratio=3.0, num_classes=0")
        );
    }

    #[test]
    fn the_cifar_stem_is_named_in_the_metadata_and_the_python_lines() {
        let _rng = crate::train::trainer::init_lock();
        let net = BackboneSpec::ResNet {
            depth: 18,
            cifar_stem: true,
            zero_init_residual: false,
        }
        .init(&Device::flex());
        let out = backbone_to_torch(&net, &BTreeMap::new()).unwrap();
        let meta = &header(&out.bytes)["__metadata__"];
        assert!(
            meta["differences"].as_str().unwrap().contains("cifar_stem"),
            "{meta}"
        );
        let py = out.python("r18.safetensors");
        assert!(py.contains("model.maxpool = torch.nn.Identity()"), "{py}");
        assert!(py.contains("kernel_size=3, stride=1, padding=1"), "{py}");
        assert!(py.contains("model.fc = torch.nn.Identity()"), "{py}");
        assert!(
            py.contains("load_file(\"r18.safetensors\"), strict=True)"),
            "{py}"
        );
    }

    #[test]
    fn timm_mlp_ratios_give_the_mlp_width() {
        for (w, h) in [(192, 768), (30, 100), (7, 3), (32, 64), (100, 333), (3, 10)] {
            let r = timm_mlp_ratio(w, h).unwrap();
            assert_eq!((w as f64 * r) as usize, h, "{w} {h}");
        }
    }
}
