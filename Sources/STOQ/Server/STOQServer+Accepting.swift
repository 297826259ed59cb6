import CNGTCP2
import Foundation
import Logging

extension STOQServer: QUICConnectionOwner {
    func connection(_ connection: QUICConnection, didIssue id: ConnectionID) {
        self.routes[id] = connection
    }

    func connection(_ connection: QUICConnection, didRetire id: ConnectionID) {
        if self.routes[id] === connection { self.routes[id] = nil }
    }

    func connection(_ connection: QUICConnection, didOpenRemoteStream stream: QUICStream) {
        guard connection.role == .server, connection.peerIsAdmitted else {
            // A peer this node dialled may not open streams (its stream limit is zero); nothing is served to a peer
            // that was not admitted (not reachable through the handshake: a second lock on the door).
            stream.reset(errorCode: 0x2)
            return
        }
        let alpn = connection.negotiatedALPN
        if alpn == STOQDefaults.interopALPN {
            stream.handler = InteropRequestHandler(root: self.root, logger: self.logger)
        } else {
            let peer = connection.peerCertificateVerified ? connection.peerNodeID : nil
            let messages = self.configuration.messageHandler.map { handler in
                MessageDelivery(maximumBytes: self.configuration.maximumMessageBytes) { handler($0, peer) }
            }
            let caller = STOQCaller(nodeID: peer, address: connection.remoteAddress)
            let calls = self.configuration.callHandler.map { handler in
                CallAnswering(maximumBytes: self.configuration.maximumCallBytes) { handler($0, caller) }
            }
            stream.handler = MeshRequestHandler(root: self.root, blobs: self.blobs,
                                                maximumDataPayloadBytes: self.configuration.maximumDataFrameBytes,
                                                messages: alpn == STOQDefaults.joinALPN ? nil : messages, calls: calls,
                                                anonymous: alpn == STOQDefaults.joinALPN && !connection.peerCertificateVerified,
                                                peerNodeID: peer, logger: self.logger)
        }
    }
}

extension STOQServer {
    /// Routes one datagram to its connection, or accepts a new one (after address validation and the
    /// per-address limit). Datagrams that are not QUIC are counted and dropped.
    func handleDatagram(_ bytes: UnsafeMutablePointer<UInt8>, count: Int, from source: SocketAddress, ecn: UInt32,
                        now: UInt64) {
        var versionCID = ngtcp2_version_cid()
        let decoded = ngtcp2_pkt_decode_version_cid(&versionCID, bytes, count, 18)
        if decoded == NGTCP2_ERR_VERSION_NEGOTIATION {
            self.sendVersionNegotiation(versionCID, to: source)
            return
        }
        guard decoded == 0 else {
            self.statistics.undecodableDatagrams += 1
            return
        }
        let destination = ConnectionID(pointer: versionCID.dcid, count: versionCID.dcidlen)
        if let connection = self.routes[destination] {
            connection.receive(bytes, count: count, from: source, ecn: ecn, now: now)
            return
        }
        var header = ngtcp2_pkt_hd()
        guard ngtcp2_accept(&header, bytes, count) == 0 else {
            self.statistics.undecodableDatagrams += 1
            return
        }
        if self.connectionsPerHost[source.hostBytes, default: 0] >= self.configuration.maximumConnectionsPerAddress {
            self.statistics.connectionsRefusedForLimit += 1
            self.logger.warning("Connection refused: too many from one address", metadata: [
                "peer": "\(source)", "limit": "\(self.configuration.maximumConnectionsPerAddress)",
            ])
            self.sendStatelessClose(header, errorCode: UInt64(NGTCP2_CONNECTION_REFUSED), to: source)
            return
        }
        var originalID: ngtcp2_cid?
        if header.tokenlen > 0, let token = header.token, token[0] == UInt8(NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY2) {
            switch self.verifyRetryToken(header, from: source) {
            case .valid(let original): originalID = original
            case .invalid:
                self.sendStatelessClose(header, errorCode: UInt64(NGTCP2_INVALID_TOKEN), to: source)
                return
            case .unreadable: break
            }
        }
        if originalID == nil && self.configuration.requireAddressValidation {
            self.sendRetry(header, to: source, maximumBytes: count * 3)
            return
        }
        self.accept(header, originalID: originalID, bytes: bytes, count: count, from: source, ecn: ecn, now: now)
    }

