import Foundation
import HyperMeshCommands
import HyperMeshConsensus
import HyperMeshControllers
import HyperMeshCore
import HyperMeshMembership
import HyperMeshStore
import HyperMeshValidator
import STOQ

/// `get nodes`: the members as this node's copy of the mesh ledger shows them (heartbeats, removals), or — in a
/// mesh without validators — as the CA node's agent sees them (asked over `stoq/1` with this node's certificate).
struct MeshNodesTable {
    let global: GlobalOptions
    let name: String?
    let output: OutputFormat

    func show(_ store: StateStore) throws {
        let state = self.global.stateDirectory
        guard let mesh = try store.objects(of: .mesh).first(where: { $0.deletionRequestedAt == nil }),
              NodeTLS.missingFiles(state).isEmpty else {
            throw CommandFailure(message: "this node is in no mesh: run `hypermesh mesh init` or `hypermesh mesh join`")
        }
        var members: [MeshMember]
        var height: UInt64?
        if mesh.spec["validators"]?.arrayValue?.isEmpty == false,
           FileManager.default.fileExists(atPath: state.appendingPathComponent(ValidatorDefaults.ledgerPath).path) {
            // This node's copy of the ledger: the same answer on every node at the same height, whoever is down.
            let (ledger, _) = try MeshLedgerTables(global: self.global, output: self.output).ledger(store)
            // The validators of the epoch the chain reached (the Mesh spec lists only the first epoch's).
            let validators = Set(ledger.validators?.nodeIDs ?? [])
            // Members that never sent a heartbeat (no agent ran there yet) only the CA node knows: asked briefly,
            // and left out when it does not answer.
            let known = try? MembershipClient(tls: NodeTLS.configuration(state), caAddress: Self.caAddress(of: mesh))
                .members(timeout: .seconds(1))
            members = Self.members(of: ledger.mesh, validators: validators, known: known ?? [])
            height = ledger.height
        } else {
            let address = try Self.caAddress(of: mesh)
            do {
                members = try MembershipClient(tls: NodeTLS.configuration(state), caAddress: address).members()
            } catch let error as HyperMeshError where error.code == .io {
                throw CommandFailure(message: "\(error.message) (the CA node's agent answers `get nodes`; is it running?)")
            }
        }
        if let name {
            members = members.filter { $0.name == name || $0.nodeID == name || (name.count >= 8 && $0.nodeID.hasPrefix(name)) }
            if members.isEmpty { throw CommandFailure(message: "no node \"\(name)\" in mesh \(mesh.key.name)") }
        }
        switch self.output {
        case .json:
            Output.line(JSONValue.object(["kind": "NodeList", "mesh": .string(mesh.key.name),
                                          "source": .string(height == nil ? "ca" : "ledger"), "height": height.map { .integer(Int64($0)) } ?? .null,
                                          "items": .array(members.map { member in
                .object([
                    "name": .string(member.name), "nodeId": .string(member.nodeID), "address": member.address.map { .string($0) } ?? .null,
                    "validator": .bool(member.validator), "lastSeen": member.lastSeen.map { .string($0) } ?? .null,
                    "status": .string(member.status.rawValue),
                ])
            })]).prettyJSON())
        case .name:
            for member in members { Output.line("node/\(member.name)") }
        case .table, .yaml:
            var table = TextTable(headers: ["NAME", "NODE-ID", "ADDRESS", "VALIDATOR", "LAST-SEEN", "STATUS"])
            let now = Date()
            for member in members {
                let seen = member.lastSeen.flatMap(Timestamp.parse).map { Timestamp.age(since: $0, now: now) + " ago" } ?? "never"
                table.append([member.name, String(member.nodeID.prefix(16)), member.address ?? "-", member.validator ? "yes" : "no",
                              seen, member.status.rawValue])
            }
            Output.line(table.rendered)
        }
    }

    /// The members as the ledger shows them: named by their heartbeats, `Lost` when silent for
    /// ``MeshLedger/lostAfterMilliseconds`` of ledger time, `Revoked` once removed.
    /// `known` (the CA node's list) adds the members the ledger has not heard from, and names.
    static func members(of ledger: MeshLedger, validators: Set<String>, known: [MeshMember]) -> [MeshMember] {
        let byID = Dictionary(known.map { ($0.nodeID, $0) }, uniquingKeysWith: { first, _ in first })
        var members = ledger.members.map { id, member in
            let status: MeshMember.Status = ledger.expelled.contains(id) ? .revoked : ledger.isLost(id) ? .lost : .ready
            let name = member.name.isEmpty ? byID[id]?.name ?? String(id.prefix(12)) : member.name
            return MeshMember(nodeID: id, name: name, address: member.address.isEmpty ? byID[id]?.address : member.address,
                              validator: validators.contains(id),
                              lastSeen: Timestamp.format(millisecondsSince1970: member.lastSeenMilliseconds),
                              status: status)
        }
        for var member in known where ledger.members[member.nodeID] == nil {
            if ledger.expelled.contains(member.nodeID) { member.status = .revoked }
            member.validator = validators.contains(member.nodeID)
            members.append(member)
        }
        return members.sorted { ($0.name, $0.nodeID) < ($1.name, $1.nodeID) }
    }

    /// The CA node: the first bootstrap peer of a node that joined; this node's own listen address on the CA node.
    static func caAddress(of mesh: StoredObject) throws -> SocketAddress {
        let text = mesh.spec["bootstrap"]?.arrayValue?.first?.stringValue
            ?? mesh.spec.value(atPath: "node.listen")?.stringValue ?? MeshController.defaultListen
        var address = try SocketAddress(parsing: text)
        if address.host == "0.0.0.0" { address = try SocketAddress(host: "127.0.0.1", port: address.port) }
        if address.host == "::" { address = try SocketAddress(host: "::1", port: address.port) }
        return address
    }
}
