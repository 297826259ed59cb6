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

/// The agent's way to the mesh ledger, for its controllers (``MeshLedgerAccess``). The committed chain says
/// whether this node validates: while the epoch it reached names this node, the agent hosts its
/// ``ValidatorNode`` (no separate process, no second port: messages come in through the agent's STOQ server,
/// ``deliver(_:from:)``, and its links leave from that server's socket), reads are that validator's committed
/// state and operations go straight to it. Otherwise a ``LedgerFollower`` keeps a checked copy of the committed
/// chain from the current epoch's validators (asking one, then the next when it does not answer) and operations
/// go to every one of them over `stoq/1`. Both use one file, `STATE/consensus/ledger.sqlite`, one at a time:
/// a follower that sees this node added to the validators hands the file to a validator, which replays it into
/// the new epoch; a validator removed from the set hands it back to a follower.
///
/// Operations are signed with the node key, carry the work the validators ask for and a recent tick of a
/// validator's history.
final class AgentLedger: MeshLedgerAccess, Service, @unchecked Sendable {
    /// How often a follower asks for new blocks, and sends what was submitted meanwhile.
    static let pollInterval: TimeInterval = 0.2

    let nodeID: String
    private let privateKey: P256.Signing.PrivateKey
    /// Epoch 0's validators, from the Mesh spec.
    private let genesis: ValidatorSet
    private let stateDirectory: URL
    private let tls: TLSConfiguration
    private let listenAddress: SocketAddress
    /// This node's STOQ server, whose socket carries the connections to the validators too.
    private let dialFrom: STOQServer?
    private let logger: Logger
    private let followed = Mutex<(ledger: LedgerState, time: TimeReference?, validators: [ValidatorMember])>((LedgerState(), nil, []))
    /// The validator this agent hosts now, if the chain names this node.
    private let hosted = Mutex<ValidatorNode?>(nil)
    private let outbox = Mutex<[HyperMeshConsensus.Operation]>([])
    private let sequence: Atomic<UInt64>
    private let wake = DispatchSemaphore(value: 0)

    init(privateKey: P256.Signing.PrivateKey, genesis: ValidatorSet, stateDirectory: URL, tls: TLSConfiguration,
         listenAddress: SocketAddress, dialFrom: STOQServer? = nil, logger: Logger) {
        self.dialFrom = dialFrom
        self.privateKey = privateKey
        self.nodeID = NodeKeySigner.nodeID(of: privateKey.publicKey)
        self.genesis = genesis
        self.stateDirectory = stateDirectory
        self.tls = tls
        self.listenAddress = listenAddress
        self.logger = logger
        self.followed.withLock { $0.validators = genesis.members }
        // Microseconds since the epoch: a restarted agent never repeats a sequence number.
        self.sequence = Atomic(UInt64(Date().timeIntervalSince1970 * 1_000_000))
    }

    /// The ledger access of this node's agent: `nil` without a Mesh listing validators, or without the node's
    /// mesh credentials.
    static func make(store: StateStore, stateDirectory: URL, listenAddress: String, dialFrom: STOQServer? = nil, logger: Logger) throws
        -> AgentLedger?
    {
        guard let mesh = try store.objects(of: .mesh).first(where: { $0.deletionRequestedAt == nil }),
              mesh.spec["validators"]?.arrayValue?.isEmpty == false, NodeTLS.missingFiles(stateDirectory).isEmpty else { return nil }
        let validators = try ValidatorSet(meshSpec: mesh.spec, meshName: mesh.key.name)
        let identity = try NodeIdentity.loadOrCreate(in: stateDirectory).identity
        let address: SocketAddress
        do { address = try SocketAddress(parsing: listenAddress) } catch let error as STOQError {
            throw HyperMeshError.invalidArgument("validator: \(error.message)")
        }
        return AgentLedger(privateKey: identity.privateKey, genesis: validators, stateDirectory: stateDirectory,
                           tls: try NodeTLS.configuration(stateDirectory), listenAddress: address, dialFrom: dialFrom, logger: logger)
    }

    /// The validators of the epoch this node's chain reached.
    var currentValidators: [ValidatorMember] {
        if let node = self.hosted.withLock({ $0 }), let epoch = node.committedLedger.validators { return epoch.members }
        return self.followed.withLock { $0.validators }
    }

    /// Whether this agent hosts a validator now.
    var isHostingValidator: Bool { self.hosted.withLock { $0 != nil } }

    /// A `stoq/1` MESSAGE from another validator: the hosted validator's, dropped while there is none.
    func deliver(_ bytes: [UInt8], from peerNodeID: String?) {
        self.hosted.withLock { $0 }?.receive(bytes, from: peerNodeID)
    }

    /// What a follower asking this node for blocks gets: the hosted validator's chain; nothing while this node
    /// only follows (followers ask validators).
    func sync(above height: UInt64) -> [UInt8] {
        guard let node = self.hosted.withLock({ $0 }) else { return [] }
        return (try? node.sync(above: height).bytes) ?? []
    }

