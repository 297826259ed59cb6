import Foundation
import HyperMeshCore
import HyperMeshStore
import HyperMeshTestSupport
import Testing

struct StateStoreTests {
    static func pool(_ name: String, cores: String = "4", labels: [String: String] = [:]) -> DesiredObject {
        DesiredObject(key: ResourceKey(kind: .resourcePool, name: name), labels: labels,
                      spec: ["privacy": "private", "cpu": ["cores": .string(cores)]])
    }

    func withStore(_ body: (StateStore, TemporaryDirectory) throws -> Void) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try body(try StateStore(directory: directory.url.appendingPathComponent("state")), directory)
    }

    @Test func createsThenReportsUnchanged() throws {
        try withStore { store, _ in
            let first = try store.apply([Self.pool("a"), Self.pool("b")])
            #expect(first.map(\.action) == [.created, .created])
            let second = try store.apply([Self.pool("a"), Self.pool("b")])
            #expect(second.map(\.action) == [.unchanged, .unchanged])
            let object = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "a")))
            #expect(object.generation == 1)
            #expect(object.spec.value(atPath: "cpu.cores") == "4")
            #expect(try store.objects().count == 2)
            #expect(try store.objects(of: .claim).isEmpty)
        }
    }

    @Test func bumpsGenerationOnlyWhenSpecChanges() throws {
        try withStore { store, _ in
            try store.apply([Self.pool("a")])
            let version1 = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "a"))).resourceVersion
            let labelsOnly = try store.apply([Self.pool("a", labels: ["team": "x"])])
            #expect(labelsOnly[0].action == .configured)
            #expect(labelsOnly[0].specChanged == false)
            #expect(labelsOnly[0].fields.map(\.description) == ["+ metadata.labels.team: x"])
            var object = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "a")))
            #expect(object.generation == 1)
            #expect(object.resourceVersion > version1)
            let specChange = try store.apply([Self.pool("a", cores: "8", labels: ["team": "x"])])
            #expect(specChange[0].fields.map(\.description) == ["~ spec.cpu.cores: 4 -> 8"])
            object = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "a")))
            #expect(object.generation == 2)
        }
    }

    @Test func dryRunWritesNothing() throws {
        try withStore { store, _ in
            let changes = try store.apply([Self.pool("a")], options: ApplyOptions(dryRun: true))
            #expect(changes.map(\.action) == [.created])
            #expect(try store.objects().isEmpty)
            #expect(try store.events().isEmpty)
        }
    }

    @Test func prunesOnlyTheNamedApplySet() throws {
        try withStore { store, _ in
            try store.apply([Self.pool("a1"), Self.pool("a2")], options: ApplyOptions(applyset: "a"))
            try store.apply([Self.pool("b1")], options: ApplyOptions(applyset: "b"))
            try store.apply([Self.pool("free")])
            let changes = try store.apply([Self.pool("a1")], options: ApplyOptions(applyset: "a", prune: true))
            #expect(changes.map(\.action) == [.unchanged, .pruned])
            #expect(changes[1].key.name == "a2")
            #expect(changes[1].diffLines == ["- ResourcePool/a2"])
            let marked = try store.objects().filter { $0.deletionRequestedAt != nil }.map(\.key.name)
            #expect(marked == ["a2"])
            #expect(try store.object(ResourceKey(kind: .resourcePool, name: "b1"))?.applyset == "b")
            #expect(try store.object(ResourceKey(kind: .resourcePool, name: "free"))?.applyset == nil)
        }
    }

    @Test func movesOwnershipBetweenApplySets() throws {
        try withStore { store, _ in
            try store.apply([Self.pool("a")], options: ApplyOptions(applyset: "one"))
            let changes = try store.apply([Self.pool("a")], options: ApplyOptions(applyset: "two"))
            #expect(changes[0].fields.map(\.description) == ["~ metadata.applyset: one -> two"])
            #expect(try store.object(ResourceKey(kind: .resourcePool, name: "a"))?.applyset == "two")
        }
    }

    @Test func deletionIsAllOrNothingAndRemovalNeedsARequest() throws {
        try withStore { store, _ in
            try store.apply([Self.pool("a")])
            let a = ResourceKey(kind: .resourcePool, name: "a")
            #expect(throws: HyperMeshError.notFound()) {
                try store.requestDeletion(of: [a, ResourceKey(kind: .claim, name: "missing")])
            }
            #expect(try store.object(a)?.deletionRequestedAt == nil)
            #expect(try store.removeObject(a) == false)
            try store.requestDeletion(of: [a])
            #expect(try store.object(a)?.deletionRequestedAt != nil)
            let reapplied = try store.apply([Self.pool("a")])
            #expect(reapplied[0].fields.map(\.path) == ["metadata.deletionTimestamp"])
            try store.requestDeletion(of: [a])
            #expect(try store.removeObject(a))
            #expect(try store.object(a) == nil)
            #expect(try store.events(for: a).map(\.reason) == ["Created", "DeletionRequested", "Configured", "DeletionRequested", "Deleted"])
        }
    }

    @Test func statusWritesOnlyWhenChanged() throws {
        try withStore { store, _ in
            try store.apply([Self.pool("a")])
            let a = ResourceKey(kind: .resourcePool, name: "a")
            let status = ObjectStatus(observedGeneration: 1, fields: ["x": 1], conditions: [
                Condition(type: Condition.ready, status: .true, reason: "Fine", observedGeneration: 1),
            ])
            #expect(try store.updateStatus(a, to: status, nextReconcileAt: nil))
            let version = try #require(try store.object(a)).resourceVersion
            try store.updateStatus(a, to: status, nextReconcileAt: nil)
            #expect(try store.object(a)?.resourceVersion == version)
            #expect(try store.object(a)?.status == status)
            #expect(try store.object(a)?.readiness == .true)
            #expect(try store.updateStatus(ResourceKey(kind: .claim, name: "none"), to: status, nextReconcileAt: nil) == false)
        }
    }

    @Test func keysDueAreUnreconciledChangedDeletedOrRequeued() throws {
        try withStore { store, _ in
            try store.apply([Self.pool("fresh"), Self.pool("done"), Self.pool("later"), Self.pool("soon"), Self.pool("gone")])
            func ready(_ generation: Int64) -> ObjectStatus {
                .init(observedGeneration: generation, conditions: [Condition(type: "Ready", status: .true, reason: "Ok", observedGeneration: generation)])
            }
            let key = { ResourceKey(kind: .resourcePool, name: $0) }
            try store.updateStatus(key("done"), to: ready(1), nextReconcileAt: nil)
            try store.updateStatus(key("later"), to: ready(1), nextReconcileAt: Date().addingTimeInterval(3600))
            try store.updateStatus(key("soon"), to: ready(1), nextReconcileAt: Date().addingTimeInterval(-1))
            try store.updateStatus(key("gone"), to: ready(1), nextReconcileAt: nil)
            try store.requestDeletion(of: [key("gone")])
            #expect(try store.keysDue().map(\.name) == ["fresh", "gone", "soon"])
            try store.apply([Self.pool("done", cores: "2")])
            #expect(try store.keysDue().map(\.name) == ["done", "fresh", "gone", "soon"])
        }
    }

    @Test func readyKeysAreThoseReadyForTheirCurrentGeneration() throws {
        try withStore { store, _ in
            try store.apply([Self.pool("ready"), Self.pool("failing"), Self.pool("unseen"), Self.pool("changed")])
            let key = { ResourceKey(kind: .resourcePool, name: $0) }
            func status(_ ready: Condition.Status) -> ObjectStatus {
                .init(observedGeneration: 1, conditions: [
                    Condition(type: "Degraded", status: .true, reason: "X", observedGeneration: 1),
                    Condition(type: "Ready", status: ready, reason: "Ok", observedGeneration: 1),
                ])
            }
            try store.updateStatus(key("ready"), to: status(.true), nextReconcileAt: nil)
            try store.updateStatus(key("failing"), to: status(.false), nextReconcileAt: nil)
            try store.updateStatus(key("changed"), to: status(.true), nextReconcileAt: nil)
            #expect(try store.readyKeys() == [key("ready"), key("changed")])
            try store.apply([Self.pool("changed", cores: "2")])  // generation 2: its Ready=True is about generation 1
            #expect(try store.readyKeys() == [key("ready")])
        }
    }

    @Test func reopensMigratedDatabaseAndChecksIntegrity() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try StateStore(directory: directory.url)
            try store.apply([Self.pool("a")])
            #expect(try store.dataVersion() >= 0)
        }
        let reopened = try StateStore(directory: directory.url)
        #expect(try reopened.objects().count == 1)
        #expect(try reopened.integrityCheck() == ["ok"])
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.path)
        #expect(attributes[.type] as? FileAttributeType == .typeDirectory)
    }

    @Test func refusesAFileThatIsNotADatabase() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(StateStore.databaseFileName, String(repeating: "not sqlite ", count: 100))
        #expect(throws: HyperMeshError.storage()) { try StateStore(directory: directory.url) }
    }

    @Test func resolvesStateDirectoryInDocumentedOrder() {
        #expect(StateStore.resolveDirectory(flag: "/x", environment: ["HYPERMESH_STATE_DIR": "/y"]).path == "/x")
        #expect(StateStore.resolveDirectory(flag: nil, environment: ["HYPERMESH_STATE_DIR": "/y"]).path == "/y")
        #expect(StateStore.resolveDirectory(flag: nil, environment: [:], isRoot: true).path == "/var/lib/hypermesh")
        #expect(StateStore.resolveDirectory(flag: nil, environment: ["XDG_STATE_HOME": "/s"], isRoot: false).path == "/s/hypermesh")
        #expect(StateStore.resolveDirectory(flag: nil, environment: ["HOME": "/home/u"], isRoot: false).path
            == "/home/u/.local/state/hypermesh")
    }

    @Test func fieldChangesListEveryLeaf() {
        let old: JSONValue = ["a": ["b": 1, "c": 2], "d": "x"]
        let new: JSONValue = ["a": ["b": 1, "c": 3], "e": [1]]
        #expect(FieldChange.between(old, new, at: "spec").map(\.description)
            == ["~ spec.a.c: 2 -> 3", "- spec.d: x", "+ spec.e: [1]"])
    }
}
