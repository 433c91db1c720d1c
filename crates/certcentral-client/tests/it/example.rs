//! `examples/order.rs` runs to completion against its in-process sandbox.

#[path = "../../examples/order.rs"]
mod order_example;

#[test]
fn the_order_example_runs() {
    order_example::main().expect("the example completes");
}
