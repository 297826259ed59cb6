import Foundation
import HyperMeshContainers
import HyperMeshCore

/// A `Workload`'s spec as the controller reads it (already validated by the decoder).
struct WorkloadSpec: Sendable {
    enum RestartPolicy: String, Sendable { case always = "Always", onFailure = "OnFailure", never = "Never" }

    struct Mount: Sendable {
        var path: String
        var subPath: String?
        var readOnly: Bool
    }

    var claim: String
    var image: String
    var command: [String]?
    var args: [String]?
    var environment: [(String, String)]
    var workingDirectory: String?
    var user: String?
    var mounts: [Mount]
    var readOnlyRoot: Bool
    var hostNetwork: Bool
    var restartPolicy: RestartPolicy
    var replicas: Int
    var terminationGrace: TimeSpan

    init(spec: JSONValue) {
        func strings(_ key: String) -> [String]? { spec[key]?.arrayValue?.compactMap(\.stringValue) }
        self.claim = spec["claim"]?.stringValue ?? ""
        self.image = spec["image"]?.stringValue ?? ""
        self.command = strings("command")
        self.args = strings("args")
        self.environment = (spec["env"]?.arrayValue ?? []).compactMap { entry in
            guard let name = entry["name"]?.stringValue, let value = entry["value"]?.stringValue else { return nil }
            return (name, value)
        }
        self.workingDirectory = spec["workingDir"]?.stringValue
        self.user = spec["user"]?.stringValue
        self.mounts = (spec["mounts"]?.arrayValue ?? []).compactMap { mount in
            guard let path = mount["path"]?.stringValue else { return nil }
            return Mount(path: path, subPath: mount["subPath"]?.stringValue, readOnly: mount["readOnly"]?.boolValue ?? false)
        }
        self.readOnlyRoot = spec["readOnlyRootFilesystem"]?.boolValue ?? true
        self.hostNetwork = spec["hostNetwork"]?.boolValue ?? false
        self.restartPolicy = spec["restartPolicy"]?.stringValue.flatMap(RestartPolicy.init(rawValue:)) ?? .always
        self.replicas = Int(spec["replicas"]?.integerValue ?? 1)
        self.terminationGrace = (try? spec["terminationGracePeriod"]?.stringValue.map { try TimeSpan(parsing: $0) }) ?? nil ?? .seconds(10)
    }

    /// The path `file:PATH` names, for images imported on apply.
    var imageFile: String? { self.image.hasPrefix("file:") ? String(self.image.dropFirst(5)) : nil }

    /// The process's argv, as Kubernetes combines them: `command` replaces the entrypoint and drops the image's
    /// command unless `args` is given; `args` replaces the image's command.
    func arguments(image: ImageRecord) -> [String] {
        let entrypoint = self.command ?? image.entrypoint
        let command = self.args ?? (self.command != nil ? [] : image.command)
        return entrypoint + command
    }

    /// The image's environment, then the spec's (a name given again replaces the image's), then ours.
    func environment(image: ImageRecord, extra: [(String, String)]) -> [String] {
        var order: [String] = []
        var values: [String: String] = [:]
        func set(_ name: String, _ value: String) {
            if values[name] == nil { order.append(name) }
            values[name] = value
        }
        for entry in image.environment {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            set(String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        if values["PATH"] == nil { set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") }
        for (name, value) in self.environment + extra { set(name, value) }
        return order.map { "\($0)=\(values[$0]!)" }
    }

    /// `uid[:gid]` from the spec or the image; a user name is looked up in the image's `/etc/passwd`.
    func identity(image: ImageRecord, lowerDirectories: [String]) throws -> (uid: UInt32, gid: UInt32) {
        let text = self.user ?? image.user
        if text.isEmpty { return (0, 0) }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        if let uid = UInt32(parts[0]) {
            return (uid, parts.count > 1 ? UInt32(parts[1]) ?? 0 : 0)
        }
        for directory in lowerDirectories {
            guard let passwd = try? String(contentsOfFile: directory + "/etc/passwd", encoding: .utf8) else { continue }
            for line in passwd.split(separator: "\n") {
                let fields = line.split(separator: ":", omittingEmptySubsequences: false)
                if fields.count > 3, fields[0] == parts[0], let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) {
                    return (uid, parts.count > 1 ? UInt32(parts[1]) ?? gid : gid)
                }
            }
            break
        }
        throw HyperMeshError.invalidSpec("user \(parts[0]) is not in the image's /etc/passwd")
    }
}
