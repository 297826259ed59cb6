import CNGTCP2
import Foundation
import Logging

/// What a connection tells the endpoint that owns its socket.
protocol QUICConnectionOwner: AnyObject {
    /// The secret stateless-reset tokens are derived from (servers); empty for clients.
    var staticSecret: [UInt8] { get }
    /// The connection uses a new connection ID: route packets carrying it here.
    func connection(_ connection: QUICConnection, didIssue id: ConnectionID)
    /// The connection no longer uses `id`.
    func connection(_ connection: QUICConnection, didRetire id: ConnectionID)
    /// The peer opened a stream: give it a handler.
    func connection(_ connection: QUICConnection, didOpenRemoteStream stream: QUICStream)
}

/// One QUIC connection: an `ngtcp2_conn` with its GnuTLS session, its streams, and the packet loop's
/// read, write and timer steps. Not thread-safe: an endpoint drives it from one thread.
final class QUICConnection {
    enum Role { case client, server }

    enum State: Equatable {
        case active
        /// We sent CONNECTION_CLOSE; answer late packets with it until the deadline.
        case closing(deadline: UInt64)
        /// The peer closed; stay silent until the deadline.
        case draining(deadline: UInt64)
        case closed
    }

    let role: Role
    let logger: Logger
    let socket: UDPSocket
    weak var owner: (any QUICConnectionOwner)?
    private(set) var conn: OpaquePointer!
    private(set) var session: OpaquePointer!
    private let credentials: TLSCredentials
    private let reference: UnsafeMutablePointer<ngtcp2_crypto_conn_ref>
    let pathStorage: UnsafeMutablePointer<ngtcp2_path_storage>
    private let localAddressStorage: UnsafeMutablePointer<sockaddr_storage>
    private let readAddressStorage: UnsafeMutablePointer<sockaddr_storage>
    let transmitBuffer: UnsafeMutablePointer<UInt8>
    let vectors: UnsafeMutablePointer<ngtcp2_vec>
    static let transmitCapacity = 65_536
    static let vectorCapacity = 16
    let localAddress: SocketAddress
    private(set) var remoteAddress: SocketAddress

    var state: State = .active
    var streams: [Int64: QUICStream] = [:]
    var writeQueue: [QUICStream] = []
    var writeCursor = 0
    var deferredShutdowns: [(id: Int64, errorCode: UInt64)] = []
    var lastError = ngtcp2_ccerr()
    private var closePacket: [UInt8] = []
    /// The reason phrase of our CONNECTION_CLOSE, alive as long as the connection (``close(errorCode:reason:now:)``).
    private var closeReasonPhrase: UnsafeMutablePointer<UInt8>?
    var blockedTransmit: (bytes: [UInt8], to: SocketAddress, segmentSize: Int, ecn: UInt32)?
    private var packetsSinceCloseResend = 0

    /// The peer's node id from its certificate's `hm://` URI SAN, once its chain verified.
    var peerNodeID: String?
    /// Why we refused the peer's certificate, when we did.
    var peerRefusal: String?
    /// Set once the TLS handshake completes.
    var handshakeCompleted = false
    /// One line saying why the connection ended, once it has.
    var closeReason: String?
    /// ALPN protocols we offer (client) or accept (server), most preferred first.
    let alpnProtocols: [String]
    let peerVerification: PeerVerification
    /// Set once the peer's certificate chain verified against our trusted roots.
    var peerCertificateVerified = false
    /// The serial number (hex) of the certificate the peer presented, once verified.
    var peerCertificateSerial: String?
    /// With ``PeerVerification/deferredToCaller``: the peer's chain (DER, leaf first), unverified.
    var peerCertificateChain: [[UInt8]] = []

    /// How the peer's certificate is checked.
    enum PeerVerification {
        /// It must chain to our trusted roots (clients always present one to servers).
        case required
        /// Servers: a client may present none, but then only on this ALPN.
        case optional(forALPN: String)
        /// Clients with no trusted roots yet (joining): accept the server's chain during the handshake and
        /// keep it for the caller, who checks it before sending anything that matters.
        case deferredToCaller
    }

