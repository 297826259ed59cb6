import CNGTCP2
import Foundation
import Logging
import Synchronization

/// A STOQ server: one UDP socket, many QUIC connections with mutual TLS, answering `stoq/1` and `hq-interop`.
/// The same socket also carries the connections this node dials (``STOQClient/connect(to:from:timeout:)``), driven
/// by the same loop: packets are told apart by destination connection ID, so peers see one address and port per node.
///
/// ``run()`` drives every connection from the calling thread until ``stop()`` is called from any thread.
///
/// ```swift
/// let server = try STOQServer(configuration: .init(listenAddress: try SocketAddress(parsing: "127.0.0.1:9292"),
///                                                  tls: tls, root: URL(fileURLWithPath: "/srv/data")))
/// Thread { server.run() }.start()
/// ```
public final class STOQServer: @unchecked Sendable {
    /// How a server listens and what it serves.
    public struct Configuration: Sendable {
        public var listenAddress: SocketAddress
        public var tls: TLSConfiguration
        /// Files served by `hq-interop` GET and `stoq/1` FETCH; blobs live in `ROOT/.blobs`.
        public var root: URL
        /// Send a Retry to every new client, so a spoofed source address cannot make us do handshake work.
        public var requireAddressValidation = true
        /// Connections one source IP address may hold at once.
        public var maximumConnectionsPerAddress = 64
        public var tuning = TransportTuning()
        /// The largest `stoq/1` data frame accepted.
        public var maximumDataFrameBytes = 1 << 20
        /// Receives `stoq/1` MESSAGE requests (on the server's loop thread: hand the bytes on, do not block),
        /// with the node id of the peer's certificate (`hm://NODE-ID`), if it has one. `nil`: MESSAGE is
        /// refused with an error frame.
        public var messageHandler: (@Sendable (_ bytes: [UInt8], _ peerNodeID: String?) -> Void)?
        /// The largest MESSAGE accepted.
        public var maximumMessageBytes = 16 << 20
        /// Answers `stoq/1` CALL requests (on the server's loop thread: answer quickly), given the caller: the
        /// node id of its certificate (`nil` for a client without one, on `hm-join/1`) and its address.
        /// `nil`: CALL is refused.
        public var callHandler: (@Sendable (_ request: [UInt8], _ caller: STOQCaller) -> [UInt8])?
        /// The largest CALL accepted.
        public var maximumCallBytes = 256 << 10
        /// Also accept clients without a certificate, on `hm-join/1` only and there only for PING and CALL:
        /// how a machine with no certificate yet asks to join. Every other protocol still requires one.
        public var acceptsJoiningClients = false

        public init(listenAddress: SocketAddress, tls: TLSConfiguration, root: URL) {
            self.listenAddress = listenAddress
            self.tls = tls
            self.root = root
        }
    }

    /// Counts a running server keeps (read them after ``run()`` returns, or accept a racy view).
    public struct Statistics: Sendable {
        public var connectionsAccepted = 0
        public var connectionsRefusedForLimit = 0
        public var retriesSent = 0
        public var undecodableDatagrams = 0
        public var handshakesRefused = 0
        /// Connections closed and forgotten (by either side, or idle).
        public var connectionsClosed = 0
        /// Connections this node dialled from the server's socket, and how many of them are closed and forgotten.
        public var connectionsDialled = 0
        public var dialledConnectionsClosed = 0
    }

    public let configuration: Configuration
    let logger: Logger
    let socket: UDPSocket
    /// Read and replaced on the loop thread only (see ``reload(tls:closingPeersWithSerials:)``).
    var credentials: TLSCredentials
    private let pendingReload = PendingReload()
    let root: ServedRoot
    let blobs: BlobDirectory
    let staticSecret: [UInt8]
    /// An eventfd that wakes the loop: ``stop()``, ``reload(tls:closingPeersWithSerials:)`` and dialling threads.
    let wakeDescriptor: Int32
    private let stopRequested = ManagedAtomicFlag()
    var connections: [ObjectIdentifier: QUICConnection] = [:]
    var routes: [ConnectionID: QUICConnection] = [:]
    /// Waits of threads that dialled from this server's socket (``STOQClient/connect(to:from:timeout:)``), handed
    /// to the loop, which drives those connections like its own.
    let dialling = DiallingQueue()
    var dialledWork: [DialledWork] = []
    /// Which of ``connections`` this node dialled (they count against no per-address limit).
    var dialledConnections: Set<ObjectIdentifier> = []
    /// The thread in ``run()``, while it runs.
    private let loopThread = Mutex<pthread_t?>(nil)
    var isLoopThread: Bool { self.loopThread.withLock { $0.map { pthread_equal($0, pthread_self()) != 0 } ?? false } }
    var connectionsPerHost: [[UInt8]: Int] = [:]
    private let receiveBuffer: UnsafeMutablePointer<UInt8>
    private static let receiveCapacity = 65_536
    public internal(set) var statistics = Statistics()

