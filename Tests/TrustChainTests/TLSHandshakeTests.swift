import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
import TrustChain

/// Mutual TLS between `openssl s_server` and `openssl s_client` on loopback with issued certificates.
struct TLSHandshakeTests {
    struct Party {
        var cert: String
        var key: String
        var chain: String
    }

    static func party(_ ca: CertificateAuthority, _ name: String, usage: IssuanceRequest.Usage, into directory: URL) throws -> Party {
        let out = directory.appendingPathComponent(name)
        try ca.issue(IssuanceRequest(commonName: name, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], usage: usage)).write(to: out)
        return Party(cert: out.path + "/cert.pem", key: out.path + "/key.pem", chain: out.path + "/chain.pem")
    }

    /// Runs one handshake; returns the client's result and what the server printed.
    static func handshake(server: Party, client: Party, trust: String) throws -> (client: ProcessResult, server: String) {
        let port = Int.random(in: 20000...60000)
        let serverProcess = Process()
        serverProcess.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        serverProcess.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", server.cert, "-key", server.key,
                                   "-cert_chain", server.chain, "-CAfile", trust, "-Verify", "2", "-verify_return_error",
                                   "-naccept", "1", "-quiet"]
        let serverOutput = Pipe()
        serverProcess.standardOutput = serverOutput
        serverProcess.standardError = serverOutput
        serverProcess.standardInput = Pipe()
        try serverProcess.run()
        defer { if serverProcess.isRunning { serverProcess.terminate() } }
        var result = ProcessResult(status: -1, standardOutput: "", standardError: "")
        for _ in 0..<50 {
            usleep(100_000)
            result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), [
                "s_client", "-connect", "127.0.0.1:\(port)", "-cert", client.cert, "-key", client.key, "-cert_chain", client.chain,
                "-CAfile", trust, "-verify_return_error", "-verify_hostname", "localhost", "-brief",
            ], standardInput: "")
            if !result.standardError.contains("Connection refused") { break }
        }
        serverProcess.terminate()
        serverProcess.waitUntilExit()
        let printed = String(decoding: serverOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (result, printed)
    }

    @Test func mutualTLSSucceedsWithIssuedCertificatesAndRefusesAForeignCA() throws {
        let directory = try TemporaryDirectory(prefix: "tls")
        defer { directory.remove() }
        let ca = try CertificateAuthority.initialize(in: directory.url.appendingPathComponent("ca"), name: "Mesh")
        let foreignCA = try CertificateAuthority.initialize(in: directory.url.appendingPathComponent("foreign"), name: "Foreign")
        let server = try Self.party(ca, "server", usage: .server, into: directory.url)
        let client = try Self.party(ca, "client", usage: .client, into: directory.url)
        let intruder = try Self.party(foreignCA, "intruder", usage: .client, into: directory.url)
        let trust = ca.directory.path + "/root.pem"

        let good = try Self.handshake(server: server, client: client, trust: trust)
        #expect(good.client.status == 0, "client: \(good.client.standardError) server: \(good.server)")
        #expect(good.client.standardError.contains("Verification: OK"))
        #expect(good.client.standardError.contains("Peer certificate: CN = server") || good.client.standardError.contains("CN=server"))

        let refused = try Self.handshake(server: server, client: intruder, trust: trust)
        #expect(refused.client.status != 0 || !refused.server.isEmpty)
        #expect(refused.server.contains("unable to get local issuer certificate") || refused.server.contains("verify error")
                || refused.server.contains("certificate verify failed"), "server said: \(refused.server)")
    }
}