    /// What ngtcp2 needs to build either kind of connection.
    struct Parameters {
        var role: Role
        var socket: UDPSocket
        var remoteAddress: SocketAddress
        var credentials: TLSCredentials
        var alpnProtocols: [String]
        var tuning: TransportTuning
        var logger: Logger
        var serverName = "localhost"
        /// Servers: the client's header (its source and destination IDs, version, token).
        var clientHeader: ngtcp2_pkt_hd?
        /// Servers after a Retry: the client's original destination ID.
        var originalDestinationID: ngtcp2_cid?
        var staticSecret: [UInt8] = []
        var peerVerification = PeerVerification.required
    }

    init(_ parameters: Parameters, owner: (any QUICConnectionOwner)?) throws {
        self.role = parameters.role
        self.logger = parameters.logger
        self.socket = parameters.socket
        self.owner = owner
        self.credentials = parameters.credentials
        self.alpnProtocols = parameters.alpnProtocols
        self.peerVerification = parameters.peerVerification
        self.localAddress = parameters.socket.localAddress
        self.remoteAddress = parameters.remoteAddress
        self.reference = .allocate(capacity: 1)
        self.pathStorage = .allocate(capacity: 1)
        self.localAddressStorage = .allocate(capacity: 1)
        self.readAddressStorage = .allocate(capacity: 1)
        self.transmitBuffer = .allocate(capacity: Self.transmitCapacity)
        self.vectors = .allocate(capacity: Self.vectorCapacity)
        self.localAddressStorage.initialize(to: parameters.socket.localAddress.storage)
        self.readAddressStorage.initialize(to: parameters.remoteAddress.storage)
        ngtcp2_path_storage_zero(self.pathStorage)
        ngtcp2_ccerr_default(&self.lastError)
        self.reference.initialize(to: ngtcp2_crypto_conn_ref(get_conn: connectionFromReference, user_data: nil))
        self.reference.pointee.user_data = Unmanaged.passUnretained(self).toOpaque()
        try self.makeSession(serverName: parameters.serverName)
        try self.makeConnection(parameters)
        ngtcp2_conn_set_tls_native_handle(self.conn, UnsafeMutableRawPointer(self.session))
    }

    deinit {
        if let conn { ngtcp2_conn_del(conn) }
        self.closeReasonPhrase?.deallocate()
        if let session { gnutls_deinit(session) }
        self.reference.deallocate()
        self.pathStorage.deallocate()
        self.localAddressStorage.deallocate()
        self.readAddressStorage.deallocate()
        self.transmitBuffer.deallocate()
        self.vectors.deallocate()
    }

    // MARK: - Setup

