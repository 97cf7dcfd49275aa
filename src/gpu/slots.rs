//! Per-recording state of a plan. Each recording takes the next slot of a small ring: its
//! parameters are written to the slot and copied into the kernels' uniform buffer inside the
//! caller's encoder (so several recordings in one submission each run with their own), and its
//! results are copied into the slot's readback buffer behind the recording's number (so a read
//! can tell whether that recording's results are there, rather than an earlier one's or none).

use std::future::Future;

use crate::error::DiceError;
use crate::params::Params;

/// Recordings of one plan that may share a submission (or wait unread) before their slots are
/// reused.
pub const RECORDING_SLOTS: u32 = 8;

/// Bytes of a slot in the staging buffer: the parameters, then the recording's number.
pub(super) const SLOT_BYTES: u64 = std::mem::size_of::<Params>() as u64 + 4;

/// One recorded call of a [`crate::DicePlan`]: what [`crate::DicePlan::read_results`] takes to
/// read that call's results once its encoder has been submitted.
#[derive(Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The recording's number in its plan (from 1; its slot is `number % RECORDING_SLOTS`).
    pub(super) number: u32,
}

impl Recorded {
    /// The recording's number in its plan, counted from 1.
    pub fn number(&self) -> u32 {
        self.number
    }

    pub(super) fn slot(&self) -> usize {
        (self.number % RECORDING_SLOTS) as usize
    }
}

/// The ring of slots of one plan.
pub(crate) struct Slots {
    /// `RECORDING_SLOTS` x [`Params`, number].
    pub(super) staging: wgpu::Buffer,
    /// Per slot: [number, results...] (a buffer each, so that one being read does not stop
    /// the others from being written).
    pub(super) readback: Vec<wgpu::Buffer>,
    /// Bytes of results after the number.
    pub(super) results_bytes: u64,
    /// The last recording's number (0: none yet).
    pub(super) last: u32,
}

impl Slots {
    pub(crate) fn new(device: &wgpu::Device, results_bytes: u64) -> Self {
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("softdice params slots"),
            size: SLOT_BYTES * RECORDING_SLOTS as u64,
            usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let readback = (0..RECORDING_SLOTS)
            .map(|_| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("softdice readback"),
                    size: 4 + results_bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        Self {
            staging,
            readback,
            results_bytes,
            last: 0,
        }
    }

    /// Starts a recording: writes `params` and the recording's number into its slot and
    /// records the copy of the parameters into `params_buf`, ahead of the kernels.
    pub(crate) fn begin(
        &mut self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        params: &Params,
        params_buf: &wgpu::Buffer,
    ) -> Recorded {
        // Number 0 never appears, so a readback buffer never written reads as no recording.
        self.last = self.last.checked_add(1).unwrap_or(1);
        let recorded = Recorded { number: self.last };
        let at = recorded.slot() as u64 * SLOT_BYTES;
        // On the stack: a warm recording allocates nothing on the host.
        let mut bytes = [0u8; SLOT_BYTES as usize];
        let (block, number) = bytes.split_at_mut(SLOT_BYTES as usize - 4);
        block.copy_from_slice(bytemuck::bytes_of(params));
        number.copy_from_slice(&recorded.number.to_le_bytes());
        queue.write_buffer(&self.staging, at, &bytes);
        encoder.copy_buffer_to_buffer(&self.staging, at, params_buf, 0, SLOT_BYTES - 4);
        recorded
    }

    /// Records the copy of the results (`sources`, whole words, in order) and of the
    /// recording's number into its readback buffer.
    pub(crate) fn finish(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        recorded: &Recorded,
        sources: &[(&wgpu::Buffer, u64)],
    ) {
        let readback = &self.readback[recorded.slot()];
        let number_at = recorded.slot() as u64 * SLOT_BYTES + SLOT_BYTES - 4;
        encoder.copy_buffer_to_buffer(&self.staging, number_at, readback, 0, 4);
        let mut at = 4;
        for &(buffer, bytes) in sources {
            encoder.copy_buffer_to_buffer(buffer, 0, readback, at, bytes);
            at += bytes;
        }
        debug_assert_eq!(at, 4 + self.results_bytes);
    }

    /// The results of `recorded` (the bytes after its number), once the device has run the
    /// submission it was recorded into. `wait` polls the device until then; otherwise the
    /// future waits for whoever polls it (any `Device::poll`, or a later `Queue::submit`).
    pub(crate) fn read<'a>(
        &'a self,
        device: &'a wgpu::Device,
        recorded: Recorded,
        wait: bool,
    ) -> impl Future<Output = Result<Vec<u8>, DiceError>> + 'a {
        let read = read_mapped(device, &self.readback[recorded.slot()], wait);
        async move {
            let bytes = read.await?;
            let found = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            if found != recorded.number {
                return Err(DiceError::StaleResults {
                    recording: recorded.number,
                    found,
                });
            }
            Ok(bytes[4..].to_vec())
        }
    }
}

/// The bytes of a `MAP_READ` buffer once the device has run the work that writes it. `wait`
/// polls the device until then; otherwise the future waits for whoever polls it (any
/// `Device::poll`, or a later `Queue::submit`). The buffer is unmapped however the read ends
/// (a future dropped while the map is pending too), so it can be written again.
pub(super) fn read_mapped<'a>(
    device: &wgpu::Device,
    buffer: &'a wgpu::Buffer,
    wait: bool,
) -> impl Future<Output = Result<Vec<u8>, DiceError>> + 'a {
    let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
    buffer.map_async(wgpu::MapMode::Read, .., move |r| {
        sender.send(r).ok();
    });
    let guard = Unmap(buffer);
    let polled = if wait {
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| DiceError::Gpu(format!("poll: {e}")))
    } else {
        Ok(())
    };
    async move {
        polled?;
        match receiver.receive().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(DiceError::Gpu(format!("map: {e}"))),
            None => return Err(DiceError::Gpu("map callback dropped".into())),
        }
        let bytes = guard
            .0
            .get_mapped_range(..)
            .map_err(|e| DiceError::Gpu(format!("mapped range: {e}")))?
            .to_vec();
        // Named, so that the block owns the guard (not only the buffer reference it holds)
        // and unmaps here, not when this function returns.
        drop(guard);
        Ok(bytes)
    }
}

/// Unmaps a readback buffer when dropped.
pub(super) struct Unmap<'a>(&'a wgpu::Buffer);

impl Drop for Unmap<'_> {
    fn drop(&mut self) {
        self.0.unmap();
    }
}
