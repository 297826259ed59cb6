import ArgumentParser
import Foundation
import HyperMeshAgent
import HyperMeshCommands
import HyperMeshConsensus
import HyperMeshCore
import HyperMeshStore

/// `mesh audit`: what this node holds against what the ledger says, both ways — no allocation may live on
/// without a live ledger claim, and no committed claim may go unenforced.
struct MeshAuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Compare this node's placed claims with the mesh ledger: orphans either way.",
        discussion: """
            On a provider: local allocations for other nodes with no placement on the ledger (orphans, to be freed),
            and placements the ledger says are enforced here with no Bound allocation. On a consumer: claims Bound
            through the ledger whose placement is gone, and placements of this node with no claim here.
            Reads this node's copy of the ledger; while placements are changing, a finding may be a moment old.
            Exit status 0: nothing found; 1: findings (listed).

            Examples:
              hypermesh mesh audit
              hypermesh mesh audit -o json | jq '.findings | length'
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    struct Finding {
        var kind: String
        var claim: String
        var detail: String
    }

    func run() throws {
        let store = try self.global.openWorkspace().store
        let (ledger, nodeID) = try MeshLedgerTables(global: self.global, output: self.output).ledger(store)
        let claims = try store.objects(of: .claim)
        var findings: [Finding] = []

        // Provider side.
        let onThisNode = ledger.mesh.placements(onProvider: nodeID)
        let expected = Dictionary(onThisNode.map { (PlacementKeeper.localName($0.key), $0) }, uniquingKeysWith: { first, _ in first })
        for claim in claims where claim.labels["hypermesh.io/placed"] == "true" && claim.deletionRequestedAt == nil {
            if expected[claim.key.name] == nil {
                findings.append(Finding(kind: "OrphanAllocation", claim: claim.key.name,
                                        detail: "allocated here for \(claim.spec["consumer"]?.stringValue?.prefix(12) ?? "?"), no placement on the ledger"))
            }
        }
        let local = Dictionary(claims.map { ($0.key.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (name, placement) in expected where placement.placement.state == .enforced {
            if local[name]?.status?.fields["phase"] != "Bound" {
                findings.append(Finding(kind: "Unenforced", claim: name, detail: "the ledger says enforced here (height "
                    + "\(placement.placement.enforcedHeight ?? 0)); the allocation is \(local[name]?.status?.fields["phase"]?.stringValue ?? "missing")"))
            }
        }

        // Consumer side.
        for claim in claims where claim.spec["node"] != nil && claim.deletionRequestedAt == nil {
            let key = MeshLedger.PlacementKey(consumer: nodeID, claim: claim.key.name)
            if claim.status?.fields["phase"] == "Bound" && ledger.mesh.placements[key] == nil {
                findings.append(Finding(kind: "BoundWithoutPlacement", claim: claim.key.name,
                                        detail: "Bound here, no placement on the ledger (\(ledger.mesh.ended[key] ?? "never placed"))"))
            }
        }
        for (key, placement) in ledger.mesh.placements where key.consumer == nodeID {
            if local[key.claim]?.spec["node"] == nil {
                findings.append(Finding(kind: "PlacementWithoutClaim", claim: key.claim,
                                        detail: "placed on \(placement.terms.provider.prefix(12))/\(placement.terms.pool), no such claim here"))
            }
        }

        findings.sort { ($0.kind, $0.claim) < ($1.kind, $1.claim) }
        if self.output == .json {
            Output.line(JSONValue.object(["height": .integer(Int64(ledger.height)), "findings": .array(findings.map {
                .object(["kind": .string($0.kind), "claim": .string($0.claim), "detail": .string($0.detail)])
            })]).prettyJSON())
        } else if findings.isEmpty {
            Output.line("No orphans: every placed allocation has its ledger claim and every claim its enforcement (height \(ledger.height)).")
        } else {
            var table = TextTable(headers: ["FINDING", "CLAIM", "DETAIL"])
            for finding in findings { table.append([finding.kind, finding.claim, finding.detail]) }
            Output.line(table.rendered)
        }
        if !findings.isEmpty { throw ExitCode(1) }
    }
}
