//! The validator's integration tests, one binary: the catalogue of example orders and its
//! snapshot, agreement with an independent validator in another language, CSR inspection, and
//! the property tests derived from the schema.

mod kit;

mod catalogue;
mod cross_language;
mod csr;
mod schema_properties;