    var signingKey: P256.Signing.PrivateKey { self.privateKey }

    func nextSequence() -> UInt64 { self.sequence.add(1, ordering: .relaxed).newValue }

    func committed() -> LedgerState {
        if let node = self.hosted.withLock({ $0 }) { return node.committedLedger.ledger }
        return self.followed.withLock { $0.ledger }
    }

    @discardableResult
    func submit(_ kind: HyperMeshConsensus.Operation.Kind, subject: String, terms: MeshTerms) throws -> ConsensusHash {
        let node = self.hosted.withLock { $0 }
        let time = node?.committedLedger.time ?? self.followed.withLock { $0.time }
        let now = Date().timeIntervalSince1970
        // An offer in a mesh that demands PoSpace answers a challenge from the newest block this node holds.
        let space = kind == .offer && self.genesis.requirements.space ? try self.spaceProof() : nil
        var operation = HyperMeshConsensus.Operation(
            kind: kind, proposer: -1, sequence: self.sequence.add(1, ordering: .relaxed).newValue, subject: subject, amount: 0,
            timestampMilliseconds: Int64(now * 1000), time: time, space: space, node: self.nodeID, payload: terms.bytes)
        operation.work = WorkProof.solve(digest: operation.digest, bits: ValidatorDefaults.workBits)
        operation.signature = NodeKeySigner.sign(operation.digest.bytes, with: self.privateKey)
        if let node {
            node.submit([operation])
        } else {
            self.outbox.withLock { $0.append(operation) }
            self.wake.signal()
        }
        return operation.digest
    }

    func run() async throws {
        let stop = StopFlag()
        let path = self.stateDirectory.appendingPathComponent(ValidatorDefaults.ledgerPath).path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let failure = Mutex<(any Error)?>(nil)
        await runBlocking(named: "mesh-ledger", {
            // One thread alternates between validating and following, as the chain says.
            while !stop.isSet {
                do {
                    let node = try self.makeValidator()
                    if node.isMember {
                        try self.host(node, until: stop)
                        continue
                    }
                    let store = try LedgerStore(path: path)
                    let follower = try LedgerFollower(genesisValidators: self.genesis.members,
                                                      minimumStake: self.genesis.requirements.minimumStake, store: store)
                    self.followed.withLock { $0.ledger = follower.ledger; $0.validators = follower.currentValidators.members }
                    self.follow(follower, until: stop)
                } catch {
                    failure.withLock { $0 = error }
                    self.logger.error("The mesh ledger at \(path) cannot be used; this node no longer follows it", metadata: ["error": "\(error)"])
                    return
                }
            }
        }, stop: {
            stop.set()
            self.hosted.withLock { $0 }?.stop()
            self.wake.signal()
        })
        if let error = failure.withLock({ $0 }) { throw error }
    }

    // MARK: - Validating

    private func makeValidator() throws -> ValidatorNode {
        var configuration = try ValidatorNode.Configuration.forNode(
            privateKey: self.privateKey, validators: self.genesis, tls: self.tls, listenAddress: self.listenAddress,
            stateDirectory: self.stateDirectory)
        configuration.bindsOwnServer = false
        var quiet = self.logger
        quiet.logLevel = max(self.logger.logLevel, .info)
        return try ValidatorNode(configuration: configuration, logger: quiet)
    }

    /// Runs `node` until it leaves the validators (or the agent stops); operations waiting for a validator go to it.
    private func host(_ node: ValidatorNode, until stop: StopFlag) throws {
        if let server = self.dialFrom { node.dialPeers(from: server) }
        self.hosted.withLock { $0 = node }
        let waiting = self.outbox.withLock { outbox in
            defer { outbox.removeAll() }
            return outbox
        }
        if !waiting.isEmpty { node.submit(waiting) }
        defer {
            let last = node.committedLedger
            self.followed.withLock { $0 = (last.ledger, last.time, last.validators?.members ?? $0.validators) }
            self.hosted.withLock { $0 = nil }
        }
        if stop.isSet { return }
        try node.run()
    }

    // MARK: - Following

    private var connections: [String: STOQClientConnection] = [:]
    /// The validator asked first; moves on when one does not answer.
    private var preferred = 0

    private func follow(_ follower: LedgerFollower, until stop: StopFlag) {
        defer {
            for connection in self.connections.values { connection.close() }
            self.connections.removeAll()
        }
        self.logger.info("Following the mesh ledger", metadata: [
            "epoch": "\(follower.currentValidators.number)", "validators": "\(follower.currentValidators.members.count)"])
        while !stop.isSet {
            self.sendOutbox(to: follower.currentValidators.members)
            self.pull(into: follower)
            // The committed chain names this node a validator: validate from here on.
            if follower.ledger.validators?.index(of: self.nodeID) != nil {
                self.logger.info("This node became a validator", metadata: ["epoch": "\(follower.ledger.validators?.number ?? 0)"])
                return
            }
            _ = self.wake.wait(timeout: .now() + Self.pollInterval)
        }
    }

