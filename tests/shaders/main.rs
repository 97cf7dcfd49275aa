//! The shaders without a GPU: every kernel parses and validates with naga and matches the
//! host's tables (`validate`), and every variant the crate can build translates for every
//! backend wgpu has and passes the validators installed for them (`translate`). A broken
//! shader fails here even where no GPU exists.

mod translate;
mod validate;
mod variants;
