import ArgumentParser
import Foundation
import HyperMeshAgent
import HyperMeshCommands
import HyperMeshControllers
import HyperMeshCore
import HyperMeshStore
import STOQData

struct MirrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "The data plane: what a MirrorPolicy keeps, restoring it, verifying every shard.",
        discussion: """
            A MirrorPolicy's shards live in STATE/mirror/shards and on the peers its placement allows
            (reached over STOQ with the certificate in STATE/stoq/); its manifest in
            STATE/mirror/manifests/NAME.json is enough to rebuild the source from shards alone.

            Examples:
              hypermesh mirror status photos
              hypermesh mirror restore photos --to /srv/restore
              hypermesh mirror restore photos --to /srv/yesterday --version 3f9a…
              hypermesh mirror restore photos --to /tmp/drill --from-peers   # a recovery drill
              hypermesh mirror verify photos -o json
            """,
        subcommands: [MirrorStatusCommand.self, MirrorRestoreCommand.self, MirrorVerifyCommand.self])
}

/// A policy's manifest and the places its shards are.
struct MirrorContext {
    let manifest: MirrorManifest
    let local: ChunkStore
    let peers: [ShardPeer]
    let unknownPeers: [String]

    init(global: GlobalOptions, name: String, version: String? = nil) throws {
        let workspace = try global.openWorkspace()
        guard let object = try workspace.store.object(ResourceKey(kind: .mirrorPolicy, name: name)) else {
            throw CommandFailure(message: "no MirrorPolicy named \(name); `hypermesh get mirror` lists them")
        }
        let path = MirrorPolicyController.manifestPath(global.stateDirectory, name: name)
        guard let data = FileManager.default.contents(atPath: path.path) else {
            throw CommandFailure(message: "MirrorPolicy \(name) has no manifest yet (\(path.path)); reconcile it first")
        }
        let current = try MirrorManifest.decode([UInt8](data), source: path.path)
        if let version, version != current.version {
            let history = MirrorPolicyController.historyDirectory(global.stateDirectory, name: name)
            let old = history.appendingPathComponent("\(version).json")
            guard let bytes = FileManager.default.contents(atPath: old.path) else {
                let kept = ((try? FileManager.default.contentsOfDirectory(atPath: history.path)) ?? [])
                    .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
                throw CommandFailure(message: "MirrorPolicy \(name) keeps no version \(version); it holds \(current.version)"
                    + (kept.isEmpty ? "" : " and earlier " + kept.joined(separator: ", ")))
            }
            self.manifest = try MirrorManifest.decode([UInt8](bytes), source: old.path)
        } else {
            self.manifest = current
        }
        self.local = try ChunkStore(directory: MirrorPolicyController.directory(global.stateDirectory).appendingPathComponent("shards"))
        (self.peers, self.unknownPeers) = try MirrorPolicyController.peers(for: object.spec, stateDirectory: global.stateDirectory,
                                                                          store: workspace.store)
    }
}

struct MirrorStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The mirrored version, its size and its placement.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The MirrorPolicy.") var name: String
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        let workspace = try self.global.openWorkspace()
        guard let object = try workspace.store.object(ResourceKey(kind: .mirrorPolicy, name: self.name)) else {
            throw CommandFailure(message: "no MirrorPolicy named \(self.name); `hypermesh get mirror` lists them")
        }
        let fields = object.status?.fields ?? [:]
        let ready = object.status?.condition(Condition.ready)
        if self.output == .json {
            Output.line(JSONValue.object(fields.merging(["ready": .string(ready?.status.rawValue ?? "Unknown"),
                                                         "reason": .string(ready?.reason ?? "NotReconciled"),
                                                         "message": .string(ready?.message ?? "")]) { $1 }).prettyJSON())
            return
        }
        var table = TextTable(headers: ["FIELD", "VALUE"])
        table.append(["ready", "\(ready?.status.rawValue ?? "Unknown") (\(ready?.reason ?? "NotReconciled")) \(ready?.message ?? "")"])
        for key in ["version", "files", "chunks", "bytes", "stripes", "shards", "underReplicated"] {
            table.append([key, fields[key].map(Self.text) ?? "-"])
        }
        for (peer, count) in (fields["shardsPlaced"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            table.append(["peer \(peer.prefix(12))…", "\(Self.text(count)) shards"])
        }
        for peer in fields["unreachablePeers"]?.arrayValue ?? [] { table.append(["unreachable", Self.text(peer)]) }
        Output.print(table.rendered)
    }

    static func text(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        case .integer(let number): "\(number)"
        default: value.canonicalJSON
        }
    }
}