    private func pull(into follower: LedgerFollower) {
        let members = follower.currentValidators.members.filter { $0.nodeID != self.nodeID }
        guard !members.isEmpty else { return }
        for attempt in 0..<members.count {
            let member = members[(self.preferred + attempt) % members.count]
            do {
                let sink = MemorySink()
                _ = try self.connection(to: member).perform(STOQRequest(.call(LedgerSync.request(above: follower.heldHeight)), sink: sink),
                                                           timeout: .seconds(5))
                let sync = try LedgerSync(decoding: sink.bytes)
                try follower.accept(sync)
                let ledger = follower.ledger
                let validators = follower.currentValidators.members
                self.followed.withLock { $0 = (ledger, sync.time ?? $0.time, validators) }
                // More to fetch: ask again at once.
                if sync.blocks.count == LedgerSync.maximumBlocks { return self.pull(into: follower) }
                return
            } catch {
                self.drop(member)
                self.preferred = (self.preferred + 1) % members.count
                self.logger.debug("Ledger sync failed", metadata: ["validator": "\(member.address)", "error": "\(error)"])
            }
        }
    }

    private func sendOutbox(to validators: [ValidatorMember]) {
        let operations = self.outbox.withLock { outbox in
            defer { outbox.removeAll() }
            return outbox
        }
        guard !operations.isEmpty else { return }
        let messages = ValidatorClient.messages(carrying: operations)
        var reached = 0
        for member in validators where member.nodeID != self.nodeID {
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

    private func connection(to member: ValidatorMember) throws -> STOQClientConnection {
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

    private func drop(_ member: ValidatorMember) {
        self.connections.removeValue(forKey: member.nodeID)?.close()
    }
}

extension AgentLedger {
    /// The epoch this node validates now and its place in it; `nil` while it hosts no validator.
    var hostedEpoch: (epoch: ValidatorEpoch, index: Int)? {
        guard let node = self.hosted.withLock({ $0 }), let epoch = node.committedLedger.validators,
              let index = epoch.index(of: self.nodeID) else { return nil }
        return (epoch, index)
    }

    /// Proposes `members` as the next epoch's validators: a `reconfigure` operation signed by this node as a
    /// validator of the current epoch, handed to its hosted validator. Throws when this node validates nothing now.
    @discardableResult
    func proposeValidators(_ members: [ValidatorMember]) throws -> UInt64 {
        guard let node = self.hosted.withLock({ $0 }), let (epoch, index) = self.hostedEpoch else {
            throw HyperMeshError.invalidArgument("only a validator of the current epoch proposes the next one's validators")
        }
        let next = epoch.number + 1
        var operation = HyperMeshConsensus.Operation(
            kind: .reconfigure, proposer: index, sequence: self.nextSequence(), subject: "epoch-\(next)", amount: 0,
            timestampMilliseconds: Int64(Date().timeIntervalSince1970 * 1000), time: node.committedLedger.time,
            payload: ValidatorChange(epoch: next, members: members).bytes)
        operation.work = WorkProof.solve(digest: operation.digest, bits: ValidatorDefaults.workBits)
        operation.signature = NodeKeySigner.sign(operation.digest.bytes, with: self.signingKey)
        node.submit([operation])
        return next
    }
}

extension AgentLedger {
    /// This node's plot (``ValidatorDefaults/plotPath``) answering the newest committed block of its ledger copy,
    /// with a binding of its node id to the address it listens at: what validators check an offer's PoSpace by.
    func spaceProof() throws -> SpaceProof {
        let path = self.stateDirectory.appendingPathComponent(ValidatorDefaults.plotPath).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw HyperMeshError.invalidArgument("the mesh demands proof of space (consensus.requireSpace) and this node has no plot at "
                + "\(path): make one with `hypermesh consensus plot --out \(path)` (leaves and rounds at least the mesh's minimums)")
        }
        let plot = try SpacePlot.open(at: path)
        guard plot.commitment.nodeID.hexString == self.nodeID else {
            throw HyperMeshError.invalidArgument("\(path) is another node's plot, not this node's (\(self.nodeID.prefix(12))…)")
        }
        let ledger = try LedgerStore(path: self.stateDirectory.appendingPathComponent(ValidatorDefaults.ledgerPath).path)
        let height = try ledger.committedHeight()
        let challenge = height == 0 ? Block.genesis.hash : try ledger.blocks(above: height - 1, limit: 1)[0].hash
        let binding = try AddressBinding.sign(address: "\(self.listenAddress)", with: self.privateKey)
        return try SpaceProof.answer(plot: plot, height: height, hash: challenge, count: ReplicaConfiguration.SpaceSettings().challenges,
                                     binding: binding)
    }
}