    private func accept(_ header: ngtcp2_pkt_hd, originalID: ngtcp2_cid?, bytes: UnsafeMutablePointer<UInt8>,
                        count: Int, from source: SocketAddress, ecn: UInt32, now: UInt64) {
        let connection: QUICConnection
        do {
            let joining = self.configuration.acceptsJoiningClients
            var parameters = QUICConnection.Parameters(
                role: .server, socket: self.socket, remoteAddress: source, credentials: self.credentials,
                alpnProtocols: [STOQDefaults.meshALPN, STOQDefaults.interopALPN] + (joining ? [STOQDefaults.joinALPN] : []),
                tuning: self.configuration.tuning, logger: self.logger)
            if joining { parameters.peerVerification = .optional(forALPN: STOQDefaults.joinALPN) }
            parameters.clientHeader = header
            parameters.originalDestinationID = originalID
            parameters.staticSecret = self.staticSecret
            connection = try QUICConnection(parameters, owner: self)
        } catch {
            self.logger.warning("Could not create a connection", metadata: ["peer": "\(source)", "error": "\(error)"])
            return
        }
        let key = ObjectIdentifier(connection)
        self.connections[key] = connection
        self.connectionsPerHost[source.hostBytes, default: 0] += 1
        self.routes[ConnectionID(header.dcid)] = connection
        for id in connection.sourceConnectionIDs { self.routes[id] = connection }
        self.statistics.connectionsAccepted += 1
        // The connection's clock starts at its creation, after `now` was read: ngtcp2 requires time never to go back.
        let start = cngtcp2_timestamp()
        connection.receive(bytes, count: count, from: source, ecn: ecn, now: start)
        connection.write(now: start)
    }

    private enum TokenCheck {
        case valid(ngtcp2_cid)
        case invalid
        case unreadable
    }

    private func verifyRetryToken(_ header: ngtcp2_pkt_hd, from source: SocketAddress) -> TokenCheck {
        var original = ngtcp2_cid()
        var destination = header.dcid
        let result = source.withSockaddr { sockaddr, length in
            self.staticSecret.withUnsafeBufferPointer { secret in
                ngtcp2_crypto_verify_retry_token2(&original, header.token, header.tokenlen, secret.baseAddress,
                                                  secret.count, header.version, sockaddr, length,
                                                  &destination, 10 * NGTCP2_SECONDS, cngtcp2_system_nanoseconds())
            }
        }
        switch result {
        case 0: return .valid(original)
        case NGTCP2_CRYPTO_ERR_VERIFY_TOKEN: return .invalid
        default: return .unreadable
        }
    }

    private func sendRetry(_ header: ngtcp2_pkt_hd, to source: SocketAddress, maximumBytes: Int) {
        var retryID = ConnectionID.random(count: 18).cid
        var token = [UInt8](repeating: 0, count: 256)
        var clientHeader = header
        let tokenLength = source.withSockaddr { sockaddr, length in
            self.staticSecret.withUnsafeBufferPointer { secret in
                ngtcp2_crypto_generate_retry_token2(&token, secret.baseAddress, secret.count, header.version,
                                                    sockaddr, length, &retryID, &clientHeader.dcid,
                                                    cngtcp2_system_nanoseconds())
            }
        }
        guard tokenLength > 0 else { return }
        var packet = [UInt8](repeating: 0, count: min(Int(NGTCP2_MAX_UDP_PAYLOAD_SIZE), maximumBytes))
        let written = ngtcp2_crypto_write_retry(&packet, packet.count, header.version, &clientHeader.scid, &retryID,
                                                &clientHeader.dcid, token, Int(tokenLength))
        guard written > 0 else { return }
        self.statistics.retriesSent += 1
        _ = packet.withUnsafeBufferPointer {
            self.socket.send($0.baseAddress!, count: Int(written), to: source, segmentSize: 0, ecn: 0)
        }
    }

    private func sendStatelessClose(_ header: ngtcp2_pkt_hd, errorCode: UInt64, to source: SocketAddress) {
        var clientHeader = header
        var packet = [UInt8](repeating: 0, count: Int(NGTCP2_MAX_UDP_PAYLOAD_SIZE))
        // Initial keys come from the client's destination ID, so it is our source ID here.
        let written = ngtcp2_crypto_write_connection_close(&packet, packet.count, header.version, &clientHeader.scid,
                                                           &clientHeader.dcid, errorCode, nil, 0)
        guard written > 0 else { return }
        _ = packet.withUnsafeBufferPointer {
            self.socket.send($0.baseAddress!, count: Int(written), to: source, segmentSize: 0, ecn: 0)
        }
    }

    private func sendVersionNegotiation(_ versionCID: ngtcp2_version_cid, to source: SocketAddress) {
        var packet = [UInt8](repeating: 0, count: Int(NGTCP2_MAX_UDP_PAYLOAD_SIZE))
        var versions: [UInt32] = [UInt32(NGTCP2_PROTO_VER_V1)]
        var unused: UInt8 = 0
        _ = gnutls_rnd(GNUTLS_RND_NONCE, &unused, 1)
        let written = ngtcp2_pkt_write_version_negotiation(&packet, packet.count, unused, versionCID.scid,
                                                           versionCID.scidlen, versionCID.dcid, versionCID.dcidlen,
                                                           &versions, versions.count)
        guard written > 0 else { return }
        _ = packet.withUnsafeBufferPointer {
            self.socket.send($0.baseAddress!, count: Int(written), to: source, segmentSize: 0, ecn: 0)
        }
    }
}
