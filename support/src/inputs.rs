//! The deterministic inputs every timing program uses (examples/throughput.rs, benches/dice.rs,
//! tools/burn_peer), so their losses can be compared across programs: logits uniform in
//! [-3, 3) and labels uniform in [0, C), from a xorshift64 stream.

/// `len` logits and `pixels` labels below `classes`.
pub fn logits_and_labels(len: usize, pixels: usize, classes: usize) -> (Vec<f32>, Vec<u32>) {
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let logits = (0..len)
        .map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32) * 6.0 - 3.0)
        .collect();
    let labels = (0..pixels)
        .map(|_| (next() % classes as u64) as u32)
        .collect();
    (logits, labels)
}
