import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshContainers
import HyperMeshCore

/// `hypermesh logs`: what a workload's replica printed, from the log the shim keeps beside it.
struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print the output of a workload's replica (stdout and stderr, in order).",
        discussion: """
            The log is kept per replica on the node that runs it (10 MiB, rotated once by default) and
            survives agent restarts; an ended replica's log stays until the Workload is deleted.

            Examples:
              hypermesh logs web
              hypermesh logs web --replica 2 --tail 100
              hypermesh logs web -f --since 5m --timestamps
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The workload (NAME or workload/NAME).") var workload: String
    @Option(help: "Which replica (default 0).") var replica: Int = 0
    @Flag(name: .shortAndLong, help: "Keep printing what it prints, until it ends.") var follow = false
    @Option(help: "Only lines from this long ago on, e.g. 90s, 5m, 1h.") var since: String?
    @Option(help: "Only the last N lines.") var tail: Int?
    @Flag(help: "Prefix each line with its time (RFC 3339, UTC) and stream.") var timestamps = false

    func validate() throws {
        if self.replica < 0 { throw ValidationError("--replica must be 0 or more") }
        if let tail, tail < 0 { throw ValidationError("--tail must be 0 or more") }
        if let since, (try? TimeSpan(parsing: since)) == nil { throw ValidationError("--since: \(since) is not a duration such as 90s or 5m") }
    }

    func run() throws {
        let name = self.workload.hasPrefix("workload/") ? String(self.workload.dropFirst(9)) : self.workload
        let store = try self.global.openWorkspace().store
        guard let object = try store.object(ResourceKey(kind: .workload, name: name)) else {
            throw CommandFailure(message: "Workload \"\(name)\" not found")
        }
        let wanted = Int(object.spec["replicas"]?.integerValue ?? 1)
        guard self.replica < max(wanted, 1) else {
            throw CommandFailure(message: "Workload \"\(name)\" has \(wanted) replica(s); there is no replica \(self.replica)")
        }
        let runtime = ContainerRuntime(stateDirectory: self.global.stateDirectory)
        let files = runtime.replica(workload: name, index: self.replica)
        let since = try self.since.map { Date().addingTimeInterval(-(try TimeSpan(parsing: $0)).timeInterval) }
        var printed = ContainerLogLine.read(files.logFiles(), since: since, tail: self.tail)
        if printed.isEmpty && !self.follow && !FileManager.default.fileExists(atPath: files.log) {
            let phase = object.status?.fields["phase"]?.stringValue ?? "Pending"
            throw CommandFailure(message: "Workload \"\(name)\" replica \(self.replica) has no log on this node (it is \(phase))")
        }
        self.print(printed)
        guard self.follow else { return }
        // Follow: print what is new every 200 ms, by time (rotation moves lines between files, never reorders
        // them); end once the replica no longer runs and its last lines are out.
        var last = printed.last?.time ?? since ?? .distantPast
        var lastCount = printed.filter { $0.time == last }.count
        while true {
            let running = runtime.state(of: files).isActive
            let lines = ContainerLogLine.read(files.logFiles(), since: last)
            let sameTime = lines.prefix { $0.time == last }.count
            let fresh = Array(lines.dropFirst(min(sameTime, lastCount)))
            self.print(fresh)
            printed = fresh
            if let newest = lines.last?.time {
                lastCount = lines.filter { $0.time == newest }.count
                last = newest
            }
            if !running { return }
            usleep(200_000)
        }
    }

    private func print(_ lines: [ContainerLogLine]) {
        guard !lines.isEmpty else { return }
        var text = ""
        for line in lines {
            if self.timestamps {
                text += Self.format(line.time) + " " + line.stream + " "
            }
            text += line.text + "\n"
        }
        Output.print(text)
    }

    static func format(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
