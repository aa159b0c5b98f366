//! netcap's command line entry: parse, run, report, map errors to exit codes.
use netcap::cli::{Command, Config};

fn main() {
    // Rare warnings from deep inside (`log::warn!`) reach stderr in netcap's own voice;
    // RUST_LOG=debug and the like still work.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(|buf, record| {
            use std::io::Write;
            writeln!(buf, "netcap: {}", record.args())
        })
        .init();
    let cli = netcap::cli::tcpdump::parse();
    let config = match &cli.cmd {
        Command::Capture(a) if a.list_interfaces => std::process::exit(list_interfaces()),
        Command::Capture(a) => Config::capture(a),
        Command::Read(a) => Config::read(a),
        Command::Top(a) => std::process::exit(top(a)),
    };
    let result = config.and_then(|cfg| netcap::run::run(&cfg).map(|r| (cfg, r)));
    let (config, mut report) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("netcap: {e}");
            std::process::exit(e.exit_code());
        }
    };
    eprint!("netcap: {}", report.summary());
    // 0: a normal end (a signal, -c, end of file, stdout closed); 1: an abnormal one
    // (a cut or corrupt file, a vanished interface, a write error); 2: bad usage
    // (clap's own status, and Error::exit_code before anything ran).
    let mut code = i32::from(report.inputs.abnormal_end);
    if let Some(err) = &report.inputs.finished.write_error {
        eprintln!("netcap: {err}");
        code = 1;
    }
    if let Some(path) = &config.stats_json {
        if let Err(e) = report.write_json(path) {
            eprintln!("netcap: {e}");
            code = 1;
        }
    }
    if let Err(e) = netcap::run::write_flows(&mut report, &config.flows) {
        eprintln!("netcap: {e}");
        code = 1;
    }
    std::process::exit(code);
}

/// `netcap top`: its own loop and screen; the exit status as for a capture (0 for a
/// normal end, 1 for a failure, 2 for bad usage, such as stdout not a terminal).
fn top(args: &netcap::cli::CaptureArgs) -> i32 {
    match netcap::top::run(args) {
        Ok(k) => {
            eprintln!(
                "netcap: {} frames seen, {} captured, {} filtered, {} lost",
                k.seen,
                k.captured,
                k.filtered,
                k.lost_total()
            );
            0
        }
        Err(e) => {
            eprintln!("netcap: {e}");
            e.exit_code()
        }
    }
}

/// `netcap capture -D`: one line per interface, as `tcpdump -D`.
fn list_interfaces() -> i32 {
    match netcap::capture::ifaces::list() {
        Ok(all) => {
            for i in &all {
                println!("{}", i.line());
            }
            println!("any (every interface that is up, and those that come up while capturing)");
            0
        }
        Err(e) => {
            eprintln!("netcap: listing the interfaces: {e}");
            1
        }
    }
}
