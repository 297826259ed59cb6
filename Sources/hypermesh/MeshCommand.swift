import ArgumentParser
import Foundation
import HyperMeshAgent
import HyperMeshCommands
import HyperMeshControllers
import HyperMeshConsensus
import HyperMeshCore
import HyperMeshMembership
import HyperMeshSpec
import HyperMeshValidator
import STOQ
import TrustChain
import X509

struct MeshCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh",
        abstract: "Start a mesh, invite machines into it, join one.",
        discussion: """
            The machine that starts the mesh holds its CA (STATE/ca) and answers joins on its STOQ port while
            `hypermesh agent` runs. A joining machine keeps its own node key: it sends a certificate signing
            request, and trusts the mesh's root only after its SHA-256 matches the one in the token.

            Examples:
              hypermesh mesh init --name family --listen 0.0.0.0:9292
              hypermesh mesh token --ttl 1h                  # on machine 1: prints a one-time token
              hypermesh mesh join 192.0.2.10:9292 --token hmjoin1.…   # on machine 2
              hypermesh mesh tokens                          # which tokens exist, used by whom
              hypermesh mesh remove machine-2                # revoke it: every agent drops it within seconds
              hypermesh mesh audit                           # placed claims against the ledger: orphans either way
            """,
        subcommands: [MeshInitCommand.self, MeshTokenCommand.self, MeshTokensCommand.self, MeshJoinCommand.self,
                      MeshRemoveCommand.self, MeshAuditCommand.self]
    )
}

/// What `mesh init` and `mesh join` share: the node's name, where it listens, and its `Mesh` object.
struct MeshNodeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("This node's name in the mesh (a DNS label; default: the host name).", valueName: "NAME"))
    var nodeName: String?
    @Option(help: ArgumentHelp("Where this node's agent listens for STOQ (HOST:PORT).", valueName: "ADDRESS"))
    var listen = MeshController.defaultListen

    func validate() throws {
        if let nodeName, let problem = ResourceName.problem(with: nodeName) { throw ValidationError("--node-name \(problem)") }
        do { _ = try SocketAddress(parsing: self.listen) } catch let error as STOQError {
            throw ValidationError("--listen: \(error.message)")
        }
    }

    /// The name given, or the host name made into a DNS label.
    var resolvedNodeName: String {
        if let nodeName { return nodeName }
        let host = ProcessInfo.processInfo.hostName.lowercased().split(separator: ".").first.map(String.init) ?? "node"
        let label = String(host.map { $0.isLetter || $0.isNumber ? $0 : "-" }.prefix(ResourceName.maximumLength))
            .trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return ResourceName.problem(with: label) == nil ? label : "node"
    }

    /// Stores this node's `Mesh` object (decoded like any spec, so it is exactly what `apply` would accept)
    /// and has it reconciled: by the running agent, or here.
    func storeMeshObject(meshName: String, nodeName: String, validators: [ValidatorAddress], bootstrap: [String],
                         consensus: String? = nil, in workspace: Workspace) async throws {
        var lines = ["apiVersion: hypermesh/v1", "kind: Mesh", "metadata:", "  name: \(meshName)", "spec:",
                     "  node:", "    name: \(nodeName)", "    listen: \"\(self.listen)\""]
        if !bootstrap.isEmpty { lines += ["  bootstrap:"] + bootstrap.map { "    - \"\($0)\"" } }
        if !validators.isEmpty {
            lines += ["  validators:"] + validators.flatMap { ["    - id: \($0.id)", "      address: \"\($0.address)\""] }
        }
        // JSON is YAML: the CA node's consensus rules, as it sent them.
        if let consensus, consensus.hasPrefix("{") { lines.append("  consensus: \(consensus)") }
        let result = SpecDecoder().decode([SpecInput(displayPath: "(mesh \(meshName))", text: lines.joined(separator: "\n") + "\n")])
        guard result.isValid else { throw SpecValidationFailure(diagnostics: result.diagnostics) }
        // One Mesh per node: an earlier one (another mesh's name) is replaced, not kept beside it.
        let keys = result.documents.map(\.key)
        let stale = try workspace.store.keys(of: .mesh).filter { !keys.contains($0) }
        _ = try workspace.store.apply(result.documents.map(\.desired))
        if !stale.isEmpty { try workspace.store.requestDeletion(of: stale) }
        if let agent = AgentClient(stateDirectory: workspace.store.directory),
           (try? agent.send(LocalAPIMessage.Request(operation: .wake, keys: keys + stale))) != nil {
            return
        }
        _ = try await workspace.reconcile(only: keys + stale)
    }
}

