import Crypto
import Foundation
import HyperMeshConsensus
import HyperMeshControllers
import HyperMeshCore
import HyperMeshStore
import HyperMeshValidator
import Logging
import ServiceLifecycle
import STOQ
import Synchronization

/// The agent's way to the mesh ledger, for its controllers (``MeshLedgerAccess``): with the validator it
/// hosts, reads are that validator's committed state and operations go straight to it; on any other member,
/// a ``LedgerFollower`` keeps a checked copy of the committed chain from the validators (asking one, then
/// the next when it does not answer) and operations go to every validator over `stoq/1`.
///
/// Operations are signed with the node key, carry the work the validators ask for and a recent tick of a
/// validator's history.
final class AgentLedger: MeshLedgerAccess, Service, @unchecked Sendable {
    /// How often a follower asks for new blocks, and sends what was submitted meanwhile.
    static let pollInterval: TimeInterval = 0.2

    let nodeID: String
    private let privateKey: P256.Signing.PrivateKey
    private let validators: ValidatorSet
    private let hosted: ValidatorNode?
    private let stateDirectory: URL
    private let tls: TLSConfiguration
    /// This node's STOQ server, whose socket carries the connections to the validators too.
    private let dialFrom: STOQServer?
    private let logger: Logger
    private let followed = Mutex<(ledger: LedgerState, time: TimeReference?)>((LedgerState(), nil))
    private let outbox = Mutex<[HyperMeshConsensus.Operation]>([])
    private let sequence: Atomic<UInt64>
    private let wake = DispatchSemaphore(value: 0)

    init(privateKey: P256.Signing.PrivateKey, validators: ValidatorSet, hosted: ValidatorNode?, stateDirectory: URL,
         tls: TLSConfiguration, dialFrom: STOQServer? = nil, logger: Logger) {
        self.dialFrom = dialFrom
        self.privateKey = privateKey
        self.nodeID = NodeKeySigner.nodeID(of: privateKey.publicKey)
        self.validators = validators
        self.hosted = hosted
        self.stateDirectory = stateDirectory
        self.tls = tls
        self.logger = logger
        // Microseconds since the epoch: a restarted agent never repeats a sequence number.
        self.sequence = Atomic(UInt64(Date().timeIntervalSince1970 * 1_000_000))
    }

    var validatorCount: Int { self.validators.members.count }

    /// The ledger access of this node's agent: `nil` without a Mesh listing validators, or without the node's
    /// mesh credentials.
    static func make(store: StateStore, stateDirectory: URL, hosted: ValidatorNode?, dialFrom: STOQServer? = nil, logger: Logger) throws
        -> AgentLedger?
    {
        guard let mesh = try store.objects(of: .mesh).first(where: { $0.deletionRequestedAt == nil }),
              mesh.spec["validators"]?.arrayValue?.isEmpty == false, NodeTLS.missingFiles(stateDirectory).isEmpty else { return nil }
        let validators = try ValidatorSet(meshSpec: mesh.spec, meshName: mesh.key.name)
        let identity = try NodeIdentity.loadOrCreate(in: stateDirectory).identity
        return AgentLedger(privateKey: identity.privateKey, validators: validators, hosted: hosted, stateDirectory: stateDirectory,
                           tls: try NodeTLS.configuration(stateDirectory), dialFrom: dialFrom, logger: logger)
    }

    func committed() -> LedgerState {
        if let hosted { return hosted.committedLedger.ledger }
        return self.followed.withLock { $0.ledger }
    }

    @discardableResult
    func submit(_ kind: HyperMeshConsensus.Operation.Kind, subject: String, terms: MeshTerms) throws -> ConsensusHash {
        let time = self.hosted?.committedLedger.time ?? self.followed.withLock { $0.time }
        let now = Date().timeIntervalSince1970
        var operation = HyperMeshConsensus.Operation(
            kind: kind, proposer: -1, sequence: self.sequence.add(1, ordering: .relaxed).newValue, subject: subject, amount: 0,
            timestampMilliseconds: Int64(now * 1000), time: time, node: self.nodeID, payload: terms.bytes)
        operation.work = WorkProof.solve(digest: operation.digest, bits: ValidatorDefaults.workBits)
        operation.signature = NodeKeySigner.sign(operation.digest.bytes, with: self.privateKey)
        if let hosted {
            hosted.submit([operation])
        } else {
            self.outbox.withLock { $0.append(operation) }
            self.wake.signal()
        }
        return operation.digest
    }

