//! `sslp device-check`: runs [`crate::exec::device_check::run`] and prints each stage as it
//! ends.

use super::{OK, PROBLEMS, USAGE, emit};
use crate::exec::device_check::{self as check, Options, Profile, Status};
use clap::ValueEnum;
use std::path::PathBuf;

/// How much work the check does.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum CheckProfile {
    /// Tiny shapes and few steps (the default on the CPU; under two minutes on two cores).
    Small,
    /// The GPU sizes: ResNet-18 batch 256 at 32×32, ResNet-50 batch 64 at 224×224 (the default
    /// on CUDA).
    Full,
}

/// What `sslp device-check` was given.
#[derive(Clone, Debug)]
pub struct DeviceCheckArgs {
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// The output folder.
    pub out: PathBuf,
    /// The inputs folder (loss vectors, peer script), if not the project's `tests/vectors`.
    pub inputs: Option<PathBuf>,
    /// The profile, if not the device's default.
    pub profile: Option<CheckProfile>,
}

/// `sslp device-check`: exit 0 when every stage passes (or is skipped), 1 on a mismatch, 2
/// when the device cannot be used or the results cannot be written.
pub fn device_check(args: &DeviceCheckArgs) -> u8 {
    let options = Options {
        device: args.device.clone(),
        out: args.out.clone(),
        inputs: args.inputs.clone(),
        profile: args.profile.map(|p| match p {
            CheckProfile::Small => Profile::Small,
            CheckProfile::Full => Profile::Full,
        }),
    };
    let result = check::run(&options, &mut |stage| {
        eprintln!(
            "{}. {:<10} {:<7} {:6.1} s  {}",
            stage.number,
            stage.name,
            stage.status.as_str(),
            stage.seconds,
            stage.headline
        );
    });
    match result {
        Ok(summary) => {
            emit(&format!(
                "device check {}: {} in {:.1} s; results in {}\n",
                summary.status,
                summary.json["device"].as_str().unwrap_or("?"),
                summary.seconds,
                summary.out.display()
            ));
            if summary.status == Status::Fail {
                PROBLEMS
            } else {
                OK
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            USAGE
        }
    }
}
