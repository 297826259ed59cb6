import HyperMeshConsensus

/// How controllers reach the mesh ledger: submit this node's operations, read the committed state. The agent
/// implements it with the validator it hosts or with a follower of the validators; tests implement it in
/// memory. Reads are local and cheap (a copy of the committed state); a submission returns once the
/// operation is handed to the validators, long before it commits.
public protocol MeshLedgerAccess: Sendable {
    /// This node's id: the proposer of what it submits.
    var nodeID: String { get }
    /// The committed ledger as this node knows it.
    func committed() -> LedgerState
    /// Signs and hands one mesh operation to the validators; returns its digest (what ``LedgerState/rejections``
    /// is keyed by).
    @discardableResult
    func submit(_ kind: Operation.Kind, subject: String, terms: MeshTerms) throws -> ConsensusHash
}
