import Foundation
import HyperMeshTestSupport
import Logging
import Testing
@testable import STOQ

/// One UDP socket per node: a server's socket also carries the connections it dials, told apart by connection ID.
@Suite(.serialized)
struct SharedSocketTests {
    static func client(expecting node: String? = nil) throws -> STOQClient {
        var configuration = STOQClient.Configuration(tls: TestPKI.shared.client)
        configuration.expectedPeerNodeID = node
        var logger = Logger(label: "stoq.test.client")
        logger.logLevel = .critical
        return try STOQClient(configuration: configuration, logger: logger)
    }

    /// The local UDP ports of every socket in this process's /proc/net/udp entries that listen on `port`.
    static func socketsBound(toPort port: UInt16) throws -> Int {
        let table = try String(contentsOfFile: "/proc/net/udp", encoding: .utf8)
            + ((try? String(contentsOfFile: "/proc/net/udp6", encoding: .utf8)) ?? "")
        let hex = String(format: "%04X", port)
        return table.split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count > 1 && fields[1].hasSuffix(":" + hex)
        }.count
    }

    @Test func aServerDialsThreePeersAndAcceptsThreeClientsOnItsOneSocket() throws {
        let node = try RunningServer()
        defer { node.stop() }
        let peers = try (0..<3).map { _ in try RunningServer() }
        defer { for peer in peers { peer.stop() } }
        for (index, peer) in peers.enumerated() { try peer.addFile("peer.bin", count: 300_000, seed: UInt64(index + 1)) }

        // Three connections out of the node's socket: each gets its peer's bytes, and leaves from the node's port.
        let dialled = try peers.map { try Self.client().connect(to: $0.address, from: node.server, timeout: .seconds(10)) }
        for (index, connection) in dialled.enumerated() {
            #expect(connection.sharesServerSocket && connection.localAddress == node.address)
            let sink = MemorySink()
            try connection.perform(STOQRequest(.fetch(path: "peer.bin"), sink: sink))
            #expect(sink.bytes == RunningServer.pseudoRandom(count: 300_000, seed: UInt64(index + 1)))
        }
        // Three clients in: the node serves them on the same socket meanwhile.
        try node.addFile("node.bin", count: 200_000, seed: 9)
        let accepted = try (0..<3).map { _ in try node.connect() }
        for connection in accepted {
            let sink = MemorySink()
            try connection.perform(STOQRequest(.fetch(path: "node.bin"), sink: sink))
            #expect(sink.bytes == RunningServer.pseudoRandom(count: 200_000, seed: 9))
        }
        // Both directions at once, on every connection.
        for connection in dialled + accepted { _ = try connection.ping() }
        #expect(try Self.socketsBound(toPort: node.address.port) == 1, "one UDP socket on the node's port")
        #expect(node.server.statistics.connectionsDialled == 3)
        for connection in dialled { connection.close() }
        #expect(eventually(timeout: 10, every: 0.02) { node.server.statistics.dialledConnectionsClosed == 3 }, "closed connections not forgotten")
        #expect(throws: STOQError.self) { _ = try dialled[0].ping() }
        // The node still serves.
        _ = try node.connect().ping()
    }

    @Test func twoNodesDiallingEachOtherFromTheirListeningPortsKeepTheirConnectionsApart() throws {
        let a = try RunningServer(), b = try RunningServer()
        defer { a.stop(); b.stop() }
        try a.addFile("a.bin", count: 100_000, seed: 1)
        try b.addFile("b.bin", count: 100_000, seed: 2)
        // Same 5-tuple for both connections (a's port to b's port): only the connection IDs tell them apart.
        let aToB = try Self.client().connect(to: b.address, from: a.server)
        let bToA = try Self.client().connect(to: a.address, from: b.server)
        let fromB = MemorySink(), fromA = MemorySink()
        try aToB.perform(STOQRequest(.fetch(path: "b.bin"), sink: fromB))
        try bToA.perform(STOQRequest(.fetch(path: "a.bin"), sink: fromA))
        #expect(fromB.bytes == RunningServer.pseudoRandom(count: 100_000, seed: 2))
        #expect(fromA.bytes == RunningServer.pseudoRandom(count: 100_000, seed: 1))
    }

    @Test func aDialledConnectionChecksThePeersNodeAndReleasesItsRoutesWhenItGoes() throws {
        let node = try RunningServer(), peer = try RunningServer()
        defer { node.stop(); peer.stop() }
        #expect(throws: STOQError.handshakeRefused()) {
            _ = try Self.client(expecting: String(repeating: "0", count: 64)).connect(to: peer.address, from: node.server)
        }
        do {
            let connection = try Self.client().connect(to: peer.address, from: node.server)
            _ = try connection.ping()
        }
        // The refused one and the dropped one: both closed and forgotten by the loop that drove them.
        #expect(eventually(timeout: 10, every: 0.02) { node.server.statistics.dialledConnectionsClosed == 2 }, "\(node.server.statistics)")
        // A stopped server's socket dials nothing.
        let stopped = try RunningServer()
        stopped.stop()
        #expect(throws: STOQError.self) { _ = try Self.client().connect(to: peer.address, from: stopped.server, timeout: .seconds(2)) }
        let v6 = try SocketAddress(host: "::1", port: 9)
        #expect(throws: STOQError.invalidAddress()) { _ = try Self.client().connect(to: v6, from: node.server) }
    }
}
