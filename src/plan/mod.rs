//! Lowering a checked program into a DAG of content-addressed steps.
