/// Reads what ``CanonicalEncoder`` wrote, refusing anything truncated, oversized or left over, with the byte
/// offset of the problem: network bytes and stored rows are never trusted.
struct CanonicalDecoder {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var remaining: Int { self.bytes.count - self.offset }

    func failure(_ what: String) -> ConsensusWireError {
        ConsensusWireError(offset: self.offset, message: what)
    }

    mutating func uint8(_ what: String) throws(ConsensusWireError) -> UInt8 {
        guard self.remaining >= 1 else { throw self.failure("\(what): truncated") }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    mutating func uint64(_ what: String) throws(ConsensusWireError) -> UInt64 {
        guard self.remaining >= 8 else { throw self.failure("\(what): truncated (8 bytes needed, \(self.remaining) left)") }
        var value: UInt64 = 0
        for index in self.offset..<(self.offset + 8) { value = value << 8 | UInt64(self.bytes[index]) }
        self.offset += 8
        return value
    }

    mutating func int(_ what: String) throws(ConsensusWireError) -> Int { Int(Int64(bitPattern: try self.uint64(what))) }

    /// A length-prefixed byte string of at most `limit` bytes.
    mutating func data(_ what: String, limit: Int) throws(ConsensusWireError) -> [UInt8] {
        let start = self.offset
        let length = try self.uint64("\(what) length")
        guard length <= UInt64(limit) else {
            throw ConsensusWireError(offset: start, message: "\(what): \(length) bytes, at most \(limit) allowed")
        }
        guard UInt64(self.remaining) >= length else {
            throw self.failure("\(what): truncated (\(length) bytes announced, \(self.remaining) left)")
        }
        defer { self.offset += Int(length) }
        return Array(self.bytes[self.offset..<(self.offset + Int(length))])
    }

    mutating func string(_ what: String, limit: Int) throws(ConsensusWireError) -> String {
        let start = self.offset
        let raw = try self.data(what, limit: limit)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw ConsensusWireError(offset: start, message: "\(what): not UTF-8")
        }
        return text
    }

    mutating func hash(_ what: String) throws(ConsensusWireError) -> ConsensusHash {
        guard self.remaining >= 32 else { throw self.failure("\(what): truncated (32 bytes needed, \(self.remaining) left)") }
        defer { self.offset += 32 }
        return ConsensusHash(bytes: Array(self.bytes[self.offset..<(self.offset + 32)]))
    }

    /// A count of items each at least `minimumItemBytes` long, at most `limit`: a count the remaining bytes
    /// cannot hold is refused before anything is allocated for it.
    mutating func count(_ what: String, limit: Int, minimumItemBytes: Int) throws(ConsensusWireError) -> Int {
        let start = self.offset
        let count = try self.uint64("\(what) count")
        guard count <= UInt64(limit) else {
            throw ConsensusWireError(offset: start, message: "\(what): \(count) items, at most \(limit) allowed")
        }
        guard count * UInt64(minimumItemBytes) <= UInt64(self.remaining) else {
            throw ConsensusWireError(offset: start, message: "\(what): \(count) items cannot fit in \(self.remaining) bytes")
        }
        return Int(count)
    }

    func finish(_ what: String) throws(ConsensusWireError) {
        guard self.remaining == 0 else { throw self.failure("\(what): \(self.remaining) bytes left over") }
    }
}

/// Bytes that are not a valid consensus message or stored block, and where they went wrong.
public struct ConsensusWireError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var message: String

    public var description: String { "byte \(self.offset): \(self.message)" }
}
