//! What the capture bench runs: the machine's top rate ([`calibrate`]), the frames a
//! run sends and the scenarios, top rates first.
use std::path::Path;

use anyhow::Result;

use super::*;

/// The top rate of one core of trafgen with no capture: the better of two blasts of
/// 64-byte frames (the first also warms up the veth pair and the page cache).
pub(super) fn calibrate(veth: &Veth, out: &Path) -> Result<f64> {
    let sc = Scenario {
        size: SIZES[0],
        rate_pps: None,
        all_cores: false,
        frames: CALIBRATION_FRAMES,
    };
    let mut best = 0.0f64;
    for _ in 0..2 {
        let sent = trafgen::send(veth, &sc, out, 0)?;
        best = best.max(sent.frames as f64 / sent.secs.max(1e-6));
    }
    Ok(best)
}

/// Frames for `secs` of traffic at `pps`, in steps of 100k, within the bounds.
pub(super) fn frames_for(pps: f64, secs: f64) -> u64 {
    let n = (pps * secs / 100_000.0).round() as u64 * 100_000;
    n.clamp(FRAMES_MIN, FRAMES_MAX)
}

/// Top rate for every size from one core, the smallest size from all cores, then the
/// stepped rates (unless `top_rate_only`).
pub(super) fn scenarios(frames: u64, step_secs: f64, top_rate_only: bool) -> Vec<Scenario> {
    let mut v: Vec<Scenario> = SIZES
        .iter()
        .map(|&size| Scenario {
            size,
            rate_pps: None,
            all_cores: false,
            frames,
        })
        .collect();
    v.push(Scenario {
        size: SIZES[0],
        rate_pps: None,
        all_cores: true,
        frames,
    });
    for rate in RATES.iter().copied().filter(|_| !top_rate_only) {
        v.push(Scenario {
            size: SIZES[0],
            rate_pps: Some(rate),
            all_cores: false,
            frames: ((rate as f64 * step_secs) as u64).min(frames),
        });
    }
    v
}