struct MirrorRestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Rebuild the mirrored source from its shards alone (this node's and the peers').",
        discussion: "Any `data` shards of each stripe suffice; the rest are rebuilt from parity. Exit 1 when a stripe cannot be.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The MirrorPolicy.") var name: String
    @Option(help: ArgumentHelp("Directory to write the files into.", valueName: "DIR")) var to: String
    @Option(help: ArgumentHelp("The version's root id: the current one or one of the `keepVersions` kept (default: current).",
                               valueName: "ROOT"))
    var version: String?
    @Flag(help: "Use only the peers' shards, not this node's: shows that losing this node loses nothing.")
    var fromPeers = false

    func validate() throws {
        if let version = self.version, ContentID(hex: version) == nil {
            throw ValidationError("--version must be a root id of 64 hex digits (see `hypermesh mirror status`)")
        }
    }

    func run() throws {
        let context = try MirrorContext(global: self.global, name: self.name, version: self.version)
        let terminal = isatty(STDERR_FILENO) == 1
        let sources: [any ShardSource] = self.fromPeers ? context.peers : [context.local] + context.peers
        let outcome = try MirrorRestorer(manifest: context.manifest, sources: sources)
            .restore(to: self.to, singleFileName: self.name) { done, total in
                if terminal { FileHandle.standardError.write(Data("\rstripe \(done)/\(total)".utf8)) }
            }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        Output.line("restored \(outcome.files) files, \(outcome.bytes) bytes into \(self.to) (\(outcome.shardsRebuilt) shards rebuilt from parity)")
    }
}

struct MirrorVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Fetch every shard from every place that should hold it and check its hash.",
        discussion: """
            Exit 0 when every stripe can be rebuilt and no shard is corrupt; 1 otherwise. Corrupt copies on this
            node are quarantined, and a running agent is woken to rebuild them.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The MirrorPolicy.") var name: String
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        let context = try MirrorContext(global: self.global, name: self.name)
        var verified = 0
        var corrupt: [String] = []
        var unrecoverable: [Int] = []
        // What each reachable peer says it holds; each of those copies is then fetched and hash-checked.
        let ids = context.manifest.stripes.flatMap(\.shards).compactMap(ContentID.init(hex:))
        var holdings: [(peer: ShardPeer, held: Set<ContentID>)] = []
        var unreachable: [String] = context.unknownPeers
        for peer in context.peers {
            do {
                holdings.append((peer, try peer.held(ids)))
            } catch {
                unreachable.append("\(peer.name) (\(error))")
            }
        }
        let terminal = isatty(STDERR_FILENO) == 1
        for (index, stripe) in context.manifest.stripes.enumerated() {
            if terminal { FileHandle.standardError.write(Data("\rverifying stripe \(index + 1)/\(context.manifest.stripes.count)".utf8)) }
            var good = 0
            for hex in stripe.shards {
                guard let id = ContentID(hex: hex) else { continue }
                var found = false
                if context.local.contains(id) {
                    if (try? context.local.get(id)) != nil {
                        verified += 1
                        found = true
                    } else {
                        corrupt.append("\(hex.prefix(12))… on this node (quarantined)")
                    }
                }
                for (peer, held) in holdings where held.contains(id) {
                    do {
                        if try peer.shard(id) != nil {
                            verified += 1
                            found = true
                        }
                    } catch let error as HyperMeshError where error.code == .corruptData {
                        corrupt.append("\(hex.prefix(12))… on \(peer.address): \(error.message)")
                    } catch {
                        unreachable.append("\(peer.address) (\(error))")
                    }
                }
                if found { good += 1 }
            }
            if good < context.manifest.data { unrecoverable.append(index) }
        }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        let ok = corrupt.isEmpty && unrecoverable.isEmpty
        // A running agent repairs at once what verify found (the corrupt copies are quarantined by now).
        if !corrupt.isEmpty, let agent = AgentClient(stateDirectory: self.global.stateDirectory) {
            _ = try? agent.send(LocalAPIMessage.Request(operation: .wake, keys: [ResourceKey(kind: .mirrorPolicy, name: self.name)]))
        }
        if self.output == .json {
            Output.line(JSONValue.object([
                "stripes": .integer(Int64(context.manifest.stripes.count)), "shardCopiesVerified": .integer(Int64(verified)),
                "corrupt": .array(corrupt.map { .string($0) }), "unrecoverableStripes": .array(unrecoverable.map { .integer(Int64($0)) }),
                "unreachablePeers": .array(unreachable.map { .string($0) }),
                "ok": .bool(ok),
            ]).prettyJSON())
        } else {
            Output.line("\(verified) shard copies verified over \(context.manifest.stripes.count) stripes; "
                + "\(corrupt.count) corrupt, \(unrecoverable.count) stripes unrecoverable")
            for line in corrupt { Output.error("corrupt shard \(line)") }
            for peer in unreachable { Output.error("peer unreachable: \(peer)") }
            for index in unrecoverable { Output.error("stripe \(index) has fewer than \(context.manifest.data) good shards") }
        }
        if !ok { throw ExitCode(1) }
    }
}
