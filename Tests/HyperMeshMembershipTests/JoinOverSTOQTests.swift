import Crypto
import Foundation
import HyperMeshCore
@testable import HyperMeshMembership
import HyperMeshTestSupport
import Logging
import STOQ
import Testing
import TrustChain
import X509

/// A mesh CA node answering `hm-join/1` on a real STOQ server (QUIC + TLS 1.3 on loopback), and joiners.
@Suite(.serialized)
struct JoinOverSTOQTests {
    /// The CA node: its CA, its own node certificate in `stoq/`, and a server that answers joins.
    final class CANode: @unchecked Sendable {
        let directory: TemporaryDirectory
        let authority: CertificateAuthority
        let server: STOQServer
        let service: MembershipService
        let tls: TLSConfiguration
        private let finished = DispatchSemaphore(value: 0)

        init() throws {
            self.directory = try TemporaryDirectory(prefix: "join-ca")
            self.authority = try CertificateAuthority.initialize(in: self.directory.url.appendingPathComponent("ca"), name: "family")
            let out = self.directory.url.appendingPathComponent("stoq")
            let key = P256.Signing.PrivateKey()
            let nodeID = SHA256.hash(data: key.publicKey.derRepresentation).hexString
            let issued = try self.authority.issue(IssuanceRequest(commonName: "ca-node", uris: ["hm://\(nodeID)"], usage: .both,
                                                                  duration: .hours(1), policy: "node:\(nodeID)"),
                                                  subjectKey: GeneratedKey(pem: key.pemRepresentation))
            try issued.write(to: out)
            try self.authority.rootPEM.write(to: out.appendingPathComponent("root.pem"), atomically: true, encoding: .utf8)
            self.tls = TLSConfiguration(certificateChainPath: out.path + "/chain.pem", privateKeyPath: out.path + "/key.pem",
                                        trustedRootsPath: out.path + "/root.pem")
            var configuration = STOQServer.Configuration(listenAddress: try SocketAddress(host: "127.0.0.1", port: 0), tls: self.tls,
                                                         root: self.directory.url.appendingPathComponent("served"))
            var logger = Logger(label: "test.join.server")
            logger.logLevel = .critical
            let service = MembershipService(authority: self.authority, mesh: {
                MeshDescription(name: "family", validators: [ValidatorAddress(id: nodeID, address: "127.0.0.1:9292")])
            }, selfNodeID: nodeID, selfAddress: "127.0.0.1:9292", logger: logger)
            self.service = service
            configuration.acceptsJoiningClients = true
            configuration.callHandler = { request, caller in service.answer(request, caller: caller) }
            try FileManager.default.createDirectory(at: configuration.root, withIntermediateDirectories: true)
            self.server = try STOQServer(configuration: configuration, logger: logger)
            Thread { [server, finished] in
                server.run()
                finished.signal()
            }.start()
        }

        var address: SocketAddress { self.server.localAddress }

