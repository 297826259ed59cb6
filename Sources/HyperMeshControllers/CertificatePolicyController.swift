import Foundation
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import TrustChain
import X509

/// Reconciles `CertificatePolicy`: keeps `cert.pem`, `key.pem` and `chain.pem` in
/// `output.directory` valid, issued by the CA in `STATE/ca`.
///
/// Issues when the files are missing, re-issues when the spec changed (a new generation), when
/// the key, certificate or chain on disk do not match what was issued, when the certificate was
/// revoked, or when its renewal time came (see ``RenewalSchedule``); then requeues at the next
/// renewal time. The predecessor of a re-issued certificate is marked superseded.
public struct CertificatePolicyController: Controller {
    let now: @Sendable () -> Date
    let jitterSeed: UInt64

    /// - Parameters:
    ///   - now: the clock; tests inject one.
    ///   - jitterSeed: mixes into each certificate's renewal jitter.
    public init(now: @escaping @Sendable () -> Date = { Date() }, jitterSeed: UInt64 = UInt64.random(in: 0...UInt64.max)) {
        self.now = now
        self.jitterSeed = jitterSeed
    }

    public var kind: Kind { .certificatePolicy }

    public func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        let now = self.now()
        let generation = object.generation
        let caDirectory = context.stateDirectory.appendingPathComponent("ca")
        guard CertificateAuthority.exists(in: caDirectory) else {
            return ReconcileResult(status: Self.failing("IssuerMissing", "no CA in \(caDirectory.path); run `hypermesh ca init`",
                                                        generation: generation, previous: object.status),
                                   requeueAfter: .minutes(1))
        }
        let ca = try CertificateAuthority(directory: caDirectory)
        let spec = try PolicySpec(object.spec, name: object.key.name)
        let previous = object.status?.fields ?? [:]

