//! `mirror-server` binary: see [`mirror_server::cli`].

fn main() -> std::process::ExitCode {
    mirror_server::cli::main()
}
