import HyperMeshCore

/// The kinds of asset a node shares.
public enum AssetKind: String, Sendable, CaseIterable {
    case cpu, memory, storage, gpu
}

/// How an adapter enforces what it grants on this host.
public struct AssetCapabilities: Sendable, Hashable {
    /// Whether the kernel (or device) holds a claim to its amount, not only accounting.
    public var enforced: Bool
    /// The mechanism, e.g. `cgroup v1 cpu.cfs_quota_us`, `ext4 loop image`, `Vulkan memory budget`.
    public var mechanism: String
    /// Why it is not enforced, when it is not.
    public var reason: String?
}

/// A claim's share of one asset.
public struct AssetRequest: Sendable, Hashable {
    public var pool: String
    public var claim: String
    public var amount: Quantity
    /// The pool's storage path (storage).
    public var storagePath: String?
    /// Devices to take, by index or UUID (GPU).
    public var devices: [String]

    public init(pool: String, claim: String, amount: Quantity, storagePath: String? = nil, devices: [String] = []) {
        self.pool = pool
        self.claim = claim
        self.amount = amount
        self.storagePath = storagePath
        self.devices = devices
    }
}

/// What an allocation produced.
public struct AssetGrant: Sendable, Hashable {
    public var kind: AssetKind
    /// Status fields to record (cgroup directories, storage directory, devices).
    public var details: [String: JSONValue]
    /// Set when the grant is only accounted, not enforced, with the condition reason and message.
    public var unenforced: (reason: String, message: String)?

    public init(kind: AssetKind, details: [String: JSONValue] = [:], unenforced: (reason: String, message: String)? = nil) {
        self.kind = kind
        self.details = details
        self.unenforced = unenforced
    }

    public static func == (lhs: AssetGrant, rhs: AssetGrant) -> Bool {
        lhs.kind == rhs.kind && lhs.details == rhs.details && lhs.unenforced?.reason == rhs.unenforced?.reason
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.kind) }
}

/// One resource type behind one interface: what the host has, giving a claim its share,
/// taking it back, what the share used, and whether the resource works.
public protocol AssetAdapter: Sendable {
    var kind: AssetKind { get }
    /// How grants are enforced here.
    var capabilities: AssetCapabilities { get }
    /// What this host has of the asset.
    func discover() throws -> JSONValue
    /// Gives `request.claim` its share. Idempotent.
    func allocate(_ request: AssetRequest) throws -> AssetGrant
    /// Takes the share back; afterwards nothing of it remains. Idempotent.
    func release(_ request: AssetRequest) throws
    /// What the share has used.
    func usage(_ request: AssetRequest) throws -> JSONValue
    /// Whether the asset works now; the reason when it does not.
    func health() -> String?
}