    private func makeConnection(_ parameters: Parameters) throws {
        var settings = ngtcp2_settings()
        cngtcp2_settings_default(&settings)
        settings.initial_ts = cngtcp2_timestamp()
        settings.cc_algo = parameters.tuning.congestionControl.algorithm
        settings.max_window = parameters.tuning.maximumWindowBytes
        settings.max_stream_window = parameters.tuning.maximumStreamWindowBytes
        settings.handshake_timeout = TransportTuning.nanoseconds(parameters.tuning.handshakeTimeout)
        settings.max_tx_udp_payload_size = parameters.tuning.maximumUDPPayloadBytes
        settings.ack_thresh = 2
        // ngtcp2 copies the probe list while creating the connection.
        let probes = parameters.tuning.probeSizes

        var params = ngtcp2_transport_params()
        cngtcp2_transport_params_default(&params)
        params.initial_max_data = parameters.tuning.initialMaximumDataBytes
        params.initial_max_stream_data_bidi_local = parameters.tuning.initialMaximumStreamDataBytes
        params.initial_max_stream_data_bidi_remote = parameters.tuning.initialMaximumStreamDataBytes
        params.initial_max_stream_data_uni = parameters.tuning.initialMaximumStreamDataBytes
        params.initial_max_streams_bidi = parameters.role == .server ? parameters.tuning.maximumBidirectionalStreams : 0
        params.initial_max_streams_uni = 0
        params.max_idle_timeout = TransportTuning.nanoseconds(parameters.tuning.idleTimeout)
        params.max_udp_payload_size = UInt64(max(parameters.tuning.maximumUDPPayloadBytes, 1200))
        params.active_connection_id_limit = 7

        var callbacks = Self.callbacks(for: parameters.role)
        var path = ngtcp2_path()
        path.local.addr = UnsafeMutableRawPointer(self.localAddressStorage).assumingMemoryBound(to: sockaddr.self)
        path.local.addrlen = self.localAddress.length
        path.remote.addr = UnsafeMutableRawPointer(self.readAddressStorage).assumingMemoryBound(to: sockaddr.self)
        path.remote.addrlen = self.remoteAddress.length
        let user = Unmanaged.passUnretained(self).toOpaque()
        var conn: OpaquePointer?
        let result: Int32 = probes.withUnsafeBufferPointer { probeBuffer in
            if !probes.isEmpty {
                settings.pmtud_probes = probeBuffer.baseAddress
                settings.pmtud_probeslen = probes.count
            }
            return self.newConnection(&conn, parameters, &settings, &params, &callbacks, &path, user)
        }
        guard result == 0, let conn else {
            throw STOQError.quic("creating the connection: \(String(cString: ngtcp2_strerror(result)))")
        }
        self.conn = conn
    }

    private func newConnection(_ conn: inout OpaquePointer?, _ parameters: Parameters, _ settings: inout ngtcp2_settings,
                               _ params: inout ngtcp2_transport_params, _ callbacks: inout ngtcp2_callbacks,
                               _ path: inout ngtcp2_path, _ user: UnsafeMutableRawPointer) -> Int32 {
        let result: Int32
        switch parameters.role {
        case .client:
            var destination = ConnectionID.random(count: 18).cid
            var source = ConnectionID.random(count: 18).cid
            result = cngtcp2_conn_client_new(&conn, &destination, &source, &path, UInt32(NGTCP2_PROTO_VER_V1),
                                             &callbacks, &settings, &params, user)
        case .server:
            guard var header = parameters.clientHeader else { fatalError("Internal inconsistency: server without a header") }
            settings.token = header.token
            settings.tokenlen = header.tokenlen
            var source = ConnectionID.random(count: 18).cid
            if let original = parameters.originalDestinationID {
                params.original_dcid = original
                params.retry_scid = header.dcid
                params.retry_scid_present = 1
                settings.token_type = NGTCP2_TOKEN_TYPE_RETRY
            } else {
                params.original_dcid = header.dcid
            }
            params.original_dcid_present = 1
            params.stateless_reset_token_present = 1
            let secret = parameters.staticSecret
            _ = withUnsafeMutableBytes(of: &params.stateless_reset_token) { token in
                secret.withUnsafeBufferPointer {
                    ngtcp2_crypto_generate_stateless_reset_token(token.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                                 $0.baseAddress, $0.count, &source)
                }
            }
            result = cngtcp2_conn_server_new(&conn, &header.scid, &source, &path, header.version,
                                             &callbacks, &settings, &params, user)
        }
        return result
    }

