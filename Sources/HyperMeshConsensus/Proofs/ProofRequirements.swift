import HyperMeshCore

/// Which proofs a mesh demands of every operation: a `Mesh` spec's `consensus` switches. Validators refuse
/// an operation whose required proof is missing or false, with the reason recorded.
public struct ProofRequirements: Sendable, Equatable {
    /// PoSpace: off unless asked for, since it needs a plot on every provider.
    public var space = false
    public var stake = true
    public var work = true
    public var time = true
    /// Least stake a proposer needs (except to stake).
    public var minimumStake: Int64 = 0
    /// PoTime's drift bound (default 5 min).
    public var maximumClockDriftMilliseconds: Int64 = 300_000
    /// PoSpace's plot minimums and deadline (`nil`: ``ReplicaConfiguration/SpaceSettings``' defaults).
    public var spaceMinimumLeaves: Int?
    public var spaceMinimumRounds: Int?
    public var spaceDeadlineMilliseconds: UInt64?

    public init() {}

    /// From a `Mesh` spec as stored (`spec.consensus.requireSpace`, …, `maxClockDrift`); absent fields keep
    /// their defaults.
    public init(meshSpec spec: JSONValue) {
        self.init()
        guard let consensus = spec["consensus"] else { return }
        self.space = consensus["requireSpace"]?.boolValue ?? self.space
        self.stake = consensus["requireStake"]?.boolValue ?? self.stake
        self.work = consensus["requireWork"]?.boolValue ?? self.work
        self.time = consensus["requireTime"]?.boolValue ?? self.time
        self.minimumStake = consensus["minimumStake"]?.integerValue ?? self.minimumStake
        if let text = consensus["maxClockDrift"]?.stringValue, let drift = try? TimeSpan(parsing: text) {
            self.maximumClockDriftMilliseconds = drift.milliseconds
        }
        self.spaceMinimumLeaves = consensus["spaceMinimumLeaves"]?.integerValue.map { Int($0) }
        self.spaceMinimumRounds = consensus["spaceMinimumRounds"]?.integerValue.map { Int($0) }
        if let text = consensus["spaceDeadline"]?.stringValue, let deadline = try? TimeSpan(parsing: text) {
            self.spaceDeadlineMilliseconds = UInt64(max(0, deadline.milliseconds))
        }
    }
}
