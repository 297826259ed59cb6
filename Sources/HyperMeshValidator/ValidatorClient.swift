import Foundation
import HyperMeshConsensus
import Logging
import STOQ

/// What `hypermesh consensus submit` does: makes operations with the node's proofs (its signature, the
/// work the mesh demands, the current time) and hands them to every validator over STOQ.
public enum ValidatorClient {
    /// `count` operations of `kind` on `subject`, signed as participant `signer.index`, with work of
    /// `workBits` solved, naming `time` (a recent tick of a validator's history). Sequence numbers start at the current time in microseconds, so a later submit
    /// never repeats an earlier one's.
    public static func makeOperations(kind: HyperMeshConsensus.Operation.Kind, subject: String, amount: Int64, count: Int,
                                      signer: NodeKeySigner, workBits: Int, time: TimeReference?, space: SpaceProof? = nil) throws
        -> [HyperMeshConsensus.Operation]
    {
        guard let proposer = signer.index else {
            throw ValidatorClientError("this node (\(signer.nodeIDs.isEmpty ? "-" : "its key") ) is not one of the mesh's validators")
        }
        let now = Date().timeIntervalSince1970
        let firstSequence = UInt64(now * 1_000_000)
        return (0..<count).map { offset in
            var operation = HyperMeshConsensus.Operation(kind: kind, proposer: proposer, sequence: firstSequence + UInt64(offset),
                                                         subject: subject, amount: amount,
                                                         timestampMilliseconds: Int64(now * 1000), time: time, space: space)
            operation.work = WorkProof.solve(digest: operation.digest, bits: workBits)
            operation.signature = signer.sign(operation.digest.bytes, as: proposer)
            return operation
        }
    }

    /// `operations` as `stoq/1` MESSAGE requests of at most 1,000 each: what a validator takes from a client.
    public static func messages(carrying operations: [HyperMeshConsensus.Operation]) -> [STOQRequest] {
        stride(from: 0, to: operations.count, by: 1000).map {
            STOQRequest(.message(ConsensusWire.encode(.operations(Array(operations[$0..<min($0 + 1000, operations.count)])))))
        }
    }

    /// Sends `operations` to every validator (in messages of at most 1,000); returns the addresses that
    /// took them and the failures of the others.
    public static func submit(_ operations: [HyperMeshConsensus.Operation], to validators: ValidatorSet, tls: TLSConfiguration,
                              timeout: Duration = .seconds(10)) throws -> (reached: [String], failures: [String]) {
        var reached: [String] = []
        var failures: [String] = []
        var logger = Logger(label: "hypermesh.consensus.submit")
        logger.logLevel = .critical
        let messages = Self.messages(carrying: operations)
        for member in validators.members {
            do {
                var configuration = STOQClient.Configuration(tls: tls)
                configuration.expectedPeerNodeID = member.nodeID
                let connection = try STOQClient(configuration: configuration, logger: logger)
                    .connect(to: try SocketAddress(parsing: member.address), timeout: timeout)
                defer { connection.close() }
                let responses = try connection.perform(messages, timeout: timeout)
                if let error = responses.compactMap(\.error).first { throw error }
                reached.append(member.address)
            } catch {
                failures.append("\(member.address): \(error)")
            }
        }
        return (reached, failures)
    }
}

public struct ValidatorClientError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
