/// Splits a `stoq/1` byte stream into frames, however the bytes arrive.
///
/// Control frames are handed over whole; ``FrameType/data`` payloads are handed over as they arrive, without
/// copying. A frame type it does not know, a length over the limit, or a stream that ends inside a frame is
/// a ``STOQError`` with code `protocolViolation`, never a crash.
struct FrameDecoder {
    /// What ``feed(_:)`` found.
    enum Event {
        /// A whole control frame.
        case frame(FrameType, [UInt8])
        /// Some bytes of a data frame's payload.
        case data(UnsafeRawBufferPointer)
    }

    /// The largest ``FrameType/data`` payload accepted.
    let maximumDataPayloadBytes: Int
    private var header: [UInt8] = []
    private var type: FrameType?
    private var remaining = 0
    private var payload: [UInt8] = []

    init(maximumDataPayloadBytes: Int = 1 << 20) {
        self.maximumDataPayloadBytes = maximumDataPayloadBytes
        self.header.reserveCapacity(Frame.headerBytes)
    }

    /// Whether the bytes so far end exactly at a frame boundary.
    var isAtFrameBoundary: Bool { self.type == nil && self.header.isEmpty }

    /// Consumes `bytes`, calling `handle` for each event in order.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ handle: (Event) throws -> Void) throws {
        var offset = 0
        while offset < bytes.count {
            guard let type = self.type else {
                let take = min(Frame.headerBytes - self.header.count, bytes.count - offset)
                self.header.append(contentsOf: bytes[offset..<(offset + take)])
                offset += take
                if self.header.count == Frame.headerBytes { try self.beginFrame(handle) }
                continue
            }
            let take = min(self.remaining, bytes.count - offset)
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)])
            offset += take
            self.remaining -= take
            if type == .data {
                if take > 0 { try handle(.data(slice)) }
            } else {
                self.payload.append(contentsOf: slice)
            }
            if self.remaining == 0 { try self.endFrame(handle) }
        }
    }

    /// Checks that the stream did not end inside a frame.
    func finish() throws {
        if !self.header.isEmpty && self.type == nil {
            throw STOQError.protocolViolation("stream ended inside a frame header (\(self.header.count) of 5 bytes)")
        }
        if let type = self.type {
            throw STOQError.protocolViolation("stream ended inside a \(type) frame, \(self.remaining) bytes short")
        }
    }

    private mutating func beginFrame(_ handle: (Event) throws -> Void) throws {
        let length = self.header[1...4].reduce(0) { $0 << 8 | Int($1) }
        guard let type = FrameType(rawValue: self.header[0]) else {
            throw STOQError.protocolViolation("unknown frame type 0x\(String(self.header[0], radix: 16))")
        }
        let limit = type == .data ? self.maximumDataPayloadBytes : FrameType.maximumControlPayloadBytes
        guard length <= limit else {
            throw STOQError.protocolViolation("\(type) frame of \(length) bytes exceeds the limit of \(limit)")
        }
        self.header.removeAll(keepingCapacity: true)
        self.type = type
        self.remaining = length
        self.payload = []
        if length == 0 { try self.endFrame(handle) }
    }

    private mutating func endFrame(_ handle: (Event) throws -> Void) throws {
        guard let type = self.type else { return }
        self.type = nil
        if type != .data {
            let payload = self.payload
            self.payload = []
            try handle(.frame(type, payload))
        }
    }
}
