import Benchmark
import Crypto
import Foundation
import HyperMeshCore
import TrustChain

func temporaryCA() throws -> (CertificateAuthority, URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trustchain-bench-\(UUID().uuidString)")
    return (try CertificateAuthority.initialize(in: directory, name: "Bench"), directory)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .throughput], maxDuration: .seconds(30), maxIterations: 5)

    // Compare with Benchmarks/peers/python_cryptography_issue.py, run in the same session (make benchmarks-trustchain).
    Benchmark("Issue 10,000 P-256 leaves (key generation, signing, DER and PEM)") { benchmark in
        let (ca, directory) = try temporaryCA()
        defer { try? FileManager.default.removeItem(at: directory) }
        let request = IssuanceRequest(commonName: "node", dnsNames: ["node.mesh"], ipAddresses: ["127.0.0.1"], duration: .hours(24))
        benchmark.startMeasurement()
        for _ in 0..<10_000 {
            blackHole(try ca.makeCertificate(request))
        }
        benchmark.stopMeasurement()
    }

    // The floor under issuance: the curve operations alone.
    Benchmark("10,000 P-256 key generations and signatures (swift-crypto)") { benchmark in
        let issuer = P256.Signing.PrivateKey()
        let message = [UInt8](repeating: 7, count: 400)
        benchmark.startMeasurement()
        for _ in 0..<10_000 {
            let key = P256.Signing.PrivateKey()
            blackHole(key.publicKey)
            blackHole(try issuer.signature(for: message))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("10,000 P-256 key generations (swift-crypto)") { benchmark in
        for _ in 0..<10_000 { blackHole(P256.Signing.PrivateKey()) }
    }

    Benchmark("10,000 P-256 keys from random scalars (swift-crypto rawRepresentation)") { benchmark in
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            let raw = (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } }
            blackHole(try? P256.Signing.PrivateKey(rawRepresentation: raw))
        }
    }

    Benchmark("10,000 P-256 signatures (swift-crypto)") { benchmark in
        let issuer = P256.Signing.PrivateKey()
        let message = [UInt8](repeating: 7, count: 400)
        for _ in 0..<10_000 { blackHole(try issuer.signature(for: message)) }
    }

    Benchmark("10,000 P-256 key PEM encodings (swift-crypto)") { benchmark in
        let key = P256.Signing.PrivateKey()
        for _ in 0..<10_000 { blackHole(key.pemRepresentation) }
    }

    Benchmark("Issue and record 1,000 P-256 leaves (registry and transparency log)") { benchmark in
        let (ca, directory) = try temporaryCA()
        defer { try? FileManager.default.removeItem(at: directory) }
        let request = IssuanceRequest(commonName: "node", dnsNames: ["node.mesh"], duration: .hours(24))
        benchmark.startMeasurement()
        for _ in 0..<1000 { blackHole(try ca.issue(request)) }
        benchmark.stopMeasurement()
    }

    Benchmark("Sign a CRL of 10,000 entries") { benchmark in
        let (ca, directory) = try temporaryCA()
        defer { try? FileManager.default.removeItem(at: directory) }
        let now = Date()
        let entries = (0..<10_000).map { index in
            RevocationList.Entry(serialHex: String(format: "4%031x", index), revokedAt: now, reason: .keyCompromise)
        }
        benchmark.startMeasurement()
        let list = try RevocationList.build(issuer: ca.intermediate, key: ca.intermediateKey, entries: entries, thisUpdate: now,
                                            nextUpdate: now.addingTimeInterval(86400), number: 1)
        benchmark.stopMeasurement()
        precondition(list.der.count > 10_000 * 20)
    }

    Benchmark("Append 100,000 log leaves and prove one") { benchmark in
        let (ca, directory) = try temporaryCA()
        defer { try? FileManager.default.removeItem(at: directory) }
        let entries = (0..<100_000).map { (serial: String(format: "%032x", $0), entry: Array("certificate \($0)".utf8)) }
        benchmark.startMeasurement()
        try ca.log.append(entries)
        let proof = try ca.log.inclusionProof(serial: String(format: "%032x", 77_777))
        benchmark.stopMeasurement()
        precondition(MerkleTree.verifyInclusion(leafHash: proof.leafHash, index: proof.leafIndex, size: proof.treeSize,
                                                proof: proof.path, root: proof.rootHash))
    }
}

