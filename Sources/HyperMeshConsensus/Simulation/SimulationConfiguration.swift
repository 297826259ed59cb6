/// One simulated run: validators, faults, workload.
public struct SimulationConfiguration: Sendable {
    public var validators = 4
    public var byzantine = 1
    public var seed: UInt64 = 1
    public var operations = 100
    /// Probability a message is lost, while faults last.
    public var drop = 0.0
    /// Probability a message is delivered twice, while faults last.
    public var duplicate = 0.0
    /// Split the validators in two for a while (healed before `faultsEndMilliseconds`).
    public var partition = false
    /// Cut these validators off from the rest from the start until the faults end (instead of a random partition).
    public var isolatedSide: [Int]?
    /// Crash an honest validator and restart it from its stored state.
    public var crashes = false
    public var maximumDelayMilliseconds: UInt64 = 20
    /// Faults (drops, duplicates, partitions, crashes) happen before this; after it the network is reliable.
    public var faultsEndMilliseconds: UInt64 = 5_000
    /// The run stops here at the latest.
    public var endMilliseconds: UInt64 = 120_000
    public var workBits = 4
    /// Queued operations per extra bit of work validators demand (``ReplicaConfiguration/workAdmissionThreshold``).
    public var workAdmissionThreshold = 1000
    public var brokenRule: ReplicaConfiguration.BrokenRule?
    /// Byzantine behaviours, chosen by seed from these.
    public var byzantineBehaviors: [Replica.Behavior] = [.equivocate, .doubleVote, .invalidProofs, .silent, .fork]

    /// Validator set changes, in order: the validators (key indexes) of epoch 1, 2, … An honest validator of
    /// the epoch before proposes each (a `reconfigure` operation) at a random time while faults last, again until
    /// it commits; validators that join start from a copy of an honest validator's committed chain, as an agent
    /// promotes its follower's. Keys above `validators` are new validators.
    public var reconfigurations: [[Int]] = []

    /// Record every delivery, timer and fault in the report (for replaying a failing seed).
    public var trace = false

    public init() {}
}
