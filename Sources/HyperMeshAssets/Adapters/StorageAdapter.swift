import Foundation
import HyperMeshCore

/// Storage: `statvfs` of the pool's path; a claim gets `<path>/<claim>`, its size enforced by
/// an ext4 loop image where the host allows it, otherwise accounted and reported `QuotaNotEnforced`.
public struct StorageAdapter: AssetAdapter {
    let discovery: HostDiscovery
    /// The path `discover()` reports on.
    public var path: String

    public init(path: String, discovery: HostDiscovery = HostDiscovery()) {
        self.path = path
        self.discovery = discovery
    }

    public var kind: AssetKind { .storage }

    public var capabilities: AssetCapabilities {
        if let reason = LoopImageVolume.unavailabilityReason() {
            return AssetCapabilities(enforced: false, mechanism: "accounting", reason: reason)
        }
        return AssetCapabilities(enforced: true, mechanism: "ext4 loop image", reason: nil)
    }

    public func discover() throws -> JSONValue { try self.discovery.storage(at: self.path).json }

    public static func volume(_ request: AssetRequest) -> LoopImageVolume? {
        guard let path = request.storagePath else { return nil }
        return LoopImageVolume(mountPoint: (path as NSString).appendingPathComponent(request.claim),
                               imagePath: (path as NSString).appendingPathComponent(".images/\(request.claim).img"),
                               sizeBytes: request.amount.wholeValue)
    }

    public func allocate(_ request: AssetRequest) throws -> AssetGrant {
        guard let volume = Self.volume(request) else {
            throw HyperMeshError.invalidArgument("storage for \(request.claim) needs the pool's storage path")
        }
        var details: [String: JSONValue] = ["storageDirectory": .string(volume.mountPoint)]
        func accounted(_ message: String) -> AssetGrant {
            try? FileManager.default.createDirectory(atPath: volume.mountPoint, withIntermediateDirectories: true)
            return AssetGrant(kind: .storage, details: details, unenforced: (reason: "QuotaNotEnforced", message: message))
        }
        if let reason = LoopImageVolume.unavailabilityReason() {
            return accounted("storage is accounted, not enforced: \(reason)")
        }
        if volume.sizeBytes < LoopImageVolume.minimumSizeBytes {
            return accounted("storage below \(LoopImageVolume.minimumSizeBytes >> 20)Mi is accounted, not enforced")
        }
        do {
            try volume.provision()
        } catch let error as HyperMeshError {
            return accounted("storage is accounted, not enforced: \(error.message)")
        }
        details["storageImage"] = .string(volume.imagePath)
        return AssetGrant(kind: .storage, details: details)
    }

    public func release(_ request: AssetRequest) throws {
        guard let volume = Self.volume(request) else { return }
        try volume.release()
        try? FileManager.default.removeItem(atPath: volume.mountPoint)
    }

    public func usage(_ request: AssetRequest) throws -> JSONValue {
        guard let volume = Self.volume(request) else { return .null }
        if volume.isMounted { return ["usedBytes": .integer(try volume.usedBytes())] }
        let size = try FileManager.default.subpathsOfDirectory(atPath: volume.mountPoint).reduce(Int64(0)) { total, item in
            let attributes = try? FileManager.default.attributesOfItem(atPath: (volume.mountPoint as NSString).appendingPathComponent(item))
            return total + ((attributes?[.size] as? NSNumber)?.int64Value ?? 0)
        }
        return ["usedBytes": .integer(size)]
    }

    public func health() -> String? { (try? self.discovery.storage(at: self.path)) == nil ? "statvfs \(self.path) failed" : nil }
}
