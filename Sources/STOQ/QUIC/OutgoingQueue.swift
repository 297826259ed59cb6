import CNGTCP2
import Foundation

/// Memory that stream data points into until the peer acknowledges it: QUIC may resend any byte, so
/// ngtcp2 does not copy stream data and the owner must keep it alive.
final class OwnedBytes {
    let base: UnsafeRawPointer
    let count: Int
    private let release: (() -> Void)?

    /// Copies `bytes` into a fresh allocation.
    init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        self.base = UnsafeRawPointer(buffer.baseAddress!)
        self.count = bytes.count
        self.release = { buffer.deallocate() }
    }

    /// Wraps memory the caller allocated; `release` runs when the last segment using it is acknowledged.
    init(base: UnsafeRawPointer, count: Int, release: (() -> Void)?) {
        self.base = base
        self.count = count
        self.release = release
    }

    deinit { self.release?() }
}

/// The bytes a stream still has to send or have acknowledged, as a list of slices of ``OwnedBytes``.
///
/// Offsets are stream offsets: `acknowledged ≤ sent ≤ end`. Bytes below `acknowledged` are released.
struct OutgoingQueue {
    private struct Segment {
        let owner: OwnedBytes
        let start: Int
        let count: Int
        let streamOffset: UInt64
        var end: UInt64 { self.streamOffset + UInt64(self.count) }
    }

    private var segments: [Segment] = []
    private var firstLive = 0
    private var sendIndex = 0
    /// Stream offset of the first byte not yet acknowledged.
    private(set) var acknowledged: UInt64 = 0
    /// Stream offset of the first byte not yet handed to ngtcp2.
    private(set) var sent: UInt64 = 0
    /// Stream offset just past the last byte queued.
    private(set) var end: UInt64 = 0

    /// Bytes queued and not yet handed to ngtcp2.
    var unsentCount: Int { Int(self.end - self.sent) }
    /// Bytes queued and not yet acknowledged: what this stream holds in memory.
    var bufferedCount: Int { Int(self.end - self.acknowledged) }

    mutating func append(_ owner: OwnedBytes, start: Int = 0, count: Int? = nil) {
        let count = count ?? (owner.count - start)
        precondition(start >= 0 && start + count <= owner.count, "slice outside its owner")
        guard count > 0 else { return }
        self.segments.append(Segment(owner: owner, start: start, count: count, streamOffset: self.end))
        self.end += UInt64(count)
    }

    /// Fills `vectors` with up to `capacity` slices of unsent data; returns how many and their total.
    func unsent(into vectors: UnsafeMutablePointer<ngtcp2_vec>, capacity: Int) -> (count: Int, bytes: Int) {
        var index = self.sendIndex
        var filled = 0
        var total = 0
        var offset = self.sent
        while index < self.segments.count && filled < capacity {
            let segment = self.segments[index]
            let skip = Int(offset - segment.streamOffset)
            let length = segment.count - skip
            vectors[filled].base = UnsafeMutablePointer(mutating: segment.owner.base.advanced(by: segment.start + skip)
                .assumingMemoryBound(to: UInt8.self))
            vectors[filled].len = length
            filled += 1
            total += length
            offset += UInt64(length)
            index += 1
        }
        return (filled, total)
    }

    /// Records that ngtcp2 took `count` more bytes into packets.
    mutating func markSent(_ count: Int) {
        precondition(count <= self.unsentCount, "sent more than was queued")
        self.sent += UInt64(count)
        while self.sendIndex < self.segments.count && self.segments[self.sendIndex].end <= self.sent {
            self.sendIndex += 1
        }
    }

    /// Releases every segment wholly below `offset`, which the peer has acknowledged.
    mutating func acknowledge(upTo offset: UInt64) {
        guard offset > self.acknowledged else { return }
        self.acknowledged = min(offset, self.end)
        while self.firstLive < self.segments.count && self.segments[self.firstLive].end <= self.acknowledged {
            self.firstLive += 1
        }
        // Compact now and then so the array does not grow with the stream's whole history.
        if self.firstLive >= 8 {
            self.segments.removeFirst(self.firstLive)
            self.sendIndex -= self.firstLive
            self.firstLive = 0
        }
    }

    /// Drops everything (the stream was reset or closed).
    mutating func discard() {
        self.segments.removeAll()
        self.firstLive = 0
        self.sendIndex = 0
        self.acknowledged = self.end
        self.sent = self.end
    }
}
