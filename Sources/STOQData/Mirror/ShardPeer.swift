import Foundation
import HyperMeshCore
import Logging
import STOQ

/// A peer that holds shards, reached over STOQ: shards are `stoq/1` blobs (PUT, GET), and WANT asks which
/// of a list it holds. One connection, made when first needed and again after a failure; the peer's node
/// id is checked in the handshake when given.
public final class ShardPeer: ShardSource {
    public let address: SocketAddress
    public let nodeID: String?
    private let client: STOQClient
    private var connection: STOQClientConnection?
    /// The server whose socket connections leave from (an agent's: one UDP port per node); `nil`: a socket of its own.
    private let dialFrom: STOQServer?

    public init(address: String, nodeID: String?, tls: TLSConfiguration, dialFrom: STOQServer? = nil) throws {
        self.address = try SocketAddress(parsing: address)
        self.nodeID = nodeID
        self.dialFrom = dialFrom
        var configuration = STOQClient.Configuration(tls: tls)
        configuration.expectedPeerNodeID = nodeID
        var logger = Logger(label: "hypermesh.shards")
        logger.logLevel = .critical
        self.client = try STOQClient(configuration: configuration, logger: logger)
    }

    deinit { self.close() }

    /// How status and logs name the peer: its node id, else its address.
    public var name: String { self.nodeID ?? "\(self.address)" }

    public func close() {
        self.connection?.close()
        self.connection = nil
    }

    /// When the peer last could not be reached: for a while after, calls fail at once instead of waiting
    /// for each shard's connection attempt.
    private var unreachableSince: Date?
    public static let retryAfter: TimeInterval = 30

    /// Whether the last attempt to reach the peer failed (less than ``retryAfter`` ago).
    public var isUnreachable: Bool { self.unreachableSince.map { Date().timeIntervalSince($0) < Self.retryAfter } ?? false }

    /// Runs `body` on the connection. A transport failure on a connection made earlier is retried once on a
    /// fresh one (the old one may have idled out); a failure to connect marks the peer unreachable for
    /// ``retryAfter``.
    private func withConnection<R>(_ body: (STOQClientConnection) throws -> R) throws -> R {
        if self.isUnreachable { throw STOQError.connectionClosed("\(self.address) was unreachable moments ago") }
        func isTransport(_ error: STOQError) -> Bool {
            [.connectionClosed, .timedOut, .handshakeRefused, .socket].contains(error.code)
        }
        if let connection = self.connection {
            do {
                return try body(connection)
            } catch let error as STOQError where isTransport(error) {
                self.close()
            }
        }
        do {
            self.connection = try self.client.connect(to: self.address, preferringSocketOf: self.dialFrom, timeout: .seconds(5))
            let result = try body(self.connection!)
            self.unreachableSince = nil
            return result
        } catch let error as STOQError where isTransport(error) {
            self.close()
            self.unreachableSince = Date()
            throw error
        }
    }

    /// Stores shards on the peer (concurrently, 64 streams at a time); the peer keeps a shard only when its
    /// bytes hash to its id.
    public func put(_ shards: [(id: ContentID, bytes: [UInt8])]) throws {
        try self.put(contents: shards.map { ($0.id, .bytes($0.bytes)) })
    }

    /// Stores shards given as bytes or as files (sent from a read-only mapping, not copied).
    public func put(contents shards: [(id: ContentID, contents: STOQRequest.BlobContents)]) throws {
        guard !shards.isEmpty else { return }
        try self.withConnection { connection in
            for batch in stride(from: 0, to: shards.count, by: 64) {
                let requests = shards[batch..<min(batch + 64, shards.count)].map {
                    STOQRequest(.putBlob(id: $0.id.digest, contents: $0.contents))
                }
                if let error = try connection.perform(requests, timeout: .seconds(120)).compactMap(\.error).first { throw error }
            }
        }
    }

    /// Which of `ids` the peer holds (WANT lists of up to 128 ids, 32 of them in flight at a time).
    public func held(_ ids: [ContentID]) throws -> Set<ContentID> {
        try self.marked(ids, reply: "HAVE") { .want(ids: $0) }
    }

    /// Gives up `ids` on the peer (RELEASE): it deletes each once no node holds it. Returns the ids this node
    /// held there.
    public func release(_ ids: [ContentID]) throws -> Set<ContentID> {
        try self.marked(ids, reply: "RELEASED") { .release(ids: $0) }
    }

