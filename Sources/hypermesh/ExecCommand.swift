import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshCore

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a bound claim's limits (its cgroups), with its storage directory.",
        discussion: """
            The command replaces hypermesh (its exit status is the command's). HYPERMESH_CLAIM and,
            when the claim has storage, HYPERMESH_STORAGE are set for it.

            Examples:
              hypermesh exec --claim batch -- make -j2
              hypermesh exec --claim batch -- sh -c 'cd "$HYPERMESH_STORAGE" && ./train'
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "The bound claim to run in.") var claim: String
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.") var command: [String] = []

    func run() throws {
        let arguments = self.command.first == "--" ? Array(self.command.dropFirst()) : self.command
        guard let executable = arguments.first else { throw ValidationError("give the command after --") }
        let store = try self.global.openWorkspace().store
        guard let object = try store.object(ResourceKey(kind: .claim, name: self.claim)) else {
            throw CommandFailure(message: "Claim \"\(self.claim)\" not found")
        }
        guard object.status?.fields["phase"] == "Bound" else {
            let phase = object.status?.fields["phase"]?.stringValue ?? "Pending"
            let reason = object.status?.condition(Condition.ready)?.reason ?? "NotReconciled"
            throw CommandFailure(message: "Claim \"\(self.claim)\" is \(phase) (\(reason)), not Bound")
        }
        let pid = String(getpid())
        for directory in object.status?.fields["cgroups"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            do {
                try pid.write(toFile: directory + "/cgroup.procs", atomically: false, encoding: .utf8)
            } catch {
                throw CommandFailure(message: "cannot enter \(directory): \(error.localizedDescription)")
            }
        }
        setenv("HYPERMESH_CLAIM", self.claim, 1)
        if let storage = object.status?.fields["storageDirectory"]?.stringValue { setenv("HYPERMESH_STORAGE", storage, 1) }
        // The command starts as from a shell: no blocked signals, default dispositions
        // (whatever started hypermesh, or the Swift runtime, may have changed them).
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD] { Foundation.signal(signal, SIG_DFL) }
        var cArguments = arguments.map { strdup($0) } + [nil]
        execvp(executable, &cArguments)
        throw CommandFailure(message: "cannot run \(executable): \(String(cString: strerror(errno)))")
    }
}
