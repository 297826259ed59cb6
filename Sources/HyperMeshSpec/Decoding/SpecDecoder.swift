import Dispatch
import Foundation
import HyperMeshCore
import Yams

/// Everything decoded from the input, and everything wrong with it.
public struct SpecDecodeResult: Sendable {
    public var documents: [SpecDocument]
    public var diagnostics: [SpecDiagnostic]

    /// Whether the input can be applied: no problem anywhere.
    public var isValid: Bool { self.diagnostics.isEmpty }
}

/// Turns YAML text into validated ``SpecDocument``s, reporting every problem with its
/// `FILE:LINE:COL` and field path.
public struct SpecDecoder: Sendable {
    public init() {}

    /// Decodes every document of every input, then checks (kind, name) pairs are unique
    /// across all of them.
    public func decode(_ inputs: [SpecInput]) -> SpecDecodeResult {
        var result = SpecDecodeResult(documents: [], diagnostics: [])
        for input in inputs { self.decode(input, into: &result) }
        var firstSeen: [ResourceKey: SourceLocation] = [:]
        firstSeen.reserveCapacity(result.documents.count)
        for document in result.documents {
            if let earlier = firstSeen[document.key] {
                result.diagnostics.append(SpecDiagnostic(
                    location: document.nameLocation, fieldPath: "metadata.name",
                    message: "\(document.key) is defined twice (first at \(earlier))"))
            } else {
                firstSeen[document.key] = document.nameLocation
            }
        }
        return result
    }

    /// Documents validated together on another core while the parser reads on: a big file is parsed and
    /// validated at the same time, and a small one (one batch) is decoded inline without a thread hop.
    static let batchSize = 256

    private func decode(_ input: SpecInput, into result: inout SpecDecodeResult) {
        let batches = DecodedBatches()
        var batch: [Node] = []
        func flush() {
            guard !batch.isEmpty else { return }
            batches.decode(batch, file: input.displayPath, with: self)
            batch.removeAll(keepingCapacity: true)
        }
        var failure: SpecDiagnostic?
        do {
            // The basic resolver tags nothing: YAMLScalar resolves plain scalars itself, faster
            // than Yams' regular expressions and without YAML 1.1's yes/no booleans.
            let parser = try Parser(yaml: input.text, resolver: .basic)
            while let root = try parser.nextRoot() {
                if case .scalar(let scalar) = root, case .null = YAMLScalar(scalar) { continue }  // empty document
                batch.append(root)
                if batch.count == Self.batchSize { flush() }
            }
        } catch let error as YamlError {
            failure = Self.diagnostic(for: error, file: input.displayPath)
        } catch {
            failure = SpecDiagnostic(location: SourceLocation(file: input.displayPath, line: 1, column: 1), fieldPath: "",
                                     message: "cannot read YAML: \(error)")
        }
        // What parsed before a syntax error is still checked, and reported first, as it comes first in the file.
        if batches.isEmpty {
            for root in batch { Self.append(self.decodeDocument(root, file: input.displayPath), to: &result) }
        } else {
            flush()
            for decoded in batches.waitForAll() { Self.append(decoded, to: &result) }
        }
        if let failure { result.diagnostics.append(failure) }
    }

    static func append(_ decoded: (document: SpecDocument?, diagnostics: [SpecDiagnostic]), to result: inout SpecDecodeResult) {
        result.diagnostics += decoded.diagnostics
        if let document = decoded.document { result.documents.append(document) }
    }

