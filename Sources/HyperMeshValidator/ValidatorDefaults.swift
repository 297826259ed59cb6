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
}
