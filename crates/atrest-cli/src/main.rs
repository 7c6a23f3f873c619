//! `atrest`: the command line.
fn main() {}
