//! One engine thread's io_uring: the ring itself, with the kernel's cheaper modes where it has them, its
//! fixed file table (a slot per worker), its ring of provided receive buffers, and whether this kernel lets a
//! process have a ring at all.

use std::alloc::{self, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::{opcode, IoUring, Probe};

/// The provided-buffer group every multishot receive of a thread takes from.
pub(super) const BUFFER_GROUP: u16 = 0;

/// Builds a ring of `entries` submission slots and `completions` completion slots. A ring is used by the
/// thread that builds it alone (SINGLE_ISSUER), whose completions run only when it enters the kernel to wait
/// for them (DEFER_TASKRUN, Linux 6.1+: no interrupt of the thread's own work); an older kernel gets the plain
/// ring. No SQPOLL: its polling thread would take a core the server may need.
pub(super) fn build(entries: u32, completions: u32) -> io::Result<IoUring> {
    IoUring::builder()
        .setup_cqsize(completions)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(entries)
        .or_else(|_| IoUring::builder().setup_cqsize(completions).build(entries))
}

/// Can this process run the io_uring engine? Why not, in words, if it cannot: a kernel without io_uring, one
/// with `kernel.io_uring_disabled` set, or a seccomp profile (as container runtimes have) refusing
/// io_uring_setup; or a kernel too old for what the engine uses (provided-buffer rings, multishot receive and
/// waits with a timeout: Linux 6.0).
pub fn available() -> Result<(), String> {
    // On a thread of its own: the kernel may finish tearing the ring down with work queued to the thread that
    // made it, which interrupts that thread's next blocking call with a timeout (EINTR), as the preflight's
    // handshake is.
    std::thread::spawn(probe).join().unwrap_or_else(|_| Err("io_uring could not be probed".to_string()))
}

fn probe() -> Result<(), String> {
    let ring = build(8, 16).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSYS) => "this kernel has no io_uring".to_string(),
        Some(libc::EPERM | libc::EACCES) => {
            "io_uring_setup was refused (kernel.io_uring_disabled, or a seccomp profile)".to_string()
        }
        _ => format!("io_uring_setup failed: {e}"),
    })?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).map_err(|e| format!("io_uring cannot be probed: {e}"))?;
    // SEND_ZC came with Linux 6.0, as did multishot receive, which no probe tells of.
    let needed = [opcode::Connect::CODE, opcode::Send::CODE, opcode::RecvMulti::CODE, opcode::SendZc::CODE];
    if !ring.params().is_feature_ext_arg() || !needed.iter().all(|&code| probe.is_supported(code)) {
        return Err("this kernel's io_uring is older than Linux 6.0 (no multishot receive)".to_string());
    }
    let buffers = Buffers::new(&ring, 1, 64).map_err(|e| format!("io_uring has no provided-buffer rings: {e}"))?;
    // The ring goes first: the kernel may read the buffers' ring until then.
    drop(ring);
    drop(buffers);
    Ok(())
}

/// The thread's receive buffers, handed to the kernel in a ring (IORING_REGISTER_PBUF_RING): a multishot
/// receive takes one for each chunk it delivers, and the engine gives it back as soon as the connection has
/// read it, so a connection waiting for its response holds none (docs/design.md §7).
pub(super) struct Buffers {
    /// The ring of entries the kernel takes buffers from (page-aligned, as the kernel wants it).
    entries: *mut BufRingEntry,
    layout: Layout,
    count: u16,
    /// Entries given to the kernel so far (wrapping): the ring's tail.
    tail: u16,
    size: usize,
    memory: Box<[u8]>,
}

impl Buffers {
    /// `count` (a power of two) buffers of `size` bytes, registered with `ring`, all given to the kernel.
    pub(super) fn new(ring: &IoUring, count: u16, size: usize) -> io::Result<Buffers> {
        debug_assert!(count.is_power_of_two());
        let layout = Layout::from_size_align(usize::from(count) * size_of::<BufRingEntry>(), 4096)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout's size is not zero.
        let entries = unsafe { alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut buffers =
            Buffers { entries, layout, count, tail: 0, size, memory: vec![0; usize::from(count) * size].into() };
        // SAFETY: the entries stay allocated, and unchanged but by `give_back`, until the ring that reads them
        // is dropped (`Buffers` is dropped after it: `Engine`'s field order).
        unsafe { ring.submitter().register_buf_ring_with_flags(entries as u64, count, BUFFER_GROUP, 0)? };
        for id in 0..count {
            buffers.push(id);
        }
        buffers.publish();
        Ok(buffers)
    }

    /// The first `len` bytes of buffer `id`, as a completion delivered them.
    pub(super) fn get(&self, id: u16, len: usize) -> &[u8] {
        let start = usize::from(id) * self.size;
        &self.memory[start..start + len]
    }

    /// Buffer `id` has been read: the kernel may fill it again.
    pub(super) fn give_back(&mut self, id: u16) {
        self.push(id);
        self.publish();
    }

    fn push(&mut self, id: u16) {
        let index = usize::from(self.tail & (self.count - 1));
        // SAFETY: `index` is inside the ring, and the kernel reads only entries below the published tail.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(self.memory[usize::from(id) * self.size..].as_ptr() as u64);
        entry.set_len(self.size as u32);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the entries pushed so far visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail is the u16 the kernel reads in the ring's first entry, written only here.
        let tail = unsafe { &*BufRingEntry::tail(self.entries).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the ring that read it is gone.
        unsafe { alloc::dealloc(self.entries.cast(), self.layout) };
    }
}
