//! Decibel conversions for amplitudes (20 log10). Real-time safe.

/// Amplitude ratio of `db` decibels.
#[inline]
pub fn db_to_amplitude(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Decibels of amplitude `x`, with `x` floored at `floor` (an amplitude > 0) so silence maps
/// to a finite value.
#[inline]
pub fn amplitude_to_db(x: f32, floor: f32) -> f32 {
    20.0 * x.max(floor).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_floor() {
        for db in [-60.0, -6.0, 0.0, 12.0] {
            assert!((amplitude_to_db(db_to_amplitude(db), 1e-12) - db).abs() < 1e-4);
        }
        assert!((db_to_amplitude(-6.0206) - 0.5).abs() < 1e-5);
        assert!((amplitude_to_db(0.0, 1e-6) + 120.0).abs() < 1e-3);
    }
}
