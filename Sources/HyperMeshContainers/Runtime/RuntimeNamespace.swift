import Foundation
import HyperMeshCore

/// crun refuses hosts with "hybrid" cgroups (v1 controllers plus a cgroup2 tree that holds none of them, as this
/// kind of Debian host has: `cgroups in hybrid mode not supported`). On such a host the runtime keeps one
/// persistent mount namespace, bound to `STATE/runtime/ns/mnt` as `ip netns` binds network namespaces, in which
/// `/sys/fs/cgroup` holds the host's v1 hierarchies and nothing else: the same cgroups, seen without the empty
/// v2 tree. The shim and every crun call enter it; containers' rootfs mounts live in it, so it outlives the agent
/// and is taken down when the last container is gone.
public struct RuntimeNamespace: Sendable {
    public let directory: String
    public var file: String { self.directory + "/mnt" }

    init(stateDirectory: URL) {
        self.directory = stateDirectory.appendingPathComponent("runtime/ns").path
    }

    /// Whether crun needs the namespace here: some cgroup2 mount and v1 mounts of the cpu and memory controllers.
    static func isNeeded(mountsText: String) -> Bool {
        var hasUnified = false
        var v1: Set<String> = []
        for line in mountsText.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 4 else { continue }
            if fields[2] == "cgroup2" { hasUnified = true }
            if fields[2] == "cgroup" { fields[3].split(separator: ",").forEach { v1.insert(String($0)) } }
        }
        return hasUnified && v1.contains("cpu") && v1.contains("memory")
    }

    /// The host's v1 cgroup mounts, as `(options, mount point)` for `mount -t cgroup -o OPTIONS cgroup POINT`.
    static func v1Mounts(mountsText: String) -> [(options: String, point: String)] {
        let generic: Set<String> = ["rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "strictatime"]
        return mountsText.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 4, fields[2] == "cgroup" else { return nil }
            let options = fields[3].split(separator: ",").map(String.init).filter { !generic.contains($0) }
            let named = options.contains { $0.hasPrefix("name=") } && !options.contains("none") ? ["none"] : []
            return ((named + options).joined(separator: ","), String(fields[1]))
        }
    }

    var exists: Bool {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        return mounts.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4] == self.file && line.contains(" - nsfs ")
        }
    }

    /// Runs `body` holding the namespace's lock (`flock` on `STATE/runtime/ns.lock`), so that workloads reconciled at
    /// once, or the agent and a CLI, neither make the namespace twice nor take it down while a start is entering it.
    func withLock<T>(_ body: () throws -> T) throws -> T {
        let parent = (self.directory as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let descriptor = open(self.directory + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw HyperMeshError.io("cannot open \(self.directory).lock: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw HyperMeshError.io("cannot lock \(self.directory).lock: \(String(cString: strerror(errno)))") }
        }
        return try body()
    }

    /// Makes the namespace unless it is there (under ``withLock(_:)``).
    func ensure() throws {
        if self.exists { return }
        let mounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        // A namespace file can only be bound below a private mount: make the directory one.
        if !self.isMountPoint(self.directory) {
            try self.run("/bin/mount", ["--bind", self.directory, self.directory])
        }
        try self.run("/bin/mount", ["--make-private", self.directory])
        FileManager.default.createFile(atPath: self.file, contents: nil)
        var script = "set -e; umount -l /sys/fs/cgroup/unified 2>/dev/null || true; "
            + "mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup-v1 /sys/fs/cgroup; "
        for mount in Self.v1Mounts(mountsText: mounts) {
            script += "mkdir -p '\(mount.point)'; mount -t cgroup -o '\(mount.options)' cgroup '\(mount.point)'; "
        }
        try self.run("/usr/bin/unshare", ["--mount=\(self.file)", "--propagation", "private", "/bin/sh", "-c", script])
    }

    /// Takes the namespace down (its mounts with it).
    func remove() {
        _ = try? ChildProcess.run("/bin/umount", [self.file])
        _ = try? ChildProcess.run("/bin/umount", [self.directory])
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    private func isMountPoint(_ path: String) -> Bool {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        return mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == path }
    }

    private func run(_ tool: String, _ arguments: [String]) throws {
        let outcome = try ChildProcess.run(tool, arguments)
        guard outcome.status == 0 else {
            throw HyperMeshError.io("cannot make the runtime's mount namespace: \(tool) \(arguments.prefix(3).joined(separator: " ")) "
                + "failed: \(outcome.standardError.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
