import ArgumentParser
import HyperMeshCommands
import HyperMeshCore

struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Run one reconcile pass over every object now (no agent needed).",
        discussion: """
            Exit 1 when any object's reconcile still fails at the end of the pass.

            Example:
              hypermesh reconcile && hypermesh get all
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Stop retrying failures after this long.", valueName: "DURATION"))
    var deadline = "60s"

    func run() async throws {
        let deadline: TimeSpan
        do { deadline = try TimeSpan(parsing: self.deadline) } catch { throw ValidationError("--deadline: \(error)") }
        let summary = try await self.global.openWorkspace().reconcile(deadline: deadline.duration)
        Output.line("reconciled \(summary.reconciled.count), without controller \(summary.withoutController.count), "
            + "removed \(summary.removed.count), failing \(summary.failed.count)")
        if !summary.failed.isEmpty {
            let lines = summary.failed.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            throw CommandFailure(message: "reconcile failed for: " + lines.joined(separator: "; "))
        }
    }
}
