fn main() -> std::process::ExitCode {
    mirror_sync::cli::main()
}
