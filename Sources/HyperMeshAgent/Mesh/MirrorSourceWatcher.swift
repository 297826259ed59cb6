import Foundation
import HyperMeshCore
import HyperMeshStore
import Logging
import ServiceLifecycle

/// Watches the source of every `MirrorPolicy` (inotify over the tree; a single-file source through its
/// directory) and wakes the policy's reconcile when something in it changes, after the writes settle — so a
/// change is mirrored within seconds instead of at the next `repairInterval`. A source that does not exist
/// yet is looked for again every second.
final class MirrorSourceWatcher: Service {
    /// Changes closer together than this wake the policy once.
    static let settle: Duration = .seconds(1)

    private let store: StateStore
    private let state: AgentState
    private let logger: Logger

    init(store: StateStore, state: AgentState, logger: Logger) {
        self.store = store
        self.state = state
        self.logger = logger
    }

    func run() async throws {
        let watch = try DirectoryWatch()
        var watched: [URL: Set<ResourceKey>] = [:]
        var pending: Set<ResourceKey> = []
        var lastChange = ContinuousClock.now
        var lastRefresh = ContinuousClock.now - .seconds(10)
        while !(Task.isCancelled || Task.isShuttingDownGracefully) {
            if ContinuousClock.now - lastRefresh >= .seconds(1) {
                lastRefresh = ContinuousClock.now
                watched = self.refresh(watch, watched: watched)
            }
            let changed = watch.changedRoots(timeoutMilliseconds: 50)
            if !changed.isEmpty {
                for root in changed { pending.formUnion(watched[root] ?? []) }
                lastChange = ContinuousClock.now
            } else if !pending.isEmpty && ContinuousClock.now - lastChange >= Self.settle {
                self.logger.info("Mirror source changed", metadata: ["policies": "\(pending.map(\.name).sorted())"])
                self.state.wake(Array(pending))
                pending = []
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Adds a watch for each policy source not watched yet; returns which policies each watched root serves.
    private func refresh(_ watch: DirectoryWatch, watched: [URL: Set<ResourceKey>]) -> [URL: Set<ResourceKey>] {
        var result = watched
        guard let policies = try? self.store.objects(of: .mirrorPolicy) else { return result }
        for policy in policies where policy.deletionRequestedAt == nil {
            guard let source = policy.spec["source"]?.stringValue else { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else { continue }
            let root = URL(fileURLWithPath: source).standardizedFileURL
            let directory = isDirectory.boolValue ? root : root.deletingLastPathComponent()
            if result[directory] == nil {
                do {
                    try watch.add(root: directory)
                    self.logger.debug("Watching mirror source", metadata: ["source": "\(directory.path)"])
                } catch {
                    self.logger.warning("Cannot watch mirror source", metadata: ["source": "\(directory.path)", "error": "\(error)"])
                    continue
                }
            }
            result[directory, default: []].insert(policy.key)
        }
        return result
    }
}
