import Foundation
import HyperMeshConsensus
import HyperMeshCore

/// An operation a controller handed to the validators, kept in the object's status so that it is not handed in
/// again on every reconcile while it waits to commit, and so that a refusal can be found by its digest.
struct LedgerSubmission {
    var operation: String
    var submittedAt: Date

    /// An operation neither committed nor refused this long after it was handed in is handed in again (a
    /// validator may have been down, or the operation's history tick too old when it arrived).
    static let retryAfter: TimeInterval = 10

    init(operation: ConsensusHash, at date: Date) {
        self.operation = operation.bytes.hexString
        self.submittedAt = date
    }

    init?(json: JSONValue?) {
        guard let operation = json?["operation"]?.stringValue, let at = json?["submittedAt"]?.stringValue.flatMap(Timestamp.parse)
        else { return nil }
        self.operation = operation
        self.submittedAt = at
    }

    var json: JSONValue { ["operation": .string(self.operation), "submittedAt": .string(Timestamp.format(self.submittedAt))] }

    func isDue(now: Date) -> Bool { now.timeIntervalSince(self.submittedAt) >= Self.retryAfter }

    /// Why the ledger refused it, once a committed block carried it.
    func refusal(in ledger: LedgerState) -> String? {
        guard let bytes = [UInt8](hexString: self.operation), bytes.count == 32 else { return nil }
        return ledger.rejections[ConsensusHash(bytes: bytes)]
    }
}
