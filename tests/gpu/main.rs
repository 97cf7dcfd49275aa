//! GPU tests, one binary (one link) with a module per topic. They run on whatever adapter
//! wgpu finds; `scripts/test.sh` runs them on Vulkan (lavapipe), on GL (llvmpipe) and under
//! WebGPU's default limits (`SOFTDICE_TEST_LIMITS=webgpu`), with `SOFTDICE_REQUIRE_GPU=1`
//! making a missing adapter fatal.

mod accuracy;
mod adapters;
mod buffers;
mod common;
mod concurrency;
mod contracts;
mod counts;
mod errors;
mod f16;
mod finite_diff;
mod fold;
mod large;
mod merge;
mod oracle;
mod parity;
mod props;
mod seed;
mod vjp;