struct MeshInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Start a mesh here: its CA (if absent), this node's certificate, and the Mesh object.")

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The mesh's name (a DNS label; also the CA's name).", valueName: "NAME")) var name: String
    @OptionGroup var node: MeshNodeOptions
    @Option(help: ArgumentHelp("Address other nodes reach this one at, when --listen is a wildcard (HOST:PORT).", valueName: "ADDRESS"))
    var advertise: String?
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func validate() throws {
        if let problem = ResourceName.problem(with: self.name) { throw ValidationError("--name \(problem)") }
        if let advertise {
            do { _ = try SocketAddress(parsing: advertise) } catch let error as STOQError { throw ValidationError("--advertise: \(error.message)") }
        }
    }

    func run() async throws {
        let state = self.global.stateDirectory
        let caDirectory = self.global.caDirectory
        let authority = CertificateAuthority.exists(in: caDirectory)
            ? try CertificateAuthority(directory: caDirectory)
            : try CertificateAuthority.initialize(in: caDirectory, name: self.name)
        let identity = try NodeIdentity.loadOrCreate(in: state).identity
        let nodeName = self.node.resolvedNodeName
        let request = IssuanceRequest(commonName: nodeName, uris: ["hm://\(identity.nodeID)"], usage: .both,
                                      duration: CertificateAuthority.nodeCertificateLifetime, policy: "node:\(identity.nodeID)")
        let key = GeneratedKey(certificateKey: Certificate.PrivateKey(identity.privateKey), pem: identity.privateKey.pemRepresentation)
        let issued = try authority.issue(request, subjectKey: key)
        try authority.supersede(policy: "node:\(identity.nodeID)", except: issued.serial)
        let credentials = NodeCredentials(certificatePEM: issued.certificatePEM, chainPEM: issued.chainPEM,
                                          rootPEM: authority.rootPEM, revocationListPEM: try authority.revocationList().pem)
        try credentials.write(to: NodeTLS.directory(state), nodeKeyPEM: key.pem)
        let reachable = self.advertise ?? (Self.isWildcard(self.node.listen) ? nil : self.node.listen)
        let validators = reachable.map { [ValidatorAddress(id: identity.nodeID, address: $0)] } ?? []
        try await self.node.storeMeshObject(meshName: self.name, nodeName: nodeName, validators: validators, bootstrap: [],
                                      in: try self.global.openWorkspace())
        if self.output == .json {
            Output.line(JSONValue.object([
                "mesh": .string(self.name), "node": .string(nodeName), "nodeId": .string(identity.nodeID),
                "rootFingerprint": .string(try authority.rootFingerprint), "serial": .string(issued.serial),
                "listen": .string(self.node.listen),
            ]).prettyJSON())
        } else {
            Output.line("mesh \(self.name): node \(nodeName) is hm://\(identity.nodeID)")
            Output.line("root sha256 \(try authority.rootFingerprint) (\(caDirectory.path)/root.pem)")
            Output.line("node certificate \(issued.serial) in \(NodeTLS.directory(state).path), until \(Timestamp.format(issued.certificate.notValidAfter))")
            Output.line("next: `hypermesh agent` (STOQ on \(self.node.listen)), then `hypermesh mesh token` for each machine to join")
        }
    }

    static func isWildcard(_ address: String) -> Bool {
        address.hasPrefix("0.0.0.0:") || address.hasPrefix("[::]:")
    }
}

