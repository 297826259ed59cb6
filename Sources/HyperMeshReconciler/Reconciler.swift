import Foundation
import HyperMeshCore
import HyperMeshStore
import Logging
import Metrics

/// Runs controllers over the objects in the store: the framework half of reconciliation.
///
/// ``runPass(deadline:)`` reconciles every object once, retries failures with back-off
/// while the deadline allows, cleans up and removes deleted objects, and returns when the
/// queue is quiet. Kinds without a controller get `Ready=Unknown` with reason
/// `NoController`, never a made-up success.
public actor Reconciler {
    /// Retries of one failing key within one pass, after the first try.
    public static let maximumRetriesPerPass = 3

    let store: StateStore
    let controllers: [Kind: any Controller]
    let logger: Logger
    let workerCount: Int
    private var queue: WorkQueue<ResourceKey>
    private var summary = PassSummary()
    /// Statuses reconciled but not yet written: written together, in one transaction, when
    /// ``maximumBufferedStatuses`` are waiting, before a key of another kind or a key already
    /// buffered is reconciled (so what a controller reads of other kinds and of itself is stored),
    /// when the queue waits, and at the end of the pass. One transaction per status was most of a
    /// large pass's cost.
    private var buffered: [StatusUpdate] = []
    private var bufferedKeys: Set<ResourceKey> = []
    /// Deletions waiting (``CleanupWaiting``), by what they wait for: retried as soon as that is removed.
    private var waiters: [ResourceKey: Set<ResourceKey>] = [:]
    /// Statuses written in one transaction at most.
    public static let maximumBufferedStatuses = 512

    public init(store: StateStore, controllers: [any Controller], logger: Logger, workerCount: Int = 2,
                queue: WorkQueue<ResourceKey> = WorkQueue())
    {
        precondition(workerCount > 0)
        self.store = store
        self.controllers = Dictionary(controllers.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        self.logger = logger
        self.workerCount = workerCount
        self.queue = queue
    }

    /// Registers the reconcile series for every kind at zero, as Prometheus' guidance asks, so dashboards and
    /// `rate()` see them from the first scrape rather than after the first reconcile of each kind.
    public static func registerMetrics(for kinds: [Kind] = Kind.allCases) {
        for kind in kinds {
            // Creating the timer registers its histogram with no observations.
            _ = Timer(label: "hypermesh_reconcile_duration_seconds", dimensions: [("kind", kind.rawValue)])
            for result in ["success", "error"] {
                Counter(label: "hypermesh_reconciles_total", dimensions: [("kind", kind.rawValue), ("result", result)]).increment(by: 0)
            }
        }
        Gauge(label: "hypermesh_workqueue_depth").record(0)
    }

    /// Reconciles every stored object (or only `keys`) until the queue is quiet or `deadline` passes.
    public func runPass(only keys: [ResourceKey]? = nil, deadline: Duration = .seconds(60)) async throws -> PassSummary {
        let clock = ContinuousClock()
        let stopAt = clock.now + deadline
        self.summary = PassSummary()
        let targets = try keys ?? self.store.keys()
        // Kinds with no controller need no worker: settle them in one read and one write.
        let uncontrolled = targets.filter { self.controllers[$0.kind] == nil }
        try self.settleWithoutController(uncontrolled)
        for key in targets.sorted() where self.controllers[key.kind] != nil { self.queue.add(key) }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<self.workerCount {
                group.addTask { await self.work(until: stopAt, clock: clock) }
            }
        }
        self.flushStatuses()
        return self.summary
    }

    /// Writes the buffered statuses in one transaction; a failed write marks their keys failed for this pass
    /// (they are still due, so the next pass reconciles them again).
    private func flushStatuses() {
        guard !self.buffered.isEmpty else { return }
        let updates = self.buffered
        self.buffered.removeAll(keepingCapacity: true)
        self.bufferedKeys.removeAll(keepingCapacity: true)
        do {
            try self.store.updateStatuses(updates)
        } catch {
            self.logger.warning("Cannot write statuses", metadata: ["count": "\(updates.count)", "error": "\(error)"])
            for update in updates { self.summary.failed[update.key] = "status not written: \(error)" }
        }
    }

    /// Flushes first when `key` would read what is buffered: its own status, or (another kind) any status.
    private func flushIfNeeded(before key: ResourceKey) {
        guard let last = self.buffered.last else { return }
        if last.key.kind != key.kind || self.bufferedKeys.contains(key) || self.buffered.count >= Self.maximumBufferedStatuses {
            self.flushStatuses()
        }
    }

    private func work(until stopAt: ContinuousClock.Instant, clock: ContinuousClock) async {
        while true {
            switch self.queue.next(now: clock.now) {
            case .key(let key):
                self.flushIfNeeded(before: key)
                await self.process(key, clock: clock)
                self.queue.done(key)
            case .waitUntil(let instant):
                self.flushStatuses()
                guard instant <= stopAt else { return }
                try? await clock.sleep(until: instant)
            case .waitForProcessing:
                self.flushStatuses()
                guard clock.now < stopAt else { return }
                try? await clock.sleep(for: .milliseconds(5))
            case .idle:
                return
            }
        }
    }

    private func process(_ key: ResourceKey, clock: ContinuousClock) async {
        let started = clock.now
        self.summary.started[key] = started
        var succeeded = false
        defer {
            // swift-metrics: no-ops unless a metrics backend was bootstrapped (the agent's Prometheus registry).
            let kind = key.kind.rawValue
            let elapsed = (clock.now - started).components
            Timer(label: "hypermesh_reconcile_duration_seconds", dimensions: [("kind", kind)])
                .recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
            Counter(label: "hypermesh_reconciles_total", dimensions: [("kind", kind), ("result", succeeded ? "success" : "error")])
                .increment()
            Gauge(label: "hypermesh_workqueue_depth").record(self.queue.count)
        }
        let context = ReconcileContext(
            stateDirectory: self.store.directory,
            logger: self.logger,
            events: EventRecorder(store: self.store, logger: self.logger),
            store: self.store)
        do {
            guard let object = try self.store.object(key) else { return }
            if object.deletionRequestedAt != nil {
                try await self.controllers[key.kind]?.cleanUp(object, context: context)
                if try self.store.removeObject(key) { self.summary.removed.append(key) }
                self.wakeWaiters(of: key)
            } else if let controller = self.controllers[key.kind] {
                var result = try await controller.reconcile(object, context: context)
                result.status.observedGeneration = object.generation
                let next = result.requeueAfter.map { Date().addingTimeInterval($0.timeInterval) }
                self.buffered.append(StatusUpdate(key: key, status: self.merged(result.status, into: object.status), nextReconcileAt: next))
                self.bufferedKeys.insert(key)
                self.summary.reconciled.append(key)
                for related in result.related where self.controllers[related.kind] != nil { self.queue.add(related) }
            } else {
                preconditionFailure("\(key) has no controller; runPass settles those without the queue")
            }
            self.queue.forget(key)
            self.summary.failed[key] = nil
            self.summary.waiting.remove(key)
            succeeded = true
        } catch {
            await self.handleFailure(of: key, error: error, clock: clock, context: context)
        }
    }

    private func handleFailure(of key: ResourceKey, error: any Error, clock: ContinuousClock, context: ReconcileContext) async {
        self.flushStatuses()
        let attempts = self.queue.failureCount(for: key) + 1
        self.summary.failed[key] = "\(error)"
        let waiting = error is CleanupWaiting
        if let cleanup = error as? CleanupWaiting {
            self.summary.waiting.insert(key)
            for blocker in cleanup.blockers { self.waiters[blocker, default: []].insert(key) }
            self.logger.info("Deletion waiting", metadata: ["object": "\(key)", "attempt": "\(attempts)", "reason": "\(error)"])
        } else {
            self.summary.waiting.remove(key)
            self.logger.warning("Reconcile failed", metadata: ["object": "\(key)", "attempt": "\(attempts)", "error": "\(error)"])
        }
        let delay: Duration
        if attempts <= Self.maximumRetriesPerPass {
            delay = self.queue.addRateLimited(key, now: clock.now)
        } else {
            delay = self.queue.backoff(for: key)
        }
        guard let object = try? self.store.object(key) else { return }
        let reason = waiting ? "Terminating" : object.deletionRequestedAt == nil ? "ReconcileFailed" : "CleanupFailed"
        context.events.record(key, waiting ? .normal : .warning, reason: reason, message: "\(error)")
        var status = object.status ?? ObjectStatus(observedGeneration: object.generation)
        status.setCondition(Condition(type: Condition.ready, status: .false, reason: reason, message: "\(error)",
                                      observedGeneration: object.generation))
        if !waiting {
            status.setCondition(Condition(type: Condition.degraded, status: .true, reason: reason, message: "\(error)",
                                          observedGeneration: object.generation))
        }
        let retryAt = Date().addingTimeInterval(Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
        _ = try? self.store.updateStatus(key, to: status, nextReconcileAt: retryAt)
    }

    /// Queues at once the deletions that waited for `key`, now removed; a waiter that still waits for others says so again.
    private func wakeWaiters(of key: ResourceKey) {
        guard let waiting = self.waiters.removeValue(forKey: key) else { return }
        for waiter in waiting { _ = self.queue.add(waiter) }
    }

    /// Objects of kinds without a controller: removed when deleted (nothing was allocated),
    /// otherwise `Ready=Unknown` with reason `NoController`, never a made-up success.
    private func settleWithoutController(_ keys: [ResourceKey]) throws {
        guard !keys.isEmpty else { return }
        var updates: [StatusUpdate] = []
        for object in try self.store.objects(keys) {
            if object.deletionRequestedAt != nil {
                if try self.store.removeObject(object.key) { self.summary.removed.append(object.key) }
                continue
            }
            let status = ObjectStatus.ready(
                .unknown, reason: "NoController",
                message: "no controller for \(object.key.kind.rawValue) in this build; the spec is stored but not acted on",
                generation: object.generation)
            updates.append(StatusUpdate(key: object.key, status: self.merged(status, into: object.status), nextReconcileAt: nil))
            self.summary.withoutController.append(object.key)
        }
        try self.store.updateStatuses(updates)
    }

    /// The new status, keeping the transition times of conditions whose status did not change.
    private func merged(_ new: ObjectStatus, into old: ObjectStatus?) -> ObjectStatus {
        guard var result = old else { return new }
        result.fields = new.fields
        result.observedGeneration = new.observedGeneration
        let newTypes = Set(new.conditions.map(\.type))
        result.conditions.removeAll { !newTypes.contains($0.type) }
        for condition in new.conditions { result.setCondition(condition) }
        return result
    }
}

/// What one pass did.
public struct PassSummary: Sendable {
    public var reconciled: [ResourceKey] = []
    public var withoutController: [ResourceKey] = []
    public var removed: [ResourceKey] = []
    /// Keys still failing at the end of the pass, with the last error.
    public var failed: [ResourceKey: String] = [:]
    /// Those of ``failed`` whose deletion waits for something else (``CleanupWaiting``): not an error.
    public var waiting: Set<ResourceKey> = []
    /// When the latest reconcile of each key began (it read the object then): a request to reconcile a key made
    /// before that instant is answered.
    public var started: [ResourceKey: ContinuousClock.Instant] = [:]

    public init() {}
}
