import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshStore
import Logging

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("State directory (default: $HYPERMESH_STATE_DIR, /var/lib/hypermesh for root, "
        + "else ~/.local/state/hypermesh).", valueName: "DIR"))
    var stateDir: String?

    var stateDirectory: URL { StateStore.resolveDirectory(flag: self.stateDir) }

    func openWorkspace() throws -> Workspace {
        try Workspace(stateDirectory: self.stateDirectory, logger: Logger(label: "hypermesh"))
    }
}

extension OutputFormat: ExpressibleByArgument {}
