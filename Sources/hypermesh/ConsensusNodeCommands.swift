import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshConsensus
import HyperMeshControllers
import HyperMeshCore
import HyperMeshStore
import HyperMeshValidator
import Logging
import STOQ

/// What the validator commands read from the state directory: the `Mesh` (validators, proof switches)
/// and this node's key.
struct ValidatorContext {
    let meshName: String
    let validators: ValidatorSet
    let identity: NodeIdentity
    let signer: NodeKeySigner
    let stateDirectory: URL

    init(global: GlobalOptions, mesh: String?) throws {
        let workspace = try global.openWorkspace()
        let meshes = try workspace.store.objects(of: .mesh).filter { $0.deletionRequestedAt == nil }
        let chosen: StoredObject
        if let mesh {
            guard let found = meshes.first(where: { $0.key.name == mesh }) else {
                throw CommandFailure(message: "no Mesh named \(mesh) in \(global.stateDirectory.path); `hypermesh get mesh` lists them")
            }
            chosen = found
        } else {
            guard meshes.count == 1 else {
                throw CommandFailure(message: meshes.isEmpty
                    ? "no Mesh in \(global.stateDirectory.path): apply one with spec.validators first"
                    : "\(meshes.count) Mesh objects: choose one with --mesh")
            }
            chosen = meshes[0]
        }
        self.meshName = chosen.key.name
        self.validators = try ValidatorSet(meshSpec: chosen.spec, meshName: chosen.key.name)
        self.identity = try NodeIdentity.loadOrCreate(in: global.stateDirectory).identity
        self.signer = NodeKeySigner(nodeIDs: self.validators.nodeIDs, privateKey: self.identity.privateKey)
        self.stateDirectory = global.stateDirectory
    }

    var ledgerPath: String { self.stateDirectory.appendingPathComponent(ValidatorDefaults.ledgerPath).path }

    /// The validators of the epoch this node's copy of the ledger reached (the Mesh spec's, the first epoch's,
    /// without a copy), with a signer that knows this node's place among them.
    func currentValidators() throws -> (validators: ValidatorSet, signer: NodeKeySigner) {
        guard FileManager.default.fileExists(atPath: self.ledgerPath) else { return (self.validators, self.signer) }
        let follower = try LedgerFollower(genesisValidators: self.validators.members, minimumStake: self.validators.requirements.minimumStake,
                                          store: try LedgerStore(path: self.ledgerPath))
        let members = follower.currentValidators.members
        return (ValidatorSet(members: members, requirements: self.validators.requirements),
                NodeKeySigner(nodeIDs: members.map(\.nodeID), privateKey: self.identity.privateKey))
    }

    /// This node's index, or an error naming its node id.
    func ownIndex() throws -> Int {
        guard let index = self.signer.index else {
            throw CommandFailure(message: "this node (\(self.identity.nodeID)) is not among Mesh \(self.meshName)'s validators")
        }
        return index
    }
}

