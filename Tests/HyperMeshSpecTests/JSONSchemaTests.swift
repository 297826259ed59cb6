import Foundation
import HyperMeshCore
import HyperMeshSpec
import HyperMeshTestSupport
import Testing

/// `Specs/*.schema.json` must equal what the field tables generate, and an independent
/// validator (Python jsonschema, draft 2020-12) must reach the decoder's verdict on every
/// fixture document, except documents marked `# schema: code-only` (rules a JSON Schema
/// cannot state: cross-field limits, port ranges, IP address syntax, positive quantities in strings).
struct JSONSchemaTests {
    @Test(arguments: Kind.allCases)
    func committedSchemaEqualsGenerated(kind: Kind) throws {
        let committed = PackageLayout.root.appendingPathComponent("Specs/" + JSONSchemaGenerator.fileName(for: kind))
        let text = try String(contentsOf: committed, encoding: .utf8)
        #expect(text == JSONSchemaGenerator.schemaText(for: kind), "run `make schemas` and commit Specs/")
        #expect(try JSONValue(parsingJSON: text)["$schema"] == .string(JSONSchemaGenerator.dialect))
    }

    /// Every fixture document, one by one, with whether it is marked code-only.
    static func fixtureDocuments() throws -> [(name: String, text: String, codeOnly: Bool)] {
        var documents: [(String, String, Bool)] = []
        for folder in ["valid", "invalid"] {
            let directory = DecoderFixtureTests.fixtures.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where file.hasSuffix(".yaml") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                for (index, piece) in text.components(separatedBy: "\n---\n").enumerated() {
                    let trimmed = piece.hasPrefix("---\n") ? String(piece.dropFirst(4)) : piece
                    guard trimmed.contains("kind:") || trimmed.contains("- ") else { continue }
                    documents.append(("\(folder)/\(file)#\(index)", trimmed, trimmed.contains("# schema: code-only")))
                }
            }
        }
        return documents
    }

    @Test func independentValidatorAgreesWithDecoder() throws {
        let documents = try Self.fixtureDocuments()
        #expect(documents.count > 30)
        let request: JSONValue = [
            "schemas": .string(PackageLayout.root.appendingPathComponent("Specs").path),
            "documents": .array(documents.map { ["name": .string($0.name), "yaml": .string($0.text)] }),
        ]
        let script = DecoderFixtureTests.fixtures.appendingPathComponent("schema_verdicts.py")
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script.path],
                                           standardInput: request.canonicalJSON)
        try #require(result.status == 0, "python3 jsonschema failed: \(result.standardError)")
        let verdicts = try JSONValue(parsingJSON: result.standardOutput)
        var compared = 0
        for document in documents where !document.codeOnly {
            let decoded = SpecDecoder().decode([SpecInput(displayPath: document.name, text: document.text)])
            let schemaVerdict = verdicts[document.name]?.boolValue
            #expect(schemaVerdict == decoded.isValid,
                    "\(document.name): schema says \(String(describing: schemaVerdict)), decoder says \(decoded.isValid): \(decoded.diagnostics)")
            compared += 1
        }
        #expect(compared > 20)
    }
}
