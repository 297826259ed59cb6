import Foundation

/// One entry in journald's native protocol: `FIELD=value\n` per field, or for values holding a newline
/// `FIELD\n` + 64-bit little-endian length + value + `\n` (systemd's "Native Journal Protocol").
public struct JournalEntry: Sendable, Equatable {
    public var fields: [(name: String, value: String)]

    public init(fields: [(name: String, value: String)]) {
        self.fields = fields
    }

    public static func == (lhs: JournalEntry, rhs: JournalEntry) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    /// A journal field name from a metadata key: upper case, `[A-Z0-9_]` only, not starting with `_` or a digit.
    public static func fieldName(_ key: String) -> String {
        var name = String(key.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" })
        while name.hasPrefix("_") { name.removeFirst() }
        if name.first?.isNumber ?? true { name = "F" + name }
        return String(name.prefix(64))
    }

    /// The datagram for this entry.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        for (name, value) in self.fields {
            bytes.append(contentsOf: name.utf8)
            if value.utf8.contains(UInt8(ascii: "\n")) {
                bytes.append(UInt8(ascii: "\n"))
                var length = UInt64(value.utf8.count).littleEndian
                withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: value.utf8)
            } else {
                bytes.append(UInt8(ascii: "="))
                bytes.append(contentsOf: value.utf8)
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    /// Parses a datagram back into fields (for tests and tools); `nil` when it is malformed.
    public static func decode(_ bytes: [UInt8]) -> JournalEntry? {
        var fields: [(String, String)] = []
        var index = 0
        while index < bytes.count {
            guard let end = bytes[index...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") }) else {
                return nil
            }
            let name = String(decoding: bytes[index..<end], as: UTF8.self)
            if bytes[end] == UInt8(ascii: "=") {
                guard let lineEnd = bytes[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
                fields.append((name, String(decoding: bytes[(end + 1)..<lineEnd], as: UTF8.self)))
                index = lineEnd + 1
            } else {
                guard end + 9 <= bytes.count else { return nil }
                let length = bytes[(end + 1)..<(end + 9)].reversed().reduce(0) { $0 << 8 | Int($1) }
                guard length >= 0, end + 9 + length < bytes.count, bytes[end + 9 + length] == UInt8(ascii: "\n") else { return nil }
                fields.append((name, String(decoding: bytes[(end + 9)..<(end + 9 + length)], as: UTF8.self)))
                index = end + 10 + length
            }
        }
        return JournalEntry(fields: fields)
    }

    /// The value of the first field called `name`.
    public subscript(name: String) -> String? { self.fields.first { $0.name == name }?.value }
}
