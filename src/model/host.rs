//! Tensors in host memory seen from Rust: the values of a contiguous CPU
//! float32 tensor as a slice, in place, read-only or (where memory is
//! written) mutable, and copies out of any tensor.
//!
//! The two in-place views are the only `unsafe` way into a tensor's memory
//! in the crate: libtorch tensors share storage through handles the borrow
//! checker cannot see, so each caller states why no other handle reads or
//! writes the storage while its slice lives.
use tch::{Device, Kind, Tensor};

/// Whether `t` is a defined, contiguous float32 tensor on the CPU: one
/// that can be seen in place as `[f32]`.
fn is_host_f32(t: &Tensor) -> bool {
    t.defined() && t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous()
}

/// The values of a defined, contiguous CPU float32 tensor, read in place;
/// `None` for any other tensor.
///
/// # Safety
/// Nothing may write the tensor's storage (through this handle or another
/// one sharing it) while the slice lives.
pub(super) unsafe fn host_values(t: &Tensor) -> Option<&[f32]> {
    if !is_host_f32(t) {
        return None;
    }
    let len = t.numel();
    if len == 0 {
        return Some(&[]);
    }
    // SAFETY: a contiguous float32 CPU tensor of `len` elements starts at
    // `data_ptr` (storage offset included); no writer is the caller's promise.
    Some(unsafe { std::slice::from_raw_parts(t.data_ptr() as *const f32, len) })
}

/// The values of a defined, contiguous CPU float32 tensor, to be written in
/// place; `None` for any other tensor.
///
/// # Safety
/// Nothing else may read or write the tensor's storage (through another
/// handle sharing it) while the slice lives.
pub(super) unsafe fn host_values_mut(t: &mut Tensor) -> Option<&mut [f32]> {
    if !is_host_f32(t) {
        return None;
    }
    let len = t.numel();
    if len == 0 {
        return Some(&mut []);
    }
    // SAFETY: as in `host_values`; `t` is borrowed mutably and no other
    // handle is used meanwhile (the caller's promise).
    Some(unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, len) })
}

/// A tensor's values as float32 on the host (a contiguous copy, detached).
pub(super) fn to_vec(t: &Tensor) -> Vec<f32> {
    let t = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let numel = t.numel();
    let mut out = vec![0.0f32; numel];
    t.copy_data(&mut out, numel);
    out
}

/// `values` as a tensor of `like`'s shape and kind (on the CPU): how the
/// fused kernels' gradients are handed to the optimiser.
pub(super) fn tensor_like(values: &[f32], like: &Tensor) -> Tensor {
    Tensor::from_slice(values)
        .reshape(like.size())
        .to_kind(like.kind())
}
