import CNGTCP2
import Foundation
import Testing
@testable import STOQ

/// Bytes written raw on one stream, and the reply collected.
private final class RawExchange: StreamHandler {
    var reply: [UInt8] = []
    var closed = false
    var resetCode: UInt64?
    func stream(_ stream: QUICStream, received bytes: UnsafeRawBufferPointer, finished: Bool) {
        self.reply.append(contentsOf: bytes)
    }
    func streamClosed(_ stream: QUICStream, errorCode: UInt64?) {
        self.closed = true
        self.resetCode = errorCode
    }
}

@Suite(.serialized)
struct RobustnessTests {
    /// Sends `bytes` on a fresh stream (then FIN unless `finish` is false) and returns the reply's frames.
    func exchange(_ bytes: [UInt8], on connection: STOQClientConnection) throws -> [(FrameType, [UInt8])] {
        let exchange = RawExchange()
        let stream = try #require(connection.connection.openStream(handler: exchange))
        stream.write(copying: bytes)
        stream.finish()
        try connection.run(until: { exchange.closed }, deadline: cngtcp2_timestamp() + 5_000_000_000)
        var decoder = FrameDecoder()
        var frames: [(FrameType, [UInt8])] = []
        try exchange.reply.withUnsafeBytes { raw in
            try decoder.feed(raw) { event in
                if case .frame(let type, let payload) = event { frames.append((type, payload)) }
            }
        }
        return frames
    }

    private func errorCode(_ frames: [(FrameType, [UInt8])]) -> UInt16? {
        // The last frame: a ping answered before a second request arrived keeps its pong.
        guard let last = frames.last, last.0 == .error, last.1.count >= 2 else { return nil }
        return UInt16(last.1[0]) << 8 | UInt16(last.1[1])
    }

    @Test func malformedRequestsGetAnErrorFrameAndTheConnectionLives() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let bytes = try server.addFile("good", count: 100_000)
        let connection = try server.connect()
        defer { connection.close() }
        let badRequest = FrameType.ErrorCode.badRequest.rawValue
        let cases: [[UInt8]] = [
            [0x7F, 0, 0, 0, 0],                                   // unknown frame type
            Frame.header(.data, length: 0xFFFF_FFFF),             // oversized data frame
            Frame.header(.fetch, length: 5000) + [1],             // oversized control frame
            Frame.header(.get, length: 32) + [1, 2, 3],           // truncated payload
            [0x02, 0, 0],                                         // truncated header
            Frame.encode(.get, payload: [1, 2, 3]),               // wrong id length
            Frame.encode(.data, payload: [1]),                    // data before any request
            Frame.encode(.pong),                                  // a reply type sent as a request
            Frame.encode(.ping) + Frame.encode(.ping),            // two requests
            Frame.encode(.put, payload: [UInt8](repeating: 0, count: 32) + Frame.bigEndian(2))
                + Frame.encode(.data, payload: [1, 2, 3]),        // more bytes than announced
            Frame.encode(.ping, payload: [UInt8](repeating: 1, count: 65)),
            [],                                                   // no request at all
        ]
        for request in cases {
            #expect(self.errorCode(try self.exchange(request, on: connection)) == badRequest, "request \(request.prefix(8))")
        }
        let missing = try self.exchange(Frame.encode(.fetch, payload: Array("nope".utf8)), on: connection)
        #expect(self.errorCode(missing) == FrameType.ErrorCode.notFound.rawValue)
        #expect(String(decoding: missing[0].1.dropFirst(2), as: UTF8.self) == "nope: no such file")
        let sink = MemorySink()
        try connection.perform(STOQRequest(.fetch(path: "good"), sink: sink))
        #expect(sink.bytes == bytes)
    }

    @Test func randomDatagramsNeverStopTheServer() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let bytes = try server.addFile("good", count: 4 << 20)
        let noise = NoiseSender(target: server.address)
        noise.send(3000)
        let done = ManagedAtomicFlag()
        let noiseThread = Thread {
            while !done.isSet { noise.send(50); usleep(1000) }
        }
        noiseThread.start()
        defer { done.set() }
        let connection = try server.connect()
        defer { connection.close() }
        let sink = MemorySink()
        try connection.perform(STOQRequest(.fetch(path: "good"), sink: sink))
        #expect(sink.bytes == bytes)
        done.set()
        #expect(server.server.statistics.undecodableDatagrams > 0)
    }
}

/// Sends pseudo-random datagrams, half shaped like QUIC v1 Initial packets, at one address.
private final class NoiseSender: @unchecked Sendable {
    private let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    private var target: SocketAddress
    private var state: UInt64 = 7

    init(target: SocketAddress) { self.target = target }
    deinit { close(self.descriptor) }

    func send(_ count: Int) {
        for _ in 0..<count {
            self.state = self.state &* 6364136223846793005 &+ 1442695040888963407
            let state = self.state
            let length = Int(state >> 53) % 1500 + 1
            var datagram = (0..<length).map { UInt8(truncatingIfNeeded: state >> UInt64($0 % 57)) }
            if state & 1 == 0 && length > 6 { datagram[0] = 0xC0; datagram[1...4] = [0, 0, 0, 1] }
            let length32 = self.target.length
            _ = withUnsafePointer(to: &self.target.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(self.descriptor, datagram, datagram.count, 0, $0, length32)
                }
            }
        }
    }
}
