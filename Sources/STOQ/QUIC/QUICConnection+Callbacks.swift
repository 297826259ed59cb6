import CNGTCP2

// ngtcp2 calls back with the connection's user pointer (an unretained ``QUICConnection``) and, for streams,
// the stream's user pointer (an unretained ``QUICStream`` that the connection's `streams` table keeps alive).

extension QUICConnection {
    static func callbacks(for role: Role) -> ngtcp2_callbacks {
        var callbacks = ngtcp2_callbacks()
        switch role {
        case .client:
            callbacks.client_initial = ngtcp2_crypto_client_initial_cb
            callbacks.recv_retry = ngtcp2_crypto_recv_retry_cb
        case .server:
            callbacks.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb
        }
        callbacks.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb
        callbacks.encrypt = ngtcp2_crypto_encrypt_cb
        callbacks.decrypt = ngtcp2_crypto_decrypt_cb
        callbacks.hp_mask = ngtcp2_crypto_hp_mask_cb
        callbacks.update_key = ngtcp2_crypto_update_key_cb
        callbacks.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb
        callbacks.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb
        callbacks.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb
        callbacks.version_negotiation = ngtcp2_crypto_version_negotiation_cb
        callbacks.rand = randomBytes
        callbacks.get_new_connection_id = newConnectionID
        callbacks.remove_connection_id = removeConnectionID
        callbacks.handshake_completed = handshakeCompletedCallback
        callbacks.stream_open = streamOpened
        callbacks.recv_stream_data = streamDataReceived
        callbacks.acked_stream_data_offset = streamDataAcknowledged
        callbacks.extend_max_stream_data = streamWindowExtended
        callbacks.stream_close = streamClosed
        callbacks.stream_reset = streamReset
        callbacks.stream_stop_sending = streamStopSending
        return callbacks
    }

    fileprivate static func from(_ user: UnsafeMutableRawPointer?) -> QUICConnection {
        Unmanaged<QUICConnection>.fromOpaque(user!).takeUnretainedValue()
    }

    fileprivate func stream(_ user: UnsafeMutableRawPointer?, id: Int64) -> QUICStream? {
        if let user { return Unmanaged<QUICStream>.fromOpaque(user).takeUnretainedValue() }
        return self.streams[id]
    }

    fileprivate func closeStream(_ stream: QUICStream, errorCode: UInt64?) {
        stream.closed = true
        stream.outgoing.discard()
        self.unschedule(stream)
        self.streams[stream.id] = nil
        // ngtcp2 does not raise the peer's stream limit by itself: each stream the client opened and that
        // is now closed gives it room for one more (client-initiated bidirectional ids are 0 mod 4).
        // Without this a long-lived connection stalls after `maximumBidirectionalStreams` requests.
        if self.role == .server && stream.id & 0x3 == 0 { ngtcp2_conn_extend_max_streams_bidi(self.conn, 1) }
        stream.handler?.streamClosed(stream, errorCode: errorCode)
        stream.handler = nil
    }
}

private let randomBytes: @convention(c) (UnsafeMutablePointer<UInt8>?, Int, UnsafePointer<ngtcp2_rand_ctx>?) -> Void = {
    destination, count, _ in
    _ = gnutls_rnd(GNUTLS_RND_RANDOM, destination, count)
}

private let newConnectionID: @convention(c) (OpaquePointer?, UnsafeMutablePointer<ngtcp2_cid>?,
                                              UnsafeMutablePointer<UInt8>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    _, cid, token, count, user in
    guard let cid, let token, gnutls_rnd(GNUTLS_RND_RANDOM, &cid.pointee.data, count) == 0 else {
        return NGTCP2_ERR_CALLBACK_FAILURE
    }
    cid.pointee.datalen = count
    let connection = QUICConnection.from(user)
    let secret = connection.owner?.staticSecret ?? []
    if secret.isEmpty {
        guard gnutls_rnd(GNUTLS_RND_RANDOM, token, Int(NGTCP2_STATELESS_RESET_TOKENLEN)) == 0 else {
            return NGTCP2_ERR_CALLBACK_FAILURE
        }
    } else {
        let result = secret.withUnsafeBufferPointer {
            ngtcp2_crypto_generate_stateless_reset_token(token, $0.baseAddress, $0.count, cid)
        }
        guard result == 0 else { return NGTCP2_ERR_CALLBACK_FAILURE }
    }
    connection.owner?.connection(connection, didIssue: ConnectionID(cid.pointee))
    return 0
}

