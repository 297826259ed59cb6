import Logging

/// `hq-interop` (HTTP/0.9 over QUIC): the request is `GET /path` and a line end; the reply is the file's
/// bytes and FIN. A missing file resets the stream, as HTTP/0.9 has no status line.
final class InteropRequestHandler: StreamHandler {
    /// The application error code a stream is reset with when the request fails.
    static let requestFailedCode: UInt64 = 0x10
    private static let maximumRequestBytes = 4096

    private let root: ServedRoot
    private let logger: Logger
    private var request: [UInt8] = []
    private var output: FileOutput?
    private var answered = false

    init(root: ServedRoot, logger: Logger) {
        self.root = root
        self.logger = logger
    }

    func stream(_ stream: QUICStream, received bytes: UnsafeRawBufferPointer, finished: Bool) {
        guard !self.answered else { return }
        self.request.append(contentsOf: bytes.prefix(Self.maximumRequestBytes + 1 - self.request.count))
        guard finished || self.request.contains(UInt8(ascii: "\n")) || self.request.count > Self.maximumRequestBytes
        else { return }
        self.answered = true
        do {
            let line = String(decoding: self.request.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let parts = line.split(separator: " ")
            guard parts.count == 2, parts[0] == "GET" else {
                throw STOQError.protocolViolation("request is not `GET /PATH`: \"\(line.prefix(80))\"")
            }
            let mapped = try MappedFile.map(path: try self.root.resolve(String(parts[1])))
            self.logger.debug("Serving", metadata: ["path": "\(parts[1])", "bytes": "\(mapped.size)"])
            self.output = FileOutput(bytes: mapped.bytes, size: mapped.size, framed: false)
            self.output?.refill(stream)
        } catch {
            self.logger.debug("Request refused", metadata: ["reason": "\(error)"])
            stream.reset(errorCode: Self.requestFailedCode)
        }
    }

    func streamWantsOutput(_ stream: QUICStream) {
        self.output?.refill(stream)
    }

    func streamClosed(_ stream: QUICStream, errorCode: UInt64?) {
        self.output = nil
    }
}
