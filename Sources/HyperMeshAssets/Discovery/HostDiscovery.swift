import Foundation
import HyperMeshCore

/// Reads what the machine has from the kernel's own files. Each parser takes the file's
/// text, so every malformed input has a test; the readers add the paths.
public struct HostDiscovery: Sendable {
    /// Where `/sys` and `/proc` are (tests point these at fixtures).
    public var sysRoot: String
    public var procRoot: String
    public var cgroupRoot: String

    public init(sysRoot: String = "/sys", procRoot: String = "/proc", cgroupRoot: String = "/sys/fs/cgroup") {
        self.sysRoot = sysRoot
        self.procRoot = procRoot
        self.cgroupRoot = cgroupRoot
    }

    // MARK: - CPU

    public func cpu() throws -> CPUFacts {
        let online = try Self.parseCPUList(try self.read(self.sysRoot + "/devices/system/cpu/online"))
        let model = (try? self.read(self.procRoot + "/cpuinfo")).flatMap(Self.parseCPUModel)
        return CPUFacts(onlineCPUs: online, model: model, cgroupLimit: try? self.ownCPULimit())
    }

    /// Parses a kernel CPU list such as `0-3,8,10-11`.
    ///
    /// - Throws: ``HyperMeshError`` `corruptData` naming the bad part.
    public static func parseCPUList(_ text: String) throws -> [Int] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw HyperMeshError.corruptData("CPU list is empty") }
        var cpus: [Int] = []
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = Int(bounds[0]), let high = Int(bounds.last!), low >= 0, low <= high,
                  high - low < 65536 else {
                throw HyperMeshError.corruptData("CPU list \"\(trimmed)\": bad range \"\(part)\"")
            }
            cpus += Array(low...high)
        }
        return cpus
    }

    static func parseCPUModel(_ text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The CPU limit of the cgroup this process is in: v2 `cpu.max`, else v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`.
    func ownCPULimit() throws -> Quantity? {
        let membership = try CgroupMembership.parse(try self.read(self.procRoot + "/self/cgroup"))
        if let path = membership.unifiedPath {
            for root in [self.cgroupRoot, self.cgroupRoot + "/unified"] {
                if let text = try? self.read(root + path + "/cpu.max") { return try Self.parseCPUMax(text) }
            }
        }
        if let path = membership.v1Paths["cpu"] {
            let base = self.cgroupRoot + "/cpu" + path
            guard let quota = try? self.read(base + "/cpu.cfs_quota_us"), let period = try? self.read(base + "/cpu.cfs_period_us") else {
                return nil
            }
            return try Self.parseCFS(quota: quota, period: period)
        }
        return nil
    }

    /// `max 100000` → `nil`; `50000 100000` → 500m.
    public static func parseCPUMax(_ text: String) throws -> Quantity? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let period = Int64(fields[1]), period > 0 else {
            throw HyperMeshError.corruptData("cpu.max \"\(text.trimmingCharacters(in: .whitespacesAndNewlines))\" is not \"QUOTA PERIOD\"")
        }
        if fields[0] == "max" { return nil }
        guard let quota = Int64(fields[0]), quota > 0 else { throw HyperMeshError.corruptData("cpu.max quota \"\(fields[0])\" is not a number") }
        return Quantity(milliValue: quota * 1000 / period)
    }

    /// v1 quota `-1` means no limit.
    public static func parseCFS(quota: String, period: String) throws -> Quantity? {
        guard let quotaValue = Int64(quota.trimmingCharacters(in: .whitespacesAndNewlines)),
              let periodValue = Int64(period.trimmingCharacters(in: .whitespacesAndNewlines)), periodValue > 0 else {
            throw HyperMeshError.corruptData("cpu.cfs_quota_us/cpu.cfs_period_us are not numbers")
        }
        return quotaValue < 0 ? nil : Quantity(milliValue: quotaValue * 1000 / periodValue)
    }

    // MARK: - Memory

    public func memory() throws -> MemoryFacts {
        try Self.parseMeminfo(try self.read(self.procRoot + "/meminfo"))
    }

    /// Reads `MemTotal` and `MemAvailable` (in kB) from `/proc/meminfo`.
    public static func parseMeminfo(_ text: String) throws -> MemoryFacts {
        var values: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0.isWhitespace })
            guard parts.count >= 2, let value = Int64(parts[1]) else { continue }
            let unit = parts.count >= 3 ? parts[2] : ""
            values[String(parts[0])] = unit == "kB" ? value * 1024 : value
        }
        guard let total = values["MemTotal"], let available = values["MemAvailable"] else {
            throw HyperMeshError.corruptData("/proc/meminfo lacks MemTotal or MemAvailable")
        }
        return MemoryFacts(totalBytes: total, availableBytes: available)
    }

    // MARK: - Storage

    /// `statvfs` of `path` (or of its nearest existing parent, for a pool directory not yet made).
    public func storage(at path: String) throws -> StorageFacts {
        var probe = URL(fileURLWithPath: path).standardizedFileURL.path
        while !FileManager.default.fileExists(atPath: probe), probe != "/" {
            probe = (probe as NSString).deletingLastPathComponent
        }
        var stats = statvfs()
        guard statvfs(probe, &stats) == 0 else {
            throw HyperMeshError.io("statvfs \(probe): \(String(cString: strerror(errno)))")
        }
        let block = Int64(stats.f_frsize)
        return StorageFacts(path: path, totalBytes: Int64(stats.f_blocks) * block, freeBytes: Int64(stats.f_bfree) * block,
                            availableBytes: Int64(stats.f_bavail) * block, filesystemID: UInt64(stats.f_fsid))
    }

    func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HyperMeshError.io("cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