private let removeConnectionID: @convention(c) (OpaquePointer?, UnsafePointer<ngtcp2_cid>?,
                                                 UnsafeMutableRawPointer?) -> Int32 = { _, cid, user in
    let connection = QUICConnection.from(user)
    if let cid { connection.owner?.connection(connection, didRetire: ConnectionID(cid.pointee)) }
    return 0
}

private let handshakeCompletedCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { _, user in
    let connection = QUICConnection.from(user)
    // A client that sent no certificate gets no further than the one protocol that allows it.
    guard connection.peerIsAdmitted else {
        connection.peerRefusal = connection.peerRefusal
            ?? "client certificate refused: none presented, and \(connection.negotiatedALPN ?? "this protocol") requires one"
        return NGTCP2_ERR_CALLBACK_FAILURE
    }
    connection.handshakeCompleted = true
    return 0
}

private let streamOpened: @convention(c) (OpaquePointer?, Int64, UnsafeMutableRawPointer?) -> Int32 = { _, id, user in
    let connection = QUICConnection.from(user)
    // Only bidirectional streams carry requests; we grant the peer no unidirectional ones.
    guard id & 0x2 == 0 else { return 0 }
    let stream = connection.register(streamID: id)
    connection.owner?.connection(connection, didOpenRemoteStream: stream)
    return 0
}

private let streamDataReceived: @convention(c) (OpaquePointer?, UInt32, Int64, UInt64, UnsafePointer<UInt8>?, Int,
                                                 UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32 = {
    conn, flags, id, _, data, count, user, streamUser in
    let connection = QUICConnection.from(user)
    let finished = flags & UInt32(NGTCP2_STREAM_DATA_FLAG_FIN) != 0
    if let stream = connection.stream(streamUser, id: id), !stream.closed {
        if finished { stream.receivedFinish = true }
        stream.handler?.stream(stream, received: UnsafeRawBufferPointer(start: data, count: count), finished: finished)
    }
    // The handler consumed the bytes (or dropped them): give the peer the window back.
    ngtcp2_conn_extend_max_stream_offset(conn, id, UInt64(count))
    ngtcp2_conn_extend_max_offset(conn, UInt64(count))
    return 0
}

private let streamDataAcknowledged: @convention(c) (OpaquePointer?, Int64, UInt64, UInt64, UnsafeMutableRawPointer?,
                                                     UnsafeMutableRawPointer?) -> Int32 = {
    _, id, offset, count, user, streamUser in
    let connection = QUICConnection.from(user)
    connection.stream(streamUser, id: id)?.outgoing.acknowledge(upTo: offset + count)
    return 0
}

private let streamWindowExtended: @convention(c) (OpaquePointer?, Int64, UInt64, UnsafeMutableRawPointer?,
                                                   UnsafeMutableRawPointer?) -> Int32 = {
    _, id, _, user, streamUser in
    let connection = QUICConnection.from(user)
    if let stream = connection.stream(streamUser, id: id), stream.dataBlocked {
        stream.dataBlocked = false
        connection.schedule(stream)
    }
    return 0
}

private let streamClosed: @convention(c) (OpaquePointer?, UInt32, Int64, UInt64, UnsafeMutableRawPointer?,
                                           UnsafeMutableRawPointer?) -> Int32 = {
    _, flags, id, errorCode, user, streamUser in
    let connection = QUICConnection.from(user)
    guard let stream = connection.stream(streamUser, id: id) else { return 0 }
    let hasCode = flags & UInt32(NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) != 0
    connection.closeStream(stream, errorCode: hasCode && errorCode != 0 ? errorCode : nil)
    return 0
}

private let streamReset: @convention(c) (OpaquePointer?, Int64, UInt64, UInt64, UnsafeMutableRawPointer?,
                                          UnsafeMutableRawPointer?) -> Int32 = {
    _, id, _, errorCode, user, streamUser in
    let connection = QUICConnection.from(user)
    if let stream = connection.stream(streamUser, id: id) { stream.reset(errorCode: errorCode) }
    return 0
}

private let streamStopSending: @convention(c) (OpaquePointer?, Int64, UInt64, UnsafeMutableRawPointer?,
                                                UnsafeMutableRawPointer?) -> Int32 = {
    _, id, errorCode, user, streamUser in
    let connection = QUICConnection.from(user)
    if let stream = connection.stream(streamUser, id: id) { stream.reset(errorCode: errorCode) }
    return 0
}
