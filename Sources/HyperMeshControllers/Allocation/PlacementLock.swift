/// Serializes placement decisions in this process, so two claims reconciled at once cannot both
/// take the last free capacity of a pool.
actor PlacementLock {
    static let shared = PlacementLock()
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        while self.held {
            await withCheckedContinuation { self.waiters.append($0) }
        }
        self.held = true
        defer {
            self.held = false
            if !self.waiters.isEmpty { self.waiters.removeFirst().resume() }
        }
        return try await body()
    }
}
