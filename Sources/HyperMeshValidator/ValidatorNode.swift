import Crypto
import Foundation
import HyperMeshConsensus
import HyperMeshCore
import Logging
import STOQ
import Synchronization

/// One validator process: a chained-HotStuff ``Replica`` persisted in its ``LedgerStore``, a STOQ server
/// receiving the other validators' messages (`stoq/1` MESSAGE, mutual TLS), and a ``PeerLink`` per other
/// validator for sending.
///
/// Every input — a message, an operation, a timer — is handled on one thread (``run()``), in arrival
/// order, as the replica expects. A message counts only when the node id of the certificate it came with
/// is a validator's and the message claims to be from that validator.
public final class ValidatorNode: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// The genesis validators (epoch 0); later epochs come from the chain.
        public var validators: ValidatorSet
        /// This node's id: which validator it is in whichever epoch names it.
        public var nodeID: String
        public var replica: ReplicaConfiguration
        public var tls: TLSConfiguration
        public var listenAddress: SocketAddress
        public var ledgerPath: String
        /// How often a validator tells the others where it stands, so one that missed messages catches up,
        /// and publishes its history chain.
        public var announceInterval: Duration = .seconds(1)
        /// Where the tick of its history that clients should name is written (``TimeReferenceFile``).
        public var timeReferencePath: String?
        /// `false`: the node binds no socket of its own; messages reach it through ``receive(_:from:)`` from a
        /// STOQ server that already listens at ``listenAddress`` (the agent's: one port per node).
        public var bindsOwnServer = true

        public init(validators: ValidatorSet, nodeID: String, replica: ReplicaConfiguration, tls: TLSConfiguration,
                    listenAddress: SocketAddress, ledgerPath: String) {
            self.validators = validators
            self.nodeID = nodeID
            self.replica = replica
            self.tls = tls
            self.listenAddress = listenAddress
            self.ledgerPath = ledgerPath
        }
    }

    /// The committed ledger and its proof, as of the node's last loop.
    public struct Published: Sendable {
        public var ledger = LedgerState()
        public var proof: LedgerSync.CommitProof?
        public var time: TimeReference?
        /// The current epoch's validators, and whether this node is one of them.
        public var validators: ValidatorEpoch?
        public var isMember = false
    }

    private enum Input: Sendable {
        case network([UInt8], peer: String?)
        case operations([HyperMeshConsensus.Operation])
    }

    public let configuration: Configuration
    private let logger: Logger
    private let replica: Replica
    private let store: LedgerStore
    /// What other threads read of the replica: published by the node's thread after each input.
    private let published = Mutex<Published>(Published())
    private let server: STOQServer?
    /// Links to the validators of every epoch this node has messages for, by node id (made when first needed).
    private var links: [String: PeerLink] = [:]
    /// The server the links dial from.
    private var dialServer: STOQServer?
    private let inbox = InputQueue<Input>()
    private let stopped = Atomic<Bool>(false)
    private let serverFinished = DispatchSemaphore(value: 0)
    /// Called on the node's thread after each commit: the new committed height and operations applied so far.
    public var onCommit: (@Sendable (_ height: UInt64, _ operations: Int) -> Void)?
    /// Inputs refused before reaching the replica (undecodable, unauthenticated), for logs and tests.
    public private(set) var refusedInputs = 0

    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let store = try LedgerStore(path: configuration.ledgerPath)
        self.store = store
        self.replica = try Replica(identity: configuration.nodeID, configuration: configuration.replica, storage: store,
                                   now: Self.now())
        if configuration.bindsOwnServer {
            var serverConfiguration = STOQServer.Configuration(
                listenAddress: configuration.listenAddress, tls: configuration.tls,
                root: URL(fileURLWithPath: configuration.ledgerPath).deletingLastPathComponent().appendingPathComponent("served"))
            let inbox = self.inbox
            serverConfiguration.messageHandler = { bytes, peer in inbox.append(.network(bytes, peer: peer)) }
            var quiet = logger
            quiet.logLevel = max(logger.logLevel, .warning)
            self.server = try STOQServer(configuration: serverConfiguration, logger: quiet)
        } else {
            self.server = nil
        }
        // One socket per node: a validator with a server of its own dials the others from it too.
        self.dialServer = self.server
    }

    /// Makes the links to the other validators leave from `server`'s socket (the agent's one STOQ socket, when it
    /// hosts this validator and delivers its messages); call before ``run()``.
    public func dialPeers(from server: STOQServer) {
        self.dialServer = server
    }

    /// Whether this node is a validator of the epoch its chain has reached.
    public var isMember: Bool { self.replica.isMember }

    /// The link to `member`, made (and started) on first use; `nil` for this node or an address that does not parse.
    private func link(to member: ValidatorMember) -> PeerLink? {
        guard member.nodeID != self.configuration.nodeID else { return nil }
        if let link = self.links[member.nodeID], link.peer.address == member.address { return link }
        self.links.removeValue(forKey: member.nodeID)?.stop()
        do {
            let link = try PeerLink(peer: member, tls: self.configuration.tls, logger: self.logger)
            if let server = self.dialServer { link.dial(from: server) }
            link.start()
            self.links[member.nodeID] = link
            return link
        } catch {
            self.logger.warning("No link to a validator", metadata: ["node": "\(member.nodeID.prefix(12))", "address": "\(member.address)",
                                                                      "error": "\(error)"])
            return nil
        }
    }

    /// The address the STOQ server is bound to (the shared server's, when it binds none of its own).
    public var localAddress: SocketAddress { self.server?.localAddress ?? self.configuration.listenAddress }

    /// A `stoq/1` MESSAGE for this validator, with the node id of the certificate it came with: what the
    /// shared server's message handler calls. Safe from any thread.
    public func receive(_ bytes: [UInt8], from peerNodeID: String?) {
        self.inbox.append(.network(bytes, peer: peerNodeID))
    }
    public var committedHeight: UInt64 { self.replica.committedHeight }

    /// The committed ledger as of the node's last loop (safe from any thread).
    public var committedLedger: Published { self.published.withLock { $0 } }

    /// What a follower asking for the blocks above `height` gets: committed blocks from the ledger file, the
    /// proof that the newest of them is committed, a history tick to name. Safe from any thread.
    public func sync(above height: UInt64) throws -> LedgerSync {
        let published = self.committedLedger
        let blocks = try self.store.blocks(above: height, limit: LedgerSync.maximumBlocks)
        let top = blocks.last?.height ?? height
        let ends = try self.store.epochProofs().filter { $0.endHeight >= height && $0.endHeight <= top }
        return LedgerSync(blocks: blocks, proof: published.proof, time: published.time,
                          epochProofs: Array(ends.prefix(LedgerSync.maximumEpochProofs)))
    }

    /// Milliseconds since the Unix epoch: the replica's clock (PoTime's drift check compares it with the
    /// operations' timestamps).
    static func now() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    /// Hands operations to this validator (as a client's `submit` does over the network).
    public func submit(_ operations: [HyperMeshConsensus.Operation]) {
        self.inbox.append(.operations(operations))
    }

    /// Asks ``run()`` to return; safe from any thread.
    public func stop() {
        self.stopped.store(true, ordering: .sequentiallyConsistent)
        self.inbox.wake()
    }

    /// Serves until ``stop()``.
    public func run() throws {
        if let server = self.server {
            let finished = self.serverFinished
            Thread {
                server.run()
                finished.signal()
            }.start()
        }
        defer {
            for link in self.links.values { link.stop() }
            if let server = self.server {
                server.stop()
                self.serverFinished.wait()
            }
        }
        self.logger.info("Validator started", metadata: [
            "index": "\(self.replica.id)", "epoch": "\(self.replica.epoch)", "validators": "\(self.replica.configuration.validators)",
            "committed": "\(self.replica.committedHeight)", "address": "\(self.localAddress)",
        ])
        var lastAnnounce = UInt64(0)
        var publishedReference: TimeReference?
        var loggedRefusals = self.replica.refusalCount
        var reportedHeight = self.replica.committedHeight
        self.publish()
        let announceMilliseconds = UInt64(self.configuration.announceInterval.components.seconds * 1000
            + self.configuration.announceInterval.components.attoseconds / 1_000_000_000_000_000)
        var epoch = self.replica.epoch
        while !self.stopped.load(ordering: .sequentiallyConsistent) && self.replica.isMember {
            var now = Self.now()
            let deadline = min(self.replica.timeoutDeadline ?? .max, lastAnnounce + announceMilliseconds)
            let waitMilliseconds = deadline > now ? min(deadline - now, 200) : 0
            let inputs = self.inbox.takeAll(waitingUpTo: .milliseconds(Int(waitMilliseconds)))
            now = Self.now()
            for input in inputs {
                self.handle(input, now: now)
                now = Self.now()
            }
            if let timeout = self.replica.timeoutDeadline, timeout <= now {
                self.send(self.replica.timerFired(now: now))
            }
            if now >= lastAnnounce + announceMilliseconds {
                lastAnnounce = now
                self.send(self.replica.announce(now: now))
                if let path = self.configuration.timeReferencePath, let reference = self.replica.timeReferenceForClients,
                   reference != publishedReference {
                    try TimeReferenceFile.write(reference, to: path)
                    publishedReference = reference
                }
                if self.replica.timeReferenceForClients != self.published.withLock({ $0.time }) { self.publish() }
            }
            self.logNewRefusals(since: &loggedRefusals)
            if let failure = self.replica.storageFailure {
                throw HyperMeshError.storage("the ledger at \(self.configuration.ledgerPath) failed: \(failure)")
            }
            if self.replica.committedHeight != reportedHeight {
                reportedHeight = self.replica.committedHeight
                self.publish()
                self.logger.debug("Committed", metadata: ["height": "\(reportedHeight)",
                                                          "operations": "\(self.replica.ledger.appliedCount)"])
                self.onCommit?(reportedHeight, self.replica.ledger.appliedCount + self.replica.ledger.rejected.count)
            }
            if self.replica.epoch != epoch {
                epoch = self.replica.epoch
                self.logger.info("Validator epoch started", metadata: [
                    "epoch": "\(epoch)", "index": "\(self.replica.id)", "validators": "\(self.replica.configuration.validators)",
                    "base": "\(self.replica.committedHeight)"])
                // Links to validators no epoch from here on needs are closed.
                let current = Set(self.replica.members(ofEpoch: epoch)?.map(\.nodeID) ?? [])
                for (node, link) in self.links where !current.contains(node) {
                    link.stop()
                    self.links.removeValue(forKey: node)
                }
            }
        }
        if !self.replica.isMember {
            self.logger.info("This node is not a validator of epoch \(self.replica.epoch); validator stopped",
                             metadata: ["committed": "\(self.replica.committedHeight)"])
        } else {
            self.logger.info("Validator stopped", metadata: ["committed": "\(self.replica.committedHeight)"])
        }
        self.publish()
    }

    private func publish() {
        let snapshot = Published(ledger: self.replica.ledger, proof: self.replica.commitProof, time: self.replica.timeReferenceForClients,
                                 validators: self.replica.ledger.validators, isMember: self.replica.isMember)
        self.published.withLock { $0 = snapshot }
    }

    private func handle(_ input: Input, now: UInt64) {
        switch input {
        case .operations(let operations):
            // From this process: order them here and hand them to every other validator, so any leader can
            // propose them.
            for operation in operations { self.send(self.replica.submit(operation, now: now)) }
            let forwarded = ConsensusWire.encode(.operations(operations))
            for member in self.replica.members(ofEpoch: self.replica.epoch) ?? [] { self.link(to: member)?.send(forwarded) }
        case .network(let bytes, let peer):
            guard let peer else { return self.refuse("a message from a peer without a node id") }
            let message: ValidatorMessage
            do {
                message = try ConsensusWire.decodeMessage(bytes)
            } catch {
                self.refuse("an undecodable message from node \(peer.prefix(12)): \(error)")
                return
            }
            switch message {
            case .operations(let operations):
                if peer == self.configuration.nodeID {
                    // This node's own client (`consensus submit`, same key): as if submitted here, so every leader has them.
                    self.handle(.operations(operations), now: now)
                } else if self.replica.members(ofEpoch: self.replica.epoch)?.contains(where: { $0.nodeID == peer }) == true {
                    // Forwarded by a validator: clients hand their operations to one of them.
                    for operation in operations { self.send(self.replica.submit(operation, now: now)) }
                } else {
                    self.handleMember(operations, from: peer, now: now)
                }
            case .consensus(let consensus, let epoch):
                guard let members = self.replica.members(ofEpoch: epoch) else {
                    // An epoch this node's chain has not reached: its own announcements bring the proof to move on.
                    return
                }
                guard let sender = members.firstIndex(where: { $0.nodeID == peer }) else {
                    return self.refuse("a consensus message from node \(peer.prefix(12)), not a validator of epoch \(epoch)")
                }
                if let claimed = consensus.claimedSender, claimed != sender {
                    self.refuse("validator \(sender) of epoch \(epoch) sent a message claiming to be from validator \(claimed)")
                    return
                }
                self.send(self.replica.receive(consensus, epoch: epoch, now: now))
            }
        }
    }

    /// A member node that is not a validator may hand in its own mesh operations (it sends them to every
    /// validator itself), nothing else.
    private func handleMember(_ operations: [HyperMeshConsensus.Operation], from peer: String, now: UInt64) {
        guard operations.allSatisfy({ $0.node == peer }) else {
            return self.refuse("node \(peer.prefix(12)) handed in operations of another node")
        }
        for operation in operations { self.send(self.replica.submit(operation, now: now)) }
    }

    /// The replica's refusals (operations without a required proof, blocks not voted for, forged
    /// histories) go to the log with their reasons.
    private func logNewRefusals(since logged: inout Int) {
        let total = self.replica.refusalCount
        guard total > logged else { return }
        let fresh = min(total - logged, self.replica.refusals.count)
        if total - logged > fresh { self.logger.info("Refusals not logged", metadata: ["count": "\(total - logged - fresh)"]) }
        for reason in self.replica.refusals.suffix(fresh) { self.logger.info("Refused", metadata: ["reason": "\(reason)"]) }
        logged = total
    }

    private func refuse(_ reason: String) {
        self.refusedInputs += 1
        self.logger.warning("Message refused", metadata: ["reason": "\(reason)"])
    }

    private func send(_ outgoing: [Replica.Outgoing]) {
        for item in outgoing {
            let epoch = item.epoch ?? self.replica.epoch
            guard let members = self.replica.members(ofEpoch: epoch) else { continue }
            let bytes = ConsensusWire.encode(.consensus(item.message, epoch: epoch))
            let targets: [Int]
            switch item.destination {
            case .all: targets = Array(members.indices)
            case .one(let target): targets = [target]
            case .some(let list): targets = list
            }
            for target in targets where members.indices.contains(target) { self.link(to: members[target])?.send(bytes) }
        }
    }
}

