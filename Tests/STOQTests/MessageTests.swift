import Foundation
import Synchronization
import Testing
@testable import STOQ

/// `stoq/1` MESSAGE: application bytes handed to the server's handler with the sender's node id.
@Suite(.serialized)
struct MessageTests {
    final class Inbox: Sendable {
        let received = Mutex<[(bytes: [UInt8], peer: String?)]>([])
    }

    @Test func messagesReachTheHandlerWithTheSendersNodeID() throws {
        let inbox = Inbox()
        let server = try RunningServer { configuration in
            configuration.maximumMessageBytes = 4 << 20
            configuration.messageHandler = { bytes, peer in inbox.received.withLock { $0.append((bytes, peer)) } }
        }
        defer { server.stop() }
        let connection = try server.connect()
        defer { connection.close() }
        let large = RunningServer.pseudoRandom(count: 3 << 20, seed: 5)
        let responses = try connection.perform([STOQRequest(.message([1, 2, 3])), STOQRequest(.message([])),
                                                STOQRequest(.message(large))])
        #expect(responses.map(\.error) == [nil, nil, nil])
        let received = inbox.received.withLock { $0 }
        #expect(received.map(\.bytes.count).sorted() == [0, 3, 3 << 20])
        #expect(received.first { $0.bytes.count == 3 << 20 }?.bytes == large)
        #expect(received.allSatisfy { $0.peer == TestPKI.shared.clientNodeID })

        // Over the limit: refused with an error frame, nothing delivered; the connection still works.
        let tooLarge = try connection.perform([STOQRequest(.message([UInt8](repeating: 7, count: (4 << 20) + 1)))])
        #expect(tooLarge[0].error?.message.contains("at most 4194304 accepted") == true)
        #expect(inbox.received.withLock { $0.count } == 3)
        #expect(try connection.perform(STOQRequest(.message([9]))) == 1)
    }

    /// The server gives a client one more stream for every stream that closes: a long-lived connection (a
    /// validator's link, a restore fetching thousands of shards) is not capped at the initial limit.
    @Test func aConnectionCarriesMoreRequestsThanTheInitialStreamLimit() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let connection = try server.connect()
        defer { connection.close() }
        for index in 0..<(3 * Int(TransportTuning().maximumBidirectionalStreams) + 7) {
            #expect(try connection.perform(STOQRequest(.ping([UInt8(index & 0xFF)])), timeout: .seconds(5)) == 1)
        }
        let batch = try connection.perform((0..<200).map { STOQRequest(.ping([UInt8($0)])) }, timeout: .seconds(10))
        #expect(batch.allSatisfy { $0.error == nil })
    }

    @Test func aServerWithoutAHandlerRefusesMessages() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let connection = try server.connect()
        defer { connection.close() }
        #expect(throws: STOQError.protocolViolation()) { try connection.perform(STOQRequest(.message([1]))) }
        _ = try connection.ping()  // still answers (ping throws when it does not)
    }
}
