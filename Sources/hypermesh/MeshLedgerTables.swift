import Foundation
import HyperMeshCommands
import HyperMeshConsensus
import HyperMeshControllers
import HyperMeshCore
import HyperMeshStore
import HyperMeshValidator

/// `get offers` and `get allocations`: the mesh ledger as this node's copy has it (the validator's ledger on a
/// validator, the follower's elsewhere: `STATE/consensus/ledger.sqlite`, which the agent keeps current), and the
/// claims of other nodes this node enforces.
struct MeshLedgerTables {
    let global: GlobalOptions
    let output: OutputFormat

    func showOffers(_ store: StateStore) throws {
        let (ledger, nodeID) = try self.ledger(store)
        let offers = ledger.mesh.offers.sorted { $0.key < $1.key }
        switch self.output {
        case .json:
            Output.line(JSONValue.object(["kind": "OfferList", "height": .integer(Int64(ledger.height)), "items": .array(offers.map { key, offer in
                .object([
                    "node": .string(key.node), "pool": .string(key.pool), "privacy": .string(offer.terms.privacy),
                    "allow": .array(offer.terms.allow.map { .string($0) }), "total": ResourceAmounts(offer.terms.total).json,
                    "maxPerClaim": ResourceAmounts(offer.terms.maximumPerClaim).json, "free": ResourceAmounts(offer.free).json,
                    "placements": .integer(Int64(offer.placementCount)),
                    "height": .integer(Int64(offer.height)),
                    "providerStatus": .string(ledger.mesh.isLost(key.node) ? "Lost" : "Ready"),
                    "closing": .bool(offer.isClosing),
                ])
            })]).prettyJSON())
        case .name:
            for (key, _) in offers { Output.line("offer/\(key.node.prefix(16))/\(key.pool)") }
        case .table, .yaml:
            var table = TextTable(headers: ["NODE", "POOL", "PRIVACY", "CPU", "MEMORY", "STORAGE", "GPU", "CLAIMS", "HEIGHT", "PROVIDER"])
            for (key, offer) in offers {
                let total = ResourceAmounts(offer.terms.total), free = ResourceAmounts(offer.free)
                func column(_ free: Quantity, _ total: Quantity) -> String { total == .zero ? "-" : "\(free)/\(total)" }
                let gpu = total.gpuCount == 0 && total.gpuMemory == .zero ? "-" : "\(free.gpuCount)/\(total.gpuCount) \(column(free.gpuMemory, total.gpuMemory))"
                table.append([key.node == nodeID ? "\(key.node.prefix(16)) (this node)" : String(key.node.prefix(16)),
                              offer.isClosing ? "\(key.pool) (closing)" : key.pool,
                              offer.terms.privacy, column(free.cpu, total.cpu), column(free.memory, total.memory),
                              column(free.storage, total.storage), gpu,
                              "\(offer.placementCount)", "\(offer.height)",
                              ledger.mesh.isLost(key.node) ? "Lost (nothing placed)" : "Ready"])
            }
            Output.line(offers.isEmpty ? "No pools offered on the mesh ledger (height \(ledger.height))." : table.rendered)
        }
    }

    func showAllocations(_ store: StateStore) throws {
        let claims = try store.objects(of: .claim).filter { $0.labels["hypermesh.io/placed"] == "true" }
        switch self.output {
        case .json:
            Output.line(JSONValue.object(["kind": "AllocationList", "items": .array(claims.map(\.json))]).prettyJSON())
        case .name:
            for claim in claims { Output.line("claim/\(claim.key.name)") }
        case .table, .yaml:
            var table = TextTable(headers: ["NAME", "CONSUMER", "POOL", "CPU", "MEMORY", "STORAGE", "PHASE", "AGE"])
            let now = Date()
            for claim in claims {
                let request = ClaimRequest(spec: claim.spec)
                func column(_ value: Quantity) -> String { value == .zero ? "-" : value.description }
                table.append([claim.key.name, String((request.consumer ?? "-").prefix(16)), request.pool, column(request.amounts.cpu),
                              column(request.amounts.memory), column(request.amounts.storage),
                              claim.status?.fields["phase"]?.stringValue ?? "Pending", Timestamp.age(since: claim.createdAt, now: now)])
            }
            Output.line(claims.isEmpty ? "No claims of other nodes on this node's pools." : table.rendered)
        }
    }

    /// The committed ledger from this node's copy, and this node's id.
    func ledger(_ store: StateStore) throws -> (LedgerState, String) {
        let state = self.global.stateDirectory
        guard let mesh = try store.objects(of: .mesh).first(where: { $0.deletionRequestedAt == nil }),
              NodeTLS.missingFiles(state).isEmpty else {
            throw CommandFailure(message: "this node is in no mesh: run `hypermesh mesh init` or `hypermesh mesh join`")
        }
        let path = state.appendingPathComponent(ValidatorDefaults.ledgerPath).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw CommandFailure(message: "this node holds no copy of the mesh ledger yet (\(path)): the agent keeps it; is it running?")
        }
        let validators = try ValidatorSet(meshSpec: mesh.spec, meshName: mesh.key.name)
        let follower = try LedgerFollower(genesisValidators: validators.members, minimumStake: validators.requirements.minimumStake,
                                          store: try LedgerStore(path: path))
        return (follower.ledger, try NodeIdentity.loadOrCreate(in: state).identity.nodeID)
    }
}
