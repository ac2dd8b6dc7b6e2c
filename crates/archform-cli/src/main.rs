fn main() {
    std::process::exit(archform_cli::main())
}
