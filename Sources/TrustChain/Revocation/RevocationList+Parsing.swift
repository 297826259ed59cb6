import Crypto
import Foundation
import HyperMeshCore
import SwiftASN1
import X509

extension RevocationList {
    /// Reads a CRL (PEM or DER) and checks its signature against `issuer`.
    ///
    /// - Throws: ``HyperMeshError`` `corruptData` when it does not parse or the signature does not verify.
    public init(pemOrDER bytes: [UInt8], issuer: Certificate) throws {
        var der = bytes
        if let text = String(bytes: bytes, encoding: .utf8), text.contains("-----BEGIN X509 CRL-----") {
            let body = text.components(separatedBy: "\n").filter { !$0.hasPrefix("-----") }.joined()
            guard let decoded = Data(base64Encoded: body) else { throw HyperMeshError.corruptData("CRL: bad base64") }
            der = Array(decoded)
        }
        self.der = der
        let parsed = try Self.parse(der)
        guard Self.signatureIsValid(parsed, issuer: issuer) else {
            throw HyperMeshError.corruptData("CRL: signature does not verify against \(issuer.subject)")
        }
    }

    /// The revoked serials (lowercase hex) with their dates.
    public var revokedSerials: Set<String> {
        (try? Self.parse(self.der).serials) ?? []
    }

    /// `nextUpdate`, after which the list must not be trusted.
    public var nextUpdate: Date? { try? Self.parse(self.der).nextUpdate }

    struct Parsed {
        var tbs: [UInt8]
        var signature: [UInt8]
        var serials: Set<String>
        var nextUpdate: Date?
    }

    static func parse(_ der: [UInt8]) throws -> Parsed {
        do {
            let root = try SwiftASN1.DER.parse(der)
            guard case .constructed(let top) = root.content else { throw HyperMeshError.corruptData("CRL: not a SEQUENCE") }
            let parts = Array(top)
            guard parts.count == 3, case .constructed(let tbsChildren) = parts[0].content,
                  case .primitive(let bitString) = parts[2].content, bitString.first == 0 else {
                throw HyperMeshError.corruptData("CRL: expected tbsCertList, algorithm and signature")
            }
            var serials: Set<String> = []
            var nextUpdate: Date?
            var timesSeen = 0
            for child in tbsChildren {
                if child.identifier == .utcTime || child.identifier == .generalizedTime {
                    timesSeen += 1
                    if timesSeen == 2 { nextUpdate = try Self.date(child) }
                } else if child.identifier == .sequence, case .constructed(let entries) = child.content, timesSeen >= 1 {
                    for entry in entries {
                        guard case .constructed(let fields) = entry.content, let serial = fields.first(where: { _ in true }),
                              case .primitive(let serialBytes) = serial.content else { continue }
                        serials.insert(serialBytes.drop { $0 == 0 }.hexString)
                    }
                }
            }
            return Parsed(tbs: Array(parts[0].encodedBytes), signature: Array(bitString.dropFirst()), serials: serials,
                          nextUpdate: nextUpdate)
        } catch let error as HyperMeshError {
            throw error
        } catch {
            throw HyperMeshError.corruptData("CRL: not DER (\(error))")
        }
    }

    static func date(_ node: ASN1Node) throws -> Date {
        if node.identifier == .utcTime {
            let time = try UTCTime(derEncoded: node)
            return Self.date(year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes,
                             seconds: time.seconds)
        }
        let time = try GeneralizedTime(derEncoded: node)
        return Self.date(year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes,
                         seconds: time.seconds)
    }

    static func date(year: Int, month: Int, day: Int, hours: Int, minutes: Int, seconds: Int) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hours, minute: minutes, second: seconds))!
    }

    static func signatureIsValid(_ parsed: Parsed, issuer: Certificate) -> Bool {
        if let key = P256.Signing.PublicKey(issuer.publicKey), let signature = try? P256.Signing.ECDSASignature(derRepresentation: parsed.signature) {
            return key.isValidSignature(signature, for: parsed.tbs)
        }
        if let key = P384.Signing.PublicKey(issuer.publicKey), let signature = try? P384.Signing.ECDSASignature(derRepresentation: parsed.signature) {
            return key.isValidSignature(signature, for: parsed.tbs)
        }
        return false
    }
}
