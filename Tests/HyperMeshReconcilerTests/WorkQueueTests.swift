import HyperMeshReconciler
import Testing

struct WorkQueueTests {
    let start = ContinuousClock.now

    @Test func deduplicatesQueuedKeys() {
        var queue = WorkQueue<String>()
        queue.add("a")
        queue.add("a")
        queue.add("b")
        #expect(queue.count == 2)
        #expect(queue.next(now: self.start) == .key("a"))
        #expect(queue.next(now: self.start) == .key("b"))
        #expect(queue.next(now: self.start) == .waitForProcessing)
        queue.done("a")
        queue.done("b")
        #expect(queue.next(now: self.start) == .idle)
    }

    @Test func neverHandsOutAKeyBeingProcessedAndRequeuesItAfter() {
        var queue = WorkQueue<String>()
        queue.add("a")
        #expect(queue.next(now: self.start) == .key("a"))
        queue.add("a")  // changed while being reconciled
        #expect(queue.next(now: self.start) == .waitForProcessing)
        queue.done("a")
        #expect(queue.next(now: self.start) == .key("a"))
        queue.done("a")
        #expect(queue.next(now: self.start) == .idle)
    }

    @Test func backsOffExponentiallyWithACap() {
        var queue = WorkQueue<String>(baseDelay: .milliseconds(10), maximumDelay: .milliseconds(50))
        #expect(queue.addRateLimited("a", now: self.start) == .milliseconds(10))
        #expect(queue.next(now: self.start) == .waitUntil(self.start + .milliseconds(10)))
        #expect(queue.addRateLimited("a", now: self.start) == .milliseconds(20))
        #expect(queue.addRateLimited("a", now: self.start) == .milliseconds(40))
        #expect(queue.addRateLimited("a", now: self.start) == .milliseconds(50))
        #expect(queue.addRateLimited("a", now: self.start) == .milliseconds(50))
        #expect(queue.failureCount(for: "a") == 5)
        #expect(queue.next(now: self.start + .milliseconds(10)) == .key("a"))
        queue.forget("a")
        #expect(queue.backoff(for: "a") == .milliseconds(10))
    }

    @Test func delayedKeyKeepsEarliestInstantAndImmediateAddWins() {
        var queue = WorkQueue<String>()
        queue.add("a", at: self.start + .seconds(5))
        queue.add("a", at: self.start + .seconds(9))
        #expect(queue.next(now: self.start) == .waitUntil(self.start + .seconds(5)))
        queue.add("a")
        #expect(queue.next(now: self.start) == .key("a"))
    }

    @Test func refusesWorkBeyondCapacity() {
        var queue = WorkQueue<Int>(capacity: 2)
        let added = [queue.add(1), queue.add(2), queue.add(3), queue.add(4, at: self.start)]
        #expect(added == [true, true, false, false])
        #expect(queue.count == 2)
    }

    @Test func handsOutInOrderAcrossManyKeys() {
        var queue = WorkQueue<Int>()
        for key in 0..<5000 { queue.add(key) }
        for expected in 0..<5000 {
            #expect(queue.next(now: self.start) == .key(expected))
            queue.done(expected)
        }
        #expect(queue.next(now: self.start) == .idle)
    }
}