        if let reason = try self.reasonToIssue(spec: spec, previous: previous, generation: generation, ca: ca, now: now) {
            context.logger.info("Issuing certificate", metadata: ["object": "\(object.key)", "because": "\(reason)"])
            let issued: IssuedCertificate
            do {
                issued = try ca.issue(spec.request, now: now, writingTo: spec.directory, keyMode: spec.keyMode)
            } catch let error as HyperMeshError where error.code == .io {
                return ReconcileResult(status: Self.failing("WriteFailed", error.message, generation: generation, previous: object.status),
                                       requeueAfter: .seconds(30))
            }
            try ca.supersede(policy: object.key.name, except: issued.serial, now: now)
            let renewed = previous["serial"] != nil
            context.events.record(object.key, .normal, reason: renewed ? "Renewed" : "Issued",
                                  message: "certificate \(issued.serial) (\(reason)) valid until \(Timestamp.format(issued.certificate.notValidAfter))")
            return self.result(for: issued.certificate, serial: issued.serial, reason: renewed ? "Renewed" : "Issued",
                               spec: spec, generation: generation, now: now)
        }
        let certificate = try Certificate(pemEncoded: try String(contentsOf: spec.directory.appendingPathComponent("cert.pem"), encoding: .utf8))
        let reason = object.status?.condition(Condition.ready)?.reason ?? "Issued"
        return self.result(for: certificate, serial: previous["serial"]?.stringValue ?? "",
                           reason: ["Issued", "Renewed"].contains(reason) ? reason : "Issued", spec: spec, generation: generation, now: now)
    }

    /// Why the certificate must be (re-)issued now, or `nil` when what is on disk is good.
    func reasonToIssue(spec: PolicySpec, previous: [String: JSONValue], generation: Int64, ca: CertificateAuthority, now: Date) throws -> String? {
        guard let serial = previous["serial"]?.stringValue else { return "no certificate yet" }
        if previous["certificateGeneration"]?.integerValue != generation { return "the spec changed" }
        if let renewal = previous["renewalTime"]?.stringValue.flatMap(Timestamp.parse), now >= renewal { return "renewal time reached" }
        let files = ["cert.pem", "key.pem", "chain.pem"].map { spec.directory.appendingPathComponent($0) }
        guard let texts = try? files.map({ try String(contentsOf: $0, encoding: .utf8) }) else { return "files missing in \(spec.directory.path)" }
        guard let certificate = try? Certificate(pemEncoded: texts[0]), certificate.serialNumber.hexString == serial else {
            return "cert.pem is not the issued certificate"
        }
        guard let key = try? Certificate.PrivateKey(pemEncoded: texts[1]), key.publicKey == certificate.publicKey else {
            return "key.pem does not match cert.pem"
        }
        let chain = texts[2].components(separatedBy: "-----END CERTIFICATE-----").filter { $0.contains("-----BEGIN CERTIFICATE-----") }
            .compactMap { try? Certificate(pemEncoded: $0 + "-----END CERTIFICATE-----") }
        guard chain.count == 2, chain[0] == certificate, chain[1] == ca.intermediate else {
            return "chain.pem is not the certificate and the current intermediate"
        }
        if try ca.registry.record(serial: serial)?.revokedAt != nil { return "the certificate was revoked" }
        return nil
    }

    func result(for certificate: Certificate, serial: String, reason: String, spec: PolicySpec, generation: Int64, now: Date) -> ReconcileResult {
        let schedule = RenewalSchedule(notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter, renewBefore: spec.renewBefore)
        let renewal = schedule.renewalTime(jitter: RenewalSchedule.jitterDraw(seed: self.jitterSeed, serial: serial))
        let fields: [String: JSONValue] = [
            "serial": .string(serial), "notBefore": .string(Timestamp.format(certificate.notValidBefore)),
            "notAfter": .string(Timestamp.format(certificate.notValidAfter)), "renewalTime": .string(Timestamp.format(renewal)),
            "certificateGeneration": .integer(generation), "directory": .string(spec.directory.path),
        ]
        let wait = TimeSpan(milliseconds: max(1000, Int64(renewal.timeIntervalSince(now) * 1000)))
        return ReconcileResult(status: .ready(.true, reason: reason, message: "certificate \(serial) until \(Timestamp.format(certificate.notValidAfter))",
                                              generation: generation, fields: fields),
                               requeueAfter: wait)
    }

    static func failing(_ reason: String, _ message: String, generation: Int64, previous: ObjectStatus?) -> ObjectStatus {
        var status = ObjectStatus.ready(.false, reason: reason, message: message, generation: generation, fields: previous?.fields ?? [:])
        status.setCondition(Condition(type: Condition.degraded, status: .true, reason: reason, message: message, observedGeneration: generation))
        return status
    }

    /// Revokes the current certificate (cessationOfOperation) and removes its files.
    public func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        let caDirectory = context.stateDirectory.appendingPathComponent("ca")
        if let serial = object.status?.fields["serial"]?.stringValue, CertificateAuthority.exists(in: caDirectory) {
            let ca = try CertificateAuthority(directory: caDirectory)
            if try ca.registry.record(serial: serial)?.revokedAt == nil {
                try ca.revoke(serial: serial, reason: .cessationOfOperation, now: self.now())
            }
        }
        if let directory = object.spec.value(atPath: "output.directory")?.stringValue {
            for name in ["cert.pem", "key.pem", "chain.pem"] {
                try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
            }
        }
        context.events.record(object.key, .normal, reason: "Revoked", message: "certificate revoked and files removed")
    }
}

/// The fields of a CertificatePolicy spec the controller uses, with their defaults.
struct PolicySpec {
    var request: IssuanceRequest
    var renewBefore: TimeSpan?
    var directory: URL
    var keyMode: Int

    init(_ spec: JSONValue, name: String) throws {
        func strings(_ key: String) -> [String] { spec[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        let duration = try spec["duration"]?.stringValue.map { try TimeSpan(parsing: $0) } ?? .hours(24)
        self.request = IssuanceRequest(
            commonName: spec["commonName"]?.stringValue ?? "", dnsNames: strings("dnsNames"), ipAddresses: strings("ipAddresses"),
            uris: strings("uris"), usage: spec["usage"]?.stringValue.flatMap(IssuanceRequest.Usage.init(rawValue:)) ?? .both,
            duration: duration, keyAlgorithm: spec["keyAlgorithm"]?.stringValue.flatMap(KeyAlgorithm.init(rawValue:)) ?? .p256,
            policy: name)
        self.renewBefore = try spec["renewBefore"]?.stringValue.map { try TimeSpan(parsing: $0) }
        guard let directory = spec.value(atPath: "output.directory")?.stringValue else {
            throw HyperMeshError.invalidSpec("spec.output.directory is required")
        }
        self.directory = URL(fileURLWithPath: directory)
        self.keyMode = spec.value(atPath: "output.mode")?.stringValue.flatMap { Int($0, radix: 8) } ?? 0o600
    }
}
