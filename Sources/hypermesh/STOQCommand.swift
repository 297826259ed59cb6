import ArgumentParser
import Dispatch
import Foundation
import HyperMeshCore
import Logging
import STOQ

struct STOQCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stoq",
        abstract: "STOQ: the QUIC transport between agents (mutual TLS from TrustChain).",
        discussion: """
            Both ends present a TrustChain certificate and verify the other's against the mesh root
            (and the CRL when given). ALPN stoq/1 is the mesh protocol; hq-interop (HTTP/0.9 over
            QUIC) serves the same files to independent QUIC clients.

            Examples:
              hypermesh ca issue --cn server --node-identity --out tls/
              hypermesh stoq serve --listen 0.0.0.0:9292 --root /srv/data \\
                  --cert tls/chain.pem --key tls/key.pem --ca STATE/ca/root.pem --crl crl.pem
              hypermesh stoq get stoq://10.0.0.2:9292/images/disk.img -o disk.img \\
                  --cert tls/chain.pem --key tls/key.pem --ca STATE/ca/root.pem
              hypermesh stoq put stoq://10.0.0.2:9292 chunk.bin --cert … --key … --ca …
              hypermesh stoq bench --size 1Gi --baseline
            """,
        subcommands: [STOQServeCommand.self, STOQGetCommand.self, STOQPutCommand.self, STOQBenchCommand.self]
    )
}

/// The TLS files every STOQ command takes.
struct STOQTLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("PEM certificate chain to present (TrustChain's chain.pem).", valueName: "FILE"))
    var cert: String
    @Option(help: ArgumentHelp("PEM private key of that certificate.", valueName: "FILE")) var key: String
    @Option(help: ArgumentHelp("PEM mesh root that peers' chains must end at.", valueName: "FILE")) var ca: String
    @Option(help: ArgumentHelp("PEM CRL; peers it lists are refused.", valueName: "FILE")) var crl: String?

    var tls: TLSConfiguration {
        TLSConfiguration(certificateChainPath: self.cert, privateKeyPath: self.key, trustedRootsPath: self.ca,
                         revocationListPath: self.crl)
    }
}

extension TransportTuning.CongestionControl: ExpressibleByArgument {}

/// Transport options shared by the commands that move data.
struct STOQTransportOptions: ParsableArguments {
    @Option(help: "Congestion control: cubic, bbr or reno.") var congestionControl: TransportTuning.CongestionControl = .cubic
    @Option(help: ArgumentHelp("Largest UDP payload to send once path MTU discovery allows (1200–65527).",
                               valueName: "BYTES"))
    var maxUdpPayload = 32_768

    func validate() throws {
        guard (1200...65527).contains(self.maxUdpPayload) else {
            throw ValidationError("--max-udp-payload must be from 1200 to 65527")
        }
    }

    var tuning: TransportTuning {
        var tuning = TransportTuning()
        tuning.congestionControl = self.congestionControl
        tuning.maximumUDPPayloadBytes = self.maxUdpPayload
        return tuning
    }
}

/// `stoq://HOST:PORT/PATH`.
struct STOQURL {
    var address: SocketAddress
    var path: String

    init(parsing text: String) throws {
        guard text.hasPrefix("stoq://") else { throw ValidationError("\(text): expected stoq://HOST:PORT/PATH") }
        let rest = text.dropFirst("stoq://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        do {
            self.address = try SocketAddress(parsing: String(rest[..<slash]))
        } catch let error as STOQError {
            throw ValidationError("\(text): \(error.message)")
        }
        self.path = String(rest[slash...])
    }
}

struct STOQServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve files (hq-interop, stoq/1 FETCH) and blobs (stoq/1 GET/PUT) over QUIC.",
        discussion: "Prints `listening on ADDRESS` once bound; SIGINT or SIGTERM closes every connection and exits 0.")

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Address and UDP port to listen on (port 0: any free port).", valueName: "ADDR:PORT"))
    var listen = "0.0.0.0:\(STOQDefaults.port)"
    @Option(help: ArgumentHelp("Directory of files to serve; blobs are kept in ROOT/.blobs.", valueName: "DIR"))
    var root: String
    @OptionGroup var tlsOptions: STOQTLSOptions
    @OptionGroup var transport: STOQTransportOptions
    @Flag(help: "Accept new clients without a Retry round trip (no address validation).") var noRetry = false
    @Option(help: "Connections one source address may hold.") var maxConnectionsPerAddress = 64
    @Option(help: "Log level: trace, debug, info, warning, error.") var logLevel = "info"

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: self.root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--root \(self.root): not a directory")
        }
        let address: SocketAddress
        do { address = try SocketAddress(parsing: self.listen) } catch let error as STOQError {
            throw ValidationError("--listen: \(error.message)")
        }
        var configuration = STOQServer.Configuration(listenAddress: address, tls: self.tlsOptions.tls,
                                                     root: URL(fileURLWithPath: self.root))
        configuration.requireAddressValidation = !self.noRetry
        configuration.maximumConnectionsPerAddress = self.maxConnectionsPerAddress
        configuration.tuning = self.transport.tuning
        var logger = Logger(label: "stoq.server")
        logger.logLevel = Logger.Level(rawValue: self.logLevel) ?? .info
        let server = try STOQServer(configuration: configuration, logger: logger)
        let signals = StopSignals { server.stop() }
        Output.line("listening on \(server.localAddress)")
        server.run()
        signals.cancel()
    }
}

