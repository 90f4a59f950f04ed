//! Run-time dispatch to an AVX2 build of hot loops (used by augmentation kernels and the
//! saliency GMMs), with identical results on every CPU.

/// Defines a function whose body is compiled twice, for the baseline and
/// for AVX2, and picks the AVX2 build at run time when the CPU has it (the
/// check is cached by std). Only for integer and IEEE basic float code: AVX2
/// does not enable fused multiply-add, and Rust never contracts, so both
/// builds give the same bits.
macro_rules! multiversion {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident $(<$($lt:lifetime),+>)? ($($arg:ident: $ty:ty),* $(,)?) $body:block
    ) => {
        $(#[$attr])*
        $vis fn $name $(<$($lt),+>)? ($($arg: $ty),*) {
            #[inline(always)]
            fn portable $(<$($lt),+>)? ($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2 $(<$($lt),+>)? ($($arg: $ty),*) {
                    portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}
