import Foundation
import HyperMeshCore
import Logging

/// Serves one `stoq/1` request: PING, GET, FETCH, WANT, RELEASE and OWNED answered at once, PUT after its bytes
/// arrived and hashed.
/// Anything malformed is answered with an ``FrameType/error`` frame, never a crash.
final class MeshRequestHandler: StreamHandler {
    private enum State {
        case awaitingRequest
        case receivingBlob(BlobWriter)
        case receivingMessage(expected: Int, bytes: [UInt8])
        case receivingCall(expected: Int, bytes: [UInt8])
        case waitingForEnd
        case answered
    }

    private let root: ServedRoot
    private let blobs: BlobDirectory
    private let logger: Logger
    private var decoder: FrameDecoder
    private var state = State.awaitingRequest
    private var output: FileOutput?

    private let messages: MessageDelivery?
    private let calls: CallAnswering?
    /// A client without a certificate (on `hm-join/1`): PING and CALL only.
    private let anonymous: Bool
    /// The node the client's certificate names: it holds the blobs it stores, and may release them.
    private let owner: String?

    init(root: ServedRoot, blobs: BlobDirectory, maximumDataPayloadBytes: Int, messages: MessageDelivery? = nil,
         calls: CallAnswering? = nil, anonymous: Bool = false, peerNodeID: String? = nil, logger: Logger) {
        self.root = root
        self.blobs = blobs
        self.messages = messages
        self.calls = calls
        self.anonymous = anonymous
        self.owner = peerNodeID.flatMap { BlobDirectory.isValidOwner($0) ? $0 : nil }
        self.logger = logger
        self.decoder = FrameDecoder(maximumDataPayloadBytes: maximumDataPayloadBytes)
    }

    func stream(_ stream: QUICStream, received bytes: UnsafeRawBufferPointer, finished: Bool) {
        if case .answered = self.state { return }
        do {
            try self.decoder.feed(bytes) { event in try self.handle(event, on: stream) }
            if finished {
                try self.decoder.finish()
                try self.end(stream)
            }
        } catch let error as STOQError {
            self.fail(stream, error)
        } catch {
            self.fail(stream, STOQError.io("\(error)"))
        }
    }

    func streamWantsOutput(_ stream: QUICStream) {
        self.output?.refill(stream)
    }

    func streamClosed(_ stream: QUICStream, errorCode: UInt64?) {
        if case .receivingBlob(let writer) = self.state { writer.abandon() }
        self.output = nil
    }

    private func handle(_ event: FrameDecoder.Event, on stream: QUICStream) throws {
        switch (self.state, event) {
        case (.receivingBlob(let writer), .data(let bytes)):
            try writer.append(bytes)
        case (.receivingMessage(let expected, var received), .data(let bytes)):
            guard received.count + bytes.count <= expected else {
                throw STOQError.protocolViolation("more than the announced \(expected) bytes")
            }
            self.state = .answered
            received.append(contentsOf: bytes)
            self.state = .receivingMessage(expected: expected, bytes: received)
        case (.receivingCall(let expected, var received), .data(let bytes)):
            guard received.count + bytes.count <= expected else {
                throw STOQError.protocolViolation("more than the announced \(expected) bytes")
            }
            self.state = .answered
            received.append(contentsOf: bytes)
            self.state = .receivingCall(expected: expected, bytes: received)
        case (.awaitingRequest, .frame(let type, let payload)):
            try self.answer(type, payload, on: stream)
        case (.awaitingRequest, .data):
            throw STOQError.protocolViolation("data frame before any request")
        case (.receivingBlob, .frame(let type, _)), (.receivingMessage, .frame(let type, _)),
             (.receivingCall, .frame(let type, _)), (.waitingForEnd, .frame(let type, _)):
            throw STOQError.protocolViolation("unexpected \(type) frame after the request")
        case (.waitingForEnd, .data):
            throw STOQError.protocolViolation("data frame after a request that takes none")
        case (.answered, _):
            break
        }
    }

