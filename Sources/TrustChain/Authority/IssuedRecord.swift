import Foundation
import HyperMeshCore

/// One certificate in the CA's list, as `ca list` shows it.
public struct IssuedRecord: Sendable, Hashable {
    /// Valid, Expired or Revoked, as of a given time.
    public enum State: String, Sendable {
        case valid = "Valid"
        case expired = "Expired"
        case revoked = "Revoked"
    }

    public var serial: String
    public var commonName: String
    public var policy: String?
    public var notBefore: Date
    public var notAfter: Date
    public var revokedAt: Date?
    public var revocationReason: RevocationReason?
    public var certificatePEM: String

    public func state(at time: Date) -> State {
        if self.revokedAt != nil { return .revoked }
        return time >= self.notAfter ? .expired : .valid
    }

    public func json(at time: Date) -> JSONValue {
        var members: [String: JSONValue] = [
            "serial": .string(self.serial), "commonName": .string(self.commonName),
            "notBefore": .string(Timestamp.format(self.notBefore)), "notAfter": .string(Timestamp.format(self.notAfter)),
            "state": .string(self.state(at: time).rawValue),
        ]
        if let policy { members["policy"] = .string(policy) }
        if let revokedAt { members["revokedAt"] = .string(Timestamp.format(revokedAt)) }
        if let revocationReason { members["reason"] = .string(revocationReason.name) }
        return .object(members)
    }
}

/// RFC 5280 CRLReason values.
public enum RevocationReason: Int, Sendable, CaseIterable {
    case unspecified = 0
    case keyCompromise = 1
    case caCompromise = 2
    case affiliationChanged = 3
    case superseded = 4
    case cessationOfOperation = 5
    case certificateHold = 6
    case privilegeWithdrawn = 9

    /// The RFC 5280 name, e.g. `keyCompromise`.
    public var name: String {
        switch self {
        case .unspecified: return "unspecified"
        case .keyCompromise: return "keyCompromise"
        case .caCompromise: return "caCompromise"
        case .affiliationChanged: return "affiliationChanged"
        case .superseded: return "superseded"
        case .cessationOfOperation: return "cessationOfOperation"
        case .certificateHold: return "certificateHold"
        case .privilegeWithdrawn: return "privilegeWithdrawn"
        }
    }

    public init?(name: String) {
        guard let found = Self.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
        self = found
    }
}
