import Foundation

/// Where a client puts the bytes of a fetched file or blob.
public protocol ByteSink: AnyObject {
    /// Takes the next bytes, in order.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// All bytes arrived.
    func finish() throws
}

/// Collects bytes in memory (for small replies and tests).
public final class MemorySink: ByteSink {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws { self.bytes.append(contentsOf: bytes) }
    public func finish() throws {}
}

/// Writes bytes to a file through a 1 MiB buffer. A regular file appears at its path only when complete
/// (written beside it as `PATH.part`, then renamed); anything else that exists there — `/dev/null`, a pipe,
/// a terminal — is written directly, never replaced.
public final class FileSink: ByteSink {
    public let path: String
    /// Where bytes go until ``finish()``: `PATH.part`, or `nil` when writing straight to a special file.
    private let temporaryPath: String?
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private static let bufferBytes = 1 << 20
    /// Bytes written so far.
    public private(set) var count = 0

    public init(path: String) throws {
        self.path = path
        var status = stat()
        if stat(path, &status) == 0 && status.st_mode & S_IFMT != S_IFREG {
            self.temporaryPath = nil
            self.descriptor = open(path, O_WRONLY | O_CLOEXEC)
        } else {
            self.temporaryPath = path + ".part"
            self.descriptor = open(path + ".part", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        }
        guard self.descriptor >= 0 else {
            throw STOQError.io("\(self.temporaryPath ?? path): \(String(cString: strerror(errno)))")
        }
        self.buffer.reserveCapacity(Self.bufferBytes)
    }

    /// Writes to standard output.
    public init(standardOutput: Void = ()) {
        self.path = "-"
        self.temporaryPath = nil
        self.descriptor = dup(STDOUT_FILENO)
    }

    deinit {
        if self.descriptor >= 0 {
            close(self.descriptor)
            if let temporaryPath = self.temporaryPath { unlink(temporaryPath) }
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        self.count += bytes.count
        self.buffer.append(contentsOf: bytes)
        if self.buffer.count >= Self.bufferBytes { try self.flush() }
    }

    public func finish() throws {
        try self.flush()
        close(self.descriptor)
        self.descriptor = -1
        guard let temporaryPath = self.temporaryPath else { return }
        guard rename(temporaryPath, self.path) == 0 else {
            throw STOQError.io("\(self.path): \(String(cString: strerror(errno)))")
        }
    }

    private func flush() throws {
        try self.buffer.drain(to: self.descriptor, path: self.path)
    }
}

/// Counts bytes and keeps none (benchmarks).
public final class DiscardingSink: ByteSink {
    public private(set) var count = 0
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws { self.count += bytes.count }
    public func finish() throws {}
}
