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
            let key = P256.Signing.PrivateKey()
            return GeneratedKey(certificateKey: Certificate.PrivateKey(key), pem: key.pemRepresentation)
        case .p384:
            let key = P384.Signing.PrivateKey()
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
}

/// A CA signing key: ECDSA P-256 or P-384, usable for certificates, CRLs and signed tree heads.
public enum SigningKey: Sendable {
    case p256(P256.Signing.PrivateKey)
    case p384(P384.Signing.PrivateKey)

    public init(algorithm: KeyAlgorithm) throws {
        switch algorithm {
        case .p256: self = .p256(P256.Signing.PrivateKey())
        case .p384: self = .p384(P384.Signing.PrivateKey())
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
