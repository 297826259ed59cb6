import Foundation
import HyperMeshCore
import HyperMeshStore
import Logging

/// Turns one kind's desired state into actual state, as a controller-runtime reconciler.
///
/// ``reconcile(_:context:)`` gets the object as stored now (level-triggered), must be
/// idempotent, and returns the status it observed. Throwing means "try again later": the
/// framework backs off per key and records the error in the object's conditions.
public protocol Controller: Sendable {
    /// The kind this controller owns.
    var kind: Kind { get }

    /// Brings the world toward `object.spec` and reports what it observed.
    func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult

    /// Releases everything ``reconcile(_:context:)`` allocated for `object`; runs before a
    /// deleted object disappears from the store (a finalizer). Must be idempotent.
    func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws
}

extension Controller {
    public func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {}
}

/// What a reconcile observed, and when it wants to run again.
public struct ReconcileResult: Sendable {
    /// Kind-specific status fields and conditions; the framework sets `observedGeneration`.
    public var status: ObjectStatus
    /// Run again after this long (e.g. before a certificate's renewal time); `nil`: only on change.
    public var requeueAfter: TimeSpan?
    /// Other objects whose status depends on this one (a claim's pool): reconciled next in the same pass.
    public var related: [ResourceKey]

    public init(status: ObjectStatus, requeueAfter: TimeSpan? = nil, related: [ResourceKey] = []) {
        self.status = status
        self.requeueAfter = requeueAfter
        self.related = related
    }
}

/// What a controller can use besides the object.
public struct ReconcileContext: Sendable {
    /// The state directory, for controllers that keep files (node keys, certificates).
    public var stateDirectory: URL
    public var logger: Logger
    public var events: EventRecorder
    /// The store, for controllers that read other objects (a pool's claims).
    public var store: StateStore

    public init(stateDirectory: URL, logger: Logger, events: EventRecorder, store: StateStore) {
        self.stateDirectory = stateDirectory
        self.logger = logger
        self.events = events
        self.store = store
    }
}

/// Records events about objects into the store, as `describe` shows them.
public struct EventRecorder: Sendable {
    let store: StateStore
    let logger: Logger

    public init(store: StateStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Records an event; a failure to record is logged, never thrown, so it cannot fail a reconcile.
    public func record(_ key: ResourceKey, _ type: StoredEvent.EventType, reason: String, message: String) {
        do {
            try self.store.recordEvent(key, type: type, reason: reason, message: message)
        } catch {
            self.logger.warning("Cannot record event", metadata: ["object": "\(key)", "reason": "\(reason)", "error": "\(error)"])
        }
    }
}

extension ObjectStatus {
    /// A status whose Ready condition says `status` with `reason`.
    public static func ready(_ status: Condition.Status, reason: String, message: String, generation: Int64,
                             fields: [String: JSONValue] = [:]) -> ObjectStatus
    {
        ObjectStatus(observedGeneration: generation, fields: fields, conditions: [
            Condition(type: Condition.ready, status: status, reason: reason, message: message, observedGeneration: generation),
        ])
    }
}

/// Thrown by ``Controller/cleanUp(_:context:)`` when a deletion must wait for something else to go first
/// (a pool's bound claims): not a failure. The object shows `Ready=False` with reason `Terminating` and the
/// message, logs at info, not as a warning, and is retried with the same backoff as a failure — and at once
/// when the last of `blockers` is removed, rather than when its backoff ends.
public struct CleanupWaiting: Error, CustomStringConvertible {
    public let description: String
    /// The objects whose removal it waits for.
    public let blockers: [ResourceKey]

    public init(_ description: String, waitingFor blockers: [ResourceKey] = []) {
        self.description = description
        self.blockers = blockers
    }
}
