import Foundation
import HyperMeshTestSupport
import Testing
@testable import STOQ

@Suite(.serialized)
struct TransferTests {
    @Test(arguments: [0, 1, 1 << 20, 256 << 20])
    func fetchedFilesAreByteIdentical(size: Int) throws {
        let server = try RunningServer()
        defer { server.stop() }
        try Self.writeLargeFile(server.root.url.appendingPathComponent("file.bin").path, count: size)
        let connection = try server.connect()
        defer { connection.close() }
        let output = server.root.url.appendingPathComponent("out.bin").path
        let received = try connection.perform(STOQRequest(.fetch(path: "file.bin"), sink: try FileSink(path: output)))
        #expect(received == size)
        #expect(try BlobDirectory.contentID(ofFile: output)
            == BlobDirectory.contentID(ofFile: server.root.url.appendingPathComponent("file.bin").path))
    }

    @Test func thirtyTwoConcurrentStreamsOnOneConnectionAllComplete() throws {
        let server = try RunningServer()
        defer { server.stop() }
        var expected: [[UInt8]] = []
        for index in 0..<32 {
            expected.append(try server.addFile("f\(index)", count: 1000 + index * 37_000, seed: UInt64(index + 1)))
        }
        let connection = try server.connect()
        defer { connection.close() }
        let sinks = (0..<32).map { _ in MemorySink() }
        let responses = try connection.perform((0..<32).map { STOQRequest(.fetch(path: "f\($0)"), sink: sinks[$0]) })
        #expect(responses.allSatisfy { $0.error == nil })
        for index in 0..<32 { #expect(sinks[index].bytes == expected[index]) }
    }

    @Test func interopALPNServesTheSameFilesAndResetsMissingOnes() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let bytes = try server.addFile("dir/a.bin", count: 300_000)
        let connection = try server.connect(alpn: STOQDefaults.interopALPN)
        defer { connection.close() }
        #expect(connection.alpn == STOQDefaults.interopALPN)
        let sink = MemorySink()
        try connection.perform(STOQRequest(.fetch(path: "/dir/a.bin"), sink: sink))
        #expect(sink.bytes == bytes)
        #expect(throws: STOQError.notFound()) { try connection.perform(STOQRequest(.fetch(path: "/missing"), sink: MemorySink())) }
        #expect(throws: STOQError.notFound()) { try connection.perform(STOQRequest(.fetch(path: "/../etc/passwd"), sink: MemorySink())) }
        #expect(throws: STOQError.notFound()) { try connection.perform(STOQRequest(.fetch(path: "/.blobs/x"), sink: MemorySink())) }
    }

    @Test func blobsArePutAndFetchedByContentID() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let connection = try server.connect()
        defer { connection.close() }
        let bytes = RunningServer.pseudoRandom(count: 3_000_000, seed: 9)
        let file = server.root.url.appendingPathComponent("upload.bin").path
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let id = try BlobDirectory.contentID(ofFile: file)
        #expect(try connection.perform(STOQRequest(.putBlob(id: id, contents: .file(path: file)))) == bytes.count)
        let sink = MemorySink()
        try connection.perform(STOQRequest(.getBlob(id: id), sink: sink))
        #expect(sink.bytes == bytes)
        // An empty blob, by bytes.
        let emptyID = try BlobDirectory.contentID(ofFile: "/dev/null")
        try connection.perform(STOQRequest(.putBlob(id: emptyID, contents: .bytes([]))))
        #expect(try connection.perform(STOQRequest(.getBlob(id: emptyID), sink: MemorySink())) == 0)
    }

    @Test func aBlobThatDoesNotHashToItsIDIsRefusedAndNotStored() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let connection = try server.connect()
        defer { connection.close() }
        let wrongID = [UInt8](repeating: 7, count: 32)
        #expect(throws: STOQError.protocolViolation()) {
            try connection.perform(STOQRequest(.putBlob(id: wrongID, contents: .bytes([1, 2, 3]))))
        }
        #expect(throws: STOQError.notFound()) { try connection.perform(STOQRequest(.getBlob(id: wrongID), sink: MemorySink())) }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: server.root.url.appendingPathComponent(".blobs/tmp").path)
        #expect(leftovers.isEmpty)
    }

    @Test func pingAnswersAndTheServerNamesItsNode() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let connection = try server.connect()
        defer { connection.close() }
        _ = try connection.ping()  // still answers (ping throws when it does not)
        #expect(connection.peerNodeID == TestPKI.shared.serverNodeID)
        #expect(connection.alpn == STOQDefaults.meshALPN)
    }

    @Test func ipv6LoopbackWorks() throws {
        let server = try RunningServer(host: "::1")
        defer { server.stop() }
        let bytes = try server.addFile("six", count: 200_000)
        let connection = try server.connect()
        defer { connection.close() }
        let sink = MemorySink()
        try connection.perform(STOQRequest(.fetch(path: "six"), sink: sink))
        #expect(sink.bytes == bytes)
    }

    @Test func newClientsGetARetryUnlessValidationIsOff() throws {
        let validating = try RunningServer()
        let connection = try validating.connect()
        connection.close()
        validating.stop()
        #expect(validating.server.statistics.retriesSent == 1)
        #expect(validating.server.statistics.connectionsAccepted == 1)

        let open = try RunningServer { $0.requireAddressValidation = false }
        let second = try open.connect()
        second.close()
        open.stop()
        #expect(open.server.statistics.retriesSent == 0)
    }

    @Test func connectionsPerAddressAreLimited() throws {
        let server = try RunningServer { $0.maximumConnectionsPerAddress = 2 }
        defer { server.stop() }
        let first = try server.connect()
        let second = try server.connect()
        #expect(throws: STOQError.self) { _ = try server.connect() }
        first.close()
        second.close()
        #expect(server.server.statistics.connectionsRefusedForLimit == 1)
    }

    @Test func aClientExpectingAnotherNodeRefusesTheServer() throws {
        let server = try RunningServer()
        defer { server.stop() }
        #expect(throws: STOQError.handshakeRefused()) {
            _ = try server.connect { $0.expectedPeerNodeID = String(repeating: "0", count: 64) }
        }
    }

    /// 1 MiB blocks of pseudo-random bytes, each stamped with its index, so every block differs.
    static func writeLargeFile(_ path: String, count: Int) throws {
        let block = RunningServer.pseudoRandom(count: min(count, 1 << 20), seed: 3)
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var written = 0
        var index: UInt64 = 0
        while written < count {
            var chunk = block
            withUnsafeBytes(of: index) { stamp in
                for offset in 0..<min(8, chunk.count) { chunk[offset] = stamp[offset] }
            }
            let length = min(chunk.count, count - written)
            try handle.write(contentsOf: chunk[0..<length])
            written += length
            index += 1
        }
    }
}

@Suite(.serialized)
struct ConnectionLifetimeTests {
    @Test func idleConnectionsAreClosedOnBothSides() throws {
        let server = try RunningServer { $0.tuning.idleTimeout = .milliseconds(300) }
        defer { server.stop() }
        try server.addFile("a", count: 10)
        let connection = try server.connect { $0.tuning.idleTimeout = .milliseconds(300) }
        try connection.perform(STOQRequest(.fetch(path: "a"), sink: MemorySink()))
        Thread.sleep(forTimeInterval: 1.2)
        #expect(server.server.statistics.connectionsClosed == 1)
        #expect(throws: STOQError.connectionClosed()) { try connection.perform(STOQRequest(.fetch(path: "a"), sink: MemorySink())) }
    }

    @Test func aClosedClientIsForgottenByTheServer() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let connection = try server.connect()
        _ = try connection.ping()
        connection.close()
        let deadline = Date().addingTimeInterval(5)
        while server.server.statistics.connectionsClosed == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        #expect(server.server.statistics.connectionsClosed == 1)
    }
}
