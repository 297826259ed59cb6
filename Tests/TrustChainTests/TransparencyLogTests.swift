import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
import TrustChain

/// The log's proofs, checked by the module and by an independent Python RFC 9162 verifier.
struct TransparencyLogTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.hexString }

    /// An in-memory tree of `count` leaves with perfect subtrees built the obvious way.
    struct MemoryTree {
        var levels: [[MerkleTree.Hash]]

        init(count: Int) {
            var level = (0..<count).map { MerkleTree.leafHash(Array("leaf \($0)".utf8)) }
            self.levels = [level]
            while level.count > 1 {
                level = stride(from: 0, to: level.count - 1, by: 2).map { MerkleTree.nodeHash(level[$0], level[$0 + 1]) }
                self.levels.append(level)
            }
        }

        var source: MerkleTree.SubtreeSource { { level, index in self.levels[level][index] } }
    }

    @Test func everyProofUpToSixtyFourLeavesVerifiesHereAndInPython() throws {
        let tree = MemoryTree(count: 64)
        var inclusion: [JSONValue] = []
        var consistency: [JSONValue] = []
        var roots: [MerkleTree.Hash] = [MerkleTree.emptyRoot]
        for size in 1...64 {
            let root = try MerkleTree.rootHash(count: size, source: tree.source)
            roots.append(root)
            for index in 0..<size {
                let path = try MerkleTree.inclusionProof(index: index, size: size, source: tree.source)
                let leaf = tree.levels[0][index]
                #expect(MerkleTree.verifyInclusion(leafHash: leaf, index: index, size: size, proof: path, root: root))
                inclusion.append(["index": .integer(Int64(index)), "size": .integer(Int64(size)), "leaf": .string(Self.hex(leaf)),
                                  "path": .array(path.map { .string(Self.hex($0)) }), "root": .string(Self.hex(root))])
            }
        }
        for old in 1...64 {
            for new in old...64 {
                let proof = try MerkleTree.consistencyProof(oldSize: old, newSize: new, source: tree.source)
                #expect(MerkleTree.verifyConsistency(oldSize: old, oldRoot: roots[old], newSize: new, newRoot: roots[new], proof: proof))
                consistency.append(["old": .integer(Int64(old)), "new": .integer(Int64(new)), "old_root": .string(Self.hex(roots[old])),
                                    "new_root": .string(Self.hex(roots[new])), "proof": .array(proof.map { .string(Self.hex($0)) })])
            }
        }
        let request: JSONValue = ["leaves": .array(tree.levels[0].map { .string(Self.hex($0)) }),
                                  "inclusion": .array(inclusion), "consistency": .array(consistency)]
        let script = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/rfc9162_verify.py")
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script.path], standardInput: request.canonicalJSON)
        try #require(result.status == 0, "\(result.standardError)")
        let verdicts = try JSONValue(parsingJSON: result.standardOutput)
        #expect(verdicts["inclusion"]?.arrayValue?.count == inclusion.count)
        #expect(verdicts["inclusion"]?.arrayValue?.allSatisfy { $0 == true } == true)
        #expect(verdicts["consistency"]?.arrayValue?.count == consistency.count)
        #expect(verdicts["consistency"]?.arrayValue?.allSatisfy { $0 == true } == true)
        #expect(verdicts["roots"]?.arrayValue == roots.map { .string(Self.hex($0)) })
    }

    @Test func tamperedLeavesAndProofsFail() throws {
        let tree = MemoryTree(count: 13)
        let root = try MerkleTree.rootHash(count: 13, source: tree.source)
        let path = try MerkleTree.inclusionProof(index: 5, size: 13, source: tree.source)
        let tampered = MerkleTree.leafHash(Array("leaf 5!".utf8))
        #expect(!MerkleTree.verifyInclusion(leafHash: tampered, index: 5, size: 13, proof: path, root: root))
        #expect(!MerkleTree.verifyInclusion(leafHash: tree.levels[0][5], index: 6, size: 13, proof: path, root: root))
        #expect(!MerkleTree.verifyInclusion(leafHash: tree.levels[0][5], index: 5, size: 13, proof: path.dropLast(), root: root))
        #expect(!MerkleTree.verifyInclusion(leafHash: tree.levels[0][5], index: 13, size: 13, proof: path, root: root))
        var flipped = path
        flipped[0][0] ^= 1
        #expect(!MerkleTree.verifyInclusion(leafHash: tree.levels[0][5], index: 5, size: 13, proof: flipped, root: root))
        let old = try MerkleTree.rootHash(count: 6, source: tree.source)
        let proof = try MerkleTree.consistencyProof(oldSize: 6, newSize: 13, source: tree.source)
        #expect(MerkleTree.verifyConsistency(oldSize: 6, oldRoot: old, newSize: 13, newRoot: root, proof: proof))
        #expect(!MerkleTree.verifyConsistency(oldSize: 6, oldRoot: tampered, newSize: 13, newRoot: root, proof: proof))
        #expect(!MerkleTree.verifyConsistency(oldSize: 7, oldRoot: old, newSize: 13, newRoot: root, proof: proof))
        #expect(!MerkleTree.verifyConsistency(oldSize: 0, oldRoot: old, newSize: 13, newRoot: root, proof: proof))
        #expect(MerkleTree.verifyConsistency(oldSize: 13, oldRoot: root, newSize: 13, newRoot: root, proof: []))
    }

    @Test func issuedCertificatesAreLoggedWithProofsAndSignedHeads() async throws {
        let directory = try TemporaryDirectory(prefix: "trustchain-log")
        defer { directory.remove() }
        let ca = try CertificateAuthority.initialize(in: directory.url.appendingPathComponent("ca"), name: "Log")
        var serials: [String] = []
        var heads: [(Int, MerkleTree.Hash)] = []
        for index in 0..<20 {
            serials.append(try ca.issue(IssuanceRequest(commonName: "n\(index)")).serial)
            heads.append(try ca.log.rootHash())
        }
        #expect(try ca.log.size() == 20)
        for serial in serials {
            let proof = try ca.log.inclusionProof(serial: serial)
            #expect(MerkleTree.verifyInclusion(leafHash: proof.leafHash, index: proof.leafIndex, size: proof.treeSize,
                                               proof: proof.path, root: proof.rootHash))
        }
        for (oldSize, oldRoot) in heads {
            let proof = try ca.log.consistencyProof(oldSize: oldSize, newSize: 20)
            #expect(MerkleTree.verifyConsistency(oldSize: oldSize, oldRoot: oldRoot, newSize: 20, newRoot: heads.last!.1, proof: proof))
        }
        #expect(throws: HyperMeshError.notFound()) { try ca.log.inclusionProof(serial: "abcd") }
        #expect(throws: HyperMeshError.invalidArgument()) { try ca.log.consistencyProof(oldSize: 5, newSize: 21) }
        #expect(throws: HyperMeshError.invalidArgument()) { try ca.log.rootHash(size: 99) }

        // The signed tree head verifies with openssl against the intermediate's public key.
        let head = try ca.signedTreeHead()
        #expect(head.treeSize == 20 && head.rootHash == heads.last!.1)
        try Data(head.signedBytes).write(to: directory.url.appendingPathComponent("sth.bin"))
        try Data(head.signature).write(to: directory.url.appendingPathComponent("sth.sig"))
        let publicKey = try OpenSSL.run(["x509", "-in", ca.directory.path + "/intermediate.pem", "-noout", "-pubkey"]).standardOutput
        try publicKey.write(to: directory.url.appendingPathComponent("pub.pem"), atomically: true, encoding: .utf8)
        let verify = try OpenSSL.run(["dgst", "-sha256", "-verify", directory.path + "/pub.pem", "-signature", directory.path + "/sth.sig",
                                      directory.path + "/sth.bin"])
        #expect(verify.standardOutput == "Verified OK\n")
    }
}
