import CNGTCP2
import Foundation

/// Datagrams that a server's loop routed to a connection another thread drives — a client dialling from the
/// server's own socket — with an eventfd that thread polls. Bounded like a socket's receive buffer: beyond
/// ``maximumQueuedBytes`` datagrams are dropped (QUIC recovers them as loss).
final class DatagramInbox: @unchecked Sendable {
    struct Datagram {
        var bytes: [UInt8]
        var source: SocketAddress
        var ecn: UInt32
    }

    static let maximumQueuedBytes = 16 << 20

    let descriptor: Int32
    private let lock = NSLock()
    private var queue: [Datagram] = []
    private var queuedBytes = 0
    private(set) var dropped = 0

    init() {
        self.descriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
    }

    deinit { close(self.descriptor) }

    /// Copies one datagram in (on the server's loop); `false` when the inbox is full and it was dropped.
    @discardableResult
    func push(_ bytes: UnsafePointer<UInt8>, count: Int, source: SocketAddress, ecn: UInt32) -> Bool {
        let accepted = self.lock.withLock {
            guard self.queuedBytes + count <= Self.maximumQueuedBytes else {
                self.dropped += 1
                return false
            }
            self.queue.append(Datagram(bytes: Array(UnsafeBufferPointer(start: bytes, count: count)), source: source, ecn: ecn))
            self.queuedBytes += count
            return true
        }
        if accepted {
            var one: UInt64 = 1
            _ = write(self.descriptor, &one, 8)
        }
        return accepted
    }

    /// Everything waiting, oldest first (on the connection's thread).
    func drain() -> [Datagram] {
        var value: UInt64 = 0
        _ = read(self.descriptor, &value, 8)
        return self.lock.withLock {
            defer {
                self.queue.removeAll(keepingCapacity: true)
                self.queuedBytes = 0
            }
            return self.queue
        }
    }
}
