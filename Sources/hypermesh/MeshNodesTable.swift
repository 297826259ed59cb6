import Foundation
import HyperMeshCommands
import HyperMeshControllers
import HyperMeshCore
import HyperMeshMembership
import HyperMeshStore
import STOQ

/// `get nodes`: the members as the CA node's agent sees them (asked over `stoq/1` with this node's
/// certificate; on the CA node itself, of its own agent).
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
        let address = try Self.caAddress(of: mesh)
        var members: [MeshMember]
        do {
            members = try MembershipClient(tls: NodeTLS.configuration(state), caAddress: address).members()
        } catch let error as HyperMeshError where error.code == .io {
            throw CommandFailure(message: "\(error.message) (the CA node's agent answers `get nodes`; is it running?)")
        }
        if let name {
            members = members.filter { $0.name == name || $0.nodeID == name || (name.count >= 8 && $0.nodeID.hasPrefix(name)) }
            if members.isEmpty { throw CommandFailure(message: "no node \"\(name)\" in mesh \(mesh.key.name)") }
        }
        switch self.output {
        case .json:
            Output.line(JSONValue.object(["kind": "NodeList", "mesh": .string(mesh.key.name), "items": .array(members.map { member in
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
