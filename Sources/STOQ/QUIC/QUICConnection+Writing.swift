import CNGTCP2

extension QUICConnection {
    /// At most this many sends per call, so one busy connection cannot starve the loop's reads.
    static let maximumSendsPerWrite = 64
    static let maximumBatchBytes = 65_000
    static let maximumSegments = 64

    /// Writes every packet ngtcp2 will produce now (stream data round-robin, ACKs, control frames), batching
    /// equal-size packets into one GSO send. Returns `true` when it stopped early with more to send.
    @discardableResult
    func write(now: UInt64) -> Bool {
        guard self.state == .active else { return false }
        guard self.flushBlockedTransmit() else { return false }
        self.applyDeferredShutdowns()
        let pathMaximum = ngtcp2_conn_get_path_max_tx_udp_payload_size(self.conn)
        let probeMaximum = ngtcp2_conn_get_max_tx_udp_payload_size(self.conn)
        // One GSO send carries at most 64 segments and one IP packet's worth of payload (65507 bytes for IPv4).
        let batchLimit = max(pathMaximum, min(Self.maximumBatchBytes / pathMaximum, Self.maximumSegments) * pathMaximum)
        let capacity = min(max(ngtcp2_conn_get_send_quantum(self.conn), pathMaximum), batchLimit)
        var batch = Batch()
        var sends = 0
        var info = ngtcp2_pkt_info()
        ngtcp2_path_storage_zero(self.pathStorage)
        let path = withUnsafeMutablePointer(to: &self.pathStorage.pointee.path) { $0 }
        while true {
            let stream = self.nextStreamToWrite()
            var vectorCount = 0
            var offered = 0
            var flags = UInt32(NGTCP2_WRITE_STREAM_FLAG_MORE)
            var fin = false
            if let stream {
                (vectorCount, offered) = stream.outgoing.unsent(into: self.vectors, capacity: Self.vectorCapacity)
                fin = stream.finishQueued && offered == stream.outgoing.unsentCount
                if fin { flags |= UInt32(NGTCP2_WRITE_STREAM_FLAG_FIN) }
            }
            var accepted: ngtcp2_ssize = -1
            let room = capacity - batch.length >= probeMaximum ? probeMaximum : pathMaximum
            let written = cngtcp2_conn_writev_stream(self.conn, path, &info, self.transmitBuffer + batch.length, room,
                                                     &accepted, flags, stream?.id ?? -1, self.vectors, vectorCount, now)
            if written < 0 {
                switch Int32(written) {
                case NGTCP2_ERR_STREAM_DATA_BLOCKED:
                    stream?.dataBlocked = true
                    self.unschedule(stream)
                case NGTCP2_ERR_STREAM_SHUT_WR, NGTCP2_ERR_STREAM_NOT_FOUND:
                    stream?.outgoing.discard()
                    stream?.finishSent = true
                    self.unschedule(stream)
                case NGTCP2_ERR_WRITE_MORE:
                    self.consume(accepted, of: offered, fin: fin, on: stream)
                default:
                    self.failWhileWriting(Int32(written), now: now)
                    return false
                }
                continue
            }
            self.consume(accepted, of: offered, fin: fin, on: stream)
            if written == 0 {
                self.send(&batch)
                ngtcp2_conn_update_pkt_tx_time(self.conn, now)
                return false
            }
            let start = batch.length
            let size = Int(written)
            let destination = Self.remoteAddress(of: path)
            if start == 0 {
                batch.segmentSize = size
                batch.destination = destination
                batch.ecn = UInt32(info.ecn)
            } else if size > batch.segmentSize || UInt32(info.ecn) != batch.ecn || destination != batch.destination {
                // This packet cannot join the batch: send the batch, then the packet on its own.
                self.send(&batch)
                var single = Batch(offset: start, length: size, segmentSize: size, ecn: UInt32(info.ecn),
                                   destination: destination)
                self.send(&single)
                ngtcp2_conn_update_pkt_tx_time(self.conn, now)
                sends += 2
                if sends >= Self.maximumSendsPerWrite { return true }
                continue
            }
            batch.length = start + size
            if size < batch.segmentSize || capacity - batch.length < pathMaximum {
                // A short packet ends a GSO batch (it must be the last segment); so does a full buffer.
                self.send(&batch)
                ngtcp2_conn_update_pkt_tx_time(self.conn, now)
                sends += 1
                if sends >= Self.maximumSendsPerWrite { return true }
            }
        }
    }

