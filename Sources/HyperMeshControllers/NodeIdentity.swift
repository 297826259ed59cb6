import Crypto
import Foundation
import HyperMeshCore

/// This node's key pair, kept in the state directory, and the node id derived from it.
///
/// The node id is the lowercase hex SHA-256 of the public key's SubjectPublicKeyInfo (DER),
/// so anyone holding the public key can check it.
public struct NodeIdentity: Sendable {
    /// Where the key lives, relative to the state directory.
    public static let keyPath = "node/node-key.pem"

    public let privateKey: P256.Signing.PrivateKey
    public var publicKeyDER: Data { self.privateKey.publicKey.derRepresentation }
    public var nodeID: String { Self.nodeID(ofPublicKeyDER: self.publicKeyDER) }

    public static func nodeID(ofPublicKeyDER der: Data) -> String {
        SHA256.hash(data: der).hexString
    }

    /// Loads the node key from `stateDirectory`, creating it (mode 0600 in a 0700 folder) on
    /// first use. Returns whether it was created.
    ///
    /// - Throws: ``HyperMeshError`` `corruptData` when a key file exists but does not parse;
    ///   it is left untouched, since replacing it would silently change this node's identity.
    public static func loadOrCreate(in stateDirectory: URL) throws -> (identity: NodeIdentity, created: Bool) {
        let file = stateDirectory.appendingPathComponent(Self.keyPath)
        let manager = FileManager.default
        if manager.fileExists(atPath: file.path) {
            guard let data = manager.contents(atPath: file.path), let pem = String(data: data, encoding: .utf8) else {
                throw HyperMeshError.io("cannot read node key \(file.path)")
            }
            do {
                return (NodeIdentity(privateKey: try P256.Signing.PrivateKey(pemRepresentation: pem)), false)
            } catch {
                throw HyperMeshError.corruptData("node key \(file.path) is not a P-256 private key in PEM; "
                    + "restore it from backup, or remove it to give this node a new identity")
            }
        }
        let key = P256.Signing.PrivateKey()
        do {
            try manager.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true,
                                        attributes: [.posixPermissions: 0o700])
            let temporary = file.deletingLastPathComponent().appendingPathComponent(".node-key.pem.\(UUID().uuidString)")
            guard manager.createFile(atPath: temporary.path, contents: Data(key.pemRepresentation.utf8),
                                     attributes: [.posixPermissions: 0o600]) else {
                throw HyperMeshError.io("cannot write \(temporary.path)")
            }
            // link(2) fails if another process created the key first; then use theirs.
            if link(temporary.path, file.path) != 0 {
                let linkError = errno
                unlink(temporary.path)
                if linkError == EEXIST { return try loadOrCreate(in: stateDirectory) }
                throw HyperMeshError.io("cannot create \(file.path): \(String(cString: strerror(linkError)))")
            }
            unlink(temporary.path)
        } catch let error as HyperMeshError {
            throw error
        } catch {
            throw HyperMeshError.io("cannot create node key \(file.path)", cause: error)
        }
        return (NodeIdentity(privateKey: key), true)
    }
}
