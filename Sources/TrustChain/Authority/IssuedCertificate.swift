import Foundation
import HyperMeshCore
import X509

/// A freshly issued certificate with its private key and chain, ready to write.
public struct IssuedCertificate: Sendable {
    public var certificate: Certificate
    /// Lowercase hex of the serial number.
    public var serial: String
    public var certificatePEM: String
    public var privateKeyPEM: String
    /// The leaf followed by the intermediate.
    public var chainPEM: String

    /// Writes `cert.pem`, `key.pem` (with `keyMode`) and `chain.pem` into `directory`, all or none.
    public func write(to directory: URL, keyMode: Int = 0o600) throws {
        try AtomicFiles.write([
            .init(name: "cert.pem", contents: self.certificatePEM, mode: 0o644),
            .init(name: "key.pem", contents: self.privateKeyPEM, mode: keyMode),
            .init(name: "chain.pem", contents: self.chainPEM, mode: 0o644),
        ], into: directory)
    }
}

extension Certificate.SerialNumber {
    /// Lowercase hex, as `openssl x509 -serial` prints it (without its uppercase).
    public var hexString: String { self.bytes.hexString }

    /// A random positive 128-bit serial number.
    static func random128() -> Certificate.SerialNumber {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next()
        let low = generator.next()
        var bytes = (0..<16).map { index in UInt8(truncatingIfNeeded: (index < 8 ? high : low) >> (8 * UInt64(index % 8))) }
        bytes[0] = (bytes[0] & 0x7F) | 0x40  // positive and exactly 16 bytes
        return Certificate.SerialNumber(bytes: bytes)
    }
}
