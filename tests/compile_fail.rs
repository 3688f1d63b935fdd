//! A wrongly typed device graph is a compile error of `build.rs`: applying a
//! functor to an implementation of the wrong type, to too many arguments,
//! or registering a functor that still waits for an argument.

#[test]
fn misapplied_functors_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
