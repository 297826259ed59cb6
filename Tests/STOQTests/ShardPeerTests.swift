import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import STOQData
import Testing
@testable import STOQ

/// Shards stored on and fetched from STOQ servers (`stoq/1` PUT, GET, WANT/HAVE), and a tree restored from
/// shards spread over two peers with one of them partly lost.
@Suite(.serialized)
struct ShardPeerTests {
    @Test func shardsGoToPeersAndATreeIsRestoredFromThem() throws {
        let work = try TemporaryDirectory(prefix: "shard-peers")
        defer { work.remove() }
        let source = work.path + "/source"
        try FileManager.default.createDirectory(atPath: source + "/d", withIntermediateDirectories: true)
        try Data(RunningServer.pseudoRandom(count: 900_000, seed: 3)).write(to: URL(fileURLWithPath: source + "/d/one.bin"))
        try Data(RunningServer.pseudoRandom(count: 123_457, seed: 4)).write(to: URL(fileURLWithPath: source + "/two.bin"))
        let shards = try ChunkStore(directory: URL(fileURLWithPath: work.path + "/shards"))
        let manifest = try StripeEncoder(code: ReedSolomon(dataShards: 4, parityShards: 2),
                                         chunker: FastCDC(minimumSize: 8 << 10, averageSize: 32 << 10, maximumSize: 128 << 10))
            .encode(source: source, shards: shards, now: .afterQuietPeriod).manifest

        let first = try RunningServer()
        let second = try RunningServer()
        defer {
            first.stop()
            second.stop()
        }
        let peers = try [first, second].map {
            try ShardPeer(address: "\($0.address)", nodeID: TestPKI.shared.serverNodeID, tls: TestPKI.shared.client)
        }
        // Shards alternate between the two peers.
        var placed: [[(id: ContentID, bytes: [UInt8])]] = [[], []]
        for (index, hex) in manifest.stripes.flatMap(\.shards).enumerated() {
            let id = ContentID(hex: hex)!
            placed[index % 2].append((id, try shards.get(id)))
        }
        for (peer, list) in zip(peers, placed) { try peer.put(list) }
        let allIDs = manifest.stripes.flatMap(\.shards).map { ContentID(hex: $0)! }
        #expect(try peers[0].held(allIDs) == Set(placed[0].map(\.id)))
        #expect(try peers[1].held(allIDs) == Set(placed[1].map(\.id)))
        #expect(try peers[0].shard(placed[1][0].id) == nil)
        #expect(try peers[1].shard(placed[1][0].id) == placed[1][0].bytes)

        // The second peer loses one shard per stripe (of its three): parity covers it.
        for stripe in manifest.stripes {
            let ids = stripe.shards.map { ContentID(hex: $0)! }.filter { id in placed[1].contains { $0.id == id } }
            try FileManager.default.removeItem(atPath: BlobDirectory(root: second.root.url.appendingPathComponent(".blobs"))
                .path(for: ids[0].digest))
        }
        try FileManager.default.removeItem(atPath: work.path + "/shards")
        let restored = work.path + "/restored"
        let outcome = try MirrorRestorer(manifest: manifest, sources: peers).restore(to: restored)
        #expect(outcome.files == 2 && outcome.shardsRebuilt > 0)
        #expect(try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/diff"), ["-r", source, restored]).status == 0)
    }

