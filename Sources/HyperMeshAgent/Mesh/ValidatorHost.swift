import Foundation
import HyperMeshControllers
import HyperMeshCore
import HyperMeshStore
import HyperMeshValidator
import Logging
import ServiceLifecycle
import STOQ

/// The agent runs this node's validator when its Mesh object lists this node among `spec.validators`: no
/// separate `hypermesh consensus validator` process, and no second port — the validator's messages come in
/// through the agent's STOQ server (``deliver(_:from:)``), its links to the other validators go out with the
/// node certificate. Its ledger is `STATE/consensus/ledger.sqlite`, where `hypermesh consensus ledger` reads it.
final class ValidatorHost: Service {
    let node: ValidatorNode

    /// `nil` when this node is not a validator of its mesh (or has no mesh credentials yet).
    static func make(store: StateStore, stateDirectory: URL, listenAddress: String, logger: Logger) throws -> ValidatorHost? {
        guard let mesh = try store.objects(of: .mesh).first(where: { $0.deletionRequestedAt == nil }),
              mesh.spec["validators"]?.arrayValue?.isEmpty == false, NodeTLS.missingFiles(stateDirectory).isEmpty else { return nil }
        let validators = try ValidatorSet(meshSpec: mesh.spec, meshName: mesh.key.name)
        let identity = try NodeIdentity.loadOrCreate(in: stateDirectory).identity
        let address: SocketAddress
        do { address = try SocketAddress(parsing: listenAddress) } catch let error as STOQError {
            throw HyperMeshError.invalidArgument("validator: \(error.message)")
        }
        guard var configuration = try ValidatorNode.Configuration.forNode(
            privateKey: identity.privateKey, validators: validators, tls: NodeTLS.configuration(stateDirectory),
            listenAddress: address, stateDirectory: stateDirectory) else { return nil }
        configuration.bindsOwnServer = false
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .info)
        return ValidatorHost(node: try ValidatorNode(configuration: configuration, logger: quiet))
    }

    private init(node: ValidatorNode) {
        self.node = node
    }

    /// What the agent's STOQ server hands over: every MESSAGE is the validator's (the shard server takes none).
    func deliver(_ bytes: [UInt8], from peerNodeID: String?) {
        self.node.receive(bytes, from: peerNodeID)
    }

    func run() async throws {
        let node = self.node
        let failure = FailureBox()
        await runBlocking(named: "validator", {
            do { try node.run() } catch { failure.error = error }
        }, stop: { node.stop() })
        if let error = failure.error { throw error }
    }
}

private final class FailureBox: @unchecked Sendable {
    var error: (any Error)?
}
