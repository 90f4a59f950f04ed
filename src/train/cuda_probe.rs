//! Asks the NVIDIA driver, before burn does, whether the GPU a run names can be used.
//!
//! burn-cuda initialises the driver in a worker thread and panics there when
//! anything is wrong (no driver, a driver too old for the build's CUDA version,
//! no GPU, an index past the last GPU). No caller can recover from that panic,
//! so the device choice first loads `libcuda` itself and calls the four driver
//! entry points that decide it (`cuInit`, `cuDriverGetVersion`,
//! `cuDeviceGetCount`, `cuGetErrorName`), turning each failure into a
//! [`DeviceError`] that names the cause. The probe needs no GPU to test: the
//! unit tests load small stand-in driver libraries built from C at test time.

use super::device::DeviceError;
use std::ffi::{CStr, c_char, c_int, c_uint};

/// The library names the driver is loaded under, in order of preference.
pub const DRIVER_LIBRARIES: [&str; 3] = ["libcuda.so.1", "libcuda.so", "nvcuda.dll"];

/// The oldest driver API version the `cuda` build works with: the build pins
/// `CUDARC_CUDA_VERSION=12040` (CUDA 12.4; `tools/cuda-build.sh`), and the
/// driver encodes versions as `1000 × major + 10 × minor`.
pub const MIN_DRIVER_VERSION: i32 = 12040;

/// What the driver reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverInfo {
    /// The driver's CUDA API version (`13000` for CUDA 13.0).
    pub version: i32,
    /// How many GPUs it sees.
    pub gpus: usize,
}

/// Loads the first of `libraries` that loads, initialises the driver and
/// checks that GPU `index` exists and that the driver is new enough.
pub fn probe(libraries: &[&str], index: usize) -> Result<DriverInfo, DeviceError> {
    let library = libraries
        .iter()
        // SAFETY: loading the driver library runs its initialisers, which is
        // what burn-cuda would do next anyway.
        .find_map(|name| unsafe { libloading::Library::new(name) }.ok())
        .ok_or(DeviceError::NoDriver)?;
    // SAFETY: the symbols are the CUDA driver API's, with the C signatures
    // declared in `cuda.h`; the library stays loaded while they are called.
    unsafe { ask_driver(&library, index) }
}

type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
type CuIntOut = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuErrorName = unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int;