    @Test func aPlacerSendsStripesToPeersWhileTheyAreMadeAndSurvivesADeadPeer() throws {
        let work = try TemporaryDirectory(prefix: "shard-placer")
        defer { work.remove() }
        let source = work.path + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data(RunningServer.pseudoRandom(count: 1_500_000, seed: 5)).write(to: URL(fileURLWithPath: source + "/data.bin"))
        let shards = try ChunkStore(directory: URL(fileURLWithPath: work.path + "/shards"))
        let servers = try [RunningServer(), RunningServer()]
        defer { for server in servers { server.stop() } }
        var peers = try servers.map { try ShardPeer(address: "\($0.address)", nodeID: TestPKI.shared.serverNodeID, tls: TestPKI.shared.client) }
        // A third peer where nothing listens: it fails, the others are not held up.
        peers.append(try ShardPeer(address: "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))", nodeID: nil,
                                   tls: TestPKI.shared.client))
        let placer = ShardPlacer(peers: peers, shards: shards)
        let manifest = try StripeEncoder(code: ReedSolomon(dataShards: 4, parityShards: 2),
                                         chunker: FastCDC(minimumSize: 8 << 10, averageSize: 32 << 10, maximumSize: 128 << 10))
            .encode(source: source, shards: shards, now: .afterQuietPeriod, onStripe: placer.place).manifest
        let (placed, failed) = placer.finish()
        #expect(failed.keys.sorted() == [peers[2].name])
        let all = manifest.stripes.flatMap(\.shards).compactMap(ContentID.init(hex:))
        // Round-robin over three peers: each stripe's six shards go two to each. (Both test servers present the
        // same certificate, so they share a name in `placed`.)
        let held = try peers.prefix(2).map { try $0.held(all) }
        #expect(held.allSatisfy { $0.count == all.count / 3 }, "\(held.map(\.count)) of \(all.count)")
        #expect(held[0].isDisjoint(with: held[1]) && held[0].union(held[1]) == placed[peers[0].name])
        #expect(placed[peers[2].name]?.isEmpty ?? true)
        for peer in peers { peer.close() }
    }

    /// An agent's shard traffic leaves from its own STOQ server's socket: PUT, WANT and GET through a peer dialled that way.
    @Test func shardsGoToAPeerFromTheNodesOwnServerSocket() throws {
        let node = try RunningServer(), holder = try RunningServer()
        defer { node.stop(); holder.stop() }
        let peer = try ShardPeer(address: "\(holder.address)", nodeID: TestPKI.shared.serverNodeID, tls: TestPKI.shared.client,
                                 dialFrom: node.server)
        defer { peer.close() }
        let shards = (0..<20).map { RunningServer.pseudoRandom(count: 50_000 + $0, seed: UInt64($0 + 1)) }
        let ids = shards.map { ContentID(of: $0) }
        try peer.put(Array(zip(ids, shards)))
        #expect(try peer.held(ids) == Set(ids))
        #expect(peer.shards(ids).mapValues { $0 } == Dictionary(uniqueKeysWithValues: zip(ids, shards)))
        #expect(node.server.statistics.connectionsDialled == 1, "the connection did not leave from the node's socket")
    }

