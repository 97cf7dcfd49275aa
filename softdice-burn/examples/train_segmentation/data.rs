//! Synthetic segmentation data, made on the fly and deterministic from a seed: shapes of four
//! classes (disks, rectangles, triangles, rings) over a noisy gradient background, with
//! integer label maps. Disks and rings share an intensity (a ring's band is told from a disk
//! by its hole), rectangles and triangles differ by shape and contrast.

/// Class names, background first.
pub const CLASS_NAMES: [&str; 5] = ["background", "disk", "rectangle", "triangle", "ring"];

/// Classes, background included.
pub const CLASSES: usize = CLASS_NAMES.len();

/// SplitMix64: small, fast, and the same numbers on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Approximately normal (sum of four uniforms), mean 0, standard deviation `sd`.
    fn normal(&mut self, sd: f32) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform(-1.0, 1.0)).sum();
        s * sd * (3.0f32 / 4.0).sqrt()
    }
}

/// One image `[size, size]` and its labels.
pub struct Sample {
    pub image: Vec<f32>,
    pub labels: Vec<i32>,
}

/// The sample of `seed`, `size` pixels square.
pub fn sample(seed: u64, size: usize) -> Sample {
    let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed);
    let n = size * size;
    let s = size as f32;
    // A linear gradient background and pixel noise.
    let (gx, gy, g0) = (
        rng.uniform(-0.3, 0.3),
        rng.uniform(-0.3, 0.3),
        rng.uniform(-0.1, 0.1),
    );
    let mut image: Vec<f32> = (0..n)
        .map(|i| {
            let (x, y) = ((i % size) as f32 / s - 0.5, (i / size) as f32 / s - 0.5);
            g0 + gx * x + gy * y
        })
        .collect();
    let mut labels = vec![0i32; n];
    let shapes = 2 + (rng.next() % 3) as usize;
    for _ in 0..shapes {
        let class = 1 + (rng.next() % (CLASSES as u64 - 1)) as i32;
        let (cx, cy) = (rng.uniform(0.15, 0.85) * s, rng.uniform(0.15, 0.85) * s);
        let r = rng.uniform(0.08, 0.18) * s;
        let (w, h) = (rng.uniform(0.6, 1.4) * r, rng.uniform(0.6, 1.4) * r);
        let angle = rng.uniform(0.0, std::f32::consts::TAU);
        let intensity = match class {
            1 | 4 => rng.uniform(0.8, 1.0),
            2 => rng.uniform(0.5, 0.7),
            _ => rng.uniform(-0.9, -0.6),
        };
        for (i, (px, label)) in image.iter_mut().zip(labels.iter_mut()).enumerate() {
            let (x, y) = ((i % size) as f32 + 0.5 - cx, (i / size) as f32 + 0.5 - cy);
            let inside = match class {
                1 => x * x + y * y <= r * r,
                2 => x.abs() <= w && y.abs() <= h,
                3 => {
                    // An equilateral triangle of circumradius r, rotated.
                    let (c, s) = (angle.cos(), angle.sin());
                    let (u, v) = (c * x - s * y, s * x + c * y);
                    v >= -r / 2.0 && v - 3f32.sqrt() * u <= r && v + 3f32.sqrt() * u <= r
                }
                _ => {
                    let d2 = x * x + y * y;
                    d2 <= r * r && d2 >= (0.55 * r) * (0.55 * r)
                }
            };
            if inside {
                *px = intensity;
                *label = class;
            }
        }
    }
    for px in image.iter_mut() {
        *px += rng.normal(0.12);
    }
    Sample { image, labels }
}

/// A batch of samples as flat `[B, 1, size, size]` images and `[B, size, size]` labels.
pub fn batch(seeds: impl Iterator<Item = u64>, size: usize) -> (Vec<f32>, Vec<i32>, usize) {
    let (mut images, mut labels, mut count) = (Vec::new(), Vec::new(), 0);
    for seed in seeds {
        let s = sample(seed, size);
        images.extend(s.image);
        labels.extend(s.labels);
        count += 1;
    }
    (images, labels, count)
}
