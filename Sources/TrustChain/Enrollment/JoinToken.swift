import Crypto
import Foundation
import HyperMeshCore

/// A one-time, expiring invitation for a machine to join the mesh, in the spirit of kubeadm's bootstrap
/// token with `--discovery-token-ca-cert-hash`: `hmjoin1.ID.SECRET.ROOT-SHA256`.
///
/// - `ID` (12 hex digits) names the token in the CA's registry;
/// - `SECRET` (32 hex digits, 128 bits) proves the holder was given it; the registry keeps only its SHA-256;
/// - `ROOT-SHA256` (64 hex digits) is the SHA-256 of the mesh root's DER, so the joiner can pin the root
///   before it trusts anything the server says.
public struct JoinToken: Sendable, Equatable, CustomStringConvertible {
    public static let prefix = "hmjoin1"

    /// 6 random bytes, hex.
    public let id: String
    /// 16 random bytes, hex.
    public let secret: String
    /// SHA-256 of the root certificate's DER, hex.
    public let rootFingerprint: String

    public init(id: String, secret: String, rootFingerprint: String) {
        self.id = id
        self.secret = secret
        self.rootFingerprint = rootFingerprint
    }

    /// A fresh token for the root with `rootFingerprint`.
    static func generate(rootFingerprint: String) -> JoinToken {
        JoinToken(id: Self.randomHex(bytes: 6), secret: Self.randomHex(bytes: 16), rootFingerprint: rootFingerprint)
    }

    public var description: String { "\(Self.prefix).\(self.id).\(self.secret).\(self.rootFingerprint)" }

    /// Reads a token as `mesh token` printed it.
    ///
    /// - Throws: ``HyperMeshError`` `invalidArgument` saying which part is wrong (never echoing the secret).
    public init(parsing text: String) throws {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == Self.prefix else {
            throw HyperMeshError.invalidArgument("a join token has four parts, \(Self.prefix).ID.SECRET.ROOT-SHA256, as `hypermesh mesh token` prints it")
        }
        let checks: [(part: Substring, name: String, digits: Int)] = [(parts[1], "ID", 12), (parts[2], "SECRET", 32),
                                                                     (parts[3], "ROOT-SHA256", 64)]
        for check in checks where !Self.isHex(check.part, digits: check.digits) {
            throw HyperMeshError.invalidArgument("join token: \(check.name) must be \(check.digits) lowercase hex digits "
                + "(got \(check.part.count) characters)")
        }
        self.init(id: String(parts[1]), secret: String(parts[2]), rootFingerprint: String(parts[3]))
    }

    /// SHA-256 of the secret's text, as the registry stores it.
    static func secretHash(_ secret: String) -> Data { Data(SHA256.hash(data: Data(secret.utf8))) }

    /// The SHA-256 fingerprint (hex) of a certificate's DER: what a token pins.
    public static func fingerprint(ofDER der: some DataProtocol) -> String { SHA256.hash(data: Data(der)).hexString }

    private static func isHex(_ text: Substring, digits: Int) -> Bool {
        text.utf8.count == digits && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static func randomHex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
    }
}
