//! Work sources: where jobs come from (a node's block templates; later pools).

pub mod node;