/// Calls the driver. Safety: `library` must be a CUDA driver library (or one
/// exporting the same symbols with the same C signatures).
unsafe fn ask_driver(
    library: &libloading::Library,
    index: usize,
) -> Result<DriverInfo, DeviceError> {
    let missing = |symbol: &str| DeviceError::DriverFailed {
        call: symbol.into(),
        code: -1,
        name: "the driver library does not export it".into(),
    };
    // SAFETY (all calls below): see the function's contract.
    let init: libloading::Symbol<CuInit> =
        unsafe { library.get(b"cuInit\0") }.map_err(|_| missing("cuInit"))?;
    let driver_version: libloading::Symbol<CuIntOut> =
        unsafe { library.get(b"cuDriverGetVersion\0") }
            .map_err(|_| missing("cuDriverGetVersion"))?;
    let device_count: libloading::Symbol<CuIntOut> =
        unsafe { library.get(b"cuDeviceGetCount\0") }.map_err(|_| missing("cuDeviceGetCount"))?;
    let error_name: Option<libloading::Symbol<CuErrorName>> =
        unsafe { library.get(b"cuGetErrorName\0") }.ok();
    let failed = |call: &str, code: c_int| DeviceError::DriverFailed {
        call: call.into(),
        code,
        name: error_name
            .as_ref()
            .and_then(|f| {
                let mut text: *const c_char = std::ptr::null();
                // SAFETY: cuGetErrorName writes a pointer to a static string or fails.
                let ok = unsafe { f(code, &mut text) } == 0 && !text.is_null();
                // SAFETY: on success the pointer is a NUL-terminated static string.
                ok.then(|| {
                    unsafe { CStr::from_ptr(text) }
                        .to_string_lossy()
                        .into_owned()
                })
            })
            .unwrap_or_else(|| "an unknown error".into()),
    };
    let code = unsafe { init(0) };
    if code != 0 {
        return Err(failed("cuInit", code));
    }
    let mut version: c_int = 0;
    let code = unsafe { driver_version(&mut version) };
    if code != 0 {
        return Err(failed("cuDriverGetVersion", code));
    }
    if version < MIN_DRIVER_VERSION {
        return Err(DeviceError::OldDriver { version });
    }
    let mut count: c_int = 0;
    let code = unsafe { device_count(&mut count) };
    if code != 0 {
        return Err(failed("cuDeviceGetCount", code));
    }
    let gpus = usize::try_from(count).unwrap_or(0);
    if index >= gpus {
        return Err(DeviceError::NoSuchGpu { index, gpus });
    }
    Ok(DriverInfo { version, gpus })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Builds a stand-in driver library whose calls return the given values.
    fn stand_in(dir: &Path, name: &str, init: i32, version: i32, count: i32) -> PathBuf {
        let source = dir.join(format!("{name}.c"));
        std::fs::write(
            &source,
            format!(
                "int cuInit(unsigned int f) {{ (void)f; return {init}; }}\n\
                 int cuDriverGetVersion(int *v) {{ *v = {version}; return 0; }}\n\
                 int cuDeviceGetCount(int *n) {{ *n = {count}; return 0; }}\n\
                 int cuGetErrorName(int e, const char **s) {{\n\
                   if (e == 100) {{ *s = \"CUDA_ERROR_NO_DEVICE\"; return 0; }}\n\
                   return 1; }}\n"
            ),
        )
        .unwrap();
        let lib = dir.join(format!("lib{name}.so"));
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&lib)
            .arg(&source)
            .status()
            .expect("the C compiler `cc` builds the stand-in driver (it also links Rust here)");
        assert!(status.success(), "cc failed on {}", source.display());
        lib
    }

    fn probe_path(lib: &Path, index: usize) -> Result<DriverInfo, DeviceError> {
        probe(&[lib.to_str().unwrap()], index)
    }

    #[test]
    fn a_missing_library_is_no_driver() {
        let err = probe(&["/nonexistent/libcuda.so.1"], 0).unwrap_err();
        assert_eq!(err, DeviceError::NoDriver);
    }

    #[test]
    fn the_driver_decides_which_gpus_exist() {
        let dir = tempfile::tempdir().unwrap();
        let two = stand_in(dir.path(), "two_gpus", 0, 13000, 2);
        assert_eq!(
            probe_path(&two, 1),
            Ok(DriverInfo {
                version: 13000,
                gpus: 2
            })
        );
        let err = probe_path(&two, 3).unwrap_err();
        assert_eq!(err, DeviceError::NoSuchGpu { index: 3, gpus: 2 });
        assert!(err.to_string().contains("cuda:0 to cuda:1"), "{err}");

        let none = stand_in(dir.path(), "no_gpu", 0, 13000, 0);
        let err = probe_path(&none, 0).unwrap_err();
        assert!(err.to_string().contains("sees no GPU"), "{err}");
    }

    #[test]
    fn a_failing_init_names_the_driver_error() {
        let dir = tempfile::tempdir().unwrap();
        let lib = stand_in(dir.path(), "init_fails", 100, 13000, 1);
        let err = probe_path(&lib, 0).unwrap_err();
        assert_eq!(
            err,
            DeviceError::DriverFailed {
                call: "cuInit".into(),
                code: 100,
                name: "CUDA_ERROR_NO_DEVICE".into()
            }
        );
        let lib = stand_in(dir.path(), "init_odd", 999, 13000, 1);
        let err = probe_path(&lib, 0).unwrap_err();
        assert!(err.to_string().contains("999 (an unknown error)"), "{err}");
    }

    #[test]
    fn an_old_driver_is_refused_with_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let lib = stand_in(dir.path(), "old_driver", 0, 11080, 1);
        let err = probe_path(&lib, 0).unwrap_err();
        assert_eq!(err, DeviceError::OldDriver { version: 11080 });
        assert!(err.to_string().contains("CUDA 11.8"), "{err}");
    }
}