struct ConsensusValidatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validator",
        abstract: "Run this node as a validator of its Mesh: order operations with the others over STOQ.",
        discussion: """
            Reads the Mesh object from the state directory (spec.validators: node ids and addresses,
            spec.consensus: the proofs demanded), this node's key (STATE/node/node-key.pem) and the ledger
            (STATE/consensus/ledger.sqlite, created on first start; a restarted validator carries on from
            it). The certificate must be the node's own (`hypermesh ca issue --node-identity`). Prints
            `validator I of N listening on ADDRESS`; SIGINT or SIGTERM stops it (exit 0).

            Examples:
              hypermesh ca issue --cn v0 --node-identity --out tls/
              hypermesh apply -f mesh.yaml
              hypermesh consensus validator --cert tls/chain.pem --key tls/key.pem --ca root.pem
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var tlsOptions: STOQTLSOptions
    @Option(help: "The Mesh object to follow, when the state holds several.") var mesh: String?
    @Option(help: ArgumentHelp("Address and UDP port to listen on (default: this node's address in spec.validators).",
                               valueName: "ADDR:PORT"))
    var listen: String?
    @Option(help: "Log level: trace, debug, info, warning, error.") var logLevel = "info"

    func run() throws {
        let context = try ValidatorContext(global: self.global, mesh: self.mesh)
        let index = try context.ownIndex()
        let address: SocketAddress
        let listen = self.listen ?? context.validators.members[index].address
        do { address = try SocketAddress(parsing: listen) } catch let error as STOQError {
            throw ValidationError("--listen \(listen): \(error.message)")
        }
        var logger = Logger(label: "hypermesh.validator")
        logger.logLevel = Logger.Level(rawValue: self.logLevel) ?? .info
        let configuration = try ValidatorNode.Configuration.forNode(
            privateKey: context.identity.privateKey, validators: context.validators, tls: self.tlsOptions.tls,
            listenAddress: address, stateDirectory: context.stateDirectory)
        let node = try ValidatorNode(configuration: configuration, logger: logger)
        let signals = StopSignals { node.stop() }
        defer { signals.cancel() }
        Output.line("validator \(index) of \(context.validators.members.count) listening on \(node.localAddress)")
        try node.run()
    }
}

extension HyperMeshConsensus.Operation.Kind: ExpressibleByArgument {}

struct ConsensusSubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Make operations with this node's proofs and hand them to every validator.",
        discussion: """
            Each operation is signed with this node's key (PoStake), carries the work the validators demand
            (PoWork) and the current time (PoTime). Exit 0 when every validator took them, 1 when none did;
            validators that could not be reached are listed on stderr.

            Examples:
              hypermesh consensus submit --kind stake --amount 10 --cert tls/chain.pem --key tls/key.pem --ca root.pem
              hypermesh consensus submit --kind offerPool --subject gpu-1 --amount 8 --count 100 --cert … --key … --ca …
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var tlsOptions: STOQTLSOptions
    @Option(help: "The Mesh object, when the state holds several.") var mesh: String?
    @Option(help: "stake, offerPool, claim or release.") var kind: HyperMeshConsensus.Operation.Kind = .stake
    @Option(help: "The pool the operation is about (offerPool, claim, release).") var subject = "-"
    @Option(help: "Stake amount, cores offered or claimed.") var amount: Int64 = 1
    @Option(help: "How many operations to make.") var count = 1
    @Option(help: ArgumentHelp("The plot proving this node's storage (offerPool, when the mesh demands PoSpace).",
                               valueName: "FILE"))
    var plot: String?
    @Option(help: "Seconds to wait for each validator.") var timeout = 10

    func validate() throws {
        guard (1...1_000_000).contains(self.count) else { throw ValidationError("--count must be from 1 to 1000000") }
        guard !self.subject.isEmpty, self.subject.utf8.count <= 253 else { throw ValidationError("--subject must be 1 to 253 bytes") }
    }

    func run() throws {
        let context = try ValidatorContext(global: self.global, mesh: self.mesh)
        // The validators of the epoch this node's ledger reached, and this node's place among them.
        let (validators, signer) = try context.currentValidators()
        guard signer.index != nil else {
            throw CommandFailure(message: "this node (\(context.identity.nodeID)) is not among Mesh \(context.meshName)'s current validators")
        }
        let time = context.validators.requirements.time
            ? try TimeReferenceFile.read(from: context.stateDirectory.appendingPathComponent(ValidatorDefaults.timeReferencePath).path)
            : nil
        // The work the validators announced last (they raise it as their queues fill), never below the floor.
        var workBits = ValidatorDefaults.workBits
        if FileManager.default.fileExists(atPath: context.ledgerPath) {
            let ledger = try LedgerStore(path: context.ledgerPath)
            let height = try ledger.committedHeight()
            if height > 0, let last = try ledger.blocks(above: height - 1, limit: 1).first { workBits = max(workBits, last.workBits) }
        }
        let space = try self.spaceProof(context: context)
        let operations = try ValidatorClient.makeOperations(kind: self.kind, subject: self.subject, amount: self.amount,
                                                            count: self.count, signer: signer,
                                                            workBits: workBits, time: time, space: space)
        let outcome = try ValidatorClient.submit(operations, to: validators, tls: self.tlsOptions.tls,
                                                 timeout: .seconds(Int64(self.timeout)))
        for failure in outcome.failures { Output.error("validator \(failure)") }
        Output.line("submitted \(operations.count) operation(s) to \(outcome.reached.count) of \(validators.members.count) validators")
        if outcome.reached.isEmpty { throw ExitCode(1) }
    }
}

