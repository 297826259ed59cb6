import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
import TrustChain
import X509

struct IssuanceTests {
    func withCA(algorithm: KeyAlgorithm = .p256, _ body: (CertificateAuthority, TemporaryDirectory) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "trustchain")
        defer { directory.remove() }
        let ca = try CertificateAuthority.initialize(in: directory.url.appendingPathComponent("ca"), name: "Test Mesh", algorithm: algorithm)
        try await body(ca, directory)
    }

    @Test(arguments: [KeyAlgorithm.p256, .p384, .ed25519])
    func everyLeafPassesOpenSSLVerify(keyAlgorithm: KeyAlgorithm) async throws {
        try await withCA { ca, directory in
            let request = IssuanceRequest(commonName: "node-1", dnsNames: ["node-1.mesh", "*.svc.mesh"],
                                          ipAddresses: ["127.0.0.1", "::1"], uris: ["hm://abc123"], usage: .both,
                                          duration: .hours(24), keyAlgorithm: keyAlgorithm)
            let issued = try ca.issue(request)
            let out = directory.url.appendingPathComponent("out")
            try issued.write(to: out)
            let caDir = ca.directory.path
            let verify = try OpenSSL.run(["verify", "-CAfile", caDir + "/root.pem", "-untrusted", caDir + "/intermediate.pem",
                                          out.path + "/cert.pem"])
            #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
            #expect(verify.standardOutput.contains(": OK"))
            let text = try OpenSSL.run(["x509", "-in", out.path + "/cert.pem", "-noout", "-text"]).standardOutput
            for expected in ["DNS:node-1.mesh", "DNS:*.svc.mesh", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
                             "URI:hm://abc123", "TLS Web Server Authentication", "TLS Web Client Authentication",
                             "CA:FALSE", "Digital Signature", "X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier",
                             "Subject: CN = node-1"] {
                #expect(text.contains(expected), "openssl x509 -text lacks \(expected)")
            }
            let modulus = try OpenSSL.run(["pkey", "-in", out.path + "/key.pem", "-pubout"]).standardOutput
            let certificateKey = try OpenSSL.run(["x509", "-in", out.path + "/cert.pem", "-noout", "-pubkey"]).standardOutput
            #expect(!modulus.isEmpty && modulus == certificateKey, "key.pem does not match cert.pem")
            let serial = try OpenSSL.run(["x509", "-in", out.path + "/cert.pem", "-noout", "-serial"]).standardOutput
            #expect(serial.lowercased() == "serial=\(issued.serial)\n")
            #expect(issued.serial.count == 32)
            let keyMode = try FileManager.default.attributesOfItem(atPath: out.path + "/key.pem")[.posixPermissions] as? NSNumber
            #expect(keyMode?.intValue == 0o600)
            let chain = try OpenSSL.run(["verify", "-CAfile", caDir + "/root.pem", "-untrusted", out.path + "/chain.pem",
                                         out.path + "/cert.pem"])
            #expect(chain.status == 0)
        }
    }

    @Test(arguments: [KeyAlgorithm.p256, .p384])
    func caHierarchyHasTheRightConstraints(algorithm: KeyAlgorithm) async throws {
        try await withCA(algorithm: algorithm) { ca, _ in
            let root = try OpenSSL.run(["x509", "-in", ca.directory.path + "/root.pem", "-noout", "-text"]).standardOutput
            #expect(root.contains("CA:TRUE, pathlen:1"))
            #expect(root.contains("Certificate Sign, CRL Sign"))
            let intermediate = try OpenSSL.run(["x509", "-in", ca.directory.path + "/intermediate.pem", "-noout", "-text"]).standardOutput
            #expect(intermediate.contains("CA:TRUE, pathlen:0"))
            let chain = try OpenSSL.run(["verify", "-CAfile", ca.directory.path + "/root.pem", ca.directory.path + "/intermediate.pem"])
            #expect(chain.status == 0)
            for name in ["root-key.pem", "intermediate-key.pem"] {
                let mode = try FileManager.default.attributesOfItem(atPath: ca.directory.path + "/" + name)[.posixPermissions] as? NSNumber
                #expect(mode?.intValue == 0o600)
            }
            let folder = try FileManager.default.attributesOfItem(atPath: ca.directory.path)[.posixPermissions] as? NSNumber
            #expect(folder?.intValue == 0o700)
            #expect(root.contains(algorithm == .p256 ? "prime256v1" : "secp384r1"))
        }
    }

    @Test func refusesToOverwriteAndKeepsRootKeyOffline() async throws {
        try await withCA { ca, directory in
            #expect(throws: HyperMeshError.conflict()) {
                try CertificateAuthority.initialize(in: ca.directory, name: "Again")
            }
            let offline = directory.url.appendingPathComponent("offline")
            let replaced = try CertificateAuthority.initialize(in: ca.directory, name: "New", rootKeyDirectory: offline, force: true)
            #expect(!FileManager.default.fileExists(atPath: ca.directory.path + "/root-key.pem"))
            #expect(FileManager.default.fileExists(atPath: offline.path + "/root-key.pem"))
            let issued = try replaced.issue(IssuanceRequest(commonName: "still-works"))
            #expect(await ChainVerifier.verify(chain: [issued.certificate, replaced.intermediate], at: Date(), roots: [replaced.root]).isTrusted)
            #expect(throws: HyperMeshError.notFound()) { try CertificateAuthority(directory: directory.url.appendingPathComponent("none")) }
        }
    }

    @Test func badRequestsAreRefusedWithEveryReasonAndNothingWritten() async throws {
        try await withCA { ca, directory in
            let bad = IssuanceRequest(commonName: "", dnsNames: ["bad_name", "-x.mesh"], ipAddresses: ["300.1.1.1"], uris: ["no-scheme"],
                                      duration: .seconds(30))
            do {
                _ = try ca.issue(bad)
                Issue.record("expected a refusal")
            } catch let error as HyperMeshError {
                #expect(error.code == .invalidArgument)
                for part in ["common name", "bad_name", "-x.mesh", "300.1.1.1", "no-scheme", "shorter than 1m"] {
                    #expect(error.message.contains(part), "missing \(part) in \(error.message)")
                }
            }
            #expect(throws: HyperMeshError.invalidArgument()) {
                try ca.issue(IssuanceRequest(commonName: "long", duration: .hours(24 * 400)))
            }
            #expect(try ca.registry.records().isEmpty)
            let readOnly = directory.url.appendingPathComponent("file-not-dir")
            try Data("x".utf8).write(to: readOnly)
            #expect(throws: HyperMeshError.io()) {
                try ca.issue(IssuanceRequest(commonName: "n"), writingTo: readOnly.appendingPathComponent("sub"))
            }
            #expect(try ca.registry.records().isEmpty)
            #expect(try ca.log.size() == 0)
        }
    }

    @Test func revokedCertificateFailsOpenSSLCRLCheck() async throws {
        try await withCA { ca, directory in
            let good = try ca.issue(IssuanceRequest(commonName: "good"))
            let bad = try ca.issue(IssuanceRequest(commonName: "bad"))
            try ca.revoke(serial: bad.serial, reason: .keyCompromise)
            #expect(throws: HyperMeshError.notFound()) { try ca.revoke(serial: "00ff") }
            let crl = try ca.revocationList()
            let files = directory.url
            try crl.pem.write(to: files.appendingPathComponent("crl.pem"), atomically: true, encoding: .utf8)
            try good.certificatePEM.write(to: files.appendingPathComponent("good.pem"), atomically: true, encoding: .utf8)
            try bad.certificatePEM.write(to: files.appendingPathComponent("bad.pem"), atomically: true, encoding: .utf8)
            // -crl_check checks the leaf; the CRL file must also be trusted for the intermediate that signed it.
            let caFile = files.appendingPathComponent("bundle.pem")
            try (ca.rootPEM + "\n" + ca.intermediatePEM + "\n").write(to: caFile, atomically: true, encoding: .utf8)
            let okResult = try OpenSSL.run(["verify", "-crl_check", "-CRLfile", files.path + "/crl.pem", "-CAfile", caFile.path,
                                            files.path + "/good.pem"])
            #expect(okResult.status == 0, "\(okResult.standardOutput)\(okResult.standardError)")
            let revoked = try OpenSSL.run(["verify", "-crl_check", "-CRLfile", files.path + "/crl.pem", "-CAfile", caFile.path,
                                           files.path + "/bad.pem"])
            #expect(revoked.status != 0)
            #expect((revoked.standardOutput + revoked.standardError).contains("certificate revoked"))
            let text = try OpenSSL.run(["crl", "-in", files.path + "/crl.pem", "-noout", "-text"]).standardOutput
            #expect(text.uppercased().contains(bad.serial.uppercased()))
            #expect(text.contains("Key Compromise"))
            #expect(text.contains("Next Update"))
            #expect(text.contains("X509v3 CRL Number"))
            #expect(!text.uppercased().contains(good.serial.uppercased()))
            let signature = try OpenSSL.run(["crl", "-in", files.path + "/crl.pem", "-noout", "-CAfile", caFile.path])
            #expect(signature.standardError.contains("verify OK") || signature.standardOutput.contains("verify OK"))

            // The module's own verifier reaches the same verdicts.
            let list = try RevocationList(pemOrDER: Array(crl.pem.utf8), issuer: ca.intermediate)
            #expect(list.revokedSerials == [bad.serial])
            #expect(await ChainVerifier.verify(chain: [good.certificate, ca.intermediate], at: Date(), roots: [ca.root],
                                               revocationList: list).isTrusted)
            let verdict = await ChainVerifier.verify(chain: [bad.certificate, ca.intermediate], at: Date(), roots: [ca.root],
                                                     revocationList: list)
            #expect(!verdict.isTrusted)
            let records = try ca.registry.records()
            #expect(records.first { $0.serial == bad.serial }?.state(at: Date()) == .revoked)
            #expect(records.first { $0.serial == good.serial }?.state(at: Date()) == .valid)
            #expect(records.first { $0.serial == good.serial }?.state(at: Date().addingTimeInterval(86400 * 2)) == .expired)
        }
    }

    @Test func verifierRefusesExpiredForeignAndEmptyChains() async throws {
        try await withCA { ca, _ in
            let issued = try ca.issue(IssuanceRequest(commonName: "n", duration: .hours(1)))
            #expect(!(await ChainVerifier.verify(chain: [issued.certificate, ca.intermediate], at: Date().addingTimeInterval(7200),
                                                 roots: [ca.root])).isTrusted)
            let other = try TemporaryDirectory()
            defer { other.remove() }
            let foreign = try CertificateAuthority.initialize(in: other.url, name: "Other")
            #expect(!(await ChainVerifier.verify(chain: [issued.certificate, ca.intermediate], at: Date(), roots: [foreign.root])).isTrusted)
            #expect(await ChainVerifier.verify(chain: [], at: Date(), roots: [ca.root]) == .refused(["no certificate presented"]))
            let crl = try ca.revocationList()
            let stale = await ChainVerifier.verify(chain: [issued.certificate, ca.intermediate], at: Date().addingTimeInterval(86400 * 8),
                                                   roots: [ca.root], revocationList: crl)
            #expect(!stale.isTrusted)
            #expect(throws: HyperMeshError.corruptData()) { try RevocationList(pemOrDER: crl.der, issuer: foreign.intermediate) }
            #expect(throws: HyperMeshError.corruptData()) { try RevocationList(pemOrDER: [0x30, 0x03, 0x02, 0x01], issuer: ca.intermediate) }
        }
    }
}
