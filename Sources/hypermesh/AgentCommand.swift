import ArgumentParser
import Foundation
import HyperMeshAgent
import HyperMeshCore
import HyperMeshStore
import Logging

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Reconcile continuously: the daemon systemd runs (Type=notify, watchdog, journald).",
        discussion: """
            Reconciles every object at start, then whatever changes (other processes' applies are
            noticed within 100 ms; `hypermesh apply` also wakes it through STATE/agent.sock), what is
            due, and everything every --resync. With --watch DIR (repeatable) it applies the specs
            under DIR whenever they change, pruning what was removed; `hypermesh get sync` shows the
            outcome. Logs go to the journal when stderr is connected to it, else logfmt on stderr.

            Examples:
              hypermesh agent --config /etc/hypermesh/agent.yaml
              hypermesh agent --watch /srv/gitops/specs --http 127.0.0.1:9464
              hypermesh agent --stoq 0.0.0.0:9292      # also hold peers' mirror shards
              hypermesh agent status
            """,
        subcommands: [AgentRunCommand.self, AgentStatusCommand.self],
        defaultSubcommand: AgentRunCommand.self
    )
}

struct AgentRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the agent (the default).")

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("YAML configuration (stateDirectory, watch, http, stoq, resync, logLevel); flags win.",
                               valueName: "FILE"))
    var config: String?
    @Option(help: ArgumentHelp("Apply the specs under DIR whenever they change (repeatable).", valueName: "DIR"))
    var watch: [String] = []
    @Option(help: ArgumentHelp("Address for /healthz, /readyz and /metrics, or none (default 127.0.0.1:9464).",
                               valueName: "HOST:PORT"))
    var http: String?
    @Option(help: ArgumentHelp("Hold and serve peers' mirror shards over STOQ here, or none (default none); the node "
                               + "certificate comes from STATE/stoq/.", valueName: "HOST:PORT"))
    var stoq: String?
    @Option(help: ArgumentHelp("Reconcile everything this often (default 5m).", valueName: "DURATION")) var resync: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical (default info).") var logLevel: String?
    @Flag(help: "Read the configuration and flags, print the result, and exit (0 when valid).") var checkConfig = false

    func run() async throws {
        var configuration = AgentConfiguration(stateDirectory: self.global.stateDirectory)
        if let config {
            configuration = try configuration.reading(file: config)
            if self.global.stateDir != nil { configuration.stateDirectory = self.global.stateDirectory }
        }
        if !self.watch.isEmpty {
            configuration.watchDirectories = self.watch.map { URL(fileURLWithPath: $0).standardizedFileURL }
        }
        if let http {
            do { configuration.httpAddress = try AgentConfiguration.parseHTTPAddress(http) } catch {
                throw ValidationError("--http: \(error.message)")
            }
        }
        if let stoq {
            do { configuration.stoqAddress = try AgentConfiguration.parseSTOQAddress(stoq) } catch {
                throw ValidationError("--stoq: \(error.message)")
            }
        }
        if let resync {
            do { configuration.resyncPeriod = try TimeSpan(parsing: resync).duration } catch {
                throw ValidationError("--resync: \(error)")
            }
        }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level: unknown level \(logLevel)") }
            configuration.logLevel = level
        }
        if self.checkConfig {
            Output.line("stateDirectory: \(configuration.stateDirectory.path)")
            Output.line("watch: " + configuration.watchDirectories.map { directory in
                FileManager.default.fileExists(atPath: directory.path) ? directory.path : directory.path + " (missing)"
            }.joined(separator: ", "))
            Output.line("http: \(configuration.httpAddress.map { "\($0.host):\($0.port)" } ?? "none")")
            Output.line("stoq: \(configuration.stoqAddress ?? "none")")
            Output.line("resync: \(configuration.resyncPeriod)")
            Output.line("logLevel: \(configuration.logLevel)")
            return
        }
        for directory in configuration.watchDirectories {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--watch \(directory.path): not a directory")
            }
        }
        let level = configuration.logLevel
        let journal = JournalLogHandler.stderrIsJournal()
        let logger = Logger(label: "hypermesh.agent") { label -> any LogHandler in
            journal ? JournalLogHandler(label: label, logLevel: level) : LogfmtLogHandler(label: label, logLevel: level)
        }
        try await Agent(configuration: configuration, configurationFile: self.config, logger: logger).run()
    }
}

struct AgentStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Ask the running agent how it is.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        guard let client = AgentClient(stateDirectory: self.global.stateDirectory) else {
            throw CommandFailure(message: "no agent: \(self.global.stateDirectory.path)/agent.sock does not exist")
        }
        let reply = try client.send(LocalAPIMessage.Request(operation: .status))
        let ready = reply["ready"] == .bool(true)
        let summary: String
        if case .string(let text)? = reply["summary"] { summary = text } else { summary = "-" }
        Output.line("\(ready ? "ready" : "starting"): \(summary)")
    }
}
