import Foundation
import HyperMeshCore

/// A claim's storage with its size enforced by the kernel: an ext4 filesystem in an image file
/// of exactly the claimed size, loop-mounted on the claim's directory. Writes past the size
/// fail with ENOSPC.
public struct LoopImageVolume: Sendable, Hashable {
    /// Where the claim's data appears.
    public var mountPoint: String
    /// The image file holding the filesystem.
    public var imagePath: String
    public var sizeBytes: Int64

    /// The smallest image mkfs.ext4 makes a usable filesystem of.
    public static let minimumSizeBytes: Int64 = 8 << 20

    public init(mountPoint: String, imagePath: String, sizeBytes: Int64) {
        self.mountPoint = mountPoint
        self.imagePath = imagePath
        self.sizeBytes = sizeBytes
    }

    /// Why this host cannot enforce storage with loop images, or `nil` when it can.
    public static func unavailabilityReason() -> String? {
        if geteuid() != 0 { return "loop mounts need root" }
        if !FileManager.default.fileExists(atPath: "/dev/loop-control") { return "no /dev/loop-control" }
        for tool in ["/usr/sbin/mkfs.ext4", "/usr/bin/mount", "/usr/bin/umount"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing"
        }
        return nil
    }

    /// Whether the volume is mounted now.
    public var isMounted: Bool {
        guard let mounts = FileManager.default.contents(atPath: "/proc/self/mounts") else { return false }
        let target = URL(fileURLWithPath: self.mountPoint).standardizedFileURL.path
        return String(decoding: mounts, as: UTF8.self).split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 1 && fields[1].replacingOccurrences(of: "\\040", with: " ") == target
        }
    }

    /// Creates the image (once), the filesystem, and mounts it. Idempotent.
    public func provision() throws {
        guard !self.isMounted else { return }
        precondition(self.sizeBytes >= Self.minimumSizeBytes, "callers check the minimum size")
        let manager = FileManager.default
        try? manager.createDirectory(atPath: (self.imagePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                     attributes: [.posixPermissions: 0o700])
        try? manager.createDirectory(atPath: self.mountPoint, withIntermediateDirectories: true)
        if !manager.fileExists(atPath: self.imagePath) {
            let descriptor = open(self.imagePath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw HyperMeshError.io("cannot create \(self.imagePath): \(String(cString: strerror(errno)))") }
            let resized = ftruncate(descriptor, off_t(self.sizeBytes))
            close(descriptor)
            guard resized == 0 else {
                unlink(self.imagePath)
                throw HyperMeshError.io("cannot size \(self.imagePath): \(String(cString: strerror(errno)))")
            }
            do {
                try Self.run("/usr/sbin/mkfs.ext4", ["-q", "-F", "-m", "0", self.imagePath])
            } catch {
                unlink(self.imagePath)
                throw error
            }
        }
        try Self.run("/usr/bin/mount", ["-o", "loop,nodev,nosuid", self.imagePath, self.mountPoint])
    }

    /// Unmounts and deletes the image. Idempotent.
    public func release() throws {
        if self.isMounted { try Self.run("/usr/bin/umount", [self.mountPoint]) }
        try? FileManager.default.removeItem(atPath: self.imagePath)
        rmdir(self.mountPoint)
    }

    /// Bytes used inside the volume.
    public func usedBytes() throws -> Int64 {
        var stats = statvfs()
        guard statvfs(self.mountPoint, &stats) == 0 else { throw HyperMeshError.io("statvfs \(self.mountPoint) failed") }
        return Int64(stats.f_blocks - stats.f_bfree) * Int64(stats.f_frsize)
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { throw HyperMeshError.io("cannot run \(tool): \(error)") }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HyperMeshError.io("\(tool) \(arguments.joined(separator: " ")) failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
