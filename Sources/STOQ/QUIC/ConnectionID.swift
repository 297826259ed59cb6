import CNGTCP2

/// A QUIC connection ID (0–20 bytes), usable as a dictionary key.
struct ConnectionID: Hashable, CustomStringConvertible {
    let bytes: [UInt8]

    init(bytes: [UInt8]) {
        precondition(bytes.count <= Int(NGTCP2_MAX_CIDLEN), "a connection ID has at most 20 bytes")
        self.bytes = bytes
    }

    init(_ cid: ngtcp2_cid) {
        var copy = cid
        self.bytes = withUnsafeBytes(of: &copy.data) { Array($0.prefix(Int(cid.datalen))) }
    }

    init(pointer: UnsafePointer<UInt8>, count: Int) {
        self.init(bytes: Array(UnsafeBufferPointer(start: pointer, count: count)))
    }

    /// `count` random bytes from GnuTLS's CSPRNG.
    static func random(count: Int = 18) -> ConnectionID {
        var bytes = [UInt8](repeating: 0, count: count)
        _ = gnutls_rnd(GNUTLS_RND_RANDOM, &bytes, count)
        return ConnectionID(bytes: bytes)
    }

    var cid: ngtcp2_cid {
        var cid = ngtcp2_cid()
        cid.datalen = self.bytes.count
        withUnsafeMutableBytes(of: &cid.data) { $0.copyBytes(from: self.bytes) }
        return cid
    }

    var description: String { self.bytes.map { String(format: "%02x", $0) }.joined() }
}
