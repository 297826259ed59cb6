import Foundation
import HyperMeshControllers
import HyperMeshCore
import Logging
import ServiceLifecycle
import STOQ
import HyperMeshMembership
import HyperMeshConsensus

/// `stoq: HOST:PORT`: the agent holds its share of other nodes' mirrors — shards PUT, GET and asked for with
/// WANT over `stoq/1` — and serves them with the node certificate in `STATE/stoq/` (`chain.pem`, `key.pem`,
/// `root.pem`, optional `crl.pem`); every peer must present a certificate from the same mesh root. Shards
/// are kept in `STATE/stoq/served/.blobs`.
///
/// With `membership` (this node holds the mesh CA), the same port also answers `hm-join/1`: machines without a
/// certificate yet may ask to join there, and nothing else.
final class ShardServer: Service {
    private let server: STOQServer

    /// Binds the port and loads the certificate, so a bad address or a missing certificate stops the start.
    init(address: String, stateDirectory: URL, membership: MembershipService? = nil,
         messages: (@Sendable (_ bytes: [UInt8], _ peerNodeID: String?) -> Void)? = nil,
         ledgerSync: (@Sendable (_ above: UInt64) -> [UInt8])? = nil, logger: Logger) throws {
        let tlsDirectory = NodeTLS.directory(stateDirectory)
        if let file = NodeTLS.missingFiles(stateDirectory).first {
            throw HyperMeshError.invalidArgument("stoq: \(tlsDirectory.path)/\(file) is missing; issue the node certificate with "
                + "`hypermesh ca issue --node-identity --out \(tlsDirectory.path)` and copy the mesh root there as root.pem")
        }
        let listen: SocketAddress
        do { listen = try SocketAddress(parsing: address) } catch let error as STOQError {
            throw HyperMeshError.invalidArgument("stoq: \(error.message)")
        }
        let served = tlsDirectory.appendingPathComponent("served")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var configuration = STOQServer.Configuration(listenAddress: listen, tls: NodeTLS.configuration(stateDirectory), root: served)
        configuration.messageHandler = messages
        if membership != nil || ledgerSync != nil {
            configuration.acceptsJoiningClients = membership != nil
            configuration.callHandler = { request, caller in
                // Followers of the ledger (members only) ask the validator this node hosts for blocks.
                if let height = LedgerSync.height(ofRequest: request) {
                    guard caller.nodeID != nil, let ledgerSync else { return [] }
                    return ledgerSync(height)
                }
                return membership?.answer(request, caller: caller) ?? []
            }
        }
        do {
            self.server = try STOQServer(configuration: configuration, logger: logger)
        } catch let error as STOQError {
            throw HyperMeshError.invalidArgument("stoq: cannot serve on \(address): \(error.message)")
        }
    }

    var localAddress: SocketAddress { self.server.localAddress }

    /// The server, for connections this node dials from its one socket (``STOQClient/connect(to:from:timeout:)``).
    var stoqServer: STOQServer { self.server }

    /// Loads the files in `STATE/stoq/` again (a renewed certificate, a new CRL) and drops the peers whose
    /// certificate serial is in `revoked`.
    func reload(stateDirectory: URL, revoked: Set<String>) throws {
        try self.server.reload(tls: NodeTLS.configuration(stateDirectory), closingPeersWithSerials: revoked)
    }

    func run() async throws {
        let server = self.server
        await runBlocking(named: "stoq-server", { server.run() }, stop: { server.stop() })
    }
}
