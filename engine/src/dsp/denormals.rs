//! Flush-to-zero / denormals-are-zero for threads that do DSP.

/// Sets FTZ and DAZ in this thread's floating-point control register (x86-64 MXCSR,
/// AArch64 FPCR.FZ); a no-op elsewhere. Denormal arithmetic can be 20× slower.
pub fn flush_denormals_on_this_thread() {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
        csr |= 0x8040; // FTZ (bit 15) | DAZ (bit 6)
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
    }
    #[cfg(target_arch = "aarch64")]
    unsafe {
        let mut fpcr: u64;
        std::arch::asm!("mrs {}, fpcr", out(reg) fpcr);
        fpcr |= 1 << 24;
        std::arch::asm!("msr fpcr, {}", in(reg) fpcr);
    }
}

/// `x`, or `0.0` if `x` is subnormal (0 < |x| < `f32::MIN_POSITIVE`, below -758 dBFS).
/// Explicit, unlike FTZ/DAZ: it also catches values that are only copied (a delay line), not
/// computed. NaN and ±inf pass unchanged; -0.0 becomes +0.0.
#[inline(always)]
pub fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

/// `x` made safe to hand to a host: NaN, ±inf and subnormals become 0, everything else is
/// unchanged.
#[inline(always)]
pub fn sanitize(x: f32) -> f32 {
    if x.is_finite() {
        flush_subnormal(x)
    } else {
        0.0
    }
}

/// [`sanitize`] on every sample of `channels`. Allocation-free (audio thread: the plugin's
/// pass-through after an internal fault, where no engine cleans the signal).
pub fn sanitize_in_place(channels: &mut [&mut [f32]]) {
    for ch in channels.iter_mut() {
        for x in ch.iter_mut() {
            *x = sanitize(*x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{flush_subnormal, sanitize_in_place};

    #[test]
    fn sanitize_zeroes_non_finite_and_subnormal_samples_only() {
        let mut a = [0.5, f32::NAN, 1e-40, -1.0];
        let mut b = [f32::INFINITY, -3e-39, f32::NEG_INFINITY, 0.25];
        sanitize_in_place(&mut [&mut a[..], &mut b[..]]);
        assert_eq!(a, [0.5, 0.0, 0.0, -1.0]);
        assert_eq!(b, [0.0, 0.0, 0.0, 0.25]);
    }

    #[test]
    fn flush_subnormal_zeroes_only_subnormals() {
        assert_eq!(flush_subnormal(1e-40).to_bits(), 0);
        assert_eq!(flush_subnormal(-1e-40).to_bits(), 0);
        assert_eq!(flush_subnormal(f32::MIN_POSITIVE), f32::MIN_POSITIVE);
        assert_eq!(flush_subnormal(-0.25), -0.25);
        assert!(flush_subnormal(f32::NAN).is_nan());
        assert_eq!(flush_subnormal(f32::NEG_INFINITY), f32::NEG_INFINITY);
    }
}
