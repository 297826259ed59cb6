import Foundation
import HyperMeshCore

/// The calls of `hm-join/1`, JSON in a STOQ CALL: first `hello` (what root this server's mesh has), then —
/// once the joiner checked that root against its token's fingerprint and the server's certificate against
/// that root — `join` with the token and a certificate signing request for the joiner's node key.
///
/// Members, over `stoq/1` with their node certificate: `renew` (a new certificate for the same key, before the
/// current one ends), `crl` (the CA's current revocation list, also open on `hm-join/1`; from a member it is
/// also its heartbeat, with the address it listens at) and `members` (every node, with its state).
enum MembershipOperation: String, Codable, Sendable {
    case hello
    case join
    case renew
    case crl
    case members
}

struct MembershipCall: Codable, Sendable {
    var operation: MembershipOperation
    var join: JoinRequest?
    var renew: RenewRequest?
    /// `crl` from a member: where its agent listens for STOQ (`HOST:PORT`; a wildcard host is replaced by the
    /// address its packets come from).
    var listen: String?
}

/// A member asks for a new certificate for its key; who it is comes from its TLS certificate.
struct RenewRequest: Codable, Sendable {
    /// Base64 of a PKCS #10 request's DER.
    var certificateRequest: String
}

/// What a joiner sends: the token's id and secret (never its fingerprint: that stays with the joiner), the
/// name it wants, the node id it claims, and a PKCS #10 request signed by the key that id is the hash of.
struct JoinRequest: Codable, Sendable {
    var tokenID: String
    var secret: String
    var nodeName: String
    var nodeID: String
    /// Base64 of the request's DER.
    var certificateRequest: String
}

/// Every answer: `error`, or what was asked for.
struct MembershipReply: Codable, Sendable {
    var error: String?
    /// `hello`: the mesh root, PEM.
    var rootPEM: String?
    /// `join` and `renew`: the node certificate and what comes with it.
    var enrollment: EnrollmentReply?
    /// `crl`: the CA's current CRL, PEM.
    var revocationListPEM: String?
    /// `members`: every node that ever joined.
    var members: [MeshMember]?
}

struct EnrollmentReply: Codable, Sendable {
    var nodeID: String
    var serial: String
    var notAfter: String
    var certificatePEM: String
    var chainPEM: String
    var rootPEM: String
    var revocationListPEM: String
    var validator: Bool
    var mesh: MeshDescription
}

/// A node of the mesh as the CA node sees it.
public struct MeshMember: Codable, Sendable, Equatable {
    /// `Ready` (heard from in the last ``MembershipService/lostAfter``), `Lost` (not), `Revoked` (no live certificate).
    public enum Status: String, Codable, Sendable {
        case ready = "Ready"
        case lost = "Lost"
        case revoked = "Revoked"
    }

    public var nodeID: String
    public var name: String
    /// Where it listens for STOQ, as it last said; `nil` until it did.
    public var address: String?
    public var validator: Bool
    /// When the CA node last heard from it (RFC 3339); `nil` for never since the CA node's agent started.
    public var lastSeen: String?
    public var status: Status

    public init(nodeID: String, name: String, address: String?, validator: Bool, lastSeen: String?, status: Status) {
        self.nodeID = nodeID
        self.name = name
        self.address = address
        self.validator = validator
        self.lastSeen = lastSeen
        self.status = status
    }
}

/// What a joiner learns of the mesh besides its certificate.
public struct MeshDescription: Codable, Sendable, Equatable {
    public var name: String
    /// The first epoch's validators (the CA node's `Mesh` spec lists them; later epochs are on the ledger).
    public var validators: [ValidatorAddress]
    /// The CA node's `spec.consensus` as JSON (which proofs operations must carry): every member checks and
    /// makes operations by the same rules. `nil`: the defaults.
    public var consensus: String?

    public init(name: String, validators: [ValidatorAddress], consensus: String? = nil) {
        self.name = name
        self.validators = validators
        self.consensus = consensus
    }
}

public struct ValidatorAddress: Codable, Sendable, Equatable {
    /// The validator's node id.
    public var id: String
    /// `host:port` where it listens.
    public var address: String

    public init(id: String, address: String) {
        self.id = id
        self.address = address
    }
}

enum MembershipCoding {
    /// The largest call or reply either side accepts (a reply carries four PEM documents and a CRL).
    static let maximumBytes = 256 << 10

    static func encode<Value: Encodable>(_ value: Value) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Our own types always encode.
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    /// Decodes bytes from the network; the error says what was wrong without echoing the bytes.
    static func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8], what: String) throws -> Value {
        guard bytes.count <= Self.maximumBytes else {
            throw HyperMeshError.corruptData("\(what): \(bytes.count) bytes, at most \(Self.maximumBytes) accepted")
        }
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch DecodingError.keyNotFound(let key, let context) {
            throw HyperMeshError.corruptData("\(what): missing \(Self.path(context.codingPath + [key]))")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw HyperMeshError.corruptData("\(what): wrong type at \(Self.path(context.codingPath))")
        } catch DecodingError.dataCorrupted(let context) {
            throw HyperMeshError.corruptData("\(what): \(context.codingPath.isEmpty ? "not JSON" : "bad value at \(Self.path(context.codingPath))")")
        } catch {
            throw HyperMeshError.corruptData("\(what): not JSON")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "the top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
