//! Reads an array of the seed notebook's fixture (tests/fixtures/seed_check/*.npy), for
//! examples/quickstart.rs and the seed tests.

/// The elements of `tests/fixtures/seed_check/{name}`, panicking with the path on failure (a
/// missing fixture is a broken checkout, not an input error).
pub fn read_npy<T: npyz::Deserialize>(name: &str) -> Vec<T> {
    // This crate sits in softdice's repository, beside tests/.
    let path = format!(
        "{}/../tests/fixtures/seed_check/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    npyz::NpyFile::new(&bytes[..])
        .and_then(|f| f.into_vec())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}