        func stop() {
            self.server.stop()
            self.finished.wait()
            self.directory.remove()
        }
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "test.join.client")
        logger.logLevel = .critical
        return logger
    }

    @Test func aMachineJoinsAndItsCertificateOpensAMutualTLSConnection() async throws {
        let node = try CANode()
        defer { node.stop() }
        let token = try node.authority.makeJoinToken(lifetime: .hours(1), validator: true)
        let key = P256.Signing.PrivateKey()
        let joiner = MeshJoiner(nodeKey: key, nodeName: "laptop", logger: Self.quietLogger)
        let joined = try await joiner.join(node.address, token: token)
        #expect(joined.nodeID == joiner.nodeID)
        #expect(joined.validator)
        #expect(joined.mesh == MeshDescription(name: "family", validators: [joined.mesh.validators[0]]))
        #expect(joined.mesh.validators.count == 1)

        let out = try TemporaryDirectory(prefix: "joined")
        defer { out.remove() }
        try joined.credentials.write(to: out.url, nodeKeyPEM: key.pemRepresentation)
        let mode = try FileManager.default.attributesOfItem(atPath: out.url.path + "/key.pem")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The new certificate is a real mesh identity: the CA node's server accepts it on `stoq/1`.
        var configuration = STOQClient.Configuration(tls: TLSConfiguration(
            certificateChainPath: out.url.path + "/chain.pem", privateKeyPath: out.url.path + "/key.pem",
            trustedRootsPath: out.url.path + "/root.pem", revocationListPath: out.url.path + "/crl.pem"))
        configuration.alpn = STOQDefaults.meshALPN
        let connection = try STOQClient(configuration: configuration, logger: Self.quietLogger).connect(to: node.address)
        defer { connection.close() }
        _ = try connection.ping()
        #expect(connection.peerNodeID != nil)

        // The token is spent: a second machine with it is refused, with the reason.
        let second = MeshJoiner(nodeKey: P256.Signing.PrivateKey(), nodeName: "desktop", logger: Self.quietLogger)
        await #expect {
            _ = try await second.join(node.address, token: token)
        } throws: { error in
            (error as? HyperMeshError)?.message.contains("already used") == true
        }
    }

    @Test func aTokenForAnotherRootAbortsBeforeTheSecretIsSent() async throws {
        let node = try CANode()
        defer { node.stop() }
        let token = try node.authority.makeJoinToken(lifetime: .hours(1))
        let pinnedElsewhere = JoinToken(id: token.id, secret: token.secret, rootFingerprint: String(repeating: "ab", count: 32))
        let joiner = MeshJoiner(nodeKey: P256.Signing.PrivateKey(), nodeName: "laptop", logger: Self.quietLogger)
        await #expect {
            _ = try await joiner.join(node.address, token: pinnedElsewhere)
        } throws: { error in
            let message = (error as? HyperMeshError)?.message ?? ""
            return message.contains("belongs to another mesh") && message.contains("nothing was sent")
        }
        // The server never saw the secret: the token is unused and still works.
        #expect(try node.authority.registry.joinTokens().first?.usedAt == nil)
        _ = try await joiner.join(node.address, token: token)
    }

    @Test func aClientWithoutACertificateGetsOnlyTheJoinProtocolAndOnlyCalls() async throws {
        let node = try CANode()
        defer { node.stop() }
        // `stoq/1` still requires a certificate: the handshake is refused.
        var mesh = STOQClient.Configuration.anonymous(alpn: STOQDefaults.meshALPN)
        mesh.tuning.handshakeTimeout = .seconds(3)
        #expect(throws: STOQError.handshakeRefused()) {
            _ = try STOQClient(configuration: mesh, logger: Self.quietLogger).connect(to: node.address, timeout: .seconds(5)).ping()
        }
        // On `hm-join/1`, a file fetch or a blob store is refused; ping and call are answered.
        let connection = try STOQClient(configuration: .anonymous(), logger: Self.quietLogger).connect(to: node.address)
        defer { connection.close() }
        #expect(!connection.peerCertificateChain.isEmpty)
        let fetch = try connection.perform([STOQRequest(.fetch(path: "anything"), sink: MemorySink())])
        #expect(fetch[0].error?.message.contains("needs a client certificate") == true)
        let put = try connection.perform([STOQRequest(.putBlob(id: Array(SHA256.hash(data: Data([1]))), contents: .bytes([1])))])
        #expect(put[0].error?.message.contains("needs a client certificate") == true)
        _ = try connection.ping()

        // Garbage in a call gets a reason back, not a crash or a hang.
        for garbage: [UInt8] in [[], Array("not json".utf8), Array(#"{"operation":"steal"}"#.utf8), Array(#"{"operation":"join"}"#.utf8),
                                 Array(#"{"operation":"join","join":{"tokenID":"x"}}"#.utf8)] {
            let sink = MemorySink()
            _ = try connection.perform(STOQRequest(.call(garbage), sink: sink))
            let reply = try JSONDecoder().decode(MembershipReply.self, from: Data(sink.bytes))
            #expect(reply.error != nil, "\(String(decoding: garbage, as: UTF8.self))")
        }
        let missing = MemorySink()
        _ = try connection.perform(STOQRequest(.call(Array(#"{"operation":"join","join":{"tokenID":"x"}}"#.utf8)), sink: missing))
        #expect(String(decoding: missing.bytes, as: UTF8.self).contains("missing join.secret"))
    }

    /// A member renews over `stoq/1` with its current certificate; once removed, it cannot; and the CRL the CA
    /// node hands out lists it.
    @Test func aMemberRenewsItsCertificateUntilItIsRemoved() async throws {
        let node = try CANode()
        defer { node.stop() }
        let key = P256.Signing.PrivateKey()
        let joined = try await MeshJoiner(nodeKey: key, nodeName: "laptop", logger: Self.quietLogger)
            .join(node.address, token: try node.authority.makeJoinToken(lifetime: .hours(1)))
        let out = try TemporaryDirectory(prefix: "member")
        defer { out.remove() }
        try joined.credentials.write(to: out.url, nodeKeyPEM: key.pemRepresentation)
        let tls = TLSConfiguration(certificateChainPath: out.url.path + "/chain.pem", privateKeyPath: out.url.path + "/key.pem",
                                   trustedRootsPath: out.url.path + "/root.pem")
        let client = MembershipClient(tls: tls, caAddress: node.address, logger: Self.quietLogger)
        let root = try Certificate(pemEncoded: joined.credentials.rootPEM)
        let renewed = try await client.renew(nodeKey: key, root: root)
        #expect(renewed.serial != joined.serial)
        #expect(try Certificate(pemEncoded: renewed.credentials.certificatePEM).publicKey == Certificate.PublicKey(key.publicKey))
        // The earlier certificate stays valid: connections made with it are not cut by a renewal.
        #expect(try node.authority.registry.record(serial: joined.serial)?.revokedAt == nil)
        // Never heard from: Lost. A crl call with its listen address is its heartbeat: Ready, there (a wildcard host
        // is replaced by the address its packets came from).
        #expect(try client.members().first { $0.name == "laptop" }?.status == .lost)
        #expect(try client.revocationList(listen: "0.0.0.0:7000").contains("BEGIN X509 CRL"))
        let heard = try #require(try client.members().first { $0.name == "laptop" })
        #expect(heard.status == .ready && heard.address == "127.0.0.1:7000" && heard.lastSeen != nil && !heard.validator)
        let later = try #require(try node.service.members(now: Date().addingTimeInterval(MembershipService.lostAfter + 1))
            .first { $0.name == "laptop" })
        #expect(later.status == .lost)

        // Renewing needs a certificate: the anonymous join protocol refuses it.
        let anonymous = try STOQClient(configuration: .anonymous(), logger: Self.quietLogger).connect(to: node.address)
        defer { anonymous.close() }
        let sink = MemorySink()
        _ = try anonymous.perform(STOQRequest(.call(Array(#"{"operation":"renew","renew":{"certificateRequest":""}}"#.utf8)), sink: sink))
        #expect(String(decoding: sink.bytes, as: UTF8.self).contains("needs the node's current certificate"))

        let removed = try node.authority.revokeNode("laptop")
        #expect(removed.nodeID == joined.nodeID && removed.serials.count == 2)
        let list = try RevocationList(pemOrDER: Array(try client.revocationList().utf8), issuer: node.authority.intermediate)
        #expect(list.revokedSerials.isSuperset(of: Set(removed.serials)))
        // Refused now (the test server has no CRL loaded, so it is the CA's registry that says no).
        await #expect {
            _ = try await client.renew(nodeKey: key, root: root)
        } throws: { error in "\(error)".contains("not a member") }
        #expect(throws: HyperMeshError.self) { _ = try node.authority.revokeNode("laptop") }
        #expect(try node.service.members().first { $0.name == "laptop" }?.status == .revoked)
        // The CA node itself: always Ready, a validator here.
        let caNode = try #require(try node.service.members().first { $0.name == "ca-node" })
        #expect(caNode.status == .ready && caNode.validator)
    }

    @Test func nothingListeningIsAnIOErrorNamingTheAddress() async throws {
        let joiner = MeshJoiner(nodeKey: P256.Signing.PrivateKey(), nodeName: "laptop", logger: Self.quietLogger)
        let token = JoinToken(id: "000000000000", secret: String(repeating: "1", count: 32), rootFingerprint: String(repeating: "2", count: 64))
        let unused = try SocketAddress(host: "127.0.0.1", port: 9)
        await #expect {
            _ = try await joiner.join(unused, token: token, timeout: .seconds(3))
        } throws: { error in
            (error as? HyperMeshError)?.code == .io && "\(error)".contains("127.0.0.1:9")
        }
    }
}
