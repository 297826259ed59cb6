import Foundation
import HyperMeshCore

/// Why the CA refused a machine's request to join. The message is what the joiner is told.
public enum JoinRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// No token with this id, or the secret does not match (one answer for both, so the answer tells an
    /// attacker nothing about which ids exist).
    case unknownToken
    case tokenExpired(at: Date)
    case tokenUsed(at: Date)
    /// The request is not a PKCS #10 certificate signing request.
    case unreadableRequest(String)
    /// The request's signature does not verify with the key it carries: its sender does not hold that key.
    case signatureInvalid
    /// The node id the joiner claims is not the hash of the key in its request.
    case nodeIDMismatch(claimed: String, ofKey: String)
    /// The node name is not a DNS label.
    case invalidNodeName(String)
    /// A renewal from a node that holds no live certificate here (revoked, or never joined).
    case notAMember(String)

    public var description: String {
        switch self {
        case .unknownToken: "the join token is not valid here (unknown id or wrong secret)"
        case .tokenExpired(let time): "the join token expired at \(Timestamp.format(time)); make a new one with `hypermesh mesh token`"
        case .tokenUsed(let time): "the join token was already used at \(Timestamp.format(time)); tokens are single use"
        case .unreadableRequest(let why): "the certificate signing request cannot be read: \(why)"
        case .signatureInvalid: "the certificate signing request's signature does not verify with its own key"
        case .nodeIDMismatch(let claimed, let ofKey):
            "the request claims node id \(claimed), but its key's node id is \(ofKey)"
        case .invalidNodeName(let name): "node name \"\(name)\" is not a DNS label (a-z, 0-9 and -, at most 63)"
        case .notAMember(let nodeID): "node \(nodeID) is not a member of this mesh (revoked, or it never joined)"
        }
    }
}
