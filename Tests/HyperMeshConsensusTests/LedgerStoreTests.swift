import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
@testable import HyperMeshConsensus

struct LedgerStoreTests {
    @Test func committedBlocksOfASimulatedRunSurviveAReopenAndConflictsAreRefused() throws {
        let directory = try TemporaryDirectory(prefix: "ledger")
        defer { directory.remove() }
        var configuration = SimulationConfiguration()
        configuration.operations = 40
        configuration.seed = 5
        configuration.workBits = 2
        let simulator = Simulator(configuration: configuration)
        #expect(simulator.run().passed)
        let committed = simulator.committedBlocks(of: 0)
        #expect(!committed.isEmpty)
        let path = directory.path + "/ledger.db"
        try LedgerStore(path: path).append(Array(committed.prefix(3)))
        try LedgerStore(path: path).append(Array(committed.dropFirst(3)))
        let reopened = try LedgerStore(path: path)
        #expect(try reopened.blocks().map(\.hash) == committed.map(\.hash))
        #expect(try reopened.committedHeight() == committed.last!.height)
        // A block that does not extend the last committed one is refused, and nothing is written.
        #expect(throws: HyperMeshError.conflict()) { try reopened.append([committed[1]]) }
        #expect(try reopened.blocks().count == committed.count)
    }
}