    func run() async throws {
        guard self.hosted == nil else { return try await gracefulShutdown() }
        let stop = StopFlag()
        let path = self.stateDirectory.appendingPathComponent(ValidatorDefaults.ledgerPath).path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let store = try LedgerStore(path: path)
        await runBlocking(named: "mesh-ledger", {
            // Made on its own thread, which alone touches it.
            let follower: LedgerFollower
            do {
                follower = try LedgerFollower(validatorNodeIDs: self.validators.nodeIDs,
                                              minimumStake: self.validators.requirements.minimumStake, store: store)
            } catch {
                return self.logger.error("The local copy of the ledger cannot be read; not following", metadata: [
                    "ledger": "\(path)", "error": "\(error)"])
            }
            self.followed.withLock { $0.ledger = follower.ledger }
            self.follow(follower, until: stop)
        }, stop: {
            stop.set()
            self.wake.signal()
        })
    }

    // MARK: - Following

    private var connections: [String: STOQClientConnection] = [:]
    /// The validator asked first; moves on when one does not answer.
    private var preferred = 0

    private func follow(_ follower: LedgerFollower, until stop: StopFlag) {
        while !stop.isSet {
            self.sendOutbox()
            self.pull(into: follower)
            _ = self.wake.wait(timeout: .now() + Self.pollInterval)
        }
        for connection in self.connections.values { connection.close() }
    }

    private func pull(into follower: LedgerFollower) {
        for attempt in 0..<self.validators.members.count {
            let member = self.validators.members[(self.preferred + attempt) % self.validators.members.count]
            do {
                let sink = MemorySink()
                _ = try self.connection(to: member).perform(STOQRequest(.call(LedgerSync.request(above: follower.heldHeight)), sink: sink),
                                                           timeout: .seconds(5))
                let sync = try LedgerSync(decoding: sink.bytes)
                try follower.accept(sync)
                let ledger = follower.ledger
                self.followed.withLock { $0 = (ledger, sync.time ?? $0.time) }
                // More to fetch: ask again at once.
                if sync.blocks.count == LedgerSync.maximumBlocks { return self.pull(into: follower) }
                return
            } catch {
                self.drop(member)
                self.preferred = (self.preferred + 1) % self.validators.members.count
                self.logger.debug("Ledger sync failed", metadata: ["validator": "\(member.address)", "error": "\(error)"])
            }
        }
    }

    private func sendOutbox() {
        let operations = self.outbox.withLock { outbox in
            defer { outbox.removeAll() }
            return outbox
        }
        guard !operations.isEmpty else { return }
        let messages = ValidatorClient.messages(carrying: operations)
        var reached = 0
        for member in self.validators.members {
            do {
                let responses = try self.connection(to: member).perform(messages, timeout: .seconds(5))
                if let error = responses.compactMap(\.error).first { throw error }
                reached += 1
            } catch {
                self.drop(member)
                self.logger.info("A validator did not take this node's operations", metadata: [
                    "validator": "\(member.address)", "error": "\(error)", "operations": "\(operations.count)"])
            }
        }
        // None reached: keep them for the next round (controllers hand in again too, after a while).
        if reached == 0 { self.outbox.withLock { $0.insert(contentsOf: operations, at: 0) } }
    }

    private func connection(to member: ValidatorSet.Member) throws -> STOQClientConnection {
        if let open = self.connections[member.nodeID] { return open }
        var configuration = STOQClient.Configuration(tls: self.tls)
        configuration.expectedPeerNodeID = member.nodeID
        var quiet = self.logger
        quiet.logLevel = .critical
        let client = try STOQClient(configuration: configuration, logger: quiet)
        let address = try SocketAddress(parsing: member.address)
        let connection = try client.connect(to: address, preferringSocketOf: self.dialFrom, timeout: .seconds(3))
        self.connections[member.nodeID] = connection
        return connection
    }

    private func drop(_ member: ValidatorSet.Member) {
        self.connections.removeValue(forKey: member.nodeID)?.close()
    }
}