extension ConsensusMessage {
    /// The validator a message says it is from (blocks answering a fetch may come from anyone: each is
    /// proven by the QC its child carries).
    var claimedSender: Int? {
        switch self {
        case .proposal(let block): block.proposer
        case .vote(let vote): vote.validator
        case .newView(_, _, _, let from): from
        case .fetch(_, _, let from): from
        case .history(let from, _, _, _): from
        case .blocks: nil
        }
    }
}

/// Inputs from other threads (the STOQ server's, callers of ``ValidatorNode/submit(_:)``) for the node's
/// thread, which sleeps until one arrives or its timer is due.
final class InputQueue<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])
    private let signal = DispatchSemaphore(value: 0)

    func append(_ element: Element) {
        self.items.withLock { $0.append(element) }
        self.signal.signal()
    }

    func wake() { self.signal.signal() }

    /// Everything queued, after waiting up to `timeout` for the first.
    func takeAll(waitingUpTo timeout: DispatchTimeInterval) -> [Element] {
        if self.items.withLock({ $0.isEmpty }) { _ = self.signal.wait(timeout: .now() + timeout) }
        return self.items.withLock { items in
            defer { items.removeAll(keepingCapacity: true) }
            return items
        }
    }
}

extension ValidatorNode.Configuration {
    /// The configuration of this node's validator in a mesh whose genesis validators are `validators`: its key
    /// signs for it in whichever epoch names it, its ledger and history tick live in `stateDirectory`
    /// (``ValidatorDefaults``), the replica uses the mesh's proofs and the defaults every validator shares.
    public static func forNode(privateKey: P256.Signing.PrivateKey, validators: ValidatorSet, tls: TLSConfiguration,
                               listenAddress: SocketAddress, stateDirectory: URL) throws -> Self {
        let signer = NodeKeySigner(nodeIDs: validators.nodeIDs, privateKey: privateKey)
        var replica = ReplicaConfiguration(validators: validators.members.count, signer: signer)
        replica.members = validators.members
        replica.requirements = validators.requirements
        replica.workBits = ValidatorDefaults.workBits
        replica.baseTimeoutMilliseconds = ValidatorDefaults.baseTimeoutMilliseconds
        let ledgerPath = stateDirectory.appendingPathComponent(ValidatorDefaults.ledgerPath).path
        try FileManager.default.createDirectory(atPath: (ledgerPath as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        var configuration = Self(validators: validators, nodeID: NodeKeySigner.nodeID(of: privateKey.publicKey), replica: replica,
                                 tls: tls, listenAddress: listenAddress, ledgerPath: ledgerPath)
        configuration.timeReferencePath = stateDirectory.appendingPathComponent(ValidatorDefaults.timeReferencePath).path
        return configuration
    }
}
