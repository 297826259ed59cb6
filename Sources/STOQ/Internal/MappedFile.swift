import Foundation

/// A file mapped read-only, shared by the stream segments that send it; unmapped when the last is released.
enum MappedFile {
    /// Maps the regular file at `path`; `nil` bytes for an empty file.
    static func map(path: String) throws -> (bytes: OwnedBytes?, size: Int) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw STOQError.notFound("\(path): no such file") }
            throw STOQError.io("\(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw STOQError.io("\(path): \(String(cString: strerror(errno)))") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw STOQError.notFound("\(path): not a regular file") }
        let size = Int(status.st_size)
        guard size > 0 else { return (nil, 0) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw STOQError.io("\(path): mmap: \(String(cString: strerror(errno)))")
        }
        madvise(base, size, MADV_SEQUENTIAL)
        let owner = OwnedBytes(base: UnsafeRawPointer(base), count: size) { munmap(base, size) }
        return (owner, size)
    }
}

/// Streams a mapped file into a ``QUICStream`` a slice at a time, as the stream asks for more, optionally
/// wrapped in `stoq/1` data frames.
final class FileOutput {
    static let sliceBytes = 1 << 20
    private let bytes: OwnedBytes?
    private let size: Int
    private let framed: Bool
    private var offset = 0

    init(bytes: OwnedBytes?, size: Int, framed: Bool) {
        self.bytes = bytes
        self.size = size
        self.framed = framed
    }

    /// Queues the next slices until the stream has enough; finishes the stream after the last byte.
    func refill(_ stream: QUICStream) {
        while stream.wantsOutput {
            guard let bytes = self.bytes, self.offset < self.size else {
                stream.finish()
                return
            }
            let count = min(Self.sliceBytes, self.size - self.offset)
            if self.framed { stream.write(copying: Frame.header(.data, length: count)) }
            stream.write(bytes, start: self.offset, count: count)
            self.offset += count
        }
    }
}
