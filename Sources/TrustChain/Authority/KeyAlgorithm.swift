import Crypto
import HyperMeshCore
import X509

/// The key types TrustChain issues for. CA keys are ECDSA (P-256 or P-384); leaves may also be Ed25519.
public enum KeyAlgorithm: String, Sendable, CaseIterable {
    case p256, p384, ed25519

    /// A new private key of this type, with its PKCS#8 PEM.
    public func generate() throws -> GeneratedKey {
        switch self {
        case .p256:
            let key = try ScalarKeyGeneration.p256()
            return GeneratedKey(certificateKey: Certificate.PrivateKey(key), pem: key.pemRepresentation)
        case .p384:
            let key = try ScalarKeyGeneration.p384()
            return GeneratedKey(certificateKey: Certificate.PrivateKey(key), pem: key.pemRepresentation)
        case .ed25519:
            let key = Curve25519.Signing.PrivateKey()
            let certificateKey = Certificate.PrivateKey(key)
            return GeneratedKey(certificateKey: certificateKey, pem: try certificateKey.serializeAsPEM().pemString)
        }
    }
}

/// A private key both as swift-certificates uses it and as PEM text.
public struct GeneratedKey: Sendable {
    public var certificateKey: Certificate.PrivateKey
    public var pem: String

    public init(certificateKey: Certificate.PrivateKey, pem: String) {
        self.certificateKey = certificateKey
        self.pem = pem
    }

    /// An existing key, from PKCS#8 or SEC1 PEM.
    public init(pem: String) throws {
        do {
            self.certificateKey = try Certificate.PrivateKey(pemEncoded: pem)
        } catch {
            throw HyperMeshError.corruptData("not a P-256, P-384 or Ed25519 private key in PEM")
        }
        self.pem = pem
    }
}

/// A CA signing key: ECDSA P-256 or P-384, usable for certificates, CRLs and signed tree heads.
public enum SigningKey: Sendable {
    case p256(P256.Signing.PrivateKey)
    case p384(P384.Signing.PrivateKey)

    public init(algorithm: KeyAlgorithm) throws {
        switch algorithm {
        case .p256: self = .p256(try ScalarKeyGeneration.p256())
        case .p384: self = .p384(try ScalarKeyGeneration.p384())
        case .ed25519: throw HyperMeshError.invalidArgument("a CA key must be p256 or p384, not ed25519")
        }
    }

    /// Reads a PKCS#8 or SEC1 PEM key of either curve.
    public init(pem: String) throws {
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            self = .p256(key)
        } else if let key = try? P384.Signing.PrivateKey(pemRepresentation: pem) {
            self = .p384(key)
        } else {
            throw HyperMeshError.corruptData("not a P-256 or P-384 private key in PEM")
        }
    }

    public var pem: String {
        switch self {
        case .p256(let key): return key.pemRepresentation
        case .p384(let key): return key.pemRepresentation
        }
    }

    public var certificateKey: Certificate.PrivateKey {
        switch self {
        case .p256(let key): return Certificate.PrivateKey(key)
        case .p384(let key): return Certificate.PrivateKey(key)
        }
    }

    /// ecdsa-with-SHA256 for P-256, ecdsa-with-SHA384 for P-384.
    public var signatureAlgorithm: Certificate.SignatureAlgorithm {
        switch self {
        case .p256: return .ecdsaWithSHA256
        case .p384: return .ecdsaWithSHA384
        }
    }

    /// A DER ECDSA-Sig-Value over `bytes`, hashed as ``signatureAlgorithm`` says.
    public func signatureDER(for bytes: [UInt8]) throws -> [UInt8] {
        switch self {
        case .p256(let key): return Array(try key.signature(for: bytes).derRepresentation)
        case .p384(let key): return Array(try key.signature(for: bytes).derRepresentation)
        }
    }
}

/// ECDSA private keys drawn as uniformly random scalars in [1, n-1] by rejection sampling from
/// the system CSPRNG (getrandom), FIPS 186-5 A.2.2 "rejection sampling".
///
/// swift-crypto's `P256.Signing.PrivateKey()` spends most of its ~117 µs per key on checks
/// around BoringSSL's key generation; building the key from the scalar costs ~7 µs and gives
/// the same distribution (measured in `Benchmarks/`, TrustChainBenchmarks).
enum ScalarKeyGeneration {
    /// Candidates outside [1, n-1] are rare (about 2^-32 for both curves); this bounds the loop anyway.
    static let maximumAttempts = 64

    static func p256() throws -> P256.Signing.PrivateKey {
        try self.draw(bytes: 32) { try P256.Signing.PrivateKey(rawRepresentation: $0) }
    }

    static func p384() throws -> P384.Signing.PrivateKey {
        try self.draw(bytes: 48) { try P384.Signing.PrivateKey(rawRepresentation: $0) }
    }

    private static func draw<Key>(bytes count: Int, _ make: ([UInt8]) throws -> Key) throws -> Key {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<self.maximumAttempts {
            var candidate: [UInt8] = []
            candidate.reserveCapacity(count)
            while candidate.count < count {
                withUnsafeBytes(of: generator.next()) { candidate.append(contentsOf: $0) }
            }
            // The curve library refuses zero and values >= n: exactly the rejection rule.
            if let key = try? make(Array(candidate.prefix(count))) { return key }
        }
        throw HyperMeshError.internalError("no valid ECDSA scalar in \(self.maximumAttempts) draws")
    }
}
