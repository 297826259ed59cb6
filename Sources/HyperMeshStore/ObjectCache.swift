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

    public let kind: Kind
    /// The entry is made from the spec and deletion mark alone: a status write does not make it again, and
    /// the cache reads only the objects whose ``SpecMark`` moved.
    public let entryFollowsSpecOnly: Bool
    private let makeEntry: @Sendable (StoredObject) -> Entry
    private let group: (@Sendable (StoredObject) -> String?)?
    private let lock = NSLock()
    private var snapshot = Snapshot()
    private var cursor: ChangeCursor?

    /// - Parameters:
    ///   - makeEntry: what to keep of an object; runs once per change of it.
    ///   - group: the group an object is filed under, if any.
    ///   - entryFollowsSpecOnly: `makeEntry` and `group` read nothing but the spec and the deletion mark.
    public init(kind: Kind, entryFollowsSpecOnly: Bool = false, group: (@Sendable (StoredObject) -> String?)? = nil,
                makeEntry: @escaping @Sendable (StoredObject) -> Entry)
    {
        self.kind = kind
        self.entryFollowsSpecOnly = entryFollowsSpecOnly
        self.group = group
        self.makeEntry = makeEntry
    }

    /// Brings the cache up to date with `store`, then runs `body` on it (under the cache's lock: keep it short
    /// and do no I/O in it).
    public func withSnapshot<T>(from store: StateStore, _ body: (Snapshot) throws -> T) throws -> T {
        try self.lock.withLock {
            if self.entryFollowsSpecOnly {
                try self.applySpecChanges(from: store)
            } else {
                self.apply(try store.changes(of: self.kind, since: self.cursor))
            }
            return try body(self.snapshot)
        }
    }

    /// Reads the marks of what changed, then only the objects whose spec or deletion mark moved.
    private func applySpecChanges(from store: StateStore) throws {
        let marks = try store.specMarkChanges(of: self.kind, since: self.cursor)
        let stale = marks.changed.filter { marks.isFullListing || self.snapshot.specMarks[$0.name] != $0.mark }
        let objects = marks.isFullListing ? try store.objects(of: self.kind)
            : try store.objects(stale.map { ResourceKey(kind: self.kind, name: $0.name) })
        // Objects gone between the two reads are in the next read's removals.
        self.apply(ObjectChanges(isFullListing: marks.isFullListing, changed: objects, removed: marks.removed, cursor: marks.cursor))
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
