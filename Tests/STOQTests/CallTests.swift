import Foundation
import Synchronization
import Testing
@testable import STOQ

/// `stoq/1` CALL: application bytes answered by the server's handler, with the caller's node id and address;
/// every way a call can be wrong gets an error frame, and the connection lives on.
@Suite(.serialized)
struct CallTests {
    final class Callers: Sendable {
        let seen = Mutex<[STOQCaller]>([])
    }

    @Test func aCallIsAnsweredByTheHandlerWithTheCallersIdentity() throws {
        let callers = Callers()
        let server = try RunningServer { configuration in
            configuration.maximumCallBytes = 1 << 20
            configuration.callHandler = { request, caller in
                callers.seen.withLock { $0.append(caller) }
                return Array(request.reversed()) + Array("!".utf8)
            }
        }
        defer { server.stop() }
        let connection = try server.connect()
        defer { connection.close() }
        let large = RunningServer.pseudoRandom(count: 600_000, seed: 3)
        for request in [[1, 2, 3], [], large] as [[UInt8]] {
            let sink = MemorySink()
            let received = try connection.perform(STOQRequest(.call(request), sink: sink))
            #expect(sink.bytes == Array(request.reversed()) + Array("!".utf8))
            #expect(received == request.count + 1)
        }
        let seen = callers.seen.withLock { $0 }
        #expect(seen.count == 3 && seen.allSatisfy { $0.nodeID == TestPKI.shared.clientNodeID && $0.address.host == "127.0.0.1" })

        // Over the limit: refused before the handler sees it; the connection still works.
        let tooLarge = try connection.perform([STOQRequest(.call([UInt8](repeating: 1, count: (1 << 20) + 1)), sink: MemorySink())])
        #expect(tooLarge[0].error?.message.contains("at most 1048576 accepted") == true)
        #expect(callers.seen.withLock { $0.count } == 3)
        _ = try connection.ping()  // still answers (ping throws when it does not)
    }

    @Test func callsThatAreWrongGetAnErrorFrame() throws {
        let without = try RunningServer()
        defer { without.stop() }
        let plain = try without.connect()
        defer { plain.close() }
        #expect(throws: STOQError.protocolViolation()) { try plain.perform(STOQRequest(.call([1]), sink: MemorySink())) }

        let server = try RunningServer { $0.callHandler = { request, _ in request } }
        defer { server.stop() }
        let connection = try server.connect()
        defer { connection.close() }
        let cases: [(bytes: [UInt8], reason: String)] = [
            (Frame.encode(.call, payload: [0, 0, 0]), "8-byte size"),                                   // short size
            (Frame.encode(.call, payload: Frame.bigEndian(4)) + Frame.encode(.data, payload: [1, 2]), "ended after 2 of 4"),
            (Frame.encode(.call, payload: Frame.bigEndian(1)) + Frame.encode(.data, payload: [1, 2]), "more than the announced"),
            (Frame.encode(.call, payload: Frame.bigEndian(1)) + Frame.encode(.ping), "unexpected ping frame"),
        ]
        for (bytes, reason) in cases {
            let frames = try RobustnessTests().exchange(bytes, on: connection)
            let last = try #require(frames.last)
            #expect(last.0 == .error && String(decoding: last.1.dropFirst(2), as: UTF8.self).contains(reason), "\(reason): \(frames)")
        }
        _ = try connection.ping()  // still answers (ping throws when it does not)
    }
}
