import Foundation
import Testing
@testable import STOQ

@Suite(.serialized)
struct MutualTLSTests {
    @Test func aClientFromAnotherCAIsRefusedDuringTheHandshake() throws {
        let server = try RunningServer()
        defer { server.stop() }
        #expect(throws: STOQError.handshakeRefused()) {
            let connection = try server.connect(tls: TestPKI.shared.foreignClient)
            _ = try connection.ping()
        }
        // The server keeps serving good clients.
        _ = try server.connect().ping()  // still answers (ping throws when it does not)
    }

    @Test func anExpiredClientCertificateIsRefused() throws {
        let server = try RunningServer()
        defer { server.stop() }
        #expect(throws: STOQError.handshakeRefused()) {
            try server.connect(tls: TestPKI.shared.expiredClient).ping()
        }
    }

    @Test func aRevokedClientIsRefusedOnlyWhenTheServerHasTheCRL() throws {
        let strict = try RunningServer(tls: TestPKI.shared.serverWithCRL)
        defer { strict.stop() }
        #expect(throws: STOQError.handshakeRefused()) {
            try strict.connect(tls: TestPKI.shared.revokedClient).ping()
        }
        _ = try strict.connect().ping()  // still answers (ping throws when it does not)
        let lax = try RunningServer()
        defer { lax.stop() }
        _ = try lax.connect(tls: TestPKI.shared.revokedClient).ping()  // still answers (ping throws when it does not)
    }

    /// A CRL loaded into a running server: the revoked peer's open connection is closed, its next handshake
    /// refused, and everyone else carries on (their connections untouched).
    @Test func reloadingACRLDropsTheRevokedPeerNow() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let revoked = try server.connect(tls: TestPKI.shared.revokedClient)
        let good = try server.connect()
        _ = try revoked.ping()
        _ = try good.ping()
        #expect(throws: STOQError.self) {
            try server.server.reload(tls: TLSConfiguration(certificateChainPath: "/nonexistent", privateKeyPath: "/nonexistent",
                                                           trustedRootsPath: "/nonexistent"))
        }
        try server.server.reload(tls: TestPKI.shared.serverWithCRL, closingPeersWithSerials: ["00" + TestPKI.shared.revokedSerial.uppercased()])
        let deadline = Date().addingTimeInterval(5)
        var closed = false
        while Date() < deadline && !closed {
            closed = (try? revoked.ping()) == nil
            if !closed { usleep(20_000) }
        }
        #expect(closed, "the revoked peer's connection stayed open")
        // It is told why: the reason phrase travels in CONNECTION_CLOSE.
        do {
            _ = try revoked.ping()
            Issue.record("a closed connection answered")
        } catch let error as STOQError {
            #expect(error.message.contains("certificate revoked"), "\(error.message)")
        }
        _ = try good.ping()  // still answers (ping throws when it does not)
        #expect(throws: STOQError.handshakeRefused()) {
            try server.connect(tls: TestPKI.shared.revokedClient).ping()
        }
        _ = try server.connect().ping()  // still answers (ping throws when it does not)
    }

    @Test func aClientRefusesAServerItsRootDoesNotTrust() throws {
        let server = try RunningServer()
        defer { server.stop() }
        var tls = TestPKI.shared.client
        tls.trustedRootsPath = TestPKI.shared.directory.url.appendingPathComponent("other-ca/root.pem").path
        #expect(throws: STOQError.handshakeRefused()) { _ = try server.connect(tls: tls) }
    }

    @Test func missingOrUnreadableFilesAreClearErrors() throws {
        var tls = TestPKI.shared.client
        tls.privateKeyPath = "/nonexistent/key.pem"
        #expect(throws: STOQError.tls()) { _ = try STOQClient(configuration: .init(tls: tls)) }
        var garbage = TestPKI.shared.client
        let path = TestPKI.shared.directory.url.appendingPathComponent("garbage.pem").path
        try "not a certificate".write(toFile: path, atomically: true, encoding: .utf8)
        garbage.trustedRootsPath = path
        #expect(throws: STOQError.tls()) { _ = try STOQClient(configuration: .init(tls: garbage)) }
    }
}
