import Foundation
import HyperMeshCore

/// A process-local copy of every object of one kind, kept current by reading only what changed
/// (``StateStore/changes(of:since:)``), as a Kubernetes informer's cache: controllers that need "all
/// pools" or "the claims of this pool" read it instead of the whole kind on every reconcile.
///
/// Each object is held as an `Entry` made once per change of the object (a parsed offer, a parsed
/// request), optionally filed under a group (a claim's pool). ``specVersion`` changes only when an
/// object appears, goes, or gets a new generation or deletion mark, so aggregates over specs (what all
/// pools offer) can be kept until it moves.
public final class ObjectCache<Entry: Sendable>: @unchecked Sendable {
    /// What the cache holds, read inside ``withSnapshot(from:_:)``.
    public struct Snapshot {
        public fileprivate(set) var entries: [String: Entry] = [:]
        public fileprivate(set) var groups: [String: Set<String>] = [:]
        /// Bumped when an object appears, goes, or changes its generation or deletion mark.
        public fileprivate(set) var specVersion = 0
        fileprivate var specMarks: [String: SpecMark] = [:]
        fileprivate var groupOf: [String: String] = [:]

        /// The entries filed under `group`.
        public func entries(inGroup group: String) -> [Entry] {
            (self.groups[group] ?? []).compactMap { self.entries[$0] }
        }
    }

    fileprivate struct SpecMark: Equatable {
        var generation: Int64
        var deleting: Bool
    }

    public let kind: Kind
    private let makeEntry: @Sendable (StoredObject) -> Entry
    private let group: (@Sendable (StoredObject) -> String?)?
    private let lock = NSLock()
    private var snapshot = Snapshot()
    private var cursor: ChangeCursor?

    /// - Parameters:
    ///   - makeEntry: what to keep of an object; runs once per change of it.
    ///   - group: the group an object is filed under, if any.
    public init(kind: Kind, group: (@Sendable (StoredObject) -> String?)? = nil,
                makeEntry: @escaping @Sendable (StoredObject) -> Entry)
    {
        self.kind = kind
        self.group = group
        self.makeEntry = makeEntry
    }

    /// Brings the cache up to date with `store`, then runs `body` on it (under the cache's lock: keep it short
    /// and do no I/O in it).
    public func withSnapshot<T>(from store: StateStore, _ body: (Snapshot) throws -> T) throws -> T {
        try self.lock.withLock {
            let changes = try store.changes(of: self.kind, since: self.cursor)
            self.apply(changes)
            return try body(self.snapshot)
        }
    }

    private func apply(_ changes: ObjectChanges) {
        var specChanged = false
        if changes.isFullListing {
            let previous = self.snapshot.specVersion
            self.snapshot = Snapshot()
            self.snapshot.specVersion = previous
            specChanged = true
        }
        for name in changes.removed where self.snapshot.entries[name] != nil {
            self.snapshot.entries[name] = nil
            self.snapshot.specMarks[name] = nil
            if let group = self.snapshot.groupOf.removeValue(forKey: name) { self.snapshot.groups[group]?.remove(name) }
            specChanged = true
        }
        for object in changes.changed {
            let name = object.key.name
            let mark = SpecMark(generation: object.generation, deleting: object.deletionRequestedAt != nil)
            if self.snapshot.specMarks[name] != mark { specChanged = true }
            self.snapshot.specMarks[name] = mark
            self.snapshot.entries[name] = self.makeEntry(object)
            let newGroup = self.group?(object)
            let oldGroup = self.snapshot.groupOf[name]
            if newGroup != oldGroup {
                if let oldGroup { self.snapshot.groups[oldGroup]?.remove(name) }
                if let newGroup { self.snapshot.groups[newGroup, default: []].insert(name) }
                self.snapshot.groupOf[name] = newGroup
            }
        }
        if specChanged { self.snapshot.specVersion &+= 1 }
        self.cursor = changes.cursor
    }
}
