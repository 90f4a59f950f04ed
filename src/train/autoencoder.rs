//! G-SimCLR's denoising autoencoder (Chakraborty et al. 2020, §3.1): its
//! codes are clustered into the pseudo-labels that keep same-cluster images
//! out of each other's negatives. Inputs are resized to 32x32 so the cost
//! does not depend on the dataset's resolution.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

/// Side the autoencoder works at.
pub const AE_SIDE: usize = 32;

/// A small convolutional autoencoder: 32x32x3 -> `latent` -> 32x32x3.
#[derive(Module, Debug)]
pub struct Autoencoder {
    enc1: Conv2d,
    enc2: Conv2d,
    enc3: Conv2d,
    to_code: Linear,
    from_code: Linear,
    dec1: ConvTranspose2d,
    dec2: ConvTranspose2d,
    dec3: ConvTranspose2d,
}

fn down(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

fn up(cin: usize, cout: usize, device: &Device) -> ConvTranspose2d {
    // k4 s2 p1 doubles the side exactly.
    ConvTranspose2dConfig::new([cin, cout], [4, 4])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .init(device)
}

impl Autoencoder {
    /// A fresh autoencoder with codes of width `latent`.
    pub fn new(latent: usize, device: &Device) -> Self {
        Autoencoder {
            enc1: down(3, 32, device),
            enc2: down(32, 64, device),
            enc3: down(64, 64, device),
            to_code: LinearConfig::new(64 * 4 * 4, latent).init(device),
            from_code: LinearConfig::new(latent, 64 * 4 * 4).init(device),
            dec1: up(64, 64, device),
            dec2: up(64, 32, device),
            dec3: up(32, 3, device),
        }
    }

    /// Resizes a batch to the autoencoder's side.
    pub fn fit_input(x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        if (h, w) == (AE_SIDE, AE_SIDE) {
            return x;
        }
        interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size([AE_SIDE, AE_SIDE]),
        )
    }

    /// The codes of a batch (already at the autoencoder's side).
    pub fn encode(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.enc1.forward(x));
        let x = relu(self.enc2.forward(x));
        let x = relu(self.enc3.forward(x));
        self.to_code.forward(x.flatten::<2>(1, 3))
    }

    /// Reconstructs a batch from its codes.
    pub fn decode(&self, code: Tensor<2>) -> Tensor<4> {
        let [b, _] = code.dims();
        let x = relu(self.from_code.forward(code)).reshape([b, 64, 4, 4]);
        let x = relu(self.dec1.forward(x));
        let x = relu(self.dec2.forward(x));
        self.dec3.forward(x)
    }

    /// The denoising loss: reconstruct `clean` from `noisy`, mean squared error.
    pub fn loss(&self, noisy: Tensor<4>, clean: Tensor<4>) -> Tensor<1> {
        let out = self.decode(self.encode(noisy));
        (out - clean).powf_scalar(2.0).mean()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::Distribution;

    #[test]
    fn shapes_and_learning() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let device = Device::flex().autodiff();
        device.seed(3);
        let mut ae = Autoencoder::new(16, &device);
        let x = Tensor::<4>::random([8, 3, 24, 24], Distribution::Uniform(-1.0, 1.0), &device);
        let x = Autoencoder::fit_input(x);
        assert_eq!(x.dims(), [8, 3, 32, 32]);
        assert_eq!(ae.encode(x.clone()).dims(), [8, 16]);
        let mut optim = AdamConfig::new().init();
        let first = ae.loss(x.clone(), x.clone()).into_scalar::<f32>();
        for _ in 0..30 {
            let loss = ae.loss(x.clone(), x.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &ae);
            ae = optim.step(1e-3, ae, grads);
        }
        let last = ae.loss(x.clone(), x).into_scalar::<f32>();
        assert!(last < first, "{first} -> {last}");
    }
}
