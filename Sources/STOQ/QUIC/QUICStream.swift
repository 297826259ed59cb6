import CNGTCP2

/// One bidirectional QUIC stream of a ``QUICConnection``.
///
/// Writers queue ``OwnedBytes`` and are asked for more through ``StreamHandler/streamWantsOutput(_:)`` only
/// when fewer than ``lowWaterBytes`` remain unsent, so a stream never holds much more than its flow-control
/// window in memory.
final class QUICStream {
    /// Refill below this many unsent bytes.
    static let lowWaterBytes = 4 << 20

    let id: Int64
    unowned let connection: QUICConnection
    var handler: (any StreamHandler)?
    var outgoing = OutgoingQueue()
    private(set) var finishQueued = false
    var finishSent = false
    /// The peer's stream flow-control window is full; wait for `extend_max_stream_data`.
    var dataBlocked = false
    /// In the connection's round-robin list of streams with something to send.
    var scheduled = false
    var receivedFinish = false
    var closed = false

    init(id: Int64, connection: QUICConnection) {
        self.id = id
        self.connection = connection
    }

    /// Whether the writer has room: fewer than ``lowWaterBytes`` unsent.
    var wantsOutput: Bool { !self.finishQueued && self.outgoing.unsentCount < Self.lowWaterBytes }

    /// Queues bytes (kept alive by `owner` until acknowledged).
    func write(_ owner: OwnedBytes, start: Int = 0, count: Int? = nil) {
        precondition(!self.finishQueued, "write after finish")
        guard !self.closed else { return }
        self.outgoing.append(owner, start: start, count: count)
        self.connection.schedule(self)
    }

    /// Queues a copy of `bytes`.
    func write(copying bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        self.write(OwnedBytes(copying: bytes))
    }

    /// Ends our side of the stream once the queued bytes are sent.
    func finish() {
        guard !self.finishQueued, !self.closed else { return }
        self.finishQueued = true
        self.connection.schedule(self)
    }

    /// Abandons the stream in both directions with an application error code.
    func reset(errorCode: UInt64) {
        guard !self.closed else { return }
        self.outgoing.discard()
        self.finishQueued = true
        self.finishSent = true
        self.connection.shutdown(self, errorCode: errorCode)
    }

    /// Whether there is anything for the write loop: data, or a FIN not yet sent.
    var hasPendingOutput: Bool {
        !self.closed && (self.outgoing.unsentCount > 0 || (self.finishQueued && !self.finishSent))
    }
}
