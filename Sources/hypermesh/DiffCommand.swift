import ArgumentParser
import HyperMeshCommands
import HyperMeshCore
import HyperMeshSpec
import HyperMeshStore

struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what apply would change. Exit 0: no change, 2: changes, 1: error.",
        discussion: """
            Lines: '+ Kind/name' created, '- Kind/name' pruned, '~ Kind/name' changed, followed by
            one line per field: '~ spec.cpu.cores: 2 -> 4'. The output is empty exactly when
            apply would change nothing.

            Examples:
              hypermesh diff -f specs/ && echo "in sync"
              hypermesh diff -f specs/ --prune --applyset laptop
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: ArgumentHelp("A file, a directory or - for stdin.", valueName: "PATH"))
    var filename: [String] = []
    @Flag(help: "Include objects of --applyset that apply --prune would delete.") var prune = false
    @Option(help: ArgumentHelp("The apply set to compare ownership and pruning against.", valueName: "NAME"))
    var applyset: String?

    func validate() throws {
        if self.filename.isEmpty { throw ValidationError("give at least one -f PATH") }
        if self.prune && self.applyset == nil { throw ValidationError("--prune needs --applyset NAME") }
    }

    func run() async throws {
        let documents = try SpecLoading.loadReportingProblems(paths: self.filename)
        let workspace = try self.global.openWorkspace()
        let changes = try workspace.store.apply(
            documents.map(\.desired), options: ApplyOptions(applyset: self.applyset, prune: self.prune, dryRun: true))
        let lines = changes.flatMap(\.diffLines)
        guard !lines.isEmpty else { return }
        Output.print(lines.joined(separator: "\n") + "\n")
        throw ExitCode(2)
    }
}
