//! Runs `models/demix_fp32.onnx` and `models/demix.onnx` through tract (pure Rust, one thread):
//! parity against `models/fixtures/reference.bin` and time per model step (compare with
//! `engine/tests/neural_bench.rs`, ONNX Runtime, on the same machine).
use std::path::PathBuf;
use std::time::Instant;
use tract_onnx::prelude::*;

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let fixture = repo.join("models/fixtures/reference.bin");
    for name in ["demix_fp32.onnx", "demix.onnx"] {
        let path = repo.join("models").join(name);
        let f = path.to_str().unwrap();
        let r = (|| -> TractResult<()> {
            let model = tract_onnx::onnx().model_for_path(f)?.into_optimized()?.into_runnable()?;
            let n_in = model.model().inputs.len();
            let mut inputs: TVec<TValue> = tvec!();
            for i in 0..n_in {
                let fact = model.model().input_fact(i)?;
                let shape: Vec<usize> = fact.shape.as_concrete().unwrap().to_vec();
                let n: usize = shape.iter().product();
                let data: Vec<f32> = (0..n).map(|k| ((k * 37) as f32 * 0.01).sin() * 0.1).collect();
                inputs.push(tract_ndarray::ArrayD::from_shape_vec(shape, data)?.into_tvalue());
            }
            // Parity on the fixture: frames consecutive from zero state, projected masks.
            let raw = std::fs::read(&fixture).unwrap();
            let vals: Vec<f32> = raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            let (t_n, bins) = (8usize, 513usize);
            let per_in = 4 * bins; let per_m = 4 * per_in;
            let which = if f.ends_with("fp32.onnx") { 0 } else { 1 };
            let mut st: Vec<TValue> = inputs.iter().skip(1).map(|v| { let mut a = v.to_plain_array_view::<f32>().unwrap().to_owned(); a.fill(0.0); a.into_tvalue() }).collect();
            let mut worst = 0f32;
            for t in 0..t_n {
                let spec = tract_ndarray::ArrayD::from_shape_vec(vec![2, 2, bins], vals[t * per_in..(t + 1) * per_in].to_vec())?;
                let mut inp: TVec<TValue> = tvec!(spec.into_tvalue());
                inp.extend(st.iter().cloned());
                let out = model.run(inp)?;
                let m = out[0].to_plain_array_view::<f32>()?.as_slice().unwrap().to_vec();
                st = out.iter().skip(1).cloned().collect();
                let exp = &vals[t_n * per_in + which * t_n * per_m + t * per_m..][..per_m];
                for c in 0..2 { for p in 0..2 { for k in 0..bins {
                    let sum: f32 = (0..4).map(|s| m[((s * 2 + c) * 2 + p) * bins + k]).sum();
                    let target = if p == 0 { 1.0 } else { 0.0 };
                    for s in 0..4 {
                        let i = ((s * 2 + c) * 2 + p) * bins + k;
                        worst = worst.max((m[i] + (target - sum) / 4.0 - exp[i]).abs());
                    }
                }}}
            }
            println!("{f}: tract parity vs fixture max abs err {worst:.2e}");
            let mut ts = Vec::new();
            for k in 0..1050 {
                let t = Instant::now();
                let out = model.run(inputs.clone())?;
                if k >= 50 { ts.push(t.elapsed().as_secs_f64() * 1e6); }
                std::hint::black_box(out);
            }
            ts.sort_by(f64::total_cmp);
            println!("{f}: tract OK, p50 {:.0} us, mean {:.0} us", ts[ts.len() / 2], ts.iter().sum::<f64>() / ts.len() as f64);
            Ok(())
        })();
        if let Err(e) = r { println!("{f}: tract FAILED: {e:?}"); }
    }
}
