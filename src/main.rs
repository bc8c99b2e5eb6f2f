fn main() -> std::process::ExitCode {
    cfn_chatops::cli::main()
}
