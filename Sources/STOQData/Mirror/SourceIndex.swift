import Foundation
import HyperMeshCore

/// What the last scan of a source saw of each file — size, modification and change times, inode — so an
/// unchanged file is not read again (as git's index and rsync's quick check do). A file modified within
/// ``racyWindow`` of its scan gets no stamp, so a write in the same clock tick is never missed.
public struct SourceIndex: Sendable, Codable, Equatable {
    public struct Stamp: Sendable, Codable, Hashable {
        public var size: Int64
        public var modified: Int64
        public var changed: Int64
        public var inode: UInt64
    }

    /// The chunker the stamped files were cut with; another one means every file is read again.
    public var chunker: String
    public var files: [String: Stamp]

    public static let racyWindow: Int64 = 2_000_000_000

    public init(chunker: FastCDC, files: [String: Stamp] = [:]) {
        self.chunker = Self.describe(chunker)
        self.files = files
    }

    static func describe(_ chunker: FastCDC) -> String {
        "fastcdc-\(chunker.minimumSize)-\(chunker.averageSize)-\(chunker.maximumSize)-\(chunker.normalization)"
    }

    /// The stamp of the file at `path` now; `nil` when it cannot be read or was modified too recently to trust.
    public static func stamp(of path: String, scannedAt now: Date) -> Stamp? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        let modified = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
        let changed = Int64(status.st_ctim.tv_sec) * 1_000_000_000 + Int64(status.st_ctim.tv_nsec)
        let scan = Int64(now.timeIntervalSince1970 * 1e9)
        guard scan - modified > Self.racyWindow else { return nil }
        return Stamp(size: Int64(status.st_size), modified: modified, changed: changed, inode: UInt64(status.st_ino))
    }

    /// Reads an index; `nil` when there is none or it cannot be decoded (the next scan reads every file).
    public static func load(from url: URL) -> SourceIndex? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return try? JSONDecoder().decode(SourceIndex.self, from: data)
    }

    public func save(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try encoder.encode(self).write(to: url, options: .atomic)
        } catch {
            throw HyperMeshError.io("cannot write source index \(url.path)", cause: error)
        }
    }
}
