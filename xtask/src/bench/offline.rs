//! `bench offline`: decoding speed on a file. A generated pcap ([`super::pcapgen`]) is
//! read by netcap in each output format (one worker and the default), by tcpdump (text
//! and `-w`), and by the reference turtle decoder on a cut of the file (it runs at a
//! few MB/s). Wall and CPU time per run; rates are per frame, so the sizes of the two
//! inputs do not matter.
use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{pcapgen, proc, rel, thousands, write_json, write_report, Machine, Spread};

/// Frames in the input: 1M is a few hundred MB of pcap and a second or two for netcap.
const FRAMES_FULL: u64 = 1_000_000;
const FRAMES_QUICK: u64 = 200_000;
/// Frames for the reference decoder: it decodes about 1-3 k frames/s here (a few MB/s
/// of output), so 20k frames is 10-15 s per run; 5k with `--quick`.
const REFERENCE_FRAMES: u64 = 20_000;
const REFERENCE_FRAMES_QUICK: u64 = 5_000;
const SEED: u64 = 0x6e65_7463_6170;

/// One command line to time.
struct Case {
    name: String,
    /// The reference runs on the cut file.
    on_cut: bool,
    /// The rate comparisons are against these.
    baseline: Option<Baseline>,
    argv: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Baseline {
    Tcpdump,
    Reference,
}

#[derive(Debug, Serialize)]
struct Outcome {
    name: String,
    command: String,
    frames: u64,
    wall_s: Spread,
    cpu_s: Spread,
    frames_per_s: Spread,
    output_bytes: u64,
    output_mb_per_s: f64,
    vs_tcpdump: f64,
    vs_reference: f64,
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    quick: bool,
    runs: usize,
    input: Input,
    results: Vec<Outcome>,
}

#[derive(Serialize)]
struct Input {
    file: PathBuf,
    frames: u64,
    bytes: u64,
    cut_file: PathBuf,
    cut_frames: u64,
}

pub fn run(root: &Path, bin: &Path, out: &Path, machine: &Machine, quick: bool) -> Result<()> {
    let frames = if quick { FRAMES_QUICK } else { FRAMES_FULL };
    let runs = if quick { 1 } else { 3 };
    let cut_frames = if quick {
        REFERENCE_FRAMES_QUICK
    } else {
        REFERENCE_FRAMES
    };
    let file = out.join(format!("offline-{frames}.pcap"));
    let cut_file = out.join(format!("offline-cut-{cut_frames}.pcap"));
    eprintln!(
        "bench: generating {} ({} frames)",
        file.display(),
        thousands(frames as f64)
    );
    let gen = pcapgen::generate(&file, frames, SEED)?;
    pcapgen::cut(&file, &cut_file, cut_frames)?;
    let reference = root.join("../shared/reference/turtle_reference.py");
    let cases = cases(bin, &file, &cut_file, &reference);

    let mut results = Vec::new();
    for case in &cases {
        if case.argv[0] == "python3" && !reference.exists() {
            eprintln!(
                "bench: skipping {}: {} not found",
                case.name,
                reference.display()
            );
            continue;
        }
        let n = if case.on_cut {
            cut_frames.min(frames)
        } else {
            frames
        };
        let output_bytes = count_output(&case.argv)?;
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..runs {
            let (w, ex) = proc::run_timed(
                command(&case.argv)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )?;
            if ex.code != 0 {
                bail!("{} exited with {}", case.argv.join(" "), ex.code);
            }
            wall.push(w);
            cpu.push(ex.cpu_s);
        }
        let wall_s = Spread::of(wall.iter().copied());
        let fps = Spread::of(wall.iter().map(|w| n as f64 / w));
        eprintln!(
            "bench: {:<28} {:>12} frames/s  wall {:.3} s  cpu {:.3} s",
            case.name,
            thousands(fps.median),
            wall_s.median,
            Spread::of(cpu.iter().copied()).median
        );
        results.push(Outcome {
            name: case.name.clone(),
            command: case
                .argv
                .iter()
                .map(|a| shorten(root, a))
                .collect::<Vec<_>>()
                .join(" "),
            frames: n,
            wall_s,
            cpu_s: Spread::of(cpu),
            frames_per_s: fps,
            output_bytes,
            output_mb_per_s: output_bytes as f64 / 1e6 / wall_s.median,
            vs_tcpdump: f64::NAN,
            vs_reference: f64::NAN,
        });
    }
    let rate_of = |b: Baseline| {
        cases
            .iter()
            .zip(&results)
            .find(|(c, _)| c.baseline == Some(b))
            .map_or(f64::NAN, |(_, r)| r.frames_per_s.median)
    };
    let (tcpdump, reference_rate) = (rate_of(Baseline::Tcpdump), rate_of(Baseline::Reference));
    for r in &mut results {
        r.vs_tcpdump = r.frames_per_s.median / tcpdump;
        r.vs_reference = r.frames_per_s.median / reference_rate;
    }

    let report = Report {
        machine,
        quick,
        runs,
        input: Input {
            file: rel(root, &file),
            frames: gen.frames,
            bytes: gen.bytes,
            cut_file: rel(root, &cut_file),
            cut_frames,
        },
        results,
    };
    write_json(&out.join("offline.json"), &report)?;
    write_report(&out.join("offline.md"), &markdown(&report))?;
    print!("{}", markdown(&report));
    // The inputs are regenerated on every run; don't leave hundreds of MB behind.
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&cut_file);
    Ok(())
}

