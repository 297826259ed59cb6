import Crypto

/// RFC 9162 §2.1 Merkle tree hashing, audit paths and consistency proofs, and their
/// verification (§2.1.3.2, §2.1.4.2). Trees are read through ``SubtreeSource``: the hash of
/// each perfect, aligned subtree of 2^level leaves, which an append-only log can store.
public enum MerkleTree {
    public typealias Hash = [UInt8]

    /// The hash of the perfect subtree at `level` (2^level leaves) with index `index` among
    /// subtrees of that size; level 0 is the leaf hashes.
    public typealias SubtreeSource = (_ level: Int, _ index: Int) throws -> Hash

    /// SHA-256(0x00 || entry).
    public static func leafHash(_ entry: [UInt8]) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: entry)
        return Array(hasher.finalize())
    }

    /// SHA-256(0x01 || left || right).
    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The hash of the empty tree: SHA-256 of nothing.
    public static let emptyRoot: Hash = Array(SHA256.hash(data: [UInt8]()))

    /// The largest power of two smaller than `n` (n > 1).
    static func split(_ n: Int) -> Int {
        precondition(n > 1)
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// MTH(D[start ..< start+count]).
    public static func rootHash(start: Int = 0, count: Int, source: SubtreeSource) throws -> Hash {
        if count == 0 { return self.emptyRoot }
        // A perfect, aligned range is stored whole.
        if count & (count - 1) == 0, start % count == 0 {
            return try source(count.trailingZeroBitCount, start / count)
        }
        let k = self.split(count)
        return self.nodeHash(try self.rootHash(start: start, count: k, source: source),
                             try self.rootHash(start: start + k, count: count - k, source: source))
    }

    /// PATH(m, D[n]): the audit path of leaf `index` in a tree of `size` leaves.
    public static func inclusionProof(index: Int, size: Int, source: SubtreeSource) throws -> [Hash] {
        precondition(index >= 0 && index < size)
        return try self.path(index, start: 0, count: size, source: source)
    }

    private static func path(_ m: Int, start: Int, count: Int, source: SubtreeSource) throws -> [Hash] {
        if count <= 1 { return [] }
        let k = self.split(count)
        if m < k {
            return try self.path(m, start: start, count: k, source: source)
                + [try self.rootHash(start: start + k, count: count - k, source: source)]
        }
        return try self.path(m - k, start: start + k, count: count - k, source: source)
            + [try self.rootHash(start: start, count: k, source: source)]
    }

    /// PROOF(m, D[n]): the consistency proof from the tree of `oldSize` leaves to `newSize`.
    public static func consistencyProof(oldSize: Int, newSize: Int, source: SubtreeSource) throws -> [Hash] {
        precondition(0 < oldSize && oldSize <= newSize)
        return try self.subproof(oldSize, start: 0, count: newSize, complete: true, source: source)
    }

    private static func subproof(_ m: Int, start: Int, count: Int, complete: Bool, source: SubtreeSource) throws -> [Hash] {
        if m == count {
            return complete ? [] : [try self.rootHash(start: start, count: count, source: source)]
        }
        let k = self.split(count)
        if m <= k {
            return try self.subproof(m, start: start, count: k, complete: complete, source: source)
                + [try self.rootHash(start: start + k, count: count - k, source: source)]
        }
        return try self.subproof(m - k, start: start + k, count: count - k, complete: false, source: source)
            + [try self.rootHash(start: start, count: k, source: source)]
    }

    // MARK: - Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)

    /// Whether `proof` shows the leaf with `leafHash` at `index` is in the tree of `size` with `root`.
    public static func verifyInclusion(leafHash: Hash, index: Int, size: Int, proof: [Hash], root: Hash) -> Bool {
        guard index >= 0, index < size else { return false }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = self.nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = self.nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Whether `proof` shows the tree (`newSize`, `newRoot`) extends (`oldSize`, `oldRoot`).
    public static func verifyConsistency(oldSize: Int, oldRoot: Hash, newSize: Int, newRoot: Hash, proof: [Hash]) -> Bool {
        guard oldSize > 0, oldSize <= newSize else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        guard !path.isEmpty else { return false }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = self.nodeHash(c, fr)
                sr = self.nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = self.nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}
