//! Vectors of float32 lanes for the register-tiled kernels of
//! [`super::tiles`]: one generic kernel over a [`Vector`] type,
//! instantiated with AVX-512 (16 lanes), AVX2 (8 lanes, fewer registers:
//! smaller tiles) or plain floats and chosen at run time
//! ([`by_level!`](by_level)). The compiler's auto-vectorisation picked the
//! wrong loop for such tiles (gathers across a tile's rows), so the vectors
//! are explicit.
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{Level, level};

/// A vector of float32 lanes of one instruction set. The methods are
/// unsafe: they need the instruction set (detected at run time by the
/// caller), and loads and stores touch `LANES` floats from the pointer.
pub(super) trait Vector: Copy {
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn load(src: *const f32) -> Self;
    unsafe fn splat(x: f32) -> Self;
    /// `self · a + b`, fused.
    unsafe fn mul_add(self, a: Self, b: Self) -> Self;
    unsafe fn store(self, dst: *mut f32);
}

/// One float (the fallback).
#[derive(Clone, Copy)]
pub(super) struct Scalar(f32);

impl Vector for Scalar {
    const LANES: usize = 1;
    #[inline(always)]
    unsafe fn zero() -> Self {
        Scalar(0.0)
    }
    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        Scalar(unsafe { *src })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Scalar(x)
    }
    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        Scalar(self.0.mul_add(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        unsafe { *dst = self.0 }
    }
}

/// Eight floats in an AVX register.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Avx2(__m256);

#[cfg(target_arch = "x86_64")]
impl Vector for Avx2 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        Avx2(unsafe { _mm256_setzero_ps() })
    }
    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        Avx2(unsafe { _mm256_loadu_ps(src) })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Avx2(unsafe { _mm256_set1_ps(x) })
    }
    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        Avx2(unsafe { _mm256_fmadd_ps(self.0, a.0, b.0) })
    }
    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        unsafe { _mm256_storeu_ps(dst, self.0) }
    }
}

/// Sixteen floats in an AVX-512 register.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Avx512(__m512);

#[cfg(target_arch = "x86_64")]
impl Vector for Avx512 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        Avx512(unsafe { _mm512_setzero_ps() })
    }
    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        Avx512(unsafe { _mm512_loadu_ps(src) })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Avx512(unsafe { _mm512_set1_ps(x) })
    }
    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        Avx512(unsafe { _mm512_fmadd_ps(self.0, a.0, b.0) })
    }
    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        unsafe { _mm512_storeu_ps(dst, self.0) }
    }
}

/// Calls `$generic::<V, …>(args)` (an unsafe generic over [`Vector`]) for
/// the best instruction set with its
/// tile sizes: `$avx512`, `$avx2` and `$scalar` are the const parameters
/// after the vector type.
macro_rules! by_level {
    ($generic:ident ($($arg:ident : $ty:ty),*), [$($avx512:expr),*], [$($avx2:expr),*], [$($scalar:expr),*]) => {{
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,fma")]
        unsafe fn avx512($($arg: $ty),*) {
            unsafe { $generic::<$crate::model::kernels::vector::Avx512, $($avx512),*>($($arg),*) }
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2($($arg: $ty),*) {
            unsafe { $generic::<$crate::model::kernels::vector::Avx2, $($avx2),*>($($arg),*) }
        }
        use $crate::model::kernels::Level;
        match $crate::model::kernels::vector::tile_level() {
            // SAFETY: the features were detected at run time; the tiles
            // check the bounds of what they touch before they touch it.
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => unsafe { avx512($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => unsafe { avx2($($arg),*) },
            _ => unsafe {
                $generic::<$crate::model::kernels::vector::Scalar, $($scalar),*>($($arg),*)
            },
        }
    }};
}

/// The instruction set the tiles run with: the best one, or in the tests
/// one forced below it.
pub(super) fn tile_level() -> Level {
    #[cfg(test)]
    if let Some(forced) = tests::FORCED.with(|f| f.get()) {
        return forced;
    }
    level()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// The level [`tile_level`] returns on this thread, if set.
        pub(super) static FORCED: Cell<Option<Level>> = const { Cell::new(None) };
    }

    /// The levels this CPU can run, the fallback first.
    pub(crate) fn levels() -> Vec<Level> {
        let mut out = vec![Level::Generic];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                out.push(Level::Avx2);
            }
            if level() == Level::Avx512 {
                out.push(Level::Avx512);
            }
        }
        out
    }

    /// `f` run at every level this CPU has; asserts that all give the same
    /// floats (each result is the same sequence of fused multiply-adds on
    /// every instruction set) and returns them.
    pub(crate) fn at_every_level(f: impl Fn() -> Vec<f32>) -> Vec<f32> {
        let mut results = Vec::new();
        for l in levels() {
            FORCED.with(|c| c.set(Some(l)));
            results.push(f());
            FORCED.with(|c| c.set(None));
        }
        for r in &results[1..] {
            assert_eq!(r, &results[0]);
        }
        results.swap_remove(0)
    }
}
