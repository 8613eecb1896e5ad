//! The `fadca` command line: a thin layer over the library. Exit codes: 0 on
//! success, 2 for bad input (the message names file and line or record), 1 for
//! an internal failure. Errors are one line on stderr, never a backtrace.
mod cli;

use clap::Parser;

fn main() {
    fadca::keep_freed_memory();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => {}
        Err(err) => {
            // `{:#}` joins the context chain on one line: "what: where: why".
            eprintln!("fadca: error: {err:#}");
            let code = if let Some(code) = fadca::interrupt::exit_code_of(&err) {
                code
            } else if fadca::error::is_input_error(&err) {
                2
            } else {
                1
            };
            std::process::exit(code);
        }
    }
}
