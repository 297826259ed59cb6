import CNGTCP2
import Foundation
import Logging

/// Opens STOQ connections: QUIC with this node's TrustChain certificate, verifying the server's.
public final class STOQClient {
    /// What the client presents and expects.
    public struct Configuration: Sendable {
        /// This node's certificate and the roots it trusts; `nil` for an anonymous client (see ``anonymous(alpn:)``).
        public var tls: TLSConfiguration?
        /// `stoq/1` (default), `hq-interop` or `hm-join/1`.
        public var alpn = STOQDefaults.meshALPN
        /// TLS server name sent in the handshake (SNI).
        public var serverName = "localhost"
        /// When set, the server's certificate must name this node id (`hm://NODE-ID`).
        public var expectedPeerNodeID: String?
        public var tuning = TransportTuning()

        public init(tls: TLSConfiguration) {
            self.tls = tls
        }

        /// A client with no certificate of its own, for joining a mesh: it accepts whatever chain the server
        /// presents and leaves it to the caller (``STOQClientConnection/peerCertificateChain``), who must check
        /// it (against a root pinned by fingerprint) before sending anything that matters.
        public static func anonymous(alpn: String = STOQDefaults.joinALPN) -> Configuration {
            var configuration = Configuration()
            configuration.alpn = alpn
            return configuration
        }

        private init() {}
    }

    public let configuration: Configuration
    private let credentials: TLSCredentials
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "stoq.client")) throws {
        self.configuration = configuration
        self.credentials = try configuration.tls.map(TLSCredentials.init) ?? TLSCredentials(anonymousClient: ())
        self.logger = logger
    }

    /// Connects and completes the handshake.
    ///
    /// - Throws: ``STOQError`` `handshakeRefused` when either side refuses the other's certificate,
    ///   `timedOut` when nothing answers within `timeout`.
    public func connect(to address: SocketAddress, timeout: Duration = .seconds(10)) throws -> STOQClientConnection {
        let wildcard = try SocketAddress(host: address.family == AF_INET6 ? "::" : "0.0.0.0", port: 0)
        let socket = try UDPSocket(bindingTo: wildcard, connectingTo: address)
        return try self.handshake(try self.connection(to: address, socket: socket, server: nil), timeout: timeout)
    }

    /// Connects from `server`'s own socket, so the peer sees this node's one address and port (what NAT traversal
    /// needs: a hole punched for the listening port is the one the dialled connection uses). The server's loop
    /// drives the connection like its own; the calling thread hands it each request and waits for the answer.
    ///
    /// - Throws: as ``connect(to:timeout:)``; ``STOQError`` `invalidAddress` when the address family is not the
    ///   server's.
    public func connect(to address: SocketAddress, from server: STOQServer, timeout: Duration = .seconds(10)) throws
        -> STOQClientConnection
    {
        guard address.family == server.localAddress.family else {
            throw STOQError.invalidAddress("\(address) is not reachable from the server's socket on \(server.localAddress)")
        }
        return try self.handshake(try self.connection(to: address, socket: server.socket, server: server), timeout: timeout)
    }

    /// Connects from `server`'s socket when there is one of the address's family (an agent's one port), else from a
    /// socket of its own: what every caller that may or may not run beside a server wants.
    public func connect(to address: SocketAddress, preferringSocketOf server: STOQServer?, timeout: Duration = .seconds(10)) throws
        -> STOQClientConnection
    {
        if let server, server.localAddress.family == address.family { return try self.connect(to: address, from: server, timeout: timeout) }
        return try self.connect(to: address, timeout: timeout)
    }

    private func connection(to address: SocketAddress, socket: UDPSocket, server: STOQServer?) throws -> STOQClientConnection {
        var parameters = QUICConnection.Parameters(
            role: .client, socket: socket, remoteAddress: address, credentials: self.credentials,
            alpnProtocols: [self.configuration.alpn], tuning: self.configuration.tuning, logger: self.logger,
            serverName: self.configuration.serverName)
        if self.configuration.tls == nil { parameters.peerVerification = .deferredToCaller }
        let quic = try QUICConnection(parameters, owner: server)
        return STOQClientConnection(quic, interop: self.configuration.alpn == STOQDefaults.interopALPN, server: server)
    }

    private func handshake(_ connection: STOQClientConnection, timeout: Duration) throws -> STOQClientConnection {
        try connection.waitForHandshake(timeout: timeout)
        if let expected = self.configuration.expectedPeerNodeID, connection.peerNodeID != expected {
            connection.close()
            throw STOQError.handshakeRefused(
                "the server is node \(connection.peerNodeID ?? "(none)"), not the expected \(expected)")
        }
        return connection
    }
}
