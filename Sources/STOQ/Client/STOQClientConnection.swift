import CNGTCP2
import Foundation

/// A client's open connection to a STOQ server; requests run on it one batch at a time, each request on
/// its own stream, all of a batch concurrently.
public final class STOQClientConnection {
    let connection: QUICConnection
    private let interop: Bool
    private let receiveBuffer: UnsafeMutablePointer<UInt8>
    private static let receiveCapacity = 65_536
    /// Set when the connection dials from a server's socket: that server's loop drives it.
    private let server: STOQServer?

    init(_ connection: QUICConnection, interop: Bool, server: STOQServer? = nil) {
        self.connection = connection
        self.interop = interop
        self.server = server
        self.receiveBuffer = .allocate(capacity: Self.receiveCapacity)
    }

    deinit {
        self.close()
        self.receiveBuffer.deallocate()
    }

    /// Whether it dials from a server's socket (``STOQClient/connect(to:from:timeout:)``).
    public var sharesServerSocket: Bool { self.server != nil }

    /// The server's node id from its certificate (`hm://NODE-ID`), if it has one.
    public var peerNodeID: String? { self.connection.peerNodeID }
    /// The server's certificates (DER, leaf first) as presented, for an anonymous client to check; empty for a
    /// client with trusted roots (GnuTLS verified the chain then).
    public var peerCertificateChain: [[UInt8]] { self.connection.peerCertificateChain }
    /// The protocol agreed in the handshake.
    public var alpn: String? { self.connection.negotiatedALPN }
    /// The local UDP address.
    public var localAddress: SocketAddress { self.connection.localAddress }

    /// Runs `requests` concurrently (as many at once as the server's stream limit allows) and returns their
    /// outcomes in order. A connection failure fails every unfinished request.
    public func perform(_ requests: [STOQRequest], timeout: Duration = .seconds(300)) throws -> [STOQResponse] {
        var handlers: [ResponseHandler] = []
        var nextToOpen = 0
        let deadline = cngtcp2_timestamp() + TransportTuning.nanoseconds(timeout)
        try self.run(until: {
            while nextToOpen < requests.count {
                let handler = ResponseHandler(request: requests[nextToOpen], interop: self.interop)
                guard let stream = self.connection.openStream(handler: handler) else { break }
                handlers.append(handler)
                nextToOpen += 1
                do { try handler.start(on: stream) } catch { stream.reset(errorCode: 0x2) }
            }
            return nextToOpen == requests.count && handlers.allSatisfy { $0.response != nil }
        }, deadline: deadline)
        return handlers.map { $0.response! }
    }

    /// One request; throws its error.
    @discardableResult
    public func perform(_ request: STOQRequest, timeout: Duration = .seconds(300)) throws -> Int {
        let response = try self.perform([request], timeout: timeout)[0]
        if let error = response.error { throw error }
        return response.bytes
    }

    /// Round-trip time of a PING.
    public func ping() throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try self.perform(STOQRequest(.ping(Array("stoq".utf8))), timeout: .seconds(10))
        return clock.now - start
    }

    /// Closes with CONNECTION_CLOSE (no error).
    public func close() {
        if let server {
            // On the loop that drives it; nothing to do when that loop has stopped (it closed everything).
            let connection = self.connection
            try? server.drive(connection, until: {
                if connection.state == .active { connection.close() }
                return true
            }, deadline: cngtcp2_timestamp() + 1_000_000_000)
            return
        }
        guard self.connection.state == .active else { return }
        self.connection.close()
    }

    /// Why a connection that is no longer active ended, as the error of the request waiting on it.
    static func failure(of connection: QUICConnection) -> STOQError {
        let reason = connection.closeReason ?? "closed"
        if !connection.handshakeCompleted && reason == "ERR_HANDSHAKE_TIMEOUT" {
            return .timedOut("no QUIC server answered at \(connection.remoteAddress)")
        }
        if connection.peerRefusal != nil || reason.contains("handshake") { return .handshakeRefused(reason) }
        return .connectionClosed(reason)
    }

    func waitForHandshake(timeout: Duration) throws {
        let deadline = cngtcp2_timestamp() + TransportTuning.nanoseconds(timeout)
        try self.run(until: { self.connection.handshakeCompleted }, deadline: deadline)
    }

    /// Drives the connection until `done()` or the deadline.
    func run(until done: () -> Bool, deadline: UInt64) throws {
        if let server { return try server.drive(self.connection, until: done, deadline: deadline) }
        while !done() {
            if self.connection.socket.peerRefused {
                // ICMP port unreachable: nothing listens there any more (the peer's process is gone), so the
                // requests in flight fail now rather than at their timeout.
                throw STOQError.connectionClosed("nothing listens at \(self.connection.remoteAddress) (port unreachable)")
            }
            guard self.connection.state == .active else { throw Self.failure(of: self.connection) }
            // Send what `done()` or the handlers just queued before waiting.
            let more = self.connection.write(now: cngtcp2_timestamp())
            let now = cngtcp2_timestamp()
            guard now < deadline else { throw STOQError.timedOut("no answer from \(self.connection.remoteAddress)") }
            let until = min(self.connection.expiry, deadline)
            let waitMilliseconds = more || until <= now ? 0 : Int32(min((until - now + 999_999) / 1_000_000, 1000))
            var descriptor = pollfd(fd: self.connection.socket.descriptor,
                                    events: Int16(POLLIN) | (self.connection.isSendBlocked ? Int16(POLLOUT) : 0),
                                    revents: 0)
            _ = poll(&descriptor, 1, waitMilliseconds)
            self.readAvailable()
            let after = cngtcp2_timestamp()
            if self.connection.expiry <= after { self.connection.handleExpiry(now: after) }
        }
        _ = self.connection.write(now: cngtcp2_timestamp())
    }

    private func readAvailable() {
        for _ in 0..<256 {
            guard let received = self.connection.socket.receive(into: self.receiveBuffer, capacity: Self.receiveCapacity)
            else { return }
            let now = cngtcp2_timestamp()
            var offset = 0
            while offset < received.count {
                let length = min(received.segmentSize, received.count - offset)
                self.connection.receive(self.receiveBuffer + offset, count: length, from: received.source,
                                        ecn: received.ecn, now: now)
                offset += length
            }
        }
    }
}
