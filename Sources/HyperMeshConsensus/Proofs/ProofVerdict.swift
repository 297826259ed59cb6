/// A validator's judgement of one proof: accepted, or refused with a reason that is recorded.
public enum ProofVerdict: Sendable, Equatable, CustomStringConvertible {
    case accepted
    case refused(String)

    public var isAccepted: Bool { self == .accepted }

    public var description: String {
        switch self {
        case .accepted: return "accepted"
        case .refused(let reason): return "refused: \(reason)"
        }
    }
}
