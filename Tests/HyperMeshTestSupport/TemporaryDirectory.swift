import Foundation

/// A fresh directory under the system temporary folder, removed by ``remove()``.
public struct TemporaryDirectory: Sendable {
    public let url: URL
    public var path: String { self.url.path }

    public init(prefix: String = "hypermesh-test") throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        self.url = url
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        let file = self.url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
        return file.path
    }

    public func remove() {
        try? FileManager.default.removeItem(at: self.url)
    }
}

/// Where the package's own files are, for tests that read Examples/ or Specs/.
public enum PackageLayout {
    /// The package root: three levels above this file (Tests/HyperMeshTestSupport/…).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The built `hypermesh` binary, next to the test bundle.
    public static var binary: URL {
        if let override = ProcessInfo.processInfo.environment["HYPERMESH_BIN"] { return URL(fileURLWithPath: override) }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for candidate in [beside, beside.deletingLastPathComponent(), root.appendingPathComponent(".build/debug")] {
            let binary = candidate.appendingPathComponent("hypermesh")
            if FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        }
        return root.appendingPathComponent(".build/debug/hypermesh")
    }
}
