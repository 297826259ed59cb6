import HyperMeshCore

/// Everything the decoder knows about one kind: its spec fields, and the checks that
/// relate fields to each other (which a JSON Schema cannot say).
public struct KindSchema: Sendable {
    public var kind: Kind
    public var summary: String
    public var spec: ObjectSchema
    let crossFieldCheck: @Sendable (inout CrossFieldContext) -> Void

    init(kind: Kind, summary: String, spec: ObjectSchema,
         crossFieldCheck: @escaping @Sendable (inout CrossFieldContext) -> Void = { _ in })
    {
        self.kind = kind
        self.summary = summary
        self.spec = spec
        self.crossFieldCheck = crossFieldCheck
    }

    /// The schema of every kind.
    public static func schema(for kind: Kind) -> KindSchema {
        switch kind {
        case .resourcePool: return .resourcePool
        case .claim: return .claim
        case .mirrorPolicy: return .mirrorPolicy
        case .certificatePolicy: return .certificatePolicy
        case .mesh: return .mesh
        case .workload: return .workload
        }
    }

    /// The fields of `metadata`, the same for every kind. `generation`, `resourceVersion`,
    /// `uid` and `creationTimestamp` are written by the system and ignored on input, so the
    /// output of `get -o yaml` can be applied again.
    public static let metadata = ObjectSchema([
        Field("name", .string(.dnsLabel), required: true, "The object's name, unique within its kind."),
        Field("labels", .labels, "Labels to select and group objects."),
        Field("generation", .ignored, "Written by the system."),
        Field("resourceVersion", .ignored, "Written by the system."),
        Field("uid", .ignored, "Written by the system."),
        Field("creationTimestamp", .ignored, "Written by the system."),
        Field("applyset", .ignored, "Written by the system."),
    ])
}

/// What a cross-field check reads and where it reports.
struct CrossFieldContext {
    let spec: JSONValue
    /// Field paths (`spec.…`) that already failed validation; checks involving them are skipped.
    let problemPaths: Set<String>
    let locate: (String) -> SourceLocation
    var problems: [SpecDiagnostic] = []

    /// Whether `path` (relative to `spec`) or anything under it failed validation.
    func isInvalid(_ path: String) -> Bool {
        let full = "spec." + path
        return self.problemPaths.contains { $0 == full || $0.hasPrefix(full + ".") || $0.hasPrefix(full + "[") }
    }

    func quantity(_ path: String) -> Quantity? {
        self.spec.value(atPath: path)?.stringValue.flatMap { try? Quantity(parsing: $0) }
    }

    func duration(_ path: String) -> TimeSpan? {
        self.spec.value(atPath: path)?.stringValue.flatMap { try? TimeSpan(parsing: $0) }
    }

    func integer(_ path: String) -> Int64? { self.spec.value(atPath: path)?.integerValue }

    mutating func report(_ path: String, _ message: String) {
        self.problems.append(SpecDiagnostic(location: self.locate(path), fieldPath: "spec." + path, message: message))
    }

    /// Reports `limitPath` when it is larger than `totalPath`.
    mutating func requireAtMost(_ limitPath: String, _ totalPath: String) {
        guard let limit = self.quantity(limitPath), let total = self.quantity(totalPath), limit > total else { return }
        let totalName = totalPath.split(separator: ".").last!
        self.report(limitPath, "\(limit) is larger than \(totalName) (\(total))")
    }
}
