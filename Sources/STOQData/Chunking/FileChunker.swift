import Foundation
import HyperMeshCore

/// Reads a file as a stream and cuts it with FastCDC — the same cut points as chunking the whole file at
/// once, in bounded memory — hashing each chunk once. A file that changes while it is read, or within
/// `quietPeriod` after its last modification (the reader waits that out), is refused with `conflict`.
public struct FileChunker: Sendable {
    public let chunker: FastCDC
    /// Seconds a file must have been left alone before it is read (0: read at once).
    public let quietPeriod: TimeInterval

    /// Bytes read at a time (plus one largest chunk carried over).
    static let readBytes = 8 << 20

    public init(chunker: FastCDC, quietPeriod: TimeInterval = 0) {
        self.chunker = chunker
        self.quietPeriod = quietPeriod
    }

    /// Reads and chunks the file at `path`, handing each chunk to `visit`; returns its manifest.
    ///
    /// - Throws: ``HyperMeshError`` `io` when it cannot be read; `conflict` when its size or modification
    ///   time moved while it was read or during the ``quietPeriod`` after its last modification, so a
    ///   half-written file is never taken for a version.
    public func chunk(_ path: String, now: Date = Date(),
                      _ visit: (ContentID, UnsafeRawBufferPointer) throws -> Void = { _, _ in }) throws -> FileManifest {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw HyperMeshError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var before = stat()
        guard fstat(descriptor, &before) == 0 else { throw HyperMeshError.io("cannot stat \(path): \(String(cString: strerror(errno)))") }
        let age = now.timeIntervalSince1970 - (Double(before.st_mtim.tv_sec) + Double(before.st_mtim.tv_nsec) / 1e9)
        if age < self.quietPeriod {
            // A writer that truncates and rewrites in place shows an empty or partial file for a moment: wait
            // out the quiet period, and give up on this version if the file moved meanwhile.
            Thread.sleep(forTimeInterval: self.quietPeriod - max(age, 0))
            var again = stat()
            guard fstat(descriptor, &again) == 0, again.st_size == before.st_size, again.st_mtim.tv_sec == before.st_mtim.tv_sec,
                  again.st_mtim.tv_nsec == before.st_mtim.tv_nsec else {
                throw HyperMeshError.conflict("\(path) is being written; it is read once writes settle")
            }
        }
        posix_fadvise(descriptor, 0, 0, POSIX_FADV_SEQUENTIAL)
        var entries: [FileManifest.Entry] = []
        var total = 0
        var buffer = [UInt8](repeating: 0, count: Self.readBytes + self.chunker.maximumSize)
        try buffer.withUnsafeMutableBytes { raw in
            var start = 0
            var end = 0
            var atEnd = false
            while true {
                while !atEnd && end < raw.count {
                    let count = read(descriptor, raw.baseAddress! + end, raw.count - end)
                    if count < 0 && errno == EINTR { continue }
                    guard count >= 0 else { throw HyperMeshError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
                    if count == 0 { atEnd = true } else { end += count }
                }
                while end - start >= self.chunker.maximumSize || (atEnd && start < end) {
                    let length = self.chunker.cut(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                    let chunk = UnsafeRawBufferPointer(rebasing: raw[start..<start + length])
                    let id = ContentID(of: chunk)
                    try visit(id, chunk)
                    entries.append(FileManifest.Entry(id: id, size: length))
                    start += length
                    total += length
                }
                if atEnd { break }
                memmove(raw.baseAddress!, raw.baseAddress! + start, end - start)
                end -= start
                start = 0
            }
        }
        var after = stat()
        guard fstat(descriptor, &after) == 0, after.st_size == before.st_size, Int64(total) == Int64(before.st_size),
              after.st_mtim.tv_sec == before.st_mtim.tv_sec, after.st_mtim.tv_nsec == before.st_mtim.tv_nsec else {
            throw HyperMeshError.conflict("\(path) changed while it was read; it is read again once writes settle")
        }
        return FileManifest(chunks: entries)
    }
}