    static func diagnostic(for error: YamlError, file: String) -> SpecDiagnostic {
        func at(_ mark: Mark, _ message: String) -> SpecDiagnostic {
            SpecDiagnostic(location: SourceLocation(file: file, line: mark.line, column: mark.column),
                           fieldPath: "", message: "YAML syntax: " + message)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return at(mark, context.map { "\(problem) \($0.text)" } ?? problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return at(context.mark, "duplicate field \(duplicates.joined(separator: ", ")) in one mapping")
        case .reader(let problem, let offset, _, _):
            return SpecDiagnostic(location: SourceLocation(file: file, line: 1, column: 1), fieldPath: "",
                                  message: "YAML syntax: \(problem)" + (offset.map { " at byte \($0)" } ?? ""))
        default:
            return SpecDiagnostic(location: SourceLocation(file: file, line: 1, column: 1), fieldPath: "",
                                  message: "YAML: \(error)")
        }
    }

    private static let topLevelFields = ["apiVersion", "kind", "metadata", "spec", "status"]

    func decodeDocument(_ root: Node, file: String) -> (document: SpecDocument?, diagnostics: [SpecDiagnostic]) {
        var validator = NodeValidator(file: file)
        let documentLocation = validator.location(of: root)
        guard case .mapping(let mapping) = root else {
            validator.report(root, "", "a document must be a mapping with apiVersion, kind, metadata and spec, found \(root.typeName)")
            return (nil, validator.diagnostics)
        }
        var kind: Kind?
        var apiVersionValid = false
        for (keyNode, _) in mapping {
            guard let key = keyNode.scalar?.string, !Self.topLevelFields.contains(key) else { continue }
            validator.report(keyNode, key, "unknown field" + NodeValidator.suggestion(for: key, among: Self.topLevelFields))
        }
        if let node = mapping["apiVersion"] {
            if case .scalar(let scalar) = node, case .string(let text) = YAMLScalar(scalar) {
                if text == Kind.apiVersion { apiVersionValid = true } else {
                    validator.report(node, "apiVersion", "unknown apiVersion \"\(text)\" (this build understands \(Kind.apiVersion))")
                }
            } else {
                validator.report(node, "apiVersion", "expected \(Kind.apiVersion), found \(node.typeName)")
            }
        } else {
            validator.report(root, "apiVersion", "required field is missing (use \(Kind.apiVersion))")
        }
        let kindNames = Kind.allCases.map(\.rawValue)
        if let node = mapping["kind"] {
            if case .scalar(let scalar) = node, case .string(let text) = YAMLScalar(scalar), let known = Kind(rawValue: text) {
                kind = known
            } else {
                let found = node.scalar.map { "\"\($0.string)\"" } ?? node.typeName
                validator.report(node, "kind", "unknown kind \(found)" + NodeValidator.suggestion(for: node.scalar?.string ?? "", among: kindNames)
                    .replacingOccurrences(of: "known fields", with: "known kinds"))
            }
        } else {
            validator.report(root, "kind", "required field is missing (one of \(kindNames.joined(separator: ", ")))")
        }
        var metadata: JSONValue?
        if let node = mapping["metadata"] {
            metadata = validator.validate(node, as: .object(KindSchema.metadata), path: "metadata")
        } else {
            validator.report(root, "metadata", "required field is missing")
        }
        var spec: JSONValue?
        if let node = mapping["spec"] {
            if let kind { spec = validator.validate(node, as: .object(KindSchema.schema(for: kind).spec), path: "spec") }
        } else {
            validator.report(root, "spec", "required field is missing")
        }
        guard let kind, apiVersionValid, let metadata, let spec, let name = metadata["name"]?.stringValue else {
            return (nil, validator.diagnostics)
        }
        let locations = validator.locations
        let problemPaths = Set(validator.diagnostics.map(\.fieldPath))
        var context = CrossFieldContext(spec: spec, problemPaths: problemPaths, locate: { path in
            locations["spec." + path] ?? locations[String(("spec." + path).split(separator: ".").dropLast().joined(separator: "."))]
                ?? documentLocation
        })
        KindSchema.schema(for: kind).crossFieldCheck(&context)
        guard validator.diagnostics.isEmpty, context.problems.isEmpty else {
            return (nil, validator.diagnostics + context.problems)
        }
        let labels = (metadata["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        let document = SpecDocument(key: ResourceKey(kind: kind, name: name), labels: labels, spec: spec, location: documentLocation,
                                    nameLocation: locations["metadata.name"] ?? documentLocation)
        return (document, [])
    }
}

/// Batches of parsed documents decoded on a global queue, kept in file order.
private final class DecodedBatches: @unchecked Sendable {
    private let lock = NSLock()
    private let group = DispatchGroup()
    private var slots: [[(document: SpecDocument?, diagnostics: [SpecDiagnostic])]] = []

    var isEmpty: Bool { self.lock.withLock { self.slots.isEmpty } }

    /// Yams nodes are immutable values once parsed; reading them from another thread is safe.
    private struct Nodes: @unchecked Sendable { let nodes: [Node] }

    func decode(_ nodes: [Node], file: String, with decoder: SpecDecoder) {
        let index = self.lock.withLock {
            self.slots.append([])
            return self.slots.count - 1
        }
        let batch = Nodes(nodes: nodes)
        DispatchQueue.global().async(group: self.group) {
            let decoded = batch.nodes.map { decoder.decodeDocument($0, file: file) }
            self.lock.withLock { self.slots[index] = decoded }
        }
    }

    func waitForAll() -> [(document: SpecDocument?, diagnostics: [SpecDiagnostic])] {
        self.group.wait()
        return self.lock.withLock { self.slots.flatMap { $0 } }
    }
}
