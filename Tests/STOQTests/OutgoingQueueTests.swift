import CNGTCP2
import Testing
@testable import STOQ

struct OutgoingQueueTests {
    @Test func tracksSentAndAcknowledgedOffsets() {
        var queue = OutgoingQueue()
        let first = OwnedBytes(copying: [1, 2, 3, 4])
        queue.append(first)
        queue.append(OwnedBytes(copying: [5, 6, 7, 8, 9, 10]), start: 2, count: 3)
        #expect(queue.unsentCount == 7 && queue.bufferedCount == 7)
        let vectors = UnsafeMutablePointer<ngtcp2_vec>.allocate(capacity: 4)
        defer { vectors.deallocate() }
        var (count, bytes) = queue.unsent(into: vectors, capacity: 4)
        #expect(count == 2 && bytes == 7)
        #expect(vectors[1].base[0] == 7 && vectors[1].len == 3)
        queue.markSent(5)
        (count, bytes) = queue.unsent(into: vectors, capacity: 4)
        #expect(count == 1 && bytes == 2 && vectors[0].base[0] == 8)
        queue.acknowledge(upTo: 4)
        #expect(queue.bufferedCount == 3 && queue.unsentCount == 2)
        queue.markSent(2)
        queue.acknowledge(upTo: 7)
        #expect(queue.bufferedCount == 0 && queue.unsentCount == 0)
    }

    @Test func emptySlicesAreIgnoredAndDiscardClears() {
        var queue = OutgoingQueue()
        queue.append(OwnedBytes(copying: [UInt8]()))
        #expect(queue.unsentCount == 0)
        queue.append(OwnedBytes(copying: [1, 2, 3]))
        queue.discard()
        #expect(queue.unsentCount == 0 && queue.bufferedCount == 0)
    }

    @Test func manySegmentsAreReleasedAsTheyAreAcknowledged() {
        var queue = OutgoingQueue()
        for index in 0..<100 { queue.append(OwnedBytes(copying: [UInt8(index)])) }
        queue.markSent(100)
        for offset in 1...100 { queue.acknowledge(upTo: UInt64(offset)) }
        #expect(queue.bufferedCount == 0)
    }
}
