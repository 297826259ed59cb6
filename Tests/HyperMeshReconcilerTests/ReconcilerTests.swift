import Foundation
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import HyperMeshTestSupport
import Logging
import Testing

/// A controller for tests: fails a set number of times, records what it saw, can fail cleanup.
final class ScriptedController: Controller, @unchecked Sendable {
    let kind: Kind
    private let lock = NSLock()
    private var failuresLeft: Int
    private var cleanupFailuresLeft: Int
    private let cleanupWaits: Bool
    private(set) var reconciled: [String] = []
    private(set) var cleanedUp: [String] = []
    private(set) var concurrent = 0
    private(set) var maximumConcurrentSameKey = 0
    private var inFlight: [String: Int] = [:]

    /// `cleanupWaits`: the cleanup failures throw ``CleanupWaiting`` (deletion waits for something else).
    init(kind: Kind, failures: Int = 0, cleanupFailures: Int = 0, cleanupWaits: Bool = false) {
        self.kind = kind
        self.failuresLeft = failures
        self.cleanupFailuresLeft = cleanupFailures
        self.cleanupWaits = cleanupWaits
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String { "scripted failure" }
    }

    private func locked<T>(_ body: () -> T) -> T {
        self.lock.lock()
        defer { self.lock.unlock() }
        return body()
    }

    func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        let shouldFail = self.locked { () -> Bool in
            self.inFlight[object.key.name, default: 0] += 1
            self.maximumConcurrentSameKey = max(self.maximumConcurrentSameKey, self.inFlight[object.key.name]!)
            self.reconciled.append(object.key.name)
            if self.failuresLeft > 0 { self.failuresLeft -= 1; return true }
            return false
        }
        try await Task.sleep(for: .milliseconds(2))
        self.locked { self.inFlight[object.key.name]! -= 1 }
        if shouldFail { throw Failure() }
        return ReconcileResult(status: .ready(.true, reason: "Done", message: "ok", generation: 0, fields: ["seen": "yes"]),
                               requeueAfter: .minutes(5))
    }

    func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        let shouldFail = self.locked { () -> Bool in
            self.cleanedUp.append(object.key.name)
            if self.cleanupFailuresLeft > 0 { self.cleanupFailuresLeft -= 1; return true }
            return false
        }
        if shouldFail { throw self.cleanupWaits ? CleanupWaiting("waits for b") as any Error : Failure() }
    }
}

/// A pool controller whose cleanup waits while a claim of the same name is still stored.
struct WaitsForClaimController: Controller {
    let kind = Kind.resourcePool

    func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        ReconcileResult(status: .ready(.true, reason: "Done", message: "ok", generation: 0))
    }

    func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        let claim = ResourceKey(kind: .claim, name: object.key.name)
        if try context.store.object(claim) != nil { throw CleanupWaiting("waits for \(claim)", waitingFor: [claim]) }
    }
}

struct ReconcilerTests {
    static func claim(_ name: String) -> DesiredObject {
        DesiredObject(key: ResourceKey(kind: .claim, name: name), labels: [:], spec: ["pool": "p", "cpu": "1"])
    }

    func withStore(_ body: (StateStore) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await body(try StateStore(directory: directory.url))
    }

    func reconciler(_ store: StateStore, _ controllers: [any Controller]) -> Reconciler {
        Reconciler(store: store, controllers: controllers, logger: Logger(label: "test"), workerCount: 2,
                   queue: WorkQueue(baseDelay: .milliseconds(1), maximumDelay: .milliseconds(20)))
    }

    @Test func writesStatusWithObservedGenerationAndRequeueTime() async throws {
        try await withStore { store in
            try store.apply([Self.claim("a")])
            try store.apply([DesiredObject(key: ResourceKey(kind: .claim, name: "a"), labels: [:], spec: ["pool": "p", "cpu": "2"])])
            let controller = ScriptedController(kind: .claim)
            let summary = try await self.reconciler(store, [controller]).runPass()
            #expect(summary.reconciled == [ResourceKey(kind: .claim, name: "a")])
            let object = try #require(try store.object(ResourceKey(kind: .claim, name: "a")))
            #expect(object.status?.observedGeneration == 2)
            #expect(object.status?.fields["seen"] == "yes")
            #expect(object.readiness == .true)
            let next = try #require(object.nextReconcileAt)
            #expect(next.timeIntervalSinceNow > 200 && next.timeIntervalSinceNow <= 300)
        }
    }

    @Test func kindsWithoutControllerAreHonestlyUnknown() async throws {
        try await withStore { store in
            try store.apply([Self.claim("a")])
            let summary = try await self.reconciler(store, []).runPass()
            #expect(summary.withoutController.count == 1)
            let ready = try #require(try store.object(ResourceKey(kind: .claim, name: "a"))?.status?.condition(Condition.ready))
            #expect(ready.status == .unknown)
            #expect(ready.reason == "NoController")
        }
    }

