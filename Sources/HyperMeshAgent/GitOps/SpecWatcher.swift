import Foundation
import HyperMeshCommands
import HyperMeshCore
import HyperMeshSpec
import HyperMeshStore
import Logging
import Metrics
import ServiceLifecycle

/// `hypermesh agent --watch DIR`: applies the specs under each directory whenever they change (inotify,
/// debounced), as one apply set per directory with pruning, so removing a file removes its objects. A
/// directory with any invalid spec applies nothing and the previous state keeps running; the attempt,
/// with every `file:line:col` problem, is recorded for `hypermesh get sync`. In a git work tree the
/// commit id is recorded too.
final class SpecWatcher: Service, @unchecked Sendable {
    /// Changes closer together than this are applied once.
    static let debounce: Duration = .milliseconds(300)

    private let lock = NSLock()
    private var watchedDirectories: [URL]
    private var directories: [URL] { self.lock.withLock { self.watchedDirectories } }
    private let store: StateStore
    private let state: AgentState
    private let logger: Logger

    init(directories: [URL], store: StateStore, state: AgentState, logger: Logger) {
        self.watchedDirectories = directories.map { $0.standardizedFileURL }
        self.store = store
        self.state = state
        self.logger = logger
    }

    /// The apply set a watched directory's objects belong to.
    static func applyset(for directory: URL) -> String { "watch:" + directory.standardizedFileURL.path }

    /// Replaces the list of directories (SIGHUP with a changed configuration); new ones are watched at once.
    func update(directories: [URL]) {
        self.lock.withLock { self.watchedDirectories = directories.map { $0.standardizedFileURL } }
    }

    func run() async throws {
        let watch = try DirectoryWatch()
        var watching: Set<URL> = []
        func watchNewDirectories() {
            for directory in self.directories where !watching.contains(directory) {
                do {
                    try watch.add(root: directory)
                    watching.insert(directory)
                } catch {
                    self.logger.error("Cannot watch directory", metadata: ["directory": "\(directory.path)", "error": "\(error)"])
                }
            }
        }
        watchNewDirectories()
        self.syncAll()
        var dirty: Set<URL> = []
        var lastChange = ContinuousClock.now
        while !(Task.isCancelled || Task.isShuttingDownGracefully) {
            watchNewDirectories()
            let changed = watch.changedRoots(timeoutMilliseconds: 50)
            if !changed.isEmpty {
                dirty.formUnion(changed)
                lastChange = ContinuousClock.now
            } else if !dirty.isEmpty && ContinuousClock.now - lastChange >= Self.debounce {
                let current = Set(self.directories)
                for directory in dirty.sorted(by: { $0.path < $1.path }) where current.contains(directory) { self.sync(directory) }
                dirty = []
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Applies every watched directory (at start and on SIGHUP).
    func syncAll() {
        for directory in self.directories { self.sync(directory) }
    }

    func sync(_ directory: URL) {
        let revision = Self.gitRevision(of: directory)
        let attempted = Date()
        do {
            let files = try Self.specFiles(under: directory)
            let documents = files.isEmpty ? [] : try SpecLoading.load(paths: files)
            let changes = try self.store.apply(documents.map(\.desired),
                                               options: ApplyOptions(applyset: Self.applyset(for: directory), prune: true))
            let counts = Dictionary(grouping: changes, by: \.action).mapValues(\.count)
            let message = "\(documents.count) objects: \(counts[.created] ?? 0) created, \(counts[.configured] ?? 0) configured, "
                + "\(counts[.pruned] ?? 0) pruned"
            try self.store.recordSync(SyncRecord(source: directory.path, revision: revision, attemptedAt: attempted,
                                                 appliedAt: attempted, appliedRevision: revision, result: .applied,
                                                 message: message, errors: []))
            Counter(label: "hypermesh_applies_total", dimensions: [("source", "watch"), ("result", "applied")]).increment()
            let changed = changes.filter { $0.action != .unchanged }.map(\.key)
            if !changed.isEmpty {
                self.logger.info("Applied watched directory", metadata: [
                    "directory": "\(directory.path)", "revision": "\(revision ?? "-")", "changes": "\(message)",
                ])
                self.state.wake(changed)
            }
        } catch {
            let errors: [String]
            if let failure = error as? SpecValidationFailure {
                errors = failure.diagnostics.map(\.description)
            } else {
                errors = ["\(error)"]
            }
            let message = "not applied: \(errors.count) problem\(errors.count == 1 ? "" : "s"); the previous state stands"
            self.logger.error("Watched directory not applied", metadata: [
                "directory": "\(directory.path)", "revision": "\(revision ?? "-")", "reason": "\(errors.first ?? "")",
            ])
            Counter(label: "hypermesh_applies_total", dimensions: [("source", "watch"), ("result", "failed")]).increment()
            try? self.store.recordSync(SyncRecord(source: directory.path, revision: revision, attemptedAt: attempted,
                                                  appliedAt: nil, appliedRevision: nil, result: .failed,
                                                  message: message, errors: errors))
        }
    }

    /// `*.yaml`/`*.yml` below `directory`, sorted, skipping hidden files and directories (`.git`).
    static func specFiles(under directory: URL) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HyperMeshError.notFound("\(directory.path): no such directory")
        }
        guard let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil,
                                                              options: [.skipsHiddenFiles]) else { return [] }
        var files: [String] = []
        for case let url as URL in enumerator where ["yaml", "yml"].contains(url.pathExtension) {
            files.append(url.path)
        }
        return files.sorted()
    }

    /// `git rev-parse HEAD` when `directory` is inside a git work tree.
    static func gitRevision(of directory: URL) -> String? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/git") else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", directory.path, "rev-parse", "HEAD"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.count == 40 || text.count == 64 ? text : nil
    }
}
