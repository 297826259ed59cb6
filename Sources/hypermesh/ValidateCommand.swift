import ArgumentParser
import HyperMeshCommands
import HyperMeshCore
import HyperMeshSpec

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check specs without storing anything. Exit 0: valid, 1: invalid (every error listed).",
        discussion: """
            Errors read FILE:LINE:COL: error: FIELD.PATH: message, one per line.

            Examples:
              hypermesh validate -f specs/
              hypermesh validate -f pool.yaml -o json | jq .errors
            """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("A file, a directory or - for stdin.", valueName: "PATH"))
    var filename: [String] = []
    @Option(name: .shortAndLong, help: "Output format: table (text) or json.") var output: OutputFormat = .table

    func validate() throws {
        if self.filename.isEmpty { throw ValidationError("give at least one -f PATH") }
    }

    func run() throws {
        let inputs = try SpecInput.read(paths: self.filename)
        let result = SpecDecoder().decode(inputs)
        if self.output == .json {
            let errors = result.diagnostics.map { diagnostic -> JSONValue in
                [
                    "file": .string(diagnostic.location.file), "line": .integer(Int64(diagnostic.location.line)),
                    "column": .integer(Int64(diagnostic.location.column)), "field": .string(diagnostic.fieldPath),
                    "message": .string(diagnostic.message),
                ]
            }
            Output.line(JSONValue.object([
                "valid": .bool(result.isValid), "documents": .integer(Int64(result.documents.count)), "errors": .array(errors),
            ]).prettyJSON())
        } else if result.isValid {
            Output.line("\(result.documents.count) document\(result.documents.count == 1 ? "" : "s") valid")
        } else {
            Output.report(SpecValidationFailure(diagnostics: result.diagnostics))
        }
        if !result.isValid { throw ExitCode(1) }
    }
}
