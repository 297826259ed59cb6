/// A de-duplicating work queue with per-key exponential back-off, as controller-runtime's
/// workqueue: a key queued twice is processed once; a key being processed is never handed
/// out again until ``done(_:now:)``, and is re-queued then if it was added meanwhile.
///
/// A pure state machine: time comes in as `now`, so tests own the clock.
public struct WorkQueue<Key: Hashable & Sendable>: Sendable {
    public typealias Instant = ContinuousClock.Instant

    /// What ``next(now:)`` hands out.
    public enum Next: Equatable, Sendable {
        /// Process this key, then call ``done(_:now:)``.
        case key(Key)
        /// Nothing is ready before this instant.
        case waitUntil(Instant)
        /// Other keys are being processed; they may add work when done.
        case waitForProcessing
        /// Nothing queued, delayed or processing.
        case idle
    }

    public let capacity: Int
    public let baseDelay: Duration
    public let maximumDelay: Duration

    private var ready: [Key] = []
    private var readyHead = 0
    private var queued: Set<Key> = []
    private var processing: Set<Key> = []
    private var dirty: Set<Key> = []
    private var delayed: [Key: Instant] = [:]
    private var failures: [Key: Int] = [:]

    public init(capacity: Int = 100_000, baseDelay: Duration = .milliseconds(50), maximumDelay: Duration = .seconds(300)) {
        precondition(capacity > 0 && baseDelay > .zero && maximumDelay >= baseDelay)
        self.capacity = capacity
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
    }

    /// Keys waiting or delayed (not counting those being processed).
    public var count: Int { self.queued.count + self.delayed.count }

    /// Queues `key` now. Returns `false` when the queue is full (the caller resyncs later).
    @discardableResult
    public mutating func add(_ key: Key) -> Bool {
        if self.processing.contains(key) {
            self.dirty.insert(key)
            return true
        }
        if self.queued.contains(key) { return true }
        guard self.count < self.capacity else { return false }
        self.delayed[key] = nil
        self.queued.insert(key)
        self.ready.append(key)
        return true
    }

    /// Queues `key` at `instant` (keeping the earlier instant if it is already delayed).
    @discardableResult
    public mutating func add(_ key: Key, at instant: Instant) -> Bool {
        if self.queued.contains(key) { return true }
        if let existing = self.delayed[key], existing <= instant { return true }
        guard self.delayed[key] != nil || self.count < self.capacity else { return false }
        self.delayed[key] = instant
        return true
    }

    /// Queues `key` after its back-off: `baseDelay × 2^failures`, capped at `maximumDelay`.
    /// Returns the delay used.
    @discardableResult
    public mutating func addRateLimited(_ key: Key, now: Instant) -> Duration {
        let delay = self.backoff(for: key)
        self.failures[key, default: 0] += 1
        self.add(key, at: now + delay)
        return delay
    }

    /// The delay the next ``addRateLimited(_:now:)`` of `key` would use.
    public func backoff(for key: Key) -> Duration {
        let exponent = min(self.failures[key] ?? 0, 30)
        let delay = self.baseDelay * (1 << exponent)
        return min(delay, self.maximumDelay)
    }

    /// How many times in a row `key` failed.
    public func failureCount(for key: Key) -> Int { self.failures[key] ?? 0 }

    /// Clears `key`'s back-off after a success.
    public mutating func forget(_ key: Key) { self.failures[key] = nil }

    /// Hands out the next key that is due, oldest first.
    public mutating func next(now: Instant) -> Next {
        for (key, instant) in self.delayed where instant <= now {
            self.delayed[key] = nil
            self.add(key)
        }
        while self.readyHead < self.ready.count {
            let key = self.ready[self.readyHead]
            self.readyHead += 1
            if self.readyHead > 1024 && self.readyHead * 2 > self.ready.count {
                self.ready.removeFirst(self.readyHead)
                self.readyHead = 0
            }
            guard self.queued.remove(key) != nil else { continue }
            self.processing.insert(key)
            return .key(key)
        }
        if let earliest = self.delayed.values.min() { return .waitUntil(earliest) }
        return self.processing.isEmpty ? .idle : .waitForProcessing
    }

    /// Marks `key` finished; a key added while it was processed is queued again.
    public mutating func done(_ key: Key) {
        precondition(self.processing.contains(key), "done(\(key)) for a key that is not being processed")
        self.processing.remove(key)
        if self.dirty.remove(key) != nil { self.add(key) }
    }
}
