import Crypto

/// PoWork (what it cost): hashcash over an operation digest — a nonce such that
/// SHA-256(digest ‖ nonce) starts with at least `bits` zero bits. Validators raise `bits` as their queue
/// fills and announce it in each block, so spam costs its sender exponentially more.
public struct WorkProof: Sendable, Hashable {
    public var nonce: UInt64

    public init(nonce: UInt64) {
        self.nonce = nonce
    }

    /// Searches nonces from `start` until one meets `bits`.
    public static func solve(digest: ConsensusHash, bits: Int, start: UInt64 = 0) -> WorkProof {
        precondition((0...64).contains(bits), "difficulty is 0 to 64 bits")
        var nonce = start
        while Self.leadingZeroBits(digest: digest, nonce: nonce) < bits { nonce &+= 1 }
        return WorkProof(nonce: nonce)
    }

    public func verify(digest: ConsensusHash, bits: Int) -> ProofVerdict {
        let found = Self.leadingZeroBits(digest: digest, nonce: self.nonce)
        return found >= bits ? .accepted : .refused("work: \(found) leading zero bits, \(bits) required")
    }

    static func leadingZeroBits(digest: ConsensusHash, nonce: UInt64) -> Int {
        var input = digest.bytes
        for shift in stride(from: 56, through: 0, by: -8) { input.append(UInt8(nonce >> UInt64(shift) & 0xFF)) }
        var count = 0
        for byte in SHA256.hash(data: input) {
            if byte == 0 {
                count += 8
                continue
            }
            return count + byte.leadingZeroBitCount
        }
        return count
    }
}