extension ConsensusSubmitCommand {
    /// For an offered pool in a mesh that demands PoSpace: the plot's answer to the newest block this
    /// node's validator committed, with its address binding.
    func spaceProof(context: ValidatorContext) throws -> SpaceProof? {
        guard self.kind == .offerPool, context.validators.requirements.space else {
            if self.plot != nil { throw ValidationError("--plot is for --kind offerPool in a mesh with consensus.requireSpace") }
            return nil
        }
        guard let path = self.plot else {
            throw CommandFailure(message: "Mesh \(context.meshName) demands proof of space: give the pool's plot with --plot "
                + "(make one with `hypermesh consensus plot`)")
        }
        let plot = try SpacePlot.open(at: path)
        guard plot.commitment.nodeID.hexString == context.identity.nodeID else {
            throw CommandFailure(message: "\(path) is another node's plot, not this node's (\(context.identity.nodeID.prefix(12))…)")
        }
        let ledger = try LedgerStore(path: context.ledgerPath)
        let height = try ledger.committedHeight()
        let challenge = height == 0 ? Block.genesis.hash : try ledger.blocks(above: height - 1, limit: 1)[0].hash
        let index = try context.ownIndex()
        let binding = try AddressBinding.sign(address: context.validators.members[index].address, with: context.identity.privateKey)
        return try SpaceProof.answer(plot: plot, height: height, hash: challenge, count: ReplicaConfiguration.SpaceSettings().challenges,
                                     binding: binding)
    }
}

