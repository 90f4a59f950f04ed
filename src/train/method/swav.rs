//! SwAV (Caron et al. 2020): swapped prediction of Sinkhorn codes over prototypes, multi-crop.

use crate::train::ConfigError;
use burn::tensor::{Device, Tensor};

use super::super::heads::{Mlp, MlpConfig, Prototypes};
use super::super::loss::{l2_normalize, sinkhorn, swav_from_codes};
use super::{Student, forward_grouped};

/// `F.normalize` epsilon of the embeddings.
const EMBED_EPS: f64 = 1e-12;

/// Projector `feat → hidden (BN, ReLU) → dim` and `count` prototypes (official SwAV ResNet head).
pub(super) fn heads(
    feat: usize,
    hidden: usize,
    dim: usize,
    count: usize,
    device: &Device,
) -> Result<(Mlp, Prototypes), ConfigError> {
    let projector = MlpConfig {
        input: feat,
        hidden,
        output: dim,
        layers: 2,
        hidden_bn: true,
        last_bn: false,
    }
    .init(device)?;
    Ok((projector, Prototypes::new(dim, count, device)?))
}

/// SwAV loss over all crops; codes from the 2 global crops, each computed together with its
/// queue of past embeddings when `queues` is given (rows of this batch kept). Returns the loss
/// and the detached normalised embeddings of the global crops (for the queue).
pub(super) fn loss(
    student: &Student,
    views: &[Tensor<4>],
    queues: Option<&[Tensor<2>]>,
    temperature: f64,
    iterations: usize,
    epsilon: f64,
) -> Result<(Tensor<1>, Vec<Tensor<2>>), super::ViewsError> {
    let protos = student
        .prototypes
        .as_ref()
        .ok_or(super::ViewsError::MissingState {
            method: "swav",
            part: "prototypes",
        })?;
    let z = forward_grouped(views, |x| l2_normalize(student.embed(x), EMBED_EPS));
    let scores: Vec<Tensor<2>> = z.iter().map(|z| protos.forward(z.clone())).collect();
    let (globals, locals) = scores.split_at(2);
    let codes: Vec<Tensor<2>> = globals
        .iter()
        .enumerate()
        .map(|(i, s)| match queues.and_then(|q| q.get(i)) {
            Some(queue) => {
                let [b, _] = s.dims();
                let [qlen, _] = queue.dims();
                let queued = protos.forward(queue.clone()).detach();
                let all = Tensor::cat(vec![queued, s.clone().detach()], 0);
                sinkhorn(all, iterations, epsilon).narrow(0, qlen, b)
            }
            None => sinkhorn(s.clone(), iterations, epsilon),
        })
        .collect();
    let loss = swav_from_codes(&codes, globals, locals, temperature);
    let embeddings = z[..2].iter().map(|t| t.clone().detach()).collect();
    Ok((loss, embeddings))
}
