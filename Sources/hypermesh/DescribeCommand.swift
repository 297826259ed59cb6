import ArgumentParser
import HyperMeshCommands
import HyperMeshCore

struct DescribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show one object's spec, status, conditions and recent events.",
        discussion: """
            Examples:
              hypermesh describe pool workstation
              hypermesh describe mesh home
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: KindArgument.help) var kind: KindArgument
    @Argument(help: "The object's name.") var name: String
    @Option(help: "How many recent events to show.") var events = 20

    func run() throws {
        guard case .kind(let kind) = self.kind else { throw ValidationError("describe needs one kind of object, not 'all' or 'sync'") }
        let store = try self.global.openWorkspace().store
        let key = ResourceKey(kind: kind, name: self.name)
        guard let object = try store.object(key) else {
            throw CommandFailure(message: "\(kind.rawValue) \"\(self.name)\" not found")
        }
        Output.print(DescribeRendering.render(object, events: try store.events(for: key, limit: max(0, self.events))))
    }
}