fn cases(bin: &Path, file: &Path, cut: &Path, reference: &Path) -> Vec<Case> {
    let b = bin.display().to_string();
    let f = file.display().to_string();
    let mut cases = Vec::new();
    for fmt in ["turtle", "line", "json", "none"] {
        for workers in [Some(1), None] {
            let mut argv = vec![b.clone(), "read".into(), f.clone(), "-F".into(), fmt.into()];
            if let Some(w) = workers {
                argv.extend(["--workers".into(), w.to_string()]);
            }
            let name = match workers {
                Some(w) => format!("netcap -F {fmt} --workers {w}"),
                None => format!("netcap -F {fmt}"),
            };
            cases.push(Case {
                name,
                on_cut: false,
                baseline: None,
                argv,
            });
        }
    }
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    cases.push(Case {
        name: "tcpdump -n -r".into(),
        on_cut: false,
        baseline: Some(Baseline::Tcpdump),
        argv: s(&["tcpdump", "-n", "-r", &f]),
    });
    cases.push(Case {
        name: "tcpdump -r -w /dev/null".into(),
        on_cut: false,
        baseline: None,
        argv: s(&["tcpdump", "-r", &f, "-w", "/dev/null"]),
    });
    cases.push(Case {
        name: "turtle_reference.py".into(),
        on_cut: true,
        baseline: Some(Baseline::Reference),
        argv: s(&[
            "python3",
            &reference.display().to_string(),
            &cut.display().to_string(),
        ]),
    });
    cases
}

fn command(argv: &[String]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

/// Bytes the command writes to stdout (one untimed run, like `wc -c`).
fn count_output(argv: &[String]) -> Result<u64> {
    let mut child = command(argv)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", argv.join(" ")))?;
    let mut pipe = child.stdout.take().context("no stdout pipe")?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        super::check_interrupted()?;
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the output"),
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{} failed ({status})", argv.join(" "));
    }
    Ok(total)
}

/// Paths in reports relative to the workspace (the bench runs from its root).
fn shorten(root: &Path, arg: &str) -> String {
    let p = Path::new(arg);
    // The bench times a copy of the binary (see `bench::run`); show the real one.
    if p == root.join("target/bench/netcap") {
        return "target/release/netcap".into();
    }
    if p.is_absolute() {
        let r = rel(root, p);
        if r != p {
            return r.display().to_string();
        }
        if let Some(shared) = arg.find("/shared/") {
            return format!("..{}", &arg[shared..]);
        }
    }
    arg.to_owned()
}

fn ratio(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x >= 10.0 {
        format!("{x:.0}×")
    } else {
        format!("{x:.2}×")
    }
}

fn markdown(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Offline decoding: {} frames ({:.0} MB pcap, generated mix: TCP, DNS-like UDP, QUIC-like \
         UDP, ICMP, IPv6, ARP, 802.1Q), reference decoder on the first {} frames. \
         {} run(s) each, median (min–max). Output to /dev/null; output size measured once.\n\
         Machine: {}.\n\n",
        thousands(r.input.frames as f64),
        r.input.bytes as f64 / 1e6,
        thousands(r.input.cut_frames as f64),
        r.runs,
        r.machine.summary(),
    ));
    s.push_str(
        "| command | wall s | CPU s | frames/s | output MB | output MB/s | vs tcpdump -n | vs reference |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for o in &r.results {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {:.1} | {:.1} | {} | {} |\n",
            o.name,
            o.wall_s.show(|x| format!("{x:.2}")),
            o.cpu_s.show(|x| format!("{x:.2}")),
            thousands(o.frames_per_s.median),
            o.output_bytes as f64 / 1e6,
            o.output_mb_per_s,
            ratio(o.vs_tcpdump),
            ratio(o.vs_reference),
        ));
    }
    s.push_str("\nCommands (FILE is the generated pcap; CUT its first frames):\n\n");
    for o in &r.results {
        s.push_str(&format!("- {}: `{} > /dev/null`\n", o.name, o.command));
    }
    s
}
