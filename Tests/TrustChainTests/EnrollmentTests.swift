import Crypto
import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import SwiftASN1
import Testing
import TrustChain
import X509

/// Join tokens and the CA's side of a join: every refusal with its reason, and a token burnt only by a join
/// that got its certificate.
struct EnrollmentTests {
    func withCA(_ body: (CertificateAuthority, TemporaryDirectory) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "enroll")
        defer { directory.remove() }
        try await body(try CertificateAuthority.initialize(in: directory.url.appendingPathComponent("ca"), name: "family"), directory)
    }

    static func request(for key: P256.Signing.PrivateKey, name: String = "laptop") throws -> [UInt8] {
        let csr = try CertificateSigningRequest(version: .v1, subject: try DistinguishedName { CommonName(name) },
                                                privateKey: Certificate.PrivateKey(key), attributes: .init(),
                                                signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(csr)
        return serializer.serializedBytes
    }

    static func nodeID(_ key: P256.Signing.PrivateKey) -> String { SHA256.hash(data: key.publicKey.derRepresentation).hexString }

    @Test func aTokenRoundTripsAndPinsTheRoot() async throws {
        try await withCA { ca, _ in
            let token = try ca.makeJoinToken(lifetime: .hours(1))
            #expect(try JoinToken(parsing: token.description + "\n") == token)
            #expect(token.description.hasPrefix("hmjoin1."))
            let rootDER = try PEMDocument(pemString: ca.rootPEM).derBytes
            #expect(token.rootFingerprint == SHA256.hash(data: rootDER).hexString)
            let openssl = try OpenSSL.run(["x509", "-in", ca.directory.path + "/root.pem", "-noout", "-fingerprint", "-sha256"])
            #expect(openssl.standardOutput.replacingOccurrences(of: ":", with: "").lowercased().contains(token.rootFingerprint))
            // Only the secret's hash is stored.
            let registry = try String(contentsOf: ca.directory.appendingPathComponent("registry.db"), encoding: .isoLatin1)
            #expect(!registry.contains(token.secret))
            #expect(try ca.registry.joinTokens().map(\.id) == [token.id])
        }
    }

    @Test(arguments: [
        ("", "four parts"), ("hmjoin1.abc.def", "four parts"), ("hmjoin2.000000000000.\(String(repeating: "a", count: 32)).\(String(repeating: "b", count: 64))", "four parts"),
        ("hmjoin1.00000000000.\(String(repeating: "a", count: 32)).\(String(repeating: "b", count: 64))", "ID must be 12"),
        ("hmjoin1.000000000000.\(String(repeating: "A", count: 32)).\(String(repeating: "b", count: 64))", "SECRET must be 32"),
        ("hmjoin1.000000000000.\(String(repeating: "a", count: 32)).\(String(repeating: "b", count: 63))", "ROOT-SHA256 must be 64"),
    ])
    func aMalformedTokenSaysWhichPart(text: String, expected: String) {
        #expect {
            try JoinToken(parsing: text)
        } throws: { error in
            let message = (error as? HyperMeshError)?.message ?? ""
            return message.contains(expected) && !message.contains(String(repeating: "A", count: 32))
        }
    }

    @Test func aJoinGetsANodeCertificateForItsOwnKeyThatOpenSSLVerifies() async throws {
        try await withCA { ca, directory in
            let token = try ca.makeJoinToken(lifetime: .hours(1), validator: true)
            let key = P256.Signing.PrivateKey()
            let enrollment = try ca.enroll(token: token, nodeName: "laptop", claimedNodeID: Self.nodeID(key),
                                           requestDER: try Self.request(for: key))
            #expect(enrollment.nodeID == Self.nodeID(key))
            #expect(enrollment.validator)
            let certificate = try Certificate(pemEncoded: enrollment.certificatePEM)
            #expect(certificate.publicKey == Certificate.PublicKey(key.publicKey))
            let out = directory.url.appendingPathComponent("node")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try enrollment.certificatePEM.write(to: out.appendingPathComponent("cert.pem"), atomically: true, encoding: .utf8)
            try enrollment.revocationListPEM.write(to: out.appendingPathComponent("crl.pem"), atomically: true, encoding: .utf8)
            let verify = try OpenSSL.run(["verify", "-purpose", "sslclient", "-CAfile", ca.directory.path + "/root.pem",
                                          "-untrusted", ca.directory.path + "/intermediate.pem", out.path + "/cert.pem"])
            #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
            let text = try OpenSSL.run(["x509", "-in", out.path + "/cert.pem", "-noout", "-text"]).standardOutput
            #expect(text.contains("URI:hm://\(Self.nodeID(key))"))
            #expect(text.contains("CN=laptop") || text.contains("CN = laptop"))
            let crl = try OpenSSL.run(["crl", "-in", out.path + "/crl.pem", "-noout", "-CAfile", ca.directory.path + "/intermediate.pem"])
            #expect(crl.status == 0, "\(crl.standardError)")
            // Recorded and logged like every certificate.
            #expect(try ca.registry.record(serial: enrollment.serial)?.policy == "node:\(Self.nodeID(key))")
            let record = try #require(try ca.registry.joinTokens().first)
            #expect(record.usedBy == Self.nodeID(key))
        }
    }

    @Test func aTokenWorksOnceAndNotAfterItExpires() async throws {
        try await withCA { ca, _ in
            let now = Date()
            let token = try ca.makeJoinToken(lifetime: .minutes(10), now: now)
            let key = P256.Signing.PrivateKey()
            _ = try ca.enroll(token: token, nodeName: "a", claimedNodeID: Self.nodeID(key), requestDER: try Self.request(for: key), now: now)
            let other = P256.Signing.PrivateKey()
            #expect {
                _ = try ca.enroll(token: token, nodeName: "b", claimedNodeID: Self.nodeID(other), requestDER: try Self.request(for: other), now: now)
            } throws: { error in
                guard case .tokenUsed = error as? JoinRefusal else { return false }
                return "\(error)".contains("single use")
            }
            let expiring = try ca.makeJoinToken(lifetime: .minutes(10), now: now)
            #expect {
                _ = try ca.enroll(token: expiring, nodeName: "b", claimedNodeID: Self.nodeID(other),
                                  requestDER: try Self.request(for: other), now: now.addingTimeInterval(601))
            } throws: { error in
                guard case .tokenExpired = error as? JoinRefusal else { return false }
                return "\(error)".contains("expired")
            }
            #expect(throws: HyperMeshError.self) { _ = try ca.makeJoinToken(lifetime: .seconds(5)) }
        }
    }

    @Test func aWrongSecretOrUnknownIDGetsOneAnswer() async throws {
        try await withCA { ca, _ in
            let token = try ca.makeJoinToken(lifetime: .hours(1))
            let key = P256.Signing.PrivateKey()
            let csr = try Self.request(for: key)
            let wrongSecret = JoinToken(id: token.id, secret: String(repeating: "0", count: 32), rootFingerprint: token.rootFingerprint)
            let unknownID = JoinToken(id: "000000000000", secret: token.secret, rootFingerprint: token.rootFingerprint)
            for bad in [wrongSecret, unknownID] {
                #expect(throws: JoinRefusal.unknownToken) {
                    _ = try ca.enroll(token: bad, nodeName: "a", claimedNodeID: Self.nodeID(key), requestDER: csr)
                }
            }
            // Neither burnt the real token.
            _ = try ca.enroll(token: token, nodeName: "a", claimedNodeID: Self.nodeID(key), requestDER: csr)
        }
    }

    @Test func aBadRequestIsRefusedWithoutBurningTheToken() async throws {
        try await withCA { ca, _ in
            let token = try ca.makeJoinToken(lifetime: .hours(1))
            let key = P256.Signing.PrivateKey()
            let good = try Self.request(for: key)
            // A request for another key than the node id claimed: its sender does not hold the claimed identity.
            let other = P256.Signing.PrivateKey()
            #expect(throws: JoinRefusal.nodeIDMismatch(claimed: Self.nodeID(key), ofKey: Self.nodeID(other))) {
                _ = try ca.enroll(token: token, nodeName: "a", claimedNodeID: Self.nodeID(key), requestDER: try Self.request(for: other))
            }
            // A signature that does not verify with the request's own key (last byte of the signature changed).
            var tampered = good
            tampered[tampered.count - 1] ^= 0x01
            #expect {
                _ = try ca.enroll(token: token, nodeName: "a", claimedNodeID: Self.nodeID(key), requestDER: tampered)
            } throws: { error in
                // A flipped byte either breaks the DER or the signature; both are refusals, neither burns the token.
                switch error as? JoinRefusal {
                case .signatureInvalid, .unreadableRequest: return true
                default: return false
                }
            }
            var resigned = good
            // Flip a byte of the subject's name (inside the signed part): the DER stays valid, the signature does not.
            let nameIndex = try #require(Self.index(of: Array("laptop".utf8), in: resigned))
            resigned[nameIndex] = UInt8(ascii: "m")
            #expect(throws: JoinRefusal.signatureInvalid) {
                _ = try ca.enroll(token: token, nodeName: "a", claimedNodeID: Self.nodeID(key), requestDER: resigned)
            }
            #expect {
                _ = try ca.enroll(token: token, nodeName: "a", claimedNodeID: Self.nodeID(key), requestDER: [0x30, 0x03, 0x01])
            } throws: { error in
                guard case .unreadableRequest = error as? JoinRefusal else { return false }
                return true
            }
            let p384 = P384.Signing.PrivateKey()
            let csr384 = try CertificateSigningRequest(version: .v1, subject: try DistinguishedName { CommonName("a") },
                                                       privateKey: Certificate.PrivateKey(p384), attributes: .init(),
                                                       signatureAlgorithm: .ecdsaWithSHA384)
            var serializer = DER.Serializer()
            try serializer.serialize(csr384)
            #expect {
                _ = try ca.enroll(token: token, nodeName: "a", claimedNodeID: Self.nodeID(key), requestDER: serializer.serializedBytes)
            } throws: { error in "\(error)".contains("P-256") }
            #expect(throws: JoinRefusal.invalidNodeName("Not_A_Label")) {
                _ = try ca.enroll(token: token, nodeName: "Not_A_Label", claimedNodeID: Self.nodeID(key), requestDER: good)
            }
            // After all that, the token still admits the real request.
            #expect(try ca.registry.joinTokens().first?.usedAt == nil)
            _ = try ca.enroll(token: token, nodeName: "a", claimedNodeID: Self.nodeID(key), requestDER: good)
        }
    }

    @Test func joiningAgainSupersedesTheNodesEarlierCertificate() async throws {
        try await withCA { ca, _ in
            let key = P256.Signing.PrivateKey()
            let first = try ca.enroll(token: try ca.makeJoinToken(lifetime: .hours(1)), nodeName: "a",
                                      claimedNodeID: Self.nodeID(key), requestDER: try Self.request(for: key))
            let second = try ca.enroll(token: try ca.makeJoinToken(lifetime: .hours(1)), nodeName: "a",
                                       claimedNodeID: Self.nodeID(key), requestDER: try Self.request(for: key))
            #expect(try ca.registry.record(serial: first.serial)?.revocationReason == .superseded)
            #expect(try ca.registry.record(serial: second.serial)?.revokedAt == nil)
        }
    }

    /// A token may ask for short-lived node certificates; renewals last as long; a renewal is for members only.
    @Test func aTokensCertificateLifetimeHoldsForTheJoinAndEveryRenewal() async throws {
        try await withCA { ca, _ in
            #expect(throws: HyperMeshError.self) { _ = try ca.makeJoinToken(lifetime: .hours(1), certificateLifetime: .seconds(30)) }
            let token = try ca.makeJoinToken(lifetime: .hours(1), certificateLifetime: .minutes(5))
            #expect(try ca.registry.joinTokens().first?.certificateLifetime == .minutes(5))
            let key = P256.Signing.PrivateKey()
            let joined = try ca.enroll(token: token, nodeName: "guest", claimedNodeID: Self.nodeID(key), requestDER: try Self.request(for: key))
            let first = try Certificate(pemEncoded: joined.certificatePEM)
            #expect(first.notValidAfter.timeIntervalSince(first.notValidBefore) == 300)
            let renewed = try ca.renewNodeCertificate(nodeID: Self.nodeID(key), requestDER: try Self.request(for: key, name: "ignored"))
            let second = try Certificate(pemEncoded: renewed.certificatePEM)
            #expect(second.notValidAfter.timeIntervalSince(second.notValidBefore) == 300)
            #expect(renewed.nodeName == "guest")
            // A request for another key than the member's is refused; so is a node that never joined.
            let other = P256.Signing.PrivateKey()
            #expect(throws: JoinRefusal.self) { _ = try ca.renewNodeCertificate(nodeID: Self.nodeID(key), requestDER: try Self.request(for: other)) }
            #expect(throws: JoinRefusal.notAMember(Self.nodeID(other))) {
                _ = try ca.renewNodeCertificate(nodeID: Self.nodeID(other), requestDER: try Self.request(for: other))
            }
            // Removal by a prefix of the node id; an unknown one is not found.
            #expect(try ca.revokeNode(String(Self.nodeID(key).prefix(8))).serials.count == 2)
            #expect(throws: HyperMeshError.self) { _ = try ca.revokeNode("nobody") }
        }
    }

    static func index(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }
}
