//! `tern`: the broker binary.

fn main() {
    eprintln!(
        "{}: the broker is not implemented yet (see the broker issue); only the protocol core exists.",
        tern_broker::VERSION
    );
    std::process::exit(2);
}
