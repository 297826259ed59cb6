import Foundation
import HyperMeshControllers
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import HyperMeshTestSupport
import Logging
import Testing

struct MeshControllerTests {
    static let mesh = DesiredObject(key: ResourceKey(kind: .mesh, name: "home"), labels: [:],
                                    spec: ["node": ["name": "ws-1"], "bootstrap": ["a:1", "b:2"]])

    @Test func generatesNodeKeyOnceAndReportsNodeID() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try StateStore(directory: directory.url)
        try store.apply([Self.mesh])
        let reconciler = Reconciler(store: store, controllers: StandardControllers.all(), logger: Logger(label: "test"))
        _ = try await reconciler.runPass()
        let status = try #require(try store.object(Self.mesh.key)?.status)
        #expect(status.condition(Condition.ready)?.status == .true)
        #expect(status.condition(Condition.ready)?.reason == "IdentityReady")
        #expect(status.fields["nodeName"] == "ws-1")
        #expect(status.fields["listen"] == .string(MeshController.defaultListen))
        #expect(status.fields["bootstrapPeers"] == 2)
        let nodeID = try #require(status.fields["nodeId"]?.stringValue)
        #expect(nodeID.count == 64 && nodeID.allSatisfy(\.isHexDigit))

        let keyFile = directory.url.appendingPathComponent(NodeIdentity.keyPath)
        let attributes = try FileManager.default.attributesOfItem(atPath: keyFile.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let folder = try FileManager.default.attributesOfItem(atPath: keyFile.deletingLastPathComponent().path)
        #expect((folder[.posixPermissions] as? NSNumber)?.intValue == 0o700)

        // OpenSSL, which no one here wrote, derives the same id from the key file.
        let openssl = try ProcessRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c",
            "openssl pkey -in '\(keyFile.path)' -pubout -outform DER | sha256sum | cut -d' ' -f1"])
        #expect(openssl.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == nodeID)

        // A second pass and a deletion keep the same identity.
        _ = try await reconciler.runPass()
        #expect(try store.object(Self.mesh.key)?.status?.fields["nodeId"]?.stringValue == nodeID)
        try store.requestDeletion(of: [Self.mesh.key])
        _ = try await reconciler.runPass()
        #expect(try store.object(Self.mesh.key) == nil)
        #expect(try NodeIdentity.loadOrCreate(in: directory.url).identity.nodeID == nodeID)
        #expect(try store.events(for: Self.mesh.key).map(\.reason).contains("NodeKeyGenerated"))
    }

    @Test func corruptKeyIsReportedAndLeftUntouched() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let garbage = "-----BEGIN EC PRIVATE KEY-----\nnot a key\n-----END EC PRIVATE KEY-----\n"
        try directory.write(NodeIdentity.keyPath, garbage)
        let store = try StateStore(directory: directory.url)
        try store.apply([Self.mesh])
        _ = try await Reconciler(store: store, controllers: StandardControllers.all(), logger: Logger(label: "test")).runPass()
        let status = try #require(try store.object(Self.mesh.key)?.status)
        #expect(status.condition(Condition.ready)?.status == .false)
        #expect(status.condition(Condition.ready)?.reason == "NodeKeyInvalid")
        #expect(status.condition(Condition.degraded)?.status == .true)
        let after = try String(contentsOf: directory.url.appendingPathComponent(NodeIdentity.keyPath), encoding: .utf8)
        #expect(after == garbage)
    }

    @Test func unwritableOrUnreadableKeyLocationFailsTheReconcile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("node", "a file where the node folder should be")
        #expect(throws: HyperMeshError.io()) { try NodeIdentity.loadOrCreate(in: directory.url) }

        let other = try TemporaryDirectory()
        defer { other.remove() }
        try FileManager.default.createDirectory(at: other.url.appendingPathComponent(NodeIdentity.keyPath),
                                                withIntermediateDirectories: true)
        #expect(throws: HyperMeshError.io()) { try NodeIdentity.loadOrCreate(in: other.url) }
    }

    @Test func failingIdentityMakesMeshDegradedWithBackoff() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try StateStore(directory: directory.url)
        try directory.write("node", "not a folder")
        try store.apply([Self.mesh])
        let summary = try await Reconciler(store: store, controllers: StandardControllers.all(), logger: Logger(label: "test"),
                                           queue: WorkQueue(baseDelay: .milliseconds(1), maximumDelay: .milliseconds(5))).runPass()
        #expect(summary.failed[Self.mesh.key] != nil)
        let status = try #require(try store.object(Self.mesh.key)?.status)
        #expect(status.condition(Condition.degraded)?.reason == "ReconcileFailed")
    }

    @Test func concurrentFirstUseAgreesOnOneKey() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try NodeIdentity.loadOrCreate(in: directory.url).identity.nodeID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids.count == 1)
    }
}
