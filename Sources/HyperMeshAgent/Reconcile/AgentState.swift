import Foundation
import HyperMeshCore

/// What the agent's parts share: readiness for `/readyz`, keys asked to be reconciled now, the last pass.
/// Thread-safe: the local API's threads, the HTTP server and the reconcile loop all touch it.
public final class AgentState: @unchecked Sendable {
    private let lock = NSLock()
    private var ready = false
    /// Keys asked for, with when the latest request for each came.
    private var wakeKeys: [ResourceKey: ContinuousClock.Instant] = [:]
    private var wakeAll = false
    private var lastPassAt: Date?
    private var lastPassError: String?
    private var summaryText = "starting"
    private var wakeContinuation: CheckedContinuation<Void, Never>?

    public init() {}

    /// Set once READY=1 was sent: state open, node identity loaded, first pass done.
    public var isReady: Bool { self.lock.withLock { self.ready } }

    public func markReady() { self.lock.withLock { self.ready = true } }

    /// Asks the loop to reconcile `keys` (or everything, for `nil`) now.
    public func wake(_ keys: [ResourceKey]?) {
        let continuation: CheckedContinuation<Void, Never>? = self.lock.withLock {
            if let keys {
                let now = ContinuousClock.now
                for key in keys { self.wakeKeys[key] = now }
            } else {
                self.wakeAll = true
            }
            defer { self.wakeContinuation = nil }
            return self.wakeContinuation
        }
        continuation?.resume()
    }

    /// Takes the pending wake requests: (`all`, keys).
    func takeWakeRequests() -> (all: Bool, keys: Set<ResourceKey>) {
        self.lock.withLock {
            defer { self.wakeKeys = [:]; self.wakeAll = false }
            return (self.wakeAll, Set(self.wakeKeys.keys))
        }
    }

    /// Forgets the requests a pass already answered: those for keys it began reconciling after the request came
    /// (`started`). A wake that arrives while a pass is taking the same keys (an apply's objects are due by
    /// themselves too) would otherwise run a second pass over all of them.
    func dropWakes(answeredBy started: [ResourceKey: ContinuousClock.Instant]) {
        guard !started.isEmpty else { return }
        self.lock.withLock {
            self.wakeKeys = self.wakeKeys.filter { key, requested in
                guard let began = started[key] else { return true }
                return began < requested
            }
        }
    }

    /// Sleeps until `wake` or `timeout`, whichever is first.
    func waitForWake(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow: Bool = self.lock.withLock {
                        if self.wakeAll || !self.wakeKeys.isEmpty { return true }
                        self.wakeContinuation?.resume()
                        self.wakeContinuation = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            // Whichever finished, release the other.
            let pending: CheckedContinuation<Void, Never>? = self.lock.withLock {
                defer { self.wakeContinuation = nil }
                return self.wakeContinuation
            }
            pending?.resume()
            group.cancelAll()
        }
    }

    func recordPass(at time: Date, error: String?, summary: String) {
        self.lock.withLock {
            self.lastPassAt = time
            self.lastPassError = error
            self.summaryText = summary
        }
    }

    /// The one-line summary sent as systemd STATUS= (`12 objects, 12 ready, 0 degraded`).
    public var summary: String { self.lock.withLock { self.summaryText } }

    /// `/readyz`: ready, and the last pass succeeded or ran within `bound`.
    public func readiness(within bound: TimeInterval) -> (ready: Bool, reason: String) {
        self.lock.withLock {
            guard self.ready, let last = self.lastPassAt else { return (false, "not ready: the first reconcile pass has not finished") }
            if let error = self.lastPassError, Date().timeIntervalSince(last) > bound {
                return (false, "not ready: last reconcile pass failed: \(error)")
            }
            if Date().timeIntervalSince(last) > bound * 4 {
                return (false, "not ready: no reconcile pass for \(Int(Date().timeIntervalSince(last))) s")
            }
            return (true, "ready: \(self.summaryText)")
        }
    }
}
