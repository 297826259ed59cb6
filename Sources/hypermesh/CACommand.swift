import ArgumentParser
import HyperMeshCommands
import HyperMeshControllers
import X509
import Foundation
import HyperMeshCore
import TrustChain

struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "TrustChain: the mesh's certificate authority.",
        discussion: """
            The CA lives in STATE/ca (mode 0700): root, online intermediate, their keys (0600),
            and registry.db (issued certificates and the transparency log).

            Examples:
              hypermesh ca init --name home
              hypermesh ca issue --cn node-1 --dns node-1.lan --ip 127.0.0.1 --out /etc/hypermesh/tls
              hypermesh ca revoke 5f3a… --reason keyCompromise
              hypermesh ca crl --out crl.pem
              hypermesh ca list -o json
              hypermesh ca log prove 5f3a…
            """,
        subcommands: [CAInitCommand.self, CAIssueCommand.self, CARevokeCommand.self, CACRLCommand.self, CAListCommand.self,
                      CALogCommand.self]
    )
}

extension GlobalOptions {
    var caDirectory: URL { self.stateDirectory.appendingPathComponent("ca") }

    func openCA() throws -> CertificateAuthority { try CertificateAuthority(directory: self.caDirectory) }
}

extension KeyAlgorithm: ExpressibleByArgument {}
extension IssuanceRequest.Usage: ExpressibleByArgument {}

struct CAInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create the root and the online intermediate.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "The CA's name, in its certificates' subjects.") var name = "HyperMesh"
    @Option(help: "Key type of the CA: p256 or p384.") var key: KeyAlgorithm = .p256
    @Option(help: ArgumentHelp("Write the root key here instead, to keep it offline.", valueName: "DIR")) var rootOut: String?
    @Flag(help: "Replace an existing CA.") var force = false

    func validate() throws {
        if self.key == .ed25519 { throw ValidationError("--key must be p256 or p384 for a CA") }
    }

    func run() throws {
        let ca = try CertificateAuthority.initialize(in: self.global.caDirectory, name: self.name, algorithm: self.key,
                                                     rootKeyDirectory: self.rootOut.map { URL(fileURLWithPath: $0) }, force: self.force)
        Output.line("root:         \(ca.directory.path)/root.pem (\(ca.root.subject), until \(Timestamp.format(ca.root.notValidAfter)))")
        Output.line("intermediate: \(ca.directory.path)/intermediate.pem (until \(Timestamp.format(ca.intermediate.notValidAfter)))")
        Output.line("root key:     \(self.rootOut.map { $0 + "/root-key.pem (offline)" } ?? ca.directory.path + "/root-key.pem")")
    }
}

struct CAIssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue", abstract: "Issue a certificate; writes cert.pem, key.pem and chain.pem atomically.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Common name.") var cn: String
    @Option(help: "DNS subject alternative name (repeatable).") var dns: [String] = []
    @Option(help: "IP subject alternative name (repeatable).") var ip: [String] = []
    @Option(help: "URI subject alternative name, e.g. hm://NODE-ID (repeatable).") var uri: [String] = []
    @Option(help: "server, client or both.") var usage: IssuanceRequest.Usage = .both
    @Option(help: "Lifetime, at least 1m.") var duration = "24h"
    @Option(help: "Key type: p256, p384 or ed25519.") var key: KeyAlgorithm = .p256
    @Option(help: ArgumentHelp("Directory to write the files into.", valueName: "DIR")) var out: String
    @Flag(help: "Certify this node's own key (STATE/node/node-key.pem) and add the URI SAN hm://NODE-ID.")
    var nodeIdentity = false
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        let duration: TimeSpan
        do { duration = try TimeSpan(parsing: self.duration) } catch { throw ValidationError("--duration: \(error)") }
        var uris = self.uri
        var subjectKey: GeneratedKey?
        if self.nodeIdentity {
            let node = try NodeIdentity.loadOrCreate(in: self.global.stateDirectory).identity
            uris.append("hm://\(node.nodeID)")
            subjectKey = GeneratedKey(certificateKey: Certificate.PrivateKey(node.privateKey), pem: node.privateKey.pemRepresentation)
        }
        let request = IssuanceRequest(commonName: self.cn, dnsNames: self.dns, ipAddresses: self.ip, uris: uris,
                                      usage: self.usage, duration: duration, keyAlgorithm: self.key)
        let problems = request.problems()
        if !problems.isEmpty { throw CommandFailure(message: problems.joined(separator: "; ")) }
        let ca = try self.global.openCA()
        let issued = try ca.issue(request, writingTo: URL(fileURLWithPath: self.out), subjectKey: subjectKey)
        if self.output == .json {
            Output.line(JSONValue.object([
                "serial": .string(issued.serial), "directory": .string(self.out),
                "notAfter": .string(Timestamp.format(issued.certificate.notValidAfter)),
            ]).prettyJSON())
        } else {
            Output.line("issued \(issued.serial) for \(self.cn), valid until \(Timestamp.format(issued.certificate.notValidAfter)); "
                + "wrote \(self.out)/cert.pem, key.pem, chain.pem")
        }
    }
}

struct CARevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a certificate by serial.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The serial number in hex, as `ca list` shows it.") var serial: String
    @Option(help: ArgumentHelp("Reason: " + RevocationReason.allCases.map(\.name).joined(separator: ", ") + ".")) var reason = "unspecified"

    func run() throws {
        guard let reason = RevocationReason(name: self.reason) else {
            throw ValidationError("--reason must be one of " + RevocationReason.allCases.map(\.name).joined(separator: ", "))
        }
        try self.global.openCA().revoke(serial: self.serial, reason: reason)
        Output.line("revoked \(self.serial.lowercased()) (\(reason.name)); run `hypermesh ca crl` to publish it")
    }
}

struct CACRLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crl", abstract: "Write the X.509 v2 CRL signed by the intermediate.")

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Where to write the PEM CRL (- for stdout).", valueName: "FILE")) var out = "-"

    func run() throws {
        let crl = try self.global.openCA().revocationList()
        if self.out == "-" {
            Output.print(crl.pem)
        } else {
            let url = URL(fileURLWithPath: self.out)
            try AtomicFiles.write([.init(name: url.lastPathComponent, contents: crl.pem, mode: 0o644)], into: url.deletingLastPathComponent())
        }
    }
}

struct CAListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List issued certificates: Valid, Expired or Revoked.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        let now = Date()
        let records = try self.global.openCA().registry.records()
        if self.output == .json {
            Output.line(JSONValue.array(records.map { $0.json(at: now) }).prettyJSON())
            return
        }
        var table = TextTable(headers: ["SERIAL", "COMMON-NAME", "STATE", "REASON", "NOT-AFTER", "POLICY"])
        for record in records {
            table.append([record.serial, record.commonName, record.state(at: now).rawValue, record.revocationReason?.name ?? "-",
                          Timestamp.format(record.notAfter), record.policy ?? "-"])
        }
        Output.print(table.rendered)
    }
}
