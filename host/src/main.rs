fn main() -> std::process::ExitCode {
    wfhost::cli::main()
}
