import Foundation
import HyperMeshCore

/// CPUs this machine offers.
public struct CPUFacts: Sendable, Hashable {
    /// Online CPU numbers, from `/sys/devices/system/cpu/online`.
    public var onlineCPUs: [Int]
    /// The model name from `/proc/cpuinfo`, when it says one.
    public var model: String?
    /// The CPU limit of the cgroup this process runs in (quota / period), if one is set.
    public var cgroupLimit: Quantity?

    /// Cores usable here: the online CPUs, or the cgroup limit when that is lower.
    public var usableCores: Quantity {
        let online = Quantity(whole: Int64(self.onlineCPUs.count))!
        guard let limit = self.cgroupLimit else { return online }
        return min(limit, online)
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "online": .integer(Int64(self.onlineCPUs.count)),
            "onlineList": .array(self.onlineCPUs.map { .integer(Int64($0)) }),
            "usable": .string(self.usableCores.description),
        ]
        if let model { members["model"] = .string(model) }
        if let cgroupLimit { members["cgroupLimit"] = .string(cgroupLimit.description) }
        return .object(members)
    }
}

/// Memory, from `/proc/meminfo`.
public struct MemoryFacts: Sendable, Hashable {
    public var totalBytes: Int64
    public var availableBytes: Int64

    public init(totalBytes: Int64, availableBytes: Int64) {
        self.totalBytes = totalBytes
        self.availableBytes = availableBytes
    }

    public var json: JSONValue {
        ["totalBytes": .integer(self.totalBytes), "availableBytes": .integer(self.availableBytes),
         "total": .string(Quantity(whole: self.totalBytes)!.description)]
    }
}

/// A filesystem, from `statvfs`.
public struct StorageFacts: Sendable, Hashable {
    public var path: String
    public var totalBytes: Int64
    public var freeBytes: Int64
    /// Free to unprivileged users (what `df` reports as available).
    public var availableBytes: Int64
    /// `statvfs`'s `f_fsid`: equal for paths on one filesystem.
    public var filesystemID: UInt64

    public var json: JSONValue {
        ["path": .string(self.path), "totalBytes": .integer(self.totalBytes), "freeBytes": .integer(self.freeBytes),
         "availableBytes": .integer(self.availableBytes)]
    }
}
