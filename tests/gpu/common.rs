//! Shared by the GPU tests: the context (loud about a missing adapter, fatal under CI), seeded
//! inputs and comparisons that name the worst element.

use std::sync::OnceLock;

use softdice::{ContextOptions, DeviceLimits, DiceContext, DiceError, Reduction, Shape};

/// Set by `.ci/run` (and `scripts/test.sh`): a missing adapter fails instead of skipping.
pub const REQUIRE_GPU: &str = "SOFTDICE_REQUIRE_GPU";

/// Set to `webgpu` by `scripts/test.sh` for one run of the suite: every context is created
/// with WebGPU's default limits (8 storage buffers per stage, 128 MiB bindings, 256 MiB
/// buffers) instead of the adapter's.
pub const TEST_LIMITS: &str = "SOFTDICE_TEST_LIMITS";

/// Whether this run uses WebGPU's default limits.
pub fn webgpu_limits() -> bool {
    match std::env::var(TEST_LIMITS).as_deref() {
        Ok("webgpu") => true,
        Ok("adapter") | Ok("") | Err(_) => false,
        Ok(other) => panic!("{TEST_LIMITS}={other}: expected webgpu or adapter"),
    }
}

/// The options every test context is created with (the adapter wgpu's variables choose).
pub fn options() -> ContextOptions {
    ContextOptions {
        limits: if webgpu_limits() {
            DeviceLimits::WebGpu
        } else {
            DeviceLimits::Adapter
        },
        ..Default::default()
    }
}

/// The shared context, or `None` (with a loud message) where no adapter exists and
/// `SOFTDICE_REQUIRE_GPU` is not set.
pub fn ctx() -> Option<&'static DiceContext> {
    static CTX: OnceLock<Option<DiceContext>> = OnceLock::new();
    CTX.get_or_init(|| match DiceContext::with_options(&options()) {
        Ok(ctx) => Some(ctx),
        Err(e @ DiceError::NoAdapter { .. }) => {
            if std::env::var_os(REQUIRE_GPU).is_some_and(|v| v != "0") {
                panic!("{REQUIRE_GPU} is set but there is no adapter: {e}");
            }
            eprintln!("\n*** SKIPPING GPU TEST: {e} ***\n");
            None
        }
        Err(e) => panic!("context: {e}"),
    })
    .as_ref()
}

/// The shared context's adapter, found again (call after `ctx()` found one).
pub fn shared_adapter() -> wgpu::Adapter {
    let info = ctx().expect("the shared context").adapter_info();
    let options = ContextOptions {
        backends: Some(info.backend.into()),
        adapter_name: Some(info.name.clone()),
        ..options()
    };
    pollster::block_on(options.pick_adapter())
        .expect("the shared context's adapter")
        .1
}

/// A device of its own on the shared context's adapter, created with those of `features` the
/// adapter has, and with the shared device's limits as `limits` changes them.
pub fn own_device(
    features: wgpu::Features,
    limits: impl FnOnce(wgpu::Limits) -> wgpu::Limits,
) -> (wgpu::Device, wgpu::Queue) {
    let shared = ctx().expect("the shared context");
    let adapter = shared_adapter();
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: features & adapter.features(),
        required_limits: limits(shared.device().limits()),
        ..Default::default()
    }))
    .expect("device")
}

/// A context on [`own_device`].
pub fn own_ctx(
    features: wgpu::Features,
    limits: impl FnOnce(wgpu::Limits) -> wgpu::Limits,
) -> DiceContext {
    let (device, queue) = own_device(features, limits);
    DiceContext::from_device(device, queue).expect("a device with the shared one's limits")
}

/// splitmix64: small, seeded, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % n as u64) as u32
    }

    /// Logits in [-scale, scale).
    pub fn logits(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| (self.uniform() * 2.0 - 1.0) * scale)
            .collect()
    }

    pub fn labels(&mut self, n: usize, classes: u32) -> Vec<u32> {
        (0..n).map(|_| self.below(classes)).collect()
    }
}

/// Softmax over the class axis on the host, to make probability inputs.
pub fn softmax(shape: &Shape, logits: &[f32]) -> Vec<f32> {
    let (b, c, s) = (shape.batch(), shape.classes(), shape.spatial());
    let mut out = vec![0.0; logits.len()];
    for bi in 0..b {
        for si in 0..s {
            let at = |ci: usize| (bi * c + ci) * s + si;
            let m = (0..c).map(|ci| logits[at(ci)]).fold(f32::MIN, f32::max);
            let z: f32 = (0..c).map(|ci| (logits[at(ci)] - m).exp()).sum();
            for ci in 0..c {
                out[at(ci)] = (logits[at(ci)] - m).exp() / z;
            }
        }
    }
    out
}

/// Checks `|got - want| <= abs + rel * |want|` element-wise; on failure names the worst index.
pub fn check_close<T: Into<f64> + Copy>(
    what: &str,
    got: &[T],
    want: &[f64],
    abs: f64,
    rel: f64,
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: length {} != {}", got.len(), want.len()));
    }
    let mut worst: Option<(usize, f64)> = None;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g: f64 = (*g).into();
        let excess = (g - w).abs() - (abs + rel * w.abs());
        // Equal values are within any bar, infinities of one sign too (where their difference
        // is NaN); a NaN is within none.
        let within = g == *w || excess <= 0.0;
        if !within && worst.is_none_or(|(_, e)| excess > e || excess.is_nan()) {
            worst = Some((i, excess));
        }
    }
    match worst {
        None => Ok(()),
        Some((i, _)) => {
            let g: f64 = got[i].into();
            Err(format!(
                "{what}: worst index {i}: got {g:e}, want {:e} (diff {:e}, bound {abs:e} + {rel:e} * |want|)",
                want[i],
                (g - want[i]).abs()
            ))
        }
    }
}