    @Test func retriesFailuresWithBackoffThenSucceeds() async throws {
        try await withStore { store in
            try store.apply([Self.claim("a")])
            let controller = ScriptedController(kind: .claim, failures: 2)
            let summary = try await self.reconciler(store, [controller]).runPass()
            #expect(controller.reconciled == ["a", "a", "a"])
            #expect(summary.failed.isEmpty)
            let object = try #require(try store.object(ResourceKey(kind: .claim, name: "a")))
            #expect(object.readiness == .true)
            #expect(object.status?.condition(Condition.degraded) == nil)
            #expect(try store.events(for: object.key).filter { $0.reason == "ReconcileFailed" }.count == 2)
        }
    }

    @Test func persistentFailureIsDegradedAndBounded() async throws {
        try await withStore { store in
            try store.apply([Self.claim("a")])
            let controller = ScriptedController(kind: .claim, failures: 100)
            let summary = try await self.reconciler(store, [controller]).runPass()
            #expect(controller.reconciled.count == Reconciler.maximumRetriesPerPass + 1)
            #expect(summary.failed[ResourceKey(kind: .claim, name: "a")] == "scripted failure")
            let status = try #require(try store.object(ResourceKey(kind: .claim, name: "a"))?.status)
            #expect(status.condition(Condition.ready)?.status == .false)
            #expect(status.condition(Condition.degraded)?.reason == "ReconcileFailed")
        }
    }

    @Test func neverRunsTheSameKeyTwiceAtOnce() async throws {
        try await withStore { store in
            try store.apply((0..<20).map { Self.claim("c\($0)") })
            let controller = ScriptedController(kind: .claim)
            let reconciler = self.reconciler(store, [controller])
            async let first = reconciler.runPass()
            async let second = reconciler.runPass()
            _ = try await (first, second)
            #expect(controller.maximumConcurrentSameKey == 1)
        }
    }

    @Test func aDeletionThatWaitsIsTerminatingNotDegraded() async throws {
        try await withStore { store in
            try store.apply([Self.claim("a")])
            try store.requestDeletion(of: [ResourceKey(kind: .claim, name: "a")])
            let waiting = ScriptedController(kind: .claim, cleanupFailures: 100, cleanupWaits: true)
            let summary = try await self.reconciler(store, [waiting]).runPass()
            #expect(summary.removed.isEmpty)
            #expect(summary.failed[ResourceKey(kind: .claim, name: "a")] == "waits for b")
            let kept = try #require(try store.object(ResourceKey(kind: .claim, name: "a")))
            #expect(kept.status?.condition(Condition.ready)?.reason == "Terminating")
            #expect(kept.status?.condition(Condition.ready)?.message == "waits for b")
            #expect(kept.status?.condition(Condition.degraded) == nil)
            let events = try store.events(for: ResourceKey(kind: .claim, name: "a"))
            #expect(events.contains { $0.reason == "Terminating" && $0.type == .normal })
            #expect(!events.contains { $0.type == .warning })
        }
    }

    @Test func aWaitingDeletionIsRetriedAsSoonAsWhatItWaitsForIsRemoved() async throws {
        try await withStore { store in
            let pool = DesiredObject(key: ResourceKey(kind: .resourcePool, name: "p"), labels: [:], spec: ["privacy": "private"])
            try store.apply([pool, Self.claim("p")])
            try store.requestDeletion(of: [pool.key, ResourceKey(kind: .claim, name: "p")])
            // A back-off far longer than the pass's deadline: a pass that removes the pool at all can only have
            // retried it on the wake of the claim's removal (no wall-clock bound, which a loaded machine breaks).
            let reconciler = Reconciler(store: store, controllers: [WaitsForClaimController(), ScriptedController(kind: .claim)],
                                        logger: Logger(label: "test"), workerCount: 1,
                                        queue: WorkQueue(baseDelay: .seconds(600), maximumDelay: .seconds(600)))
            let summary = try await reconciler.runPass(deadline: .seconds(120))
            #expect(Set(summary.removed) == [pool.key, ResourceKey(kind: .claim, name: "p")])
            #expect(summary.failed.isEmpty && summary.waiting.isEmpty)
            #expect(try store.keys().isEmpty)
        }
    }

    @Test func cleansUpBeforeRemovingAndKeepsObjectWhenCleanupFails() async throws {
        try await withStore { store in
            try store.apply([Self.claim("a"), Self.claim("b")])
            let controller = ScriptedController(kind: .claim, cleanupFailures: 100)
            try store.requestDeletion(of: [ResourceKey(kind: .claim, name: "a")])
            let summary = try await self.reconciler(store, [controller]).runPass()
            #expect(summary.removed.isEmpty)
            #expect(controller.cleanedUp.allSatisfy { $0 == "a" } && !controller.cleanedUp.isEmpty)
            let kept = try #require(try store.object(ResourceKey(kind: .claim, name: "a")))
            #expect(kept.status?.condition(Condition.ready)?.reason == "CleanupFailed")

            let working = ScriptedController(kind: .claim)
            let second = try await self.reconciler(store, [working]).runPass()
            #expect(second.removed == [ResourceKey(kind: .claim, name: "a")])
            #expect(working.cleanedUp == ["a"])
            #expect(try store.object(ResourceKey(kind: .claim, name: "a")) == nil)
            #expect(try store.object(ResourceKey(kind: .claim, name: "b")) != nil)
        }
    }
}
