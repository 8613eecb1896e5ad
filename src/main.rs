//! The `fadca` command line: a thin layer over the library. Exit codes
//! ([`fadca::error::exit_code`]): 0 on success, 2 for bad input (the message
//! names file and line or record), 1 for an internal failure, 128 + signal
//! when stopped by SIGINT/SIGTERM. Errors are one line on stderr, never a
//! backtrace.
mod cli;

use clap::Parser;

fn main() {
    fadca::runtime::keep_freed_memory();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => {}
        Err(err) => {
            // `{:#}` joins the context chain on one line: "what: where: why".
            eprintln!("fadca: error: {err:#}");
            std::process::exit(fadca::error::exit_code(&err));
        }
    }
}