    /// Packets gathered in the transmit buffer for one GSO send.
    struct Batch {
        var offset = 0
        var length = 0
        var segmentSize = 0
        var ecn: UInt32 = 0
        var destination: SocketAddress?
    }

    private func send(_ batch: inout Batch) {
        defer { batch = Batch() }
        guard batch.length > 0, let destination = batch.destination else { return }
        let bytes = self.transmitBuffer + batch.offset
        switch self.socket.send(bytes, count: batch.length, to: destination, segmentSize: batch.segmentSize,
                                ecn: batch.ecn) {
        case .sent, .dropped: break
        case .wouldBlock:
            self.blockedTransmit = (Array(UnsafeBufferPointer(start: bytes, count: batch.length)), destination,
                                    batch.segmentSize, batch.ecn)
        }
    }

    /// Retries bytes the kernel refused with EAGAIN; `false` while it still refuses them.
    func flushBlockedTransmit() -> Bool {
        guard let blocked = self.blockedTransmit else { return true }
        let result = blocked.bytes.withUnsafeBufferPointer {
            self.socket.send($0.baseAddress!, count: $0.count, to: blocked.to, segmentSize: blocked.segmentSize,
                             ecn: blocked.ecn)
        }
        if case .wouldBlock = result { return false }
        self.blockedTransmit = nil
        return true
    }

    static func remoteAddress(of path: UnsafeMutablePointer<ngtcp2_path>) -> SocketAddress {
        var storage = sockaddr_storage()
        let length = path.pointee.remote.addrlen
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: path.pointee.remote.addr, count: Int(length)))
        }
        return SocketAddress(storage: storage, length: length)
    }

    private func failWhileWriting(_ result: Int32, now: UInt64) {
        ngtcp2_ccerr_set_liberr(&self.lastError, result, nil, 0)
        self.closeReason = self.closeReason ?? String(cString: ngtcp2_strerror(result))
        self.startClosingPeriod(now: now)
    }

    // MARK: - Stream scheduling

    /// The next stream in round-robin order with bytes (or a FIN) to send, asking handlers to refill.
    private func nextStreamToWrite() -> QUICStream? {
        // With the connection's window full only a FIN without data can go out.
        let connectionBlocked = ngtcp2_conn_get_max_data_left(self.conn) == 0
        var inspected = 0
        while !self.writeQueue.isEmpty && inspected <= self.writeQueue.count {
            if self.writeCursor >= self.writeQueue.count { self.writeCursor = 0 }
            let stream = self.writeQueue[self.writeCursor]
            inspected += 1
            if stream.closed || stream.dataBlocked {
                self.unschedule(stream)
                continue
            }
            if stream.wantsOutput, let handler = stream.handler {
                handler.streamWantsOutput(stream)
            }
            if connectionBlocked && stream.outgoing.unsentCount > 0 {
                self.writeCursor += 1
                continue
            }
            if stream.hasPendingOutput { return stream }
            self.unschedule(stream)
        }
        return nil
    }

    func unschedule(_ stream: QUICStream?) {
        guard let stream, stream.scheduled else { return }
        stream.scheduled = false
        if let index = self.writeQueue.firstIndex(where: { $0 === stream }) {
            self.writeQueue.remove(at: index)
            if index < self.writeCursor { self.writeCursor -= 1 }
        }
    }

    private func consume(_ accepted: ngtcp2_ssize, of offered: Int, fin: Bool, on stream: QUICStream?) {
        guard let stream, accepted >= 0 else { return }
        stream.outgoing.markSent(Int(accepted))
        if fin && Int(accepted) == offered { stream.finishSent = true }
        if stream.finishSent || (!stream.hasPendingOutput && stream.handler == nil) {
            self.unschedule(stream)
        } else {
            // Fairness: the next packet carries the next stream's data.
            self.writeCursor += 1
        }
    }

    func applyDeferredShutdowns() {
        guard !self.deferredShutdowns.isEmpty else { return }
        let shutdowns = self.deferredShutdowns
        self.deferredShutdowns.removeAll()
        for (id, errorCode) in shutdowns {
            ngtcp2_conn_shutdown_stream(self.conn, 0, id, errorCode)
            if let stream = self.streams[id] { self.unschedule(stream) }
        }
    }
}
