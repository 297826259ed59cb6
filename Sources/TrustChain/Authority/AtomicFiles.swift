import Foundation
import HyperMeshCore

/// Writes groups of files so a reader sees all old or all new contents, never a mix or a half
/// file: every file goes to a temporary name in the same directory first, then each is renamed.
public enum AtomicFiles {
    public struct Entry: Sendable {
        public var name: String
        public var contents: String
        public var mode: Int

        public init(name: String, contents: String, mode: Int) {
            self.name = name
            self.contents = contents
            self.mode = mode
        }
    }

    /// Writes `entries` into `directory` (created 0700 if missing).
    ///
    /// - Throws: ``HyperMeshError`` `io` naming the directory, leaving no temporary file behind.
    public static func write(_ entries: [Entry], into directory: URL) throws {
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw HyperMeshError.io("cannot create \(directory.path): \(Self.reason(error))")
        }
        let token = UUID().uuidString.prefix(8)
        var temporaries: [(URL, URL)] = []
        defer { for (temporary, _) in temporaries { try? manager.removeItem(at: temporary) } }
        for entry in entries {
            let final = directory.appendingPathComponent(entry.name)
            let temporary = directory.appendingPathComponent(".\(entry.name).\(token).tmp")
            guard manager.createFile(atPath: temporary.path, contents: Data(entry.contents.utf8),
                                     attributes: [.posixPermissions: entry.mode]) else {
                throw HyperMeshError.io("cannot write into \(directory.path): \(String(cString: strerror(errno)))")
            }
            temporaries.append((temporary, final))
        }
        for (temporary, final) in temporaries {
            guard rename(temporary.path, final.path) == 0 else {
                throw HyperMeshError.io("cannot rename into \(final.path): \(String(cString: strerror(errno)))")
            }
        }
        temporaries.removeAll()
    }

    static func reason(_ error: any Error) -> String {
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }
}
