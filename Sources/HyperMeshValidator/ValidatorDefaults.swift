/// Values validators and their clients must agree on.
public enum ValidatorDefaults {
    /// PoWork difficulty in bits (validators announce it in each block; raising it as queues fill is not
    /// done yet).
    public static let workBits = 8
    /// A view with no progress for this long (doubling on consecutive timeouts) is abandoned.
    public static let baseTimeoutMilliseconds: UInt64 = 500
    /// The ledger's file, relative to the state directory.
    public static let ledgerPath = "consensus/ledger.sqlite"
    /// The history tick for clients (``TimeReferenceFile``), relative to the state directory.
    public static let timeReferencePath = "consensus/time-reference"
    /// This node's proof-of-space plot, relative to the state directory: what its offers answer challenges
    /// from when the mesh demands PoSpace (`hypermesh consensus plot --out STATE/consensus/space.plot`).
    public static let plotPath = "consensus/space.plot"
}
