import Foundation
import HyperMeshCore
@testable import HyperMeshAgent
import Testing

struct AgentStateTests {
    let a = ResourceKey(kind: .claim, name: "a")
    let b = ResourceKey(kind: .claim, name: "b")
    let c = ResourceKey(kind: .claim, name: "c")

    /// A pass answers the wakes for keys it began after the request came; earlier ones, and keys it did not take, stay.
    @Test func aPassAnswersOnlyTheWakesItBeganAfter() {
        let state = AgentState()
        let before = ContinuousClock.now
        state.wake([self.a, self.b, self.c])
        let after = ContinuousClock.now + .milliseconds(1)
        state.dropWakes(answeredBy: [self.a: after, self.b: before])
        let taken = state.takeWakeRequests()
        #expect(!taken.all)
        #expect(taken.keys == [self.b, self.c])
        #expect(state.takeWakeRequests().keys.isEmpty)
    }

    @Test func wakingEverythingIsKeptWhateverAPassDid() {
        let state = AgentState()
        state.wake(nil)
        state.dropWakes(answeredBy: [self.a: ContinuousClock.now + .seconds(1)])
        #expect(state.takeWakeRequests().all)
    }
}
