//! `demix eval`: compares estimated stems with reference stems.

/// Makes `channels` have `n` channels: mono is duplicated, stereo averaged to mono.
pub fn match_channels(mut channels: Vec<Vec<f32>>, n: usize) -> Vec<Vec<f32>> {
    if channels.len() == n || channels.is_empty() {
        return channels;
    }
    if n == 1 {
        let k = channels.len() as f32;
        let len = channels[0].len();
        let mono = (0..len).map(|i| channels.iter().map(|c| c[i]).sum::<f32>() / k).collect();
        return vec![mono];
    }
    let first = channels.swap_remove(0);
    vec![first; n]
}