struct ConsensusPlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Fill a plot for proof of space: leaves only this node can have made, slowly, and their Merkle root.",
        discussion: """
            Put the plot in the storage path of the pool it backs. Making it takes LEAVES × ROUNDS sequential
            SHA-256 hashes (the defaults, 65,536 × 4,096, take about a minute and a half and 4 MiB); answering
            a challenge from it takes milliseconds, which is what the validators' deadline relies on. The
            commitment is written next to it (FILE.commitment).

            Examples:
              hypermesh consensus plot --out /srv/pool/plot
              hypermesh consensus submit --kind offerPool --subject gpu-1 --amount 8 --plot /srv/pool/plot --cert … --key … --ca …
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Where to write the plot.", valueName: "FILE")) var out: String
    @Option(help: "Leaves (a power of two).") var leaves = 1 << 16
    @Option(help: "Sequential hashes per leaf.") var rounds = 4096

    func validate() throws {
        guard self.leaves >= 2, self.leaves <= 1 << 30, self.leaves & (self.leaves - 1) == 0 else {
            throw ValidationError("--leaves must be a power of two from 2 to 2^30")
        }
        guard (1...1_000_000).contains(self.rounds) else { throw ValidationError("--rounds must be from 1 to 1000000") }
    }

    func run() throws {
        let identity = try NodeIdentity.loadOrCreate(in: self.global.stateDirectory).identity
        var seed = [UInt8](repeating: 0, count: 32)
        for index in seed.indices { seed[index] = UInt8.random(in: 0...255) }
        let clock = ContinuousClock()
        let start = clock.now
        let plot = try SpacePlot.create(at: self.out, nodeID: [UInt8](hexString: identity.nodeID)!, seed: ConsensusHash(bytes: seed),
                                        leafCount: self.leaves, rounds: self.rounds)
        Output.line("plot \(self.out): \(self.leaves) leaves × \(self.rounds) rounds in \(clock.now - start), root "
            + plot.commitment.root.bytes.hexString)
    }
}

struct ConsensusLedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Show this validator's committed ledger: height, head block, operations, stakes and pools.",
        discussion: """
            Reads STATE/consensus/ledger.sqlite (safe while the validator runs) and applies its blocks again.
            Two validators agree when they show the same height and head.

            Examples:
              hypermesh consensus ledger
              hypermesh consensus ledger -o json | jq .head
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "The Mesh object, when the state holds several.") var mesh: String?
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        let context = try ValidatorContext(global: self.global, mesh: self.mesh)
        guard FileManager.default.fileExists(atPath: context.ledgerPath) else {
            throw CommandFailure(message: "no ledger at \(context.ledgerPath): this node has not run as a validator")
        }
        let blocks = try LedgerStore(path: context.ledgerPath).blocks()
        var ledger = LedgerState(genesisValidators: context.validators.members)
        var seen = Set<ConsensusHash>()
        for block in blocks {
            for operation in block.operations where seen.insert(operation.digest).inserted {
                ledger.apply(operation, minimumStake: context.validators.requirements.minimumStake, height: block.height)
            }
        }
        let epoch = ledger.validators ?? ValidatorEpoch(number: 0, members: context.validators.members, baseHeight: 0)
        // Stakes are kept by participant index; a proposer of an earlier epoch may have no index now.
        func stakeholder(_ index: Int) -> String {
            epoch.members.indices.contains(index) ? epoch.members[index].nodeID : "validator-\(index)"
        }
        let head = blocks.last?.hash.bytes.hexString ?? Block.genesis.hash.bytes.hexString
        let height = blocks.last?.height ?? 0
        let stakes = ledger.stakes.keys.sorted().map { stakeholder($0).prefix(12) + "…=\(ledger.stakes[$0]!)" }
        if self.output == .json {
            Output.line(JSONValue.object([
                "mesh": .string(context.meshName), "height": .integer(Int64(height)), "head": .string(head),
                "operations": .integer(Int64(seen.count)), "applied": .integer(Int64(ledger.appliedCount)),
                "rejected": .integer(Int64(ledger.rejected.count)),
                "stakes": .object(Dictionary(uniqueKeysWithValues: ledger.stakes.map { (stakeholder($0.key), JSONValue.integer($0.value)) })),
                "epoch": .integer(Int64(epoch.number)), "epochBase": .integer(Int64(epoch.baseHeight)),
                "validators": .array(epoch.members.map { .object(["id": .string($0.nodeID), "address": .string($0.address)]) }),
                "pools": .integer(Int64(ledger.pools.count)),
                "workBits": .integer(Int64(blocks.last?.workBits ?? ValidatorDefaults.workBits)),
                "coresClaimed": .integer(ledger.pools.values.map(\.claimed).reduce(0, +)),
            ]).prettyJSON())
            return
        }
        var table = TextTable(headers: ["FIELD", "VALUE"])
        table.append(["mesh", context.meshName])
        table.append(["height", "\(height)"])
        table.append(["head", head])
        table.append(["epoch", "\(epoch.number) since height \(epoch.baseHeight): \(epoch.members.count) validators "
            + epoch.members.map { String($0.nodeID.prefix(12)) }.joined(separator: " ")])
        table.append(["operations", "\(seen.count) (\(ledger.appliedCount) applied, \(ledger.rejected.count) without effect)"])
        table.append(["stakes", stakes.isEmpty ? "-" : stakes.joined(separator: " ")])
        table.append(["pools", "\(ledger.pools.count) offered, \(ledger.pools.values.map(\.claimed).reduce(0, +)) cores claimed"])
        table.append(["work", "\(blocks.last?.workBits ?? ValidatorDefaults.workBits) bits announced in the last block"])
        Output.print(table.rendered)
    }
}
