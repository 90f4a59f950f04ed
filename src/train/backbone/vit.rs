//! Small pre-norm Vision Transformer with class token and learned position embedding (DINO-style).

use crate::train::precision::linear_forward;
use burn::module::{Initializer, Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::module::{attention, interpolate};
use burn::tensor::ops::{AttentionModuleOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

/// Std of the normal init for tokens, position embedding and linear weights (DINO `trunc_normal_(std=.02)`; its ±2 cut-off is ±100σ, i.e. never active).
const INIT_STD: f64 = 0.02;
/// LayerNorm epsilon used by DINO's ViT (`partial(nn.LayerNorm, eps=1e-6)`).
const LN_EPS: f64 = 1e-6;

/// Linear layer with DINO init: weight N(0, 0.02²), bias 0.
fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    let mut l = LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: INIT_STD,
        })
        .init(device);
    l.bias = Some(Initializer::Zeros.init([d_out], device));
    l
}

/// LayerNorm with DINO's epsilon (weight 1, bias 0).
fn layer_norm(d: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d).with_epsilon(LN_EPS).init(device)
}

/// Pre-norm transformer block: x + MHSA(LN x), then x + MLP(LN x) (Dosovitskiy et al. 2021, eq. 2-3).
#[derive(Module, Debug)]
pub struct VitBlock {
    /// LN before attention.
    pub norm1: LayerNorm,
    /// Fused query/key/value projection (with bias, as DINO's `qkv_bias=True`).
    pub qkv: Linear,
    /// Attention output projection.
    pub proj: Linear,
    /// LN before the MLP.
    pub norm2: LayerNorm,
    /// MLP expansion.
    pub fc1: Linear,
    /// MLP contraction.
    pub fc2: Linear,
    /// Number of attention heads.
    pub heads: usize,
}

impl VitBlock {
    /// Block of width `d`, `heads` heads, MLP hidden `hidden`.
    fn new(d: usize, heads: usize, hidden: usize, device: &Device) -> Self {
        Self {
            norm1: layer_norm(d, device),
            qkv: linear(d, 3 * d, device),
            proj: linear(d, d, device),
            norm2: layer_norm(d, device),
            fc1: linear(d, hidden, device),
            fc2: linear(hidden, d, device),
            heads,
        }
    }

    /// `[B,N,D] -> [B,N,D]`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, n, d] = x.dims();
        let dh = d / self.heads;
        let qkv = linear_forward(&self.qkv, self.norm1.forward(x.clone()))
            .reshape([b, n, 3 * self.heads, dh])
            .swap_dims(1, 2); // [B, 3H, N, dh]
        let mut parts = qkv.chunk(3, 1).into_iter();
        let (q, k, v) = match (parts.next(), parts.next(), parts.next()) {
            (Some(q), Some(k), Some(v)) => (q, k, v),
            _ => unreachable!("chunk(3) of a 3H-sized dim yields three parts"),
        };
        let a = attention(q, k, v, None, None, AttentionModuleOptions::default())
            .swap_dims(1, 2)
            .reshape([b, n, d]);
        let x = x + linear_forward(&self.proj, a);
        let h = gelu(linear_forward(&self.fc1, self.norm2.forward(x.clone())));
        x + linear_forward(&self.fc2, h)
    }
}

/// ViT trunk: patch embedding, class token, learned position embedding, blocks, final LN.
#[derive(Module, Debug)]
pub struct Vit {
    /// Patchify conv (kernel = stride = patch).
    pub patch_embed: Conv2d,
    /// Class token `[1,1,D]`.
    pub cls_token: Param<Tensor<3>>,
    /// Position embedding `[1, 1 + grid², D]` for `image_size` inputs.
    pub pos_embed: Param<Tensor<3>>,
    /// Transformer blocks.
    pub blocks: Vec<VitBlock>,
    /// Final LayerNorm.
    pub norm: LayerNorm,
    /// Patch side in pixels.
    pub patch: usize,
    /// Patches per side at `image_size`.
    pub grid: usize,
    /// Token width.
    pub width: usize,
}

impl Vit {
    /// Builds the ViT; arguments are checked by `BackboneSpec::validate`.
    pub(super) fn new(
        patch: usize,
        depth: usize,
        width: usize,
        heads: usize,
        mlp_ratio: f64,
        image_size: usize,
        device: &Device,
    ) -> Self {
        let grid = image_size / patch;
        let hidden = ((width as f64 * mlp_ratio).round() as usize).max(1);
        let normal = Initializer::Normal {
            mean: 0.0,
            std: INIT_STD,
        };
        Self {
            patch_embed: Conv2dConfig::new([3, width], [patch, patch])
                .with_stride([patch, patch])
                .init(device),
            cls_token: normal.init([1, 1, width], device),
            pos_embed: normal.init([1, 1 + grid * grid, width], device),
            blocks: (0..depth)
                .map(|_| VitBlock::new(width, heads, hidden, device))
                .collect(),
            norm: layer_norm(width, device),
            patch,
            grid,
            width,
        }
    }

    /// Position embedding for an `h×w` patch grid; bicubic-resized when the grid differs (DINO `interpolate_pos_encoding`).
    fn pos_embed_for(&self, h: usize, w: usize) -> Tensor<3> {
        let pos = self.pos_embed.val();
        if h == self.grid && w == self.grid {
            return pos;
        }
        let d = self.width;
        let cls_pos = pos.clone().narrow(1, 0, 1);
        let patch_pos = pos
            .narrow(1, 1, self.grid * self.grid)
            .reshape([1, self.grid, self.grid, d])
            .permute([0, 3, 1, 2]);
        let mut opts = InterpolateOptions::new(InterpolateMode::Bicubic);
        opts.align_corners = false;
        opts.output_size = Some([h, w]);
        let patch_pos = interpolate(patch_pos, opts)
            .permute([0, 2, 3, 1])
            .reshape([1, h * w, d]);
        Tensor::cat(vec![cls_pos, patch_pos], 1)
    }

    /// Final-LN tokens `[B, 1 + h·w, D]` and the patch grid `(h, w)`; inputs need not be `image_size`.
    fn tokens(&self, x: Tensor<4>) -> (Tensor<3>, usize, usize) {
        let x = crate::train::kernels::conv2d(&self.patch_embed, x);
        let [b, d, h, w] = x.dims();
        let x = x.reshape([b, d, h * w]).swap_dims(1, 2);
        let cls = self.cls_token.val().expand([b, 1, d]);
        let x = Tensor::cat(vec![cls, x], 1);
        let pos = self.pos_embed_for(h, w).expand([b, 1 + h * w, d]);
        let x = self.blocks.iter().fold(x + pos, |x, blk| blk.forward(x));
        (self.norm.forward(x), h, w)
    }

    /// Class-token features `[B, D]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let (t, _, _) = self.tokens(x);
        let [b, _, d] = t.dims();
        t.narrow(1, 0, 1).reshape([b, d])
    }

    /// Patch tokens as a map `[B, D, h, w]`.
    pub fn feature_map(&self, x: Tensor<4>) -> Tensor<4> {
        let (t, h, w) = self.tokens(x);
        let [b, _, d] = t.dims();
        t.narrow(1, 1, h * w).swap_dims(1, 2).reshape([b, d, h, w])
    }

    /// Token width.
    pub fn feature_dim(&self) -> usize {
        self.width
    }
}
