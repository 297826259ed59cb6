import Foundation
import HyperMeshControllers
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshSpec
import HyperMeshStore
import Logging

/// The state directory opened for one command: the store and the controllers over it.
public struct Workspace: Sendable {
    public let store: StateStore
    public let logger: Logger

    public init(stateDirectory: URL, logger: Logger) throws {
        self.store = try StateStore(directory: stateDirectory)
        self.logger = logger
    }

    /// Runs one reconcile pass (of `keys`, or of everything) with the standard controllers.
    public func reconcile(only keys: [ResourceKey]? = nil, deadline: Duration = .seconds(60)) async throws -> PassSummary {
        let reconciler = Reconciler(store: self.store, controllers: StandardControllers.all(), logger: self.logger)
        return try await reconciler.runPass(only: keys, deadline: deadline)
    }

    /// Reconciles `keys` until each is Ready=True or `timeout` passes; returns those still not ready.
    public func waitUntilReady(_ keys: [ResourceKey], timeout: Duration) async throws -> [StoredObject] {
        let clock = ContinuousClock()
        let stopAt = clock.now + timeout
        var pending = keys
        while true {
            // Ready ones are found in SQLite; only the others are decoded (for their next reconcile time).
            let ready = try self.store.readyKeys()
            let notReady = try self.store.objects(pending.filter { !ready.contains($0) })
            if notReady.isEmpty || clock.now >= stopAt { return notReady }
            let nextDue = notReady.compactMap(\.nextReconcileAt).min().map { max(0, $0.timeIntervalSinceNow) } ?? 1
            try await clock.sleep(until: min(stopAt, clock.now + .milliseconds(Int64(min(nextDue, 1) * 1000) + 10)))
            pending = notReady.map(\.key)
            _ = try await self.reconcile(only: pending, deadline: .seconds(10))
        }
    }
}

/// The input had problems; every one of them is listed.
public struct SpecValidationFailure: Error, Sendable {
    public var diagnostics: [SpecDiagnostic]

    public init(diagnostics: [SpecDiagnostic]) { self.diagnostics = diagnostics }
}

/// Reads and decodes `-f` paths for apply, diff, validate and delete.
public enum SpecLoading {
    /// Decodes every input; throws ``SpecValidationFailure`` listing all problems when any exist.
    public static func load(paths: [String]) throws -> [SpecDocument] {
        let result = SpecDecoder().decode(try SpecInput.read(paths: paths))
        guard result.isValid else { throw SpecValidationFailure(diagnostics: result.diagnostics) }
        return result.documents
    }
}

extension SpecDocument {
    /// What the store keeps of this document.
    public var desired: DesiredObject { DesiredObject(key: self.key, labels: self.labels, spec: self.spec) }
}
