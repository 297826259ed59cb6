import Foundation
import HyperMeshCore
@testable import HyperMeshSpec
import Testing

/// Each refusal class has a fixture in `Fixtures/invalid/` and the exact diagnostics it must
/// produce (file, line, column, field path and message) in the `.expected` file beside it.
struct DecoderFixtureTests {
    static let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static var invalidFixtureNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtures.appendingPathComponent("invalid").path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }

    static func input(_ relativePath: String) throws -> SpecInput {
        let text = try String(contentsOf: fixtures.appendingPathComponent(relativePath), encoding: .utf8)
        return SpecInput(displayPath: relativePath, text: text)
    }

    @Test(arguments: invalidFixtureNames)
    func refusesWithExactLocationsAndPaths(fixture: String) throws {
        let result = SpecDecoder().decode([try Self.input("invalid/" + fixture)])
        let expectedFile = Self.fixtures.appendingPathComponent("invalid/" + fixture.replacingOccurrences(of: ".yaml", with: ".expected"))
        let expected = try String(contentsOf: expectedFile, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(!result.isValid)
        #expect(result.diagnostics.map(\.description) == expected)
    }

    @Test func invalidFixturesCoverEveryRefusalClass() {
        #expect(Self.invalidFixtureNames.count >= 11)
    }

    @Test func acceptsEveryValidFixtureAndExample() throws {
        let directory = Self.fixtures.appendingPathComponent("valid").path
        let inputs = try SpecInput.read(paths: [directory])
        let result = SpecDecoder().decode(inputs)
        #expect(result.diagnostics.map(\.description) == [])
        #expect(Set(result.documents.map(\.key.kind)) == Set(Kind.allCases))
        #expect(result.documents.count == 9)
    }

    @Test func canonicalizesQuantitiesAndDurations() throws {
        let result = SpecDecoder().decode([try Self.input("valid/multi-document.yaml")])
        let pool = try #require(result.documents.first { $0.key == ResourceKey(kind: .resourcePool, name: "small") })
        #expect(pool.spec.value(atPath: "cpu.cores") == "1500m")
        #expect(pool.spec.value(atPath: "memory.size") == "4Gi")
        let claim = try #require(result.documents.first { $0.key.kind == .claim })
        #expect(claim.spec["duration"] == "1h30m")
        #expect(claim.labels == ["app.example/tier": "web", "empty": ""])
        #expect(claim.location == SourceLocation(file: "valid/multi-document.yaml", line: 13, column: 1))
        let mesh = try #require(result.documents.first { $0.key.kind == .mesh })
        #expect(mesh.spec.value(atPath: "consensus.maxClockDrift") == "30s")
        #expect(mesh.spec.value(atPath: "consensus.requireWork") == .bool(false))
    }

    @Test func reportsDuplicatesAcrossFiles() {
        let document = "apiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: a}\nspec: {pool: p, cpu: 1}\n"
        let result = SpecDecoder().decode([SpecInput(displayPath: "one.yaml", text: document),
                                           SpecInput(displayPath: "two.yaml", text: "# comment\n" + document)])
        #expect(result.diagnostics.map(\.description)
            == ["two.yaml:4:18: error: metadata.name: Claim/a is defined twice (first at one.yaml:3:18)"])
    }

    @Test func refusesAliasesAndNonStringKeys() {
        let text = """
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: a}
            spec: {pool: &p p, cpu: 1, memory: *p, 3: x}
            """
        let result = SpecDecoder().decode([SpecInput(displayPath: "a.yaml", text: text)])
        #expect(!result.isValid)
        #expect(result.diagnostics.contains { $0.fieldPath == "spec" && $0.message.contains("field names must be strings") })
    }

    @Test func readsDirectoriesRecursivelySortedAndStdin() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("spec-input-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("b/c"), withIntermediateDirectories: true)
        for name in ["z.yaml", "b/c/a.yml", "a.yaml", "notes.txt"] {
            try Data("x: 1\n".utf8).write(to: root.appendingPathComponent(name))
        }
        let inputs = try SpecInput.read(paths: [root.path, "-"], standardInput: { Data("y: 2\n".utf8) })
        #expect(inputs.map(\.displayPath) == [root.path + "/a.yaml", root.path + "/b/c/a.yml", root.path + "/z.yaml", "<stdin>"])
        #expect(inputs.last?.text == "y: 2\n")
        #expect(throws: HyperMeshError.invalidArgument()) { try SpecInput.read(paths: [root.path + "/missing.yaml"]) }
        #expect(throws: HyperMeshError.invalidArgument()) { try SpecInput.read(paths: []) }
        #expect(throws: HyperMeshError.invalidArgument()) {
            try SpecInput.read(paths: ["-"], standardInput: { Data([0xff, 0xfe, 0x00]) })
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        #expect(throws: HyperMeshError.invalidArgument()) { try SpecInput.read(paths: [root.path + "/empty"]) }
    }

    @Test func nonUTF8InputSaysWhereTheFirstBadByteIs() throws {
        func message(_ bytes: [UInt8]) -> String? {
            do {
                _ = try SpecInput.read(paths: ["-"], standardInput: { Data(bytes) })
                return nil
            } catch let error as HyperMeshError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        #expect(message([0xff, 0xfe, 0x00]) == "<stdin>:1:1: not UTF-8 text (byte 0xFF at offset 0)")
        // Columns count characters: "é" is two bytes but one column; a truncated sequence points at its lead byte.
        let text = Array("apiVersion: v1\nkind: Claim\nmetadata: {name: é".utf8)
        #expect(message(text + [0xe2, 0x82, 0x0a]) == "<stdin>:3:19: not UTF-8 text (byte 0xE2 at offset \(text.count))")
        #expect(message(Array("a: 1\n".utf8) + [0xed, 0xa0, 0x80]) == "<stdin>:2:1: not UTF-8 text (byte 0xED at offset 5)")  // a surrogate
        #expect(message(Array("ab".utf8) + [0xf0, 0x9f, 0x98]) == "<stdin>:1:3: not UTF-8 text (byte 0xF0 at offset 2)")  // cut short
        #expect(message([0x61, 0xc0, 0xaf]) == "<stdin>:1:2: not UTF-8 text (byte 0xC0 at offset 1)")  // overlong
        #expect(message(Array("ok: \u{1F600}\n".utf8)) == nil)
    }

    @Test func reportsNonUTF8AndReaderErrors() {
        let result = SpecDecoder().decode([SpecInput(displayPath: "tab.yaml", text: "a:\n\tb: 1\n")])
        #expect(result.diagnostics.count == 1)
        #expect(result.diagnostics[0].description.hasPrefix("tab.yaml:2:1: error: YAML syntax:"))
    }

    @Test func renderedDocumentReadsBack() throws {
        let result = SpecDecoder().decode([try Self.input("valid/workstation-pool.yaml")])
        let document = try #require(result.documents.first)
        #expect(document.json["kind"] == "ResourcePool")
        #expect(document.json.value(atPath: "metadata.labels.owner") == "alice")
    }

    /// A big file is decoded in batches on other cores while it is parsed; what comes out must be exactly what
    /// one pass in file order gives: documents and diagnostics in order, duplicates found across batches,
    /// and the documents before a syntax error still checked.
    @Test func aBigFileDecodesInFileOrderAcrossBatches() {
        let count = SpecDecoder.batchSize * 3 + 17
        var text = ""
        for index in 0..<count {
            let name = index == count - 5 ? "claim-3" : "claim-\(index)"  // a duplicate of a document in the first batch
            let cpu = index == SpecDecoder.batchSize + 1 ? "lots" : "1"     // an error in the second batch
            text += "---\napiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: \(name)}\nspec: {pool: p, cpu: \(cpu)}\n"
        }
        let whole = SpecDecoder().decode([SpecInput(displayPath: "big.yaml", text: text)])
        #expect(whole.documents.count == count - 1)
        #expect(whole.documents.prefix(5).map(\.key.name) == ["claim-0", "claim-1", "claim-2", "claim-3", "claim-4"])
        #expect(whole.documents.map(\.location.line) == whole.documents.map(\.location.line).sorted())
        #expect(whole.diagnostics.map(\.fieldPath) == ["spec.cpu", "metadata.name"])
        #expect(whole.diagnostics[0].location.line == (SpecDecoder.batchSize + 1) * 5 + 5)
        #expect(whole.diagnostics[1].message.contains("Claim/claim-3 is defined twice (first at big.yaml:19:"))

        // A syntax error after three batches: every document before it is checked, its error reported after theirs.
        let broken = SpecDecoder().decode([SpecInput(displayPath: "big.yaml", text: text + "---\nkind: [unclosed\n")])
        #expect(broken.documents.count == count - 1)
        #expect(broken.diagnostics.map(\.fieldPath) == ["spec.cpu", "", "metadata.name"])
        #expect(broken.diagnostics[1].message.hasPrefix("YAML syntax"))
    }
}
