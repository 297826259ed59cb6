/// The client end of one request stream: sends the request, decodes the reply into the sink.
final class ResponseHandler: StreamHandler {
    let request: STOQRequest
    private let interop: Bool
    private var decoder = FrameDecoder(maximumDataPayloadBytes: 16 << 20)
    private var expectedBytes: UInt64?
    private(set) var receivedBytes = 0
    private var upload: FileOutput?
    private(set) var response: STOQResponse?
    private var gotReplyFrame = false

    init(request: STOQRequest, interop: Bool) {
        self.request = request
        self.interop = interop
    }

    /// Queues the request's bytes on a freshly opened stream.
    func start(on stream: QUICStream) throws {
        switch self.request.kind {
        case .ping(let payload):
            stream.write(copying: Frame.encode(.ping, payload: payload))
            stream.finish()
        case .fetch(let path):
            if self.interop {
                stream.write(copying: Array("GET /\(path.hasPrefix("/") ? String(path.dropFirst()) : path)\r\n".utf8))
            } else {
                stream.write(copying: Frame.encode(.fetch, payload: Array(path.utf8)))
            }
            stream.finish()
        case .getBlob(let id):
            stream.write(copying: Frame.encode(.get, payload: id))
            stream.finish()
        case .putBlob(let id, let contents):
            let bytes: OwnedBytes?
            let size: Int
            switch contents {
            case .bytes(let data): (bytes, size) = (data.isEmpty ? nil : OwnedBytes(copying: data), data.count)
            case .file(let path): (bytes, size) = try MappedFile.map(path: path)
            }
            stream.write(copying: Frame.encode(.put, payload: id + Frame.bigEndian(UInt64(size))))
            self.upload = FileOutput(bytes: bytes, size: size, framed: true)
            self.upload?.refill(stream)
            self.receivedBytes = size
        case .want(let ids):
            stream.write(copying: Frame.encode(.want, payload: Array(ids.joined())))
            stream.finish()
        case .release(let ids):
            stream.write(copying: Frame.encode(.release, payload: Array(ids.joined())))
            stream.finish()
        case .owned:
            stream.write(copying: Frame.encode(.owned))
            stream.finish()
        case .message(let bytes), .call(let bytes):
            let type: FrameType = if case .call = self.request.kind { .call } else { .message }
            stream.write(copying: Frame.encode(type, payload: Frame.bigEndian(UInt64(bytes.count))))
            self.upload = FileOutput(bytes: bytes.isEmpty ? nil : OwnedBytes(copying: bytes), size: bytes.count, framed: true)
            self.upload?.refill(stream)
            // A call's count is its reply's bytes, a message's the bytes it sent.
            if case .message = self.request.kind { self.receivedBytes = bytes.count }
        }
    }

    func streamWantsOutput(_ stream: QUICStream) {
        self.upload?.refill(stream)
    }

    func stream(_ stream: QUICStream, received bytes: UnsafeRawBufferPointer, finished: Bool) {
        guard self.response == nil else { return }
        do {
            if self.interop {
                try self.request.sink?.write(bytes)
                self.receivedBytes += bytes.count
            } else {
                try self.decoder.feed(bytes) { try self.handle($0) }
            }
            if finished { try self.end() }
        } catch let error as STOQError {
            self.response = STOQResponse(bytes: self.receivedBytes, error: error)
            stream.reset(errorCode: 0x2)
        } catch {
            self.response = STOQResponse(bytes: self.receivedBytes, error: .io("\(error)"))
            stream.reset(errorCode: 0x2)
        }
    }

    func streamClosed(_ stream: QUICStream, errorCode: UInt64?) {
        self.upload = nil
        guard self.response == nil else { return }
        if let errorCode {
            let error: STOQError = self.interop && errorCode == InteropRequestHandler.requestFailedCode
                ? .notFound("the server refused the request (stream reset with code \(errorCode))")
                : .connectionClosed("stream reset by the peer with code \(errorCode)")
            self.response = STOQResponse(bytes: self.receivedBytes, error: error)
        } else {
            self.response = STOQResponse(bytes: self.receivedBytes,
                                         error: .protocolViolation("stream closed before the reply ended"))
        }
    }

    private func handle(_ event: FrameDecoder.Event) throws {
        switch event {
        case .data(let bytes):
            guard let expected = self.expectedBytes, UInt64(self.receivedBytes + bytes.count) <= expected else {
                throw STOQError.protocolViolation("data beyond the announced size")
            }
            try self.request.sink?.write(bytes)
            self.receivedBytes += bytes.count
        case .frame(let type, let payload):
            guard !self.gotReplyFrame else { throw STOQError.protocolViolation("a second reply frame (\(type))") }
            self.gotReplyFrame = true
            switch type {
            case .blob:
                guard payload.count == 8 else { throw STOQError.protocolViolation("blob frame needs an 8-byte size") }
                self.expectedBytes = payload.withUnsafeBytes { Frame.readUInt64($0, at: 0) }
            case .pong:
                self.receivedBytes = payload.count
            case .stored, .accepted:
                break
            case .have, .released:
                try payload.withUnsafeBytes { try self.request.sink?.write($0) }
                self.receivedBytes = payload.count
            case .error:
                guard payload.count >= 2 else { throw STOQError.protocolViolation("error frame without a code") }
                let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
                let message = String(decoding: payload.dropFirst(2), as: UTF8.self)
                throw code == FrameType.ErrorCode.notFound.rawValue
                    ? STOQError.notFound(message) : STOQError.protocolViolation("the server answered: \(message)")
            default:
                throw STOQError.protocolViolation("\(type) is not a reply")
            }
        }
    }

    private func end() throws {
        if !self.interop {
            try self.decoder.finish()
            guard self.gotReplyFrame else { throw STOQError.protocolViolation("the stream ended without a reply") }
            if let expected = self.expectedBytes, UInt64(self.receivedBytes) != expected {
                throw STOQError.protocolViolation("got \(self.receivedBytes) of \(expected) bytes")
            }
        }
        try self.request.sink?.finish()
        self.response = STOQResponse(bytes: self.receivedBytes, error: nil)
    }
}
