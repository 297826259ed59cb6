/// The frame types of `stoq/1`, the mesh protocol.
///
/// Every frame is `type (1 byte) | length (4 bytes, big-endian) | payload (length bytes)`. A request is one
/// request frame on a fresh bidirectional stream (a `put` is followed by `data` frames), then the
/// client's FIN; the reply is one reply frame (a `blob` is followed by `data` frames), then the server's FIN.
public enum FrameType: UInt8, Sendable, CaseIterable {
    /// Request: up to 64 opaque bytes the server echoes in a ``pong``.
    case ping = 0x01
    /// Request: the blob whose SHA-256 is the 32-byte payload.
    case get = 0x02
    /// Request: store a blob; payload = SHA-256 (32 bytes) + size (8 bytes, big-endian); ``data`` frames follow.
    /// A client whose certificate names a node holds the blob from then on (see ``release``).
    case put = 0x03
    /// Request: a file under the server's root by relative path (UTF-8 payload).
    case fetch = 0x04
    /// Request: an application message for the server's ``STOQServer/Configuration/messageHandler``;
    /// payload = size (8 bytes, big-endian); ``data`` frames follow. Answered with ``accepted``.
    case message = 0x05
    /// Request: which of these blobs the server holds; payload = up to 128 SHA-256 ids (32 bytes each).
    /// Answered with ``have``.
    case want = 0x06
    /// Request: the client gives up these blobs; payload = up to 128 SHA-256 ids (32 bytes each). A blob
    /// stays while another client that stored it still holds it. Answered with ``released``. Needs a client
    /// certificate that names a node (`hm://NODE-ID`): blobs are held per node.
    case release = 0x07
    /// Request (empty payload): the ids of the blobs the client's node holds here. Answered with ``blob``:
    /// the ids, 32 bytes each, as its data.
    case owned = 0x08
    /// Request: bytes for the server application's ``STOQServer/Configuration/callHandler``, which answers
    /// them; payload = size (8 bytes, big-endian); ``data`` frames follow. Answered with ``blob``: the reply.
    /// The only request besides ``ping`` that a client without a certificate may send (on `hm-join/1`).
    case call = 0x09
    /// Bytes of a blob or file, in order.
    case data = 0x10
    /// Reply to ``ping``.
    case pong = 0x81
    /// Reply to ``get`` and ``fetch``: size (8 bytes, big-endian); ``data`` frames follow.
    case blob = 0x82
    /// Reply to ``put``: the blob is stored and its hash checked.
    case stored = 0x83
    /// Reply to ``message``: handed to the application.
    case accepted = 0x84
    /// Reply to ``want``: one bit per id asked, in order, most significant bit first; set when held.
    case have = 0x85
    /// Reply to ``release``: one bit per id, in order, most significant bit first; set when the client held
    /// it and now does not.
    case released = 0x86
    /// Reply: code (2 bytes, big-endian) + UTF-8 message. See ``ErrorCode``.
    case error = 0xE0

    /// Payload limit for frames other than ``data``: requests and replies are small.
    static let maximumControlPayloadBytes = 4096
    /// Ids one ``want`` or ``release`` may name.
    public static let maximumWantedIDs = maximumControlPayloadBytes / 32

    /// Error codes of an ``error`` frame.
    public enum ErrorCode: UInt16, Sendable {
        case notFound = 1
        case badRequest = 2
        case tooLarge = 3
        case hashMismatch = 4
        case internalError = 5
    }
}

/// Encoding of `stoq/1` frames.
public enum Frame {
    /// Bytes of a frame header.
    public static let headerBytes = 5

    /// The 5-byte header of a frame of `type` with `length` bytes of payload.
    public static func header(_ type: FrameType, length: Int) -> [UInt8] {
        precondition(length >= 0 && length <= Int(UInt32.max), "frame length out of range")
        let length = UInt32(length)
        return [type.rawValue, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF),
                UInt8(length & 0xFF)]
    }

    /// A whole frame.
    public static func encode(_ type: FrameType, payload: [UInt8] = []) -> [UInt8] {
        self.header(type, length: payload.count) + payload
    }

    /// An ``FrameType/error`` frame.
    public static func error(_ code: FrameType.ErrorCode, _ message: String) -> [UInt8] {
        let text = Array(message.utf8.prefix(FrameType.maximumControlPayloadBytes - 2))
        return self.encode(.error, payload: [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)] + text)
    }

    /// 8 big-endian bytes.
    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(value >> (56 - 8 * $0) & 0xFF) }
    }

    /// The value of 8 big-endian bytes at `offset`.
    static func readUInt64(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[offset + $1]) }
    }
}
