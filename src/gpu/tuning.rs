//! Launch geometry from the kind of adapter: workgroup size and how many workgroups the
//! input kernels launch.

use crate::shaders::Fold;

/// Workgroup size of the partials, reduce and gradient kernels (the `WG` override).
pub(crate) const WG: u32 = 128;

/// Workgroup memory of the kernel that uses the most: fold_workgroup.wgsl's `red`, 24 floats
/// per thread (8 classes x A, P, Y).
pub(crate) const WORKGROUP_BYTES: u64 = 24 * WG as u64 * 4;

/// How many workgroups the input kernels launch, from the kind of adapter. Each kernel aims
/// at a total number of workgroups and gives every thread at least a minimum of pixels;
/// larger inputs give each thread a longer run (`run_index` in shaders/inputs.wgsl).
#[derive(Clone, Copy, Debug)]
pub(super) struct Grid {
    /// dice_partials workgroups to aim for over the whole input.
    pub(super) partial_groups: u32,
    /// Pixels each dice_partials thread takes at least.
    pub(super) partial_pixels_per_thread: u32,
    /// dice_gradient workgroups to aim for over the whole input.
    pub(super) gradient_groups: u32,
    /// Pixels each dice_gradient thread takes at least, on the scalar and on the VEC4 path.
    pub(super) gradient_pixels_per_thread: [u32; 2],
}

impl Grid {
    // Chosen on lavapipe, the only adapter measured so far: a CPU rasteriser pays dearly for
    // each thread start and runs a SIMD group through a whole loop before the next, so few
    // workgroups with long runs per thread win (a few pixels per thread was more than twice as
    // slow); with the subgroup fold the workgroup count hardly matters, while the workgroup
    // fold's barriers make thousands of workgroups twice as slow. A GPU wants the opposite:
    // many workgroups, a few pixels per thread.
    pub(super) fn for_adapter(info: &wgpu::AdapterInfo, fold: Fold) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        match (info.device_type, fold) {
            // A CPU rasteriser runs one workgroup per core at a time: a few per core (more
            // with the workgroup fold, whose per-workgroup barriers were measured with 32).
            (wgpu::DeviceType::Cpu, fold) => Self {
                partial_groups: cores * if fold == Fold::Subgroup { 4 } else { 16 },
                partial_pixels_per_thread: 64,
                gradient_groups: 4 * cores,
                gradient_pixels_per_thread: [64, 64],
            },
            // A GPU: enough workgroups to fill it many times over, a few pixels per thread.
            _ => Self {
                partial_groups: 8192,
                partial_pixels_per_thread: 8,
                gradient_groups: u32::MAX,
                gradient_pixels_per_thread: [1, 4],
            },
        }
    }

    /// Workgroups per (sample, class chunk) when `units` of them share the `target`, each
    /// thread taking at least `pixels` of the `n_s`, and at most `max_dim`.
    pub(super) fn per_unit(target: u32, units: u32, n_s: u32, pixels: u32, max_dim: u32) -> u32 {
        (target / units.max(1))
            .min(n_s.div_ceil(WG * pixels))
            .clamp(1, max_dim)
    }
}

/// dice_partials partials per workgroup with the subgroup fold (the `SLOTS` override): one per
/// subgroup the workgroup can hold at the smallest width, so that any width from `min_size` up
/// (varying between dispatches too) fits. Taken from the report, never assumed (see
/// [`Fold::MIN_SUBGROUP`]); a width under the report is caught in the shader
/// (`STATUS_SUBGROUPS`).
pub(super) fn subgroup_slots(min_size: u32) -> u32 {
    WG.div_ceil(min_size.clamp(1, WG))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fold_subgroup.wgsl's arithmetic on the host: WG threads in subgroups of `width` (the
    /// last one partly filled where `width` does not divide WG), subgroup i's sum in slot i,
    /// the slots past the subgroups zeroed, and the slots folded as dice_reduce does. `None`
    /// where the subgroups outnumber the slots (the shader counts `STATUS_SUBGROUPS`).
    fn fold(values: &[u64], width: u32, slots: u32) -> Option<u64> {
        let subgroups = WG.div_ceil(width);
        if subgroups > slots {
            return None;
        }
        let mut partials = vec![0u64; slots as usize];
        for (t, v) in values.iter().enumerate() {
            partials[t / width as usize] += v;
        }
        Some(partials.iter().sum())
    }

    #[test]
    fn the_subgroup_fold_holds_every_width_from_the_reported_minimum_up() {
        // Distinct powers of two: a thread lost or counted twice changes the sum.
        let values: Vec<u64> = (0..WG as u64).map(|t| 1 << (t % 60)).collect();
        let want: u64 = values.iter().sum();
        for min in 1..=WG {
            let slots = subgroup_slots(min);
            for width in 1..=WG {
                match fold(&values, width, slots) {
                    Some(sum) => assert_eq!(sum, want, "min {min}, width {width}"),
                    // Only a width under the reported minimum may overflow the slots.
                    None => assert!(width < min, "min {min}, width {width}: {slots} slots"),
                }
            }
        }
        // A report of 0 (none) or past WG still gives a usable count.
        assert_eq!(subgroup_slots(0), WG);
        assert_eq!(subgroup_slots(4 * WG), 1);
        assert_eq!(subgroup_slots(2), WG / 2);
    }

    #[test]
    fn workgroups_per_unit_share_the_target_and_keep_a_minimum_run() {
        // The target shared by 4 units, capped where each thread would get fewer pixels than
        // asked: 2^20 pixels / (128 threads x 8 pixels) = 1024.
        assert_eq!(Grid::per_unit(8192, 4, 1 << 20, 8, 65535), 1024);
        assert_eq!(Grid::per_unit(8192, 64, 1 << 20, 8, 65535), 128);
        // Never 0, even for one pixel, and never past the dispatch limit.
        assert_eq!(Grid::per_unit(8, 70_000, 1, 64, 65535), 1);
        assert_eq!(Grid::per_unit(u32::MAX, 1, u32::MAX, 1, 65535), 65535);
    }
}
