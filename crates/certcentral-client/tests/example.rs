//! `examples/order.rs` runs to completion against its in-process sandbox.

#[path = "../examples/order.rs"]
mod example;

#[test]
fn the_order_example_runs() {
    example::main().expect("the example completes");
}
