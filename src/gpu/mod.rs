//! The GPU path: a context holding the device and the pipelines, plans holding the per-shape
//! scratch buffers, and the two API layers (host slices, and recording into the caller's
//! encoder over the caller's buffers).

mod adapter;
mod bindings;
mod context;
mod counts;
mod geometry;
mod host;
mod layout;
mod pipelines;
mod plan;
mod readback;
mod record;
mod slots;
mod tuning;

pub use adapter::{describe_adapter, ContextOptions, DeviceLimits};
pub use bindings::{BufferRegion, GpuInputs};
pub use context::DiceContext;
use counts::CountsState;
pub use counts::RecordedCounts;
pub use plan::DicePlan;
pub use slots::{Recorded, RECORDING_SLOTS};

use adapter::check_device_limits;
use bindings::*;
use context::*;
use geometry::Geometry;
use host::HostCache;
use layout::*;
use pipelines::*;
use slots::{read_mapped, Slots};
use tuning::*;