    private func makeSession(serverName: String) throws {
        var session: OpaquePointer?
        let flags: UInt32 = self.role == .server
            ? GNUTLS_SERVER.rawValue | GNUTLS_ENABLE_EARLY_DATA.rawValue | GNUTLS_NO_AUTO_SEND_TICKET.rawValue
                | GNUTLS_NO_END_OF_EARLY_DATA.rawValue
            : GNUTLS_CLIENT.rawValue | GNUTLS_ENABLE_EARLY_DATA.rawValue | GNUTLS_NO_END_OF_EARLY_DATA.rawValue
        try TLSCredentials.check(gnutls_init(&session, flags), "gnutls_init")
        self.session = session
        let configured = self.role == .server
            ? ngtcp2_crypto_gnutls_configure_server_session(session)
            : ngtcp2_crypto_gnutls_configure_client_session(session)
        guard configured == 0 else { throw STOQError.tls("ngtcp2_crypto_gnutls_configure_session failed") }
        try TLSCredentials.check(gnutls_priority_set_direct(session, TLSCredentials.priority, nil), "TLS priority")
        try TLSCredentials.check(gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE,
                                                        UnsafeMutableRawPointer(self.credentials.handle)),
                                 "gnutls_credentials_set")
        if self.role == .server {
            if case .optional = self.peerVerification {
                gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST)
            } else {
                gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE)
            }
        } else {
            _ = serverName.withCString { gnutls_server_name_set(session, GNUTLS_NAME_DNS, $0, strlen($0)) }
        }
        var names = self.alpnProtocols.map { Array($0.utf8) }
        var datums = names.indices.map { index in
            names[index].withUnsafeMutableBufferPointer { gnutls_datum_t(data: $0.baseAddress, size: UInt32($0.count)) }
        }
        // GnuTLS copies the protocol names; the pointers need only live through this call.
        let alpnFlags = self.role == .server
            ? GNUTLS_ALPN_MANDATORY.rawValue | GNUTLS_ALPN_SERVER_PRECEDENCE.rawValue : GNUTLS_ALPN_MANDATORY.rawValue
        let alpnResult = names.withUnsafeMutableBufferPointer { _ in
            gnutls_alpn_set_protocols(session, &datums, UInt32(datums.count), alpnFlags)
        }
        try TLSCredentials.check(alpnResult, "ALPN")
        gnutls_session_set_ptr(session, UnsafeMutableRawPointer(self.reference))
    }

    // MARK: - State the endpoint reads

    /// Whether the peer may use this connection: a verified certificate, or (servers) no certificate on the
    /// one ALPN that allows it.
    var peerIsAdmitted: Bool {
        if self.peerCertificateVerified { return true }
        switch self.peerVerification {
        case .required: return false
        case .optional(let alpn): return self.negotiatedALPN == alpn
        case .deferredToCaller: return true
        }
    }

    /// The ALPN protocol both sides agreed on.
    var negotiatedALPN: String? {
        var datum = gnutls_datum_t()
        guard gnutls_alpn_get_selected_protocol(self.session, &datum) == 0, let data = datum.data else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(datum.size)), as: UTF8.self)
    }

    /// When ``handleExpiry(now:)`` must run next (CLOCK_MONOTONIC nanoseconds).
    var expiry: UInt64 {
        switch self.state {
        case .active: return ngtcp2_conn_get_expiry(self.conn)
        case .closing(let deadline), .draining(let deadline): return deadline
        case .closed: return 0
        }
    }

    /// Whether bytes are waiting for the socket to drain.
    var isSendBlocked: Bool { self.blockedTransmit != nil }

    /// Every source connection ID the connection currently uses.
    var sourceConnectionIDs: [ConnectionID] {
        let count = ngtcp2_conn_get_scid(self.conn, nil)
        var ids = [ngtcp2_cid](repeating: ngtcp2_cid(), count: count)
        _ = ngtcp2_conn_get_scid(self.conn, &ids)
        return ids.map(ConnectionID.init)
    }

    // MARK: - Streams

    /// Opens a bidirectional stream, or `nil` when the peer's stream limit is reached for now.
    func openStream(handler: any StreamHandler) -> QUICStream? {
        guard self.state == .active else { return nil }
        var id: Int64 = -1
        guard ngtcp2_conn_open_bidi_stream(self.conn, &id, nil) == 0 else { return nil }
        let stream = self.register(streamID: id)
        stream.handler = handler
        return stream
    }

    @discardableResult
    func register(streamID: Int64) -> QUICStream {
        let stream = QUICStream(id: streamID, connection: self)
        self.streams[streamID] = stream
        ngtcp2_conn_set_stream_user_data(self.conn, streamID, Unmanaged.passUnretained(stream).toOpaque())
        return stream
    }

    /// Puts `stream` in the write loop's round-robin list.
    func schedule(_ stream: QUICStream) {
        guard !stream.scheduled, !stream.closed else { return }
        stream.scheduled = true
        self.writeQueue.append(stream)
    }

    /// Resets a stream in both directions (done after the current ngtcp2 call returns).
    func shutdown(_ stream: QUICStream, errorCode: UInt64) {
        self.deferredShutdowns.append((stream.id, errorCode))
    }

    // MARK: - Reading

    /// Feeds one datagram to ngtcp2.
    func receive(_ bytes: UnsafePointer<UInt8>, count: Int, from source: SocketAddress, ecn: UInt32, now: UInt64) {
        switch self.state {
        case .closed, .draining: return
        case .closing:
            // Answer a peer that keeps sending with our CONNECTION_CLOSE again, but not to every packet.
            self.packetsSinceCloseResend += 1
            if self.packetsSinceCloseResend >= 4 {
                self.packetsSinceCloseResend = 0
                self.sendClosePacket()
            }
            return
        case .active: break
        }
        self.readAddressStorage.pointee = source.storage
        var path = ngtcp2_path()
        path.local.addr = UnsafeMutableRawPointer(self.localAddressStorage).assumingMemoryBound(to: sockaddr.self)
        path.local.addrlen = self.localAddress.length
        path.remote.addr = UnsafeMutableRawPointer(self.readAddressStorage).assumingMemoryBound(to: sockaddr.self)
        path.remote.addrlen = source.length
        var info = ngtcp2_pkt_info()
        info.ecn = UInt8(ecn)
        let result = cngtcp2_conn_read_pkt(self.conn, &path, &info, bytes, count, now)
        if result != 0 { self.handleReadError(result, now: now) }
    }

    private func handleReadError(_ result: Int32, now: UInt64) {
        switch result {
        case NGTCP2_ERR_DRAINING:
            self.closeReason = self.closeReason ?? self.describePeerClose()
            self.state = .draining(deadline: now + 3 * ngtcp2_conn_get_pto(self.conn))
        case NGTCP2_ERR_DROP_CONN:
            self.closeReason = self.closeReason ?? "dropped: \(String(cString: ngtcp2_strerror(result)))"
            self.state = .closed
        case NGTCP2_ERR_CRYPTO:
            let alert = ngtcp2_conn_get_tls_alert(self.conn)
            ngtcp2_ccerr_set_tls_alert(&self.lastError, alert, nil, 0)
            let reason = self.peerRefusal ?? "TLS alert \(alert) (\(Self.alertName(alert)))"
            self.closeReason = "handshake failed: \(reason)"
            self.logger.warning("TLS handshake failed", metadata: ["peer": "\(self.remoteAddress)", "reason": "\(reason)"])
            self.startClosingPeriod(now: now)
        default:
            ngtcp2_ccerr_set_liberr(&self.lastError, result, nil, 0)
            self.closeReason = "\(String(cString: ngtcp2_strerror(result)))"
            self.startClosingPeriod(now: now)
        }
    }

    /// The peer's CONNECTION_CLOSE in words.
    private func describePeerClose() -> String {
        guard let error = ngtcp2_conn_get_ccerr(self.conn)?.pointee else { return "closed by the peer" }
        var text = error.reasonlen > 0 && error.reason != nil
            ? ": " + String(decoding: UnsafeBufferPointer(start: error.reason, count: error.reasonlen), as: UTF8.self) : ""
        if error.type == NGTCP2_CCERR_TYPE_TRANSPORT && error.error_code >= 0x100 && error.error_code < 0x200 {
            let alert = UInt8(error.error_code - 0x100)
            text = " with TLS alert \(alert) (\(Self.alertName(alert)))" + text
            return "the peer refused the handshake" + text
        }
        if error.type == NGTCP2_CCERR_TYPE_APPLICATION {
            return error.error_code == 0 ? "closed by the peer" : "closed by the peer with application error \(error.error_code)\(text)"
        }
        return error.error_code == 0 ? "closed by the peer" : "closed by the peer with QUIC error 0x\(String(error.error_code, radix: 16))\(text)"
    }

    static func alertName(_ alert: UInt8) -> String {
        guard let name = gnutls_alert_get_name(gnutls_alert_description_t(UInt32(alert))) else { return "unknown" }
        return String(cString: name)
    }

    // MARK: - Timers and closing

    /// Runs ngtcp2's timers (loss detection, pacing, idle) and writes what they produce.
    func handleExpiry(now: UInt64) {
        switch self.state {
        case .closed: return
        case .closing(let deadline), .draining(let deadline):
            if now >= deadline { self.state = .closed }
            return
        case .active:
            let result = ngtcp2_conn_handle_expiry(self.conn, now)
            if result != 0 {
                ngtcp2_ccerr_set_liberr(&self.lastError, result, nil, 0)
                if result == NGTCP2_ERR_IDLE_CLOSE {
                    self.closeReason = self.closeReason ?? "idle timeout"
                    self.state = .closed
                    return
                }
                self.closeReason = self.closeReason ?? String(cString: ngtcp2_strerror(result))
                self.startClosingPeriod(now: now)
                return
            }
            self.write(now: now)
        }
    }

    /// Closes the connection with an application error code (0: no error), sending CONNECTION_CLOSE once.
    func close(errorCode: UInt64 = 0, reason: String = "", now: UInt64 = cngtcp2_timestamp()) {
        guard self.state == .active else { return }
        // The reason phrase travels in CONNECTION_CLOSE, so the peer can say why; ngtcp2 keeps only the pointer, so
        // the bytes live as long as the connection (close runs once: only an active connection gets here).
        let phrase = Array(reason.utf8.prefix(512))
        let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(phrase.count, 1))
        storage.initialize(from: phrase, count: phrase.count)
        self.closeReasonPhrase = storage
        ngtcp2_ccerr_set_application_error(&self.lastError, errorCode, storage, phrase.count)
        self.closeReason = self.closeReason ?? "closed locally"
        self.startClosingPeriod(now: now)
    }

    func startClosingPeriod(now: UInt64) {
        guard self.state == .active else { return }
        if ngtcp2_conn_in_closing_period(self.conn) != 0 || ngtcp2_conn_in_draining_period(self.conn) != 0
            || self.lastError.type == NGTCP2_CCERR_TYPE_IDLE_CLOSE {
            self.state = .closed
            return
        }
        var info = ngtcp2_pkt_info()
        ngtcp2_path_storage_zero(self.pathStorage)
        let written = cngtcp2_conn_write_connection_close(self.conn, &self.pathStorage.pointee.path, &info,
                                                          self.transmitBuffer, 1200, &self.lastError, now)
        self.state = .closing(deadline: now + 3 * ngtcp2_conn_get_pto(self.conn))
        guard written > 0 else { return }
        self.closePacket = Array(UnsafeBufferPointer(start: self.transmitBuffer, count: written))
        self.sendClosePacket()
    }

    private func sendClosePacket() {
        guard !self.closePacket.isEmpty else { return }
        _ = self.closePacket.withUnsafeBufferPointer {
            self.socket.send($0.baseAddress!, count: $0.count, to: self.remoteAddress, segmentSize: 0, ecn: 0)
        }
    }
}

/// ngtcp2_crypto asks the TLS layer's user pointer for the `ngtcp2_conn`.
private let connectionFromReference: @convention(c) (UnsafeMutablePointer<ngtcp2_crypto_conn_ref>?) -> OpaquePointer? = {
    reference in
    guard let user = reference?.pointee.user_data else { return nil }
    return Unmanaged<QUICConnection>.fromOpaque(user).takeUnretainedValue().conn
}
