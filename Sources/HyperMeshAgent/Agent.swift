import Foundation
import HyperMeshControllers
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `hypermesh agent`: one `ServiceGroup` of the reconcile loop, the local API, the HTTP endpoint, the STOQ
/// shard server (with `stoq:`), the mirror source and peer watchers, the spec watcher and the SIGHUP reloader. SIGTERM and SIGINT shut it down gracefully (reverse order: the
/// reconcile loop finishes its pass last), then the process exits 0.
public struct Agent: Sendable {
    public var configuration: AgentConfiguration
    /// The file `configuration` came from, re-read on SIGHUP.
    public var configurationFile: String?
    public var logger: Logger

    public init(configuration: AgentConfiguration, configurationFile: String?, logger: Logger) {
        self.configuration = configuration
        self.configurationFile = configurationFile
        self.logger = logger
    }

    public func run() async throws {
        Self.unblockSignals()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        // Registered at zero so dashboards see the series before the first event.
        for source in ["cli", "watch"] {
            for result in ["applied", "failed"] {
                Counter(label: "hypermesh_applies_total", dimensions: [("source", source), ("result", result)]).increment(by: 0)
            }
        }
        Reconciler.registerMetrics()
        let stateDirectory = self.configuration.stateDirectory
        let store = try StateStore(directory: stateDirectory)
        let state = AgentState()
        let notifier = SystemdNotifier()
        let api = LocalAPIServer(stateDirectory: stateDirectory, store: store, state: state, logger: self.logger)
        try api.bind()
        let mesh = try MeshMembership(store: store, stateDirectory: stateDirectory, logger: self.logger)
        let stoqAddress = self.configuration.stoqAddress ?? mesh.listenAddress
        let validator = try stoqAddress.flatMap {
            try ValidatorHost.make(store: store, stateDirectory: stateDirectory, listenAddress: $0, logger: self.logger)
        }
        // The one STOQ socket of this node: it serves, and it carries what this node dials (the ledger, the CA node).
        let shards = try stoqAddress.map { address in
            var messages: (@Sendable ([UInt8], String?) -> Void)?
            var ledgerSync: (@Sendable (UInt64) -> [UInt8])?
            if let validator {
                messages = { bytes, peer in validator.deliver(bytes, from: peer) }
                ledgerSync = { height in (try? validator.node.sync(above: height).bytes) ?? [] }
            }
            return try ShardServer(address: address, stateDirectory: stateDirectory, membership: mesh.service,
                                   messages: messages, ledgerSync: ledgerSync, logger: self.logger)
        }
        if let shards { validator?.node.dialPeers(from: shards.stoqServer) }
        let ledger = try shards == nil ? nil
            : AgentLedger.make(store: store, stateDirectory: stateDirectory, hosted: validator?.node, dialFrom: shards?.stoqServer,
                               logger: self.logger)
        let loop = ReconcileLoop(store: store, notifier: notifier, state: state, resyncPeriod: self.configuration.resyncPeriod,
                                 logger: self.logger, ledger: ledger, dialFrom: shards?.stoqServer) {
            // The node identity must be loadable before READY: a corrupt key stops the start here.
            _ = try NodeIdentity.loadOrCreate(in: stateDirectory)
        }
        let watcher = SpecWatcher(directories: self.configuration.watchDirectories, store: store, state: state, logger: self.logger)
        let reloader = Reloader(agent: self, watcher: watcher, state: state, notifier: notifier)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: loop, successTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: api, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if let http = self.configuration.httpAddress {
            services.append(.init(service: HTTPEndpoint.application(host: http.host, port: http.port, state: state,
                                                                     registry: registry, logger: self.logger),
                                  successTerminationBehavior: .gracefullyShutdownGroup))
        }
        if let address = stoqAddress, let shards {
            if let validator {
                self.logger.info("Hosting this node's validator", metadata: [
                    "index": "\(validator.node.configuration.index)", "validators": "\(validator.node.configuration.validators.members.count)",
                ])
                services.append(.init(service: validator, successTerminationBehavior: .gracefullyShutdownGroup))
            }
            self.logger.info("Holding peers' mirror shards", metadata: [
                "stoq": "\(shards.localAddress)", "joins": "\(mesh.service == nil ? "no" : "answered (this node holds the mesh CA)")",
            ])
            services.append(.init(service: shards, successTerminationBehavior: .gracefullyShutdownGroup))
            if let ledger {
                self.logger.info("Following the mesh ledger", metadata: [
                    "validators": "\(ledger.validatorCount)", "through": "\(validator == nil ? "the validators" : "the hosted validator")",
                ])
                services.append(.init(service: ledger, successTerminationBehavior: .ignore))
                services.append(.init(service: PlacementKeeper(ledger: ledger, store: store, state: state, logger: self.logger),
                                      successTerminationBehavior: .ignore))
                let name = try store.objects(of: .mesh).first { $0.deletionRequestedAt == nil }?.spec.value(atPath: "node.name")?.stringValue
                services.append(.init(service: LedgerHeartbeat(ledger: ledger, name: name ?? "node", address: address, logger: self.logger),
                                      successTerminationBehavior: .ignore))
            }
            if mesh.authority != nil || mesh.caAddress != nil {
                services.append(.init(service: MembershipKeeper(stateDirectory: stateDirectory, authority: mesh.authority,
                                                                caAddress: mesh.caAddress, server: shards, listen: address,
                                                                logger: self.logger),
                                      successTerminationBehavior: .ignore))
            }
        }
        services.append(.init(service: MirrorSourceWatcher(store: store, state: state, logger: self.logger),
                              successTerminationBehavior: .ignore))
        services.append(.init(service: MirrorPeerWatcher(store: store, state: state, stateDirectory: stateDirectory,
                                                               dialFrom: shards?.stoqServer, logger: self.logger),
                              successTerminationBehavior: .ignore))
        services.append(.init(service: watcher, successTerminationBehavior: .ignore))
        services.append(.init(service: reloader, successTerminationBehavior: .ignore))
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: self.logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(8)
        self.logger.info("Agent starting", metadata: [
            "state": "\(stateDirectory.path)", "watch": "\(self.configuration.watchDirectories.map(\.path))",
            "http": "\(self.configuration.httpAddress.map { "\($0.host):\($0.port)" } ?? "none")",
            "stoq": "\(self.configuration.stoqAddress ?? mesh.listenAddress ?? "none")",
        ])
        try await ServiceGroup(configuration: groupConfiguration).run()
        self.logger.info("Agent stopped")
    }

    /// A parent may hand us a blocked mask (test runners, some supervisors); the agent must hear these.
    static func unblockSignals() {
        // A peer closing a socket mid-reply must never kill the daemon.
        signal(SIGPIPE, SIG_IGN)
        var signals = sigset_t()
        sigemptyset(&signals)
        for number in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, number) }
        sigprocmask(SIG_UNBLOCK, &signals, nil)
    }
}

/// SIGHUP: RELOADING=1, re-read the configuration file (keeping the old one if the new is invalid),
/// re-apply the watched directories, resync everything, READY=1.
struct Reloader: Service {
    let agent: Agent
    let watcher: SpecWatcher
    let state: AgentState
    let notifier: SystemdNotifier

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            self.notifier.reloading()
            self.agent.logger.info("Reloading")
            if let file = self.agent.configurationFile {
                do {
                    let fresh = try self.agent.configuration.reading(file: file)
                    self.watcher.update(directories: fresh.watchDirectories)
                } catch {
                    self.agent.logger.error("Configuration not reloaded; the previous one stays", metadata: ["error": "\(error)"])
                }
            }
            self.watcher.syncAll()
            self.state.wake(nil)
            self.notifier.ready(status: self.state.summary)
        }
    }
}
