//! Prints `size_of::<Client<..>>()` for a few configurations on the host (the RAM table in
//! the crate documentation is for 32-bit targets and checked there by `const` assertions).
use tern_client::{Client, Fixed};

#[test]
fn print_sizes() {
    println!(
        "probe Fixed<1,0,0,0,0>: {}",
        size_of::<Client<'static, Fixed<1, 0, 0, 0, 0>>>()
    );
    println!(
        "Fixed<4,0,0,0,0>: {}",
        size_of::<Client<'static, Fixed<4, 0, 0, 0, 0>>>()
    );
    println!(
        "Fixed<4,0,4,64,0>: {}",
        size_of::<Client<'static, Fixed<4, 0, 4, 64, 0>>>()
    );
}