struct MeshTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a one-time join token (on the node that holds the mesh CA).",
        discussion: """
            The token carries the root's SHA-256, so the joiner can tell this mesh from an impostor, and a
            secret the CA keeps only hashed. It works once, until --ttl ends. With --validator, the joiner
            becomes a validator once its agent's heartbeat is on the ledger: this node's agent proposes the
            next validator epoch with it, and the joiner's agent starts validating when that epoch commits.

            Examples:
              hypermesh mesh token --ttl 15m
              hypermesh mesh token --validator -o json
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("How long the token stays valid (at least 1m).", valueName: "DURATION")) var ttl = "1h"
    @Flag(help: "The machine that joins with it becomes a validator.") var validator = false
    @Option(help: ArgumentHelp("How long the joiner's node certificate lasts, and each renewal (default 30 days; at least 1m).",
                               valueName: "DURATION"))
    var certificateLifetime: String?
    @Option(name: .shortAndLong, help: "Output format: table (the token alone) or json.") var output: OutputFormat = .table

    func validate() throws {
        do { _ = try TimeSpan(parsing: self.ttl) } catch { throw ValidationError("--ttl: \(error)") }
        if let certificateLifetime {
            do { _ = try TimeSpan(parsing: certificateLifetime) } catch { throw ValidationError("--certificate-lifetime: \(error)") }
        }
    }

    func run() throws {
        guard CertificateAuthority.exists(in: self.global.caDirectory) else {
            throw CommandFailure(message: "\(self.global.caDirectory.path): this node holds no mesh CA; run `hypermesh mesh init` "
                + "here, or make tokens on the node that did")
        }
        let lifetime = try TimeSpan(parsing: self.ttl)
        let now = Date()
        let token = try self.global.openCA().makeJoinToken(lifetime: lifetime, validator: self.validator,
                                                           certificateLifetime: try self.certificateLifetime.map { try TimeSpan(parsing: $0) },
                                                           now: now)
        if self.output == .json {
            Output.line(JSONValue.object([
                "token": .string(token.description), "id": .string(token.id), "validator": .bool(self.validator),
                "expiresAt": .string(Timestamp.format(now.addingTimeInterval(lifetime.timeInterval))),
                "rootFingerprint": .string(token.rootFingerprint),
            ]).prettyJSON())
        } else {
            Output.line(token.description)
            if isatty(STDERR_FILENO) != 0 {
                FileHandle.standardError.write(Data("valid once, for \(lifetime); on the new machine: hypermesh mesh join ADDRESS --token TOKEN\n".utf8))
            }
        }
    }
}

struct MeshTokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokens", abstract: "List join tokens: expiry, use, by whom.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        let records = try self.global.openCA().registry.joinTokens()
        let now = Date()
        func state(_ record: JoinTokenRecord) -> String {
            record.usedAt != nil ? "used" : record.expiresAt <= now ? "expired" : "valid"
        }
        if self.output == .json {
            Output.line(JSONValue.array(records.map { record in
                .object([
                    "id": .string(record.id), "state": .string(state(record)), "validator": .bool(record.validator),
                    "createdAt": .string(Timestamp.format(record.createdAt)), "expiresAt": .string(Timestamp.format(record.expiresAt)),
                    "usedAt": record.usedAt.map { .string(Timestamp.format($0)) } ?? .null,
                    "usedBy": record.usedBy.map { .string($0) } ?? .null,
                ])
            }).prettyJSON())
            return
        }
        var table = TextTable(headers: ["ID", "STATE", "VALIDATOR", "EXPIRES", "USED-BY"])
        for record in records {
            table.append([record.id, state(record), record.validator ? "yes" : "no", Timestamp.format(record.expiresAt),
                          record.usedBy.map { String($0.prefix(16)) } ?? "-"])
        }
        Output.line(table.rendered)
    }
}

struct MeshJoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join the mesh whose CA node answers at ADDRESS, with a token from `mesh token`.",
        discussion: """
            The node key stays here (STATE/node/node-key.pem); the CA signs a request for it. The certificate,
            the root, the CRL and the validator set are written to STATE/stoq, and a Mesh object is stored.
            Exit 1 with the reason when the server's root does not match the token (nothing secret is sent
            then) or the CA refuses the token.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The CA node's STOQ address.", valueName: "HOST:PORT")) var address: String
    @Option(help: "The token `hypermesh mesh token` printed.") var token: String?
    @Option(help: ArgumentHelp("Read the token from this file (- for stdin) instead of the command line.", valueName: "PATH"))
    var tokenFile: String?
    @OptionGroup var node: MeshNodeOptions
    @Option(help: ArgumentHelp("How long to wait for the CA node.", valueName: "DURATION")) var timeout = "10s"
    @Flag(help: "Join even if this node already holds a mesh certificate (it is replaced).") var force = false
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func validate() throws {
        if (self.token == nil) == (self.tokenFile == nil) { throw ValidationError("give exactly one of --token and --token-file") }
        do { _ = try SocketAddress(parsing: self.address) } catch let error as STOQError { throw ValidationError("ADDRESS: \(error.message)") }
        do { _ = try TimeSpan(parsing: self.timeout) } catch { throw ValidationError("--timeout: \(error)") }
    }

    func run() async throws {
        let text: String
        if let tokenFile {
            let data = tokenFile == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: tokenFile)
            guard let data, let read = String(data: data, encoding: .utf8) else { throw CommandFailure(message: "\(tokenFile): cannot read the token") }
            text = read
        } else {
            text = self.token!
        }
        let token: JoinToken
        do { token = try JoinToken(parsing: text) } catch let error as HyperMeshError { throw ValidationError(error.message) }
        let state = self.global.stateDirectory
        let tlsDirectory = NodeTLS.directory(state)
        if !self.force && FileManager.default.fileExists(atPath: tlsDirectory.appendingPathComponent("chain.pem").path) {
            throw CommandFailure(message: "\(tlsDirectory.path)/chain.pem: this node already holds a mesh certificate; "
                + "--force replaces it")
        }
        let identity = try NodeIdentity.loadOrCreate(in: state).identity
        let nodeName = self.node.resolvedNodeName
        let joiner = MeshJoiner(nodeKey: identity.privateKey, nodeName: nodeName)
        let joined = try await joiner.join(try SocketAddress(parsing: self.address), token: token,
                                           timeout: try TimeSpan(parsing: self.timeout).duration)
        try joined.credentials.write(to: tlsDirectory, nodeKeyPEM: identity.privateKey.pemRepresentation)
        try await self.node.storeMeshObject(meshName: joined.mesh.name, nodeName: nodeName, validators: joined.mesh.validators,
                                            bootstrap: [self.address], consensus: joined.mesh.consensus, in: try self.global.openWorkspace())
        if self.output == .json {
            Output.line(JSONValue.object([
                "mesh": .string(joined.mesh.name), "node": .string(nodeName), "nodeId": .string(joined.nodeID),
                "serial": .string(joined.serial), "notAfter": .string(joined.notAfter), "validator": .bool(joined.validator),
                "validators": .integer(Int64(joined.mesh.validators.count)),
            ]).prettyJSON())
        } else {
            Output.line("joined mesh \(joined.mesh.name) as \(nodeName) (hm://\(joined.nodeID))")
            Output.line("node certificate \(joined.serial) in \(tlsDirectory.path), until \(joined.notAfter)"
                + (joined.validator ? "; this node is to be a validator" : ""))
            Output.line("validators: \(joined.mesh.validators.isEmpty ? "none known" : joined.mesh.validators.map(\.address).joined(separator: ", "))")
        }
    }
}

