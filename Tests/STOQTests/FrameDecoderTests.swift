import Testing
@testable import STOQ

struct FrameDecoderTests {
    private func decode(_ bytes: [UInt8], in pieces: Int = 1, limit: Int = 1 << 20) throws -> [String] {
        var decoder = FrameDecoder(maximumDataPayloadBytes: limit)
        var events: [String] = []
        var data: [UInt8] = []
        let size = max(1, (bytes.count + pieces - 1) / max(pieces, 1))
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + size)
            try bytes[offset..<end].withUnsafeBytes { raw in
                try decoder.feed(raw) { event in
                    switch event {
                    case .frame(let type, let payload):
                        if !data.isEmpty { events.append("data \(data.count)"); data = [] }
                        events.append("\(type) \(payload)")
                    case .data(let slice): data.append(contentsOf: slice)
                    }
                }
            }
            offset = end
        }
        if !data.isEmpty { events.append("data \(data.count)") }
        try decoder.finish()
        return events
    }

    @Test func decodesFramesHoweverTheBytesAreSplit() throws {
        let stream = Frame.encode(.blob, payload: Frame.bigEndian(3)) + Frame.encode(.data, payload: [1, 2, 3])
            + Frame.encode(.stored)
        for pieces in [1, 2, 3, 7, stream.count] {
            #expect(try self.decode(stream, in: pieces) == ["blob [0, 0, 0, 0, 0, 0, 0, 3]", "data 3", "stored []"])
        }
    }

    @Test func zeroLengthFramesAndEmptyInput() throws {
        #expect(try self.decode([]) == [])
        #expect(try self.decode(Frame.encode(.data) + Frame.encode(.ping)) == ["ping []"])
    }

    @Test func unknownFrameTypeIsRejected() {
        #expect(throws: STOQError.protocolViolation()) { try self.decode([0x7F, 0, 0, 0, 0]) }
        do {
            _ = try self.decode([0x7F, 0, 0, 0, 0])
        } catch let error as STOQError {
            #expect(error.message == "unknown frame type 0x7f")
        } catch {}
    }

    @Test func oversizedFramesAreRejectedBeforeTheirPayload() {
        // A data frame over the limit, and a control frame over 4096 bytes, fail on the header alone.
        #expect(throws: STOQError.protocolViolation()) { try self.decode(Frame.header(.data, length: 65), limit: 64) }
        #expect(throws: STOQError.protocolViolation()) { try self.decode(Frame.header(.fetch, length: 4097)) }
        #expect(throws: STOQError.protocolViolation()) { try self.decode([0x10, 0xFF, 0xFF, 0xFF, 0xFF]) }
    }

    @Test func truncatedHeaderOrPayloadIsAnError() {
        #expect(throws: STOQError.protocolViolation()) { try self.decode([0x10, 0, 0]) }
        #expect(throws: STOQError.protocolViolation()) { try self.decode(Frame.header(.ping, length: 4) + [1, 2]) }
        #expect(throws: STOQError.protocolViolation()) { try self.decode(Frame.header(.data, length: 10) + [1]) }
    }

    @Test func errorFrameCarriesCodeAndMessage() throws {
        let frame = Frame.error(.notFound, "no such blob")
        #expect(frame.prefix(7) == [0xE0, 0, 0, 0, 14, 0, 1])
        #expect(try self.decode(frame) == ["error \([0, 1] + Array("no such blob".utf8))"])
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var state: UInt64 = 42
        for _ in 0..<2000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let count = Int(state >> 58)
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: state >> UInt64($0 % 56)) }
            _ = try? self.decode(bytes, in: Int(state >> 60) + 1, limit: 32)
        }
    }
}
