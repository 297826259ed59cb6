import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshContainers
import HyperMeshCore
import HyperMeshStore

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "List objects and their status.",
        discussion: """
            Examples:
              hypermesh get all
              hypermesh get pools
              hypermesh get claim batch -o yaml
              hypermesh get mesh -o json | jq -r '.items[0].status.nodeId'
              hypermesh get sync                 # the agent's watched directories: revision, result, errors
              hypermesh get nodes                # the mesh's members: Ready, Lost (silent 12 s) or Revoked
              hypermesh get offers               # pools offered on the mesh ledger: free/total, height
              hypermesh get allocations          # other nodes' claims placed on this node's pools
              hypermesh get workloads            # containers kept running in claims: READY, PHASE, RESTARTS
              hypermesh get images               # this node's image store
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: KindArgument.help) var kind: KindArgument
    @Argument(help: "Only this object.") var name: String?
    @Option(name: .shortAndLong, help: "Output format: table, yaml, json or name.") var output: OutputFormat = .table

    func validate() throws {
        if self.name != nil, case .all = self.kind { throw ValidationError("'get all' takes no NAME") }
    }

    func run() throws {
        if case .images = self.kind {
            let images = ImageStore(stateDirectory: self.global.stateDirectory)
            let all = try images.images()
            let chosen = try self.name.map { name in
                guard let image = try images.resolve(name) else { throw CommandFailure(message: "image \"\(name)\" not found") }
                return [image]
            } ?? all
            return ImagesTable.show(chosen, output: self.output, store: images)
        }
        let store = try self.global.openWorkspace().store
        if case .sync = self.kind { return try self.showSync(store) }
        if case .nodes = self.kind { return try MeshNodesTable(global: self.global, name: self.name, output: self.output).show(store) }
        if case .offers = self.kind { return try MeshLedgerTables(global: self.global, output: self.output).showOffers(store) }
        if case .allocations = self.kind { return try MeshLedgerTables(global: self.global, output: self.output).showAllocations(store) }
        var objects: [StoredObject]
        if let name, case .kind(let kind) = self.kind {
            guard let object = try store.object(ResourceKey(kind: kind, name: name)) else {
                throw CommandFailure(message: "\(kind.rawValue) \"\(name)\" not found")
            }
            objects = [object]
        } else if case .kind(let kind) = self.kind {
            objects = try store.objects(of: kind)
        } else {
            objects = try store.objects()
        }
        switch self.output {
        case .json:
            if self.name != nil {
                Output.line(objects[0].json.prettyJSON())
            } else {
                Output.line(JSONValue.object([
                    "apiVersion": .string(Kind.apiVersion), "kind": "List", "items": .array(objects.map(\.json)),
                ]).prettyJSON())
            }
        case .yaml:
            Output.print(self.name != nil ? YAMLRendering.render(objects[0].json) : YAMLRendering.renderStream(objects.map(\.json)))
        case .name:
            for object in objects { Output.line("\(object.key.kind.shortName)/\(object.key.name)") }
        case .table:
            if objects.isEmpty {
                FileHandle.standardError.write(Data(("No objects found in \(self.global.stateDirectory.path)." + "\n").utf8))
                return
            }
            let isAll: Bool
            if case .all = self.kind { isAll = true } else { isAll = false }
            let kinds = Kind.dependencyOrder.filter { kind in objects.contains { $0.key.kind == kind } }
            Output.print(kinds.map {
                ObjectTables.table(for: $0, objects: objects, qualifiedNames: isAll).rendered
            }.joined(separator: "\n"))
        }
    }

    /// `get sync`: each watched directory's last attempt; errors listed with `file:line:col`.
    private func showSync(_ store: StateStore) throws {
        let records = try store.syncRecords().filter { self.name == nil || $0.source == self.name }
        if let name, records.isEmpty { throw CommandFailure(message: "no sync source \"\(name)\"") }
        switch self.output {
        case .json:
            Output.line(JSONValue.object(["kind": "SyncList", "items": .array(records.map(\.json))]).prettyJSON())
        case .yaml:
            Output.print(YAMLRendering.renderStream(records.map(\.json)))
        case .name:
            for record in records { Output.line(record.source) }
        case .table:
            if records.isEmpty {
                FileHandle.standardError.write(Data("No sync sources: start `hypermesh agent --watch DIR`.\n".utf8))
                return
            }
            var table = TextTable(headers: ["SOURCE", "REVISION", "RESULT", "ATTEMPTED", "APPLIED", "MESSAGE"])
            for record in records {
                table.append([record.source, record.revision.map { String($0.prefix(12)) } ?? "-", record.result.rawValue,
                              Timestamp.format(record.attemptedAt), record.appliedAt.map(Timestamp.format) ?? "-", record.message])
            }
            var text = table.rendered
            for record in records where !record.errors.isEmpty {
                text += "\n\(record.source):\n" + record.errors.map { "  \($0)\n" }.joined()
            }
            Output.print(text)
        }
    }
}
