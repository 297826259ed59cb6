import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshContainers
import HyperMeshCore

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a bound claim's limits, or inside a running workload's container.",
        discussion: """
            With --claim, the command runs in the claim's cgroups with its storage directory;
            HYPERMESH_CLAIM and, when the claim has storage, HYPERMESH_STORAGE are set for it.
            With workload/NAME, it runs inside the replica's container (crun exec: its namespaces,
            root, cgroup and user). Either way the command replaces hypermesh: its exit status is
            the command's.

            Examples:
              hypermesh exec --claim batch -- make -j2
              hypermesh exec --claim batch -- sh -c 'cd "$HYPERMESH_STORAGE" && ./train'
              hypermesh exec workload/web -- cat /etc/hostname
              hypermesh exec workload/web --replica 1 -- sh -c 'ps; df'
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "The bound claim to run in.") var claim: String?
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.") var command: [String] = []

    func run() throws {
        if let target = self.command.first, target.hasPrefix("workload/") {
            return try self.runInWorkload(String(target.dropFirst("workload/".count)), Array(self.command.dropFirst()))
        }
        guard let claim = self.claim else {
            throw ValidationError("give --claim NAME or workload/NAME, then the command after --")
        }
        let arguments = self.command.first == "--" ? Array(self.command.dropFirst()) : self.command
        guard let executable = arguments.first else { throw ValidationError("give the command after --") }
        let store = try self.global.openWorkspace().store
        guard let object = try store.object(ResourceKey(kind: .claim, name: claim)) else {
            throw CommandFailure(message: "Claim \"\(claim)\" not found")
        }
        guard object.status?.fields["phase"] == "Bound" else {
            let phase = object.status?.fields["phase"]?.stringValue ?? "Pending"
            let reason = object.status?.condition(Condition.ready)?.reason ?? "NotReconciled"
            throw CommandFailure(message: "Claim \"\(claim)\" is \(phase) (\(reason)), not Bound")
        }
        let pid = String(getpid())
        for directory in object.status?.fields["cgroups"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            do {
                try pid.write(toFile: directory + "/cgroup.procs", atomically: false, encoding: .utf8)
            } catch {
                throw CommandFailure(message: "cannot enter \(directory): \(error.localizedDescription)")
            }
        }
        setenv("HYPERMESH_CLAIM", claim, 1)
        if let storage = object.status?.fields["storageDirectory"]?.stringValue { setenv("HYPERMESH_STORAGE", storage, 1) }
        Self.replaceProcess(executable, arguments)
    }

    /// `workload/NAME [--replica N] -- CMD…`: crun exec in the replica's container.
    private func runInWorkload(_ name: String, _ rest: [String]) throws {
        var rest = rest
        var replica = 0
        var global = self.global
        // Everything after workload/NAME was captured unparsed, the global --state-dir included.
        while let first = rest.first, first != "--" {
            if first == "--state-dir", rest.count > 1 {
                global.stateDir = rest[1]
            } else {
                guard first == "--replica", rest.count > 1, let index = Int(rest[1]), index >= 0 else {
                    throw ValidationError("after workload/\(name) give [--replica N] -- CMD; \(first) is not understood")
                }
                replica = index
            }
            rest.removeFirst(2)
        }
        let arguments = Array(rest.dropFirst())
        guard !arguments.isEmpty else { throw ValidationError("give the command after --") }
        let store = try global.openWorkspace().store
        guard let object = try store.object(ResourceKey(kind: .workload, name: name)) else {
            throw CommandFailure(message: "Workload \"\(name)\" not found")
        }
        let runtime = ContainerRuntime(stateDirectory: global.stateDirectory)
        let files = runtime.replica(workload: name, index: replica)
        guard case .running = runtime.state(of: files) else {
            let phase = object.status?.fields["replicas"]?.arrayValue?.first { $0["index"]?.integerValue == Int64(replica) }?["phase"]?
                .stringValue ?? "Pending"
            throw CommandFailure(message: "Workload \"\(name)\" replica \(replica) is not running here (it is \(phase))")
        }
        let invocation = runtime.crunInvocation(["exec", files.containerID] + arguments)
        Self.replaceProcess(invocation.path, [invocation.path] + invocation.arguments, searchPath: false)
    }

    /// Replaces this process with `arguments`, started as from a shell: no blocked signals, default dispositions
    /// (whatever started hypermesh, or the Swift runtime, may have changed them).
    private static func replaceProcess(_ executable: String, _ arguments: [String], searchPath: Bool = true) -> Never {
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD] { Foundation.signal(signal, SIG_DFL) }
        var cArguments = arguments.map { strdup($0) } + [nil]
        if searchPath { execvp(executable, &cArguments) } else { execv(executable, &cArguments) }
        Output.error("cannot run \(executable): \(String(cString: strerror(errno)))")
        Foundation.exit(127)
    }
}
