//! Link-time glue for the `cuda` build: keeps the binary's glibc requirement
//! at 2.35.
//!
//! The `cuda` build links LLVM statically (cubecl compiles kernels to PTX with
//! it). `tools/cuda-build.sh` takes that LLVM from Debian bookworm's LLVM 22
//! packages, and their `libLLVMSupport.a` (`Process.cpp`, random numbers for
//! hashing seeds and temporary names) calls `arc4random`, which glibc only has
//! from 2.36. Linked as is, the binary would not start on a glibc 2.35 system
//! (Ubuntu 22.04, a common GPU machine image) although nothing else in it needs
//! more than 2.35. Defining the symbol here, in the binary's own objects (which
//! the linker reads before any archive), makes the linker resolve LLVM's call
//! to this function instead of to `arc4random@GLIBC_2.36`.
//!
//! It lives in the binary crate rather than the library: a function in an
//! rlib is only linked when something that comes before LLVM on the link line
//! needs it, and nothing does.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;

/// 32 random bits, as glibc's `arc4random` (which never fails): from
/// `/dev/urandom`, or, should that be unreadable, from the standard library's
/// randomly keyed hasher (seeded from the OS at process start).
#[unsafe(no_mangle)]
pub extern "C" fn arc4random() -> u32 {
    let mut bytes = [0u8; 4];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    match read {
        Ok(()) => u32::from_ne_bytes(bytes),
        Err(_) => {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u64(std::process::id().into());
            hasher.finish() as u32
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_differ() {
        let draws: Vec<u32> = (0..8).map(|_| super::arc4random()).collect();
        assert!(draws.windows(2).any(|w| w[0] != w[1]), "{draws:?}");
    }
}
