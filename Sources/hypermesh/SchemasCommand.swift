import ArgumentParser
import Foundation
import HyperMeshCore
import HyperMeshSpec

struct SchemasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schemas",
        abstract: "Write the JSON Schema (draft 2020-12) of every kind, for editors' YAML language servers.",
        discussion: """
            Example:
              hypermesh schemas --out Specs/
            """
    )

    @Option(help: ArgumentHelp("Directory to write KIND.schema.json files into.", valueName: "DIR")) var out = "Specs"

    func run() throws {
        try FileManager.default.createDirectory(atPath: self.out, withIntermediateDirectories: true)
        for kind in Kind.allCases {
            let path = (self.out as NSString).appendingPathComponent(JSONSchemaGenerator.fileName(for: kind))
            try Data(JSONSchemaGenerator.schemaText(for: kind).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            Output.line(path)
        }
    }
}