    /// The ids of every shard this node holds on the peer (OWNED).
    public func owned() throws -> Set<ContentID> {
        let sink = MemorySink()
        try self.withConnection { connection in
            _ = try connection.perform(STOQRequest(.owned, sink: sink), timeout: .seconds(120))
        }
        guard sink.bytes.count % 32 == 0 else {
            throw STOQError.protocolViolation("OWNED of \(sink.bytes.count) bytes, not a whole number of 32-byte ids")
        }
        return Set(stride(from: 0, to: sink.bytes.count, by: 32).map { ContentID(digest: Array(sink.bytes[$0..<($0 + 32)])) })
    }

    /// Asks about `ids` in lists of up to 128 (32 lists in flight at a time) with the request `kind` makes of
    /// a list; returns the ids whose bit the replies set.
    private func marked(_ ids: [ContentID], reply: String, _ kind: ([[UInt8]]) -> STOQRequest.Kind) throws -> Set<ContentID> {
        var marked = Set<ContentID>()
        let lists = stride(from: 0, to: ids.count, by: FrameType.maximumWantedIDs).map {
            Array(ids[$0..<min($0 + FrameType.maximumWantedIDs, ids.count)])
        }
        try self.withConnection { connection in
            for group in stride(from: 0, to: lists.count, by: 32) {
                let asked = lists[group..<min(group + 32, lists.count)]
                let sinks = asked.map { _ in MemorySink() }
                let responses = try connection.perform(zip(asked, sinks).map { STOQRequest(kind($0.map(\.digest)), sink: $1) },
                                                       timeout: .seconds(30))
                if let error = responses.compactMap(\.error).first { throw error }
                for (list, sink) in zip(asked, sinks) {
                    guard sink.bytes.count == (list.count + 7) / 8 else {
                        throw STOQError.protocolViolation("\(reply) of \(sink.bytes.count) bytes for \(list.count) ids")
                    }
                    for (index, id) in list.enumerated() where sink.bytes[index / 8] & (0x80 >> UInt8(index % 8)) != 0 {
                        marked.insert(id)
                    }
                }
            }
        }
        return marked
    }

    public func holdings(_ ids: [ContentID]) -> Set<ContentID>? { try? self.held(ids) }

    /// Whether the peer answers a PING now (on the kept connection; a peer that could not be reached moments
    /// ago counts as down until ``retryAfter`` has passed).
    public func isAlive() -> Bool {
        (try? self.withConnection { try $0.ping() }) != nil
    }
    public var isRemote: Bool { true }

    /// The shards of `ids` the peer has, fetched concurrently (64 streams at a time) and checked against
    /// their ids; a copy that does not match is left out. Nothing when the peer cannot be reached.
    public func shards(_ ids: [ContentID]) -> [ContentID: [UInt8]] {
        var found: [ContentID: [UInt8]] = [:]
        for batch in stride(from: 0, to: ids.count, by: 64) {
            let asked = Array(ids[batch..<min(batch + 64, ids.count)])
            let sinks = asked.map { _ in MemorySink() }
            guard let responses = try? self.withConnection({ connection in
                try connection.perform(zip(asked, sinks).map { STOQRequest(.getBlob(id: $0.digest), sink: $1) }, timeout: .seconds(120))
            }) else { return found }
            for (index, response) in responses.enumerated() where response.error == nil && ContentID(of: sinks[index].bytes) == asked[index] {
                found[asked[index]] = sinks[index].bytes
            }
        }
        return found
    }

    /// The shard's bytes, checked against its id; `nil` when the peer does not have it.
    public func shard(_ id: ContentID) throws -> [UInt8]? {
        let sink = MemorySink()
        do {
            _ = try self.withConnection { connection in
                try connection.perform(STOQRequest(.getBlob(id: id.digest), sink: sink), timeout: .seconds(120))
            }
        } catch let error as STOQError where error.code == .notFound {
            return nil
        }
        guard ContentID(of: sink.bytes) == id else {
            throw HyperMeshError.corruptData("\(self.address) sent shard \(id) with bytes that hash to \(ContentID(of: sink.bytes))")
        }
        return sink.bytes
    }
}