    private func answer(_ type: FrameType, _ payload: [UInt8], on stream: QUICStream) throws {
        if self.anonymous && type != .ping && type != .call {
            throw STOQError.protocolViolation("\(type) needs a client certificate; without one only ping and call are answered")
        }
        switch type {
        case .ping:
            guard payload.count <= 64 else { throw STOQError.protocolViolation("ping payload over 64 bytes") }
            stream.write(copying: Frame.encode(.pong, payload: payload))
            self.state = .waitingForEnd
        case .get:
            guard payload.count == 32 else { throw STOQError.protocolViolation("get needs a 32-byte SHA-256 id") }
            try self.send(path: self.blobs.path(for: payload), named: "blob \(payload.hexString)", on: stream)
        case .fetch:
            let path = String(decoding: payload, as: UTF8.self)
            try self.send(path: try self.root.resolve(path), named: path, on: stream)
        case .put:
            guard payload.count == 40 else { throw STOQError.protocolViolation("put needs a 32-byte id and an 8-byte size") }
            let size = payload.withUnsafeBytes { Frame.readUInt64($0, at: 32) }
            self.state = .receivingBlob(try self.blobs.beginWrite(id: Array(payload.prefix(32)), size: size, owner: self.owner))
        case .want:
            let bitmap = try Self.bitmap(over: payload, request: "want") { FileManager.default.fileExists(atPath: self.blobs.path(for: $0)) }
            stream.write(copying: Frame.encode(.have, payload: bitmap))
            self.state = .waitingForEnd
        case .release:
            guard let owner = self.owner else {
                throw STOQError.protocolViolation("release needs a client certificate that names a node (hm://NODE-ID)")
            }
            let bitmap = try Self.bitmap(over: payload, request: "release") { try self.blobs.release($0, owner: owner) }
            stream.write(copying: Frame.encode(.released, payload: bitmap))
            self.state = .waitingForEnd
        case .owned:
            guard payload.isEmpty else { throw STOQError.protocolViolation("owned takes no payload") }
            guard let owner = self.owner else {
                throw STOQError.protocolViolation("owned needs a client certificate that names a node (hm://NODE-ID)")
            }
            let ids = Array(self.blobs.held(by: owner).joined())
            self.sendBlob(ids.isEmpty ? nil : OwnedBytes(copying: ids), size: ids.count, on: stream)
        case .message:
            guard let messages = self.messages else { throw STOQError.protocolViolation("this server takes no messages") }
            guard payload.count == 8 else { throw STOQError.protocolViolation("message needs an 8-byte size") }
            let size = payload.withUnsafeBytes { Frame.readUInt64($0, at: 0) }
            guard size <= UInt64(messages.maximumBytes) else {
                throw STOQError.protocolViolation("message of \(size) bytes, at most \(messages.maximumBytes) accepted")
            }
            self.state = .receivingMessage(expected: Int(size), bytes: [])
        case .call:
            guard let calls = self.calls else { throw STOQError.protocolViolation("this server takes no calls") }
            guard payload.count == 8 else { throw STOQError.protocolViolation("call needs an 8-byte size") }
            let size = payload.withUnsafeBytes { Frame.readUInt64($0, at: 0) }
            guard size <= UInt64(calls.maximumBytes) else {
                throw STOQError.protocolViolation("call of \(size) bytes, at most \(calls.maximumBytes) accepted")
            }
            self.state = .receivingCall(expected: Int(size), bytes: [])
        case .data, .pong, .blob, .stored, .accepted, .have, .released, .error:
            throw STOQError.protocolViolation("\(type) is not a request")
        }
    }

    /// One bit per 32-byte id of `payload` (most significant first), set where `test` holds.
    private static func bitmap(over payload: [UInt8], request: String, _ test: ([UInt8]) throws -> Bool) throws -> [UInt8] {
        guard !payload.isEmpty, payload.count % 32 == 0 else {
            throw STOQError.protocolViolation("\(request) needs one or more 32-byte ids")
        }
        let count = payload.count / 32
        var bitmap = [UInt8](repeating: 0, count: (count + 7) / 8)
        for index in 0..<count where try test(Array(payload[(index * 32)..<((index + 1) * 32)])) {
            bitmap[index / 8] |= 0x80 >> UInt8(index % 8)
        }
        return bitmap
    }

    /// Answers with the file at `path`; errors name the file as the client asked for it, never our path.
    private func send(path: String, named name: String, on stream: QUICStream) throws {
        let mapped: (bytes: OwnedBytes?, size: Int)
        do {
            mapped = try MappedFile.map(path: path)
        } catch let error as STOQError where error.code == .notFound {
            throw STOQError.notFound("\(name): no such file")
        }
        self.sendBlob(mapped.bytes, size: mapped.size, on: stream)
    }

    /// Answers with a BLOB frame and `size` bytes in DATA frames, as the stream takes them.
    private func sendBlob(_ bytes: OwnedBytes?, size: Int, on stream: QUICStream) {
        stream.write(copying: Frame.encode(.blob, payload: Frame.bigEndian(UInt64(size))))
        self.output = FileOutput(bytes: bytes, size: size, framed: true)
        self.state = .answered
        self.output?.refill(stream)
    }

    /// The client's FIN: a PUT is complete now; other requests were answered already.
    private func end(_ stream: QUICStream) throws {
        switch self.state {
        case .receivingBlob(let writer):
            try writer.commit()
            self.state = .answered
            stream.write(copying: Frame.encode(.stored))
            stream.finish()
        case .receivingMessage(let expected, let bytes):
            guard bytes.count == expected else {
                throw STOQError.protocolViolation("message ended after \(bytes.count) of \(expected) bytes")
            }
            self.state = .answered
            self.messages?.deliver(bytes)
            stream.write(copying: Frame.encode(.accepted))
            stream.finish()
        case .receivingCall(let expected, let bytes):
            guard bytes.count == expected else {
                throw STOQError.protocolViolation("call ended after \(bytes.count) of \(expected) bytes")
            }
            guard let reply = self.calls?.answer(bytes) else { throw STOQError.io("this server takes no calls") }
            self.sendBlob(reply.isEmpty ? nil : OwnedBytes(copying: reply), size: reply.count, on: stream)
        case .waitingForEnd:
            self.state = .answered
            stream.finish()
        case .awaitingRequest:
            throw STOQError.protocolViolation("stream ended without a request")
        case .answered:
            break
        }
    }

    private func fail(_ stream: QUICStream, _ error: STOQError) {
        if case .receivingBlob(let writer) = self.state { writer.abandon() }
        self.state = .answered
        self.output = nil
        let code: FrameType.ErrorCode = error.code == .notFound ? .notFound
            : error.code == .io ? .internalError : .badRequest
        self.logger.debug("Request refused", metadata: ["stream": "\(stream.id)", "reason": "\(error.message)"])
        stream.write(copying: Frame.error(code, error.message))
        stream.finish()
    }
}

/// Who answers complete CALL requests.
struct CallAnswering {
    let maximumBytes: Int
    let answer: ([UInt8]) -> [UInt8]
}

/// Where a server hands complete MESSAGE requests.
struct MessageDelivery {
    let maximumBytes: Int
    let deliver: ([UInt8]) -> Void
}
