import Foundation
import HyperMeshCore

/// Runs containers with crun, each beside a `hypermesh-shim` that owns its stdio and records its exit, so that
/// containers live through the agent's restarts: state is crun's (`STATE/runtime/crun`) and the replica files',
/// never the agent's memory.
public struct ContainerRuntime: Sendable {
    public let stateDirectory: URL
    public var crunPath: String
    public var shimPath: String
    /// The journald socket the shim copies container output to, when one is there: `$HYPERMESH_JOURNAL_SOCKET`
    /// (tests, or a journald listening elsewhere), else systemd's.
    public var journalSocket: String?
    /// A log file is rotated when it would pass this size; this many files are kept.
    public var maximumLogBytes: Int64 = 10 << 20
    public var logFiles: Int = 2
    let namespace: RuntimeNamespace?

    public init(stateDirectory: URL, crunPath: String = "/usr/bin/crun", shimPath: String? = nil,
                journalSocket: String? = "/run/systemd/journal/socket", mountsText: String? = nil)
    {
        self.stateDirectory = stateDirectory
        self.crunPath = crunPath
        self.shimPath = shimPath ?? Self.defaultShimPath()
        let socket = ProcessInfo.processInfo.environment["HYPERMESH_JOURNAL_SOCKET"].flatMap { $0.isEmpty ? nil : $0 } ?? journalSocket
        self.journalSocket = socket.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        let mounts = mountsText ?? (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        self.namespace = RuntimeNamespace.isNeeded(mountsText: mounts) ? RuntimeNamespace(stateDirectory: stateDirectory) : nil
    }

    /// `$HYPERMESH_SHIM`, else `hypermesh-shim` beside the running executable, else the packaged one.
    static func defaultShimPath() -> String {
        if let path = ProcessInfo.processInfo.environment["HYPERMESH_SHIM"], !path.isEmpty { return path }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let beside = (executable as NSString).deletingLastPathComponent + "/hypermesh-shim"
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return "/usr/lib/hypermesh/hypermesh-shim"
    }

    var crunRoot: String { self.stateDirectory.appendingPathComponent("runtime/crun").path }
    var workloadsDirectory: String { self.stateDirectory.appendingPathComponent("workloads").path }

    /// Why containers cannot run here, or `nil` when they can.
    public func unavailableReason() -> String? {
        if geteuid() != 0 { return "running containers needs root (cgroups, mounts and namespaces); this agent runs as uid \(geteuid())" }
        if !FileManager.default.isExecutableFile(atPath: self.crunPath) { return "crun is not installed at \(self.crunPath)" }
        if !FileManager.default.isExecutableFile(atPath: self.shimPath) { return "hypermesh-shim is not installed at \(self.shimPath)" }
        return nil
    }

    public func replica(workload: String, index: Int) -> ReplicaFiles {
        ReplicaFiles(workloadsDirectory: self.workloadsDirectory, workload: workload, index: index)
    }

    // MARK: - Start

    /// Writes the bundle and hands the container to a new shim; returns once the shim has detached (crun is then
    /// starting the container).
    ///
    /// - Parameter oomEventsFile: the container cgroup's `memory.oom_control` (v1) or `memory.events` (v2), which
    ///   the shim reads after the container's end, before crun deletes the group.
    public func start(_ replica: ReplicaFiles, configuration: BundleConfiguration, lowerDirectories: [String],
                      oomEventsFile: String? = nil, journalFields: [String: String] = [:]) throws
    {
        precondition(!lowerDirectories.isEmpty, "a rootfs needs at least one layer")
        if let reason = self.unavailableReason() { throw HyperMeshError.io(reason) }
        // Under the namespace's lock until the replica's files are there: an idle check elsewhere would take it down.
        try self.holdingNamespace {
            try self.startHoldingNamespace(replica, configuration: configuration, lowerDirectories: lowerDirectories,
                                           oomEventsFile: oomEventsFile, journalFields: journalFields)
        }
    }

    /// Runs `body` with the runtime's mount namespace made and locked, on hosts that need one; else just runs it.
    private func holdingNamespace(_ body: () throws -> Void) throws {
        guard let namespace = self.namespace else { return try body() }
        try namespace.withLock {
            try namespace.ensure()
            try body()
        }
    }

    private func startHoldingNamespace(_ replica: ReplicaFiles, configuration: BundleConfiguration, lowerDirectories: [String],
                                       oomEventsFile: String?, journalFields: [String: String]) throws
    {
        let manager = FileManager.default
        for file in [replica.exitFile, replica.containerPIDFile, replica.shimPIDFile, replica.crunLog] { unlink(file) }
        // A new upper for every start: a restarted container starts from its image, as Kubernetes' do.
        try? manager.removeItem(atPath: replica.upper)
        try? manager.removeItem(atPath: replica.work)
        for directory in [replica.rootfs, replica.upper, replica.work, self.crunRoot] {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let config = Data((configuration.json.canonicalJSON + "\n").utf8)
        guard manager.createFile(atPath: replica.bundle + "/config.json", contents: config) else {
            throw HyperMeshError.io("cannot write \(replica.bundle)/config.json")
        }
        // A container left in crun's state by a start that never finished would make `crun run` refuse the id.
        if manager.fileExists(atPath: self.crunRoot + "/" + replica.containerID) {
            _ = try? self.crun(["delete", "--force", replica.containerID])
        }
        var arguments = ["--crun", self.crunPath, "--root", self.crunRoot, "--id", replica.containerID, "--bundle", replica.bundle,
                         "--log", replica.log, "--exit", replica.exitFile, "--pid-file", replica.containerPIDFile,
                         "--shim-pid-file", replica.shimPIDFile, "--log-max", String(self.maximumLogBytes),
                         "--log-files", String(self.logFiles),
                         "--overlay", lowerDirectories.joined(separator: ":"), replica.upper, replica.work]
        if let namespace = self.namespace { arguments += ["--mount-namespace", namespace.file] }
        if let socket = self.journalSocket { arguments += ["--journal", socket] }
        if let oomEventsFile { arguments += ["--oom-events", oomEventsFile] }
        for (name, value) in journalFields.sorted(by: { $0.key < $1.key }) { arguments += ["--field", "\(name)=\(value)"] }
        let status = try ChildProcess.runDetaching(self.shimPath, arguments)
        guard status == 0 else { throw HyperMeshError.io("hypermesh-shim exited with status \(status) before detaching") }
    }

    // MARK: - Observe

    public func state(of replica: ReplicaFiles) -> ReplicaState {
        if let exit = self.exitRecord(replica) { return .exited(exit) }
        let shim = Self.readPID(replica.shimPIDFile).flatMap { Self.isAlive($0, commandContains: "hypermesh-shim") ? $0 : nil }
        if let pid = Self.readPID(replica.containerPIDFile), Self.isContainerProcess(pid, id: replica.containerID) {
            return .running(pid: pid)
        }
        // The shim reaps the container and writes the exit file a moment later: not lost yet.
        if shim != nil { return .starting }
        if let exit = self.exitRecord(replica) { return .exited(exit) }
        return FileManager.default.fileExists(atPath: replica.directory) ? .lost : .absent
    }

    private func exitRecord(_ replica: ReplicaFiles) -> ExitRecord? {
        guard let data = FileManager.default.contents(atPath: replica.exitFile),
              let json = try? JSONValue(parsingJSON: String(decoding: data, as: UTF8.self)),
              let code = json["exitCode"]?.integerValue
        else { return nil }
        let milliseconds = json["finishedAtMilliseconds"]?.integerValue ?? 0
        return ExitRecord(exitCode: Int(code), finishedAt: Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000),
                          startError: json["startError"]?.stringValue, oomKills: json["oomKills"]?.integerValue ?? 0)
    }

    /// crun's own last error for the replica (from `--log-format=json`), for a StartFailed message.
    public func startError(of replica: ReplicaFiles) -> String? {
        if case .exited(let exit) = self.state(of: replica), let error = exit.startError { return error }
        guard let text = try? String(contentsOfFile: replica.crunLog, encoding: .utf8) else { return nil }
        let messages = text.split(separator: "\n").compactMap { line -> String? in
            guard let json = try? JSONValue(parsingJSON: String(line)), json["level"]?.stringValue == "error" else { return nil }
            return json["msg"]?.stringValue
        }
        return messages.last
    }

    /// Whether crun ever ran the container's process (its pid file was written).
    public func didStart(_ replica: ReplicaFiles) -> Bool {
        FileManager.default.fileExists(atPath: replica.containerPIDFile)
    }

    static func readPID(_ path: String) -> Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)).flatMap { $0 > 0 ? $0 : nil }
    }

    static func isAlive(_ pid: Int32, commandContains needle: String) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM,
              let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { return false }
        return String(decoding: command, as: UTF8.self).contains(needle)
    }

    /// A pid is the container's while it lives in a cgroup named after the container (pids are reused).
    static func isContainerProcess(_ pid: Int32, id: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let state = stat.split(separator: ")").last?.split(separator: " ").first, state == "Z"
        {
            return false
        }
        return text.contains("/" + id + "\n") || text.hasSuffix("/" + id)
    }

    // MARK: - Stop and remove

    /// Sends `signal` to the container's init process; `false` when it does not run.
    @discardableResult
    public func signal(_ replica: ReplicaFiles, _ signal: Int32) -> Bool {
        guard case .running(let pid) = self.state(of: replica) else { return false }
        return kill(pid, signal) == 0
    }

    /// Removes a replica that no longer runs: crun's state, the rootfs mount, the bundle and its files — all but
    /// its logs and exit status when `keepingLogs` (an ended replica, whose logs `hypermesh logs` still shows).
    public func remove(_ replica: ReplicaFiles, keepingLogs: Bool = false) throws {
        if case .running = self.state(of: replica) {
            throw HyperMeshError.conflict("container \(replica.containerID) still runs")
        }
        if FileManager.default.fileExists(atPath: self.crunRoot + "/" + replica.containerID) {
            _ = try? self.crun(["delete", "--force", replica.containerID])
        }
        if let namespace = self.namespace, namespace.exists {
            _ = try? ChildProcess.run("/usr/bin/nsenter", ["--mount=\(namespace.file)", "--", "/bin/umount", "-l", replica.rootfs])
        } else {
            umount2(replica.rootfs, Int32(MNT_DETACH))
        }
        if keepingLogs {
            let kept = Set(replica.logFiles().map { ($0 as NSString).lastPathComponent } + ["exit.json"])
            for name in (try? FileManager.default.contentsOfDirectory(atPath: replica.directory)) ?? [] where !kept.contains(name) {
                try? FileManager.default.removeItem(atPath: replica.directory + "/" + name)
            }
            return
        }
        try? FileManager.default.removeItem(atPath: replica.directory)
        let workload = (replica.directory as NSString).deletingLastPathComponent
        if (try? FileManager.default.contentsOfDirectory(atPath: workload))?.isEmpty == true { rmdir(workload) }
    }

    /// Kills a replica's container at once (SIGKILL), waits up to 5 s for it to be gone, and removes its files.
    public func killAndRemove(_ replica: ReplicaFiles) {
        self.signal(replica, SIGKILL)
        for _ in 0..<250 where self.state(of: replica).isActive { usleep(20_000) }
        try? self.remove(replica)
    }

    /// Takes the runtime's mount namespace down when no replica is left on this node.
    public func releaseNamespaceIfIdle() {
        guard let namespace = self.namespace, namespace.exists else { return }
        try? namespace.withLock {
            guard self.replicasOnDisk().isEmpty else { return }
            namespace.remove()
        }
    }

    // MARK: - Inventory

    /// Every replica with files on this node, as `(workload, index)`.
    public func replicasOnDisk() -> [ReplicaFiles] {
        let manager = FileManager.default
        let workloads = (try? manager.contentsOfDirectory(atPath: self.workloadsDirectory)) ?? []
        return workloads.sorted().flatMap { workload in
            ((try? manager.contentsOfDirectory(atPath: self.workloadsDirectory + "/" + workload)) ?? [])
                .compactMap(Int.init).sorted().map { self.replica(workload: workload, index: $0) }
        }
    }

    /// The containers crun knows under this node's root.
    public func containersKnownToCrun() -> [String] {
        guard let listing = try? self.crun(["list", "--quiet"]), listing.status == 0 else { return [] }
        return listing.standardOutput.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    /// The program and arguments that run `crun ARGUMENTS` against this node's containers (in the runtime's
    /// namespace where the host needs it): for `exec`, which replaces the calling process with it.
    public func crunInvocation(_ arguments: [String]) -> (path: String, arguments: [String]) {
        let crun = [self.crunPath, "--root", self.crunRoot] + arguments
        guard let namespace = self.namespace else { return (self.crunPath, Array(crun.dropFirst())) }
        return ("/usr/bin/nsenter", ["--mount=\(namespace.file)", "--"] + crun)
    }

    func crun(_ arguments: [String]) throws -> ChildProcess.Outcome {
        let invocation = self.crunInvocation(arguments)
        return try ChildProcess.run(invocation.path, invocation.arguments)
    }
}