/// The bars every GPU-vs-oracle comparison uses.
pub const LOSS_REL: f64 = 1e-5;
/// Gradient elements: relative, over an absolute floor (`GradFloor`). Gradients shrink as 1/N,
/// so a fixed absolute floor would let a large test's every element be off by percents: the
/// tests with chosen inputs use `GRAD_FLOOR`, a tenth of the largest
/// element (elements near zero are differences of near-equal terms).
pub const GRAD_REL: f64 = 1e-4;
pub const GRAD_FLOOR: GradFloor = GradFloor::Scaled(0.1);

/// The absolute part of the gradient bar, before `GRAD_REL`.
#[derive(Clone, Copy, Debug)]
pub enum GradFloor {
    /// This fraction of the largest element.
    Scaled(f64),
    /// The larger of an absolute value and this fraction of the largest element (as `Scaled`).
    AtLeast(f64, f64),
}

/// A gradient against the oracle's (or a fixture's) at the chosen-input bar:
/// `|got - want| <= GRAD_REL * (|want| + 0.1 * max |want|)` element-wise.
pub fn check_grad<T: Into<f64> + Copy>(what: &str, got: &[T], want: &[f64]) -> Result<(), String> {
    check_grad_with(what, got, want, GRAD_FLOOR)
}

/// [`check_grad`] with another floor.
pub fn check_grad_with<T: Into<f64> + Copy>(
    what: &str,
    got: &[T],
    want: &[f64],
    floor: GradFloor,
) -> Result<(), String> {
    let largest = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    let abs = match floor {
        GradFloor::Scaled(fraction) => GRAD_REL * fraction * largest,
        GradFloor::AtLeast(abs, fraction) => abs.max(GRAD_REL * fraction * largest),
    };
    check_close(what, got, want, abs, GRAD_REL).map_err(|e| format!("{e}; max |want| {largest:e}"))
}

/// Dice values are in [0, 1] (or near): absolute.
pub const DICE_ABS: f64 = 1e-5;

/// Relative part of the dice bar: smooth_nr > smooth_dr over empty sums puts dice far above 1
/// (found: 1.7e5 with every pixel ignored), where f32 holds only ~1e-7 relative.
pub const DICE_REL: f64 = 1e-6;

/// Absolute floor under the relative loss bar, per loss element: an f32 dice near 1 is exact
/// only to an ulp (6e-8 below 1, 1.2e-7 above, where smooth_nr > smooth_dr puts it), two ulps
/// above 1; and WGSL's `log` is accurate only to 2^-21 absolute on [0.5, 2] (the spec's bound,
/// not an ulp count), so -ln(dice) near 0 carries both and cannot be relative-accurate (found:
/// an element of 9e-5 off by 2.6e-7 on lavapipe).
pub const LOSS_ABS: f64 = 2.5e-7 + 1.0 / (1u32 << 21) as f64;

/// The absolute floor of a loss that adds up `elements` loss elements (`Reduction::Sum`: each
/// carries `LOSS_ABS`; found: two rows of -ln(dice) near 0, 3.1e-7 off), or averages them.
pub fn loss_abs(reduction: Reduction, elements: usize) -> f64 {
    match reduction {
        Reduction::Sum => LOSS_ABS * elements.max(1) as f64,
        Reduction::Mean | Reduction::None => LOSS_ABS,
    }
}

/// The loss of a GPU output against the oracle's: relative, with the absolute floor.
pub fn check_loss(what: &str, got: f32, want: f64) -> Result<(), String> {
    check_close(what, &[got], &[want], LOSS_ABS, LOSS_REL)
}

/// The last axis of a large test's f32 input `[lead..., wanted]`: `wanted` where one buffer of
/// the device holds it, else the largest that fits `max_buffer_size` (under WebGPU's limits),
/// after checking that one more is refused with `TooLarge` on that limit.
pub fn last_axis_that_fits(ctx: &DiceContext, lead: &[usize], wanted: usize) -> usize {
    let max = (ctx.device().limits().max_buffer_size / 4) as usize;
    let row: usize = lead.iter().product();
    if row * wanted <= max {
        return wanted;
    }
    let fits = max / row;
    let past = Shape::new(&[lead, &[fits + 1]].concat()).unwrap();
    let err = ctx
        .plan(
            &past,
            &softdice::DiceConfig::default(),
            softdice::TargetKind::LabelsU8,
        )
        .expect_err("one more than max_buffer_size holds");
    assert_too_large(&err, "max_buffer_size");
    fits
}

/// Asserts that `err` is `TooLarge` on `limit_name` (a substring), with `needed > limit`.
pub fn assert_too_large(err: &DiceError, limit_name: &str) {
    match err {
        DiceError::TooLarge {
            needed,
            limit,
            limit_name: name,
            ..
        } => {
            assert!(needed > limit, "{err}");
            assert!(name.contains(limit_name), "{err}");
        }
        other => panic!("expected TooLarge on {limit_name}, got {other:?}"),
    }
}

/// A storage buffer (with `extra` usages) holding `bytes`.
pub fn storage(device: &wgpu::Device, bytes: &[u8], extra: wgpu::BufferUsages) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytes,
        usage: wgpu::BufferUsages::STORAGE | extra,
    })
}

pub use softdice_support::readback::read_buffer;
