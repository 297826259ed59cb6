import Foundation
import HyperMeshCore
import STOQData

/// A `MirrorPolicy` spec with its defaults.
struct MirrorSpec {
    var source: String
    var minimumSize = 16 << 10
    var averageSize = 64 << 10
    var maximumSize = 256 << 10
    var data = 10
    var parity = 4
    var minCopies = 1
    var privacy = "private-network"
    var peers: [String] = []
    var repairInterval = TimeSpan.minutes(10)
    var keepVersions = 3

    init(_ spec: JSONValue) {
        self.source = spec["source"]?.stringValue ?? ""
        func bytes(_ path: String) -> Int? {
            spec.value(atPath: path)?.stringValue.flatMap { try? Quantity(parsing: $0) }.map { Int($0.wholeValue) }
                ?? spec.value(atPath: path)?.integerValue.map { Int($0) }
        }
        self.minimumSize = bytes("chunking.minSize") ?? self.minimumSize
        self.averageSize = bytes("chunking.avgSize") ?? self.averageSize
        self.maximumSize = bytes("chunking.maxSize") ?? self.maximumSize
        self.data = spec.value(atPath: "erasure.data")?.integerValue.map { Int($0) } ?? self.data
        self.parity = spec.value(atPath: "erasure.parity")?.integerValue.map { Int($0) } ?? self.parity
        self.minCopies = spec.value(atPath: "placement.minCopies")?.integerValue.map { Int($0) } ?? self.minCopies
        self.privacy = spec.value(atPath: "placement.privacy")?.stringValue ?? self.privacy
        self.peers = spec.value(atPath: "placement.peers")?.arrayValue?.compactMap(\.stringValue) ?? []
        self.keepVersions = spec["keepVersions"]?.integerValue.map { Int($0) } ?? self.keepVersions
        if let text = spec["repairInterval"]?.stringValue, let span = try? TimeSpan(parsing: text) { self.repairInterval = span }
    }

    var openToAnyPeer: Bool { self.privacy == "public-network" || self.privacy == "full-public" }
    var allowedPeerCount: Int { self.privacy == "private" ? 0 : self.peers.count }

    func chunker() throws -> FastCDC {
        try FastCDC(minimumSize: self.minimumSize, averageSize: self.averageSize, maximumSize: self.maximumSize)
    }
}