    @Test func wantAnswersWithABitmapAndMalformedWantsAreRefused() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let connection = try server.connect()
        defer { connection.close() }
        let bytes = Array("shard".utf8)
        let id = ContentID(of: bytes)
        try connection.perform(STOQRequest(.putBlob(id: id.digest, contents: .bytes(bytes))))
        let sink = MemorySink()
        let other = ContentID(of: Array("other".utf8))
        try connection.perform(STOQRequest(.want(ids: [other.digest, id.digest, other.digest]), sink: sink))
        #expect(sink.bytes == [0b0100_0000])
        #expect(throws: STOQError.protocolViolation()) { try connection.perform(STOQRequest(.want(ids: [[1, 2, 3]]))) }
        #expect(throws: STOQError.protocolViolation()) { try connection.perform(STOQRequest(.want(ids: []))) }
        _ = try connection.ping()  // still answers (ping throws when it does not)
    }

    /// Blobs are held per node: a node releases only its own hold, the blob goes with the last one, OWNED
    /// lists exactly what a node holds, and a client without a node name can neither release nor list.
    @Test func blobsAreHeldPerNodeAndGoWhenTheLastHolderReleasesThem() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let first = try ShardPeer(address: "\(server.address)", nodeID: TestPKI.shared.serverNodeID, tls: TestPKI.shared.client)
        let second = try ShardPeer(address: "\(server.address)", nodeID: TestPKI.shared.serverNodeID, tls: TestPKI.shared.secondClient)
        defer {
            first.close()
            second.close()
        }
        let shared = (0..<3).map { Array("shared \($0)".utf8) }
        let own = (0..<200).map { RunningServer.pseudoRandom(count: 100 + $0, seed: UInt64($0)) }
        let sharedIDs = shared.map { ContentID(of: $0) }
        let ownIDs = own.map { ContentID(of: $0) }
        try first.put(zip(sharedIDs + ownIDs, shared + own).map { ($0, $1) })
        try second.put(zip(sharedIDs, shared).map { ($0, $1) })
        #expect(try first.owned() == Set(sharedIDs + ownIDs))
        #expect(try second.owned() == Set(sharedIDs))

        // The second node lets the shared blobs go: the first still holds them, so they stay.
        let stranger = ContentID(of: Array("never stored".utf8))
        #expect(try second.release(sharedIDs + [stranger]) == Set(sharedIDs))
        #expect(try second.owned().isEmpty)
        #expect(try first.held(sharedIDs) == Set(sharedIDs))
        #expect(try second.release(sharedIDs).isEmpty)

        // The first lets everything go (two RELEASE lists): the blobs are deleted.
        #expect(try first.release(sharedIDs + ownIDs) == Set(sharedIDs + ownIDs))
        #expect(try first.held(sharedIDs + ownIDs).isEmpty)
        #expect(try first.owned().isEmpty)
        let blobs = BlobDirectory(root: server.root.url.appendingPathComponent(".blobs"))
        #expect(!FileManager.default.fileExists(atPath: blobs.path(for: ownIDs[0].digest)))

        // A new copy of a blob (stored again over an older one) keeps every holder's hold on it.
        try first.put([(sharedIDs[0], shared[0])])
        try second.put([(sharedIDs[0], shared[0])])
        try first.put([(sharedIDs[0], shared[0])])
        #expect(try second.release([sharedIDs[0]]) == [sharedIDs[0]])
        #expect(try first.held([sharedIDs[0]]) == [sharedIDs[0]])
        #expect(try first.release([sharedIDs[0]]) == [sharedIDs[0]])
        #expect(try first.held([sharedIDs[0]]).isEmpty)

        // No node name: blobs it stores are held by nobody, and it may not release or list.
        let anonymous = try server.connect(tls: TestPKI.shared.anonymousClient)
        defer { anonymous.close() }
        try anonymous.perform(STOQRequest(.putBlob(id: sharedIDs[1].digest, contents: .bytes(shared[1]))))
        #expect(throws: STOQError.protocolViolation()) { try anonymous.perform(STOQRequest(.release(ids: [sharedIDs[1].digest]))) }
        #expect(throws: STOQError.protocolViolation()) { try anonymous.perform(STOQRequest(.owned, sink: MemorySink())) }
        #expect(try first.release([sharedIDs[1]]).isEmpty)
        #expect(try first.held([sharedIDs[1]]) == [sharedIDs[1]])

        // Malformed releases are refused; the connection goes on.
        let connection = try server.connect()
        defer { connection.close() }
        #expect(throws: STOQError.protocolViolation()) { try connection.perform(STOQRequest(.release(ids: [[1, 2, 3]]))) }
        #expect(throws: STOQError.protocolViolation()) { try connection.perform(STOQRequest(.release(ids: []))) }
        #expect(throws: STOQError.protocolViolation()) {
            try connection.perform(STOQRequest(.release(ids: Array(repeating: sharedIDs[1].digest, count: 129))))
        }
        _ = try connection.ping()  // still answers (ping throws when it does not)
    }

    /// The owner's side: what it holds on a peer and the peer should not keep is given up — at once when a
    /// kept version uses it (but no policy allowing that peer does), after the grace period when no kept
    /// version uses it (an encode may be writing its manifest); a peer that cannot be reached is reported,
    /// not waited for.
    @Test func unwantedShardsAreGivenUpOnPeers() throws {
        let work = try TemporaryDirectory(prefix: "shard-collect")
        defer { work.remove() }
        let server = try RunningServer()
        defer { server.stop() }
        let shards = try ChunkStore(directory: URL(fileURLWithPath: work.path + "/shards"))
        let start = Date()
        let bytes = (0..<8).map { RunningServer.pseudoRandom(count: 1000 + $0, seed: UInt64(40 + $0)) }
        let ids = try bytes.enumerated().map { index, shard in
            try shards.put(shard, now: index < 4 ? start : start.addingTimeInterval(3000))
        }
        let peer = try ShardPeer(address: "\(server.address)", nodeID: TestPKI.shared.serverNodeID, tls: TestPKI.shared.client)
        defer { peer.close() }
        try peer.put(zip(ids, bytes).map { ($0, $1) })
        let dead = try ShardPeer(address: "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))", nodeID: nil,
                                 tls: TestPKI.shared.client)
        // 0 and 1: kept on this peer. 2 and 3: no version uses them, stored long ago. 4 and 5: no version uses
        // them, stored 50 minutes later. 6 and 7: live, stored late too, but no policy allowing this peer keeps them.
        let live = Set(ids[0..<2] + ids[6...])
        let keep = Set(ids[0..<2])
        let outcomes = PeerShardCollector.collect([.init(peer: peer, keep: keep), .init(peer: dead, keep: [])], live: live,
                                                  shards: shards, grace: .hours(1), now: start.addingTimeInterval(3600 + 60))
        #expect(outcomes.map(\.released) == [4, 0])
        #expect(outcomes[0].error == nil && outcomes[1].error != nil)
        #expect(try peer.held(ids) == Set(ids[0..<2] + ids[4..<6]))
        #expect(try peer.owned() == Set(ids[0..<2] + ids[4..<6]))
        // Once those are old too, they go.
        let later = PeerShardCollector.collect([.init(peer: peer, keep: keep)], live: live, shards: shards, grace: .hours(1),
                                               now: start.addingTimeInterval(3000 + 3600 + 60))
        #expect(later.map(\.released) == [2])
        #expect(try peer.held(ids) == keep)
    }

    /// Holder names must be safe directory names; stray files among the holds are not taken for ids.
    @Test func holderNamesAreCheckedAndStrayFilesIgnored() throws {
        #expect(BlobDirectory.isValidOwner(TestPKI.shared.clientNodeID))
        for bad in ["", "..", "a/b", "node id", String(repeating: "a", count: 129), "nöde"] {
            #expect(!BlobDirectory.isValidOwner(bad), "\(bad)")
        }
        let id = ContentID(of: Array("x".utf8))
        #expect(BlobDirectory.id(hex: id.description) == id.digest)
        for bad in ["", String(id.description.dropLast()), id.description.uppercased(), String(repeating: "g", count: 64)] {
            #expect(BlobDirectory.id(hex: bad) == nil, "\(bad)")
        }
        let root = try TemporaryDirectory(prefix: "blob-holds")
        defer { root.remove() }
        let blobs = BlobDirectory(root: root.url)
        let writer = try blobs.beginWrite(id: id.digest, size: 1, owner: "node")
        try [UInt8]("x".utf8).withUnsafeBytes { try writer.append($0) }
        try writer.commit()
        let hold = blobs.holdingPath(for: id.digest, owner: "node")
        let fanOut = (hold as NSString).deletingLastPathComponent
        try Data().write(to: URL(fileURLWithPath: fanOut + "/not-an-id"))
        try Data().write(to: URL(fileURLWithPath: fanOut + "/" + String(repeating: "0", count: 64)))  // in the wrong fan-out folder
        #expect(blobs.held(by: "node") == [id.digest])
        #expect(blobs.held(by: "nobody").isEmpty)
        #expect(try blobs.release(id.digest, owner: "node"))
        #expect(!FileManager.default.fileExists(atPath: blobs.path(for: id.digest)))
        #expect(try !blobs.release(id.digest, owner: "node"))
    }
}
