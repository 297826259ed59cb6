import Foundation
import HyperMeshCore

/// What one container is: the process, its root, its mounts and the cgroup it lives in. ``json`` is the OCI
/// runtime `config.json` crun reads — crun's own default spec (`crun spec`: pid, mount, ipc, uts and network
/// namespaces, three capabilities, no new privileges, masked and read-only `/proc` paths, all devices denied)
/// with our process, a read-only root, the claim's cgroup and a seccomp profile.
public struct BundleConfiguration: Sendable, Equatable {
    public struct BindMount: Sendable, Equatable {
        public var source: String
        public var destination: String
        public var readOnly: Bool

        public init(source: String, destination: String, readOnly: Bool) {
            self.source = source
            self.destination = destination
            self.readOnly = readOnly
        }
    }

    public var arguments: [String]
    public var environment: [String]
    public var workingDirectory: String
    public var userID: UInt32
    public var groupID: UInt32
    public var hostname: String
    public var readOnlyRoot: Bool
    /// From each hierarchy's root, e.g. `/hypermesh/workstation/batch/hm-web-0`.
    public var cgroupsPath: String
    public var mounts: [BindMount]
    /// Share the host's network namespace instead of a new one with only `lo`.
    public var hostNetwork: Bool
    public var annotations: [String: String]

    public init(arguments: [String], environment: [String], workingDirectory: String, userID: UInt32, groupID: UInt32,
                hostname: String, readOnlyRoot: Bool, cgroupsPath: String, mounts: [BindMount], hostNetwork: Bool,
                annotations: [String: String])
    {
        precondition(!arguments.isEmpty, "a container needs a program to run")
        precondition(cgroupsPath.hasPrefix("/"), "cgroupsPath is absolute from each hierarchy's root")
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.userID = userID
        self.groupID = groupID
        self.hostname = hostname
        self.readOnlyRoot = readOnlyRoot
        self.cgroupsPath = cgroupsPath
        self.mounts = mounts
        self.hostNetwork = hostNetwork
        self.annotations = annotations
    }

    static let capabilities: JSONValue = .array(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])

    public var json: JSONValue {
        let capabilities = Self.capabilities
        var namespaces: [JSONValue] = [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"]]
        if !self.hostNetwork { namespaces.append(["type": "network"]) }
        let process: JSONValue = .object([
            "terminal": false,
            "user": .object(["uid": .integer(Int64(self.userID)), "gid": .integer(Int64(self.groupID))]),
            "args": .array(self.arguments.map { .string($0) }),
            "env": .array(self.environment.map { .string($0) }),
            "cwd": .string(self.workingDirectory),
            "capabilities": .object(["bounding": capabilities, "effective": capabilities, "inheritable": [],
                                     "permitted": capabilities, "ambient": capabilities]),
            "rlimits": [["type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024]],
            "noNewPrivileges": true,
        ])
        var mounts: [JSONValue] = [
            ["destination": "/proc", "type": "proc", "source": "proc"],
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ["destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]],
            ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]],
            ["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]],
            ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
            ["destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]],
            ["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]],
        ]
        for mount in self.mounts {
            mounts.append(.object(["destination": .string(mount.destination), "type": "bind", "source": .string(mount.source),
                                   "options": .array(["rbind", "nosuid", "nodev", mount.readOnly ? "ro" : "rw"])]))
        }
        let linux: JSONValue = .object([
            "cgroupsPath": .string(self.cgroupsPath),
            "resources": ["devices": [["allow": false, "access": "rwm"]]],
            "namespaces": .array(namespaces),
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            "seccomp": SeccompProfile.standard,
        ])
        return .object([
            "ociVersion": "1.0.0", "process": process,
            "root": .object(["path": "rootfs", "readonly": .bool(self.readOnlyRoot)]),
            "hostname": .string(self.hostname), "mounts": .array(mounts), "linux": linux,
            "annotations": .object(self.annotations.mapValues { .string($0) }),
        ])
    }
}
