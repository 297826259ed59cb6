import CNGTCP2
import Foundation

/// A non-blocking UDP socket set up for QUIC: large buffers, GRO on receive, GSO on send, ECN, and
/// the don't-fragment bit (QUIC does its own path MTU discovery).
final class UDPSocket {
    /// The file descriptor; closed by ``close()`` or deinit.
    private(set) var descriptor: Int32
    /// The address the socket is bound to (with the kernel's port when 0 was asked for).
    let localAddress: SocketAddress
    /// Whether the kernel accepted UDP_SEGMENT; cleared when a send fails with EIO.
    private(set) var segmentationOffload = true
    /// Set when a connected socket got ICMP port unreachable: nothing listens at the peer's address.
    private(set) var peerRefused = false

    /// Socket buffer size asked of the kernel (it may cap it at `net.core.*mem_max`).
    static let bufferBytes: Int32 = 8 << 20

    /// Opens a socket bound to `address` (port 0 picks a free one); a client also connects it to `remote`, so
    /// the kernel picks the local address it will use and ICMP errors come back.
    init(bindingTo address: SocketAddress, connectingTo remote: SocketAddress? = nil) throws {
        let descriptor = socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
            | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_UDP))
        guard descriptor >= 0 else { throw STOQError.socket("socket(): \(String(cString: strerror(errno)))") }
        self.descriptor = descriptor
        Self.configure(descriptor, family: address.family)
        let bound = address.withSockaddr { bind(descriptor, $0, $1) }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw STOQError.socket("bind \(address): \(reason)")
        }
        if let remote {
            let connected = remote.withSockaddr { connect(descriptor, $0, $1) }
            guard connected == 0 else {
                let reason = String(cString: strerror(errno))
                Glibc.close(descriptor)
                throw STOQError.socket("connect \(remote): \(reason)")
            }
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.localAddress = SocketAddress(storage: storage, length: length)
    }

    deinit { self.close() }

    /// Closes the descriptor; later calls fail with EBADF.
    func close() {
        if self.descriptor >= 0 {
            Glibc.close(self.descriptor)
            self.descriptor = -1
        }
    }

    private static func configure(_ descriptor: Int32, family: Int32) {
        var size = Self.bufferBytes
        let sizeLength = socklen_t(MemoryLayout<Int32>.size)
        // SO_*BUFFORCE exceeds rmem_max when we are root; the plain call is the fallback.
        if setsockopt(descriptor, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeLength) != 0 {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, sizeLength)
        }
        if setsockopt(descriptor, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeLength) != 0 {
            setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &size, sizeLength)
        }
        var on: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_UDP), UDP_GRO, &on, sizeLength)
        if family == AF_INET6 {
            setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_RECVTCLASS, &on, sizeLength)
            var discover = IPV6_PMTUDISC_DO
            setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_MTU_DISCOVER, &discover, sizeLength)
            var off: Int32 = 0
            setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, sizeLength)
        } else {
            setsockopt(descriptor, Int32(IPPROTO_IP), IP_RECVTOS, &on, sizeLength)
            var discover = IP_PMTUDISC_DO
            setsockopt(descriptor, Int32(IPPROTO_IP), IP_MTU_DISCOVER, &discover, sizeLength)
        }
    }

    /// The outcome of ``send(_:count:to:segmentSize:ecn:)``.
    enum SendResult {
        case sent
        /// The kernel's buffer is full; wait for POLLOUT and send the same bytes again.
        case wouldBlock
        /// The datagrams were dropped (unreachable, too big); QUIC recovers.
        case dropped(Int32)
    }

    /// Sends `count` bytes as datagrams of `segmentSize` bytes with one system call (GSO).
    func send(_ bytes: UnsafePointer<UInt8>, count: Int, to address: SocketAddress, segmentSize: Int,
              ecn: UInt32) -> SendResult {
        var segment = self.segmentationOffload ? segmentSize : 0
        while true {
            let result = address.withSockaddr { cngtcp2_send(self.descriptor, bytes, count, $0, $1, segment, ecn) }
            if result >= 0 { return .sent }
            let error = Int32(-result)
            if error == EAGAIN || error == EWOULDBLOCK { return .wouldBlock }
            if error == EIO && segment > 0 && segment < count {
                // No GSO on this path (e.g. a device without checksum offload): one datagram per call.
                self.segmentationOffload = false
                segment = 0
            }
            if !self.segmentationOffload && segmentSize > 0 && segmentSize < count {
                return self.sendEachSegment(bytes, count: count, to: address, segmentSize: segmentSize, ecn: ecn)
            }
            return .dropped(error)
        }
    }

    private func sendEachSegment(_ bytes: UnsafePointer<UInt8>, count: Int, to address: SocketAddress,
                                 segmentSize: Int, ecn: UInt32) -> SendResult {
        var offset = 0
        while offset < count {
            let length = min(segmentSize, count - offset)
            let result = address.withSockaddr { cngtcp2_send(self.descriptor, bytes + offset, length, $0, $1, 0, ecn) }
            if result == -Int(EAGAIN) { return .wouldBlock }
            offset += length
        }
        return .sent
    }

    /// One received datagram, or several of `segmentSize` bytes coalesced by GRO.
    struct Received {
        var count: Int
        var segmentSize: Int
        var ecn: UInt32
        var source: SocketAddress
    }

    /// Receives into `buffer`; `nil` when nothing is waiting.
    func receive(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int) -> Received? {
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        var segment = 0
        var ecn: UInt32 = 0
        let count = cngtcp2_receive(self.descriptor, buffer, capacity, &storage, &length, &segment, &ecn)
        if count == -Int(ECONNREFUSED) { self.peerRefused = true }
        guard count >= 0 else { return nil }
        return Received(count: count, segmentSize: segment == 0 ? count : segment, ecn: ecn,
                        source: SocketAddress(storage: storage, length: length))
    }
}
