/// mimalloc rather than the system allocator: validating and running a
/// large workflow allocates many small strings and values, and glibc's
/// malloc/free was a third of `validate`'s profile (docs/decisions.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wfhost::cli::main()
}
