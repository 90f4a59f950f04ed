//! Checks every loss in `loss.rs` and the EMA helpers against the cross-implementation vectors
//! in `tests/vectors/ssl_losses.json` (float64 PyTorch references; see its README), through
//! `sslp::train::vectors`, the code `sslp device-check` runs on other devices.
//!
//! Tolerances (README suggestion for float32): losses `|Δ| ≤ 1e-5·max(1, |loss|)`, gradients and
//! other arrays `|Δ| ≤ 1e-5·max(1, max|expected|)` element-wise; stop-gradients, the queue
//! pointer and the momentum schedule exactly.

use burn::tensor::{DType, Device, Tensor};
use sslp::train::loss;
use sslp::train::vectors::{Comparison, Family, LossVectors};

const TOL: f64 = 1e-5;

fn vectors() -> LossVectors {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ssl_losses.json");
    LossVectors::read(std::path::Path::new(path)).expect("read ssl_losses.json")
}

fn dev() -> Device {
    Device::flex().autodiff()
}

/// Prints every comparison and asserts each passes at `tol`.
fn assert_all(label: &str, found: &[Comparison], tol: f64) {
    assert!(!found.is_empty(), "{label}: nothing compared");
    for c in found {
        println!("{label} {:40} {:32} {:?}", c.case, c.what, c.measure);
    }
    let bad: Vec<String> = found
        .iter()
        .filter(|c| !c.passes(tol))
        .map(|c| format!("{}: {} {:?}", c.case, c.what, c.measure))
        .collect();
    assert!(
        bad.is_empty(),
        "{label}: beyond {tol:e}:\n{}",
        bad.join("\n")
    );
}

fn check_f32(family: Family) {
    let found = vectors()
        .compute(family, &dev(), DType::F32)
        .expect("the cases compute");
    assert_all(family.key(), &found, TOL);
}

#[test]
fn ntxent_vectors() {
    check_f32(Family::NtXent);
}

#[test]
fn moco_v2_vectors() {
    check_f32(Family::MocoV2);
}

#[test]
fn negative_cosine_vectors() {
    check_f32(Family::NegativeCosine);
}

#[test]
fn barlow_twins_vectors() {
    check_f32(Family::BarlowTwins);
}

#[test]
fn sinkhorn_vectors() {
    check_f32(Family::Sinkhorn);
}

#[test]
fn swav_vectors() {
    check_f32(Family::Swav);
}

#[test]
fn dino_vectors() {
    check_f32(Family::Dino);
}

#[test]
fn ema_vectors() {
    let found = vectors()
        .compute(Family::Ema, &dev(), DType::F32)
        .expect("the cases compute");
    // Both kinds of case are in the file: the update and the schedule.
    assert!(found.iter().any(|c| c.what.starts_with("target_after")));
    assert!(found.iter().any(|c| c.what.starts_with("tau schedule")));
    assert_all("ema", &found, TOL);
}

#[test]
fn every_family_of_the_file_is_checked() {
    let v = vectors();
    assert_eq!(v.format(), Some("ssl-loss-testvectors/1"));
    for family in Family::ALL {
        assert!(v.cases(family).is_ok(), "{family}");
    }
}

#[test]
fn sinkhorn_is_stable_for_large_inverse_epsilon() {
    // exp(score/0.001) overflows f32 and a plain max shift underflows whole columns; the codes
    // must stay finite, with every sample's code summing to 1.
    let dev = Device::flex();
    let scores = Tensor::<2>::from_data([[1.0f32, -1.0, 0.5], [0.9, 0.2, -0.3]], &dev);
    let q = loss::sinkhorn(scores, 3, 0.001);
    let values = |t: Tensor<2>| t.to_data().try_into_vec_as::<f32>().expect("f32 data");
    assert!(values(q.clone()).iter().all(|x| x.is_finite()));
    for s in values(q.sum_dim(1)) {
        assert!((s - 1.0).abs() < 1e-5, "row sum {s}");
    }
}

/// Reduced precision: every loss computed on f16 and on bf16 tensors (the flex CPU backend
/// stores and computes both natively) is computed in that dtype, finite and close to the
/// float64 reference. Tolerances, relative to `max(1, |expected|)`: f16 `3e-3` (machine
/// epsilon 9.8e-4), bf16 `3e-2` (epsilon 7.8e-3): a few roundings of a log-sum-exp. Every other
/// value (gradients, codes, probabilities, EMA updates) is held to the looser tolerances
/// `sslp device-check` states for half precision.
#[test]
fn losses_are_finite_and_close_in_f16_and_bf16() {
    let v = vectors();
    let dev = dev();
    for (dtype, loss_tol) in [(DType::F16, 3e-3), (DType::BF16, 3e-2)] {
        let arrays_tol = sslp::train::vectors::tolerance(dtype);
        for family in Family::ALL {
            let found = v.compute(family, &dev, dtype).expect("the cases compute");
            let (scalars, others): (Vec<Comparison>, Vec<Comparison>) =
                found.into_iter().partition(Comparison::is_scalar);
            let label = format!("{dtype:?} {family}");
            if family != Family::Sinkhorn && family != Family::Ema {
                assert!(!scalars.is_empty(), "{label}: no loss compared");
            }
            if !scalars.is_empty() {
                assert_all(&label, &scalars, loss_tol);
            }
            assert_all(&label, &others, arrays_tol);
        }
    }
}
