import Foundation
import STOQ
import TrustChain

/// What the transport benchmarks set up alike: a throwaway CA with one certificate for both ends of a
/// loopback connection, and large files of pseudo-random bytes.
public enum BenchmarkLab {
    /// A CA in `directory/ca` and a certificate for `127.0.0.1`/`localhost` in `directory/tls`, usable by a
    /// STOQ server and its clients alike; with `nodeID`, it names that node (`hm://NODE-ID`), as an agent's does.
    public static func tls(in directory: URL, nodeID: String? = nil) throws -> TLSConfiguration {
        try self.tls(in: directory, nodeIDs: [nodeID])[0]
    }

    /// One CA in `directory/ca` and a certificate per entry of `nodeIDs` in `directory/tls-INDEX` (naming the
    /// node where the entry is not `nil`).
    public static func tls(in directory: URL, nodeIDs: [String?]) throws -> [TLSConfiguration] {
        let ca = try CertificateAuthority.initialize(in: directory.appendingPathComponent("ca"), name: "bench")
        return try nodeIDs.enumerated().map { index, nodeID in
            let tlsDirectory = directory.appendingPathComponent(index == 0 ? "tls" : "tls-\(index)")
            _ = try ca.issue(IssuanceRequest(commonName: "bench", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"],
                                             uris: nodeID.map { ["hm://\($0)"] } ?? [], usage: .both, duration: .hours(2),
                                             keyAlgorithm: .p256), writingTo: tlsDirectory)
            return TLSConfiguration(certificateChainPath: tlsDirectory.appendingPathComponent("chain.pem").path,
                                    privateKeyPath: tlsDirectory.appendingPathComponent("key.pem").path,
                                    trustedRootsPath: directory.appendingPathComponent("ca/root.pem").path)
        }
    }
}

/// Pseudo-random bytes (xorshift64), written a MiB at a time: incompressible, and the same every run.
public struct PseudoRandomBytes {
    private var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    private var block = [UInt8](repeating: 0, count: 1 << 20)

    public init() {}

    /// Writes `bytes` (a whole number of MiB) to a new file at `path`; the stream goes on in the next file.
    public mutating func writeFile(_ path: String, bytes: Int) throws {
        precondition(bytes % (1 << 20) == 0, "whole MiB only")
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        for _ in 0..<(bytes >> 20) {
            self.block.withUnsafeMutableBytes { raw in
                for index in raw.bindMemory(to: UInt64.self).indices {
                    self.state ^= self.state << 13; self.state ^= self.state >> 7; self.state ^= self.state << 17
                    raw.storeBytes(of: self.state, toByteOffset: index * 8, as: UInt64.self)
                }
            }
            try handle.write(contentsOf: self.block)
        }
    }
}
