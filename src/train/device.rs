//! Where training runs: the CPU (burn's `flex` backend) or an NVIDIA GPU
//! (burn-cuda, behind the `cuda` cargo feature). One code path serves both;
//! only the device value differs, so the CPU tests cover the CUDA path too.

use super::precision::Precision;
use burn::tensor::Device;
use std::fmt;
use std::str::FromStr;

/// Why a device cannot be named or used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// `cuda:` followed by something that is not a number.
    #[error("`{name}` is not a device: the GPU index must be a number, as `cuda:0`")]
    BadIndex {
        /// The name as written.
        name: String,
    },
    /// A name that is no device.
    #[error("`{name}` is not a device: write `cpu`, `cuda` or `cuda:N`")]
    Unknown {
        /// The name as written.
        name: String,
    },
    /// A CUDA device asked of a build without the `cuda` feature.
    #[error(
        "device `cuda:{index}` needs a build with CUDA support: this sslp was built without the \
         `cuda` feature (build one with `tools/cuda-build.sh`, which runs `cargo build --release \
         --features cuda` offline; see the README's GPU section)"
    )]
    NoCudaSupport {
        /// The GPU index asked for.
        index: usize,
    },
    /// The NVIDIA driver library could not be loaded.
    #[error(
        "no NVIDIA driver found (libcuda.so.1 could not be loaded); \
         use `--device cpu`, or run on a machine with a GPU and its driver"
    )]
    NoDriver,
    /// A driver call failed (`cuInit` on a machine whose GPU is gone or broken, ...).
    #[error(
        "the NVIDIA driver failed: {call} returned {code} ({name}); check `nvidia-smi`, \
         or use `--device cpu`"
    )]
    DriverFailed {
        /// The driver API call.
        call: String,
        /// Its `CUresult`.
        code: i32,
        /// The error's name, as the driver gives it.
        name: String,
    },
    /// A driver older than the CUDA version the build targets.
    #[error(
        "the NVIDIA driver supports CUDA {}.{} only; this sslp was built for CUDA 12.4 or \
         newer: update the driver, or use `--device cpu`",
        version / 1000,
        (version % 1000) / 10
    )]
    OldDriver {
        /// The driver's API version (`1000 × major + 10 × minor`).
        version: i32,
    },
    /// A GPU index past the last GPU the driver sees.
    #[error("{}", no_such_gpu(*index, *gpus))]
    NoSuchGpu {
        /// The index asked for.
        index: usize,
        /// How many GPUs the driver sees.
        gpus: usize,
    },
    /// A precision name that is none of `f32`, `f16`, `bf16`.
    #[error("unknown precision `{precision}`: write f32, f16 or bf16")]
    UnknownPrecision {
        /// The name as written.
        precision: String,
    },
    /// A reduced precision the device cannot compute in.
    #[error(
        "precision `{precision}` is not available on {device}: it cannot compute in that \
         type (write `precision = \"f32\"`, or another of f16 and bf16)"
    )]
    PrecisionUnavailable {
        /// The precision asked for.
        precision: String,
        /// The device.
        device: DeviceChoice,
    },
}

fn no_such_gpu(index: usize, gpus: usize) -> String {
    match gpus {
        0 => format!("there is no `cuda:{index}`: the NVIDIA driver sees no GPU"),
        1 => format!("there is no `cuda:{index}`: this machine has one GPU, `cuda:0`"),
        n => format!(
            "there is no `cuda:{index}`: this machine has {n} GPUs, cuda:0 to cuda:{}",
            n - 1
        ),
    }
}

/// A device as users write it: `cpu`, `cuda` or `cuda:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceChoice {
    /// The CPU, through burn's `flex` backend.
    Cpu,
    /// The NVIDIA GPU with this index.
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, DeviceError> {
        match s.trim() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n
                    .parse()
                    .map(DeviceChoice::Cuda)
                    .map_err(|_| DeviceError::BadIndex { name: other.into() }),
                None => Err(DeviceError::Unknown { name: other.into() }),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceChoice {
    /// The burn device for training (autodiff on), after checking that it can work.
    ///
    /// CUDA is probed before burn sees it ([`super::cuda_probe`]): burn panics
    /// in a worker thread when the driver is missing, too old, or has no GPU of
    /// that index, which no caller could recover from.
    pub fn training_device(self) -> Result<Device, DeviceError> {
        Ok(self.plain_device()?.autodiff())
    }

    /// The burn device without autodiff, for inference (feature extraction).
    pub fn plain_device(self) -> Result<Device, DeviceError> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            DeviceChoice::Cuda(index) => cuda_device(index),
        }
    }
}

/// The precision training computes in on `device`, from its name (`f32`, `f16`, `bf16`;
/// empty is f32). The weights stay in f32 whatever it is ([`super::precision`]); a
/// reduced precision the device cannot compute in is an error, never a silent f32 run.
pub fn training_precision(
    device: &Device,
    choice: DeviceChoice,
    precision: &str,
) -> Result<Precision, DeviceError> {
    let parsed = Precision::parse(precision).ok_or_else(|| DeviceError::UnknownPrecision {
        precision: precision.into(),
    })?;
    if let Some(dtype) = parsed.compute_dtype()
        && !device.supports_dtype(dtype)
    {
        return Err(DeviceError::PrecisionUnavailable {
            precision: precision.into(),
            device: choice,
        });
    }
    Ok(parsed)
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Result<Device, DeviceError> {
    super::cuda_probe::probe(&super::cuda_probe::DRIVER_LIBRARIES, index)?;
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(index: usize) -> Result<Device, DeviceError> {
    Err(DeviceError::NoCudaSupport { index })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceChoice::Cuda(3)));
        assert_eq!(
            "cuda:x".parse::<DeviceChoice>(),
            Err(DeviceError::BadIndex {
                name: "cuda:x".into()
            })
        );
        assert_eq!(
            "tpu".parse::<DeviceChoice>(),
            Err(DeviceError::Unknown { name: "tpu".into() })
        );
        assert_eq!(DeviceChoice::Cuda(2).to_string(), "cuda:2");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = DeviceChoice::Cuda(0).training_device().unwrap_err();
        assert_eq!(err, DeviceError::NoCudaSupport { index: 0 });
        assert!(err.to_string().contains("--features cuda"), "{err}");
        let err = DeviceChoice::Cuda(2).plain_device().unwrap_err();
        assert_eq!(err, DeviceError::NoCudaSupport { index: 2 });
    }

    #[test]
    fn the_cpu_computes_in_every_precision_and_names_are_checked() {
        let device = DeviceChoice::Cpu.training_device().unwrap();
        for (name, want) in [
            ("", Precision::F32),
            ("f32", Precision::F32),
            ("f16", Precision::F16),
            ("bf16", Precision::Bf16),
        ] {
            assert_eq!(
                training_precision(&device, DeviceChoice::Cpu, name),
                Ok(want)
            );
        }
        let err = training_precision(&device, DeviceChoice::Cpu, "f8").unwrap_err();
        assert!(err.to_string().contains("f32, f16 or bf16"), "{err}");
    }

    #[test]
    fn cpu_is_always_available() {
        assert!(DeviceChoice::Cpu.training_device().is_ok());
    }
}
