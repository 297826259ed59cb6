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
        // The ledger access is made once the STOQ server is; the server's handlers reach it through this box.
        let ledgerBox = LedgerBox()
        // The one STOQ socket of this node: it serves, and it carries what this node dials (the ledger, the CA node).
        let shards = try stoqAddress.map { address in
            try ShardServer(address: address, stateDirectory: stateDirectory, membership: mesh.service,
                            messages: { bytes, peer in ledgerBox.ledger?.deliver(bytes, from: peer) },
                            ledgerSync: { height in ledgerBox.ledger?.sync(above: height) ?? [] }, logger: self.logger)
        }
        let ledger = try shards.flatMap { shards in
            try stoqAddress.flatMap {
                try AgentLedger.make(store: store, stateDirectory: stateDirectory, listenAddress: $0, dialFrom: shards.stoqServer,
                                     logger: self.logger)
            }
        }
        ledgerBox.ledger = ledger
        let loop = ReconcileLoop(store: store, notifier: notifier, state: state, resyncPeriod: self.configuration.resyncPeriod,
                                 logger: self.logger, ledger: ledger, dialFrom: shards?.stoqServer) {
            // The node identity must be loadable before READY: a corrupt key stops the start here.
            _ = try NodeIdentity.loadOrCreate(in: stateDirectory)
            // Containers left running for Workloads deleted while no agent ran: nothing runs that no Workload owns.
            WorkloadController.stopOrphans(stateDirectory: stateDirectory, store: store)
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
            self.logger.info("Holding peers' mirror shards", metadata: [
                "stoq": "\(shards.localAddress)", "joins": "\(mesh.service == nil ? "no" : "answered (this node holds the mesh CA)")",
            ])
            services.append(.init(service: shards, successTerminationBehavior: .gracefullyShutdownGroup))
            if let ledger {
                services.append(.init(service: ledger, successTerminationBehavior: .gracefullyShutdownGroup))
                services.append(.init(service: PlacementKeeper(ledger: ledger, store: store, state: state, logger: self.logger),
                                      successTerminationBehavior: .ignore))
                let name = try store.objects(of: .mesh).first { $0.deletionRequestedAt == nil }?.spec.value(atPath: "node.name")?.stringValue
                services.append(.init(service: LedgerHeartbeat(ledger: ledger, name: name ?? "node", address: address, logger: self.logger),
                                      successTerminationBehavior: .ignore))
            }
            if let ledger, let authority = mesh.authority, let service = mesh.service {
                services.append(.init(service: ValidatorSetKeeper(ledger: ledger, authority: authority, membership: service, logger: self.logger),
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

/// Where the STOQ server's handlers find the ledger access, made after the server.
private final class LedgerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: AgentLedger?

    var ledger: AgentLedger? {
        get { self.lock.withLock { self.stored } }
        set { self.lock.withLock { self.stored = newValue } }
    }
}
