import Foundation
import HyperMeshControllers
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import HyperMeshTestSupport
import Logging
import Testing
import TrustChain

/// A clock the test moves.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ start: Date) { self.current = start }

    var now: Date {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.current
    }

    func advance(by seconds: TimeInterval) {
        self.lock.lock()
        self.current = self.current.addingTimeInterval(seconds)
        self.lock.unlock()
    }
}

struct CertificatePolicyControllerTests {
    struct Fixture {
        let directory: TemporaryDirectory
        let store: StateStore
        let clock: TestClock
        let reconciler: Reconciler
        var output: URL { self.directory.url.appendingPathComponent("tls") }
        var key: ResourceKey { ResourceKey(kind: .certificatePolicy, name: "node-tls") }

        func policy(duration: String = "60s", extra: [String: JSONValue] = [:]) -> DesiredObject {
            var spec: [String: JSONValue] = [
                "commonName": "node-1", "dnsNames": ["node-1.mesh"], "duration": .string(duration),
                "output": ["directory": .string(self.output.path)],
            ]
            for (name, value) in extra { spec[name] = value }
            return DesiredObject(key: self.key, labels: [:], spec: .object(spec))
        }

        func status() throws -> ObjectStatus { try #require(try self.store.object(self.key)?.status) }

        func openSSLVerify() throws -> ProcessResult {
            let ca = self.directory.path + "/ca"
            return try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), [
                "verify", "-attime", String(Int(self.clock.now.timeIntervalSince1970) + 1), "-CAfile", ca + "/root.pem",
                "-untrusted", self.output.path + "/chain.pem", self.output.path + "/cert.pem",
            ])
        }
    }

    func withFixture(initializeCA: Bool = true, _ body: (Fixture) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "certpolicy")
        defer { directory.remove() }
        let clock = TestClock(Date())
        if initializeCA {
            try CertificateAuthority.initialize(in: directory.url.appendingPathComponent("ca"), name: "Test", now: clock.now.addingTimeInterval(-60))
        }
        let store = try StateStore(directory: directory.url)
        let controller = CertificatePolicyController(now: { clock.now }, jitterSeed: 42)
        let reconciler = Reconciler(store: store, controllers: [controller], logger: Logger(label: "test"))
        try await body(Fixture(directory: directory, store: store, clock: clock, reconciler: reconciler))
    }

    @Test func issuesThenRenewsAfterTwoThirdsOfTheLifetime() async throws {
        try await withFixture { fixture in
            try fixture.store.apply([fixture.policy()])
            _ = try await fixture.reconciler.runPass()
            var status = try fixture.status()
            #expect(status.condition(Condition.ready)?.reason == "Issued")
            let first = try #require(status.fields["serial"]?.stringValue)
            let verify = try fixture.openSSLVerify()
            #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
            let renewal = try #require(status.fields["renewalTime"]?.stringValue.flatMap(Timestamp.parse))
            let notBefore = try #require(status.fields["notBefore"]?.stringValue.flatMap(Timestamp.parse))
            let offset = renewal.timeIntervalSince(notBefore)
            #expect(offset <= 40 && offset >= 38, "renewal at \(offset)s of 60s")

            fixture.clock.advance(by: 20)  // before 2/3: nothing to do
            _ = try await fixture.reconciler.runPass()
            #expect(try fixture.status().fields["serial"]?.stringValue == first)

            fixture.clock.advance(by: 25)  // past 2/3
            _ = try await fixture.reconciler.runPass()
            status = try fixture.status()
            let second = try #require(status.fields["serial"]?.stringValue)
            #expect(second != first)
            #expect(status.condition(Condition.ready)?.reason == "Renewed")
            #expect(try fixture.openSSLVerify().status == 0)
            let ca = try CertificateAuthority(directory: fixture.directory.url.appendingPathComponent("ca"))
            let old = try #require(try ca.registry.record(serial: first))
            #expect(old.revocationReason == .superseded)
            #expect(try ca.registry.record(serial: second)?.state(at: fixture.clock.now) == .valid)
            #expect(try fixture.store.events(for: fixture.key).map(\.reason).contains("Renewed"))
        }
    }

    @Test func reissuesWhenSpecChangesOrFilesAreTamperedWith() async throws {
        try await withFixture { fixture in
            try fixture.store.apply([fixture.policy(duration: "1h")])
            _ = try await fixture.reconciler.runPass()
            let first = try #require(try fixture.status().fields["serial"]?.stringValue)
            _ = try await fixture.reconciler.runPass()
            #expect(try fixture.status().fields["serial"]?.stringValue == first)

            try fixture.store.apply([fixture.policy(duration: "2h")])
            _ = try await fixture.reconciler.runPass()
            let second = try #require(try fixture.status().fields["serial"]?.stringValue)
            #expect(second != first)

            let other = try KeyAlgorithm.p256.generate()
            try other.pem.write(to: fixture.output.appendingPathComponent("key.pem"), atomically: true, encoding: .utf8)
            _ = try await fixture.reconciler.runPass()
            let third = try #require(try fixture.status().fields["serial"]?.stringValue)
            #expect(third != second)
            #expect(try fixture.openSSLVerify().status == 0)

            try FileManager.default.removeItem(at: fixture.output.appendingPathComponent("chain.pem"))
            _ = try await fixture.reconciler.runPass()
            #expect(try fixture.status().fields["serial"]?.stringValue != third)
            #expect(FileManager.default.fileExists(atPath: fixture.output.appendingPathComponent("chain.pem").path))

            // Deleting the policy revokes its certificate and removes the files.
            let current = try #require(try fixture.status().fields["serial"]?.stringValue)
            try fixture.store.requestDeletion(of: [fixture.key])
            _ = try await fixture.reconciler.runPass()
            #expect(try fixture.store.object(fixture.key) == nil)
            #expect(!FileManager.default.fileExists(atPath: fixture.output.appendingPathComponent("cert.pem").path))
            let ca = try CertificateAuthority(directory: fixture.directory.url.appendingPathComponent("ca"))
            #expect(try ca.registry.record(serial: current)?.revocationReason == .cessationOfOperation)
        }
    }

    @Test func reportsMissingIssuerAndUnwritableOutput() async throws {
        try await withFixture(initializeCA: false) { fixture in
            try fixture.store.apply([fixture.policy()])
            _ = try await fixture.reconciler.runPass()
            let status = try fixture.status()
            #expect(status.condition(Condition.ready)?.reason == "IssuerMissing")
            #expect(status.condition(Condition.ready)?.status == .false)
        }
        try await withFixture { fixture in
            try Data("a file".utf8).write(to: fixture.directory.url.appendingPathComponent("blocker"))
            var policy = fixture.policy()
            policy.spec = .object((policy.spec.objectValue ?? [:]).merging(
                ["output": ["directory": .string(fixture.directory.path + "/blocker/tls")]]) { $1 })
            try fixture.store.apply([policy])
            _ = try await fixture.reconciler.runPass()
            let status = try fixture.status()
            #expect(status.condition(Condition.ready)?.reason == "WriteFailed")
            #expect(status.condition(Condition.degraded)?.status == .true)
        }
    }

    @Test func jitterStaysInsideTheWindowAcrossSeeds() {
        let notBefore = Date(timeIntervalSince1970: 1_000_000)
        let schedule = RenewalSchedule(notBefore: notBefore, notAfter: notBefore.addingTimeInterval(86400))
        #expect(schedule.renewBefore == .hours(8))
        var draws: [Double] = []
        for seed in 0..<2000 as Range<UInt64> {
            let draw = RenewalSchedule.jitterDraw(seed: seed, serial: "5f3a\(seed)")
            draws.append(draw)
            let renewal = schedule.renewalTime(jitter: draw)
            #expect(renewal <= schedule.windowStart)
            #expect(renewal >= schedule.windowStart.addingTimeInterval(-0.1 * 8 * 3600))
        }
        // The draws spread over the range rather than clustering.
        #expect(draws.min()! < 0.05 && draws.max()! > 0.95)
        #expect(RenewalSchedule.jitterDraw(seed: 7, serial: "ab") == RenewalSchedule.jitterDraw(seed: 7, serial: "ab"))
        let explicit = RenewalSchedule(notBefore: notBefore, notAfter: notBefore.addingTimeInterval(60), renewBefore: .seconds(10))
        #expect(explicit.renewalTime(jitter: 0) == notBefore.addingTimeInterval(50))
    }
}
