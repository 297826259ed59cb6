import HyperMeshCore

/// Which cgroups a process is in, from `/proc/PID/cgroup`.
public struct CgroupMembership: Sendable, Hashable {
    /// The v2 path (`0::/path`), when the process is in the unified hierarchy.
    public var unifiedPath: String?
    /// v1 paths by controller name (`cpu`, `memory`, …).
    public var v1Paths: [String: String]

    /// Parses lines `ID:CONTROLLERS:PATH`.
    ///
    /// - Throws: ``HyperMeshError`` `corruptData` for a line without three fields.
    public static func parse(_ text: String) throws -> CgroupMembership {
        var membership = CgroupMembership(unifiedPath: nil, v1Paths: [:])
        for line in text.split(separator: "\n") where !line.isEmpty {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, Int(fields[0]) != nil else {
                throw HyperMeshError.corruptData("cgroup membership line \"\(line)\" is not ID:CONTROLLERS:PATH")
            }
            if fields[0] == "0" && fields[1].isEmpty {
                membership.unifiedPath = String(fields[2])
            } else {
                for controller in fields[1].split(separator: ",") { membership.v1Paths[String(controller)] = String(fields[2]) }
            }
        }
        return membership
    }
}
