import Crypto
import Foundation
import HyperMeshCore

/// `sha256:<64 hex>` digests, as OCI names blobs.
public enum ImageDigest {
    public static func isValid(_ digest: String) -> Bool {
        guard digest.hasPrefix("sha256:") else { return false }
        let hex = digest.dropFirst(7)
        return hex.count == 64 && hex.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }

    /// The 64 hex digits of a valid digest.
    static func hex(_ digest: String) -> String {
        precondition(self.isValid(digest), "not a sha256 digest: \(digest)")
        return String(digest.dropFirst(7))
    }

    /// The digest of a file's bytes, read in 1 MiB pieces.
    static func ofFile(_ path: String) throws -> (digest: String, size: Int64) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw HyperMeshError.io("cannot read \(path)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
            hasher.update(data: data)
            size += Int64(data.count)
        }
        return (self.of(digest: hasher.finalize()), size)
    }

    static func of(data: Data) -> String { self.of(digest: SHA256.hash(data: data)) }

    private static func of(digest: SHA256.Digest) -> String {
        "sha256:" + digest.map { String(format: "%02x", $0) }.joined()
    }
}
