import Foundation
import HyperMeshCore
import HyperMeshStore
import HyperMeshTestSupport
import Testing

/// The change feed and the cache over it: every write and removal is seen once, a reader too far
/// behind gets a full listing, and the cache equals a fresh read of the kind after any sequence of writes.
struct ObjectCacheTests {
    static func pool(_ name: String, cores: String = "4", pool: String? = nil) -> DesiredObject {
        var spec: JSONValue = ["privacy": "private", "cpu": ["cores": .string(cores)]]
        if let pool { spec = ["pool": .string(pool), "cpu": .string(cores)] }
        return DesiredObject(key: ResourceKey(kind: pool == nil ? .resourcePool : .claim, name: name), labels: [:], spec: spec)
    }

    func withStore(_ body: (StateStore) throws -> Void) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try body(try StateStore(directory: directory.url.appendingPathComponent("state")))
    }

    @Test func changesListsFirstThenOnlyWhatWasWrittenOrRemoved() throws {
        try withStore { store in
            try store.apply([Self.pool("a"), Self.pool("b"), Self.pool("c", pool: "a")])
            let first = try store.changes(of: .resourcePool, since: nil)
            #expect(first.isFullListing)
            #expect(first.changed.map(\.key.name).sorted() == ["a", "b"])
            let quiet = try store.changes(of: .resourcePool, since: first.cursor)
            #expect(!quiet.isFullListing && quiet.changed.isEmpty && quiet.removed.isEmpty)
            // A status write, a spec change of another kind, a deletion mark, a removal.
            try store.updateStatus(ResourceKey(kind: .resourcePool, name: "a"), to: ObjectStatus(observedGeneration: 1, fields: ["r": "R"]),
                                   nextReconcileAt: nil)
            try store.apply([Self.pool("c", cores: "2", pool: "a")])
            let written = try store.changes(of: .resourcePool, since: quiet.cursor)
            #expect(written.changed.map(\.key.name) == ["a"])
            try store.requestDeletion(of: [ResourceKey(kind: .resourcePool, name: "b")])
            try store.removeObject(ResourceKey(kind: .resourcePool, name: "b"))
            let removed = try store.changes(of: .resourcePool, since: written.cursor)
            #expect(removed.removed == ["b"] && removed.changed.isEmpty)
            // Removed and made again between two reads: both are reported, and the object is current.
            try store.apply([Self.pool("b", cores: "8")])
            let again = try store.changes(of: .resourcePool, since: removed.cursor)
            #expect(again.removed.isEmpty && again.changed.map(\.key.name) == ["b"])
            #expect(try store.keys() == [ResourceKey(kind: .resourcePool, name: "a"), ResourceKey(kind: .resourcePool, name: "b"),
                                         ResourceKey(kind: .claim, name: "c")].sorted())
        }
    }

    @Test func aReaderBehindThePrunedRemovalsGetsAFullListing() throws {
        try withStore { store in
            try store.apply([Self.pool("keep")])
            let start = try store.changes(of: .resourcePool, since: nil).cursor
            let names = (0..<(StateStore.removalsKept + 5)).map { "p\($0)" }
            for batch in stride(from: 0, to: names.count, by: 2000) {
                let chunk = names[batch..<min(batch + 2000, names.count)]
                try store.apply(chunk.map { Self.pool($0) })
                try store.requestDeletion(of: chunk.map { ResourceKey(kind: .resourcePool, name: $0) })
                for name in chunk { try store.removeObject(ResourceKey(kind: .resourcePool, name: name)) }
            }
            let late = try store.changes(of: .resourcePool, since: start)
            #expect(late.isFullListing)
            #expect(late.changed.map(\.key.name) == ["keep"])
        }
    }

    @Test(arguments: [false, true])
    func cacheEqualsAFreshReadAfterRandomWrites(entryFollowsSpecOnly: Bool) throws {
        try withStore { store in
            let cache = ObjectCache<String>(kind: .claim, entryFollowsSpecOnly: entryFollowsSpecOnly,
                                            group: { $0.spec["pool"]?.stringValue }) { $0.spec["cpu"]?.stringValue ?? "" }
            var generator = SystemRandomNumberGenerator()
            var specVersions: Set<Int> = []
            for step in 0..<200 {
                let name = "c\(Int.random(in: 0..<12, using: &generator))"
                let key = ResourceKey(kind: .claim, name: name)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0, 1:
                    try store.apply([Self.pool(name, cores: "\(Int.random(in: 1...3, using: &generator))",
                                               pool: "p\(Int.random(in: 0..<3, using: &generator))")])
                case 2:
                    if try store.object(key) != nil {
                        try store.updateStatus(key, to: ObjectStatus(observedGeneration: 1, fields: ["step": .integer(Int64(step))]), nextReconcileAt: nil)
                    }
                default:
                    if try store.object(key) != nil {
                        try store.requestDeletion(of: [key])
                        if Bool.random(using: &generator) { try store.removeObject(key) }
                    }
                }
                let expected = try store.objects(of: .claim)
                try cache.withSnapshot(from: store) { snapshot in
                    specVersions.insert(snapshot.specVersion)
                    #expect(snapshot.entries == Dictionary(uniqueKeysWithValues: expected.map { ($0.key.name, $0.spec["cpu"]?.stringValue ?? "") }))
                    for pool in ["p0", "p1", "p2"] {
                        let names = Set(expected.filter { $0.spec["pool"]?.stringValue == pool }.map(\.key.name))
                        #expect((snapshot.groups[pool] ?? []) == names, "group \(pool) at step \(step)")
                    }
                }
            }
            #expect(specVersions.count > 1)
        }
    }

    /// A cache whose entries come from specs alone reads only the marks of status writes, and makes an entry
    /// again only when the spec or the deletion mark moved.
    @Test func aSpecOnlyCacheIgnoresStatusWrites() throws {
        try withStore { store in
            final class Counter: @unchecked Sendable { var made: [String] = [] }
            let counter = Counter()
            let cache = ObjectCache<String>(kind: .resourcePool, entryFollowsSpecOnly: true) { object in
                counter.made.append(object.key.name)
                return object.spec.value(atPath: "cpu.cores")?.stringValue ?? ""
            }
            try store.apply([Self.pool("a"), Self.pool("b")])
            try cache.withSnapshot(from: store) { #expect($0.entries == ["a": "4", "b": "4"]) }
            #expect(counter.made.sorted() == ["a", "b"])
            let version = try cache.withSnapshot(from: store) { $0.specVersion }
            for name in ["a", "b"] {
                try store.updateStatus(ResourceKey(kind: .resourcePool, name: name), to: ObjectStatus(observedGeneration: 1, fields: ["x": "y"]),
                                       nextReconcileAt: nil)
            }
            try cache.withSnapshot(from: store) { #expect($0.specVersion == version) }
            #expect(counter.made.count == 2)
            let marks = try store.specMarkChanges(of: .resourcePool, since: nil)
            #expect(marks.isFullListing && marks.changed.map(\.name).sorted() == ["a", "b"])
            #expect(marks.changed.allSatisfy { $0.mark == SpecMark(generation: 1, deleting: false) })
            try store.apply([Self.pool("a", cores: "2")])
            try store.requestDeletion(of: [ResourceKey(kind: .resourcePool, name: "b")])
            try cache.withSnapshot(from: store) { #expect($0.entries == ["a": "2", "b": "4"] && $0.specVersion != version) }
            #expect(counter.made.sorted() == ["a", "a", "b", "b"])
            try store.removeObject(ResourceKey(kind: .resourcePool, name: "b"))
            try cache.withSnapshot(from: store) { #expect($0.entries == ["a": "2"]) }
        }
    }
}
