//! What softdice's tests, examples, benches and tools share, in one crate instead of files
//! included by path: the deterministic timing inputs ([`inputs`]), the seed notebook's arrays
//! ([`seed_npy`]) and the runner of the PyTorch, MONAI, smp and nnU-Net reference cases
//! ([`cases`]). Not published.

pub mod activation;
pub mod cases;
pub mod inputs;
pub mod memory;
pub mod pycall;
pub mod readback;
pub mod seed_npy;
