//! Prints the RAM of a few configurations (`cargo test -p tern-client --test sizes -- --nocapture`).
use tern_client::{Client, Fixed};

#[test]
fn print_sizes() {
    println!(
        "probe Fixed<1,1,0,32,0>: {}",
        size_of::<Client<'static, Fixed<1, 1, 0, 32, 0>>>()
    );
    println!(
        "Fixed<1,1,0,0,0>: {}",
        size_of::<Client<'static, Fixed<1, 1, 0, 0, 0>>>()
    );
    println!(
        "Fixed<4,4,0,128,0>: {}",
        size_of::<Client<'static, Fixed<4, 4, 0, 128, 0>>>()
    );
    println!(
        "Fixed<4,4,4,128,0>: {}",
        size_of::<Client<'static, Fixed<4, 4, 4, 128, 0>>>()
    );
}
