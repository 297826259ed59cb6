/// One request a client sends on its own stream.
public struct STOQRequest {
    public enum Kind {
        /// `stoq/1` PING with up to 64 bytes echoed back.
        case ping([UInt8])
        /// A file by path: `stoq/1` FETCH, or `GET /path` on an `hq-interop` connection.
        case fetch(path: String)
        /// `stoq/1` GET of a blob by SHA-256.
        case getBlob(id: [UInt8])
        /// `stoq/1` PUT of a blob: the bytes (kept alive until acknowledged) must hash to `id`.
        case putBlob(id: [UInt8], contents: BlobContents)
        /// `stoq/1` MESSAGE: bytes for the server application's message handler.
        case message([UInt8])
        /// `stoq/1` CALL: bytes for the server application's call handler; its reply goes to the sink.
        case call([UInt8])
        /// `stoq/1` WANT: which of these blobs (at most ``FrameType/maximumWantedIDs``) the server holds; the
        /// HAVE bitmap goes to the sink.
        case want(ids: [[UInt8]])
        /// `stoq/1` RELEASE: this node gives up these blobs (at most ``FrameType/maximumWantedIDs``); the
        /// RELEASED bitmap (set where this node held the blob) goes to the sink.
        case release(ids: [[UInt8]])
        /// `stoq/1` OWNED: the ids of the blobs this node holds on the server, 32 bytes each, to the sink.
        case owned
    }

    /// Where the bytes of a PUT come from.
    public enum BlobContents {
        case bytes([UInt8])
        case file(path: String)
    }

    public var kind: Kind
    /// Receives the reply's bytes (fetch and get).
    public var sink: (any ByteSink)?

    public init(_ kind: Kind, sink: (any ByteSink)? = nil) {
        self.kind = kind
        self.sink = sink
    }
}

/// How a request ended.
public struct STOQResponse: Sendable {
    /// Bytes received (fetch, get) or sent (put); the echo's length for ping.
    public var bytes: Int
    /// The failure, if it failed.
    public var error: STOQError?
}
