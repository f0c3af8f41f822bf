//! One module per subcommand; each has an `Args` struct (its flags and help) and `run`.

pub mod info;

/// A reader that closed our stdout early (`gpt2 ... | head`) is not an error.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