extension MeshRemoveCommand {
    /// Submits `expel` for `nodeID` to every validator, signed as this node's validator; says what happened.
    func expelOnLedger(_ nodeID: String) -> String {
        do {
            let context = try ValidatorContext(global: self.global, mesh: nil)
            let (validators, signer) = try context.currentValidators()
            guard signer.index != nil else { return "not submitted: this node is not one of the mesh's validators" }
            let time = context.validators.requirements.time
                ? try TimeReferenceFile.read(from: context.stateDirectory.appendingPathComponent(ValidatorDefaults.timeReferencePath).path)
                : nil
            let operations = try ValidatorClient.makeOperations(kind: .expel, subject: nodeID, amount: 0, count: 1, signer: signer,
                                                                workBits: ValidatorDefaults.workBits, time: time)
            let outcome = try ValidatorClient.submit(operations, to: validators, tls: NodeTLS.configuration(context.stateDirectory))
            guard !outcome.reached.isEmpty else {
                return "not submitted: no validator answered (\(outcome.failures.joined(separator: "; "))); is the agent running?"
            }
            return "expel submitted to \(outcome.reached.count) of \(validators.members.count) validators"
        } catch {
            return "not submitted: \(error)"
        }
    }
}

struct MeshRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a node from the mesh: revoke its certificates (on the node that holds the mesh CA).",
        discussion: """
            Every agent reads the CA's revocation list every few seconds; from then on the node is refused by every
            STOQ server, and the connections it holds are closed. When this node is a validator (the node that ran
            `mesh init` is), the removal also goes on the mesh ledger: the node's offers are withdrawn, the claims on
            them and its own claims end, and nothing it proposes counts any more. A removed validator leaves the
            validator set at the next epoch (this node's agent proposes it).
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The node: its name, its node id, or 8 or more leading digits of it.", valueName: "NODE"))
    var node: String
    @Option(help: ArgumentHelp("Reason: " + RevocationReason.allCases.map(\.name).joined(separator: ", ") + "."))
    var reason = RevocationReason.cessationOfOperation.name
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        guard let reason = RevocationReason(name: self.reason) else {
            throw ValidationError("--reason must be one of " + RevocationReason.allCases.map(\.name).joined(separator: ", "))
        }
        guard CertificateAuthority.exists(in: self.global.caDirectory) else {
            throw CommandFailure(message: "\(self.global.caDirectory.path): this node holds no mesh CA; remove nodes on the node that does")
        }
        let (nodeID, serials) = try self.global.openCA().revokeNode(self.node, reason: reason)
        let ledger = self.expelOnLedger(nodeID)
        if self.output == .json {
            Output.line(JSONValue.object(["nodeId": .string(nodeID), "revoked": .array(serials.map { .string($0) }),
                                          "reason": .string(reason.name), "ledger": .string(ledger)]).prettyJSON())
        } else {
            Output.line("removed hm://\(nodeID): revoked \(serials.joined(separator: ", ")) (\(reason.name)); "
                + "running agents drop it within seconds (they read the CA's CRL every 3 s)")
            Output.line("ledger: \(ledger)")
        }
    }
}
