import Foundation
import STOQ

/// The node's STOQ credentials in `STATE/stoq/`: `chain.pem` and `key.pem` (its TrustChain node certificate),
/// `root.pem` (the mesh root peers must chain to) and, when present, `crl.pem`. Mirror placement (client)
/// and the agent's shard server use the same files.
public enum NodeTLS {
    public static func directory(_ state: URL) -> URL { state.appendingPathComponent("stoq") }

    /// The required files that are missing (empty when the node can speak STOQ).
    public static func missingFiles(_ state: URL) -> [String] {
        ["chain.pem", "key.pem", "root.pem"].filter {
            !FileManager.default.fileExists(atPath: Self.directory(state).appendingPathComponent($0).path)
        }
    }

    public static func configuration(_ state: URL) -> TLSConfiguration {
        let directory = Self.directory(state)
        let crl = directory.appendingPathComponent("crl.pem").path
        return TLSConfiguration(certificateChainPath: directory.appendingPathComponent("chain.pem").path,
                                privateKeyPath: directory.appendingPathComponent("key.pem").path,
                                trustedRootsPath: directory.appendingPathComponent("root.pem").path,
                                revocationListPath: FileManager.default.fileExists(atPath: crl) ? crl : nil)
    }
}
