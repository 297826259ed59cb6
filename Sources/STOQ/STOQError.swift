/// The one error type of the STOQ transport.
///
/// Errors compare on ``code`` only, so tests can write `#expect(throws: STOQError.timedOut()) { … }`.
public struct STOQError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is; compare errors on this.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case invalidAddress, socket, tls, handshakeRefused, connectionClosed, protocolViolation, notFound,
                 timedOut, io, quic
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// An address or URL does not parse.
        public static let invalidAddress = Code(.invalidAddress)
        /// A socket call failed.
        public static let socket = Code(.socket)
        /// Certificates, keys, CA or CRL files could not be loaded, or GnuTLS failed.
        public static let tls = Code(.tls)
        /// The peer, or we, refused the handshake (certificate missing, untrusted, expired or revoked).
        public static let handshakeRefused = Code(.handshakeRefused)
        /// The connection closed before the work finished.
        public static let connectionClosed = Code(.connectionClosed)
        /// The peer sent something the protocol does not allow (a bad frame, an unknown type).
        public static let protocolViolation = Code(.protocolViolation)
        /// The requested path or blob does not exist on the peer.
        public static let notFound = Code(.notFound)
        /// Nothing happened within the allowed time.
        public static let timedOut = Code(.timedOut)
        /// A local file could not be read or written.
        public static let io = Code(.io)
        /// ngtcp2 reported an error.
        public static let quic = Code(.quic)

        public var description: String { self.value.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// One line saying what went wrong and where.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }

    public static func == (lhs: STOQError, rhs: STOQError) -> Bool { lhs.code == rhs.code }

    // MARK: - Factories

    public static func invalidAddress(_ message: String = "") -> Self { Self(code: .invalidAddress, message: message) }
    public static func socket(_ message: String = "") -> Self { Self(code: .socket, message: message) }
    public static func tls(_ message: String = "") -> Self { Self(code: .tls, message: message) }
    public static func handshakeRefused(_ message: String = "") -> Self { Self(code: .handshakeRefused, message: message) }
    public static func connectionClosed(_ message: String = "") -> Self { Self(code: .connectionClosed, message: message) }
    public static func protocolViolation(_ message: String = "") -> Self {
        Self(code: .protocolViolation, message: message)
    }
    public static func notFound(_ message: String = "") -> Self { Self(code: .notFound, message: message) }
    public static func timedOut(_ message: String = "") -> Self { Self(code: .timedOut, message: message) }
    public static func io(_ message: String = "") -> Self { Self(code: .io, message: message) }
    public static func quic(_ message: String = "") -> Self { Self(code: .quic, message: message) }
}