    /// Binds the socket and loads the credentials; nothing is served until ``run()``.
    public init(configuration: Configuration, logger: Logger = Logger(label: "stoq.server")) throws {
        self.configuration = configuration
        self.logger = logger
        self.credentials = try TLSCredentials(configuration.tls)
        self.socket = try UDPSocket(bindingTo: configuration.listenAddress)
        self.root = ServedRoot(directory: configuration.root)
        self.blobs = BlobDirectory(root: configuration.root.appendingPathComponent(".blobs"))
        var secret = [UInt8](repeating: 0, count: 32)
        _ = gnutls_rnd(GNUTLS_RND_KEY, &secret, secret.count)
        self.staticSecret = secret
        self.wakeDescriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        self.receiveBuffer = .allocate(capacity: Self.receiveCapacity)
    }

    deinit {
        close(self.wakeDescriptor)
        self.receiveBuffer.deallocate()
    }

    /// Replaces the certificate, roots and CRL for every handshake from now on — a renewed node certificate, a
    /// new CRL — and closes the open connections whose peer presented a certificate with one of `revokedSerials`
    /// (lowercase hex), so a revoked node loses what it holds now, not only its next connection. Safe from any
    /// thread; takes effect on the server's loop within a poll.
    ///
    /// - Throws: ``STOQError`` `tls` when the files do not load; the server keeps what it had.
    public func reload(tls: TLSConfiguration, closingPeersWithSerials revokedSerials: Set<String> = []) throws {
        let credentials = try TLSCredentials(tls)
        self.pendingReload.set((credentials, Set(revokedSerials.map(Self.normalizedSerial))))
        var one: UInt64 = 1
        _ = write(self.wakeDescriptor, &one, 8)
    }

    /// Serial hex without leading zero bytes, lowercase: how a certificate and a CRL entry are compared.
    static func normalizedSerial(_ hex: String) -> String {
        var text = Substring(hex.lowercased())
        while text.count > 2, text.hasPrefix("00") { text = text.dropFirst(2) }
        return String(text)
    }

    private func applyPendingReload() {
        guard let (credentials, revoked) = self.pendingReload.take() else { return }
        self.credentials = credentials
        let now = cngtcp2_timestamp()
        for connection in self.connections.values {
            guard let serial = connection.peerCertificateSerial, revoked.contains(Self.normalizedSerial(serial)) else { continue }
            self.logger.warning("Closing the connection of a revoked peer", metadata: [
                "peer": "\(connection.remoteAddress)", "peer.node": "\(connection.peerNodeID ?? "-")", "serial": "\(serial)",
            ])
            connection.peerRefusal = "client certificate \(serial) revoked"
            connection.close(errorCode: 0x1, reason: "certificate revoked", now: now)
        }
        self.logger.info("STOQ credentials reloaded", metadata: ["revoked": "\(revoked.count)"])
    }

    /// The bound address (with the kernel's port when port 0 was asked for).
    public var localAddress: SocketAddress { self.socket.localAddress }

    /// Asks ``run()`` to return; safe from any thread or a signal handler's dispatch source.
    public func stop() {
        self.stopRequested.set()
        var one: UInt64 = 1
        _ = write(self.wakeDescriptor, &one, 8)
    }

