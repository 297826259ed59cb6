import Foundation
import CSystemd
import HyperMeshControllers
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import Logging
import STOQ
import Metrics
import ServiceLifecycle

/// Reconciles continuously: everything at start, then what changed (other processes' writes, noticed by
/// polling the store; wake-ups from the local API and the spec watcher), what is due (requeues,
/// back-offs), and everything again every `resyncPeriod` to correct drift.
///
/// Sends READY=1 after the first pass and WATCHDOG=1 from this loop itself, so systemd notices when the
/// loop, not just the process, is stuck. On graceful shutdown it sends STOPPING=1 and lets the pass in
/// flight finish.
final class ReconcileLoop: Service {
    /// How often the store is polled for changes made by other processes.
    static let pollInterval: Duration = .milliseconds(100)
    /// A pass stops taking new keys after this; the rest continue in the next iteration.
    static let passDeadline: Duration = .seconds(5)

    private let store: StateStore
    private let reconciler: Reconciler
    private let notifier: SystemdNotifier
    private let state: AgentState
    private let resyncPeriod: Duration
    private let logger: Logger
    private let beforeFirstPass: @Sendable () throws -> Void

    init(store: StateStore, notifier: SystemdNotifier, state: AgentState, resyncPeriod: Duration, logger: Logger,
         ledger: (any MeshLedgerAccess)? = nil, dialFrom: STOQServer? = nil, beforeFirstPass: @escaping @Sendable () throws -> Void = {}) {
        self.store = store
        self.reconciler = Reconciler(store: store, controllers: StandardControllers.all(ledger: ledger, dialFrom: dialFrom), logger: logger)
        self.notifier = notifier
        self.state = state
        self.resyncPeriod = resyncPeriod
        self.logger = logger
        self.beforeFirstPass = beforeFirstPass
    }

    func run() async throws {
        let clock = ContinuousClock()
        // Half of WATCHDOG_USEC, less one poll interval, so no gap between pings exceeds the half.
        let watchdogInterval = SystemdNotifier.watchdogInterval().map { max($0 - Self.pollInterval, Self.pollInterval) }
        var lastWatchdog = clock.now
        try self.beforeFirstPass()
        try await self.pass(keys: nil)
        self.state.markReady()
        self.notifier.ready(status: self.state.summary)
        self.logger.info("Agent ready", metadata: ["summary": "\(self.state.summary)"])
        var lastResync = clock.now
        await withGracefulShutdownHandler {
            while !(Task.isCancelled || Task.isShuttingDownGracefully) {
                if let watchdogInterval, clock.now - lastWatchdog >= watchdogInterval {
                    self.notifier.watchdog()
                    lastWatchdog = clock.now
                }
                let requests = self.state.takeWakeRequests()
                let resync = requests.all || clock.now - lastResync >= self.resyncPeriod
                do {
                    if resync {
                        try await self.pass(keys: nil)
                        lastResync = clock.now
                    } else {
                        let due = Set(try self.store.keysDueRespectingBackoff()).union(requests.keys)
                        if !due.isEmpty { try await self.pass(keys: due.sorted()) }
                    }
                } catch {
                    self.logger.error("Reconcile pass failed", metadata: ["error": "\(error)"])
                    self.state.recordPass(at: Date(), error: "\(error)", summary: self.state.summary)
                }
                var sleep = Self.pollInterval
                if let watchdogInterval { sleep = min(sleep, watchdogInterval) }
                await self.state.waitForWake(timeout: sleep)
            }
        } onGracefulShutdown: {
            self.notifier.stopping()
            self.logger.info("Stopping: finishing the reconcile pass in flight")
        }
    }

    /// One pass over `keys` (all for `nil`); updates the summary, STATUS= and the object gauges.
    private func pass(keys: [ResourceKey]?) async throws {
        let started = ContinuousClock.now
        let summary = try await self.reconciler.runPass(only: keys, deadline: Self.passDeadline)
        self.state.dropWakes(answeredBy: summary.started)
        self.logger.debug("Reconcile pass", metadata: [
            "keys": "\(keys.map { "\($0.count)" } ?? "all")", "reconciled": "\(summary.reconciled.count)",
            "removed": "\(summary.removed.count)", "failing": "\(summary.failed.count)", "waiting": "\(summary.waiting.count)",
            "duration": "\(ContinuousClock.now - started)",
        ])
        for (key, error) in summary.failed where !summary.waiting.contains(key) {
            self.logger.warning("Reconcile failed", metadata: ["object": "\(key)", "error": "\(error)"])
        }
        // Counted in SQLite: decoding every object after every pass made a large store's passes quadratic.
        let counted = try self.store.readinessCounts()
        var counts: [String: [String: Int]] = [:]
        var total = 0
        var ready = 0
        var degraded = 0
        for entry in counted {
            counts[entry.kind.rawValue, default: [:]][entry.ready, default: 0] += entry.count
            total += entry.count
            if entry.ready == Condition.Status.true.rawValue { ready += entry.count }
            degraded += entry.degraded
        }
        for kind in Kind.allCases {
            for readiness in ["True", "False", "Unknown"] {
                Gauge(label: "hypermesh_objects", dimensions: [("kind", kind.rawValue), ("ready", readiness)])
                    .record(counts[kind.rawValue]?[readiness] ?? 0)
            }
        }
        // A big pass leaves freed heap that glibc keeps; give it back so an idle agent stays small.
        if (keys?.count ?? total) >= 100 { malloc_trim(0) }
        let text = "\(total) objects, \(ready) ready, \(degraded) degraded"
        let changed = text != self.state.summary
        self.state.recordPass(at: Date(), error: nil, summary: text)
        if changed && self.state.isReady { self.notifier.status(text) }
    }
}