struct STOQGetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Fetch a file (or, with --blob, a blob by SHA-256) from a STOQ server.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("stoq://HOST:PORT/PATH (with --blob, PATH is the blob's hex SHA-256).", valueName: "URL"))
    var url: String
    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the bytes (- for stdout; the summary then goes to stderr).",
                                                    valueName: "FILE"))
    var output: String
    @OptionGroup var tlsOptions: STOQTLSOptions
    @OptionGroup var transport: STOQTransportOptions
    @Option(help: "ALPN: stoq/1 or hq-interop.") var alpn = STOQDefaults.meshALPN
    @Flag(help: "PATH is a blob id, fetched with stoq/1 GET.") var blob = false
    @Option(help: "Expected node id of the server (its certificate's hm:// URI).") var peer: String?
    @Option(help: "Give up after this long.") var timeout = "5m"

    func run() throws {
        let target = try STOQURL(parsing: self.url)
        guard [STOQDefaults.meshALPN, STOQDefaults.interopALPN].contains(self.alpn) else {
            throw ValidationError("--alpn must be stoq/1 or hq-interop")
        }
        var blobID: [UInt8]?
        if self.blob {
            let hex = target.path.hasPrefix("/") ? String(target.path.dropFirst()) : target.path
            guard hex.count == 64, let bytes = [UInt8](hexString: hex) else {
                throw ValidationError("\(self.url): with --blob the path must be 64 hex digits")
            }
            blobID = bytes
        }
        let timeout = try STOQCommand.duration(self.timeout, option: "--timeout")
        var configuration = STOQClient.Configuration(tls: self.tlsOptions.tls)
        configuration.alpn = self.alpn
        configuration.expectedPeerNodeID = self.peer
        configuration.tuning = self.transport.tuning
        let client = try STOQClient(configuration: configuration)
        let clock = ContinuousClock()
        let start = clock.now
        let connection = try client.connect(to: target.address)
        defer { connection.close() }
        let sink = self.output == "-" ? FileSink() : try FileSink(path: self.output)
        let kind: STOQRequest.Kind = blobID.map { .getBlob(id: $0) } ?? .fetch(path: target.path)
        let bytes = try connection.perform(STOQRequest(kind, sink: sink), timeout: timeout)
        let seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
        let summary = String(format: "%d bytes in %.3f s, %.2f Gbit/s", bytes, seconds, Double(bytes) * 8 / max(seconds, 1e-9) / 1e9)
        if self.output == "-" {
            FileHandle.standardError.write(Data((summary + "\n").utf8))
        } else {
            Output.line(summary)
        }
    }
}

struct STOQPutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put", abstract: "Store a file on a STOQ server as a blob named by its SHA-256; prints the id.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("stoq://HOST:PORT", valueName: "URL")) var url: String
    @Argument(help: ArgumentHelp("The file to send.", valueName: "FILE")) var file: String
    @OptionGroup var tlsOptions: STOQTLSOptions
    @OptionGroup var transport: STOQTransportOptions

    func run() throws {
        let target = try STOQURL(parsing: self.url)
        let id = try BlobDirectory.contentID(ofFile: self.file)
        var configuration = STOQClient.Configuration(tls: self.tlsOptions.tls)
        configuration.tuning = self.transport.tuning
        let connection = try STOQClient(configuration: configuration).connect(to: target.address)
        defer { connection.close() }
        try connection.perform(STOQRequest(.putBlob(id: id, contents: .file(path: self.file))))
        Output.line(id.hexString)
    }
}

extension STOQCommand {
    static func duration(_ text: String, option: String) throws -> Duration {
        do {
            return .milliseconds(try TimeSpan(parsing: text).milliseconds)
        } catch {
            throw ValidationError("\(option): \(error)")
        }
    }
}
