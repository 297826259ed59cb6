import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// `hypermesh ca …` end to end, judged by openssl.
struct CACommandTests {
    func openssl(_ arguments: [String]) throws -> ProcessResult {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), arguments)
    }

    @Test func initIssueRevokeCRLListAndLog() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-ca")
        defer { directory.remove() }
        let state = directory.path + "/state"
        let hm = { (arguments: [String]) throws -> ProcessResult in try ProcessRunner.hypermesh(arguments, stateDirectory: state) }
        #expect(try hm(["ca", "list"]).standardError.contains("run `hypermesh ca init` first"))
        let initialized = try hm(["ca", "init", "--name", "home", "--root-out", directory.path + "/offline"])
        #expect(initialized.status == 0, "\(initialized.standardError)")
        #expect(try hm(["ca", "init"]).standardError.contains("use --force"))

        let issue = try hm(["ca", "issue", "--cn", "node-1", "--dns", "node-1.lan", "--ip", "127.0.0.1", "--uri", "hm://abc",
                            "--key", "ed25519", "--out", directory.path + "/tls", "-o", "json"])
        #expect(issue.status == 0, "\(issue.standardError)")
        let serial = try #require(try JSONValue(parsingJSON: issue.standardOutput)["serial"]?.stringValue)
        let verify = try openssl(["verify", "-CAfile", state + "/ca/root.pem", "-untrusted", directory.path + "/tls/chain.pem",
                                  directory.path + "/tls/cert.pem"])
        #expect(verify.status == 0, "\(verify.standardError)")

        for (arguments, message) in [
            (["--ip", "300.1.1.1"], "IP address \"300.1.1.1\" is not an IPv4 or IPv6 address"),
            (["--duration", "30s"], "duration 30s is shorter than 1m"),
            (["--duration", "800d"], "--duration"),
            (["--duration", "9000h"], "longer than the intermediate's remaining life"),
            (["--dns", "bad_name"], "DNS name \"bad_name\""),
        ] {
            let result = try hm(["ca", "issue", "--cn", "x", "--out", directory.path + "/never"] + arguments)
            #expect(result.status == 1)
            #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/never"))
        try Data("file".utf8).write(to: URL(fileURLWithPath: directory.path + "/blocker"))
        let unwritable = try hm(["ca", "issue", "--cn", "x", "--out", directory.path + "/blocker/tls"])
        #expect(unwritable.status == 1 && unwritable.standardError.contains("cannot create"))

        #expect(try hm(["ca", "revoke", "00ff"]).standardError.contains("no certificate with serial 00ff"))
        #expect(try hm(["ca", "revoke", serial, "--reason", "sleepy"]).status == 1)
        #expect(try hm(["ca", "revoke", serial, "--reason", "keyCompromise"]).status == 0)
        #expect(try hm(["ca", "crl", "--out", directory.path + "/crl.pem"]).status == 0)
        let bundle = directory.path + "/bundle.pem"
        let root = try String(contentsOfFile: state + "/ca/root.pem", encoding: .utf8)
        let intermediate = try String(contentsOfFile: state + "/ca/intermediate.pem", encoding: .utf8)
        try (root + intermediate).write(toFile: bundle, atomically: true, encoding: .utf8)
        let revoked = try openssl(["verify", "-crl_check", "-CRLfile", directory.path + "/crl.pem", "-CAfile", bundle,
                                   directory.path + "/tls/cert.pem"])
        #expect(revoked.status != 0 && (revoked.standardOutput + revoked.standardError).contains("certificate revoked"))

        let list = try JSONValue(parsingJSON: try hm(["ca", "list", "-o", "json"]).standardOutput)
        #expect(list.value(atPath: "[0].state") == "Revoked" || list.arrayValue?.first?["state"] == "Revoked")
        #expect(list.arrayValue?.first?["reason"] == "keyCompromise")
        #expect(try hm(["ca", "list"]).standardOutput.contains("Revoked"))

        // A node identity certificate carries the node's own key and hm://NODE-ID.
        let node = try hm(["ca", "issue", "--cn", "node-2", "--node-identity", "--out", directory.path + "/tls2"])
        #expect(node.status == 0, "\(node.standardError)")
        let keyHash = try ProcessRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c",
            "openssl x509 -in '\(directory.path)/tls2/cert.pem' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1"])
        let nodeID = keyHash.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let text = try openssl(["x509", "-in", directory.path + "/tls2/cert.pem", "-noout", "-ext", "subjectAltName"]).standardOutput
        #expect(nodeID.count == 64 && text.contains("URI:hm://\(nodeID)"), "\(text)")
        let head = try JSONValue(parsingJSON: try hm(["ca", "log", "head"]).standardOutput)
        #expect(head["treeSize"] == 2)
        let prove = try JSONValue(parsingJSON: try hm(["ca", "log", "prove", serial]).standardOutput)
        #expect(prove["leafIndex"] == 0 && prove["treeSize"] == 2)
        #expect(prove["path"]?.arrayValue?.count == 1)
        let consistency = try JSONValue(parsingJSON: try hm(["ca", "log", "consistency", "1", "2"]).standardOutput)
        #expect(consistency["proof"]?.arrayValue?.count == 1)
        #expect(try hm(["ca", "log", "consistency", "2", "1"]).status == 1)
        #expect(try hm(["ca", "log", "prove", "abcd"]).status == 1)
    }

    @Test func certificatePolicyGetsReadyOnceTheCAExists() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-certpolicy")
        defer { directory.remove() }
        let state = directory.path + "/state"
        let spec = """
            apiVersion: hypermesh/v1
            kind: CertificatePolicy
            metadata: {name: tls}
            spec:
              commonName: node-1
              dnsNames: [node-1.lan]
              output: {directory: \(directory.path)/tls, mode: "0640"}
            """
        let first = try ProcessRunner.hypermesh(["apply", "-f", "-"], stateDirectory: state, standardInput: spec)
        #expect(first.status == 0)
        let pending = try ProcessRunner.hypermesh(["get", "cert", "tls", "-o", "json"], stateDirectory: state)
        #expect(try JSONValue(parsingJSON: pending.standardOutput).value(atPath: "status.conditions[0].reason") == "IssuerMissing")
        #expect(try ProcessRunner.hypermesh(["ca", "init"], stateDirectory: state).status == 0)
        #expect(try ProcessRunner.hypermesh(["reconcile"], stateDirectory: state).status == 0)
        let ready = try JSONValue(parsingJSON: try ProcessRunner.hypermesh(["get", "cert", "tls", "-o", "json"], stateDirectory: state).standardOutput)
        #expect(ready.value(atPath: "status.conditions[0].reason") == "Issued")
        let serial = try #require(ready.value(atPath: "status.serial")?.stringValue)
        let text = try openssl(["x509", "-in", directory.path + "/tls/cert.pem", "-noout", "-serial"]).standardOutput
        #expect(text.lowercased() == "serial=\(serial)\n")
        let mode = try FileManager.default.attributesOfItem(atPath: directory.path + "/tls/key.pem")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o640)
        let wait = try ProcessRunner.hypermesh(["apply", "-f", "-", "--wait=10s"], stateDirectory: state, standardInput: spec)
        #expect(wait.status == 0, "\(wait.standardError)")
    }
}