    /// Serves until ``stop()``, then closes every connection with CONNECTION_CLOSE.
    public func run() {
        self.loopThread.withLock { $0 = pthread_self() }
        defer { self.loopThread.withLock { $0 = nil } }
        self.logger.info("STOQ server listening", metadata: ["address": "\(self.localAddress)"])
        while !self.stopRequested.isSet {
            let now = cngtcp2_timestamp()
            let nextExpiry = min(self.connections.values.map(\.expiry).min() ?? UInt64.max,
                                 self.dialledWork.map(\.deadline).min() ?? UInt64.max)
            let waitMilliseconds = nextExpiry <= now ? 0 : Int32(min((nextExpiry - now + 999_999) / 1_000_000, 1000))
            let sendBlocked = self.connections.values.contains { $0.isSendBlocked }
            var descriptors = [
                pollfd(fd: self.socket.descriptor, events: Int16(POLLIN) | (sendBlocked ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: self.wakeDescriptor, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&descriptors, 2, waitMilliseconds)
            if descriptors[1].revents != 0 {
                var value: UInt64 = 0
                _ = read(self.wakeDescriptor, &value, 8)
            }
            self.applyPendingReload()
            self.adoptDialledWork()
            self.serviceOnce()
            self.progressDialledWork()
        }
        self.abandonDialledWork()
        let now = cngtcp2_timestamp()
        for connection in self.connections.values { connection.close(now: now) }
        self.logger.info("STOQ server stopped", metadata: ["address": "\(self.localAddress)"])
    }

    /// Reads what is waiting, runs due timers and writes what connections have to send.
    private func serviceOnce() {
        for _ in 0..<256 {
            guard let received = self.socket.receive(into: self.receiveBuffer, capacity: Self.receiveCapacity) else { break }
            let now = cngtcp2_timestamp()
            var offset = 0
            while offset < received.count {
                let length = min(received.segmentSize, received.count - offset)
                self.handleDatagram(self.receiveBuffer + offset, count: length, from: received.source, ecn: received.ecn,
                                    now: now)
                offset += length
            }
        }
        let now = cngtcp2_timestamp()
        for connection in self.connections.values {
            // Every connection writes: reads produce ACKs, and handlers may have queued bytes.
            if connection.expiry <= now {
                connection.handleExpiry(now: now)
            } else {
                connection.write(now: now)
            }
        }
        self.removeClosedConnections()
    }

    private func removeClosedConnections() {
        let closed = self.connections.filter { $0.value.state == .closed }
        guard !closed.isEmpty else { return }
        // One pass over the routes drops every ID of every closed connection: current, retired-but-missed,
        // and the one the client chose for its first Initial.
        self.routes = self.routes.filter { closed[ObjectIdentifier($0.value)] == nil }
        for (key, connection) in closed {
            self.connections[key] = nil
            if self.dialledConnections.remove(key) != nil {
                self.statistics.dialledConnectionsClosed += 1
                continue
            }
            let host = connection.remoteAddress.hostBytes
            self.connectionsPerHost[host, default: 1] -= 1
            if self.connectionsPerHost[host] == 0 { self.connectionsPerHost[host] = nil }
            if connection.peerRefusal != nil { self.statistics.handshakesRefused += 1 }
            self.statistics.connectionsClosed += 1
            self.logger.debug("Connection closed", metadata: [
                "peer": "\(connection.remoteAddress)", "reason": "\(connection.closeReason ?? "-")",
            ])
        }
    }
}

/// Who sent a CALL.
public struct STOQCaller: Sendable {
    /// The node id its certificate names (`hm://NODE-ID`); `nil` without a verified certificate.
    public var nodeID: String?
    /// The address its packets come from.
    public var address: SocketAddress

    public init(nodeID: String?, address: SocketAddress) {
        self.nodeID = nodeID
        self.address = address
    }
}

/// Credentials handed from any thread to the server's loop.
final class PendingReload: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (TLSCredentials, Set<String>)?
    func set(_ value: (TLSCredentials, Set<String>)) { self.lock.withLock { self.value = value } }
    func take() -> (TLSCredentials, Set<String>)? {
        self.lock.withLock {
            defer { self.value = nil }
            return self.value
        }
    }
}

/// A flag one thread sets and another polls.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { self.lock.withLock { self.value } }
    func set() { self.lock.withLock { self.value = true } }
}
