import Foundation
import HyperMeshControllers
import HyperMeshCore
import HyperMeshStore
import Logging
import ServiceLifecycle
import STOQ
import STOQData

/// Keeps a connection to every peer a `MirrorPolicy` places shards on and PINGs each every few seconds; when
/// one stops answering (or answers again) the policies using it are reconciled at once — so a lost peer's
/// shards are placed elsewhere within seconds, not at the next periodic check.
final class MirrorPeerWatcher: Service {
    static let interval: TimeInterval = 2

    private let store: StateStore
    private let state: AgentState
    private let stateDirectory: URL
    /// The agent's STOQ server: PINGs leave from its socket.
    private let dialFrom: STOQServer?
    private let logger: Logger

    init(store: StateStore, state: AgentState, stateDirectory: URL, dialFrom: STOQServer? = nil, logger: Logger) {
        self.dialFrom = dialFrom
        self.store = store
        self.state = state
        self.stateDirectory = stateDirectory
        self.logger = logger
    }

    func run() async throws {
        let stop = StopFlag()
        await runBlocking(named: "mirror-peers", { self.watch(until: stop) }, stop: { stop.set() })
    }

    /// The loop, on a thread of its own (the PINGs block).
    private func watch(until stop: StopFlag) {
        var peers: [String: ShardPeer] = [:]
        var alive: [String: Bool] = [:]
        while !stop.isSet {
            var users: [String: [ResourceKey]] = [:]
            for policy in (try? self.store.objects(of: .mirrorPolicy)) ?? [] where policy.deletionRequestedAt == nil {
                guard let (wanted, _) = try? MirrorPolicyController.peers(for: policy.spec, stateDirectory: self.stateDirectory,
                                                                         store: self.store, dialFrom: self.dialFrom) else { continue }
                for peer in wanted {
                    let key = "\(peer.name)@\(peer.address)"
                    if peers[key] == nil { peers[key] = peer } else { peer.close() }
                    users[key, default: []].append(policy.key)
                }
            }
            for (key, peer) in peers where users[key] == nil {
                peer.close()
                peers[key] = nil
                alive[key] = nil
            }
            var changed: Set<ResourceKey> = []
            for (key, peer) in peers.sorted(by: { $0.key < $1.key }) {
                let now = peer.isAlive()
                if let before = alive[key], before != now {
                    self.logger.notice(now ? "Mirror peer is back" : "Mirror peer lost", metadata: ["peer": "\(peer.name)"])
                    changed.formUnion(users[key] ?? [])
                }
                alive[key] = now
            }
            if !changed.isEmpty { self.state.wake(Array(changed)) }
            let deadline = Date().addingTimeInterval(Self.interval)
            while !stop.isSet && Date() < deadline { usleep(50_000) }
        }
        for peer in peers.values { peer.close() }
    }
}

/// A flag set once from any thread.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { self.lock.withLock { self.value } }
    func set() { self.lock.withLock { self.value = true } }
}
