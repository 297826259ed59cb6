import CSystemd
import Foundation

/// inotify over directory trees: one watch per directory (hidden ones such as `.git` skipped), new
/// subdirectories watched as they appear. Reports which root had changes.
final class DirectoryWatch {
    private let descriptor: Int32
    private var roots: [Int32: URL] = [:]
    private var directories: [Int32: URL] = [:]
    private static let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB)

    init() throws {
        self.descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard self.descriptor >= 0 else { throw WatchError("inotify_init1: \(String(cString: strerror(errno)))") }
    }

    deinit { close(self.descriptor) }

    struct WatchError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Watches `root` and every non-hidden directory below it.
    func add(root: URL) throws {
        try self.addTree(root, root: root)
    }

    private func addTree(_ directory: URL, root: URL) throws {
        let watch = inotify_add_watch(self.descriptor, directory.path, Self.mask)
        guard watch >= 0 else { throw WatchError("\(directory.path): \(String(cString: strerror(errno)))") }
        self.roots[watch] = root
        self.directories[watch] = directory
        let children = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.isDirectoryKey])) ?? []
        for child in children where !child.lastPathComponent.hasPrefix(".") {
            if (try? child.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                try? self.addTree(child, root: root)
            }
        }
    }

    /// Waits up to `timeoutMilliseconds` and returns the roots under which something changed.
    func changedRoots(timeoutMilliseconds: Int32) -> Set<URL> {
        var poller = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return [] }
        var changed: Set<URL> = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(self.descriptor, &buffer, buffer.count)
            guard count > 0 else { break }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let event = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: inotify_event.self) }
                let nameStart = offset + MemoryLayout<inotify_event>.size
                let nameBytes = buffer[nameStart..<min(count, nameStart + Int(event.len))].prefix { $0 != 0 }
                let name = String(decoding: nameBytes, as: UTF8.self)
                offset = nameStart + Int(event.len)
                guard let root = self.roots[event.wd], !name.hasPrefix(".") || name.isEmpty else { continue }
                changed.insert(root)
                if event.mask & UInt32(IN_ISDIR) != 0 && event.mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0,
                   let parent = self.directories[event.wd] {
                    try? self.addTree(parent.appendingPathComponent(name), root: root)
                }
            }
        }
        return changed
    }
}
